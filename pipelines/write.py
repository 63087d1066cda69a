"""Write stage: Parquet shards per split (SHARD_SCHEMA), the rejects (REJECT_SCHEMA) and manifest.json.

Layout under ``--output``::

    data/train/lang=en/part-00000-of-00001.parquet   data/dev/lang=de/...   data/test/...
    rejects/rejects-00000-of-00001.parquet
    relations.parquet, entities.parquet  the KB's names of the relations and entities (pipelines.kb_tables)
    manifest.json                        written last, after every shard is final

``data/`` holds the shards alone (schemas.manifest.DATASET_ROOT): ``pyarrow.dataset.dataset(OUT/data,
partitioning="hive")``, ``datasets.load_dataset("parquet", data_dir=OUT/data)`` (splits from the folder names) and
DuckDB's ``read_parquet('OUT/data/**/*.parquet', hive_partitioning=true)`` read it in one call.

One sink with a destination per file, not a Beam ``WriteToParquet`` per split x language and one for the rejects:
each of those expanded to ~24 transforms, and the seven of them made 57 % of the pipeline's graph, whose size is
what a run pays before reading a line (graph construction, translation, bundle processors; bench/nightly.py). Rows
become Arrow record batches per bundle and destination (as ``WriteToParquet`` does), the batches of a destination
meet at one GroupByKey, and one DoFn writes each destination's file, with the writer options ``WriteToParquet``
used (no compression, list items named `item`, a row group per 64 MiB). Every expected destination (split x
language of the run, rejects) gets a file, an empty one when it has no rows, which the commit leaves out of the
shards (pipelines.distant_supervision.prune_empty_shards); the rejects file is kept, empty or not. File names are
deterministic, so a retried bundle rewrites the same file. The counts the manifest needs are taken per bundle in the
same DoFns (no combiner transforms) and summed when the manifest is written.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.window import GlobalWindows

from pipelines import manifest as mf
from pipelines.records import Reject, ShardRow
from schemas.manifest import DATASET_ROOT
from schemas.rejects import REJECT_SCHEMA
from schemas.shard import SHARD_SCHEMA, SPLITS

REJECTS = "rejects"
RECORD_BATCH_ROWS = 1000  # rows per Arrow record batch (WriteToParquet's record_batch_size)
ROW_GROUP_BYTES = 64 * 1024 * 1024  # Arrow bytes per Parquet row group (WriteToParquet's row_group_buffer_size)
COUNTS = "counts"  # the tagged output of per-bundle counts

Destination = tuple[str, str]  # (split or 'rejects', language or '')


def shard_prefix(output: str, split: str, lang: str) -> str:
    """The file prefix of one split x language: ``<output>/data/<split>/lang=<lang>/part``."""
    return f"{output}/{DATASET_ROOT}/{split}/lang={lang}/part"


def destination_path(output: str, destination: Destination) -> str:
    """The one file of a destination: ``.../lang=<lang>/part-00000-of-00001.parquet`` or the rejects file."""
    split, lang = destination
    prefix = f"{output}/{REJECTS}/{REJECTS}" if split == REJECTS else shard_prefix(output, split, lang)
    return f"{prefix}-00000-of-00001.parquet"


def row_counts(row: ShardRow) -> list[tuple]:
    """The manifest's count keys of one shard row: ('instances', split, lang, relation) per label (mf.instance_keys)
    and ('rows', split, lang)."""
    keys = mf.instance_keys({"split": row.split, "lang": row.lang, "relations": row.relations})
    return [("instances", *key) for key in keys] + [("rows", row.split, row.lang)]


def reject_counts(reject: Reject) -> list[tuple]:
    return [("rejects", reject.stage, reject.reason)]


class ToArrowBatches(beam.DoFn):
    """Records -> (destination, pyarrow.Table) once per destination and bundle, plus the bundle's count keys as a
    tagged output (COUNTS: one Counter per bundle). ``to_dict`` gives the schema's dict of a record."""

    def __init__(self, schema: pa.Schema, destination: Callable[[object], Destination],
                 to_dict: Callable[[object], dict], count_keys: Callable[[object], list[tuple]]) -> None:
        self.schema, self.destination, self.to_dict, self.count_keys = schema, destination, to_dict, count_keys

    def start_bundle(self) -> None:
        self._columns: dict[Destination, list[list]] = {}
        self._batches: dict[Destination, list[pa.RecordBatch]] = {}
        self._counts: Counter = Counter()

    def process(self, record):
        self._counts.update(self.count_keys(record))
        dest = self.destination(record)
        columns = self._columns.setdefault(dest, [[] for _ in self.schema.names])
        row = self.to_dict(record)
        for column, name in zip(columns, self.schema.names, strict=True):
            column.append(row.get(name))
        if len(columns[0]) >= RECORD_BATCH_ROWS:
            self._flush(dest)
        return ()

    def _flush(self, dest: Destination) -> None:
        columns = self._columns.pop(dest)
        arrays = [pa.array(values, type=field.type) for values, field in zip(columns, self.schema, strict=True)]
        self._batches.setdefault(dest, []).append(pa.RecordBatch.from_arrays(arrays, schema=self.schema))

    def finish_bundle(self):
        for dest in list(self._columns):
            self._flush(dest)
        for dest, batches in sorted(self._batches.items()):
            yield GlobalWindows.windowed_value((dest, pa.Table.from_batches(batches, schema=self.schema)))
        if self._counts:
            yield beam.pvalue.TaggedOutput(COUNTS, GlobalWindows.windowed_value(self._counts))


