"""Character-level helpers shared by the word aligners, span projection, the sentence aligner and the pipeline:
accent folding and the one home of the script ranges (Han, kana, Hangul, Thai)."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache


@lru_cache(maxsize=200_000)
def fold(word: str) -> str:
    """Lower-case, strip accents (NFKD, combining marks removed): 'Ça' -> 'ca', 'România' -> 'romania'."""
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@lru_cache(maxsize=200_000)
def latin_fold(word: str) -> str:
    """:func:`fold`, then, for a word with letters outside the Latin script, its ASCII transliteration
    (anyascii): 'Путин' -> 'putin', 'Αθήνα' -> 'athina'. Han, kana and Thai stay as they are: their
    romanisation ('BeiJing') says little about how a name is written in a Latin-script language."""
    folded = fold(word)
    if folded.isascii() or any(map(is_unsegmented, folded)):
        return folded
    from anyascii import anyascii

    return anyascii(folded).lower()


# Unicode blocks, as (first, last) code points, of the scripts that get special treatment.
HAN = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF))  # CJK extension A, unified, compatibility ideographs
KANA = ((0x3040, 0x30FF), (0x31F0, 0x31FF))  # hiragana and katakana, katakana phonetic extensions
HANGUL = ((0xAC00, 0xD7AF),)  # Hangul syllables
THAI = ((0x0E00, 0x0E7F),)


def char_class(blocks: tuple[tuple[int, int], ...]) -> str:
    """The blocks as the inside of a regex character class ("a-z" ranges of literal characters)."""
    return "".join(f"{chr(first)}-{chr(last)}" for first, last in blocks)


# Three script sets, for three different questions (hence three, not one):
# - CJK (Han, kana, Hangul): one character is about a syllable or a morpheme. Sentence lengths weigh it more
#   than a Latin letter, and a sentence may start with it.
# - UNSEGMENTED (Han, kana, Thai): written without spaces between words, so a tokeniser may cut a name
#   differently from its alias, and frequent short "words" are content words. Korean is written with spaces.
# - HAN_KANA: an alias with such a character may be as short as --min-alias-chars-cjk (北京, 東京); Korean
#   aliases follow --min-alias-chars, like the spaced scripts.
CJK = HAN + KANA + HANGUL
UNSEGMENTED = HAN + KANA + THAI
HAN_KANA = HAN + KANA

_HAN = re.compile(f"[{char_class(HAN)}]")
_KANA = re.compile(f"[{char_class(KANA)}]")
_UNSEGMENTED = re.compile(f"[{char_class(UNSEGMENTED)}]")
_HAN_KANA = re.compile(f"[{char_class(HAN_KANA)}]")


def is_han(ch: str) -> bool:
    return _HAN.match(ch) is not None


def is_kana(ch: str) -> bool:
    return _KANA.match(ch) is not None


def is_unsegmented(ch: str) -> bool:
    """A character of a script written without spaces between words (Han, kana, Thai)."""
    return _UNSEGMENTED.match(ch) is not None


def has_han_or_kana(text: str) -> bool:
    return _HAN_KANA.search(text) is not None
