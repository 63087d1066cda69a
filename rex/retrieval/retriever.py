"""Leak-free top-k fact retrieval for (head, tail) pairs over a FAISS fact index.

For a pair (h, t), ceil(k/2) facts are retrieved with the head's unit KGE vector as the query and
floor(k/2) with the tail's (a side with too few facts leaves its slots to the other side), ranked by
inner product. Never returned: facts of the pair itself (either direction) and facts of any
``exclude_pairs`` pair (unordered), filtered with over-fetch (the search is repeated with a larger k
until enough facts survive or ``max_fetch`` is reached). Results are cached per pair; queries of a
batch go to FAISS in one call, and ``prefetch`` searches many pairs (the trainer: all of a run's pairs) in
large batches up front.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import numpy as np

from rex.retrieval.api import RetrievedFacts
from rex.retrieval.index import FactIndex, fact_values, load_index, unit

logger = logging.getLogger(__name__)
ROLE_SLOTS = 5  # per KB relation: count, head-as-subject, head-as-object, tail-as-subject, tail-as-object


class KGELeakError(ValueError):
    """The index (and so its KGE model) contains facts of pairs that must stay held out."""


class KGEFactRetriever:
    """:class:`rex.retrieval.api.FactRetriever` over a :class:`FactIndex`."""

    def __init__(self, fact_index: FactIndex, k: int = 8, exclude_pairs: Iterable[tuple[str, str]] = (),
                 allow_kge_leak: bool = False, max_fetch: int = 4096) -> None:
        if k <= 0:
            raise ValueError(f"k must be positive, got {k}")
        self.fi = fact_index
        self.k = k
        self.max_fetch = max_fetch
        self.entity_unit = unit(fact_index.entity_emb)  # (E, d)
        self.relation_unit = unit(fact_index.relation_emb)  # (R, d)
        self.dim = 3 * self.entity_unit.shape[1]  # F
        self.n_relations = len(self.relation_unit)
        self.role_dim = ROLE_SLOTS * self.n_relations
        self.n_entities = len(self.entity_unit)
        self.entity_index = {e: i for i, e in enumerate(fact_index.entity_ids)}
        facts = fact_index.facts.astype(np.int64)
        self.pair_code = self._code(facts[:, 0], facts[:, 2])  # (N,) unordered pair of each indexed fact
        known = [(self.entity_index.get(a), self.entity_index.get(b)) for a, b in exclude_pairs]
        ids = np.array([(a, b) for a, b in known if a is not None and b is not None], dtype=np.int64).reshape(-1, 2)
        self.exclude_codes = np.unique(self._code(ids[:, 0], ids[:, 1]))
        leaked = np.isin(self.pair_code, self.exclude_codes)
        if leaked.any():
            example = fact_index.fact_id(int(np.flatnonzero(leaked)[0]))
            message = (f"{int(leaked.sum())} indexed facts (e.g. {example}) belong to held-out pairs: the KGE model "
                       "was trained on them. Rebuild the index with those pairs held out (rex index build "
                       "--heldout-shards ...)")
            if not allow_kge_leak:
                raise KGELeakError(message)
            logger.warning("%s; filtering them at query time only", message)
        self._cache: dict[tuple[str, str], tuple[list[int], list[float]]] = {}

    def _code(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.minimum(a, b) * self.n_entities + np.maximum(a, b)

    def prefetch(self, pairs: Iterable[tuple[str, str]], batch_pairs: int = 4096) -> int:
        """Search every pair not cached yet, ``batch_pairs`` pairs (twice as many queries) per FAISS call, so later
        ``retrieve`` calls of those pairs are cache lookups; returns the number of pairs searched. The results are
        the ones ``retrieve`` gives pair by pair (each query's search does not depend on its batch)."""
        missing = sorted({(str(h), str(t)) for h, t in pairs} - self._cache.keys())
        for start in range(0, len(missing), batch_pairs):
            chunk = missing[start : start + batch_pairs]
            self._cache.update(zip(chunk, self._search(chunk), strict=True))
        return len(missing)

    def retrieve(self, pairs: Sequence[tuple[str, str]]) -> RetrievedFacts:
        """Top-k facts per pair: embeddings (B, K, F), mask (B, K), fact ids, scores (B, K)."""
        pairs = [(str(h), str(t)) for h, t in pairs]  # tuples or 2-lists
        missing = list(dict.fromkeys(p for p in pairs if p not in self._cache))
        if missing:
            self._cache.update(zip(missing, self._search(missing), strict=True))
        b = len(pairs)
        rows = np.zeros((b, self.k), dtype=np.int64)
        mask = np.zeros((b, self.k), dtype=bool)
        scores = np.zeros((b, self.k), dtype=np.float32)
        for i, pair in enumerate(pairs):
            found, sims = self._cache[pair]
            rows[i, : len(found)] = found
            mask[i, : len(found)] = True
            scores[i, : len(found)] = sims
        emb = fact_values(self.entity_unit, self.relation_unit, self.fi.facts[rows]) * mask[..., None]  # (B, K, F)
        fact_ids = [[self.fi.fact_id(int(r)) for r in rows[i, mask[i]]] for i in range(b)]
        return RetrievedFacts(embeddings=emb.astype(np.float32), mask=mask, fact_ids=fact_ids, scores=scores,
                              roles=self._roles(pairs, rows, mask))

    def _roles(self, pairs: list[tuple[str, str]], rows: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """(B, 5R) role features: slot 5r = facts with relation r; 5r+1..5r+4 = head as subject / head as
        object / tail as subject / tail as object of a fact with relation r (0/1)."""
        out = np.zeros((len(pairs), self.role_dim), dtype=np.float32)
        facts = self.fi.facts[rows].astype(np.int64)  # (B, K, 3)
        for i, (head, tail) in enumerate(pairs):
            hi, ti = self.entity_index.get(head, -2), self.entity_index.get(tail, -2)
            for s, r, o in facts[i, mask[i]]:
                base = ROLE_SLOTS * int(r)
                out[i, base] += 1.0
                for slot, hit in ((1, s == hi), (2, o == hi), (3, s == ti), (4, o == ti)):
                    if hit:
                        out[i, base + slot] = 1.0
        return out

    def _search(self, pairs: list[tuple[str, str]]) -> list[tuple[list[int], list[float]]]:
        """Ranked surviving (rows, scores) for each pair, head and tail sides merged."""
        heads = [self.entity_index.get(h, -1) for h, _ in pairs]
        tails = [self.entity_index.get(t, -1) for _, t in pairs]
        own = np.array([self._code(h, t) if h >= 0 and t >= 0 else -1 for h, t in zip(heads, tails, strict=True)])
        side = self._ranked(np.array(heads + tails), np.concatenate([own, own]))
        k_head = (self.k + 1) // 2
        out = []
        for i in range(len(pairs)):
            head_side, tail_side = side[i], side[len(pairs) + i]
            k_tail = self.k - k_head
            order = head_side[:k_head] + tail_side[:k_tail] + head_side[k_head:] + tail_side[k_tail:]
            chosen: dict[int, float] = {}
            for row, score in order:
                if len(chosen) < self.k and row not in chosen:
                    chosen[row] = score
            ranked = sorted(chosen.items(), key=lambda c: -c[1])
            out.append(([r for r, _ in ranked], [s for _, s in ranked]))
        return out

    def _ranked(self, entities: np.ndarray, own: np.ndarray) -> list[list[tuple[int, float]]]:
        """Per query entity (-1 = unknown: no facts), up to k allowed (row, score), best first."""
        result: list[list[tuple[int, float]]] = [[] for _ in entities]
        todo = np.flatnonzero(entities >= 0)
        ntotal = self.fi.index.ntotal
        fetch = min(ntotal, 2 * self.k + 32)
        while len(todo):
            sims, ids = self.fi.index.search(self.entity_unit[entities[todo]], fetch)  # (Q, fetch)
            valid = ids >= 0
            codes = self.pair_code[np.where(valid, ids, 0)]
            valid &= ~np.isin(codes, self.exclude_codes) & (codes != own[todo, None])
            retry = []
            for q, row in enumerate(todo):
                kept = [(int(i), float(s)) for i, s in zip(ids[q, valid[q]], sims[q, valid[q]], strict=True)]
                result[row] = kept[: self.k]
                if len(kept) < self.k and fetch < min(ntotal, self.max_fetch):
                    retry.append(row)
            todo = np.array(retry, dtype=np.int64)
            fetch = min(ntotal, self.max_fetch, fetch * 4)
        return result


def load_retriever(index_dir: str, k: int = 8, exclude_pairs: set[tuple[str, str]] = frozenset(),  # noqa: B006
                   *, kb_version: str | None = None, model_hash: str | None = None,
                   allow_kge_leak: bool = False) -> KGEFactRetriever:
    """Open an index folder as a FactRetriever (the trainer's entry point).

    ``exclude_pairs``: (head, tail) kb-id pairs of the dev and test splits (unordered); their facts are never
    returned, and KGELeakError is raised when the index holds any of them (its KGE saw them) unless
    ``allow_kge_leak``. ``kb_version`` / ``model_hash``: when given, IndexMismatchError if the index differs.
    """
    fact_index = load_index(index_dir, kb_version=kb_version, expected_model_hash=model_hash)
    return KGEFactRetriever(fact_index, k=k, exclude_pairs=exclude_pairs, allow_kge_leak=allow_kge_leak)
