"""Benchmark the distant-supervision pipeline on ntrex128 (EN->DE and EN->ZH) replicated to N pairs.

    python -m bench.pipeline --pairs 100000 [--workers 2] [--stage-sample 4000] [--out /tmp/bench-pipeline] \
        [pipeline flags, e.g. --align-batch-size 2048 --prior-sample-size 0]

Prints, all from the same run on the same pairs:

1. end to end: the Beam pipeline (FnApiRunner; ``--workers N`` = multi_processing) on all pairs, in
   pairs/s, with peak RSS (this process and its worker children);
2. eflomal alone on the same pairs, with the pipeline's aligner settings (calls of ``--align-batch-size``
   pairs, samplers, priors on a sample of ``--prior-sample-size`` pairs), per language: the aligner
   work the pipeline would do if every pair had a source instance (it aligns only pairs with one, so this
   is an upper bound of the pipeline's eflomal time);
3. time per stage: each stage's pure function (validate, tokenize, link, label, project) over a sample of
   ``--stage-sample`` pairs, single process, in CPU ms/pair, so the non-alignment stages compare with
   eflomal per pair.

Every figure is CPU time (user + system of the process tree, eflomal children included) beside wall time, with
the 1-minute load average: on a shared machine wall time depends on the other jobs. The end-to-end CPU is split
into the launcher process (with one worker: the Beam runner and every stage function) and its children (with one
worker: eflomal only; with ``--workers N``: the SDK worker processes and their eflomal children).

``--ab-workers N`` instead runs this checkout end to end with 1 worker and with N (multi_processing) alternately
(``--ab-repeats`` rounds), each as a child process, and prints the same figures per run.

``--ab-tree DIR`` instead runs the pipeline end to end from another checkout (e.g. ``git archive REV | tar -x -C
DIR``) and from this one, alternately (A B A B, ``--ab-repeats`` times), each as a child process on the same corpus,
and prints per run the CPU of the child's process tree (eflomal included), wall time, load average
and the projected share: projected target rows per English (source) row.

Replicas get distinct JSONL ids (``<line>-<replica>``), so pair_id dedupe does not drop them: every
input pair is processed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from alignment.projection.span import ProjectionFailure  # noqa: F401  (the stage under test uses it)
from bench.paths import SHARED_DATA
from bench.timing import children_cpu, cpu_seconds, cpu_split, load1
from pipelines.aligners import EflomalCalls, EflomalSettings, fit_eflomal_priors
from pipelines.config import PipelineConfig, parse_config
from pipelines.distant_supervision import run
from pipelines.label import label_pair
from pipelines.link import link_pair
from pipelines.project import in_sample, project_instances
from pipelines.read import make_record
from pipelines.records import LabelledPair, Reject, TokenizedPair
from pipelines.resources import KBSpec, build_resources
from pipelines.tokenize import Tokenizers, tokenize_pair
from pipelines.validate import validate_pair

DATA = SHARED_DATA
NTREX = {"en": "newstest2019-src.eng.txt", "de": "newstest2019-ref.deu.txt", "zh": "newstest2019-ref.zho-CN.txt"}
KB = DATA / "xfactr-kb"


def write_corpus(path: Path, n_pairs: int) -> int:
    """JSONL with {"id", "en", "de", "zh"} lines: ntrex replicated; each line yields 2 pairs (en-de, en-zh)."""
    lines = {lang: (DATA / "ntrex128" / name).read_text(encoding="utf-8").splitlines() for lang, name in NTREX.items()}
    n_lines = (n_pairs + 1) // 2
    with open(path, "w", encoding="utf-8") as handle:
        for k in range(n_lines):
            i, rep = k % len(lines["en"]), k // len(lines["en"])
            handle.write(json.dumps({"id": f"{i}-{rep}", "en": lines["en"][i], "de": lines["de"][i],
                                     "zh": lines["zh"][i]}, ensure_ascii=False) + "\n")
    return 2 * n_lines


def peak_rss_mb() -> tuple[float, float]:
    """(this process, largest waited-for child) peak RSS in MB."""
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)


def pipeline_argv(corpus: Path, out: Path, extra: list[str]) -> list[str]:
    return ["--input", str(corpus), "--input-format", "jsonl", "--src-lang", "en", "--tgt-lang", "de,zh",
            "--kb", str(KB), "--output", str(out), *extra]


def worker_flags(workers: int) -> list[str]:
    return ["--direct_num_workers", str(workers), "--direct_running_mode", "multi_processing"] if workers > 1 else []


def bench_end_to_end(argv: list[str], workers: int) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds of this process, CPU seconds of its children) of one pipeline run."""
    start, (own, children) = time.perf_counter(), cpu_split()
    run([*argv, *worker_flags(workers)])
    own_after, children_after = cpu_split()
    return time.perf_counter() - start, own_after - own, children_after - children


