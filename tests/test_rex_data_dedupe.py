"""rex.data.dedupe: exact duplicate instances inside a bag are dropped, twins keep their source."""

from __future__ import annotations

from rex.config import DataConfig
from rex.data import build_bag_cache, resolve_shards
from rex.data.dedupe import dedupe_columns, duplicate_rows
from rex.synthetic import make_row
from schemas.io import write_parquet
from schemas.shard import SHARD_SCHEMA

ADA, PARIS, ROME = ("Q1", "Ada"), ("Q2", "Paris"), ("Q3", "Rome")


def _columns(rows: list[tuple]) -> dict[str, list]:
    names = ("instance_id", "source_instance_id", "head_kb", "tail_kb", "lang", "text",
             "head_start", "head_end", "tail_start", "tail_end", "relations")
    return {name: [row[i] for row in rows] for i, name in enumerate(names)}


def test_duplicate_rows_keeps_first_and_remaps_ids():
    columns = _columns([
        ("a", None, "Q1", "Q2", "en", "Ada was born in Paris .", 0, 3, 16, 21, ["P19"]),
        ("b", "a", "Q1", "Q2", "de", "Ada wurde in Paris geboren .", 0, 3, 13, 18, ["P19"]),
        ("c", None, "Q1", "Q2", "en", "Ada was born in Paris .", 0, 3, 16, 21, ["P19"]),  # = a, other run
        ("d", "c", "Q1", "Q2", "zh", "Ada 生于 Paris 。", 0, 3, 7, 12, ["P19"]),
        ("e", None, "Q1", "Q2", "de", "Ada was born in Paris .", 0, 3, 16, 21, ["P19"]),  # other language
        ("f", None, "Q1", "Q2", "en", "Ada was born in Paris .", 0, 2, 16, 21, ["P19"]),  # other head span
        ("g", None, "Q1", "Q3", "en", "Ada was born in Paris .", 0, 3, 16, 21, []),  # other bag
        ("a", None, "Q1", "Q2", "en", "Ada was born in Paris .", 0, 3, 16, 21, ["P19"]),  # same id again
    ])
    keep, remap = duplicate_rows(columns)
    assert keep == [0, 1, 3, 4, 5, 6]
    assert remap == {"c": "a"}  # the repeated "a" needs no remap
    deduped, dropped = dedupe_columns(columns)
    assert dropped == [2, 7]
    assert deduped["instance_id"] == ["a", "b", "d", "e", "f", "g"]
    assert deduped["source_instance_id"] == [None, "a", "a", None, None, None]  # zh twin now points to a


def test_no_duplicates_leaves_columns_unchanged():
    columns = _columns([("a", None, "Q1", "Q2", "en", "x y", 0, 1, 2, 3, []),
                        ("b", "a", "Q1", "Q2", "de", "x y", 0, 1, 2, 3, [])])
    deduped, dropped = dedupe_columns(columns)
    assert dropped == [] and deduped == columns


def _two_runs(tmp_path):
    """Run 1 (en->de) and run 2 (en->zh) of one multi-way corpus: the English source row is emitted twice."""
    en1 = make_row("{h} was born in {t} .", "en", ADA, PARIS, ["P19"], "run1-p1", split="train")
    de1 = make_row("{h} wurde in {t} geboren .", "de", ADA, PARIS, ["P19"], "run1-p1", "projected",
                   en1["instance_id"], 0.9, split="train")
    en2 = make_row("{h} was born in {t} .", "en", ADA, PARIS, ["P19"], "run2-p1", split="train")
    zh2 = make_row("{h} 生于 {t} 。", "zh", ADA, PARIS, ["P19"], "run2-p1", "projected", en2["instance_id"], 0.8,
                   split="train")
    other = make_row("{h} visited {t} .", "en", ADA, ROME, [], "run2-p2", split="train")
    assert en1["instance_id"] != en2["instance_id"] and en1["text"] == en2["text"]
    write_parquet([en1, de1], str(tmp_path / "run1.parquet"), SHARD_SCHEMA)
    write_parquet([en2, zh2, other], str(tmp_path / "run2.parquet"), SHARD_SCHEMA)
    return resolve_shards([str(tmp_path / "run1.parquet"), str(tmp_path / "run2.parquet")]), en1


def test_bag_cache_drops_repeated_source_row_and_keeps_twins(tmp_path):
    files, en1 = _two_runs(tmp_path)
    cache = build_bag_cache(files, "train", DataConfig(), tmp_path / "cache")
    assert cache.num_rows == 4 and cache.num_bags == 2
    assert cache.meta["duplicates_removed"] == {"en": 1}
    assert cache.meta["langs"] == {"en": 2, "de": 1, "zh": 1}
    assert cache.meta["label_counts"] == {"P19": 3}
    bag = next(b for b in cache.iter_bags(0, 0, shuffle=False) if b.key == ("Q1", "Q2"))
    rows = {r["lang"]: r for r in bag.rows}
    assert sorted(rows) == ["de", "en", "zh"] and rows["en"]["instance_id"] == en1["instance_id"]
    assert rows["de"]["source_instance_id"] == rows["zh"]["source_instance_id"] == en1["instance_id"]


def test_dedupe_off_keeps_every_row_in_its_own_cache(tmp_path):
    files, _ = _two_runs(tmp_path)
    on = build_bag_cache(files, "train", DataConfig(), tmp_path / "cache")
    off = build_bag_cache(files, "train", DataConfig(dedupe_instances=False), tmp_path / "cache")
    assert off.directory != on.directory
    assert off.num_rows == 5 and off.meta["duplicates_removed"] == {} and off.meta["langs"]["en"] == 3
