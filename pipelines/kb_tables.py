"""The KB's names beside the shards: ``relations.parquet`` and ``entities.parquet`` (schemas.kb).

Shard rows carry ids only (``P19``, ``Q90``). A shard set also gets, beside its manifest and listed in the
manifest's ``files`` (split ``relations`` / ``entities``):

* ``relations.parquet`` (KB_RELATION_SCHEMA): every relation of the KB with its name, its instances in these
  shards and its cloze template per language of the run;
* ``entities.parquet`` (KB_ENTITY_LABEL_SCHEMA): every entity the shards mention, one row per language of the run,
  with its label and aliases in that language (label null when the KB has no name for it there).

Both are written by the job (a worker reads the KB, as the other KB stages do), into the staging folder, and
committed with the shards.

    duckdb.sql("SELECT s.text, e.label FROM read_parquet('OUT/data/**/*.parquet', hive_partitioning=true) s "
                "JOIN 'OUT/entities.parquet' e ON e.kb_id = s.head.kb_id AND e.lang = s.lang")
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems
from apache_beam.utils import shared

from pipelines.records import ShardRow
from pipelines.resources import KBSpec, acquire_kb
from schemas.kb import (
    ENTITIES_TABLE,
    KB_ENTITY_LABEL_SCHEMA,
    KB_RELATION_SCHEMA,
    RELATIONS_TABLE,
    KnowledgeBase,
    entity_label_rows,
    kb_templates,
    relation_rows,
)
from schemas.manifest import KB_TABLE_SPLITS

logger = logging.getLogger(__name__)
RELATIONS, ENTITIES = KB_TABLE_SPLITS  # their 'split' in the manifest's files


def table_keys(head: str, tail: str, relations: Iterable[str]) -> Iterator[tuple[str, str]]:
    """(ENTITIES, id) for the head and the tail, (RELATIONS, id) once per label of a row."""
    yield ENTITIES, head
    yield ENTITIES, tail
    for relation in relations:
        yield RELATIONS, relation


def _row_keys(row: ShardRow) -> Iterator[tuple[str, str]]:
    return table_keys(row.head.kb_id, row.tail.kb_id, row.relations)


def write_table(rows: list[dict], path: str, schema: pa.Schema) -> None:
    """Rows with ``schema`` to a Parquet file at any Beam FileSystem path."""
    table = pa.Table.from_pylist(rows, schema=schema)
    with FileSystems.create(path, mime_type="application/octet-stream") as handle:
        pq.write_table(table, handle)


def write_kb_tables(folder: str, kb: KnowledgeBase, counts: Iterable[tuple[tuple[str, str], int]],
                    langs: Sequence[str], templates: dict[str, dict[str, str]]) -> list[tuple[str, str]]:
    """Write both tables into ``folder`` from the shards' (kind, id) counts; return the manifest outputs
    ``[(split, relative path)]``."""
    instances: dict[str, int] = {}
    entities: set[str] = set()
    for (kind, key), n in counts:
        if kind == RELATIONS:
            instances[key] = instances.get(key, 0) + n
        else:
            entities.add(key)
    relations = relation_rows(kb, instances, langs, templates)
    labels = entity_label_rows(kb, entities, langs)
    write_table(relations, FileSystems.join(folder, RELATIONS_TABLE), KB_RELATION_SCHEMA)
    write_table(labels, FileSystems.join(folder, ENTITIES_TABLE), KB_ENTITY_LABEL_SCHEMA)
    named = sum(1 for row in labels if row["label"] is not None)
    logger.info("KB tables: %d relations (%d named), %d entities x %d languages (%d labelled)", len(relations),
                sum(1 for row in relations if row["name"]), len(entities), len(langs), named)
    return [(RELATIONS, RELATIONS_TABLE), (ENTITIES, ENTITIES_TABLE)]


class _WriteTablesFn(beam.DoFn):
    def __init__(self, folder: str, spec: KBSpec, handle: shared.Shared) -> None:
        self.folder, self.spec, self.handle = folder, spec, handle

    def setup(self) -> None:
        self.kb = acquire_kb(self.handle, self.spec).kb

    def process(self, _, counts):
        yield from write_kb_tables(self.folder, self.kb, counts, self.spec.langs, kb_templates(self.spec.kb_dir))


class WriteKBTables(beam.PTransform):
    """ShardRows in; writes ``relations.parquet`` and ``entities.parquet`` into ``folder`` once (also for a run
    without rows); returns their (split, relative path) for the manifest's outputs."""

    def __init__(self, folder: str, spec: KBSpec, handle: shared.Shared) -> None:
        super().__init__()
        self.folder, self.spec, self.handle = folder, spec, handle

    def expand(self, rows):
        counts = (rows | "Keys" >> beam.FlatMap(_row_keys).with_output_types(tuple[str, str])
                  | "Count" >> beam.combiners.Count.PerElement())
        return (rows.pipeline | "Once" >> beam.Create([None])
                | "Write" >> beam.ParDo(_WriteTablesFn(self.folder, self.spec, self.handle),
                                        beam.pvalue.AsList(counts)).with_output_types(tuple[str, str]))
