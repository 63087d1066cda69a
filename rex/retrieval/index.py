"""The FAISS fact index: type chosen by size, GPU when available, saved with a JSON sidecar.

An index folder holds::

    faiss.index          the FAISS index (FAISS's own binary format; never pickle)
    facts.npy            (N, 3) int32 (head, relation, tail) row of every indexed vector, in index order
    entity_emb.npy       (E, d) float32 KGE entity vectors
    relation_emb.npy     (R, d) float32 KGE relation vectors
    meta.json            kb_version, model_hash, model config, factory, search params, entity and relation ids,
                         the held-out pairs the build excluded, counts

Vectors are inner-product keys (unit length), so IndexFlatIP is exact cosine search.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass

import faiss
import numpy as np

logger = logging.getLogger(__name__)

FORMAT = "rex-fact-index/1"
EXACT_MAX = 200_000  # up to this many facts, exact search is fast enough (and exact)
TRAIN_PER_LIST = 64  # k-means training points per IVF list (FAISS warns below 39)


# The vector geometry shared by the index build (rex.retrieval.build) and the retriever: here, in the module both
# import, so neither imports the other.
def unit(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero); (N, d) -> (N, d) float32."""
    x = np.asarray(x, dtype=np.float32)
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norm, 1e-12)


def fact_values(entity_unit: np.ndarray, relation_unit: np.ndarray, facts: np.ndarray) -> np.ndarray:
    """Fact vectors for the model (..., 3d) = [u_h ; u_r ; u_t] for facts (..., 3) int."""
    return np.concatenate(
        [entity_unit[facts[..., 0]], relation_unit[facts[..., 1]], entity_unit[facts[..., 2]]], axis=-1
    )


class IndexMismatchError(ValueError):
    """An index folder that does not match the KB, the embedding model or itself."""


def choose_factory(n: int, dim: int) -> tuple[str, str]:
    """(FAISS factory string, search parameters) for ``n`` vectors of size ``dim``.

    Exact IndexFlatIP up to EXACT_MAX; above, IVF with 4-bit fast-scan PQ codes (2-dim sub-vectors, the same
    bytes per vector as 8-bit codes on 4 dims) re-ranked exactly by IndexRefineFlat, probing a quarter of the
    lists. At 1M xfactr-derived facts (bench/rex_retrieval_batched.py, batched search, 2 threads, loaded CPU):
    recall@10 0.965 at 1,400-1,500 queries/s, 0.47 ms CPU per query, 25 s build; the 8-bit IVF-PQ it replaces
    (IVF1024,PQ16x8,RFlat, same search parameters) gave 0.976 at 280-310 queries/s, 2.1-2.4 ms, 79 s. Fewer
    probes lose recall (the coarse quantiser is the limit: nprobe=128 gives 0.92). Indexes built before keep
    their own factory and parameters (meta.json). HNSW32 ('--factory HNSW32 --search-params efSearch=128')
    builds too slowly at 1M on a few shared CPU cores to be the default here. Fast-scan indexes have no GPU
    implementation: on a GPU machine they stay on the CPU (pass ``--factory IVF...,PQ16x8,RFlat`` for a GPU index).
    """
    if n <= EXACT_MAX:
        return "Flat", ""
    nlist = int(min(65536, 2 ** round(np.log2(np.sqrt(n)))))
    m = dim // 2 if dim % 2 == 0 else dim  # 2-dim sub-vectors, 4 bits each (fast scan needs an even count)
    nprobe = max(32, nlist // 4)
    return f"IVF{nlist},PQ{m}x4fs,RFlat", f"nprobe={nprobe},k_factor_rf=64"


def model_hash(entity_emb: np.ndarray, relation_emb: np.ndarray, config: dict) -> str:
    """Content hash of an embedding model: its vectors and its configuration."""
    digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode())
    for arr in (entity_emb, relation_emb):
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        digest.update(str(arr.shape).encode())
        digest.update(arr.tobytes())
    return "kge-" + digest.hexdigest()[:16]


def _to_gpu(index: faiss.Index) -> faiss.Index:
    """The index on all GPUs when this FAISS build has GPU support and a GPU is present."""
    if hasattr(faiss, "index_cpu_to_all_gpus") and faiss.get_num_gpus() > 0:
        logger.info("moving the fact index to %d GPU(s)", faiss.get_num_gpus())
        try:
            return faiss.index_cpu_to_all_gpus(index)
        except RuntimeError as err:  # e.g. HNSW has no GPU implementation
            logger.warning("fact index stays on the CPU: %s", err)
    return index


def _to_cpu(index: faiss.Index) -> faiss.Index:
    return faiss.index_gpu_to_cpu(index) if hasattr(faiss, "index_gpu_to_cpu") and "Gpu" in type(index).__name__ \
        else index


def set_search_params(index: faiss.Index, params: str) -> None:
    """Apply FAISS search parameters like 'efSearch=128' or 'nprobe=32,k_factor_rf=8'."""
    if not params:
        return
    space = faiss.GpuParameterSpace() if "Gpu" in type(index).__name__ else faiss.ParameterSpace()
    space.set_index_parameters(index, params)


