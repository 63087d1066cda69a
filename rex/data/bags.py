"""Cross-lingual bags without loading the corpus into memory: a hash-partitioned bag cache.

Design (one pass, then sequential reads):

1. **Build** (once per split and filter set, reused while the shard files are unchanged): stream the filtered
   shard rows (only the columns rex needs) and append each row to partition ``crc32(head|tail) % P`` of an
   on-disk Parquet cache, with ``P = ceil(rows / partition_rows)``. All rows of one ordered entity pair --
   a linked source instance, its projected twins, target instances linked directly, in every language --
   land in the same partition, so one partition holds whole bags. Rows with unusable spans go to a
   dead-letter file ``rejects.jsonl`` with a reason, and are counted in ``meta.json``. With
   ``data.dedupe_instances`` (default) each written partition is then rewritten without exact duplicate
   instances of a bag (``rex.data.dedupe``), counted per language in ``meta.json["duplicates_removed"]``.
2. **Iterate** (every epoch): read ``buffer_partitions`` partitions at a time in a seeded order, group their
   rows by bag key, shuffle the bags of the buffer with the seed, and yield them. Memory is bounded by
   ``buffer_partitions * partition_rows`` rows; reads are sequential whole files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from rex.config import DataConfig
from rex.data.dedupe import dedupe_partition
from rex.data.shards import ROW_SCHEMA, ShardFile, count_rows, row_filter, scan_rows
from schemas.version import SCHEMA_VERSION

logger = logging.getLogger(__name__)
CACHE_FORMAT = 2  # 2: meta.json carries relation_stats
_FLUSH_ROWS = 32_768


@dataclass(frozen=True)
class Bag:
    """All instances of one ordered entity pair: rows ``index`` of a partition's ``columns`` (ROW_SCHEMA
    fields as Python lists, shared by the partition's bags, so no per-row objects are built)."""

    key: tuple[str, str]
    columns: dict[str, list]
    index: list[int]

    def __len__(self) -> int:
        return len(self.index)

    def column(self, name: str) -> list:
        values = self.columns[name]
        return [values[i] for i in self.index]

    @property
    def rows(self) -> list[dict]:
        """The rows as dicts (convenient, slower: for tests, tools and baselines)."""
        return [{name: values[i] for name, values in self.columns.items()} for i in self.index]

    @property
    def labels(self) -> list[str]:
        """Relations of the pair: the union of its rows' labels (empty = no relation)."""
        return sorted({r for rels in self.column("relations") for r in rels})

    def subset(self, positions: list[int]) -> Bag:
        return Bag(self.key, self.columns, [self.index[p] for p in positions])


