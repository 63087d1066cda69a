"""Data-loading throughput of rex: bag-cache build, bag iteration, tokenised batches; peak memory.

The peer in the same run is a bare pyarrow.dataset scan of the same columns (the I/O floor); every rex
figure is also given as a ratio to it. Shards: ``--shards`` (real ones), else synthetic shards of
``--rows`` rows written to a temp dir (the real SHARD_SCHEMA; only the text content is synthetic).

    python -m bench.rex_data_bench --rows 300000
    python -m bench.rex_data_bench --shards /work/out/shards-real
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

from torch.utils.data import DataLoader

from rex.config import DataConfig
from rex.data import BagBatches, build_bag_cache, resolve_shards
from rex.data.shards import COLUMNS, open_shard
from rex.encoder.scratch import train_spm
from rex.synthetic import write_synthetic_shards


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


CPU: dict[str, float] = {}


def timed(fn, name: str = ""):
    """Run fn; return (result, wall seconds) and keep this process's CPU seconds under ``name``."""
    start, cpu = time.perf_counter(), time.process_time()
    out = fn()
    CPU[name] = time.process_time() - cpu
    return out, time.perf_counter() - start


def per_cpu(rows: int, name: str) -> str:
    """Rows per CPU-second of this process: less distorted than wall time on a machine shared with other jobs."""
    return f"{rows / max(CPU[name], 1e-9):,.0f} rows/CPU-s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shards", nargs="+")
    parser.add_argument("--rows", type=int, default=300_000, help="synthetic rows when --shards is not given")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rex-bench-") as tmp:
        roots = args.shards
        if not roots:
            pairs = args.rows // 5  # ~5 rows per pair: 2 en + 2 de twins + 1/3 direct de
            write_synthetic_shards(Path(tmp) / "shards", num_pairs=pairs, files_per_split=8)
            roots = [str(Path(tmp) / "shards")]
        files = resolve_shards(roots)
        cfg = DataConfig(shards=roots, partition_rows=50_000)

        def floor_scan():
            return sum(b.num_rows for f in files for b in open_shard(f).to_batches(columns=COLUMNS))

        total, t_floor = timed(floor_scan, "floor")
        print(f"shards: {len(files)} files, {total} rows")
        print(f"peer  pyarrow.dataset scan (same columns): {total / t_floor:,.0f} rows/s, {per_cpu(total, 'floor')}")
        cache, t_build = timed(lambda: build_bag_cache(files, "train", cfg, Path(tmp) / "cache"), "build")
        rows = cache.num_rows
        print(f"rex   bag-cache build (train split, {rows} rows, {cache.num_bags} bags, "
              f"{len(cache.meta['partitions'])} partitions): {rows / t_build:,.0f} rows/s "
              f"({rows / t_build / (total / t_floor):.2f}x floor), {per_cpu(rows, 'build')}")
        n, t_iter = timed(lambda: sum(len(b) for b in cache.iter_bags(0, 0, True, 2)), "iter")
        print(f"rex   bag iteration (shuffled epoch): {n / t_iter:,.0f} rows/s ({n / t_iter / (total / t_floor):.2f}x "
              f"floor), {per_cpu(n, 'iter')}")
        sample = (text for p in range(min(2, len(cache.meta["partitions"])))
                  for bag in cache.read_partition(p) for text in bag.column("text"))
        tokenizer = train_spm(sample, vocab_size=8000)
        for workers in args.workers:
            data = BagBatches(cache, tokenizer, cache.labels, batch_size=32, max_length=128, max_bag_size=16,
                              seed=0, shuffle=True)
            loader = DataLoader(data, batch_size=None, num_workers=workers)
            inst, t_batches = timed(lambda loader=loader: sum(b["input_ids"].shape[0] for b in loader), "batches")
            print(f"rex   tokenised batches, {workers} workers: {inst / t_batches:,.0f} rows/s "
                  f"({inst / t_batches / (total / t_floor):.2f}x floor)"
                  + (f", {per_cpu(inst, 'batches')}" if workers == 0 else ""))
        print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(f"peak RSS: {peak_mb():,.0f} MB")


if __name__ == "__main__":
    main()
