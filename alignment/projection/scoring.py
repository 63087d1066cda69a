"""Candidate-span scoring for entity projection, function-word trimming and the derived-word type rule.

:func:`best_candidate` replaces "first..last aligned target token" by a search over target n-grams
near the aligned tokens (and over alias / look-alike matches anywhere), each scored by how well it
agrees with the word alignment:

    score(C) = inside(C) - outside_cost * (inside(all) - inside(C)) - foreign_cost * foreign(C)
               - unaligned_cost * |tokens of C with no link| + similarity_bonus * similarity(C)
               + alias_bonus * [C matches a KB alias of the entity]

``inside(C)``: weight of links from the span's source tokens into C; ``foreign(C)``: weight of links
from source tokens outside the span into C. A link found by both directions weighs 1, a link of one
direction only (score < 1) weighs ``weak_weight``. ``similarity(C)`` is 1 for an alias match and the
look-alike similarity for a target n-gram written like the source span. 1:n translations need no
special case: all target words linked to the span count as inside, and a word linked from outside
the span is charged to the candidate that takes it.

Function words: edges of a projected span are trimmed of ``function_words`` (e.g. articles: "den
Niederlanden" -> "Niederlanden"). The set is the caller's; :func:`frequent_short_words` derives it
from unlabelled target text (the most frequent short words), so no per-language list is needed.
"""

from __future__ import annotations

import functools
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from alignment.text import fold
from alignment.word.core import Tokens, WordAlignment

Candidate = tuple[int, int]


@dataclass(frozen=True)
class ScoringWeights:
    """Weights of :func:`best_candidate` (tuned on europarl-ner-parallel DE/ES/IT, docs/alignment.md).

    ``case_check``: a one-direction link from a capitalised source word to a lower-case target word
    is ignored (in cased scripts such links are mostly strays: "States" -> "bemüht").
    ``alias_bonus`` (not tuned: the dev set has no KB) rewards a candidate that is one of the entity's
    KB aliases in the target language; it outweighs the links of a one- or two-word span landing
    elsewhere, because on small corpora eflomal's stray links are likelier than a KB alias of the same
    entity in the same sentence by chance (the EN-ZH example: "Germany" linked to 港口, alias 德国).
    """

    outside_cost: float = 1.0
    foreign_cost: float = 1.0
    unaligned_cost: float = 0.1
    weak_weight: float = 0.3
    similarity_bonus: float = 2.0
    alias_bonus: float = 4.0
    reach: int = 2
    case_check: bool = True


DEFAULT_WEIGHTS = ScoringWeights()


@dataclass(frozen=True)
class LinkEvidence:
    """Per target token: link weight from the span (``inside``), from other source words (``foreign``),
    whether it has any link (``linked``); plus the raw scores of the span's links by target token."""

    inside: list[float]
    foreign: list[float]
    linked: list[bool]
    span_scores: dict[int, float]


@functools.lru_cache(maxsize=1 << 16)
def is_punct(token: str) -> bool:
    """Token made only of punctuation / symbol characters. Memoised: it is asked of every target token of every
    span, and a corpus has few distinct tokens next to its token count (a pure function of a str)."""
    return bool(token) and all(unicodedata.category(ch)[0] in "PS" for ch in token)


CASE_NEAR = 2  # target words of one source word this close are one translation (the candidates' reach)


def link_evidence(span: Candidate, alignment: WordAlignment, n_tgt: int, weak_weight: float,
                  src_tokens: Tokens | None = None, tgt_tokens: Tokens | None = None,
                  case_check: bool = False) -> LinkEvidence:
    """Weights of the alignment's links into each of the ``n_tgt`` target tokens (see :class:`LinkEvidence`).

    With the tokens given, a link between a word and a punctuation token is ignored (noise: it would
    pull a span over a comma), and with ``case_check`` a link from a capitalised source word to a lower-case
    target word when it is one-direction only, or when that source word is also linked to a capitalised
    target word (not the first of the sentence) more than ``CASE_NEAR`` tokens away: its links disagree,
    and the one that keeps the case is the name ("Puerto" linked to "hiérarchie" and, seven tokens on, to
    "Porto"). Near ones are one translation of several words ("EU" -> "Unione europea").
    """
    start, end = span
    tokens = src_tokens is not None and tgt_tokens is not None
    scores = alignment.scores or (1.0,) * len(alignment.links)
    inside, foreign, linked = [0.0] * n_tgt, [0.0] * n_tgt, [False] * n_tgt
    span_scores: dict[int, float] = {}
    capitals: dict[int, list[int]] = {}  # source word -> its capitalised target words
    if tokens and case_check:
        for i, j in alignment.links:
            if j > 0 and tgt_tokens[j][:1].isupper():
                capitals.setdefault(i, []).append(j)
    for (i, j), score in zip(alignment.links, scores, strict=True):
        if tokens and (is_punct(src_tokens[i]) != is_punct(tgt_tokens[j]) or (
                case_check and src_tokens[i][:1].isupper() and tgt_tokens[j][:1].islower()
                and (score < 1.0 or (i in capitals and all(abs(j - c) > CASE_NEAR for c in capitals[i]))))):
            continue
        weight = 1.0 if score >= 1.0 else weak_weight
        linked[j] = True
        if start <= i < end:
            inside[j] += weight
            span_scores[j] = max(span_scores.get(j, 0.0), score)
        else:
            foreign[j] += weight
    return LinkEvidence(inside, foreign, linked, span_scores)


