"""Cross-validation over entity pairs: the fold splits, the re-split shard rows, the pooled counts and the report."""

import json
from collections import Counter

import numpy as np
import pyarrow as pa

from bench.rex_lang_cv import load_folds, report, resplit, run_fold, split_in_fold
from bench.rex_lang_significance import bag_counts, micro_f1
from rex.api import quick_config
from rex.data import resolve_shards
from rex.metrics import prf
from rex.synthetic import write_synthetic_shards
from schemas.shard import SHARD_SCHEMA

PAIRS = [(f"Q{i}", f"Q{i * 7 + 3}") for i in range(2000)]


def test_every_pair_is_tested_in_exactly_one_fold_and_never_tuned_on_where_it_is_tested():
    folds = 5
    for head, tail in PAIRS[:300]:
        splits = [split_in_fold(head, tail, k, folds) for k in range(folds)]
        # dev is one bucket of 2K (the even ones in turn), so a pair is in dev once or never
        assert splits.count("test") == 1 and splits.count("dev") <= 1
        # both directions of a pair share their split in every fold
        assert splits == [split_in_fold(tail, head, k, folds) for k in range(folds)]


def test_fold_proportions_follow_the_buckets():
    shares = Counter(split_in_fold(h, t, 0, 5) for h, t in PAIRS)
    # 2K = 10 buckets: test 2, dev 1, train 7
    assert abs(shares["test"] / len(PAIRS) - 0.2) < 0.03
    assert abs(shares["dev"] / len(PAIRS) - 0.1) < 0.03
    assert abs(shares["train"] / len(PAIRS) - 0.7) < 0.03


def test_resplit_sets_only_the_split_column_of_bitext_rows(tmp_path):
    write_synthetic_shards(tmp_path, num_pairs=40, seed=0)
    files = resolve_shards([str(tmp_path)])
    table = pa.concat_tables([pa.parquet.read_table(f.path, schema=SHARD_SCHEMA) for f in files])
    out, dropped = resplit(table, 1, 3)
    out = out.cast(SHARD_SCHEMA)
    assert dropped == 0 and out.drop_columns(["split"]).equals(table.drop_columns(["split"]))
    heads = [h["kb_id"] for h in out["head"].to_pylist()]
    tails = [t["kb_id"] for t in out["tail"].to_pylist()]
    assert out["split"].to_pylist() == [split_in_fold(h, t, 1, 3) for h, t in zip(heads, tails, strict=True)]
    assert set(out["split"].to_pylist()) == {"train", "dev", "test"}


def test_resplit_drops_the_verbalised_rows_of_held_out_pairs(tmp_path):
    write_synthetic_shards(tmp_path, num_pairs=40, seed=0)
    table = pa.concat_tables([pa.parquet.read_table(f.path, schema=SHARD_SCHEMA)
                              for f in resolve_shards([str(tmp_path)])])
    sources = pa.array(["verbalized"] * table.num_rows, pa.string())
    table = table.set_column(table.schema.get_field_index("label_source"), "label_source", sources)
    out, dropped = resplit(table, 0, 3)
    # only the fold's train pairs keep their verbalised rows; the others are counted
    assert set(out["split"].to_pylist()) == {"train"}
    assert dropped == table.num_rows - out.num_rows > 0


def test_pooled_counts_give_rex_metrics_micro_f1():
    rng = np.random.default_rng(0)
    gold, pred = rng.random((50, 4)) < 0.2, rng.random((50, 4)) < 0.3
    counts = bag_counts(gold, pred)
    assert counts.shape == (50, 3)
    assert np.isclose(micro_f1(counts), prf(gold, pred)["micro_f1"])
    # two folds with different label sets pool by their counts
    gold2, pred2 = rng.random((30, 2)) < 0.2, rng.random((30, 2)) < 0.3
    pooled = np.concatenate([counts, bag_counts(gold2, pred2)])
    tp = (gold & pred).sum() + (gold2 & pred2).sum()
    n_pred, n_gold = pred.sum() + pred2.sum(), gold.sum() + gold2.sum()
    assert np.isclose(micro_f1(pooled), 2 * tp / (n_pred + n_gold))
    assert micro_f1(np.zeros((3, 3), int)) == 0.0


def test_report_pools_the_folds_per_language():
    gold = np.array([[1, 0], [0, 0], [0, 1], [1, 0]], bool)
    rex = {"gold": gold, "score/rex": np.array([[0.9, 0.1], [0.2, 0.1], [0.1, 0.8], [0.7, 0.2]]),
           "pred/rex": gold.copy(), "score/bow": np.full((4, 2), 0.5), "pred/bow": np.ones((4, 2), bool),
           "pred/bow_dev": np.zeros((4, 2), bool)}
    table = report([{"de": rex, "all": rex}, {"de": rex, "all": rex}], resamples=50, seed=0)
    row = next(line for line in table.splitlines() if line.startswith("| de |"))
    # 6 positive sub-bags of 8 pooled; rex perfect, BoW-LR at 0.5 predicts every cell (P 3/8, R 1: F1 6/11)
    assert row.startswith("| de | 6 (8) | 1.000 | 0.545 |")
    assert "2 of 2" in row
    assert "rex against BoW-LR at 0.5: above: 1 ['de']" in table


def test_folds_retrain_a_saved_recipe_and_score_both_systems(tmp_path):
    write_synthetic_shards(tmp_path / "shards", num_pairs=200, seed=0)
    like = quick_config([str(tmp_path / "shards")], steps=20)
    like.train.batch_size, like.encoder.hidden, like.encoder.ffn, like.encoder.layers = 4, 32, 64, 1
    (tmp_path / "like").mkdir()
    like.save(tmp_path / "like" / "config.json")
    paths = [run_fold(str(tmp_path / "like"), [str(tmp_path / "shards")], k, 3, str(tmp_path / "cv"), 1)
             for k in range(3)]
    folds = load_folds(paths)
    # every (pair, language) sub-bag is tested in exactly one fold
    tested = sum(len(f["en"]["gold"]) for f in folds)
    assert tested == sum(len(f["de"]["gold"]) for f in folds) == 200
    for k in range(3):
        facts = json.loads((tmp_path / "cv" / f"fold-{k}" / "shards.json").read_text())
        assert facts["verbalized_heldout_dropped"] == 0 and facts["rows"] > 0
        trained = json.loads((tmp_path / "cv" / f"fold-{k}" / "rex" / "model" / "config.json").read_text())
        assert trained["data"]["shards"] == [str(tmp_path / "cv" / f"fold-{k}" / "shards")]
    table = report(folds, resamples=20, seed=0)
    assert "| de | " in table and "| en | " in table and "| all | " in table
    # a second call reuses the fold's scores
    assert run_fold(str(tmp_path / "like"), [str(tmp_path / "shards")], 0, 3, str(tmp_path / "cv"), 1) == paths[0]
