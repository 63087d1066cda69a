"""Alias matching: link KB entity mentions in a tokenised sentence (pure; no Beam).

Policy (documented in docs/pipeline.md, tested in tests/test_pipeline_alias_matcher.py):

* Aliases and sentences are normalised the same way (NFC; Simplified script for zh).
* Case policy per language: ``exact`` (names are case-sensitive: "Bath" the city, not "bath") or
  ``fold`` (lower-case both sides, character by character so offsets never move).
* Aliases shorter than ``min_chars`` (``min_chars_cjk`` for aliases with a CJK character) are ignored.
* With the ``exact`` policy, aliases without any upper-case letter are skipped unless
  ``keep_lowercase``: in cased languages they are nearly always common words that some entity is
  also called ('people', 'can', 'country': on ntrex128 these were the most frequent "mentions").
  The cost: lower-case tails (occupations, genres, instruments) are not linked.
* Concepts: unless ``keep_lowercase``, an entity whose English aliases are all lower case ('government',
  'music', 'president': :func:`concept_entities`) is not linked in any language. The case rule above cannot
  see them in scripts without case (Chinese 政府, 音乐, 总统 were 30 % of the Chinese linked mentions of the
  real-data shards) nor in German, whose nouns are capitalised (Regierung, Musik).
* A match must start at a token start and end at a token end.
* Longest match wins; among equally long ones the leftmost; selected mentions never overlap.
  Ambiguous matches take part in this choice, so "New York" (if ambiguous) still blocks "York".
* Ambiguity: an alias of several entities links to the most popular one if its popularity is at least
  ``margin`` times the runner-up's; otherwise the mention is skipped and returned as ambiguous.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import ahocorasick

from alignment.text import has_han_or_kana
from pipelines.normalize import normalize_text
from pipelines.records import Mention


@dataclass(frozen=True)
class AliasEntry:
    """What an alias resolves to: ``entity`` (None when ambiguous) and the sorted candidates."""

    length: int
    entity: str | None
    candidates: tuple[str, ...]


def fold_case(text: str) -> str:
    """Lower-case character by character, keeping length (characters whose lower form is longer stay)."""
    return "".join(low if len(low := ch.lower()) == 1 else ch for ch in text)


def is_lowercase(text: str) -> bool:
    """True when ``text`` has cased letters and none of them is upper-case ('people'; not '北京', 'iPhone')."""
    return text == text.lower() and text != text.upper()


def concept_entities(english_aliases: Mapping[str, Sequence[str]]) -> frozenset[str]:
    """Entities that English writes only in lower case: concepts and common nouns, not names."""
    return frozenset(e for e, names in english_aliases.items() if names and all(map(is_lowercase, names)))


def resolve_ambiguity(candidates: Iterable[str], popularity: Mapping[str, float], margin: float) -> str | None:
    """The entity an alias of several entities links to, or None when no entity dominates by ``margin``."""
    ranked = sorted(set(candidates), key=lambda e: (-popularity.get(e, 0.0), e))
    if len(ranked) == 1:
        return ranked[0]
    top, second = popularity.get(ranked[0], 0.0), popularity.get(ranked[1], 0.0)
    return ranked[0] if top > 0 and top >= margin * second else None


class AliasMatcher:
    """Aho-Corasick automaton over the (normalised) aliases of one language."""

    def __init__(self, lang: str, alias_items: Iterable[tuple[str, str]], popularity: Mapping[str, float], *,
                 case_policy: str = "exact", min_chars: int = 3, min_chars_cjk: int = 2, margin: float = 2.0,
                 keep_lowercase: bool = False, skip_entities: frozenset[str] = frozenset()) -> None:
        if case_policy not in ("exact", "fold"):
            raise ValueError(f"case_policy must be 'exact' or 'fold', got {case_policy!r}")
        self.lang, self.fold = lang, case_policy == "fold"
        by_key: dict[str, set[str]] = defaultdict(set)
        self.skipped_lowercase = self.skipped_concepts = 0
        for alias, entity in alias_items:
            if entity in skip_entities:  # concept_entities: not a name in any language
                self.skipped_concepts += 1
                continue
            key = self._norm(alias.strip())
            if not self.fold and not keep_lowercase and is_lowercase(key):
                self.skipped_lowercase += 1
            elif len(key) >= (min_chars_cjk if has_han_or_kana(key) else min_chars):
                by_key[key].add(entity)
        self.automaton = ahocorasick.Automaton()
        self.ambiguous_aliases = 0
        for key, entities in by_key.items():
            winner = resolve_ambiguity(entities, popularity, margin)
            self.ambiguous_aliases += winner is None
            self.automaton.add_word(key, AliasEntry(len(key), winner, tuple(sorted(entities))))
        if len(self.automaton):
            self.automaton.make_automaton()

    def _norm(self, text: str) -> str:
        text = normalize_text(text, self.lang)
        return fold_case(text) if self.fold else text

    def __len__(self) -> int:
        return len(self.automaton)

    def find(self, text: str, starts: Sequence[int], ends: Sequence[int]) -> tuple[list[Mention], list[dict]]:
        """(mentions, ambiguous) in ``text`` (already normalised) with token spans ``starts``/``ends``.

        An ambiguous match is {'surface', 'char_start', 'char_end', 'candidates'}. Both lists are in text order.
        """
        if not len(self.automaton):
            return [], []
        start_tok = {s: i for i, s in enumerate(starts)}
        end_tok = {e: i for i, e in enumerate(ends)}
        hits = []
        for last, entry in self.automaton.iter(fold_case(text) if self.fold else text):
            begin, stop = last - entry.length + 1, last + 1
            if begin in start_tok and stop in end_tok:
                hits.append((begin, stop, entry))
        taken: list[tuple[int, int]] = []
        mentions, ambiguous = [], []
        for begin, stop, entry in sorted(hits, key=lambda h: (h[0] - h[1], h[0])):
            if any(begin < b_stop and b_begin < stop for b_begin, b_stop in taken):
                continue
            taken.append((begin, stop))
            if entry.entity is None:
                ambiguous.append({"surface": text[begin:stop], "char_start": begin, "char_end": stop,
                                  "candidates": list(entry.candidates)})
            else:
                mentions.append(Mention(entry.entity, start_tok[begin], end_tok[stop] + 1, begin, stop,
                                        text[begin:stop]))
        return sorted(mentions, key=lambda m: m.char_start), sorted(ambiguous, key=lambda m: m["char_start"])