def _edges_ok(candidate: Candidate, src_span: Tokens, tgt_tokens: Tokens) -> bool:
    """No punctuation at a candidate edge unless the source span has punctuation at that edge."""
    a, b = candidate
    return (is_punct(src_span[0]) or not is_punct(tgt_tokens[a])) and (
        is_punct(src_span[-1]) or not is_punct(tgt_tokens[b - 1]))


def best_candidate(
    src_span: Tokens, tgt_tokens: Tokens, evidence: LinkEvidence, matches: dict[Candidate, float],
    weights: ScoringWeights = DEFAULT_WEIGHTS, alias_spans: frozenset[Candidate] = frozenset(),
    barriers: frozenset[int] = frozenset(),
) -> tuple[Candidate, float] | None:
    """Highest-scoring target span and its score (module docstring), or None without any evidence.

    Candidates: every n-gram within ``weights.reach`` tokens of the first..last token linked to the span
    that contains such a token, plus the alias / look-alike ``matches`` (span -> similarity) anywhere.
    An n-gram holding one of the ``barriers`` (target tokens a name does not run across:
    :func:`name_barriers`) is not a candidate unless it is one of the ``matches``.
    """
    n = len(tgt_tokens)
    anchors = [j for j in range(n) if evidence.inside[j] > 0]
    candidates: set[Candidate] = set(matches)
    if anchors:
        lo, hi = max(0, anchors[0] - weights.reach), min(n, anchors[-1] + 1 + weights.reach)
        candidates.update((a, b) for a in range(lo, hi) for b in range(a + 1, hi + 1))
    total = sum(evidence.inside)
    best: tuple[Candidate, float] | None = None
    for a, b in sorted(candidates):
        inside = sum(evidence.inside[a:b])
        if (inside == 0 and (a, b) not in matches) or not _edges_ok((a, b), src_span, tgt_tokens) or (
                (a, b) not in matches and any(a <= k < b for k in barriers)):
            continue
        score = (inside - weights.outside_cost * (total - inside)
                 - weights.foreign_cost * sum(evidence.foreign[a:b])
                 - weights.unaligned_cost * sum(not linked for linked in evidence.linked[a:b])
                 + weights.similarity_bonus * matches.get((a, b), 0.0)
                 + (weights.alias_bonus if (a, b) in alias_spans else 0.0))
        if best is None or score > best[1] + 1e-9:
            best = ((a, b), score)
    return best


CLAUSE_MARKS = frozenset({",", ";", "，", "；", "、"})


def name_barriers(src_span: Tokens, tgt_tokens: Tokens, apostrophe_suffixes: bool = False) -> frozenset[int]:
    """Target tokens a projection of ``src_span`` does not run across: a comma or semicolon when the source span
    has none (a name is not cut by one; the token after it belongs to the next phrase: "Homewood - Flossmoor
    Lisesi , 1959'da kapılarını" for "Homewood-Flossmoor High School"), and, with ``apostrophe_suffixes``, a
    case suffix when the source span has none (the suffix closes the noun phrase it is attached to: "Granby
    Lisesi ' ne gitti" -> the name ends before "' ne"). Elsewhere a lone apostrophe is part of a name ("dell '
    Europa"), so suffixes are barriers only in the languages that split them (see :func:`is_suffix_token`)."""
    out = set()
    if not any(token in CLAUSE_MARKS for token in src_span):
        out.update(k for k, token in enumerate(tgt_tokens) if token in CLAUSE_MARKS)
    if apostrophe_suffixes and not any(is_suffix_token(k, src_span) for k in range(len(src_span))):
        out.update(k for k in range(len(tgt_tokens)) if is_suffix_token(k, tgt_tokens, True))
    return frozenset(out)


def _trimmable(k: int, tgt_tokens: Tokens, src_edge: str, function_words: frozenset[str]) -> bool:
    """Whether target token ``k`` at a span edge is a function word to trim: a listed word, not the source
    edge word itself ("von Wogau"), and not capitalised inside a sentence (an article that belongs to a name:
    "El Cairo", "Der Spiegel"). A sentence starts at token 0 and after punctuation other than a comma or
    semicolon (". Das Parlament", "- Das Parlament", a quotation mark)."""
    token = tgt_tokens[k]
    if token.lower() not in function_words or fold(token) == fold(src_edge):
        return False
    starts_sentence = k == 0 or (is_punct(tgt_tokens[k - 1]) and tgt_tokens[k - 1] not in (",", ";"))
    return starts_sentence or not token[:1].isupper()


