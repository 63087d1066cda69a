"""Evaluation: word-alignment AER/P/R/F1, span-projection P/R/F1, sentence-alignment F1 (pure functions).

Word alignment (Och & Ney 2003), summed over the corpus, with A = predicted, S = sure, P = possible
(S is a subset of P): precision = |A∩P|/|A|, recall = |A∩S|/|S|, AER = 1 - (|A∩S| + |A∩P|)/(|A| + |S|).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from alignment.word.core import Link, WordAlignment


@dataclass(frozen=True)
class PRF:
    """Precision, recall, F1 and the counts behind them."""

    precision: float
    recall: float
    f1: float
    true_positives: int
    predicted: int
    gold: int

    @classmethod
    def from_counts(cls, tp_precision: int, predicted: int, tp_recall: int, gold: int) -> PRF:
        precision = tp_precision / predicted if predicted else 0.0
        recall = tp_recall / gold if gold else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return cls(precision, recall, f1, tp_recall, predicted, gold)


@dataclass(frozen=True)
class AlignmentScores:
    """Corpus-level word-alignment scores."""

    precision: float
    recall: float
    f1: float
    aer: float
    predicted: int
    sure: int
    possible: int


def _links(alignment: WordAlignment | Iterable[Link]) -> set[Link]:
    return set(alignment.links if isinstance(alignment, WordAlignment) else alignment)


def alignment_scores(
    predicted: Sequence[WordAlignment | Iterable[Link]],
    sure: Sequence[WordAlignment | Iterable[Link]],
    possible: Sequence[WordAlignment | Iterable[Link]] | None = None,
) -> AlignmentScores:
    """AER, precision, recall and F1 over a corpus; ``possible`` defaults to ``sure`` (sure-only gold).

    Possible links are made a superset of the sure links, as AER requires.
    """
    if len(predicted) != len(sure) or (possible is not None and len(possible) != len(sure)):
        raise ValueError(f"{len(predicted)} predicted vs {len(sure)} gold alignments: sentence counts differ")
    a_total = s_total = p_total = a_and_s = a_and_p = 0
    for k, (pred, gold_sure) in enumerate(zip(predicted, sure, strict=True)):
        a, s = _links(pred), _links(gold_sure)
        p = s | (_links(possible[k]) if possible is not None else set())
        a_total, s_total, p_total = a_total + len(a), s_total + len(s), p_total + len(p)
        a_and_s += len(a & s)
        a_and_p += len(a & p)
    precision = a_and_p / a_total if a_total else 0.0
    recall = a_and_s / s_total if s_total else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    aer = 1.0 - (a_and_s + a_and_p) / (a_total + s_total) if a_total + s_total else 0.0
    return AlignmentScores(precision, recall, f1, aer, a_total, s_total, p_total)


Span = tuple  # (sentence_id, start, end) or (sentence_id, start, end, type); end exclusive


def span_prf_exact(predicted: Iterable[Span], gold: Iterable[Span]) -> PRF:
    """Exact span match: a predicted span is right when the identical tuple (incl. type if given) is gold."""
    pred, ref = set(predicted), set(gold)
    hits = len(pred & ref)
    return PRF.from_counts(hits, len(pred), hits, len(ref))


def _overlaps(a: Span, b: Span) -> bool:
    same_rest = a[0] == b[0] and tuple(a[3:]) == tuple(b[3:])
    return same_rest and a[1] < b[2] and b[1] < a[2]


def span_prf_overlap(predicted: Iterable[Span], gold: Iterable[Span]) -> PRF:
    """Overlap match: precision = share of predicted spans overlapping a gold span of the same sentence
    (and type, if given); recall = share of gold spans overlapped by a predicted one."""
    pred, ref = set(predicted), set(gold)
    by_sentence: dict[object, list[Span]] = {}
    for span in ref:
        by_sentence.setdefault(span[0], []).append(span)
    pred_by_sentence: dict[object, list[Span]] = {}
    for span in pred:
        pred_by_sentence.setdefault(span[0], []).append(span)
    good_pred = sum(any(_overlaps(p, g) for g in by_sentence.get(p[0], ())) for p in pred)
    found_gold = sum(any(_overlaps(p, g) for p in pred_by_sentence.get(g[0], ())) for g in ref)
    return PRF.from_counts(good_pred, len(pred), found_gold, len(ref))


GroupLink = tuple[tuple[int, ...], tuple[int, ...]]
"""(source ids, target ids): a sentence-alignment bead, or a line-level link built from beads (1-1, 1-2, 1-0, ...)."""


def sentence_alignment_f1(predicted: Iterable[GroupLink], gold: Iterable[GroupLink]) -> dict[str, PRF]:
    """Sentence-alignment scores over sets of (src_ids, tgt_ids) links (1-1, 1-2, 2-1, 1-0, ... beads).

    ``strict``: a bead counts only when identical to a gold bead (ids compared as sorted tuples).
    ``pairwise``: beads expanded into (src_id, tgt_id) sentence pairs; 1-0 / 0-1 beads add no pairs.
    """
    def norm(links: Iterable[GroupLink]) -> set[GroupLink]:
        return {(tuple(sorted(src)), tuple(sorted(tgt))) for src, tgt in links}

    def pairs(links: set[GroupLink]) -> set[tuple[int, int]]:
        return {(i, j) for src, tgt in links for i in src for j in tgt}

    pred, ref = norm(predicted), norm(gold)
    strict_hits = len(pred & ref)
    pred_pairs, gold_pairs = pairs(pred), pairs(ref)
    pair_hits = len(pred_pairs & gold_pairs)
    return {
        "strict": PRF.from_counts(strict_hits, len(pred), strict_hits, len(ref)),
        "pairwise": PRF.from_counts(pair_hits, len(pred_pairs), pair_hits, len(gold_pairs)),
    }
