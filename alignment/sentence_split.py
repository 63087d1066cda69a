"""Offline, rule-based sentence splitting with abbreviation handling and CJK full stops.

A boundary is proposed after terminal punctuation (``. ! ? …`` and the full-width ``。！？``), including any closing
quotes or brackets that follow it. For Latin-script text the boundary needs whitespace after it and a plausible
sentence start (upper-case letter, digit, opening quote/bracket, ``¿``/``¡``, or a CJK character); it is vetoed when
the word before the period is a known abbreviation of that language, a single letter (``J. K. Rowling``,
``z. B.``), or, in German, a number of up to three digits (an ordinal: ``im 21. Jahrhundert``). CJK full stops
split without whitespace. Line breaks are always boundaries (real documents put headlines and paragraphs on their
own lines).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_COMMON = {"e.g", "i.e", "etc", "vs", "approx", "no", "nos", "vol", "fig", "ca", "cf", "al", "st", "jr", "sr"}
ABBREVIATIONS: dict[str, frozenset[str]] = {
    lang: frozenset(_COMMON | set(words.split()))
    for lang, words in {
        "en": "mr mrs ms dr prof rev gen sen sens rep reps gov col capt lt sgt det st mt ft inc ltd co corp dept univ "
        "u.s u.k a.m p.m messrs",
        "de": "hr hrn fr frl dr prof nr bzw ca usw z.b d.h u.a o.ä v.a s.o evtl ggf inkl bzw str jh abs dt geb gest "
        "mio mrd tel vgl zit sog allg bzw u.ä z.t",
        "fr": "m mm mme mmes mlle dr pr me st ste av bd env p.ex c.-à-d cie éd",
        "es": "sr sra srta sres dr dra d dña ud uds lic ing prof av avda pág p.ej etc núm tel",
        "it": "sig sigg sig.ra dott dr prof ing avv on geom p.es ecc pag",
        "zh": "",
        "ja": "",
    }.items()
}
# Abbreviated months end a sentence ("... on Nov. What ...") unless a day number follows ("Nov. 6").
MONTH_ABBREVIATIONS = frozenset("jan feb mar apr jun jul aug sep sept oct nov dec".split())

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_CLOSERS = "\"'”’“‘»」』）)\\]】›"  # “‘ close German quotes
# Terminal punctuation (with trailing closers), then what follows it.
_CANDIDATE = re.compile(rf"(?:[.!?…]+|[。！？．｡]+)(?:[\u00a0\u202f]?[{_CLOSERS}]| [»›])*")
_START = re.compile(rf"(?:[\"'“‘„«「『（(\[¿¡\-–—][\u00a0\u202f ]?)*[\d\w{_CJK}]")
_WORD_BEFORE = re.compile(r"([\w.\-]+)$")


@dataclass(frozen=True)
class SentenceSpan:
    """A sentence as character offsets into the text it was split from (``text[start:end]``)."""

    start: int
    end: int
    text: str


def _is_abbreviation(before: str, lang: str, next_word: str) -> bool:
    """True when the period closing ``before`` belongs to an abbreviation, an initial or a German ordinal."""
    match = _WORD_BEFORE.search(before)
    if not match:
        return False
    word = match.group(1).lstrip(".-")
    lowered = word.lower()
    if lowered in ABBREVIATIONS.get(lang, ABBREVIATIONS["en"]):
        return True
    if lowered in MONTH_ABBREVIATIONS and word[:1].isupper():
        return next_word[:1].isdigit()
    if len(word) == 1 and word.isalpha():  # an initial ("J. K. Rowling") or a spaced abbreviation ("z. B.")
        return True
    if re.fullmatch(r"(?:[A-Za-z]\.)+[A-Za-z]", word):  # "U.S", "e.g", "z.B"
        return True
    if lang == "de" and word.isdigit() and len(word) <= 3:  # ordinals: "am 3. Oktober", "im 21. Jahrhundert"
        return True
    return False


def _cjk_closers_end(punct: str, sentence: str) -> int:
    """Length of the stop plus the quotes/brackets that close the current sentence (“ ‘ always open in CJK text;
    a straight quote closes only when the sentence so far holds an odd number of them)."""
    length = 0
    counts = {'"': sentence.count('"'), "'": sentence.count("'")}
    for char in punct:
        if char in "“‘":
            break
        if char in counts:
            if counts[char] % 2 == 0:
                break
            counts[char] += 1
        length += 1
    return length


def _boundaries(line: str, lang: str) -> list[int]:
    """Character offsets (exclusive ends) of the sentences inside one line."""
    ends = []
    for match in _CANDIDATE.finditer(line):
        punct = match.group(0)
        full_width = any(ch in "。！？．｡" for ch in punct)
        if full_width:  # closers glued to a CJK stop: stop before an opening quote ("。“下一句" or '。"下一句')
            end = match.start() + _cjk_closers_end(punct, line[ends[-1] if ends else 0 : match.start()])
        else:
            end = match.end()
        rest = line[end:]
        stripped = rest.lstrip()
        if not stripped:
            continue
        if not full_width:
            if not rest[:1].isspace() and not re.match(rf"[{_CJK}]", rest):  # no space after a Latin stop
                continue
            if not _START.match(stripped):
                continue
            first = stripped.split(maxsplit=1)[0]
            if first[:1].islower():
                continue
            before = line[max(0, match.start() - 40) : match.start()]  # the word before; bounded: no O(n^2) scan
            if punct.startswith(".") and not punct.startswith("..") and _is_abbreviation(before, lang, first):
                continue
        ends.append(end)
    return ends


def split_sentences(text: str, lang: str) -> list[SentenceSpan]:
    """Split ``text`` into sentences for language ``lang`` (ISO 639-1); spans are stripped, never empty.

    Line breaks are hard boundaries. Unknown languages use the English abbreviation list.
    """
    spans: list[SentenceSpan] = []
    offset = 0
    for line in text.splitlines(keepends=True):
        cuts = [0, *_boundaries(line, lang), len(line)]
        for begin, end in zip(cuts, cuts[1:], strict=False):
            piece = line[begin:end]
            left = len(piece) - len(piece.lstrip())
            right = len(piece.rstrip())
            if right > left:
                spans.append(SentenceSpan(offset + begin + left, offset + begin + right, piece[left:right]))
        offset += len(line)
    return spans


def split_texts(text: str, lang: str) -> list[str]:
    """The sentence strings of ``text`` (see :func:`split_sentences`)."""
    return [span.text for span in split_sentences(text, lang)]