def build_faiss(keys: np.ndarray, factory: str | None = None, search_params: str | None = None,
                use_gpu: bool = True) -> tuple[faiss.Index, str, str]:
    """Index ``keys`` (N, d) float32 for inner-product search; returns (index, factory, search params).

    ``factory`` overrides the size-based choice (any FAISS factory string, e.g. 'IVF1024,PQ16x8,RFlat').
    """
    keys = np.ascontiguousarray(keys, dtype=np.float32)
    n, dim = keys.shape
    chosen, params = choose_factory(n, dim)
    if factory:
        chosen, params = factory, search_params or ""
    elif search_params is not None:
        params = search_params
    index = faiss.index_factory(dim, chosen, faiss.METRIC_INNER_PRODUCT)
    if not index.is_trained:
        ivf = faiss.try_extract_index_ivf(index)
        size = max(TRAIN_PER_LIST * ivf.nlist, 2**14) if ivf is not None else 2**16
        sample = keys if n <= size else keys[np.random.default_rng(0).choice(n, size, replace=False)]
        index.train(sample)
    index.add(keys)
    if use_gpu:
        index = _to_gpu(index)
    set_search_params(index, params)
    logger.info("built FAISS index %s (%s) over %d vectors of size %d", chosen, params or "default", n, dim)
    return index, chosen, params


@dataclass
class FactIndex:
    """A loaded (or freshly built) fact index with its embedding model and metadata."""

    index: faiss.Index
    facts: np.ndarray  # (N, 3) int32
    entity_emb: np.ndarray  # (E, d) float32
    relation_emb: np.ndarray  # (R, d) float32
    meta: dict

    @property
    def entity_ids(self) -> list[str]:
        return self.meta["entities"]

    @property
    def relation_ids(self) -> list[str]:
        return self.meta["relations"]

    def fact_id(self, row: int) -> str:
        h, r, t = self.facts[row].tolist()
        return f"{self.entity_ids[h]}|{self.relation_ids[r]}|{self.entity_ids[t]}"

    def save(self, out_dir: str) -> None:
        """Write the folder; meta.json last, through a temporary file, so a half-written folder never loads."""
        os.makedirs(out_dir, exist_ok=True)
        faiss.write_index(_to_cpu(self.index), os.path.join(out_dir, "faiss.index"))
        for name, arr in (("facts", self.facts), ("entity_emb", self.entity_emb), ("relation_emb", self.relation_emb)):
            np.save(os.path.join(out_dir, f"{name}.npy"), arr, allow_pickle=False)
        tmp = os.path.join(out_dir, "meta.json.tmp")
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(self.meta, handle)
        os.replace(tmp, os.path.join(out_dir, "meta.json"))


def _load_npy(index_dir: str, name: str) -> np.ndarray:
    path = os.path.join(index_dir, f"{name}.npy")
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise IndexMismatchError(f"{path}: cannot read ({err})") from err


def load_index(index_dir: str, kb_version: str | None = None, expected_model_hash: str | None = None,
               use_gpu: bool = True) -> FactIndex:
    """Load an index folder; IndexMismatchError when it is incomplete, inconsistent, or built from another
    KB version / embedding model than the ones given."""
    meta_path = os.path.join(index_dir, "meta.json")
    if not os.path.exists(meta_path):
        raise IndexMismatchError(f"{index_dir}: no meta.json (not a fact index folder, or a build that did not finish)")
    with open(meta_path, encoding="utf-8") as handle:
        try:
            meta = json.load(handle)
        except json.JSONDecodeError as err:
            raise IndexMismatchError(f"{meta_path}: not JSON ({err})") from err
    if meta.get("format") != FORMAT:
        raise IndexMismatchError(f"{meta_path}: format {meta.get('format')!r}, this code reads {FORMAT!r}")
    if kb_version is not None and meta["kb_version"] != kb_version:
        raise IndexMismatchError(
            f"{index_dir}: built from KB version {meta['kb_version']}, but the KB in use is {kb_version}; rebuild it"
        )
    if expected_model_hash is not None and meta["model_hash"] != expected_model_hash:
        raise IndexMismatchError(
            f"{index_dir}: built with embedding model {meta['model_hash']}, expected {expected_model_hash}"
        )
    facts, ent, rel = (_load_npy(index_dir, n) for n in ("facts", "entity_emb", "relation_emb"))
    actual_hash = model_hash(ent, rel, meta["model_config"])
    if actual_hash != meta["model_hash"]:
        raise IndexMismatchError(
            f"{index_dir}: embedding files hash to {actual_hash}, meta.json says {meta['model_hash']}"
        )
    index = faiss.read_index(os.path.join(index_dir, "faiss.index"))
    problems = []
    if index.ntotal != len(facts) or len(facts) != meta["n_facts"]:
        problems.append(f"{index.ntotal} vectors, {len(facts)} fact rows, meta says {meta['n_facts']}")
    if len(ent) != len(meta["entities"]) or len(rel) != len(meta["relations"]):
        problems.append("embedding tables do not match the entity/relation id lists")
    if problems:
        raise IndexMismatchError(f"{index_dir}: inconsistent folder: " + "; ".join(problems))
    if use_gpu:
        index = _to_gpu(index)
    set_search_params(index, meta.get("search_params", ""))
    return FactIndex(index=index, facts=facts, entity_emb=ent, relation_emb=rel, meta=meta)
