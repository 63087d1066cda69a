"""Retrieval inside real rex training: overhead per step and the with/without ablation on the test split.

Two trainings with the same seed, data, steps and config (rex.api.quick_config: the from-scratch
sentencepiece + Transformer encoder), one without and one with KB fact retrieval + FactFusion. The
with-retrieval run times every KGEFactRetriever.retrieve call and every Trainer._micro_step (forward +
backward of one batch, retrieval included) by wrapping the real methods, so the overhead is measured
inside real training steps.

    python -m bench.rex_retrieval_train --shards /work/out/shards-real \
        --index /work/out/retrieval/xfactr-transe64 --steps 600 --out bench/out/retrieval-train
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from rex.api import quick_config, train
from rex.config import RetrievalConfig
from rex.retrieval.retriever import KGEFactRetriever
from rex.trainer import Trainer

TIMES: dict[str, list[float]] = {"retrieve": [], "step": []}


def _timed(name: str, fn):
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            TIMES[name].append(time.perf_counter() - start)

    return wrapper


def run(args: argparse.Namespace, with_retrieval: bool) -> dict:
    config = quick_config([args.shards], steps=args.steps, seed=args.seed, eval_every=args.steps)
    if with_retrieval:
        config.model = dataclasses.replace(config.model, retrieval=RetrievalConfig(index_dir=args.index, k=args.k))
    for times in TIMES.values():
        times.clear()
    start = time.perf_counter()
    metrics = train(config, Path(args.out) / ("with" if with_retrieval else "without"))
    seconds = time.perf_counter() - start
    steps = list(TIMES["step"])
    retrieve = list(TIMES["retrieve"])
    return {"metrics": metrics, "seconds": seconds, "step_times": steps, "retrieve_times": retrieve}


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
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shards", required=True)
    parser.add_argument("--index", required=True)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="bench/out/retrieval-train")
    parser.add_argument("--runs", nargs="+", choices=("without", "with"), default=["without", "with"],
                        help="which trainings to run (separate processes can run them in parallel)")
    args = parser.parse_args()
    KGEFactRetriever.retrieve = _timed("retrieve", KGEFactRetriever.retrieve)
    Trainer._micro_step = _timed("step", Trainer._micro_step)
    for name in args.runs:
        row = summary(f"{name} retrieval", run(args, name == "with"))
        print(json.dumps(row), flush=True)
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / f"summary-{name}.json").write_text(json.dumps(row, indent=1))


if __name__ == "__main__":
    main()
