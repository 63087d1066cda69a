"""Batched FAISS search on the 1M-fact index: queries/s per batch size against recall@10, sweeping nprobe and
the refine k-factor, and the retriever path batched against the trainer's per-step calls.

Vectors as in bench/rex_retrieval_index.py: the real facts of a built index plus random recombinations of their
entities up to ``--n`` facts, keys normalise(u_h + u_t); queries are unit entity vectors (as in training). The
index is the project's choice at that size (rex.retrieval.index.choose_factory) unless ``--factory`` says
otherwise. Ground truth: IndexFlatIP on the same queries. FAISS uses its own OpenMP threads
(``--threads``, default 2) over the queries of one ``search`` call; batch size 1 is the single-query path (one
call per query), measured in the same run.

Every timing line carries wall seconds, process CPU seconds (all threads) and the 1-minute load average.

    python -m bench.rex_retrieval_batched --index /work/out/fact-index --n 1000000 --factory IVF1024,PQ16x8,RFlat \
        --nprobes 32 64 128 192 256 --k-factors 4 8 16 64 --batch-sizes 1 64 1024 8192

Batch size 1 is timed twice: with ``--threads`` OpenMP threads and with one. ``--retriever-params P`` also times
KGEFactRetriever.retrieve (over-fetch, leak filter, fact vectors) with all pairs in one call against 16 pairs per
call (the per-step path) and checks that both retrieve the same facts.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import faiss
import numpy as np

from bench.rex_retrieval_index import real_pairs, recall_at, scaled_facts, scaled_index
from bench.timing import load1
from rex.retrieval.build import fact_keys, unit
from rex.retrieval.index import FactIndex, build_faiss, choose_factory, load_index, set_search_params
from rex.retrieval.retriever import KGEFactRetriever


def timed(fn, *args):
    """(result, wall s, process CPU s) of fn(*args)."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(*args)
    return out, time.perf_counter() - wall, time.process_time() - cpu


def search_batched(index: faiss.Index, queries: np.ndarray, k: int, batch: int) -> np.ndarray:
    """Ids (Q, k) of ``queries`` searched ``batch`` at a time (batch 1: one search call per query)."""
    return np.concatenate([index.search(queries[i : i + batch], k)[1] for i in range(0, len(queries), batch)])


def get_index(keys: np.ndarray, factory: str, cache: str | None) -> tuple[faiss.Index, float]:
    """The approximate index (read from ``cache`` when it exists, else built and written there); build seconds."""
    if cache and os.path.exists(cache):
        return faiss.read_index(cache), float("nan")
    (index, _, _), wall, _ = timed(lambda: build_faiss(keys, factory=factory, search_params="", use_gpu=False))
    if cache:
        faiss.write_index(index, cache)
    return index, wall


