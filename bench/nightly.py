"""Nightly job benchmark: incremental shard building and warm-start training.

    nice -n 10 python -m bench.nightly --out /tmp/bench-nightly [--repeat 8 24] [--steps 300] [--skip-train]

A. Pipeline stage, once per ``--repeat`` (template passes per span: 8 gives ~2,000 pairs a span). 7 template spans
   (nightly.synthetic) of equal size. 6 are processed (night 1's shard step), then the 7th arrives: the incremental
   shard step (1 pipeline run, 6 units recognised complete) is measured against (a) rebuilding all 7 spans the way
   the job does after a KB change (7 runs) and (b) one pipeline run over all 7 spans' files. Target: incremental
   <= 1.5 x its 1/7 share. A pipeline run over the first 20 pairs of one span measures the fixed cost of a run.
   Every figure is wall time and process CPU time (this process's threads, where the FnApiRunner works, plus
   the eflomal subprocesses), with the 1-minute load average before and after: other jobs share the cores.
B. Training. A champion is trained from scratch on spans 1-6. On spans 1-7, a scratch model and a model
   warm-started from the champion train for the same budget with a dev evaluation every --eval-every steps;
   reported: the steps (and the wall time, pro rata) each needs to first reach the scratch run's best dev PR-AUC.
Prints one JSON object.

``--ab-tree DIR --ab-repeats N`` instead compares the pipeline runs behind the incremental ratio between another
checkout (e.g. the code before a change, ``git archive REV | tar -x -C DIR``) and this one: for each ``--repeat``,
child processes from each tree alternately (A B A B), each one in-process and warm (a 20-pair run first, as in a
night's process), timing a run over the newest span and a run over all 7 spans (CPU of the child's threads and
its eflomal children, the eflomal children's part alone, wall, load).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from nightly.config import NightlyConfig
from nightly.night import Night
from nightly.synthetic import write_kb, write_span
from pipelines.distant_supervision import run as run_pipeline

SOURCE = {"name": "en-de", "pattern": "en-de*.jsonl", "format": "jsonl", "src_lang": "en", "tgt_langs": ["de"]}


def config(root: Path, bitext: Path, work: str) -> NightlyConfig:
    return NightlyConfig.from_dict({
        "bitext": {"root": str(bitext), "sources": [SOURCE]}, "kb": {"dir": str(root / "kb")},
        "work_dir": str(root / work), "registry": str(root / f"{work}-registry"),
        "pipeline": {"args": ["--no-relation-rate", "1.0"]}, "rex": {"preset": "quick"}})


def cpu_seconds() -> float:
    """User + system CPU of this process (all threads) and of its finished children (eflomal)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def measured(fn: Callable[[], dict | None]) -> dict:
    """Run ``fn``; its result plus wall and CPU seconds and the load average before and after."""
    load, wall, cpu = os.getloadavg()[0], time.perf_counter(), cpu_seconds()
    out = fn() or {}
    return {**out, "wall": round(time.perf_counter() - wall, 2), "cpu": round(cpu_seconds() - cpu, 2),
            "load1": [round(load, 2), round(os.getloadavg()[0], 2)]}


def shard_step(cfg: NightlyConfig, night: str) -> dict:
    """Plan, then the measured shard step of one night (no training); units built / skipped."""
    n = Night(cfg, night)
    n.state = n._load_state()
    n.step_plan()

    def shards() -> dict:
        n.step_shards()
        out = n.step_out("shards")
        return {"built": len(out["built"]), "skipped": len(out["skipped"]),
                "pipeline_wall": round(sum(v["seconds"] for v in out["built"].values()), 2)}

    return measured(shards)


def one_run(root: Path, files: list[str], output: str) -> dict:
    argv = [x for f in files for x in ("--input", f)]
    return measured(lambda: run_pipeline(argv + [
        "--input-format", "jsonl", "--src-lang", "en", "--tgt-lang", "de", "--kb", str(root / "kb"),
        "--output", str(root / output), "--no-relation-rate", "1.0"]) and None)


def ratio(part: dict, whole: dict, key: str) -> float:
    return round(part[key] / (whole[key] / 7), 2)


def pipeline_part(root: Path, repeat: int) -> dict:
    kb = write_kb(root / "kb", people=200, cities=30, countries=6)
    bitext = root / "bitext"
    for i in range(6):
        write_span(bitext, f"2024-01-0{i + 1}", kb, seed=i + 1, repeat=repeat)
    cfg = config(root, bitext, "work")
    night1 = shard_step(cfg, "n1")
    write_span(bitext, "2024-01-07", kb, seed=7, repeat=repeat)
    incremental = shard_step(cfg, "n2")
    full = shard_step(config(root, bitext, "work-full"), "full")
    files = sorted(str(p) for p in bitext.glob("*/en-de.jsonl"))
    single = one_run(root, files, "one-run")
    probe = root / "probe.jsonl"
    probe.write_text("".join(open(files[0], encoding="utf-8").readlines()[:20]), encoding="utf-8")
    fixed = one_run(root, [str(probe)], "probe-run")
    lines = sum(sum(1 for _ in open(f, encoding="utf-8")) for f in files)
    return {"repeat": repeat, "pairs_total": lines, "night1_6_spans": night1, "incremental_1_span": incremental,
            "full_rebuild_7_runs": full, "one_run_7_spans": single, "fixed_cost_20_pair_run": fixed,
            "incremental_over_share_of_full": {"wall": ratio(incremental, full, "wall"),
                                               "cpu": ratio(incremental, full, "cpu")},
            "incremental_over_share_of_one_run": {"wall": ratio(incremental, single, "wall"),
                                                  "cpu": ratio(incremental, single, "cpu")}}