class CountElements(beam.DoFn):
    """The number of elements of each bundle (summed where the manifest is written): a count without a combiner."""

    def start_bundle(self) -> None:
        self._n = 0

    def process(self, element):
        self._n += 1
        return ()

    def finish_bundle(self):
        if self._n:
            yield GlobalWindows.windowed_value(self._n)


class WriteParquetFiles(beam.DoFn):
    """(destination, tables) -> the destination's one Parquet file; yields (split, path). ``None`` among the tables
    is the marker that makes a file of a destination without rows."""

    def __init__(self, output: str, schemas: dict[str, pa.Schema]) -> None:
        self.output, self.schemas = output, schemas

    def process(self, element):
        dest, tables = element
        schema = self.schemas[REJECTS if dest[0] == REJECTS else "shards"]
        path = destination_path(self.output, dest)
        parent = path.rsplit("/", 1)[0]
        if not FileSystems.exists(parent):
            FileSystems.mkdirs(parent)
        with FileSystems.create(path, mime_type="application/x-parquet") as handle:
            writer = pq.ParquetWriter(handle, schema, compression="none", use_deprecated_int96_timestamps=False,
                                      use_compliant_nested_type=False)
            pending, size = [], 0
            for table in tables:
                if table is None:
                    continue
                pending.append(table)
                size += table.nbytes
                if size >= ROW_GROUP_BYTES:
                    writer.write_table(pa.concat_tables(pending))
                    pending, size = [], 0
            if pending:
                writer.write_table(pa.concat_tables(pending))
            writer.close()
        yield dest[0], path


def _sum_counts(parts: Iterable[Counter]) -> Counter:
    total: Counter = Counter()
    for part in parts:
        total.update(part)
    return total