def sweep(index: faiss.Index, queries: np.ndarray, truth: np.ndarray, args: argparse.Namespace) -> list[dict]:
    rows = []
    for nprobe in args.nprobes:
        for kf in args.k_factors:
            params = f"nprobe={nprobe},k_factor_rf={kf}"
            set_search_params(index, params)
            row = {"params": params, "nprobe": nprobe, "k_factor_rf": kf}
            for batch in sorted(args.batch_sizes, reverse=True):
                # batch 1 and small batches: a prefix of the queries (enough calls for a stable rate)
                n = len(queries) if batch >= 1024 else min(len(queries), max(batch * 8, args.single_queries))
                found, wall, cpu = timed(search_batched, index, queries[:n], 10, batch)
                if batch == max(args.batch_sizes):
                    row["recall@10"] = round(recall_at(truth, found), 4)
                row[f"qps_b{batch}"] = round(n / wall)
                row[f"cpu_ms_per_q_b{batch}"] = round(1000 * cpu / n, 3)
                row[f"load1_b{batch}"] = round(load1(), 2)
            if 1 in args.batch_sizes:
                # the single-query path with one OpenMP thread (no fork/join per call)
                faiss.omp_set_num_threads(1)
                n = min(len(queries), args.single_queries)
                _, wall, cpu = timed(search_batched, index, queries[:n], 10, 1)
                faiss.omp_set_num_threads(args.threads)
                row["qps_b1_1thread"] = round(n / wall)
                row["cpu_ms_per_q_b1_1thread"] = round(1000 * cpu / n, 3)
                row["batched_over_single"] = round(row[f"qps_b{max(args.batch_sizes)}"] / row["qps_b1"], 1)
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def time_retriever(real: FactIndex, facts: np.ndarray, index: faiss.Index, params: str, pairs_n: int,
                   seed: int) -> None:
    """The whole retrieval path (KGEFactRetriever.retrieve: over-fetch search, leak filter, fact vectors, roles),
    cold cache: all pairs in one call (batched) against 16 pairs per call (the trainer's per-step calls), and the
    retrieved facts compared."""
    set_search_params(index, params)
    scaled = scaled_index(real, facts, index)
    pairs = real_pairs(real, facts, pairs_n, np.random.default_rng(seed), replace=False)
    results = {}
    for name, chunk in (("per-step (16 pairs per call)", 16), ("batched (all pairs, one call)", len(pairs))):
        retriever = KGEFactRetriever(scaled, k=8)
        found, wall, cpu = timed(lambda r=retriever, c=chunk: [r.retrieve(pairs[i : i + c])
                                                               for i in range(0, len(pairs), c)])
        results[name] = [f for r in found for f in r.fact_ids]
        print(json.dumps({"retriever": name, "params": params, "pairs": len(pairs), "queries": 2 * len(pairs),
                          "pairs_per_s": round(len(pairs) / wall), "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                          "load1": round(load1(), 2)}), flush=True)
    same = list(results.values())
    print(json.dumps({"retriever_same_facts": same[0] == same[1]}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--index", required=True, help="an index folder built from the real KB (rex index build)")
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=8192)
    parser.add_argument("--single-queries", type=int, default=512, help="queries timed at batch sizes below 1024")
    parser.add_argument("--factory", default=None, help="default: choose_factory at --n (the project's choice)")
    parser.add_argument("--nprobes", type=int, nargs="+", default=[32, 64, 128, 192, 256])
    parser.add_argument("--k-factors", type=int, nargs="+", default=[8, 16, 32, 64])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 64, 1024, 8192])
    parser.add_argument("--threads", type=int, default=2, help="FAISS OpenMP threads")
    parser.add_argument("--index-cache", default=None, help="write the built index here / read it when present")
    parser.add_argument("--truth-cache", default=None, help="exact top-10 (.npy): written / read when present")
    parser.add_argument("--retriever-params", nargs="*", default=[],
                        help="search params to time the whole retriever path with (e.g. nprobe=192,k_factor_rf=8)")
    parser.add_argument("--retriever-pairs", type=int, default=2048)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    faiss.omp_set_num_threads(args.threads)
    real = load_index(args.index, use_gpu=False)
    facts = scaled_facts(real, args.n, args.seed)
    ent = unit(real.entity_emb)
    keys = fact_keys(ent, facts)
    rng = np.random.default_rng(args.seed + 1)
    queries = np.ascontiguousarray(ent[rng.choice(np.unique(facts[:, 0]), args.queries)])
    factory = args.factory or choose_factory(len(keys), keys.shape[1])[0]
    print(json.dumps({"n": len(keys), "dim": keys.shape[1], "queries": len(queries), "factory": factory,
                      "project_default": "|".join(choose_factory(len(keys), keys.shape[1])),
                      "faiss": faiss.__version__, "faiss_omp_threads": faiss.omp_get_max_threads(),
                      "load1": round(load1(), 2)}), flush=True)
    if args.truth_cache and os.path.exists(args.truth_cache):
        truth = np.load(args.truth_cache, allow_pickle=False)
        assert truth.shape == (len(queries), 10), "the truth cache is of other queries"
    else:
        exact = faiss.IndexFlatIP(keys.shape[1])
        exact.add(keys)
        truth, wall, cpu = timed(lambda: exact.search(queries, 10)[1])
        print(json.dumps({"index": "Flat (exact)", "batch": len(queries), "qps": round(len(queries) / wall),
                          "wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "load1": round(load1(), 2)}), flush=True)
        n1 = min(len(queries), 64)
        _, wall, cpu = timed(search_batched, exact, queries[:n1], 10, 1)
        print(json.dumps({"index": "Flat (exact)", "batch": 1, "qps": round(n1 / wall), "wall_s": round(wall, 1),
                          "cpu_s": round(cpu, 1), "load1": round(load1(), 2)}), flush=True)
        del exact
        if args.truth_cache:
            np.save(args.truth_cache, truth, allow_pickle=False)
    index, built = get_index(keys, factory, args.index_cache)
    print(json.dumps({"index": factory, "build_s": round(built, 1), "load1": round(load1(), 2)}), flush=True)
    rows = sweep(index, queries, truth, args)
    big = max(args.batch_sizes)
    ok = [r for r in rows if r["recall@10"] >= 0.95]
    if ok:
        best = max(ok, key=lambda r: r[f"qps_b{big}"])
        print(json.dumps({"best_at_recall>=0.95": best["params"], "recall@10": best["recall@10"],
                          f"qps_b{big}": best[f"qps_b{big}"], "qps_b1": best.get("qps_b1")}), flush=True)
    for params in args.retriever_params:
        time_retriever(real, facts, index, params, args.retriever_pairs, args.seed + 2)


if __name__ == "__main__":
    main()
