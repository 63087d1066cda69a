"""Project a source entity span onto the target sentence through a word alignment.

Pure functions, token indices 0-based, spans [start, end). Target n-grams near the tokens linked to the
span, and alias / look-alike matches anywhere, are scored by alignment agreement (links of the span
inside vs outside the candidate, links of other source words into it, unaligned tokens, string
similarity; see :mod:`alignment.projection.scoring`); the best one wins. An identical string (the source
name written exactly the same way in the target sentence, or transliterated exactly) weighs as a KB alias.
Then case repair (not of an alias or identical match: that is a whole name already), clitic and case
suffixes cut off the edges ("Ankara ' ya", "Tesla 's"), and, when the caller gives ``function_words``, edge
function words are trimmed and a span of function words only is rejected (``function_words``), unless the
source span is itself function words (a pronoun). (The earlier "heaviest aligned cluster" method, kept as a
benchmark baseline, is ``bench/projection_region.py``.)

Alias matching also works for unsegmented scripts (Chinese, Japanese): a match may cover
parts of tokens and is widened to the covering tokens, and an unaligned span is projected only
through an alias or look-alike match anywhere in the sentence; otherwise it fails with ``unaligned``.

Confidence = (share of span tokens aligned) x (mean link score in the chosen span) x (share of the
span's link weight captured); an alias / look-alike choice sets it to at least its similarity.
Below ``min_confidence`` -> ``ProjectionFailure('low_confidence')``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate

from rapidfuzz.distance import Indel

from alignment.projection.scoring import (
    DEFAULT_WEIGHTS,
    ScoringWeights,
    best_candidate,
    is_punct,
    link_evidence,
    name_barriers,
    only_function_words,
    trim_function_words,
    trim_suffix_tokens,
)
from alignment.text import fold, is_unsegmented, latin_fold
from alignment.word.core import Tokens, WordAlignment


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


def _capitalised(token: str) -> bool:
    return token[:1].isupper()


def case_repair(start: int, end: int, src_span: Tokens, tgt_tokens: Tokens, aligned: set[int]) -> tuple[int, int]:
    """Use letter case (cased scripts only) to complete names: when the source span starts with a capital,
    unaligned capitalised tokens right before or after a capitalised region edge are added
    ("Regno" + unaligned "Unito"). (Dropping leading lower-case tokens was measured and hurt.)
    """
    if not _capitalised(src_span[0]):
        return start, end
    if _capitalised(tgt_tokens[start]):
        while start > 0 and start - 1 not in aligned and _capitalised(tgt_tokens[start - 1]):
            start -= 1
    if _capitalised(tgt_tokens[end - 1]):
        while end < len(tgt_tokens) and end not in aligned and _capitalised(tgt_tokens[end]):
            end += 1
    return start, end


def find_mentions(text: str, tgt_tokens: Tokens) -> list[tuple[int, int]]:
    """Token spans of ``text`` in the target sentence, matched on accent-folded characters, spaces ignored.

    A match must start and end on token boundaries, except in unsegmented scripts, where it is widened
    to the tokens that cover it (jieba/sudachi may cut a name differently from the alias).
    """
    key = "".join(fold(text).split())
    if not key:
        return []
    folded = [fold(token) for token in tgt_tokens]
    joined = "".join(folded)
    owner = [k for k, token in enumerate(folded) for _ in token]  # character -> token
    starts = {0, *accumulate(len(token) for token in folded)}
    spans, position = [], joined.find(key)
    while position != -1:
        stop = position + len(key)
        on_boundary = position in starts and stop in starts
        if on_boundary or is_unsegmented(key[0]) or is_unsegmented(key[-1]):
            spans.append((owner[position], owner[stop - 1] + 1))
        position = joined.find(key, position + 1)
    return spans


def lookalike_ngrams(src_text: str, tgt_tokens: Tokens, max_len: int,
                     min_similarity: float) -> list[tuple[int, int, float]]:
    """Target n-grams (n <= max_len, not starting/ending with punctuation) similar to the source text,
    compared accent-folded and transliterated (:func:`alignment.text.latin_fold`: "Putin" ~ "Путин").

    n-grams whose length alone rules the similarity out are skipped: the normalised Indel similarity of
    strings of lengths a and b is at most 1 - |a - b| / (a + b)."""
    key = latin_fold(src_text)
    if len(key) < 3:
        return []
    folded = [latin_fold(token) for token in tgt_tokens]
    punct = [is_punct(token) for token in tgt_tokens]
    shortest = len(key) * min_similarity / (2 - min_similarity)
    longest = len(key) * (2 - min_similarity) / min_similarity if min_similarity > 0 else float("inf")
    found = []
    for start in range(len(tgt_tokens)):
        if punct[start]:
            continue
        length = -1
        for end in range(start + 1, min(len(tgt_tokens), start + max_len) + 1):
            length += len(folded[end - 1]) + 1
            if length > longest:
                break
            if punct[end - 1] or length < shortest:
                continue
            score = Indel.normalized_similarity(key, " ".join(folded[start:end]), score_cutoff=min_similarity)
            if score >= min_similarity:
                found.append((start, end, score))
    return found


def _identical(written: str, tokens: Tokens) -> bool:
    """The target tokens spell the source name exactly (case and accents too: "Chante" is not "Chanté"), or,
    in another script, exactly as it transliterates ("Путин" for "Putin")."""
    text = " ".join(tokens)
    if text == written:
        return True
    return not any(map(_latin, text)) and latin_fold(text) == latin_fold(written)


def _latin(ch: str) -> bool:
    return ch.isalpha() and unicodedata.name(ch, "").startswith("LATIN")


def _occurrences(span: Tokens, tokens: Tokens) -> int:
    """How many times the token sequence ``span`` occurs in ``tokens``."""
    n = len(span)
    return sum(tuple(tokens[k:k + n]) == tuple(span) for k in range(len(tokens) - n + 1))


def _matches(src_text: str, tgt_tokens: Tokens, tgt_aliases: Sequence[str], span_len: int,
             min_similarity: float) -> dict[tuple[int, int], tuple[float, str]]:
    """Alias (similarity 1), identical-string and look-alike matches anywhere in the sentence:
    span -> (similarity, kind). An identical string is the source name written the same way (after
    accent folding and transliteration)."""
    lookalikes = lookalike_ngrams(src_text, tgt_tokens, span_len + 2, min_similarity)
    written = " ".join(src_text.split())
    found = {(s, e): (score, "identical" if _identical(written, tgt_tokens[s:e]) else "string")
             for s, e, score in lookalikes if score > 0}
    for alias in tgt_aliases:
        for s, e in find_mentions(alias, tgt_tokens):
            found[(s, e)] = (1.0, "alias")
    return found


def _scored(span: tuple[int, int], alignment: WordAlignment, src_tokens: Tokens, tgt_tokens: Tokens,
            tgt_aliases: Sequence[str], min_similarity: float, use_case: bool, weights: ScoringWeights,
            function_words: frozenset[str], src_function_words: frozenset[str], apostrophe_suffixes: bool,
            ) -> tuple[tuple[int, int], float, str] | ProjectionFailure | None:
    """Best-scoring candidate, repaired; (span, confidence, method), a failure, or None (no link and no match)."""
    start, end = span
    src_span = src_tokens[start:end]
    evidence = link_evidence(span, alignment, len(tgt_tokens), weights.weak_weight, src_tokens, tgt_tokens,
                             weights.case_check)
    matches = _matches(" ".join(src_span), tgt_tokens, tgt_aliases, end - start, min_similarity)
    # An identical string weighs as a KB alias: one stray link must not beat the name written out in the
    # sentence. Only when it is unambiguous: the name once in each sentence ("Bangladesh" twice in the source
    # and once in the target belongs to either occurrence, and the links decide).
    identical = [c for c, m in matches.items() if m[1] == "identical"]
    once = len(identical) == 1 and _occurrences(src_span, src_tokens) == 1
    aliases = frozenset(c for c, m in matches.items() if m[1] == "alias" or (m[1] == "identical" and once))
    found = best_candidate(src_span, tgt_tokens, evidence, {c: m[0] for c, m in matches.items()}, weights, aliases,
                           name_barriers(src_span, tgt_tokens, apostrophe_suffixes))
    aligned_src = {i for i, _ in alignment.links if start <= i < end}
    if found is None:
        return ProjectionFailure("unaligned", "the span's only links were ignored (punctuation or a weak link to a "
                                 "lower-case word) and no alias or look-alike found") if aligned_src else None
    (a, b), _ = found
    total, inside = sum(evidence.inside), sum(evidence.inside[a:b])
    chosen = [evidence.span_scores[j] for j in range(a, b) if j in evidence.span_scores]
    confidence = len(aligned_src) / (end - start) * sum(chosen) / len(chosen) * inside / total if chosen else 0.0
    method = "alignment" if inside >= total else "alignment_cluster"
    if (a, b) in matches:
        similarity, kind = matches[(a, b)]
        confidence, method = max(confidence, similarity), kind if aligned_src else f"{kind}_unaligned"
    # An alias or identical-string match is a whole name already: case repair would take in the next name
    # ("Universidad de Minnesota" + unaligned "EE" of "EE. UU.").
    if use_case and (a, b) not in aliases:
        a, b = case_repair(a, b, src_span, tgt_tokens, {j for j, linked in enumerate(evidence.linked) if linked})
    a, b = trim_suffix_tokens(a, b, src_span, tgt_tokens, apostrophe_suffixes)
    if function_words:
        a, b = trim_function_words(a, b, src_span, tgt_tokens, function_words, src_function_words)
    return (a, b), confidence, method


def project_span(
    span: tuple[int, int],
    alignment: WordAlignment,
    src_tokens: Tokens,
    tgt_tokens: Tokens,
    *,
    tgt_aliases: Sequence[str] = (),
    min_confidence: float = 0.0,
    min_similarity: float = 0.85,
    use_case: bool = True,
    weights: ScoringWeights = DEFAULT_WEIGHTS,
    function_words: frozenset[str] = frozenset(),
    src_function_words: frozenset[str] = frozenset(),
    apostrophe_suffixes: bool = False,
) -> ProjectedSpan | ProjectionFailure:
    """Project source token span ``span`` = [start, end) to the target side (see the module docstring).

    ``tgt_aliases`` are the entity's names in the target language (may be empty); ``function_words``
    (lower-cased, e.g. from :func:`alignment.projection.scoring.frequent_short_words`) are trimmed from the
    span's edges. A source span made only of ``src_function_words`` (a pronoun: "He", "his") is projected
    without trimming, and its twin may be function words too ("er", "sein"). ``apostrophe_suffixes``: the
    target tokenizer splits case suffixes after an apostrophe ("Ankara ' ya"; see ``is_suffix_token``).
    """
    start, end = span
    if not 0 <= start < end <= len(src_tokens):
        return ProjectionFailure("bad_span", f"span {span} outside {len(src_tokens)} source tokens")
    for i, j in alignment.links:
        if j >= len(tgt_tokens):
            return ProjectionFailure("bad_alignment", f"link {i}-{j} outside {len(tgt_tokens)} target tokens")
    if src_function_words and only_function_words(src_tokens[start:end], src_function_words):
        function_words = frozenset()
    found = _scored(span, alignment, src_tokens, tgt_tokens, tgt_aliases, min_similarity, use_case, weights,
                    function_words, src_function_words, apostrophe_suffixes)
    if found is None:
        return ProjectionFailure("unaligned", "no source token of the span is aligned and no alias or look-alike found")
    if isinstance(found, ProjectionFailure):
        return found
    (a, b), confidence, method = found
    if function_words and only_function_words(tgt_tokens[a:b], function_words):
        return ProjectionFailure("function_words", f"projection {' '.join(tgt_tokens[a:b])!r} is function words only")
    if confidence < min_confidence:
        return ProjectionFailure("low_confidence", f"{confidence:.2f} < {min_confidence:.2f} ({method})")
    return ProjectedSpan(a, b, confidence, method)
