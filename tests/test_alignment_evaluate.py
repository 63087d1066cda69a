"""Evaluation metrics against hand-computed values."""

import pytest

from alignment.eval.metrics import alignment_scores, sentence_alignment_f1, span_prf_exact, span_prf_overlap
from alignment.word.core import WordAlignment


def test_aer_with_sure_and_possible_links():
    # Sentence 1: A = {00, 11, 22}, S = {00, 11}, P = S + {21}:  |A∩S| = 2, |A∩P| = 2
    # Sentence 2: A = {01},         S = {00},     P = S + {01}:  |A∩S| = 0, |A∩P| = 1
    # Totals: |A| = 4, |S| = 3, |A∩S| = 2, |A∩P| = 3.
    predicted = [WordAlignment.from_links([(0, 0), (1, 1), (2, 2)]), [(0, 1)]]
    sure = [[(0, 0), (1, 1)], [(0, 0)]]
    possible = [[(2, 1)], [(0, 1)]]  # sure links are added to possible by the function
    scores = alignment_scores(predicted, sure, possible)
    assert scores.precision == pytest.approx(3 / 4)
    assert scores.recall == pytest.approx(2 / 3)
    assert scores.aer == pytest.approx(1 - (2 + 3) / (4 + 3))
    assert scores.f1 == pytest.approx(2 * 0.75 * (2 / 3) / (0.75 + 2 / 3))
    assert (scores.predicted, scores.sure, scores.possible) == (4, 3, 5)


def test_aer_sure_only_and_perfect():
    gold = [[(0, 0), (1, 2)]]
    assert alignment_scores(gold, gold).aer == 0.0
    scores = alignment_scores([[(0, 0)]], gold)  # P = 1, R = 1/2, AER = 1 - 2/3
    assert scores.aer == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="sentence counts differ"):
        alignment_scores([[]], [[], []])


def test_span_exact_and_overlap():
    gold = {(0, 2, 4, "PER"), (0, 7, 8, "LOC"), (1, 0, 3, "ORG")}
    predicted = {(0, 2, 4, "PER"), (0, 6, 8, "LOC"), (1, 0, 2, "PER"), (2, 0, 1, "ORG")}
    exact = span_prf_exact(predicted, gold)
    assert (exact.precision, exact.recall) == (pytest.approx(1 / 4), pytest.approx(1 / 3))
    overlap = span_prf_overlap(predicted, gold)
    # predicted overlapping a same-type gold span: (0,2,4,PER), (0,6,8,LOC) -> 2 of 4.
    # gold overlapped: PER, LOC -> 2 of 3 (ORG in sentence 1 only meets a PER prediction).
    assert (overlap.precision, overlap.recall) == (pytest.approx(2 / 4), pytest.approx(2 / 3))
    untyped = span_prf_overlap({(1, 2, 5)}, {(1, 0, 3)})
    assert untyped.f1 == 1.0


def test_sentence_alignment_f1_strict_and_pairwise():
    gold = [((0,), (0,)), ((1, 2), (1,)), ((3,), ())]
    predicted = [((0,), (0,)), ((1,), (1,)), ((2,), (1,)), ((3,), ())]
    result = sentence_alignment_f1(predicted, gold)
    # strict: 2 of 4 predicted beads are gold beads, 2 of 3 gold beads found.
    assert result["strict"].precision == pytest.approx(2 / 4)
    assert result["strict"].recall == pytest.approx(2 / 3)
    # pairwise: predicted pairs {00, 11, 21} == gold pairs {00, 11, 21}.
    assert result["pairwise"].f1 == 1.0
    assert sentence_alignment_f1([], gold)["strict"].f1 == 0.0
