"""Write stage: Parquet shards per split (SHARD_SCHEMA), the rejects (REJECT_SCHEMA) and manifest.json.

Layout under ``--output``::

    data/train/lang=en/part-00000-of-00001.parquet   data/dev/lang=de/...   data/test/...
    rejects/rejects-00000-of-00001.parquet
    (part-SSSSS-of-NNNNN / rejects-SSSSS-of-NNNNN with --shards-per-destination N)
    relations.parquet, entities.parquet  the KB's names of the relations and entities (pipelines.kb_tables)
    manifest.json                        written last, after every shard is final

``data/`` holds the shards alone (schemas.manifest.DATASET_ROOT): ``pyarrow.dataset.dataset(OUT/data,
partitioning="hive")``, ``datasets.load_dataset("parquet", data_dir=OUT/data)`` (splits from the folder names) and
DuckDB's ``read_parquet('OUT/data/**/*.parquet', hive_partitioning=true)`` read it in one call.

One sink with a destination per file, not a Beam ``WriteToParquet`` per split x language and one for the rejects:
each of those expanded to ~24 transforms, and the seven of them made 57 % of the pipeline's graph, whose size is
what a run pays before reading a line (graph construction, translation, bundle processors; bench/nightly.py). Rows
become Arrow record batches per bundle and destination (as ``WriteToParquet`` does), the batches meet at one
GroupByKey keyed by (destination, bucket), and one DoFn writes each key's file, with the writer options
``WriteToParquet`` used (no compression, list items named `item`, a row group per 64 MiB).

Buckets (``--shards-per-destination N``, default 1): with one bucket, all of a destination's rows go through one
shuffle key and one worker writes them; on a large Dataflow run that is GBs per language through one worker. With
N, each record batch goes to bucket ``shard_of(key of its first record, N)`` (a SHA-1 hash, the same on every
worker and run, not Python's salted ``hash``), so a retried bundle sends its batches to the same buckets, and the
bucket's file is ``part-<bucket>-of-<N>.parquet``. The graph is the same for every N (N is data, not transforms).
A batch, not a row, picks the bucket: one table per bundle and bucket through the shuffle, not up to N small ones.

Every expected destination (split x language of the run, rejects) gets its bucket-0 file, an empty one when that
bucket has no rows, which the commit leaves out of the shards (pipelines.distant_supervision.prune_empty_shards);
the rejects' bucket-0 file is kept, empty or not. Other buckets get a file only when rows reach them, so no empty
file is written for them. File names are deterministic, so a retried bundle rewrites the same file. The counts the
manifest needs are taken per bundle in the same DoFns (no combiner transforms) and summed when the manifest is
written.
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
from pipelines.config import MAX_SHARDS
from pipelines.hashing import unit_hash
from pipelines.records import Reject, ShardRow
from schemas.manifest import DATASET_ROOT
from schemas.rejects import REJECT_SCHEMA
from schemas.shard import SHARD_SCHEMA, SPLITS

REJECTS = "rejects"
RECORD_BATCH_ROWS = 1000  # rows per Arrow record batch (WriteToParquet's record_batch_size)
ROW_GROUP_BYTES = 64 * 1024 * 1024  # Arrow bytes per Parquet row group (WriteToParquet's row_group_buffer_size)
COUNTS = "counts"  # the tagged output of per-bundle counts

Destination = tuple[str, str]  # (split or 'rejects', language or '')
FileKey = tuple[Destination, int]  # (destination, bucket): one output file


def shard_prefix(output: str, split: str, lang: str) -> str:
    """The file prefix of one split x language: ``<output>/data/<split>/lang=<lang>/part``."""
    return f"{output}/{DATASET_ROOT}/{split}/lang={lang}/part"


def destination_path(output: str, destination: Destination, bucket: int = 0, shards: int = 1) -> str:
    """The file of a destination's bucket: ``.../lang=<lang>/part-<bucket>-of-<shards>.parquet`` (five digits
    each) or the rejects file ``rejects/rejects-<bucket>-of-<shards>.parquet``."""
    split, lang = destination
    prefix = f"{output}/{REJECTS}/{REJECTS}" if split == REJECTS else shard_prefix(output, split, lang)
    return f"{prefix}-{bucket:05d}-of-{shards:05d}.parquet"


def shard_of(key: str, shards: int) -> int:
    """The bucket in [0, shards) of a record batch whose first record has ``key``: a SHA-1 hash (pipelines.hashing),
    so every worker and every retry of a bundle picks the same bucket. The prefix keeps it independent of the
    split, which hashes other keys the same way."""
    if shards == 1:
        return 0
    return min(int(unit_hash(f"shard|{key}") * shards), shards - 1)


def row_key(row: ShardRow) -> str:
    """A shard row's bucket key: its instance id (unique per row, a hash of its content)."""
    return row.instance_id


def reject_key(reject: Reject) -> str:
    """A reject's bucket key: the fields that place it (most rejects have an origin; the rest, a pair or
    instance id). Content only, so a rerun gives the same key."""
    return "|".join(str(v) for v in (reject.stage, reject.reason, reject.origin, reject.pair_id, reject.instance_id,
                                      reject.detail))


def row_counts(row: ShardRow) -> list[tuple]:
    """The manifest's count keys of one shard row: ('instances', split, lang, relation) per label (mf.instance_keys)
    and ('rows', split, lang)."""
    keys = mf.instance_keys({"split": row.split, "lang": row.lang, "relations": row.relations})
    return [("instances", *key) for key in keys] + [("rows", row.split, row.lang)]


