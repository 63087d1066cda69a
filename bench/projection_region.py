"""The earlier projection method, kept as a row of bench/projection.py: the heaviest cluster of aligned tokens.

1. Alignment region: the target tokens linked to the span's source tokens, split into clusters at gaps
   of more than ``max_gap`` tokens (a discontinuous projection); the heaviest cluster (sum of link
   scores) wins and its first..last tokens become the region (contiguity repair: small gaps are
   filled). Edge punctuation is trimmed unless the source span has punctuation at that edge.
2. Confirmation: the entity's target-language aliases (``tgt_aliases``) and target n-grams that look
   like the source span (accent-folded rapidfuzz similarity: names copied or transliterated with
   small changes) are searched near the region (within ``window`` tokens). A confirmed match
   replaces the region's boundaries and raises the confidence.

The pipeline uses :func:`alignment.projection.span.project_span`, which scores candidate spans instead;
this module exists so that the benchmark can still show what that change bought.
"""

from __future__ import annotations

from collections.abc import Sequence

from alignment.projection.scoring import is_punct
from alignment.projection.span import case_repair, find_mentions, lookalike_ngrams
from alignment.word.core import Tokens, WordAlignment


def _clusters(targets: dict[int, float], max_gap: int) -> list[list[int]]:
    ordered = sorted(targets)
    groups = [[ordered[0]]]
    for j in ordered[1:]:
        if j - groups[-1][-1] > max_gap + 1:
            groups.append([j])
        else:
            groups[-1].append(j)
    return groups


def _trim(start: int, end: int, src_span: Tokens, tgt_tokens: Tokens) -> tuple[int, int]:
    """Drop edge punctuation from the target region unless the source span has punctuation at that edge."""
    if not is_punct(src_span[0]):
        while end - start > 1 and is_punct(tgt_tokens[start]):
            start += 1
    if not is_punct(src_span[-1]):
        while end - start > 1 and is_punct(tgt_tokens[end - 1]):
            end -= 1
    return start, end


def _distance(a: tuple[int, int], b: tuple[int, int]) -> int:
    return max(0, max(a[0], b[0]) - min(a[1], b[1]))


def _confirm(
    region: tuple[int, int] | None, src_text: str, tgt_tokens: Tokens, tgt_aliases: Sequence[str],
    span_len: int, window: int, min_similarity: float,
) -> tuple[int, int, float, str] | None:
    """Best alias / look-alike match near ``region`` (anywhere when region is None)."""
    candidates = [(s, e, 1.0, "alias") for alias in tgt_aliases for s, e in find_mentions(alias, tgt_tokens)]
    candidates += [(s, e, score, "string")
                   for s, e, score in lookalike_ngrams(src_text, tgt_tokens, span_len + 2, min_similarity)]
    if region is not None:
        candidates = [c for c in candidates if _distance(region, c[:2]) <= window]
    if not candidates:
        return None

    def rank(c: tuple[int, int, float, str]) -> tuple:
        overlap = 0 if region is None else min(region[1], c[1]) - max(region[0], c[0])
        return (c[2], overlap, c[1] - c[0])

    return max(candidates, key=rank)


def _region(span: tuple[int, int], alignment: WordAlignment, src_tokens: Tokens, tgt_tokens: Tokens,
            tgt_aliases: Sequence[str], max_gap: int, window: int, min_similarity: float,
            use_case: bool) -> tuple[tuple[int, int], float, str] | None:
    """(region, confidence, method) of the heaviest cluster of aligned tokens, confirmed by aliases / look-alikes;
    None when the span has no link and no match."""
    start, end = span
    scores = alignment.scores or (1.0,) * len(alignment.links)
    targets: dict[int, float] = {}
    aligned_src: set[int] = set()
    for (i, j), score in zip(alignment.links, scores, strict=True):
        if start <= i < end:
            targets[j] = max(targets.get(j, 0.0), score)
            aligned_src.add(i)
    region, confidence, method = None, 0.0, "alignment"
    if targets:
        groups = _clusters(targets, max_gap)
        weights = [sum(targets[j] for j in group) for group in groups]
        best = max(range(len(groups)), key=weights.__getitem__)
        group = groups[best]
        region = _trim(group[0], group[-1] + 1, src_tokens[start:end], tgt_tokens)
        if use_case:
            region = case_repair(*region, src_tokens[start:end], tgt_tokens, {j for _, j in alignment.links})
        mean_score = weights[best] / len(group)
        confidence = len(aligned_src) / (end - start) * mean_score * weights[best] / sum(weights)
        method = "alignment" if len(groups) == 1 else "alignment_cluster"
    match = _confirm(region, " ".join(src_tokens[start:end]), tgt_tokens, tgt_aliases, end - start, window,
                     min_similarity)
    if match is not None:
        region, confidence = match[:2], max(confidence, match[2])
        method = match[3] if targets else f"{match[3]}_unaligned"
    return None if region is None else (region, confidence, method)


def region_span(span: tuple[int, int], alignment: WordAlignment, src_tokens: Tokens, tgt_tokens: Tokens,
                tgt_aliases: Sequence[str] = (), max_gap: int = 3, window: int = 3, min_similarity: float = 0.85,
                use_case: bool = True) -> tuple[int, int] | None:
    """The target span [start, end) of source span ``span`` by the region method, or None."""
    found = _region(span, alignment, src_tokens, tgt_tokens, tgt_aliases, max_gap, window, min_similarity, use_case)
    return None if found is None else found[0]
