"""Offline, rule-based sentence splitting with abbreviation handling and CJK full stops.

A boundary is proposed after terminal punctuation (``. ! ? …`` and the full-width ``。！？``), including any closing
quotes or brackets that follow it. For Latin-script text the boundary needs whitespace after it and a plausible
sentence start (upper-case letter, digit, opening quote/bracket, ``¿``/``¡``, or a CJK character); it is vetoed when
the word before the period is a known abbreviation of that language, a single letter (``J. K. Rowling``,
``z. B.``), or, in German, a number of up to three digits (an ordinal: ``im 21. Jahrhundert``). CJK full stops
split without whitespace. Line breaks are always boundaries (real documents put headlines and paragraphs on their
own lines).

Scripts beyond Latin/CJK: the Devanagari danda ``।``/``॥`` (Hindi) and the Arabic question mark ``؟`` (and the Urdu
full stop ``۔``) are terminal punctuation in every language; in Greek ``;`` is the question mark (U+037E, which NFC
folds to ``;``), so it is terminal for ``el`` only. Thai has no full stop: a space ends a sentence or a clause, and
also separates transliterated names and words around numbers. :func:`_thai_space_boundaries` splits at a space
between Thai characters unless the word after it continues the clause (a conjunction, relative marker, preposition,
classifier-like particle), the word before it cannot end one (a preposition or conjunction), the space follows the
repetition mark ``ๆ`` (a space after it is the spelling convention), or either side would be shorter than
``THAI_MIN_SENTENCE_CHARS`` (a cut whose next piece is short is undone afterwards); a run of two or more spaces
always splits. Words come from pythainlp's ``newmm``
segmenter. On XQuAD EN-TH with the sentence aligner, numbers that occur once in both paragraphs land in the same
bead 93 % of the time (every other XQuAD language: 99.6-100 %; all spaces: 79 %, no splitting: 60 %).
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass

from alignment.text import CJK, char_class

logger = logging.getLogger(__name__)

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
        # the lower-case rule already keeps most Cyrillic/Greek abbreviations ("т. е.", "κ.λπ.") inside a sentence;
        # these are the ones XQuAD's translations follow with a capital, a digit or a quote
        "ru": "гг т.е т.д т.п т.к им ум см рис англ лат греч др проф акад млн млрд тыс ок стр ул пр",
        "el": "π.χ κ.λπ κλπ δηλ βλ χλμ εκ κ κα δρ καθ",
        "hi": "डॉ प्रो श्री सं ई.पू ई.स",
    }.items()
}
# Abbreviated months end a sentence ("... on Nov. What ...") unless a day number follows ("Nov. 6").
MONTH_ABBREVIATIONS = frozenset("jan feb mar apr jun jul aug sep sept oct nov dec".split())

_CJK = char_class(CJK)
_CLOSERS = "\"'”’“‘»」』）)\\]】›"  # “‘ close German quotes
# Terminal punctuation (with trailing closers), then what follows it. Danda/double danda (Devanagari), the Arabic
# question mark and the Urdu full stop need a space after them like a Latin stop; Greek adds ";" (its question mark).
_TERMINALS = ".!?…\u0964\u0965\u061f\u06d4"
_CANDIDATE = re.compile(rf"(?:[{_TERMINALS}]+|[。！？．｡]+)(?:[\u00a0\u202f]?[{_CLOSERS}]| [»›])*")
_CANDIDATE_GREEK = re.compile(rf"(?:[{_TERMINALS};\u037e]+|[。！？．｡]+)(?:[\u00a0\u202f]?[{_CLOSERS}]| [»›])*")
_START = re.compile(rf"(?:[\"'“‘„«「『（(\[¿¡\-–—][\u00a0\u202f ]?)*[\d\w{_CJK}]")
# \w misses combining marks, so Indic vowel signs ("डॉ": U+0949) and combining accents are added by range
_WORD_BEFORE = re.compile(r"((?:[\w.\-]|[\u0300-\u036f\u0900-\u0d7f])+)$")


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
    if re.fullmatch(r"(?:[^\W\d_]\.)+[^\W\d_]", word):  # "U.S", "e.g", "z.B", "Т.Т", "π.χ"
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
    for match in (_CANDIDATE_GREEK if lang == "el" else _CANDIDATE).finditer(line):
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


_THAI = "\u0e00-\u0e7f"
# Non-space characters a Thai sentence has at least: shorter pieces are clauses or the two halves of a spaced name.
# XQuAD EN-TH (sentence aligner, anchors): 40 / 60 / 80 / 100 put 93.2 / 93.5 / 93.2 / 93.0 % of the numbers in
# the right bead and leave 136 / 67 / 47 / 42 sentences unaligned; 80 loses few pieces without making beads long.
THAI_MIN_SENTENCE_CHARS = 80
# Words that continue the clause before them when they follow a space: conjunctions ("and", "or", "but", "so"),
# relative and complement markers ("which", "that"), prepositions ("of", "from", "with", "to", "by", "for"),
# demonstratives and serial-verb particles that follow their head ("that", "this", "go", "come", "together").
# Not here: ใน "in", มี "there is", ส่วน "as for" -- they often start a sentence ("ในปี 1943 ...").
THAI_CONTINUATIONS = frozenset(
    "และ หรือ แต่ ซึ่ง โดย ที่ เพื่อ จึง เนื่องจาก เพราะ เพราะว่า รวมถึง รวมทั้ง ได้แก่ คือ เป็น กับ ของ จาก ให้ ว่า "
    "เช่น จน ตลอดจน อีกทั้ง ถึง แก่ แด่ ต่อ ด้วย อัน ทั้ง ทำให้ ขณะที่ โดยที่ ก็ ได้ จะ ไม่ ยัง อยู่ กัน นั้น นี้ ไป มา "
    "ตาม หรือไม่ อีก อีกด้วย แล้ว เท่านั้น".split())
# Words a Thai sentence does not end with (prepositions and conjunctions waiting for their complement).
THAI_NON_FINAL = frozenset(
    "และ หรือ แต่ ของ ที่ ซึ่ง ใน จาก กับ โดย เพื่อ ให้ ว่า คือ เป็น ถึง แก่ ต่อ ตาม เช่น ได้แก่ รวมถึง".split())
_THAI_LEFT = re.compile(rf"[{_THAI})”\"]")  # a Thai character, or a closing bracket/quote after Thai text
_THAI_RIGHT = re.compile(rf"[{_THAI}“\"(]")


@functools.lru_cache(maxsize=1)
def _thai_words():
    """pythainlp's word segmenter (imported on first use: only Thai text needs it)."""
    from pythainlp.tokenize import word_tokenize

    return functools.partial(word_tokenize, engine="newmm", keep_whitespace=True)