def reject_counts(reject: Reject) -> list[tuple]:
    return [("rejects", reject.stage, reject.reason)]


class ToArrowBatches(beam.DoFn):
    """Records -> ((destination, bucket), pyarrow.Table) once per destination, bucket and bundle, plus the bundle's
    count keys as a tagged output (COUNTS: one Counter per bundle). ``to_dict`` gives the schema's dict of a record;
    each record batch of up to RECORD_BATCH_ROWS rows goes to bucket ``shard_of(key(first record), shards)``."""

    def __init__(self, schema: pa.Schema, destination: Callable[[object], Destination],
                 to_dict: Callable[[object], dict], count_keys: Callable[[object], list[tuple]],
                 key: Callable[[object], str], shards: int = 1) -> None:
        self.schema, self.destination, self.to_dict, self.count_keys = schema, destination, to_dict, count_keys
        self.key, self.shards = key, shards

    def start_bundle(self) -> None:
        self._columns: dict[Destination, list[list]] = {}
        self._first_keys: dict[Destination, str] = {}  # the first record's key of each open batch
        self._batches: dict[FileKey, list[pa.RecordBatch]] = {}
        self._counts: Counter = Counter()

    def process(self, record):
        self._counts.update(self.count_keys(record))
        dest = self.destination(record)
        columns = self._columns.get(dest)
        if columns is None:
            columns = self._columns[dest] = [[] for _ in self.schema.names]
            self._first_keys[dest] = self.key(record) if self.shards > 1 else ""
        row = self.to_dict(record)
        for column, name in zip(columns, self.schema.names, strict=True):
            column.append(row.get(name))
        if len(columns[0]) >= RECORD_BATCH_ROWS:
            self._flush(dest)
        return ()

    def _flush(self, dest: Destination) -> None:
        columns = self._columns.pop(dest)
        bucket = shard_of(self._first_keys.pop(dest), self.shards)
        arrays = [pa.array(values, type=field.type) for values, field in zip(columns, self.schema, strict=True)]
        self._batches.setdefault((dest, bucket), []).append(pa.RecordBatch.from_arrays(arrays, schema=self.schema))

    def finish_bundle(self):
        for dest in list(self._columns):
            self._flush(dest)
        for file_key, batches in sorted(self._batches.items()):
            yield GlobalWindows.windowed_value((file_key, pa.Table.from_batches(batches, schema=self.schema)))
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
    """((destination, bucket), tables) -> that bucket's Parquet file; yields (split, path). ``None`` among the
    tables is the marker that makes a file (bucket 0 of an expected destination) when no rows reach it."""

    def __init__(self, output: str, schemas: dict[str, pa.Schema], shards: int = 1) -> None:
        self.output, self.schemas, self.shards = output, schemas, shards

    def process(self, element):
        (dest, bucket), tables = element
        schema = self.schemas[REJECTS if dest[0] == REJECTS else "shards"]
        path = destination_path(self.output, dest, bucket, self.shards)
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
    schema's columns here, at the Parquet writer. ``shards``: files (buckets) per destination, at most
    MAX_SHARDS.
    """

    def __init__(self, output: str, config_json: str, pipeline_version: str, langs: Sequence[str],
                 code_version: str | None = None, shards: int = 1) -> None:
        super().__init__()
        if not 1 <= shards <= MAX_SHARDS:
            raise ValueError(f"shards per destination must be in [1, {MAX_SHARDS}], got {shards}")
        self.output, self.config_json, self.pipeline_version = output, config_json, pipeline_version
        self.langs, self.code_version, self.shards = tuple(langs), code_version, shards

    def expand(self, pcolls: dict):
        root = pcolls["rejects"].pipeline
        rows = [pcolls[split] for split in SPLITS] | "AllRows" >> beam.Flatten()
        row_batches = rows | "RowBatches" >> beam.ParDo(ToArrowBatches(
            SHARD_SCHEMA, lambda r: (r.split, r.lang), ShardRow.to_dict, row_counts, row_key,
            self.shards)).with_outputs(COUNTS, main="t")
        reject_batches = pcolls["rejects"] | "RejectBatches" >> beam.ParDo(ToArrowBatches(
            REJECT_SCHEMA, lambda r: (REJECTS, ""), Reject.to_dict, reject_counts, reject_key,
            self.shards)).with_outputs(COUNTS, main="t")
        expected = [(split, lang) for split in SPLITS for lang in self.langs] + [(REJECTS, "")]
        # an Impulse, not beam.Create: a Create of several elements adds a Reshuffle (a GroupByKey stage) to the graph
        start = root | "Start" >> beam.Impulse()
        # bucket 0 only: every expected destination keeps a file, and no other bucket is written empty
        markers = start | "Destinations" >> beam.FlatMap(
            lambda _, dests: [((dest, 0), None) for dest in dests], expected)
        written = (
            (row_batches.t, reject_batches.t, markers)
            | "AllBatches" >> beam.Flatten()
            | "ByDestination" >> beam.GroupByKey()
            | "WriteFiles" >> beam.ParDo(WriteParquetFiles(self.output, {"shards": SHARD_SCHEMA,
                                                                          REJECTS: REJECT_SCHEMA}, self.shards))
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
