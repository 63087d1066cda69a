"""Aggregate a py-spy raw profile of a pipeline run into CPU shares per stage.

    py-spy record --subprocesses --full-filenames --nolineno -f raw -o prof.txt -- \\
        .venv/bin/python -m pipelines.distant_supervision ...
    python -m bench.pyspy_shares prof.txt [--by-process] [--top 25]

py-spy samples every running (not idle) Python thread of the launcher and of its Python children (Beam's SDK
worker processes in multi_processing mode); the eflomal binary is not Python and is not sampled, so its CPU has
to come from the process tree's accounting (bench.pipeline splits it off).

A sample goes to the stage of the deepest frame from the project's own modules (pipelines/, alignment/,
schemas/) on its stack, unless a Beam frame lies between that frame and the leaf: then it is Beam's work
(the element's way to the next DoFn, coders, the data plane), as is a sample with no project frame at all.
Samples inside module imports count as "imports / process start".
"""

from __future__ import annotations

import argparse
import re
from collections import Counter, defaultdict

# (category, path fragments of the project's modules), first match wins
STAGES = (
    ("validate", ("pipelines/validate.py", "pipelines/normalize.py")),
    ("tokenize", ("pipelines/tokenize.py",)),
    ("link", ("pipelines/link.py", "pipelines/alias_matcher.py")),
    ("label", ("pipelines/label.py",)),
    ("project", ("pipelines/project.py", "alignment/projection/")),
    ("eflomal (Python side: files, parsing, priors)", ("pipelines/aligners.py", "alignment/word/")),
    ("read", ("pipelines/read.py",)),
    ("split", ("pipelines/split.py",)),
    ("write (Arrow batches, Parquet, manifest, commit, report)", (
        "pipelines/write.py", "pipelines/manifest.py", "pipelines/commit.py", "pipelines/report.py",
        "pipelines/kb_tables.py", "schemas/")),
    ("KB and matcher loading", ("pipelines/resources.py",)),
    ("record coders (pipelines.records)", ("pipelines/records.py",)),
    ("dead-letter routing, counters, progress", ("pipelines/deadletter.py", "pipelines/progress.py")),
    ("launcher (options, lock, pipeline build)", ("pipelines/config.py", "pipelines/lock.py")),
)
# one-off loads, whichever stage's DoFn.setup (or first element) triggers them
SETUP_FUNCS = (".setup", "Shared.acquire", "build_resources", "load_run_kb", "load_kb", "cached_matcher",
               "Tokenizer.initialize", "_identifier", "Tokenizers.__init__", "spacy.load")
LAUNCHER = "pipelines/distant_supervision.py"  # the root of every launcher stack: not a stage
PROJECT = ("/pipelines/", "/alignment/", "/schemas/")
FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*)\)$")


def frame_file(frame: str) -> str:
    match = FRAME.match(frame)
    return match.group("file") if match else ""


def is_project(path: str) -> bool:
    return "site-packages" not in path and any(part in path for part in PROJECT)


def classify(frames: list[str]) -> str:
    """The category of one stack (root first)."""
    files = [frame_file(f) for f in frames]
    if any("importlib._bootstrap" in path for path in files):
        return "imports / process start"
    funcs = [f.rpartition(" (")[0] for f in frames]
    if any(f.endswith(SETUP_FUNCS) for f in funcs):
        return "setup: KB, matchers, spaCy, jieba, language id (per process)"
    deepest = max((k for k, path in enumerate(files) if is_project(path) and LAUNCHER not in path), default=None)
    if deepest is None and not any("apache_beam" in path for path in files):
        return "launcher (options, lock, pipeline build)" if any(LAUNCHER in path for path in files) else "other"
    if deepest is None:
        if any("apache_beam/coders" in path for path in files):
            return "Beam framework: coders"
        if any("objsize" in path or "statecache" in path for path in files):
            return "Beam framework: state cache sizing of side inputs (objsize)"
        if any("grpc" in path for path in files):
            return "Beam framework: gRPC data/control plane"
        return "Beam framework: other (runner, bundles, GroupByKey, side inputs)"
    below = files[deepest + 1:]
    if any("apache_beam" in path for path in below):
        if any("apache_beam/coders" in path for path in below):
            return "Beam framework: coders"
        if any("pipelines/records.py" in f for f in files):
            return "record coders (pipelines.records)"
        return "Beam framework: element passing between fused DoFns"
    for name, fragments in STAGES:
        if any(fragment in files[deepest] for fragment in fragments):
            return name
    return "other project code"


def read_raw(path: str):
    """(process label, frames root first, samples) per line of a py-spy raw file."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            line = line.rstrip("\n")
            if not line:
                continue
            stack, _, count = line.rpartition(" ")
            frames, process = stack.split(";"), ""
            while frames and frames[0].startswith("process "):  # a child's stack: its ancestors' labels first
                process, frames = frames[0], frames[1:]
            yield process, frames, int(count)


def process_kind(label: str) -> str:
    if "sdk_worker_main" in label:
        return "SDK worker"
    return "launcher" if label else "process"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("raw", nargs="+")
    parser.add_argument("--by-process", action="store_true", help="also shares per process")
    parser.add_argument("--top", type=int, default=0, help="also the top leaf functions per category")
    args = parser.parse_args()
    totals, per_process, leaves = Counter(), defaultdict(Counter), defaultdict(Counter)
    for path in args.raw:
        for process, frames, count in read_raw(path):
            category = classify(frames)
            totals[category] += count
            per_process[process][category] += count
            leaves[category][frames[-1] if frames else "?"] += count
    n = sum(totals.values())
    print(f"{n} samples")
    for category, count in totals.most_common():
        print(f"  {category:60s} {100 * count / n:6.2f} %")
    if args.by_process:
        for process, counts in sorted(per_process.items(), key=lambda kv: -sum(kv[1].values())):
            m = sum(counts.values())
            print(f"\n{process_kind(process)} {process[:100]}: {m} samples ({100 * m / n:.1f} %)")
            for category, count in counts.most_common():
                print(f"  {category:60s} {100 * count / m:6.2f} %")
    if args.top:
        for category, _ in totals.most_common():
            print(f"\n{category}:")
            for leaf, count in leaves[category].most_common(args.top):
                print(f"  {100 * count / n:6.2f} %  {leaf[:150]}")


if __name__ == "__main__":
    main()