_CHILD = """
import json, os, resource, sys, time
from pipelines.distant_supervision import run
def cpu():
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
def kids_cpu():
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return kids.ru_utime + kids.ru_stime
kb, out, probe, newest, *files = sys.argv[1:]
def one(name, inputs):
    argv = [x for f in inputs for x in ("--input", f)] + ["--input-format", "jsonl", "--src-lang", "en", "--tgt-lang",
            "de", "--kb", kb, "--output", os.path.join(out, name), "--no-relation-rate", "1.0", "--overwrite"]
    load, wall, used, kids = os.getloadavg()[0], time.perf_counter(), cpu(), kids_cpu()
    run(argv)
    return {"cpu": round(cpu() - used, 2), "eflomal_cpu": round(kids_cpu() - kids, 2),
            "wall": round(time.perf_counter() - wall, 2),
            "load1": [round(load, 2), round(os.getloadavg()[0], 2)]}
result = {"warm_up_20_pairs": one("probe", [probe]), "fixed_cost_20_pairs": one("probe2", [probe]),
          "newest_span": one("newest", [newest]), "all_7_spans": one("all", files)}
print(json.dumps(result))
"""


def ab_part(root: Path, repeat: int, old: Path, repeats: int) -> list[dict]:
    """Warm in-process runs (20 pairs, the newest span, all 7 spans) from ``old`` and this checkout, alternately."""
    import subprocess
    import sys

    kb = write_kb(root / "kb", people=200, cities=30, countries=6)
    bitext = root / "bitext"
    for i in range(7):
        write_span(bitext, f"2024-01-0{i + 1}", kb, seed=i + 1, repeat=repeat)
    files = sorted(str(p) for p in bitext.glob("*/en-de.jsonl"))
    probe = root / "probe.jsonl"
    probe.write_text("".join(open(files[0], encoding="utf-8").readlines()[:20]), encoding="utf-8")
    here, out = Path(__file__).resolve().parent.parent, []
    for k in range(repeats):
        for label, tree in (("before", old), ("after", here)):
            argv = [sys.executable, "-c", _CHILD, str(root / "kb"), str(root / f"ab-{label}"), str(probe), files[-1],
                    *files]
            done = subprocess.run(argv, cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)}, check=True,
                                  capture_output=True, text=True)
            r = json.loads(done.stdout.strip().splitlines()[-1])
            r.update({"tree": label, "run": k + 1, "repeat": repeat,
                      "newest_over_share_of_all": round(r["newest_span"]["cpu"] / (r["all_7_spans"]["cpu"] / 7), 2)})
            print(json.dumps(r), flush=True)
            out.append(r)
    return out


def dev_curve(out_dir: Path) -> list[tuple[int, float]]:
    curve = []
    for line in (out_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        if rec.get("split") == "dev" and "all/pr_auc" in rec:
            curve.append((rec["step"], rec["all/pr_auc"]))
    return curve


def first_reaching(curve: list[tuple[int, float]], target: float) -> int | None:
    return next((step for step, value in curve if value >= target - 1e-9), None)


def training_part(root: Path, steps: int, eval_every: int) -> dict:
    from rex.api import quick_config, train

    shards = sorted(str(p) for p in (root / "work" / "shards").glob("*/en-de"))
    six, seven = shards[:6], shards
    overrides = {"eval_every": eval_every, "save_every": steps, "patience": 0}

    def run(name: str, dirs: list[str], init_from: str | None) -> dict:
        cfg = quick_config(dirs, steps, **overrides)
        cfg.train.init_from = init_from
        out = root / "train" / name
        if out.exists():
            shutil.rmtree(out)
        started = time.perf_counter()
        train(cfg, out)
        return {"seconds": round(time.perf_counter() - started, 2), "curve": dev_curve(out), "out": out}

    champion = run("champion-6", six, None)
    scratch = run("scratch-7", seven, None)
    warm = run("warm-7", seven, str(champion["out"] / "model"))
    target = max(v for _, v in scratch["curve"])
    result = {"target_dev_pr_auc": round(target, 4), "steps_budget": steps, "eval_every": eval_every}
    for name, r in (("scratch", scratch), ("warm", warm)):
        step = first_reaching(r["curve"], target)
        result[name] = {"steps_to_target": step, "seconds_total": r["seconds"],
                        "seconds_to_target_pro_rata": round(r["seconds"] * step / steps, 2) if step else None,
                        "best_dev_pr_auc": round(max(v for _, v in r["curve"]), 4),
                        "curve": [(s, round(v, 4)) for s, v in r["curve"]]}
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="/tmp/bench-nightly")
    parser.add_argument("--repeat", type=int, nargs="+", default=[8],
                        help="Template passes per span (size of a span); one pipeline benchmark per value.")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--eval-every", type=int, default=25)
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--ab-tree", type=Path, default=None, help="compare the pipeline runs with this checkout")
    parser.add_argument("--ab-repeats", type=int, default=2)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    root = Path(args.out)
    if root.exists():
        shutil.rmtree(root)
    if args.ab_tree:
        return {"ab": [r for repeat in args.repeat for r in ab_part(root / f"repeat-{repeat}", repeat, args.ab_tree,
                                                                    args.ab_repeats)]}
    result = {"cores": os.cpu_count(), "pipeline": []}
    for repeat in args.repeat:
        result["pipeline"].append(pipeline_part(root / f"repeat-{repeat}", repeat))
        print(json.dumps(result["pipeline"][-1]), flush=True)
    if not args.skip_train:
        result["training"] = training_part(root / f"repeat-{args.repeat[0]}", args.steps, args.eval_every)
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
