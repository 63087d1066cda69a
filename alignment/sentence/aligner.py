"""Sentence alignment of document pairs: Gale–Church dynamic programming with anchors and embeddings.

A *bead* groups 0..3 consecutive source sentences with 0..3 consecutive target sentences. The aligner finds the
monotone sequence of beads of least total cost, where a bead's cost adds

- ``-log P(bead type)`` (Gale & Church's priors: 1-1 is by far the most likely),
- the Gale–Church length cost (CJK-aware lengths; length ratio and variance estimated from the data by :meth:`fit`),
- optionally a lexical-anchor cost (shared numbers, names/acronyms, KB entity ids), and
- optionally an embedding cost (cosine distance of the blocks' sentence vectors, normalised by the document's mean
  distance, as in Vecalign; deleting a sentence then costs a fixed ``deletion_cost``).

``python -m alignment.sentence`` runs the command-line converter (:mod:`alignment.sentence.cli`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from alignment.sentence.scoring import (
    AnchorWeights,
    Embedder,
    EntityFn,
    LengthModel,
    anchor_cost_matrix,
    anchor_matrices,
    block_sums,
    embedding_distance,
    estimate_ratio,
    estimate_variance,
    extract_anchors,
    text_length,
)

# Gale & Church (1993) priors, split evenly between the two directions; 1-3/3-1 catch splitter disagreements.
# Their 2-2 bead is left out: it mostly swallowed two correct 1-1 beads (NTREX EN-DE strict F1 0.977 -> 0.991
# without it, length + anchors); add ``(2, 2): 0.011`` to ``AlignerConfig.priors`` to get it back.
DEFAULT_PRIORS: dict[tuple[int, int], float] = {
    (1, 1): 0.89, (1, 0): 0.005, (0, 1): 0.005, (2, 1): 0.0445, (1, 2): 0.0445, (3, 1): 0.002, (1, 3): 0.002,
}


@dataclass(frozen=True)
class Bead:
    """Source and target sentence indices (0-based, consecutive; one side may be empty) and the bead's cost."""

    src: tuple[int, ...]
    tgt: tuple[int, ...]
    cost: float
    similarity: float | None = None  # cosine of the two blocks' vectors when an embedder was used

    @property
    def is_null(self) -> bool:
        return not self.src or not self.tgt


@dataclass(frozen=True)
class AlignerConfig:
    """Weights of the cost terms; ``anchors``/``embedding_weight`` switch the two improvements on."""

    priors: dict[tuple[int, int], float] = field(default_factory=lambda: dict(DEFAULT_PRIORS))
    length_weight: float = 1.0
    anchors: bool = False
    anchor_weights: AnchorWeights = AnchorWeights()
    embedding_weight: float = 6.0
    deletion_cost: float = 1.0  # embedding cost of an unaligned sentence, in units of the document's mean distance
    null_length_cost: float | None = 0.0  # per unaligned sentence; None: Gale–Church (length cost with length 0)
    band: int = 20  # DP cells further than band + |N - M| from the diagonal are skipped


Tables = dict[tuple[int, int], tuple[np.ndarray, np.ndarray | None]]
"""(di, dj) -> (cost of the bead starting at (i, j): (N - di + 1, M - dj + 1), blocks' cosine or None)."""


