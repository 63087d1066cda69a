"""rex.data: shard discovery and schema checks, the bag cache, batches (workers, ranks, resume)."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from torch.utils.data import DataLoader

from rex.config import DataConfig, ModelConfig, RexConfig
from rex.data import BagBatches, build_bag_cache, resolve_shards
from rex.data.loader import sample_bag
from rex.encoder.scratch import train_spm
from rex.synthetic import make_row, synthetic_rows, write_synthetic_shards
from schemas.io import SchemaMismatchError, write_parquet
from schemas.shard import SHARD_SCHEMA


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return write_synthetic_shards(tmp_path_factory.mktemp("shards"), num_pairs=40)


@pytest.fixture(scope="module")
def tokenizer(shards):
    return train_spm((r["text"] for r in synthetic_rows(40)), vocab_size=120)


def test_resolve_dirs_files_and_globs(shards):
    from_dir = resolve_shards([str(shards)])
    assert len(from_dir) == 6 and all(s.path.endswith(".parquet") for s in from_dir)
    assert [s.uri for s in resolve_shards([str(shards / "*" / "part-00000.parquet")])] == [
        s.uri for s in from_dir if s.path.endswith("part-00000.parquet")
    ]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        resolve_shards([str(shards / "nope")])


def test_resolve_skips_rejects_and_temp_folders(tmp_path):
    for folder in ("train", "rejects", "train/beam-temp-x", ".hidden"):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
        (tmp_path / folder / "a.parquet").write_bytes(b"")
    assert [s.path for s in resolve_shards([str(tmp_path)])] == [str(tmp_path / "train" / "a.parquet")]


def test_corrupt_shard_is_a_clear_error(tmp_path):
    (tmp_path / "train").mkdir()
    bad = tmp_path / "train" / "part-0.parquet"
    bad.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(SchemaMismatchError, match="part-0.parquet: not a readable Parquet file"):
        build_bag_cache(resolve_shards([str(tmp_path)]), "train", DataConfig(), tmp_path / "cache")


def test_mismatched_shard_schema_names_file_and_field(tmp_path):
    rows = synthetic_rows(3)
    table = pa.Table.from_pylist(rows, schema=SHARD_SCHEMA).drop_columns(["relations"])
    pq.write_table(table, tmp_path / "wrong.parquet")
    with pytest.raises(SchemaMismatchError, match=r"wrong.parquet: missing field 'relations'"):
        build_bag_cache(resolve_shards([str(tmp_path)]), "train", DataConfig(), tmp_path / "cache")


def test_bags_group_source_twins_and_direct_rows_across_files(shards, tmp_path):
    # the synthetic generator repeats each sentence of a pair verbatim: keep the repeats here, the
    # default (dedupe_instances) is covered by the last assertion and by tests/test_rex_data_dedupe.py
    cfg = DataConfig(partition_rows=20, dedupe_instances=False)
    cache = build_bag_cache(resolve_shards([str(shards)]), "train", cfg, tmp_path)
    expected = [r for r in synthetic_rows(40) if r["split"] == "train"]
    assert cache.num_rows == len(expected)
    assert cache.num_bags == len({(r["head"]["kb_id"], r["tail"]["kb_id"]) for r in expected})
    assert len(cache.meta["partitions"]) > 1
    bags = list(cache.iter_bags(seed=1, epoch=0, shuffle=True))
    assert len(bags) == cache.num_bags and len({b.key for b in bags}) == len(bags)
    for bag in bags:
        assert {(r["head_kb"], r["tail_kb"]) for r in bag.rows} == {bag.key}
        ids = {r["instance_id"] for r in bag.rows}
        twins = [r for r in bag.rows if r["source_instance_id"]]
        assert twins and all(t["source_instance_id"] in ids for t in twins)  # twin next to its source
        assert {r["lang"] for r in bag.rows} == {"en", "de"}
    # same seed and epoch -> same order; another epoch -> another order
    assert [b.key for b in cache.iter_bags(1, 0, True)] == [b.key for b in bags]
    assert [b.key for b in cache.iter_bags(1, 1, True)] != [b.key for b in bags]
    # reusing the cache: built once, found again
    assert build_bag_cache(resolve_shards([str(shards)]), "train", cfg, tmp_path).directory == cache.directory
    deduped = build_bag_cache(resolve_shards([str(shards)]), "train", DataConfig(partition_rows=20), tmp_path)
    distinct = {(r["head"]["kb_id"], r["tail"]["kb_id"], r["lang"], r["text"]) for r in expected}
    assert deduped.num_rows == len(distinct) and deduped.num_bags == cache.num_bags
    assert sum(deduped.meta["duplicates_removed"].values()) == len(expected) - len(distinct)


def test_filters_confidence_language_source(shards, tmp_path):
    files = resolve_shards([str(shards)])
    rows = [r for r in synthetic_rows(40) if r["split"] == "train"]
    keep = {"dedupe_instances": False}  # count against the generator's rows, repeats included
    high = build_bag_cache(files, "train", DataConfig(min_confidence=0.7, **keep), tmp_path)
    assert high.num_rows == sum(r["projection_confidence"] is None or r["projection_confidence"] >= 0.7 for r in rows)
    de = build_bag_cache(files, "train", DataConfig(langs=["de"], **keep), tmp_path)
    assert de.meta["langs"] == {"de": sum(r["lang"] == "de" for r in rows)}
    linked = build_bag_cache(files, "train", DataConfig(label_sources=["linked"], **keep), tmp_path)
    assert linked.num_rows == sum(r["label_source"] == "linked" for r in rows)


def test_bad_spans_go_to_dead_letter_with_reason(tmp_path):
    good = make_row("{h} was born in {t} .", "en", ("Q1", "Ada"), ("Q2", "Paris"), ["P19"], "p1", split="train")
    bad = make_row("{h} was born in {t} .", "en", ("Q3", "Bob"), ("Q4", "Rome"), ["P19"], "p2", split="train")
    bad["tail"] = {**bad["tail"], "char_end": 500}
    write_parquet([good, bad], str(tmp_path / "s.parquet"), SHARD_SCHEMA)
    cache = build_bag_cache(resolve_shards([str(tmp_path / "s.parquet")]), "train", DataConfig(), tmp_path / "c")
    assert cache.num_rows == 1 and cache.meta["rejects"] == {"span_outside_text": 1}
    dead = [json.loads(line) for line in (cache.directory / "rejects.jsonl").read_text().splitlines()]
    assert dead == [{"file": str(tmp_path / "s.parquet"), "instance_id": bad["instance_id"],
                     "reason": "span_outside_text"}]


def test_sample_bag_keeps_families_together(shards, tmp_path):
    cache = build_bag_cache(resolve_shards([str(shards)]), "train", DataConfig(), tmp_path)
    bag = max(cache.iter_bags(0, 0, False), key=len)
    kept = sample_bag(bag, 2, seed=0, epoch=0).rows
    assert len(kept) == 2
    assert kept[1]["source_instance_id"] == kept[0]["instance_id"] or kept[0]["source_instance_id"] is None


def _keys(loader):
    return [tuple(b["keys"]) for b in loader]


def test_batches_same_for_any_worker_count_and_resume_skips(shards, tokenizer, tmp_path):
    cache = build_bag_cache(resolve_shards([str(shards)]), "train", DataConfig(partition_rows=20), tmp_path)
    labels = cache.labels
    data = BagBatches(cache, tokenizer, labels, batch_size=3, max_length=32, max_bag_size=4, seed=5, shuffle=True)
    data.set_epoch(2)
    serial = _keys(DataLoader(data, batch_size=None))
    assert len(serial) == len(data) == cache.num_bags // 3
    assert _keys(DataLoader(data, batch_size=None, num_workers=2)) == serial
    data.set_epoch(2, skip_batches=3)
    assert _keys(DataLoader(data, batch_size=None, num_workers=2)) == serial[3:]
    batch = next(iter(DataLoader(data, batch_size=None)))
    n = batch["input_ids"].shape[0]
    assert batch["attention_mask"].shape == batch["input_ids"].shape and batch["bag_index"].shape == (n,)
    assert batch["labels"].shape == (3, len(labels)) and batch["inst_labels"].shape == (n, len(labels))
    assert batch["twins"].shape[1] == 2 and len(batch["twins"]) > 0
    assert (batch["input_ids"][range(n), batch["head_pos"]] == tokenizer.marker_ids[0]).all()
    assert (batch["input_ids"][range(n), batch["tail_pos"]] == tokenizer.marker_ids[2]).all()


def test_ranks_get_disjoint_equal_shares(shards, tokenizer, tmp_path):
    cache = build_bag_cache(resolve_shards([str(shards)]), "train", DataConfig(), tmp_path)
    shares = []
    for rank in range(3):
        data = BagBatches(cache, tokenizer, cache.labels, batch_size=1, max_length=32, max_bag_size=4, seed=5,
                          shuffle=True, rank=rank, world=3)
        shares.append([tuple(k) for keys in _keys(DataLoader(data, batch_size=None)) for k in keys])
    assert len({len(s) for s in shares}) == 1 and len(shares[0]) == cache.num_bags // 3
    assert len(set().union(*map(set, shares))) == 3 * len(shares[0])


def test_lexical_ngrams_are_computed_once_per_instance_and_follow_the_config(shards, tokenizer, tmp_path):
    cache = build_bag_cache(resolve_shards([str(shards)]), "train", DataConfig(), tmp_path)
    cfg = RexConfig(model=ModelConfig(lexical_buckets=256))
    data = BagBatches.for_config(cache, tokenizer, cache.labels, cfg, batch_size=4, seed=5, shuffle=True)
    assert (data.pooling, data.lexical_buckets, data.max_length) == ("start", 256, cfg.data.max_length)
    first = next(iter(DataLoader(data, batch_size=None)))
    n = first["input_ids"].shape[0]
    assert first["lex_offsets"].shape == (n,) and first["lex_ids"].shape == first["lex_weights"].shape
    assert int(first["lex_ids"].max()) < 256
    ends = torch.cat([first["lex_offsets"][1:], torch.tensor([len(first["lex_ids"])])])
    for start, end in zip(first["lex_offsets"].tolist(), ends.tolist(), strict=True):
        assert float((first["lex_weights"][start:end] ** 2).sum()) == pytest.approx(1.0, rel=1e-5)  # l2-normalised
    cached = len(data._lexical_cache)
    assert cached >= n
    again = next(iter(DataLoader(data, batch_size=None)))  # every instance now from the cache
    assert len(data._lexical_cache) == cached
    for key in ("lex_ids", "lex_offsets", "lex_weights"):
        assert torch.equal(first[key], again[key])
    assert "lex_ids" not in next(iter(DataLoader(BagBatches.for_config(cache, tokenizer, cache.labels, RexConfig(),
                                                                       batch_size=4, seed=5), batch_size=None)))


def test_evaluation_batches_keep_every_instance_of_a_bag_up_to_the_evaluation_cap(tmp_path, tokenizer):
    # one bag (Q1, Q2) of 12 distinct sentences in three languages
    rows = [make_row("{h} was born in {t} " + "." * (k + 1), lang, ("Q1", "Ada"), ("Q2", "Paris"), ["P19"], f"p{k}",
                     split="train") for k, lang in enumerate(["en", "de", "fr"] * 4)]
    write_parquet(rows, str(tmp_path / "s.parquet"), SHARD_SCHEMA)
    cache = build_bag_cache(resolve_shards([str(tmp_path / "s.parquet")]), "train", DataConfig(), tmp_path / "c")
    cfg = RexConfig(data=DataConfig(max_bag_size=2, eval_max_bag_size=12))

    def sizes(**kw):
        data = BagBatches.for_config(cache, tokenizer, cache.labels, cfg, batch_size=1, seed=5, **kw)
        return [b["input_ids"].shape[0] for b in DataLoader(data, batch_size=None)]

    assert sizes(shuffle=True) == [2]  # training: the training cap
    assert sizes() == [12]  # scoring: every instance (each language's sub-bag complete), whatever the seed
    assert sizes(max_bag_size=5) == [5]  # an explicit cap wins