class BagCache:
    """A built cache for one split: partition files plus ``meta.json`` (rows, bags, labels, rejects)."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.meta = json.loads((self.directory / "meta.json").read_text(encoding="utf-8"))

    @property
    def num_bags(self) -> int:
        return sum(p["bags"] for p in self.meta["partitions"])

    @property
    def num_rows(self) -> int:
        return sum(p["rows"] for p in self.meta["partitions"])

    @property
    def labels(self) -> list[str]:
        return list(self.meta["labels"])

    def read_partition(self, index: int) -> list[Bag]:
        """The bags of one partition, in a deterministic order (first appearance in the shards)."""
        table = pq.read_table(self.directory / self.meta["partitions"][index]["file"], schema=ROW_SCHEMA)
        columns = table.to_pydict()
        grouped: dict[tuple[str, str], list[int]] = defaultdict(list)
        for i, key in enumerate(zip(columns["head_kb"], columns["tail_kb"], strict=True)):
            grouped[key].append(i)
        return [Bag(key, columns, rows) for key, rows in grouped.items()]

    def iter_bags(self, seed: int, epoch: int, shuffle: bool, buffer_partitions: int = 2) -> Iterator[Bag]:
        """Every bag once. Shuffled: seeded partition order, bags shuffled within each buffer of partitions."""
        order = list(range(len(self.meta["partitions"])))
        rng = np.random.default_rng([seed, epoch])
        if shuffle:
            order = [int(i) for i in rng.permutation(order)]
        for start in range(0, len(order), buffer_partitions):
            bags = [bag for p in order[start : start + buffer_partitions] for bag in self.read_partition(p)]
            if shuffle:
                bags = [bags[int(i)] for i in rng.permutation(len(bags))]
            else:
                bags.sort(key=lambda b: b.key)
            yield from bags

    def relation_stats(self) -> dict:
        """Bags and instances per relation and language (see :func:`relation_stats`)."""
        return self.meta["relation_stats"]

    def pairs(self) -> set[tuple[str, str]]:
        """The (head, tail) kb-id pairs of this split (for leak-free retrieval)."""
        out: set[tuple[str, str]] = set()
        for part in self.meta["partitions"]:
            table = pq.read_table(self.directory / part["file"], columns=["head_kb", "tail_kb"])
            out.update(zip(table["head_kb"].to_pylist(), table["tail_kb"].to_pylist(), strict=True))
        return out


def cache_fingerprint(shards: list[ShardFile], split: str, cfg: DataConfig) -> str:
    """Changes when a shard file, the split, a row filter or the partition size changes."""
    key = {
        "format": CACHE_FORMAT,
        "schema": SCHEMA_VERSION,
        "files": [(s.uri, s.size, s.mtime_ns) for s in shards],
        "split": split,
        "filters": [cfg.langs, sorted(cfg.label_sources), cfg.min_confidence, cfg.partition_rows,
                    cfg.dedupe_instances],
    }
    return hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def build_bag_cache(shards: list[ShardFile], split: str, cfg: DataConfig, cache_root: str | Path) -> BagCache:
    """Build (or reuse) the bag cache of ``split``; written to a temp dir then renamed (atomic)."""
    target = Path(cache_root) / f"{split}-{cache_fingerprint(shards, split, cfg)}"
    if (target / "meta.json").exists():
        return BagCache(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{split}-", dir=target.parent))
    try:
        meta = _write_partitions(shards, split, cfg, tmp)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, target)
    except OSError:
        if not (target / "meta.json").exists():  # another rank did not win the race either
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    cache = BagCache(target)
    logger.info("bag cache %s: %d rows, %d bags, rejects %s", target, cache.num_rows, cache.num_bags,
                cache.meta["rejects"])
    return cache


def _write_partitions(shards: list[ShardFile], split: str, cfg: DataConfig, out: Path) -> dict:
    num_parts = max(1, math.ceil(count_rows(shards) / cfg.partition_rows))
    pending: dict[int, list[pa.RecordBatch]] = defaultdict(list)
    writers: dict[int, pq.ParquetWriter] = {}
    keys: dict[int, set] = defaultdict(set)
    rows, labels, langs, rejects = Counter(), Counter(), Counter(), Counter()
    expr = row_filter(split, cfg.langs, cfg.label_sources, cfg.min_confidence)
    with open(out / "rejects.jsonl", "w", encoding="utf-8") as dead:
        for shard in shards:
            for batch in scan_rows(shard, expr):
                batch = _drop_bad_spans(batch, shard.uri, dead, rejects)
                pair_keys = pc.binary_join_element_wise(batch["head_kb"], batch["tail_kb"], "\t").to_pylist()
                parts = np.fromiter((zlib.crc32(k.encode()) % num_parts for k in pair_keys), np.int64, len(pair_keys))
                for p in np.unique(parts):
                    idx = np.flatnonzero(parts == p)
                    pending[int(p)].append(batch.take(pa.array(idx)))
                    keys[int(p)].update(pair_keys[i] for i in idx)
                    rows[int(p)] += len(idx)
                    if sum(b.num_rows for b in pending[int(p)]) >= _FLUSH_ROWS:
                        _flush(int(p), pending, writers, out)
                langs.update(batch["lang"].to_pylist())
                labels.update(r for rels in batch["relations"].to_pylist() for r in rels)
        for p in list(pending):
            _flush(p, pending, writers, out)
    for writer in writers.values():
        writer.close()
    duplicates: Counter = Counter()
    if cfg.dedupe_instances:
        for p in writers:
            rows[p], dropped_langs, dropped_labels = dedupe_partition(out / f"part-{p:05d}.parquet")
            duplicates.update(dropped_langs)
            langs.subtract(dropped_langs)
            labels.subtract(dropped_labels)
    parts = [{"file": f"part-{p:05d}.parquet", "rows": rows[p], "bags": len(keys[p])} for p in sorted(writers)]
    labels = +labels
    stats = relation_stats(pq.read_table(out / part["file"], columns=["head_kb", "tail_kb", "lang", "relations"])
                           for part in parts)
    return {"relation_stats": stats, "split": split, "partitions": parts, "labels": sorted(labels),
            "label_counts": dict(labels),
            "langs": dict(+langs), "rejects": dict(rejects), "duplicates_removed": dict(duplicates),
            "shards": [s.uri for s in shards]}


def relation_stats(tables) -> dict:
    """Per relation (and ``NA`` for pairs without one): bags and instances, in all and per language.

    ``{"bags": {rel: n}, "instances": {rel: n}, "bags_by_lang": {rel: {lang: n}},
    "instances_by_lang": {rel: {lang: n}}}``; a bag counts once per relation, and once per language it has rows
    in (its per-language sub-bag).
    """
    bags: dict[str, set] = defaultdict(set)
    bags_lang: dict[str, dict[str, set]] = defaultdict(lambda: defaultdict(set))
    inst: Counter = Counter()
    inst_lang: dict[str, Counter] = defaultdict(Counter)
    for table in tables:
        cols = table.to_pydict()
        pair_labels: dict[tuple, set] = defaultdict(set)
        for head, tail, rels in zip(cols["head_kb"], cols["tail_kb"], cols["relations"], strict=True):
            pair_labels[(head, tail)].update(rels)
        for head, tail, lang in zip(cols["head_kb"], cols["tail_kb"], cols["lang"], strict=True):
            for rel in pair_labels[(head, tail)] or {"NA"}:
                bags[rel].add((head, tail))
                bags_lang[rel][lang].add((head, tail))
                inst[rel] += 1
                inst_lang[rel][lang] += 1
    return {"bags": {r: len(v) for r, v in sorted(bags.items())}, "instances": dict(sorted(inst.items())),
            "bags_by_lang": {r: {lang: len(v) for lang, v in sorted(d.items())} for r, d in sorted(bags_lang.items())},
            "instances_by_lang": {r: dict(sorted(c.items())) for r, c in sorted(inst_lang.items())}}


def _flush(p: int, pending: dict, writers: dict, out: Path) -> None:
    if not pending[p]:
        return
    if p not in writers:
        writers[p] = pq.ParquetWriter(out / f"part-{p:05d}.parquet", ROW_SCHEMA)
    writers[p].write_table(pa.Table.from_batches(pending.pop(p), schema=ROW_SCHEMA))


def _drop_bad_spans(batch: pa.RecordBatch, uri: str, dead, rejects: Counter) -> pa.RecordBatch:
    """Rows whose spans cannot be marked go to the dead-letter file with a reason (never silently)."""
    n = pc.utf8_length(batch["text"])
    hs, he, ts, te = (batch[c] for c in ("head_start", "head_end", "tail_start", "tail_end"))
    reasons = [
        ("empty_span", pc.or_(pc.greater_equal(hs, he), pc.greater_equal(ts, te))),
        ("span_outside_text", pc.or_(pc.or_(pc.less(hs, 0), pc.less(ts, 0)),
                                     pc.or_(pc.greater(he, n), pc.greater(te, n)))),
        ("overlapping_spans", pc.and_(pc.less(hs, te), pc.less(ts, he))),
    ]
    bad = np.zeros(batch.num_rows, dtype=bool)
    for reason, mask in reasons:
        hit = np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool) & ~bad
        for i in np.flatnonzero(hit):
            dead.write(json.dumps({"file": uri, "instance_id": batch["instance_id"][int(i)].as_py(),
                                   "reason": reason}) + "\n")
        if hit.any():
            rejects[reason] += int(hit.sum())
        bad |= hit
    return batch.filter(pa.array(~bad)) if bad.any() else batch
