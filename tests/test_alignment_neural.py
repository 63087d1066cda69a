"""NeuralAligner: parity with simalign.SentenceAligner on a tiny locally built BERT, batching, long sentences."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from simalign import SentenceAligner
from transformers import AutoModel

from alignment.word.core import WordAlignment, read_bitext
from alignment.word.neural import NeuralAligner, link_matrix, main, max_weight_match
from alignment.word.neural_embed import EmbeddingModel, plan_windows
from tests.helpers import LITERAL_PAIRS, real_pairs

_REFERENCE: dict[tuple[str, str, str], list[list[tuple[int, int]]]] = {}


def simalign_links(model: str, pairs, method: str, token_type: str, key: str) -> list[list[tuple[int, int]]]:
    """simalign's links for all pairs, method and token_type; one SentenceAligner per token_type, cached."""
    if (key, token_type, method) not in _REFERENCE:
        codes = "ai" if method != "match" else "m"
        reference = SentenceAligner(model=model, token_type=token_type, matching_methods=codes, layer=2)
        results = [reference.get_word_aligns(src, tgt) for src, tgt in pairs]
        for code in codes:
            name = {"a": "inter", "i": "itermax", "m": "mwmf"}[code]
            ours = {"a": "argmax", "i": "itermax", "m": "match"}[code]
            _REFERENCE[key, token_type, ours] = [[tuple(link) for link in r[name]] for r in results]
    return _REFERENCE[key, token_type, method]


@pytest.mark.parametrize("token_type", ["bpe", "word"])
@pytest.mark.parametrize("method", ["argmax", "itermax", "match"])
def test_same_links_as_simalign_on_literal_pairs(tiny_model, method, token_type):
    ours = NeuralAligner(tiny_model, method=method, token_type=token_type, batch_size=4).align(LITERAL_PAIRS)
    assert [list(a.links) for a in ours] == simalign_links(tiny_model, LITERAL_PAIRS, method, token_type, "literal")


@pytest.mark.shared
@pytest.mark.parametrize(("method", "token_type"), [("argmax", "bpe"), ("itermax", "bpe"), ("match", "word")])
def test_same_links_as_simalign_on_ntrex_pairs(tiny_model, method, token_type):
    """Match on words: simalign's networkx matching takes minutes on these character-split subword matrices."""
    pairs = real_pairs()
    ours = NeuralAligner(tiny_model, method=method, token_type=token_type, batch_size=5).align(pairs)
    reference = simalign_links(tiny_model, pairs, method, token_type, "ntrex")
    assert [list(a.links) for a in ours] == reference
    assert sum(len(links) for links in reference) > 5 * len(pairs)


def test_name_layer_clamp_and_subwords_split(tiny_model):
    aligner = NeuralAligner(tiny_model, method="itermax")
    assert aligner.name == "simalign-itermax" and aligner.layer == 2
    ids, word_ids = aligner.embedder.tokenize([["unbelievably", "the"]])
    assert len(ids[0]) > 2 and word_ids[0][-1] == 1  # the long word is several subwords


def test_batching_keeps_input_order(tiny_model):
    pairs = LITERAL_PAIRS[::-1] + LITERAL_PAIRS
    batched = NeuralAligner(tiny_model, method="argmax", batch_size=3).align(pairs)
    single = NeuralAligner(tiny_model, method="argmax", batch_size=1)
    assert [a.links for a in batched] == [single.align([pair])[0].links for pair in pairs]
    assert all(a.scores is not None and all(0.0 <= s <= 1.0 for s in a.scores) for a in batched)


def test_empty_sides_and_bad_input(tiny_model):
    aligner = NeuralAligner(tiny_model, method="match")
    out = aligner.align([([], ["Hallo"]), (["Hello"], ["Hallo"]), (["Hello"], [])])
    assert out[0] == WordAlignment(()) and out[2] == WordAlignment(())
    assert out[1].links == ((0, 0),)
    assert aligner.align([]) == []
    with pytest.raises(ValueError, match="pair 0"):
        aligner.align([("a b", "c d")])
    with pytest.raises(ValueError, match="unknown method"):
        NeuralAligner(tiny_model, method="fwd")


