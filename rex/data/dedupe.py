"""Dropping exact duplicate instances inside a bag (``data.dedupe_instances``, on by default).

Why: every pipeline run over a multi-way parallel corpus re-emits the same source sentences (the English
side of XQuAD or of one WMT year is the source of one run per target language), so a bag would hold the
same English instance once per run and overweight that language. Two rows are duplicates when they are in
the same bag (same head and tail kb ids) and have the same language, the same text and the same head and
tail character spans. The first row in shard order is kept; projected twins whose ``source_instance_id``
named a dropped row are re-pointed to the kept row, so the (source, twin) pairs of the consistency loss
survive. Labels are not compared: they are a function of the entity pair and the KB, the same in every run.

The pass runs per bag-cache partition (a partition holds whole bags), so memory stays bounded by
``partition_rows``.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from rex.data.shards import ROW_SCHEMA

logger = logging.getLogger(__name__)

KEY_COLUMNS = ("head_kb", "tail_kb", "lang", "text", "head_start", "head_end", "tail_start", "tail_end")


def duplicate_rows(columns: dict[str, list]) -> tuple[list[int], dict[str, str]]:
    """Positions of the rows to keep (first occurrence of every key, in order) and the id remap
    ``dropped instance_id -> kept instance_id`` for the dropped rows.

    ``columns`` holds ROW_SCHEMA fields as equally long lists (at least ``KEY_COLUMNS`` and ``instance_id``).
    """
    first: dict[tuple, int] = {}
    keep: list[int] = []
    remap: dict[str, str] = {}
    ids = columns["instance_id"]
    for i, key in enumerate(zip(*(columns[c] for c in KEY_COLUMNS), strict=True)):
        kept = first.setdefault(key, i)
        if kept == i:
            keep.append(i)
        elif ids[i] != ids[kept]:
            remap[ids[i]] = ids[kept]
    return keep, remap


def dedupe_columns(columns: dict[str, list]) -> tuple[dict[str, list], list[int]]:
    """The columns without duplicate rows (twins re-pointed to the kept source) and the dropped positions."""
    keep, remap = duplicate_rows(columns)
    dropped = sorted(set(range(len(columns["instance_id"]))) - set(keep))
    out = {name: [values[i] for i in keep] for name, values in columns.items()}
    if remap:
        out["source_instance_id"] = [remap.get(s, s) if s is not None else None for s in out["source_instance_id"]]
    return out, dropped


def dedupe_partition(path: Path) -> tuple[int, Counter, Counter]:
    """Rewrite one bag-cache partition file without duplicates (only when it has some).

    Returns (rows kept, dropped rows per language, dropped rows per relation label).
    """
    columns = pq.read_table(path, schema=ROW_SCHEMA).to_pydict()
    deduped, dropped = dedupe_columns(columns)
    langs = Counter(columns["lang"][i] for i in dropped)
    labels = Counter(r for i in dropped for r in columns["relations"][i])
    if dropped:
        tmp = path.with_suffix(".dedupe.tmp")
        pq.write_table(pa.Table.from_pydict(deduped, schema=ROW_SCHEMA), tmp)
        tmp.replace(path)
        logger.debug("%s: %d duplicate rows dropped", path, len(dropped))
    return len(deduped["instance_id"]), langs, labels
