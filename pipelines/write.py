"""Write stage: Parquet shards per split (SHARD_SCHEMA), the rejects (REJECT_SCHEMA) and manifest.json.

Layout under ``--output``::

    data/train/lang=en/part-00000-of-0000N.parquet   data/dev/lang=de/...   data/test/...
    rejects/rejects-00000-of-0000N.parquet
    relations.parquet, entities.parquet  the KB's names of the relations and entities (pipelines.kb_tables)
    manifest.json                        written last, after every shard is final

``data/`` holds the shards alone (schemas.manifest.DATASET_ROOT): ``pyarrow.dataset.dataset(OUT/data,
partitioning="hive")``, ``datasets.load_dataset("parquet", data_dir=OUT/data)`` (splits from the folder names) and
DuckDB's ``read_parquet('OUT/data/**/*.parquet', hive_partitioning=true)`` read it in one call. The ``lang=``
folders are one Parquet sink per split x language of the run; an empty one writes an empty file, which the commit
leaves out (pipelines.distant_supervision.prune_empty_shards).
"""

from __future__ import annotations

from collections.abc import Sequence

import apache_beam as beam
from apache_beam.io.parquetio import WriteToParquet

from pipelines import manifest as mf
from pipelines.records import Reject, ShardRow
from schemas.manifest import DATASET_ROOT
from schemas.rejects import REJECT_SCHEMA
from schemas.shard import SHARD_SCHEMA, SPLITS


def shard_prefix(output: str, split: str, lang: str) -> str:
    """The file prefix of one split x language: ``<output>/data/<split>/lang=<lang>/part``."""
    return f"{output}/{DATASET_ROOT}/{split}/lang={lang}/part"


def _parquet(pcoll, prefix: str, schema, label: str):
    return pcoll | label >> WriteToParquet(prefix, schema, file_name_suffix=".parquet", num_shards=0)


def _count_per_key(pcoll, label: str, key_fn):
    return pcoll | f"{label}Keys" >> beam.FlatMap(key_fn) | f"{label}Count" >> beam.combiners.Count.PerElement()


def _count(pcoll, label: str):
    return pcoll | label >> beam.combiners.Count.Globally()


class WriteOutputs(beam.PTransform):
    """Writes shards, rejects and the manifest; returns the manifest path (a one-element PCollection).

    Input: a dict of PCollections: one per split name (ShardRows), ``rejects`` (Rejects), ``read_records`` and
    ``accepted`` (only counted), ``input_files`` (the paths read, fingerprinted here), ``kb`` (one dict with
    ``kb_version`` and ``kb_facts_version``, read on a worker: resources.KBInfo) and, optionally, ``kb_tables``
    (the (split, path) of files written beside the shards: pipelines.kb_tables). Rows and rejects become their
    schema's dicts here, at the Parquet writer.
    """

    def __init__(self, output: str, config_json: str, pipeline_version: str, langs: Sequence[str],
                 code_version: str | None = None) -> None:
        super().__init__()
        self.output, self.config_json, self.pipeline_version = output, config_json, pipeline_version
        self.langs, self.code_version = tuple(langs), code_version

    def expand(self, pcolls: dict):
        root = pcolls["rejects"].pipeline
        files, by_split = [], {}
        langs = self.langs
        for split in SPLITS:
            by_split[split] = pcolls[split] | f"Dicts_{split}" >> beam.Map(ShardRow.to_dict)
            parts = by_split[split] | f"ByLang_{split}" >> beam.Partition(lambda row, n: langs.index(row["lang"]),
                                                                          len(langs))
            for lang, part in zip(langs, parts, strict=True):
                written = _parquet(part, shard_prefix(self.output, split, lang), SHARD_SCHEMA, f"Write_{split}_{lang}")
                files.append(written | f"Name_{split}_{lang}" >> beam.Map(
                    lambda path, s=split: (s, self._relative(path))))
        rejects = pcolls["rejects"] | "RejectDicts" >> beam.Map(Reject.to_dict)
        written = _parquet(rejects, f"{self.output}/rejects/rejects", REJECT_SCHEMA, "WriteRejects")
        files.append(written | "NameRejects" >> beam.Map(lambda path: ("rejects", self._relative(path))))
        if "kb_tables" in pcolls:  # (split, relative path) of relations.parquet and entities.parquet
            files.append(pcolls["kb_tables"])
        rows = [by_split[split] for split in SPLITS] | "AllRows" >> beam.Flatten()
        side = {
            "instance_counts": _count_per_key(rows, "Instances", mf.instance_keys),
            "row_counts": _count_per_key(rows, "Rows", lambda r: [(r["split"], r["lang"])]),
            "reject_counts": _count_per_key(rejects, "Rejects", lambda r: [(r["stage"], r["reason"])]),
            "inputs": pcolls["input_files"] | "Fingerprint" >> beam.Map(_fingerprint),
            "outputs": files | "AllFiles" >> beam.Flatten(),
        }
        singles = {"read_records": _count(pcolls["read_records"], "CountRead"),
                   "accepted_pairs": _count(pcolls["accepted"], "CountAccepted"), "kb": pcolls["kb"]}
        return (
            root
            | "ManifestTrigger" >> beam.Create([f"{self.output}/manifest.json"])
            | "WriteManifest" >> beam.Map(
                self._write, **{k: beam.pvalue.AsList(v) for k, v in side.items()},
                **{k: beam.pvalue.AsSingleton(v) for k, v in singles.items()})
        )

    def _relative(self, path: str) -> str:
        """Shard paths in the manifest are relative to the output folder, so the folder can be moved."""
        prefix = self.output.rstrip("/") + "/"
        return path[len(prefix):] if path.startswith(prefix) else path

    def _write(self, path: str, kb: dict, **counts) -> str:
        manifest = mf.build_manifest(config_json=self.config_json, kb_version=kb["kb_version"],
                                     kb_facts_version=kb.get("kb_facts_version"), dataset_root=DATASET_ROOT,
                                     code_version=self.code_version, pipeline_version=self.pipeline_version, **counts)
        return mf.write_manifest(manifest, path)


def _fingerprint(path: str) -> dict:
    from pipelines.read import fingerprint

    return fingerprint(path)
