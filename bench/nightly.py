"""Nightly job benchmark: incremental shard building and warm-start training.

    nice -n 10 python -m bench.nightly --out /tmp/bench-nightly [--repeat 8 24] [--steps 300] [--skip-train]

A. Pipeline stage (the night's priors and shards steps), once per ``--repeat`` (template passes per span: 8 gives
   ~2,000 pairs a span). 7 template spans (nightly.synthetic) of equal size. Night 1 fits the source's eflomal
   priors over 6 spans and builds them; then the 7th arrives. ``--rounds`` times, alternately: the incremental
   night (stored priors reused, 1 pipeline run, 6 units recognised complete), a plain pipeline run over the 7th
   span alone (its own priors run: what a night without stored priors pays) and one pipeline run over all 7
   spans' files. Target: the incremental night <= 1.5 x its 1/7 share of that one run. Then a night that refits
   the priors (over 7 spans) before building the 7th (what a night pays when the source has doubled), the job's
   full rebuild of all 7 spans (a fit and 7 runs, as after a KB change) and a 20-pair run (the fixed cost of a
   run). Every figure is wall time and process CPU time (this process's threads, where the FnApiRunner works,
   plus the eflomal subprocesses), with the 1-minute load average before and after, and the projection share.
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
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.timing import cpu_seconds, load1
from nightly.config import NightlyConfig
from nightly.night import Night
from nightly.shards import projection_share
from nightly.synthetic import write_kb, write_span
from pipelines.commit import read_manifest
from pipelines.distant_supervision import run as run_pipeline

SYNTHETIC = {"name": "en-de", "pattern": "en-de*.jsonl", "format": "jsonl", "src_lang": "en", "tgt_langs": ["de"]}
REAL = {"name": "en-de", "pattern": "en-de*.tsv", "format": "tsv", "src_lang": "en", "tgt_langs": ["de"]}


@dataclass
class World:
    """Where one benchmark's spans, KB and outputs are, and the source that reads the spans."""

    root: Path
    kb: Path
    source: dict

    @property
    def bitext(self) -> Path:
        return self.root / "bitext"

    def files(self) -> list[str]:
        return sorted(str(p) for p in self.bitext.glob(f"*/{self.source['pattern']}"))


def config(world: World, work: str, **pipeline) -> NightlyConfig:
    return NightlyConfig.from_dict({
        "bitext": {"root": str(world.bitext), "sources": [world.source]}, "kb": {"dir": str(world.kb)},
        "work_dir": str(world.root / work), "registry": str(world.root / f"{work}-registry"),
        "pipeline": {"args": ["--no-relation-rate", "1.0"], **pipeline}, "rex": {"preset": "quick"}})


def synthetic_world(root: Path, repeat: int) -> tuple[World, Callable[[], None]]:
    """Template spans over a generated KB: 6 written now, the 7th by the returned function."""
    kb = write_kb(root / "kb", people=200, cities=30, countries=6)
    for i in range(6):
        write_span(root / "bitext", f"2024-01-0{i + 1}", kb, seed=i + 1, repeat=repeat)
    return World(root, root / "kb", SYNTHETIC), lambda: write_span(root / "bitext", "2024-01-07", kb, seed=7,
                                                                    repeat=repeat) and None


def real_world(root: Path) -> tuple[World, Callable[[], None]]:
    """All EN-DE news bitext of ../shared/data (ntrex128, wmt-news; bench.data.extra_bitext), shuffled with a fixed
    seed and cut into 7 equal TSV spans, and the X-FACTR KB: 6 spans written now, the 7th by the function."""
    from bench.data import extra_bitext
    from bench.paths import SHARED_DATA

    pairs = sorted({(s, t) for s, t in extra_bitext("en", "de", europarl=False, tokenize=str.strip)
                    if s and t and "\t" not in s + t})
    random.Random(0).shuffle(pairs)
    size = len(pairs) // 7

    def write(i: int) -> None:
        folder = root / "bitext" / f"2024-01-0{i + 1}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "en-de.tsv").write_text("".join(f"{s}\t{t}\n" for s, t in pairs[i * size:(i + 1) * size]),
                                          encoding="utf-8")

    for i in range(6):
        write(i)
    return World(root, SHARED_DATA / "xfactr-kb", REAL), lambda: write(6)


def measured(fn: Callable[[], dict | None]) -> dict:
    """Run ``fn``; its result plus wall and CPU seconds and the load average before and after."""
    load, wall, cpu = load1(), time.perf_counter(), cpu_seconds()
    out = fn() or {}
    return {**out, "wall": round(time.perf_counter() - wall, 2), "cpu": round(cpu_seconds() - cpu, 2),
            "load1": [round(load, 2), round(load1(), 2)]}