def bench_stages(corpus: Path, sample: int, config: PipelineConfig) -> tuple[dict[str, float], list[LabelledPair]]:
    """Seconds per stage over ``sample`` pairs (pure stage functions, no Beam); returns the labelled records."""
    records = []
    with open(corpus, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            obj = json.loads(line)
            records += [make_record(obj["en"], obj[t], "en", t, f"c:{number}", f"{obj['id']}:{t}")
                        for t in ("de", "zh")]
            if len(records) >= sample:
                break
    timings: dict[str, float] = {}
    start = time.process_time()
    resources, tokenizers = build_resources(KBSpec.of(config)), Tokenizers(config.langs)
    timings["setup (KB, matchers, spaCy)"] = time.process_time() - start
    steps = [
        ("validate", lambda r: validate_pair(r)),
        ("tokenize", lambda r: tokenize_pair(r, tokenizers, config.max_tokens)),
        ("link", lambda r: link_pair(r, resources)[0]),
        ("label", lambda r: label_pair(r, resources, max_distance=config.max_token_distance,
                                       na_rate=config.no_relation_rate, version="bench")),
    ]
    for name, fn in steps:
        start = time.process_time()
        records = [out for out in map(fn, records) if not isinstance(out, Reject)]
        timings[name] = time.process_time() - start
    return timings, records


def bench_eflomal(records: list[TokenizedPair], config: PipelineConfig) -> dict[str, float]:
    """CPU seconds (this process + eflomal children) for eflomal (priors if the config asks for them) + alignment
    of all ``records`` per target language, in calls of the pipeline's size with its settings."""
    timings = {"eflomal priors": 0.0, "eflomal align": 0.0}
    batch_size = config.align_batch_size
    for lang in ("de", "zh"):
        records_of_lang = [r for r in records if r.pair.tgt_lang == lang]
        pairs = [r.token_pair() for r in records_of_lang]
        start = cpu_seconds()
        priors = None
        if config.prior_sample_size > 0:
            sample = [p for r, p in zip(records_of_lang, pairs, strict=True)
                      if list(in_sample(LabelledPair(r, (), ()), config.prior_sample_size, len(pairs)))]
            priors = fit_eflomal_priors(sample, EflomalSettings.of(config))
        timings["eflomal priors"] += cpu_seconds() - start
        aligner = EflomalCalls(priors, EflomalSettings.of(config))
        start = cpu_seconds()
        for k in range(0, len(pairs), batch_size):
            aligner.align(pairs[k:k + batch_size])
        timings["eflomal align"] += cpu_seconds() - start
    return timings


def bench_projection(records: list[LabelledPair], config: PipelineConfig) -> float:
    """CPU seconds to project every source instance (the alignment, without priors, is not timed)."""
    todo = [r for r in records if r.src_instances]
    aligner = EflomalCalls(None, EflomalSettings.of(config))
    alignments, batch_size = [], config.align_batch_size
    for k in range(0, len(todo), batch_size):
        alignments += aligner.align([r.tokenized.token_pair() for r in todo[k:k + batch_size]])
    start = time.process_time()
    for record, alignment in zip(todo, alignments, strict=True):
        project_instances(record, alignment, aligner.name, lambda e: [], version="bench")
    return time.process_time() - start


def projected_share(output: Path) -> tuple[float, Counter]:
    """(projected target rows / English rows, rows per (lang, label_source)) of a pipeline output."""
    import pyarrow.dataset as ds

    table = ds.dataset(str(output / "data"), format="parquet", partitioning="hive").to_table(
        columns=["lang", "label_source"])
    rows = Counter(zip(table.column("lang").to_pylist(), table.column("label_source").to_pylist(), strict=True))
    english = sum(n for (lang, _), n in rows.items() if lang == "en")
    return sum(n for (_, source), n in rows.items() if source == "projected") / max(english, 1), rows


def run_tree(tree: Path, argv: list[str]) -> dict:
    """One pipeline run from ``tree`` as a child process: wall and process-tree CPU seconds, load, projected share."""
    import shutil

    out = Path(argv[argv.index("--output") + 1])
    shutil.rmtree(out, ignore_errors=True)
    before, load, start = children_cpu(), load1(), time.perf_counter()
    subprocess.run([sys.executable, "-m", "pipelines.distant_supervision", *argv], cwd=tree, check=True,
                   env={**os.environ, "PYTHONPATH": str(tree)}, stdout=subprocess.DEVNULL)
    cpu = children_cpu() - before
    share, rows = projected_share(out)
    return {"wall": time.perf_counter() - start, "cpu": cpu, "load": (load, load1()), "share": share,
            "rows": rows, "peak_rss_mb": peak_rss_mb()[1], "project_rejects": project_rejects(out)}


def project_rejects(output: Path) -> Counter:
    """The Align+Project stage's rejects of a pipeline output, by reason."""
    import pyarrow.dataset as ds

    table = ds.dataset(str(output / "rejects"), format="parquet").to_table(columns=["stage", "reason"])
    stages, reasons = table.column("stage").to_pylist(), table.column("reason").to_pylist()
    return Counter(reason for stage, reason in zip(stages, reasons, strict=True) if stage == "project")


def ab(corpus: Path, out: Path, old: Path, repeats: int, flags: list[str], n_pairs: int,
       after_flags: list[str] = ()) -> None:
    """Interleaved end-to-end runs of the pipeline from ``old`` and from this checkout (with ``after_flags``)."""
    here = Path(__file__).resolve().parent.parent
    for k in range(repeats):
        for label, tree, extra in (("before", old, []), ("after", here, list(after_flags))):
            r = run_tree(tree, pipeline_argv(corpus, out / f"ab-{label}", [*flags, *extra]))
            unaligned = sum(n for reason, n in r["project_rejects"].items() if reason.endswith(":unaligned"))
            print(f"{label} run {k + 1}: CPU {r['cpu']:.1f} s = {1000 * r['cpu'] / n_pairs:.2f} ms/pair, wall "
                  f"{r['wall']:.1f} s, load {r['load'][0]:.1f}-{r['load'][1]:.1f}, projected share "
                  f"{100 * r['share']:.2f} %, project rejects {sum(r['project_rejects'].values())} (unaligned "
                  f"{unaligned}), rows {dict(sorted(r['rows'].items()))}", flush=True)


def ab_workers(corpus: Path, out: Path, workers: int, repeats: int, flags: list[str], n_pairs: int) -> None:
    """Interleaved end-to-end runs of this checkout with 1 worker and with ``workers`` (multi_processing)."""
    here = Path(__file__).resolve().parent.parent
    for k in range(repeats):
        for n in (1, workers):
            r = run_tree(here, pipeline_argv(corpus, out / f"workers-{n}", [*flags, *worker_flags(n)]))
            print(f"{n} worker(s) run {k + 1}: CPU {r['cpu']:.1f} s = {1000 * r['cpu'] / n_pairs:.2f} ms/pair, wall "
                  f"{r['wall']:.1f} s = {n_pairs / r['wall']:.0f} pairs/s, load {r['load'][0]:.1f}-{r['load'][1]:.1f}, "
                  f"largest process peak RSS {r['peak_rss_mb']:.0f} MB, projected share {100 * r['share']:.2f} %",
                  flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=100_000)
    parser.add_argument("--stage-sample", type=int, default=4000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", default="/tmp/bench-pipeline")
    parser.add_argument("--skip-end-to-end", action="store_true")
    parser.add_argument("--ab-tree", type=Path, default=None, help="compare end to end with this checkout")
    parser.add_argument("--ab-workers", type=int, default=0, help="compare 1 worker with this many, alternately")
    parser.add_argument("--ab-repeats", type=int, default=2)
    parser.add_argument("--ab-after-flags", default="",
                        help="pipeline flags for this checkout's runs only (--ab-after-flags=--no-realign-unaligned)")
    args, pipeline_flags = parser.parse_known_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    corpus = out / "corpus.jsonl"
    n_pairs = write_corpus(corpus, args.pairs)
    print(f"corpus: {n_pairs} pairs (ntrex128 EN-DE + EN-ZH replicated), {os.cpu_count()} CPUs")
    if args.ab_tree:
        ab(corpus, out, args.ab_tree, args.ab_repeats, pipeline_flags, n_pairs, args.ab_after_flags.split())
        return
    if args.ab_workers:
        ab_workers(corpus, out, args.ab_workers, args.ab_repeats, pipeline_flags, n_pairs)
        return
    argv = pipeline_argv(corpus, out / "run", pipeline_flags)
    config, _ = parse_config(argv)
    print(f"aligner settings: calls of {config.align_batch_size} pairs, samplers {config.eflomal_samplers or 'auto'}, "
          f"rel_iterations {config.eflomal_rel_iterations}, runs {config.eflomal_runs}, "
          f"prior sample size {config.prior_sample_size}")

    load = load1()
    stage_times, records = bench_stages(corpus, args.stage_sample, config)
    stage_times["project (projection only)"] = bench_projection(records, config)
    efl = bench_eflomal([r.tokenized for r in records], config)
    n = args.stage_sample
    print(f"\nper stage on {n} pairs (pure functions, 1 process), CPU ms/pair (load average {load:.1f}-{load1():.1f}):")
    for name, seconds in {**stage_times, **efl}.items():
        print(f"  {name:32s} {1000 * seconds / n:8.3f}")
    non_align = sum(v for k, v in stage_times.items() if not k.startswith("setup"))
    aligner = sum(efl.values())
    print(f"  non-alignment stages / eflomal on this sample = {non_align / aligner:.2f} (eflomal's cost per pair "
          "depends on its call size: compare with the full-corpus figure below)")

    if not args.skip_end_to_end:
        load = load1()
        seconds, own_cpu, child_cpu = bench_end_to_end(argv, args.workers)
        cpu = own_cpu + child_cpu
        share, _ = projected_share(out / "run")
        print(f"\nend to end ({args.workers} worker(s)): {n_pairs} pairs in {seconds:.1f} s wall = "
              f"{n_pairs / seconds:.0f} pairs/s; CPU {cpu:.1f} s = {1000 * cpu / n_pairs:.2f} ms/pair, of which "
              f"launcher process {1000 * own_cpu / n_pairs:.2f}, children {1000 * child_cpu / n_pairs:.2f} "
              f"({'eflomal' if args.workers == 1 else 'SDK workers and their eflomal'}); projected share "
              f"{100 * share:.2f} % (load average before {load:.1f}, after {load1():.1f})", flush=True)
        load, wall = load1(), time.perf_counter()
        efl_all = bench_eflomal_on_corpus(corpus, config)
        wall = time.perf_counter() - wall
        own, child = peak_rss_mb()
        print(f"eflomal alone on the same {n_pairs} pairs: CPU {efl_all:.1f} s = {1000 * efl_all / n_pairs:.2f} "
              f"ms/pair, wall {wall:.1f} s; pipeline / eflomal CPU = {cpu / efl_all:.2f} (load average before "
              f"{load:.1f}, after {load1():.1f})")
        per_pair = 1000 * efl_all / n_pairs
        print(f"non-alignment stages ({1000 * non_align / n:.2f} ms/pair on the sample) / eflomal alone on the "
              f"corpus ({per_pair:.2f} ms/pair) = {1000 * non_align / n / per_pair:.2f}")
        print(f"peak RSS: launcher {own:.0f} MB, largest child {child:.0f} MB")


def bench_eflomal_on_corpus(corpus: Path, config: PipelineConfig) -> float:
    """CPU seconds of eflomal priors + alignment on every pair of the corpus, tokenised as the pipeline does
    (tokenising untimed)."""
    tokenizers = Tokenizers(("de", "en", "zh"))
    records = []
    with open(corpus, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            obj = json.loads(line)
            for t in ("de", "zh"):
                record = make_record(obj["en"], obj[t], "en", t, f"c:{number}", f"{obj['id']}:{t}")
                rec = tokenize_pair(record, tokenizers, 200)
                if not isinstance(rec, Reject):
                    records.append(rec)
    return sum(bench_eflomal(records, config).values())


if __name__ == "__main__":
    main()