class SentenceAligner:
    """Aligns the sentences of document pairs; see the module docstring for the cost."""

    def __init__(self, src_lang: str, tgt_lang: str, config: AlignerConfig | None = None,
                 length_model: LengthModel | None = None, embedder: Embedder | None = None,
                 entity_fn: EntityFn | None = None) -> None:
        self.src_lang, self.tgt_lang = src_lang, tgt_lang
        self.config = config or AlignerConfig()
        self.length_model = length_model or LengthModel()
        self.embedder = embedder
        self.entity_fn = entity_fn
        self._max = max(max(k) for k in self.config.priors)

    def fit(self, docs: Sequence[tuple[Sequence[str], Sequence[str]]]) -> SentenceAligner:
        """Estimate the length ratio from the corpus, then the variance from the 1-1 beads of a first alignment."""
        ratio = estimate_ratio(docs)
        self.length_model = LengthModel(ratio=ratio)
        lengths = []
        for (src, tgt), beads in zip(docs, self._align_length_only(docs), strict=True):
            for bead in beads:
                if len(bead.src) == 1 and len(bead.tgt) == 1:
                    lengths.append((text_length(src[bead.src[0]]), text_length(tgt[bead.tgt[0]])))
        self.length_model = LengthModel(ratio=ratio, variance=estimate_variance(lengths, ratio))
        return self

    def _align_length_only(self, docs: Sequence[tuple[Sequence[str], Sequence[str]]]) -> list[list[Bead]]:
        plain = SentenceAligner(self.src_lang, self.tgt_lang, AlignerConfig(priors=self.config.priors),
                                self.length_model)
        return plain.align_batch(docs)

    def align(self, src: Sequence[str], tgt: Sequence[str]) -> list[Bead]:
        """Beads covering every sentence of ``src`` and ``tgt`` once, in order."""
        return self.align_batch([(src, tgt)])[0]

    def align_batch(self, docs: Sequence[tuple[Sequence[str], Sequence[str]]]) -> list[list[Bead]]:
        """Align many documents; sentence vectors are computed in one batched call per side."""
        src_vecs = tgt_vecs = None
        if self.embedder is not None:
            src_vecs = _split_rows(self.embedder([s for src, _ in docs for s in src]), [len(d[0]) for d in docs])
            tgt_vecs = _split_rows(self.embedder([t for _, tgt in docs for t in tgt]), [len(d[1]) for d in docs])
        out = []
        for k, (src, tgt) in enumerate(docs):
            tables = self._cost_tables(src, tgt, None if src_vecs is None else (src_vecs[k], tgt_vecs[k]))
            out.append(self._dynamic_programme(tables, len(src), len(tgt)))
        return out

    def _cost_tables(self, src: Sequence[str], tgt: Sequence[str], vectors) -> Tables:
        """Cost of every bead of every type at every start cell, computed with array operations."""
        cfg = self.config
        src_len = np.array([text_length(s) for s in src], dtype=np.float64)  # (N,)
        tgt_len = np.array([text_length(t) for t in tgt], dtype=np.float64)  # (M,)
        if cfg.anchors:
            src_anchors = [extract_anchors(s, self.src_lang, self.entity_fn) for s in src]
            tgt_anchors = [extract_anchors(t, self.tgt_lang, self.entity_fn) for t in tgt]
            src_a, tgt_a = anchor_matrices(src_anchors, tgt_anchors)
            numbers = len({key for c in (*src_anchors, *tgt_anchors) for key in c if key.startswith("#")})
        tables: Tables = {}
        for di, dj in cfg.priors:
            if di == 0 and dj == 0:
                continue
            src_blocks, tgt_blocks = block_sums(src_len, di), block_sums(tgt_len, dj)  # (N-di+1,), (M-dj+1,)
            cost = np.full((len(src_blocks), len(tgt_blocks)), -math.log(cfg.priors[(di, dj)]))
            similarity = None
            if di == 0 or dj == 0:  # a sentence left unaligned
                if vectors is not None:
                    cost += cfg.embedding_weight * cfg.deletion_cost * (di + dj)
                elif cfg.null_length_cost is not None:
                    cost += cfg.null_length_cost * (di + dj)
                else:
                    cost += cfg.length_weight * self.length_model.cost_matrix(src_blocks, tgt_blocks)
            else:
                cost += cfg.length_weight * self.length_model.cost_matrix(src_blocks, tgt_blocks)
                if vectors is not None:
                    similarity, distance = embedding_distance(vectors[0], vectors[1], di, dj)
                    cost += cfg.embedding_weight * distance * max(di, dj)
                if cfg.anchors:
                    cost += anchor_cost_matrix(block_sums(src_a, di), block_sums(tgt_a, dj), cfg.anchor_weights,
                                               numbers)
            tables[(di, dj)] = (cost, similarity)
        return tables

    def _dynamic_programme(self, tables: Tables, n: int, m: int) -> list[Bead]:
        """Least-cost monotone bead sequence over the (N+1, M+1) grid, restricted to a band around the diagonal."""
        band = self.config.band + abs(n - m)
        best = np.full((n + 1, m + 1), np.inf)  # (N+1, M+1) least cost of aligning src[:i], tgt[:j]
        back = np.zeros((n + 1, m + 1, 2), dtype=np.int64)  # the (di, dj) of the last bead
        best[0, 0] = 0.0
        types = [(di, dj, tables[(di, dj)][0]) for di, dj in tables]
        for i in range(n + 1):
            centre = int(i * m / n) if n else 0
            for j in range(max(0, centre - band), min(m, centre + band) + 1):
                for di, dj, cost in types:
                    if i < di or j < dj:
                        continue
                    total = best[i - di, j - dj] + cost[i - di, j - dj]
                    if total < best[i, j]:
                        best[i, j] = total
                        back[i, j] = (di, dj)
        if not np.isfinite(best[n, m]):
            raise ValueError(f"no alignment within the DP band for {n} x {m} sentences; raise AlignerConfig.band")
        beads = []
        i, j = n, m
        while i > 0 or j > 0:
            di, dj = (int(x) for x in back[i, j])
            cost, similarity = tables[(di, dj)]
            sim = None if similarity is None else float(similarity[i - di, j - dj])
            beads.append(Bead(tuple(range(i - di, i)), tuple(range(j - dj, j)), float(cost[i - di, j - dj]), sim))
            i, j = i - di, j - dj
        return beads[::-1]


