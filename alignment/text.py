"""Character-level helpers shared by the word aligners, span projection and the sentence aligner."""

from __future__ import annotations

import unicodedata
from functools import lru_cache


@lru_cache(maxsize=200_000)
def fold(word: str) -> str:
    """Lower-case, strip accents (NFKD, combining marks removed): 'Ça' -> 'ca', 'România' -> 'romania'."""
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))
