"""Text normalisation shared by sentences and KB aliases: Unicode NFC, and Chinese to Simplified script.

The X-FACTR zh aliases mix Traditional and Simplified names and so do Chinese corpora; converting both
sentences and aliases with OpenCC's ``t2s`` makes them meet. ``t2s`` is pure Python and slow, so a
line without any Traditional-only character (the common case) skips it: the fast path returns the
same string as OpenCC would (``tests/test_pipeline_normalize.py`` checks this on real text).
"""

from __future__ import annotations

import functools
import os
import unicodedata

import opencc

CHINESE_LANGS = ("zh",)


@functools.lru_cache(maxsize=1)
def _converter() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


@functools.lru_cache(maxsize=1)
def traditional_chars() -> frozenset[str]:
    """Characters that OpenCC's t2s character table maps to a different character."""
    folder = os.path.join(os.path.dirname(opencc.__file__), "dictionary")
    chars: set[str] = set()
    for name in ("TSCharacters.txt", "TSPhrases.txt"):
        with open(os.path.join(folder, name), encoding="utf-8") as handle:
            for line in handle:
                key, _, values = line.rstrip("\n").partition("\t")
                if name == "TSCharacters.txt" and values.split(" ")[0] != key:
                    chars.add(key)
                elif name == "TSPhrases.txt" and values.split(" ")[0] != key:
                    chars.update(k for k, v in zip(key, values.split(" ")[0], strict=False) if k != v)
    return frozenset(chars)


def to_simplified(text: str) -> str:
    """OpenCC t2s, skipped when ``text`` holds no character t2s would change."""
    table = traditional_chars()
    if not any(ch in table for ch in text):
        return text
    return _converter().convert(text)


def normalize_text(text: str, lang: str) -> str:
    """NFC, then Simplified script for Chinese. Length may change only through NFC (t2s maps 1:1)."""
    text = unicodedata.normalize("NFC", text)
    return to_simplified(text) if lang in CHINESE_LANGS else text
