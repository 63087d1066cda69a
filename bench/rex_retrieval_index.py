"""Approximate FAISS fact indexes against exact search at 1M facts: recall@10, queries/s, build time, memory.

Vectors: the real xfactr-kb facts of a built index (their TransE keys, rex.retrieval.build.fact_keys) plus a
synthetic scale-up to ``--n`` facts made of random (head, relation, tail) recombinations of the real
entities, so the keys have the real embedding distribution. Queries are unit entity vectors, as in
training. Ground truth: IndexFlatIP (exact). The last line times the whole retrieval path
(KGEFactRetriever.retrieve: search, leak filter, over-fetch, fact vectors) over the default index type.

    python -m bench.rex_retrieval_index --index /work/out/retrieval/xfactr-transe64 --n 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time

import faiss
import numpy as np

from rex.retrieval.build import fact_keys, unit
from rex.retrieval.index import FactIndex, build_faiss, choose_factory, load_index, set_search_params
from rex.retrieval.retriever import KGEFactRetriever


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def index_mb(index: faiss.Index) -> float:
    with tempfile.NamedTemporaryFile(suffix=".index") as handle:
        faiss.write_index(index, handle.name)
        return os.path.getsize(handle.name) / 2**20


def scaled_facts(real: FactIndex, n: int, seed: int) -> np.ndarray:
    """The real facts plus random recombinations of their entities and relations, (n, 3) int32."""
    rng = np.random.default_rng(seed)
    extra = n - len(real.facts)
    ents = np.unique(np.concatenate([real.facts[:, 0], real.facts[:, 2]]))
    synthetic = np.stack([rng.choice(ents, extra), rng.integers(0, len(real.relation_ids), extra),
                          rng.choice(ents, extra)], axis=1).astype(np.int32)
    return np.concatenate([real.facts, synthetic])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--index", required=True, help="an index folder built from the real KB (rex index build)")
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--factories", nargs="*", default=None,
                        help="'FACTORY|PARAMS[;PARAMS...]' specs (one build, one search per parameter set); "
                             "default: the size-based choice, then HNSW32")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    real = load_index(args.index)
    facts = scaled_facts(real, args.n, args.seed)
    ent = unit(real.entity_emb)
    keys = fact_keys(ent, facts)  # (n, d)
    rng = np.random.default_rng(args.seed + 1)
    queries = ent[rng.choice(np.unique(facts[:, 0]), args.queries)]  # (Q, d)
    dim = keys.shape[1]
    print(json.dumps({"n": len(keys), "real_facts": len(real.facts), "dim": dim, "queries": len(queries),
                      "faiss_threads": faiss.omp_get_max_threads(), "rss_mb_after_vectors": round(peak_rss_mb())}))

    start = time.perf_counter()
    exact = faiss.IndexFlatIP(dim)
    exact.add(keys)
    built = time.perf_counter() - start
    start = time.perf_counter()
    _, truth = exact.search(queries, 10)
    searched = time.perf_counter() - start
    print(json.dumps({"index": "Flat (exact)", "build_s": round(built, 1), "qps": round(len(queries) / searched),
                      "recall@10": 1.0, "index_mb": round(index_mb(exact)), "peak_rss_mb": round(peak_rss_mb())}))
    chosen = "|".join(choose_factory(len(keys), dim))
    specs = args.factories or [chosen, "HNSW32|efSearch=128"]
    for spec in specs:
        factory, _, param_sets = spec.partition("|")
        params = param_sets.split(";")
        start = time.perf_counter()
        index, _, _ = build_faiss(keys, factory=factory, search_params=params[0], use_gpu=False)
        built = time.perf_counter() - start
        for param in params:
            set_search_params(index, param)
            start = time.perf_counter()
            _, found = index.search(queries, 10)
            searched = time.perf_counter() - start
            recall = recall_at(truth, found)
            print(json.dumps({"index": factory, "params": param, "default_at_this_size": f"{factory}|{param}" == chosen,
                              "build_s": round(built, 1), "qps": round(len(queries) / searched),
                              "recall@10": round(recall, 4), "index_mb": round(index_mb(index)),
                              "peak_rss_mb": round(peak_rss_mb())}), flush=True)
        if spec == chosen:
            time_retriever(real, facts, index, chosen, rng)


def recall_at(truth: np.ndarray, found: np.ndarray) -> float:
    """Mean share of each query's exact top-k (``truth`` (Q, k)) that ``found`` (Q, k) holds."""
    return float(np.mean([len(set(a) & set(b)) / truth.shape[1] for a, b in zip(truth, found, strict=True)]))


def scaled_index(real: FactIndex, facts: np.ndarray, index: faiss.Index) -> FactIndex:
    """The real index's embeddings and metadata around the scaled ``facts`` and their FAISS ``index``."""
    return FactIndex(index=index, facts=facts, entity_emb=real.entity_emb, relation_emb=real.relation_emb,
                     meta=dict(real.meta, n_facts=len(facts)))


def real_pairs(real: FactIndex, facts: np.ndarray, n: int, rng: np.random.Generator,
               replace: bool = True) -> list[tuple[str, str]]:
    """``n`` (head, tail) entity id pairs of real facts, as the trainer queries them."""
    ids = real.entity_ids
    return [(ids[h], ids[t]) for h, _, t in facts[rng.choice(len(real.facts), n, replace=replace)].tolist()]


def time_retriever(real: FactIndex, facts: np.ndarray, index: faiss.Index, name: str,
                   rng: np.random.Generator) -> None:
    """Pairs/s of the whole retrieval path (search, leak filter, over-fetch, fact vectors), cold cache."""
    retriever = KGEFactRetriever(scaled_index(real, facts, index), k=8)
    pairs = real_pairs(real, facts, 512, rng)
    start = time.perf_counter()
    found = retriever.retrieve(pairs)
    seconds = time.perf_counter() - start
    print(json.dumps({"retriever": name, "pairs": len(pairs), "pairs_per_s": round(len(pairs) / seconds),
                      "ms_per_batch_of_16_pairs": round(16000 * seconds / len(pairs), 2),
                      "mean_facts_per_pair": round(float(found.mask.sum(1).mean()), 2)}), flush=True)

if __name__ == "__main__":
    main()