def _split_rows(matrix: np.ndarray, sizes: Sequence[int]) -> list[np.ndarray]:
    """Cut an (sum(sizes), D) array into consecutive (size_k, D) pieces."""
    bounds = np.cumsum([0, *sizes])
    return [matrix[bounds[k] : bounds[k + 1]] for k in range(len(sizes))]


def join_sentences(sentences: Sequence[str], lang: str) -> str:
    """Sentences of one bead as one text: no separator for Chinese/Japanese, a space otherwise."""
    return ("" if lang in ("zh", "ja") else " ").join(sentences)


def bead_records(doc_id: str, src: Sequence[str], tgt: Sequence[str], beads: Sequence[Bead], src_lang: str,
                 tgt_lang: str) -> tuple[list[dict], list[dict]]:
    """The pipeline's JSONL records for the non-null beads, and one 'unaligned' record per null bead.

    Pair ids are ``<doc_id>:<bead index>`` (the index counts every bead, null ones too, so ids are stable
    whatever is filtered later). Records carry ``id, doc_id, src, tgt`` (what ``pipelines`` reads) plus the
    bead's sentence indices, ``cost`` and, with embeddings, ``similarity``.
    """
    pairs, unaligned = [], []
    for index, bead in enumerate(beads):
        record = {"id": f"{doc_id}:{index}", "doc_id": doc_id,
                  "src": join_sentences([src[i] for i in bead.src], src_lang),
                  "tgt": join_sentences([tgt[j] for j in bead.tgt], tgt_lang),
                  "src_sentences": list(bead.src), "tgt_sentences": list(bead.tgt), "cost": round(bead.cost, 4)}
        if bead.similarity is not None:
            record["similarity"] = round(bead.similarity, 4)
        if bead.is_null:
            record["reason"] = "unaligned_source" if bead.src else "unaligned_target"
            unaligned.append(record)
        else:
            pairs.append(record)
    return pairs, unaligned

