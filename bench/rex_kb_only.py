"""KB-only control for the retrieval runs of bench/rex_quality.py: how far do the retrieved facts go without the text?

A bag (ordered entity pair) gets the k facts the rex trainer's retriever returns for it (same index, same k, same
exclusions: the facts of the pair itself and of every dev/test pair are never returned). Features: the mean of the
fact vectors the model sees ([u_h; u_r; u_t], F = 3d) and symbolic indicators, for each fact, of its relation and
of which entity of the pair it is attached to and on which side (e.g. ``head-as-subject:P47``). One-vs-rest
logistic regression, class-balanced (as BoW-LR), trained on the train bags; every instance of a test bag gets its
bag's scores, so the scoring (bags, language views, metrics) is exactly bench/rex_quality.py's.

    python -m bench.rex_kb_only --shards ... --retrieval-index /work/out/fact-index-run4 --out /work/out/kb-only
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

from bench.rex_quality import bench_config, fact_matrices, grouped, instances, ovr_probs, table
from rex.config import RetrievalConfig
from rex.data import build_bag_cache, resolve_shards
from rex.evaluate import metrics_from_scores
from rex.retrieval.policy import build_retriever


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shards", nargs="+", required=True)
    parser.add_argument("--retrieval-index", required=True)
    parser.add_argument("--retrieval-k", type=int, default=8)
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--cache-dir", default=None, help="bag-cache folder (e.g. a rex_quality run's OUT/bag-cache)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    # the data settings of bench/rex_quality.py (the bag caches are shared if --out is the same folder)
    qargs = argparse.Namespace(max_length=args.max_length, min_confidence=0.0, keep_duplicates=False, vocab=4000,
                               hidden=64, layers=2, aggregator="att", threshold=args.threshold, pos_weight=1.0,
                               lr=1e-3, cpu_threads=1, seed=args.seed)
    base = bench_config(args.shards, 10, 0.0, qargs)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    files = resolve_shards(args.shards)
    cache_dir = args.cache_dir or out / "bag-cache"
    caches = {s: build_bag_cache(files, s, base.data, cache_dir) for s in ("train", "dev", "test")}
    labels = caches["train"].labels
    retriever = build_retriever(RetrievalConfig(enabled=True, index_dir=args.retrieval_index, k=args.retrieval_k),
                                "train", heldout_pairs=caches["dev"].pairs() | caches["test"].pairs())
    start = time.perf_counter()
    x_train, x_test = fact_matrices(retriever, caches, args.seed)
    train_labels = [bag.labels for bag in caches["train"].iter_bags(args.seed, 0, shuffle=False)]
    bag_probs = ovr_probs(x_train, train_labels, x_test, labels)
    test_rows = instances(caches["test"], base.data.eval_max_bag_size, args.seed)
    probs = bag_probs[[row[0] for row in test_rows]]
    results = {"KB-only-LR": metrics_from_scores(grouped(test_rows, probs, labels), args.threshold)}
    elapsed = time.perf_counter() - start
    print(table(results))
    print(f"train bags {x_train.shape[0]}, test bags {x_test.shape[0]}, features {x_train.shape[1]}, {elapsed:.0f} s")
    (out / "results.json").write_text(json.dumps({"results": results, "args": vars(args), "seconds": elapsed},
                                                 indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