def shard_step(cfg: NightlyConfig, night: str) -> dict:
    """Plan, then the measured pipeline stage of one night (priors, then shards; no training): units built /
    skipped, whether the priors were fitted, and the projection share of what was built."""
    n = Night(cfg, night)
    n.state = n._load_state()
    n.step_plan()

    def stage() -> dict:
        n.step_priors()
        n.step_shards()
        out, priors = n.step_out("shards"), n.step_out("priors").get("sources", {})
        return {"built": len(out["built"]), "skipped": len(out["skipped"]),
                "priors_refit": [k for k, v in priors.items() if v["refit"]],
                "priors_seconds": round(sum(v["seconds"] for v in priors.values()), 2),
                "pipeline_wall": round(sum(v["seconds"] for v in out["built"].values()), 2),
                "projection_share": {k: v["projection_share"] for k, v in out["built"].items()}}

    return measured(stage)


def one_run(world: World, files: list[str], output: str) -> dict:
    """A plain pipeline run (its own priors run) over ``files``, in-process."""
    argv = [x for f in files for x in ("--input", f)]
    out = str(world.root / output)
    result = measured(lambda: run_pipeline(argv + [
        "--input-format", world.source["format"], "--src-lang", "en", "--tgt-lang", "de", "--kb", str(world.kb),
        "--output", out, "--no-relation-rate", "1.0", "--overwrite"]) and None)
    return {**result, "projection_share": projection_share(out, read_manifest(out))}


def ratio(part: dict, whole: dict, key: str) -> float:
    return round(part[key] / (whole[key] / 7), 2)


def pipeline_part(world: World, seventh: Callable[[], None], rounds: int) -> dict:
    """Night 1 builds 6 spans; then, ``rounds`` times alternately, the incremental night (the 7th span, stored
    priors reused), a plain run over the 7th span alone (its own priors run) and one run over all 7 spans; then a
    night that refits the priors, the job's full rebuild of 7 spans, and a 20-pair run (fixed cost)."""
    cfg = config(world, "work")
    night1 = shard_step(cfg, "n1")
    seventh()
    files = world.files()
    newest = Path(cfg.shards_root) / "2024-01-07"
    rounds_out = []
    for k in range(rounds):
        if newest.exists():
            shutil.rmtree(newest)  # the 7th span is new again
        incremental = shard_step(cfg, f"n2-{k + 1}")
        own = one_run(world, files[-1:], "own-priors-run")
        single = one_run(world, files, "one-run")
        rounds_out.append({
            "incremental_1_span": incremental, "newest_span_own_priors_run": own, "one_run_7_spans": single,
            "incremental_over_share_of_one_run": {"wall": ratio(incremental, single, "wall"),
                                                  "cpu": ratio(incremental, single, "cpu")},
            "own_priors_run_over_share_of_one_run": {"wall": ratio(own, single, "wall"),
                                                     "cpu": ratio(own, single, "cpu")}})
        print(json.dumps({"round": k + 1, **rounds_out[-1]}), flush=True)
    shutil.rmtree(newest)
    refit = shard_step(config(world, "work", priors_refit_growth=0.0), "n3-refit")
    full = shard_step(config(world, "work-full"), "full")
    probe = world.root / f"probe.{world.source['format']}"
    probe.write_text("".join(open(files[0], encoding="utf-8").readlines()[:20]), encoding="utf-8")
    fixed = one_run(world, [str(probe)], "probe-run")
    lines = sum(sum(1 for _ in open(f, encoding="utf-8")) for f in files)
    share = sorted(r["incremental_over_share_of_one_run"]["cpu"] for r in rounds_out)
    single_cpu = sorted(r["one_run_7_spans"]["cpu"] for r in rounds_out)[len(rounds_out) // 2]
    return {"pairs_total": lines, "night1_6_spans": night1, "rounds": rounds_out,
            "incremental_with_refit_1_span": refit, "full_rebuild_7_runs": full, "fixed_cost_20_pair_run": fixed,
            "incremental_over_share_of_one_run_cpu": share,
            "own_priors_run_over_share_of_one_run_cpu": sorted(
                r["own_priors_run_over_share_of_one_run"]["cpu"] for r in rounds_out),
            "refit_night_over_share_of_one_run_cpu": round(refit["cpu"] / (single_cpu / 7), 2),
            "incremental_over_share_of_full_rebuild_cpu": [ratio(r["incremental_1_span"], full, "cpu")
                                                           for r in rounds_out]}


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
    parser.add_argument("--real", action="store_true",
                        help="the pipeline part on real EN-DE news (../shared/data) and the X-FACTR KB instead of "
                             "template spans (--repeat is then ignored)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="incremental nights, plain runs of the newest span and 7-span runs, alternately")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    root = Path(args.out)
    if root.exists():
        shutil.rmtree(root)
    if args.ab_tree:
        return {"ab": [r for repeat in args.repeat for r in ab_part(root / f"repeat-{repeat}", repeat, args.ab_tree,
                                                                    args.ab_repeats)]}
    result = {"cores": os.cpu_count(), "pipeline": []}
    worlds = [real_world(root / "real")] if args.real else [
        synthetic_world(root / f"repeat-{repeat}", repeat) for repeat in args.repeat]
    for world, seventh in worlds:
        result["pipeline"].append({"spans": str(world.bitext), **pipeline_part(world, seventh, args.rounds)})
        print(json.dumps(result["pipeline"][-1]), flush=True)
    if not args.skip_train:
        result["training"] = training_part(worlds[0][0].root, args.steps, args.eval_every)
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
