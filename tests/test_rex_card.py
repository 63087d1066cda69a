"""The model card (README.md in every model directory) and `rex export-encoder` (an AutoModel folder)."""

from __future__ import annotations

import json

import pytest
import torch

from rex.api import train
from rex.cli import main
from rex.config import EncoderConfig
from rex.encoder import encode_batch
from rex.export import NotExportable, export_encoder
from rex.model.io import load_model_dir
from rex.synthetic import tiny_config, write_synthetic_shards


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    root = tmp_path_factory.mktemp("card")
    shards = write_synthetic_shards(root / "shards", num_pairs=30)
    (root / "kb").mkdir()
    (root / "kb" / "relations.tsv").write_text("P19\tplace of birth\nP36\tcapital\n")
    (shards / "manifest.json").write_text(json.dumps({"kb_version": "kb-abc123", "pipeline_version": "0.1.0",
                                                      "created_at": "2026-01-02T03:04:05+00:00",
                                                      "config": {"kb": str(root / "kb")}}))
    return shards


@pytest.fixture(scope="module")
def scratch_run(shards, tmp_path_factory):
    out = tmp_path_factory.mktemp("scratch-run")
    train(tiny_config([str(shards)], steps=6, save_every=3), out)
    return out


def test_final_card_has_lineage_labels_config_metrics_and_limits(scratch_run, shards):
    card = (scratch_run / "model" / "README.md").read_text()
    assert f"`{shards}`" in card and "kb-abc123" in card and "0.1.0" in card and "2026-01-02" in card
    assert "| P19 | place of birth |" in card and "| P27 | (unknown) |" in card
    assert "aggregator=att" in card and "not a Hugging Face model" in card
    metrics = json.loads((scratch_run / "metrics.json").read_text())
    test_all = metrics["test"]["all"]
    assert f"| test | all | {test_all['items']} | {test_all['positive_items']} | {test_all['pr_auc']:.3f} |" in card
    assert "| test | de |" in card and "| dev | en |" in card
    assert "Distant labels" in card and "Trained on: de, en" in card and "zero-shot" in card


def test_checkpoint_cards_say_they_have_no_metrics(scratch_run):
    checkpoints = sorted((scratch_run / "checkpoints").glob("step-*"))
    assert checkpoints
    card = (checkpoints[0] / "README.md").read_text()
    assert "Not evaluated yet" in card and "| P36 | capital |" in card


def test_missing_manifest_is_recorded_not_fatal(tmp_path):
    shards = write_synthetic_shards(tmp_path / "shards", num_pairs=30)
    train(tiny_config([str(shards)], steps=2), tmp_path / "out")
    card = (tmp_path / "out" / "model" / "README.md").read_text()
    assert f"| `{shards}` | not found |" in card and "| P19 | (unknown) |" in card


def test_scratch_transformer_is_not_exportable(scratch_run, tmp_path):
    with pytest.raises(NotExportable, match="not a Hugging Face model"):
        export_encoder(scratch_run / "model", tmp_path / "enc")
    assert not (tmp_path / "enc").exists()


def _hidden(model, tokenizer, texts):
    batch = encode_batch(tokenizer, texts, 32, "start")
    with torch.no_grad():
        return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state


@pytest.mark.parametrize("tune", ["full", "lora"])
def test_exported_encoder_loads_with_automodel_and_matches(shards, tiny_bert, tmp_path, tune):
    from transformers import AutoModel, AutoTokenizer

    cfg = tiny_config([str(shards)], steps=4, warmup_steps=1, lr=1e-2)
    cfg.encoder = EncoderConfig(kind="hf", name_or_path=tiny_bert, tune=tune)
    train(cfg, tmp_path / "run")
    assert main(["export-encoder", "--model", str(tmp_path / "run" / "model"), "--output", str(tmp_path / "enc")]) == 0
    exported = AutoModel.from_pretrained(str(tmp_path / "enc")).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(tmp_path / "enc"))
    assert tokenizer.convert_tokens_to_ids("[E1]") != tokenizer.unk_token_id
    assert not any("lora" in name for name in exported.state_dict())  # merged into a plain BertModel
    loaded = load_model_dir(tmp_path / "run" / "model")
    texts = ["[E1]Ent1a[/E1] was born in [E2]Ent1b[/E2] ."]
    inside = _hidden(loaded.model.encoder.model.eval(), loaded.tokenizer, texts)  # (1, L, H), adapters unmerged
    assert torch.allclose(_hidden(exported, loaded.tokenizer, texts), inside, atol=1e-5)
    base = AutoModel.from_pretrained(tiny_bert).eval()
    base.resize_token_embeddings(len(tokenizer))
    plain = encode_batch(loaded.tokenizer, ["was born in ."], 32, "start")  # no marker rows involved
    with torch.no_grad():
        before = base(input_ids=plain["input_ids"], attention_mask=plain["attention_mask"]).last_hidden_state
        after = exported(input_ids=plain["input_ids"], attention_mask=plain["attention_mask"]).last_hidden_state
    assert not torch.allclose(before, after, atol=1e-4)  # the trained weights (or adapters) are in the export


def test_export_refuses_a_folder_that_holds_a_model(shards, tiny_bert, tmp_path):
    (tmp_path / "enc").mkdir()
    (tmp_path / "enc" / "config.json").write_text("{}")
    with pytest.raises(FileExistsError, match="already holds a model"):
        export_encoder(tmp_path / "nowhere", tmp_path / "enc")


def test_card_names_the_per_language_cuts():
    from rex.model.card import _labels

    plain = "\n".join(_labels(["P1"], {"P1": "one"}, None, 0.4))
    assert "0.4" in plain and "lang_thresholds" not in plain
    text = "\n".join(_labels(["P1"], {"P1": "one"}, None, 0.4, {"de": 0.21, "en": 0.45}))
    assert "`model.lang_thresholds`: de 0.21, en 0.45" in text