def _thai_space_boundaries(line: str, ends: list[int]) -> list[int]:
    """``ends`` (the punctuation boundaries of ``line``) plus the spaces that end a Thai sentence (module docstring)."""
    tokens = _thai_words()(line)
    if "".join(tokens) != line:  # the offsets below need every character back; the line then stays unsplit
        logger.warning("pythainlp newmm changed the characters of %r...: no space boundaries", line[:40])
        return ends
    solid = [0]  # solid[i]: non-space characters in line[:i] (piece lengths in O(1), spaces not counted)
    for ch in line:
        solid.append(solid[-1] + (not ch.isspace()))
    starts = [0]
    for token in tokens:
        starts.append(starts[-1] + len(token))
    punct = sorted(ends)
    cuts, soft = set(ends), set()  # soft: single-space cuts, which a short next piece undoes
    last, p = 0, 0  # the latest cut before the current token; index into punct
    for k in range(1, len(tokens) - 1):
        token, begin, end = tokens[k], starts[k], starts[k + 1]
        while p < len(punct) and punct[p] <= begin:  # a punctuation boundary restarts the length count
            last, p = max(last, punct[p]), p + 1
        if token.strip():
            continue
        strong = len(token) >= 2  # two or more spaces: the translator's sentence break
        if not strong:
            if not (_THAI_LEFT.match(line[begin - 1]) and _THAI_RIGHT.match(line[end])):
                continue  # numbers, Latin words and brackets keep their spaces ("ปี 1870", "17 ใบ")
            if line[begin - 1] == "ๆ" or tokens[k + 1] in THAI_CONTINUATIONS or tokens[k - 1] in THAI_NON_FINAL:
                continue
            if min(solid[begin] - solid[last], solid[-1] - solid[end]) < THAI_MIN_SENTENCE_CHARS:
                continue
            soft.add(end)
        cuts.add(end)
        last = end
    # a space cut followed by a short piece split a name or a clause tail ("เลออน | สคิลเลอร์ อีกด้วย"): undo it
    ordered = [*sorted(cuts), len(line)]
    for cut, following in zip(ordered, ordered[1:], strict=False):
        if cut in soft and solid[following] - solid[cut] < THAI_MIN_SENTENCE_CHARS:
            cuts.discard(cut)
    return sorted(cuts)


def split_sentences(text: str, lang: str) -> list[SentenceSpan]:
    """Split ``text`` into sentences for language ``lang`` (ISO 639-1); spans are stripped, never empty.

    Line breaks are hard boundaries. Unknown languages use the English abbreviation list.
    """
    spans: list[SentenceSpan] = []
    offset = 0
    for line in text.splitlines(keepends=True):
        ends = _boundaries(line, lang)
        if lang == "th":
            ends = _thai_space_boundaries(line, ends)
        cuts = [0, *ends, len(line)]
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