def trim_function_words(
    start: int, end: int, src_span: Tokens, tgt_tokens: Tokens, function_words: frozenset[str],
    src_function_words: frozenset[str] = frozenset(),
) -> tuple[int, int]:
    """Drop function words (lower-cased membership) from both edges of [start, end), keeping one token;
    an edge word equal (accent-folded) to the source span's edge word stays ("von Wogau" -> "von Wogau"),
    and so does a capitalised one that does not start the sentence ("El Cairo"). An edge whose source word
    is a capitalised one of ``src_function_words`` keeps its function words: they translate a name's own
    article ("The National" -> "Der National"; "the Netherlands" -> "Niederlanden")."""
    def names_own(word: str) -> bool:
        return word.lower() in src_function_words and word[:1].isupper()

    if not names_own(src_span[0]):
        while end - start > 1 and _trimmable(start, tgt_tokens, src_span[0], function_words):
            start += 1
    if not names_own(src_span[-1]):
        while end - start > 1 and _trimmable(end - 1, tgt_tokens, src_span[-1], function_words):
            end -= 1
    return start, end


APOSTROPHES = ("'", "’")


def is_suffix_token(k: int, tokens: Tokens, apostrophe_suffixes: bool = False) -> bool:
    """Token ``k`` is a clitic or case suffix cut off a word by the tokenizer: an apostrophe on its own, or a
    token that starts with one ("'s", Turkish "'nın"). With ``apostrophe_suffixes`` (languages whose
    tokenizer splits "Ankara'ya" into "Ankara ' ya": pipelines.tokenize.APOSTROPHE_SUFFIX_LANGS) also a
    lower-case token right after a lone apostrophe that follows a word; elsewhere that token is the word
    after an elided article (Italian "dell ' obiettivo"). Such a token never starts or ends an entity span."""
    token = tokens[k]
    return (token in APOSTROPHES or (token[:1] in APOSTROPHES and any(ch.isalpha() for ch in token))
            or (apostrophe_suffixes and k > 1 and tokens[k - 1] in APOSTROPHES and token[:1].islower()
                and tokens[k - 2][-1:].isalpha()))


def trim_suffix_tokens(start: int, end: int, src_span: Tokens, tgt_tokens: Tokens,
                       apostrophe_suffixes: bool = False) -> tuple[int, int]:
    """Drop suffix tokens (:func:`is_suffix_token`) from both edges of [start, end), keeping one token,
    unless the source span has one at that edge too."""
    if not is_suffix_token(0, src_span):
        while end - start > 1 and is_suffix_token(start, tgt_tokens, apostrophe_suffixes):
            start += 1
    if not is_suffix_token(len(src_span) - 1, src_span):
        while end - start > 1 and is_suffix_token(end - 1, tgt_tokens, apostrophe_suffixes):
            end -= 1
    return start, end


def entity_function_words(function_words: frozenset[str], aliases: Iterable[str]) -> frozenset[str]:
    """The function words to trim from one entity's projection: none of the words of its own target
    aliases ("El" stays in "El Cairo" when "El Cairo" is an alias; "USA" is never trimmed from the USA)."""
    if not function_words:
        return function_words
    own = {word for alias in aliases for word in [alias.lower(), *alias.lower().split()]}
    return function_words - own if own else function_words


def only_function_words(tokens: Tokens, function_words: frozenset[str]) -> bool:
    """True when every token is a function word or punctuation (such a projection is rejected)."""
    return all(token.lower() in function_words or is_punct(token) for token in tokens)


def frequent_short_words(sentences: Iterable[Tokens], n: int = 40, max_letters: int = 4,
                         allowed: frozenset[str] | None = None) -> frozenset[str]:
    """The ``n`` most frequent words of at most ``max_letters`` letters in ``sentences``, counted where they
    are written in lower case (names are capitalised: "New York", "ABD", "Çin" never count), and, when
    ``allowed`` is given, only words of that set (a language's stop-word list: the frequent short words
    of a few thousand news sentences still include "john", "tv", "yeni", "iki").
    """
    counts = Counter(token for tokens in sentences for token in tokens
                     if 0 < sum(ch.isalpha() for ch in token) <= max_letters and token.islower()
                     and (allowed is None or token in allowed))
    return frozenset(word for word, _ in counts.most_common(n))


def projected_type(kind: str, tgt_span: Tokens) -> str:
    """Entity type of a projected span: a single lower-case word in a cased script is a word derived
    from a name (an adjective: "belgi", "comunitari", "europäischen"), which CoNLL tags MISC.

    Scripts without case (Chinese, Arabic, ...) keep ``kind``.
    """
    letters = [ch for token in tgt_span for ch in token if ch.isalpha()]
    if len(tgt_span) == 1 and letters and letters[0].islower():
        return "MISC"
    return kind
