"""Per-language decision thresholds: tuned on dev's language sub-bags (rex.trainer.tune_thresholds), saved in
model.lang_thresholds, and used by evaluation (metrics_from_scores, rex evaluate) and prediction."""

from __future__ import annotations

import json

import numpy as np
import pytest

import rex
from rex.api import evaluate_model, train
from rex.config import ModelConfig, RexConfig
from rex.evaluate import ALL, metrics_from_scores
from rex.model.io import load_model_dir
from rex.synthetic import tiny_config, write_synthetic_shards
from rex.trainer import tune_thresholds


def _group(scores: list[float], gold: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """One relation: (gold (M, 1), scores (M, 1))."""
    return np.array(gold, float)[:, None], np.array(scores, float)[:, None]


def scored_dev() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """English scores its positives around 0.8, German (lower, as one language's sub-bags do) around 0.3; Chinese
    has one positive bag only. Negatives of each language sit below that language's positives."""
    en = _group([0.9, 0.85, 0.8, 0.75, 0.5, 0.4, 0.2], [1, 1, 1, 1, 0, 0, 0])
    de = _group([0.35, 0.32, 0.3, 0.28, 0.1, 0.05], [1, 1, 1, 1, 0, 0])
    zh = _group([0.2, 0.6], [1, 0])
    whole = tuple(np.concatenate([g[i] for g in (en, de, zh)]) for i in (0, 1))
    return {ALL: whole, "en": en, "de": de, "zh": zh}


def test_tuning_gives_a_lower_scoring_language_a_lower_cut_and_small_ones_the_pooled_cut():
    cfg = ModelConfig()
    record = tune_thresholds(cfg, scored_dev(), min_lang_positives=3)
    # zh: 1 positive bag < 3, so the best cut of en + de + zh sub-bags pooled (0.2: 9 of 9 positives, 4 negatives)
    assert cfg.lang_thresholds == pytest.approx({"en": 0.75, "de": 0.28, "zh": 0.2})
    assert cfg.lang_thresholds["de"] < cfg.lang_thresholds["en"]
    assert record["pooled_lang_threshold"] == pytest.approx(0.2)
    assert record["dev_f1_at_pooled_lang_threshold"] == pytest.approx(2 * (9 / 13) / (9 / 13 + 1))
    assert 0.0 < cfg.threshold < 1.0 and cfg.threshold != 0.5
    assert record["lang_thresholds"] == cfg.lang_thresholds and record["threshold"] == cfg.threshold
    assert record["dev_positive_bags"] == {"en": 4, "de": 4, "zh": 1}
    assert record["dev_f1_at_lang_threshold"] == pytest.approx({"en": 1.0, "de": 1.0})


def test_minimum_zero_is_off_and_replaces_old_cuts():
    cfg = ModelConfig(lang_thresholds={"fr": 0.2})
    tune_thresholds(cfg, scored_dev(), min_lang_positives=0)
    assert cfg.lang_thresholds == {} and cfg.threshold != 0.5
    cfg = ModelConfig(lang_thresholds={"fr": 0.2})
    tune_thresholds(cfg, scored_dev(), min_lang_positives=5)  # nobody has 5 positives: all get the pooled cut
    assert cfg.lang_thresholds == pytest.approx({"en": 0.2, "de": 0.2, "zh": 0.2})


def test_dev_without_positives_keeps_everything():
    cfg = ModelConfig(threshold=0.4, lang_thresholds={"de": 0.2})
    none = _group([0.3, 0.1], [0, 0])
    record = tune_thresholds(cfg, {ALL: none, "de": none}, min_lang_positives=1)
    assert (cfg.threshold, cfg.lang_thresholds) == (0.4, {"de": 0.2})
    assert record["dev_f1_at_threshold"] is None


def test_evaluation_uses_each_languages_cut(tmp_path):
    scored = scored_dev()
    plain = metrics_from_scores(scored, 0.5)
    assert plain["de"]["micro_r"] == 0.0 and "threshold" not in plain["de"]
    tuned = metrics_from_scores(scored, 0.5, tmp_path / "pr.png", lang_thresholds={"de": 0.28, "en": 0.75})
    assert tuned["de"]["micro_f1"] == 1.0 and tuned["de"]["threshold"] == 0.28
    assert tuned["en"]["threshold"] == 0.75
    # ALL and languages without a cut stay at the global threshold
    assert tuned[ALL]["threshold"] == 0.5 and tuned[ALL]["micro_f1"] == plain[ALL]["micro_f1"]
    assert tuned["zh"]["threshold"] == 0.5 and tuned["zh"]["micro_r"] == 0.0
    assert (tmp_path / "pr.png").exists()


def test_config_validates_loads_old_dicts_and_parses_the_flag_form():
    old = RexConfig().to_dict()
    del old["model"]["lang_thresholds"], old["train"]["min_lang_threshold_positives"]
    cfg = RexConfig.from_dict(old)
    assert cfg.model.lang_thresholds == {} and cfg.train.min_lang_threshold_positives == 50
    assert ModelConfig(lang_thresholds="de=0.3, fr=0.25").lang_thresholds == {"de": 0.3, "fr": 0.25}
    with pytest.raises(ValueError, match="must be in"):
        ModelConfig(lang_thresholds={"de": 1.0})
    with pytest.raises(ValueError, match="lang_thresholds"):
        ModelConfig(lang_thresholds={"de": True})
    with pytest.raises(ValueError, match="lang=cut"):
        ModelConfig(lang_thresholds="de")
    with pytest.raises(ValueError, match="min_lang_threshold_positives"):
        RexConfig.from_dict({"train": {"min_lang_threshold_positives": -1}})


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("langcut")
    shards = write_synthetic_shards(root / "shards", num_pairs=30)
    results = train(tiny_config([str(shards)], steps=4, min_lang_threshold_positives=1), root / "out")
    return shards, root / "out" / "model", results


def test_training_saves_and_records_the_tuned_cuts(trained):
    _, model_dir, results = trained
    saved = json.loads((model_dir / "config.json").read_text())["model"]
    assert results["threshold"]["lang_thresholds"]  # the synthetic dev split has positives in each language
    assert saved["lang_thresholds"] == results["threshold"]["lang_thresholds"]
    assert saved["threshold"] == results["threshold"]["threshold"]
    assert set(results["threshold"]["dev_positive_bags"]) == set(results["dev"]) - {ALL}
    # the final dev metrics are taken at the tuned cuts
    assert {g: m["threshold"] for g, m in results["dev"].items() if g != ALL} == saved["lang_thresholds"]


def test_rex_evaluate_and_prediction_apply_saved_cuts(trained, tmp_path):
    shards, model_dir, _ = trained
    copy = tmp_path / "model"
    copy.mkdir()
    for f in model_dir.iterdir():
        if f.is_file():
            copy.joinpath(f.name).write_bytes(f.read_bytes())
    config = json.loads((copy / "config.json").read_text())
    config["model"]["threshold"] = 0.999999
    config["model"]["lang_thresholds"] = {"de": 1e-6}
    (copy / "config.json").write_text(json.dumps(config))
    assert load_model_dir(copy).config.model.lang_thresholds == {"de": 1e-6}

    metrics = evaluate_model(copy, [str(shards)], "test")
    assert metrics["de"]["threshold"] == 1e-6 and metrics["de"]["micro_r"] == 1.0
    assert metrics[ALL]["threshold"] == 0.999999 and metrics[ALL]["micro_r"] == 0.0

    model = rex.load(copy, device="cpu")
    de = model.predict("Ent1a wurde in Ent1b geboren .", (0, 5), (15, 20), "de")
    en = model.predict("Ent1a was born in Ent1b .", (0, 5), (18, 23), "en")
    assert de["relations"] == model.labels and en["relations"] == []
    assert model.threshold_for("de") == 1e-6 and model.threshold_for("en") == model.threshold_for(None) == 0.999999
