"""Training throughput of the default from-scratch encoder on this machine: examples/s and peak memory.

Runs the real trainer (rex.api.train: data loader, model, AdamW, clipping) for ``--steps`` steps per setting
and reads the examples/s it logs (metrics.jsonl, the first log window dropped as warm-up). Settings compared
in the same run: torch CPU threads 1 vs the torch default, and the data loader with 0 vs 2 workers.

    python -m bench.rex_train_bench --shards /work/out/shards-real --steps 60
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

from rex.api import train
from rex.config import DataConfig, EncoderConfig, ModelConfig, RexConfig, TrainConfig
from rex.synthetic import write_synthetic_shards


def run(shards: list[str], out: Path, steps: int, threads: int, workers: int, cache: Path) -> dict:
    cfg = RexConfig(
        data=DataConfig(shards=shards, num_workers=workers, cache_dir=str(cache)),
        encoder=EncoderConfig(),  # the defaults: 8k sentencepiece, 2 x 256 Transformer
        model=ModelConfig(aggregator="att"),
        train=TrainConfig(max_steps=steps, warmup_steps=5, log_every=10, eval_every=10**6, save_every=10**6,
                          progress=False, cpu_threads=threads),
    )
    start = time.perf_counter()
    train(cfg, out)
    wall = time.perf_counter() - start
    logs = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    rates = [r["examples_per_s"] for r in logs if "examples_per_s" in r][1:]
    return {"examples_per_s": sum(rates) / max(1, len(rates)), "wall_s": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shards", nargs="+")
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rex-train-bench-") as tmp:
        shards = args.shards or [str(write_synthetic_shards(Path(tmp) / "shards", num_pairs=3000))]
        settings = [(1, 0), (0, 0), (1, 2)]
        for threads, workers in settings:
            res = run(shards, Path(tmp) / f"t{threads}w{workers}", args.steps, threads, workers, Path(tmp) / "cache")
            label = f"threads={'default' if threads == 0 else threads} workers={workers}"
            print(f"{label}: {res['examples_per_s']:.1f} examples/s (instances), wall {res['wall_s']:.0f} s "
                  f"for {args.steps} steps incl. setup")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"peak RSS: trainer process {peak:,.0f} MB, largest loader worker {children:,.0f} MB")


if __name__ == "__main__":
    main()