def test_dropping_layers_above_the_read_one_keeps_the_vectors(tiny_model):
    sentences = [pair[0] for pair in LITERAL_PAIRS]
    embedder = EmbeddingModel(tiny_model, layer=1)
    assert len(embedder.model.encoder.layer) == 1
    full = AutoModel.from_pretrained(tiny_model).eval()
    enc = embedder.tokenizer(sentences[:1], is_split_into_words=True, return_tensors="pt")
    with torch.inference_mode():
        expected = full(**enc, output_hidden_states=True).hidden_states[1][0, 1:-1]
    got = embedder.embed(sentences).sentence(0)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(("n", "width", "overlap"), [(10, 4, 2), (100, 30, 8), (31, 30, 8), (5, 8, 2), (64, 16, 0)])
def test_windows_cover_every_subword_once(n, width, overlap):
    windows = plan_windows(n, width, overlap)
    kept = [p for start, end, keep_from, keep_to in windows for p in range(keep_from, keep_to)]
    assert kept == list(range(n))
    assert all(end - start <= width and start <= lo <= hi <= end for start, end, lo, hi in windows)


def test_long_sentence_is_windowed_not_truncated(tiny_model):
    words = ("the cat sat on the mat and then " * 12).split()  # 96 words, 100+ subwords
    pair = (words, list(words))
    windowed = NeuralAligner(tiny_model, method="argmax", max_length=24, overlap=6)
    links = windowed.align([pair])[0].links
    assert max(i for i, _ in links) >= len(words) - 3 and max(j for _, j in links) >= len(words) - 3
    diagonal = sum(i == j for i, j in links) / len(links)
    assert diagonal > 0.8  # identical sentences align mostly to themselves across window borders
    whole = NeuralAligner(tiny_model, method="argmax").embedder.embed([words]).sentence(0)
    stitched = windowed.embedder.embed([words]).sentence(0)
    assert stitched.shape == whole.shape
    torch.testing.assert_close(stitched[:5], whole[:5], atol=0.5, rtol=0)  # same tokens, similar context


def test_stitched_vectors_come_from_the_most_central_window(tiny_model):
    embedder = EmbeddingModel(tiny_model, max_length=12, overlap=4)
    sentences = [("the cat sat on the mat and then " * 4).split(), ["short"], "unbelievably beautiful".split()]
    ids, _ = embedder.tokenize(sentences)
    got = embedder.embed(sentences, batch_size=2)
    for k, seq in enumerate(ids):
        expected = torch.empty(len(seq), embedder.model.config.hidden_size)
        for start, end, keep_from, keep_to in plan_windows(len(seq), embedder.width, embedder.overlap):
            hidden = embedder._forward([seq[start:end]])[0, 1 : 1 + end - start]  # (end - start, H)
            expected[keep_from:keep_to] = hidden[keep_from - start : keep_to - start]
        torch.testing.assert_close(got.sentence(k), expected, atol=1e-5, rtol=1e-5)
    assert len(ids[0]) > 3 * embedder.width  # several windows


def test_match_is_the_maximum_weight_matching():
    rng = np.random.default_rng(0)
    sim = rng.random((5, 7))
    ours = max_weight_match(sim)
    reference = SentenceAligner.get_max_weight_match(sim)
    assert ours.sum() == 5 and (ours.sum(0) <= 1).all() and (ours.sum(1) == 1).all()
    assert (ours * sim).sum() == pytest.approx((reference * sim).sum())
    np.testing.assert_array_equal(link_matrix(sim, "argmax"), np.prod(SentenceAligner.get_alignment_matrix(sim), 0))


def test_cli_writes_pharaoh(tiny_model, tmp_path):
    source = tmp_path / "pairs.txt"
    source.write_text("Hello ! ||| Hallo !\nThe cat ||| Die Katze\n", encoding="utf-8")
    assert main([str(source), str(tmp_path / "out.txt"), "--model", tiny_model, "--method", "argmax"]) == 0
    lines = (tmp_path / "out.txt").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 and lines[0] == "0-0 1-1"
    (tmp_path / "bad.txt").write_text("fine ||| gut\nno separator here\n", encoding="utf-8")
    with pytest.raises(ValueError, match="bad.txt:2"):
        read_bitext(str(tmp_path / "bad.txt"))
