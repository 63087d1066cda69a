"""rex with a pretrained encoder that is not fully fine-tuned: the frozen-feature cache, top-layer and LoRA tuning,
small model directories that name their base encoder, span pooling, marker initialisation, relation balancing."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from rex.api import evaluate_model, train
from rex.config import EncoderConfig
from rex.encoder import build_encoder, encode_batch, mark_text, new_tokenizer
from rex.encoder.base import context_pool, span_mean_pool, unmark
from rex.encoder.features import FeatureStore
from rex.model.io import load_model_dir
from rex.model.relation import class_weights
from rex.synthetic import tiny_config, write_synthetic_shards


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return str(write_synthetic_shards(tmp_path_factory.mktemp("shards"), num_pairs=30))


def _config(shards, bert, tune, steps=12, **encoder):
    cfg = tiny_config([shards], steps=steps, warmup_steps=1, lr=1e-2)
    cfg.encoder = EncoderConfig(kind="hf", name_or_path=bert, tune=tune, **encoder)
    return cfg


def _log(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("pooling", ["start", "entity", "entity_context"])
def test_frozen_features_are_cached_once_and_match_the_encoder(shards, tiny_bert, tmp_path, pooling):
    cfg = _config(shards, tiny_bert, "frozen", steps=30, pooling=pooling)
    cfg.data.feature_cache = str(tmp_path / "features")
    results = train(cfg, tmp_path / "run1")
    first = [r for r in _log(tmp_path / "run1") if "feature_cache" in r][0]
    assert first["encoded"] > 0 and first["encoded"] == first["cached"]
    losses = [r["loss"] for r in _log(tmp_path / "run1") if "loss" in r]
    assert losses[-1] < losses[0]
    # the model directory holds the classifier only, and names its base
    state = load_file(str(tmp_path / "run1" / "model" / "model.safetensors"))
    assert state and not any(k.startswith("encoder.") for k in state)
    base = json.loads((tmp_path / "run1" / "model" / "base_encoder.json").read_text())
    assert base["name_or_path"] == tiny_bert and len(base["sha256"]) == 64
    # a second run over the same shards encodes nothing new
    train(cfg, tmp_path / "run2")
    second = [r for r in _log(tmp_path / "run2") if "feature_cache" in r][0]
    assert second["encoded"] == 0 and second["cached"] == first["cached"]
    # the saved model re-encodes on the fly (evaluate/predict path): the same features as the cache, to fp16
    from rex.data import BagCache
    from rex.data.loader import marked_texts

    loaded = load_model_dir(tmp_path / "run1" / "model")
    cache_dir = next((tmp_path / "run1" / "bag-cache").glob("test-*"))
    bag = BagCache(cache_dir).read_partition(0)[0]
    batch = encode_batch(loaded.tokenizer, marked_texts(bag), cfg.data.max_length, pooling)
    with torch.no_grad():
        live = loaded.model.encoder(batch["input_ids"], batch["attention_mask"], batch).numpy()
    store = FeatureStore(cfg.data.feature_cache, base, pooling, cfg.data.max_length, live.shape[1])
    np.testing.assert_allclose(store.lookup(bag.column("instance_id")), live, rtol=2e-3, atol=2e-3)
    again = evaluate_model(str(tmp_path / "run1" / "model"), [shards], "test")
    for group in ("all", "en", "de"):
        assert again[group]["pr_auc"] == pytest.approx(results["test"][group]["pr_auc"], abs=0.02)


def test_frozen_model_refuses_a_changed_base_encoder(shards, tiny_bert, tmp_path):
    import shutil

    from transformers import BertModel

    bert = tmp_path / "bert"
    shutil.copytree(tiny_bert, bert)
    train(_config(shards, str(bert), "frozen", steps=2), tmp_path / "run")
    model = BertModel.from_pretrained(str(bert))
    with torch.no_grad():
        model.pooler.dense.bias.add_(1.0)
    model.save_pretrained(str(bert))
    with pytest.raises(ValueError, match="base encoder"):
        load_model_dir(tmp_path / "run" / "model")


def test_lora_trains_adapters_only_and_reloads(shards, tiny_bert, tmp_path):
    train(_config(shards, tiny_bert, "lora", steps=6, lora_r=2), tmp_path / "run")
    state = load_file(str(tmp_path / "run" / "model" / "model.safetensors"))
    encoder_keys = [k for k in state if k.startswith("encoder.")]
    assert encoder_keys and all("lora_" in k for k in encoder_keys)
    loaded = load_model_dir(tmp_path / "run" / "model")
    for name, tensor in state.items():
        assert torch.equal(loaded.model.state_dict()[name], tensor), name


def test_top_layers_train_and_the_rest_stays_the_base(shards, tiny_bert, tmp_path):
    from transformers import BertModel

    train(_config(shards, tiny_bert, "top", steps=4, tune_layers=1), tmp_path / "run")
    state = load_file(str(tmp_path / "run" / "model" / "model.safetensors"))
    encoder_keys = {k for k in state if k.startswith("encoder.")}
    assert encoder_keys and all(".layer.1." in k for k in encoder_keys)
    base = BertModel.from_pretrained(tiny_bert).state_dict()
    loaded = load_model_dir(tmp_path / "run" / "model").model.encoder.model.state_dict()
    assert torch.equal(loaded["encoder.layer.0.attention.self.query.weight"],
                       base["encoder.layer.0.attention.self.query.weight"])
    assert not torch.equal(loaded["encoder.layer.1.attention.self.query.weight"],
                           base["encoder.layer.1.attention.self.query.weight"])


def test_marker_rows_start_as_the_mean_of_their_pieces(tiny_bert):
    cfg = EncoderConfig(kind="hf", name_or_path=tiny_bert, tune="frozen")
    tok = new_tokenizer(cfg, [])
    a, b = (build_encoder(cfg, tok, 32).model.get_input_embeddings().weight for _ in range(2))
    assert torch.equal(a, b)  # deterministic: a frozen encoder rebuilt from its base is the same encoder
    pieces = tok.marker_pieces()
    assert all(pieces)
    for marker_id, ids in zip(tok.marker_ids, pieces, strict=True):
        assert torch.allclose(a[marker_id], a[ids].mean(dim=0))


def test_span_pooling_means_the_tokens_between_markers():
    hidden = torch.arange(2 * 6 * 1, dtype=torch.float32).reshape(2, 6, 1)
    start, end = torch.tensor([1, 2]), torch.tensor([4, 3])
    assert span_mean_pool(hidden, start, end).flatten().tolist() == [2.5, 8.0]  # row 1: empty span -> start


def test_span_pooling_encoder_shape(tiny_bert):
    cfg = EncoderConfig(kind="hf", name_or_path=tiny_bert, pooling="span")
    tok = new_tokenizer(cfg, [])
    batch = encode_batch(tok, [mark_text("ada was born in paris .", (0, 3), (16, 21))], max_length=16)
    assert int(batch["head_end"][0]) > int(batch["head_pos"][0])
    with torch.no_grad():
        assert build_encoder(cfg, tok, 16)(batch["input_ids"], batch["attention_mask"], batch).shape == (1, 32)


def test_context_pooling_means_the_tokens_between_the_entities_and_the_whole_sentence():
    hidden = torch.arange(2 * 6 * 1, dtype=torch.float32).reshape(2, 6, 1)  # row 0: 0..5, row 1: 6..11
    positions = {"head_pos": torch.tensor([0, 2]), "head_end": torch.tensor([2, 4]),  # row 1: head after the tail
                 "tail_pos": torch.tensor([3, 0]), "tail_end": torch.tensor([5, 3]),  # row 1: the two touch
                 "attention_mask": torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]])}
    # row 0: tokens 2 and 3 lie between, all six in the sentence; row 1: nothing between, four unmasked tokens
    assert context_pool(hidden, positions).tolist() == [[2.5, 2.5], [0.0, 7.5]]


def test_entity_context_pooling_adds_the_between_and_sentence_means(tiny_bert):
    cfg = EncoderConfig(kind="hf", name_or_path=tiny_bert, pooling="entity_context", tune="frozen")
    tok = new_tokenizer(cfg, [])
    batch = encode_batch(tok, [mark_text("ada was born in paris .", (0, 3), (16, 21))], max_length=16,
                         pooling="entity_context")
    encoder = build_encoder(cfg, tok, 16).eval()
    assert encoder.output_size == 64
    with torch.no_grad():
        hidden = encoder.hidden_states(batch["input_ids"], batch["attention_mask"])
        reps = encoder(batch["input_ids"], batch["attention_mask"], batch)
    # [CLS] ada was born in paris . [SEP]: 'was born in' (tokens 2-4) between, eight tokens in all
    assert reps.shape == (1, 64) and torch.allclose(reps[0, :16], hidden[0, 1])
    assert torch.allclose(reps[0, 32:48], hidden[0, 2:5].mean(dim=0), atol=1e-6)
    assert torch.allclose(reps[0, 48:], hidden[0].mean(dim=0), atol=1e-6)
    with pytest.raises(ValueError, match="needs encoder.kind='hf'"):
        EncoderConfig(kind="transformer", pooling="entity_context")


def test_unmark_inverts_mark_text():
    text = "Ada was born in Paris ."
    for head, tail in (((0, 3), (16, 21)), ((16, 21), (0, 3))):
        assert unmark(mark_text(text, head, tail)) == (text, head, tail)


def test_entity_pooling_reads_the_sentence_without_markers(tiny_bert):
    cfg = EncoderConfig(kind="hf", name_or_path=tiny_bert, pooling="entity", tune="frozen")
    tok = new_tokenizer(cfg, [])
    texts = [mark_text("ada was born in paris .", (0, 3), (16, 21)), mark_text("ada was born in paris .", (16, 21),
                                                                               (0, 3))]
    batch = encode_batch(tok, texts, max_length=16, pooling="entity")
    assert not set(batch["input_ids"].flatten().tolist()) & set(tok.marker_ids)
    assert torch.equal(batch["input_ids"][0], batch["input_ids"][1])  # one input for both pairs
    # [CLS] ada was born in paris . [SEP]: head 'ada' = token 1, tail 'paris' = token 5 (exclusive bounds)
    assert [int(batch[k][0]) for k in ("head_pos", "head_end", "tail_pos", "tail_end")] == [0, 2, 4, 6]
    assert [int(batch[k][1]) for k in ("head_pos", "head_end", "tail_pos", "tail_end")] == [4, 6, 0, 2]
    encoder = build_encoder(cfg, tok, 16).eval()
    with torch.no_grad():
        hidden = encoder.hidden_states(batch["input_ids"], batch["attention_mask"])
        reps = encoder(batch["input_ids"], batch["attention_mask"], batch)
    assert torch.allclose(reps[0, :16], hidden[0, 1]) and torch.allclose(reps[0, 16:], hidden[0, 5])
    assert torch.allclose(reps[1, :16], reps[0, 16:])  # the swapped pair swaps the halves
    # a long sentence is windowed around the entities, which stay inside the window
    long = "was " * 40 + "ada born in paris . " + "was " * 40
    far = encode_batch(tok, [mark_text(long, (160, 163), (172, 177))], max_length=16, pooling="entity")
    ids = far["input_ids"][0]
    assert len(ids) == 16 and int(far["head_end"][0]) - int(far["head_pos"][0]) == 2
    assert int(ids[int(far["head_pos"][0]) + 1]) == tok.tok.convert_tokens_to_ids("ada")
    assert int(ids[int(far["tail_pos"][0]) + 1]) == tok.tok.convert_tokens_to_ids("paris")


def test_feature_store_appends_segments_and_survives_reopen(tmp_path):
    ref = {"name_or_path": "x", "sha256": "0" * 64}
    store = FeatureStore(tmp_path, ref, "start", 32, dim=3)
    store.add(["a", "b"], np.array([[1, 2, 3], [4, 5, 6]], dtype=np.float32))
    store.add(["c"], np.array([[7, 8, 9]], dtype=np.float32))
    again = FeatureStore(tmp_path, ref, "start", 32, dim=3)
    assert len(again) == 3 and again.missing(["a", "z"]) == ["z"]
    assert again.lookup(["c", "a"]).tolist() == [[7, 8, 9], [1, 2, 3]]
    with pytest.raises(KeyError, match="z"):
        again.lookup(["z"])
    other = FeatureStore(tmp_path, {**ref, "sha256": "1" * 64}, "start", 32, dim=3)  # another encoder
    assert len(other) == 0 and other.directory != again.directory


def test_class_weights():
    assert class_weights([1, 4], "none") is None
    w = class_weights([1, 4], "sqrt_inv")
    assert w.tolist() == pytest.approx([4 / 3, 2 / 3])
    assert class_weights([1, 3], "inv").tolist() == pytest.approx([1.5, 0.5])


def test_relation_allow_and_deny_lists_and_relation_stats(shards, tmp_path):
    cfg = tiny_config([shards], steps=2)
    cfg.data.exclude_relations = ["P19"]
    cfg.model.class_weighting = "sqrt_inv"
    train(cfg, tmp_path / "run")
    labels = json.loads((tmp_path / "run" / "model" / "labels.json").read_text())["relations"]
    assert "P19" not in labels and labels
    stats = json.loads((tmp_path / "run" / "relation_stats.json").read_text())
    assert set(stats) == {"train", "dev", "test"}
    train_stats = stats["train"]
    assert "P19" in train_stats["bags"] and train_stats["bags_by_lang"]["P19"]["en"] >= 1
    assert sum(train_stats["instances"].values()) >= sum(train_stats["bags"].values())
    cfg2 = tiny_config([shards], steps=2)
    cfg2.data.relations = ["P36"]
    train(cfg2, tmp_path / "run2")
    assert json.loads((tmp_path / "run2" / "model" / "labels.json").read_text())["relations"] == ["P36"]