class WriteOutputs(beam.PTransform):
    """Writes shards, rejects and the manifest; returns the manifest path (a one-element PCollection).

    Input: a dict of PCollections: one per split name (ShardRows), ``rejects`` (Rejects), ``read_records`` and
    ``accepted`` (only counted), ``input_files`` (the paths read, fingerprinted here), ``kb`` (one dict with
    ``kb_version`` and ``kb_facts_version``, read on a worker: resources.KBInfo) and, optionally, ``kb_tables``
    (the (split, path) of files written beside the shards: pipelines.kb_tables). Rows and rejects become their
    schema's columns here, at the Parquet writer.
    """

    def __init__(self, output: str, config_json: str, pipeline_version: str, langs: Sequence[str],
                 code_version: str | None = None) -> None:
        super().__init__()
        self.output, self.config_json, self.pipeline_version = output, config_json, pipeline_version
        self.langs, self.code_version = tuple(langs), code_version

    def expand(self, pcolls: dict):
        root = pcolls["rejects"].pipeline
        rows = [pcolls[split] for split in SPLITS] | "AllRows" >> beam.Flatten()
        row_batches = rows | "RowBatches" >> beam.ParDo(ToArrowBatches(
            SHARD_SCHEMA, lambda r: (r.split, r.lang), ShardRow.to_dict, row_counts)).with_outputs(COUNTS, main="t")
        reject_batches = pcolls["rejects"] | "RejectBatches" >> beam.ParDo(ToArrowBatches(
            REJECT_SCHEMA, lambda r: (REJECTS, ""), Reject.to_dict, reject_counts)).with_outputs(COUNTS, main="t")
        expected = [(split, lang) for split in SPLITS for lang in self.langs] + [(REJECTS, "")]
        # an Impulse, not beam.Create: a Create of several elements adds a Reshuffle (a GroupByKey stage) to the graph
        start = root | "Start" >> beam.Impulse()
        markers = start | "Destinations" >> beam.FlatMap(lambda _, dests: [(dest, None) for dest in dests], expected)
        written = (
            (row_batches.t, reject_batches.t, markers)
            | "AllBatches" >> beam.Flatten()
            | "ByDestination" >> beam.GroupByKey()
            | "WriteFiles" >> beam.ParDo(WriteParquetFiles(self.output, {"shards": SHARD_SCHEMA,
                                                                          REJECTS: REJECT_SCHEMA}))
            | "Relative" >> beam.MapTuple(lambda split, path: (split, self._relative(path)))
        )
        files = [written] + ([pcolls["kb_tables"]] if "kb_tables" in pcolls else [])
        side = {
            "counts": (row_batches[COUNTS], reject_batches[COUNTS]) | "AllCounts" >> beam.Flatten(),
            "read_records": pcolls["read_records"] | "CountRead" >> beam.ParDo(CountElements()),
            "accepted_pairs": pcolls["accepted"] | "CountAccepted" >> beam.ParDo(CountElements()),
            "inputs": pcolls["input_files"] | "Fingerprint" >> beam.Map(_fingerprint),
            "outputs": files | "AllFiles" >> beam.Flatten(),
        }
        return start | "WriteManifest" >> beam.Map(
            lambda _, **parts: self._write(f"{self.output}/manifest.json", **parts),
            kb=beam.pvalue.AsSingleton(pcolls["kb"]), **{k: beam.pvalue.AsList(v) for k, v in side.items()})

    def _relative(self, path: str) -> str:
        """Shard paths in the manifest are relative to the output folder, so the folder can be moved."""
        prefix = self.output.rstrip("/") + "/"
        return path[len(prefix):] if path.startswith(prefix) else path

    def _write(self, path: str, kb: dict, counts: list[Counter], read_records: list[int],
               accepted_pairs: list[int], inputs: list[dict], outputs: list[tuple[str, str]]) -> str:
        total = _sum_counts(counts)
        by_kind: dict[str, list] = {"instances": [], "rows": [], "rejects": []}
        for (kind, *key), n in total.items():
            by_kind[kind].append((tuple(key), n))
        manifest = mf.build_manifest(
            config_json=self.config_json, kb_version=kb["kb_version"], kb_facts_version=kb.get("kb_facts_version"),
            dataset_root=DATASET_ROOT, code_version=self.code_version, pipeline_version=self.pipeline_version,
            read_records=sum(read_records), accepted_pairs=sum(accepted_pairs), instance_counts=by_kind["instances"],
            row_counts=by_kind["rows"], reject_counts=by_kind["rejects"], inputs=inputs, outputs=outputs)
        return mf.write_manifest(manifest, path)


def _fingerprint(path: str) -> dict:
    from pipelines.read import fingerprint

    return fingerprint(path)
