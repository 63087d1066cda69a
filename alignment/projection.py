"""Project a source entity span onto the target sentence through a word alignment.

First version (issue 2): the target span runs from the first to the last target token aligned to
any source token of the span; confidence is the share of source tokens that are aligned. The
alignment issue deepens this (contiguity repair, alias and string-similarity confirmation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from alignment.core import Tokens, WordAlignment


@dataclass(frozen=True)
class ProjectedSpan:
    """Target token span [token_start, token_end) with a confidence in [0, 1]."""

    token_start: int
    token_end: int
    confidence: float
    method: str


@dataclass(frozen=True)
class ProjectionFailure:
    """Why a span could not be projected (a reason code for dead-letter counts and a detail)."""

    reason: str
    detail: str = ""


def project_span(
    span: tuple[int, int],
    alignment: WordAlignment,
    src_tokens: Tokens,
    tgt_tokens: Tokens,
    *,
    tgt_aliases: Sequence[str] = (),
    min_confidence: float = 0.0,
) -> ProjectedSpan | ProjectionFailure:
    """Project source token span ``span`` = [start, end) to the target side.

    ``tgt_aliases`` are the entity's names in the target language (may be empty).
    """
    start, end = span
    if not 0 <= start < end <= len(src_tokens):
        return ProjectionFailure("bad_span", f"span {span} outside {len(src_tokens)} source tokens")
    links = alignment.src_to_tgt()
    targets = sorted({j for i in range(start, end) for j in links.get(i, ())})
    if not targets:
        return ProjectionFailure("unaligned", "no source token of the span is aligned")
    aligned = sum(1 for i in range(start, end) if i in links)
    confidence = aligned / (end - start)
    if confidence < min_confidence:
        return ProjectionFailure("low_confidence", f"{confidence:.2f} < {min_confidence:.2f}")
    return ProjectedSpan(targets[0], targets[-1] + 1, confidence, "first_last")
