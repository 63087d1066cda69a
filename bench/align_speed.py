"""Speed vs AER of eflomal settings for bulk alignment (the pipeline's bundles with priors).

The corpus is a gold set plus all raw bitext ../shared/data holds for the pair (unique sentences, nothing
replicated). Priors are fitted once on a sample of the bitext (the gold sentences excluded), then the whole
corpus is aligned in bundles of ``--bundle`` pairs with those priors, as the pipeline does. Printed per
setting: seconds to fit the priors, seconds and pairs/s to align the corpus, AER (grow-diag-final-and) on the
gold sentences. eflomal runs ~5000/sqrt(bundle) sampler iterations per call (times ``rel_iterations``),
so big bundles cost less per pair.

    python -m bench.align_speed --pair en-cs
    python -m bench.align_speed --pair en-cs --strategies --seeds 1 2 3 --sample 8192

``--strategies`` compares ways to align the pairs the pipeline needs links for (the gold sentences, standing in
for the pairs with source instances: 2,500 of 16.5k EN-CS pairs, 15 %, as in the pipeline's corpora) after a
hash sample of ``--sample`` pairs of the corpus gave the priors: eflomal's own iteration schedule per call size
(the old pipeline rule), one sampler with the iterations of a full-size call, the needed pairs aligned inside the
priors run. Every run is seeded (EflomalConfig.seed); the seeds are interleaved (seed 1: every strategy, then
seed 2, ...) and the spread over seeds is the run-to-run spread. Time is CPU (process_time of this process plus
its eflomal children), after a warm-up call, with the 1-minute load average.

``--projection de es`` scores the pipeline's projection (bench/projection.py's final row) on europarl-ner-parallel's
gold target spans with the 799 test pairs aligned inside the priors run over them and the bitext (the default),
with the pipeline's second pass for the spans those links leave unaligned, and against a second pass over every
test pair with the old rule and the priors of that run, seeds 1 and 2.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from alignment.eval.metrics import alignment_scores
from alignment.word.eflomal_aligner import (
    EflomalAligner,
    EflomalConfig,
    fit_priors,
    fit_priors_with_links,
    iteration_schedule,
    symmetrized,
)
from bench.data import extra_bitext, gold_sets
from bench.timing import cpu_seconds as cpu

# (label, bundle size, prior sample size (0 = no priors), config)
SETTINGS: list[tuple[str, int, int, EflomalConfig]] = [
    ("pipeline default", 2048, 100_000, EflomalConfig()),
    ("bundle 16k", 16_384, 100_000, EflomalConfig()),
    ("bundle 16k, 1 sampler", 16_384, 100_000, replace(EflomalConfig(), n_samplers=1)),
    ("bundle 16k, 1 sampler, priors on 4k", 16_384, 4_000, replace(EflomalConfig(), n_samplers=1)),
    ("bundle 16k, 1 sampler, no priors", 16_384, 0, replace(EflomalConfig(), n_samplers=1)),
    ("bundle 16k, 1 sampler, 0.5x iterations", 16_384, 100_000,
     replace(EflomalConfig(), n_samplers=1, rel_iterations=0.5)),
    ("bundle 2048, 1 sampler, 0.25x iterations", 2048, 100_000,
     replace(EflomalConfig(), n_samplers=1, rel_iterations=0.25)),
]


def run(gold, extra, bundle: int, prior_sample: int, config: EflomalConfig) -> dict[str, float]:
    corpus = gold.pairs + extra
    started = time.perf_counter()
    priors = fit_priors(extra[:prior_sample], config) if prior_sample else None
    fit_seconds = time.perf_counter() - started
    aligner = EflomalAligner(config, priors)
    started = time.perf_counter()
    predicted = []
    for k in range(0, len(corpus), bundle):
        predicted.extend(aligner.align(corpus[k:k + bundle]))
    align_seconds = time.perf_counter() - started
    n = len(gold.pairs)
    aer = alignment_scores(predicted[:n], gold.sure, gold.possible).aer
    return {"fit": fit_seconds, "align": align_seconds, "pairs_s": len(corpus) / align_seconds, "aer": aer}


def in_hash_sample(key: str, rate: float) -> bool:
    from pipelines.hashing import unit_hash

    return rate >= 1 or unit_hash("prior|" + key) < rate


@dataclass
class Outcome:
    aer: float
    priors_cpu: float  # the priors run (shared by the strategies that align after it)
    align_cpu: float  # aligning the needed pairs after the priors run (0 when they were aligned inside it)
    calls: int


SAMPLER_AUTO = 8192  # the old rule: calls of fewer pairs ran 3 samplers


def strategies(full_call: int) -> dict[str, Callable]:
    """name -> fn(gold, needed, sample, priors_run, seed, call) -> Outcome; ``priors_run`` = (priors, cpu)."""
    base = EflomalConfig()

    def own_schedule(n: int, seed: int) -> EflomalConfig:
        return replace(base, n_samplers=1 if n >= SAMPLER_AUTO else 3, seed=seed)

    def pinned(n: int, seed: int) -> EflomalConfig:
        return replace(base, n_samplers=1, n_iterations=iteration_schedule(full_call), seed=seed)

    def in_calls(rule):
        def run(gold, needed, sample, priors_run, seed, call) -> Outcome:
            priors, priors_cpu = priors_run
            started, predicted, calls = cpu(), [], 0
            for k in range(0, len(needed), call):
                chunk = needed[k:k + call]
                predicted += EflomalAligner(rule(len(chunk), seed), priors).align(chunk)
                calls += 1
            took = cpu() - started
            return Outcome(alignment_scores(predicted, gold.sure, gold.possible).aer, priors_cpu, took, calls)
        return run

    def inside_priors_run(fill: bool):
        def run(gold, needed, sample, priors_run, seed, call) -> Outcome:
            # the needed pairs first, then the sample (without the needed pairs), cut to the sample size if `fill`
            others = [p for p in sample if p[2] >= len(needed)]
            pairs = [(s, t) for s, t, _ in ([(a, b, i) for i, (a, b) in enumerate(needed)] + others)]
            if fill:
                pairs = pairs[:max(len(sample), len(needed))]
            started = cpu()
            _, forward, reverse = fit_priors_with_links(pairs, own_schedule(len(pairs), seed))
            took = cpu() - started
            predicted = [symmetrized(f, r, base.symmetrization)
                         for f, r in zip(forward[:len(needed)], reverse[:len(needed)], strict=True)]
            return Outcome(alignment_scores(predicted, gold.sure, gold.possible).aer, took, 0.0, 1)
        return run

    return {
        "eflomal's schedule per call (old rule)": in_calls(own_schedule),
        "(a) 1 sampler, iterations of a full call": in_calls(pinned),
        "(b) needed pairs + the sample in one run": inside_priors_run(fill=False),
        "(b') needed pairs first, filled to the sample size": inside_priors_run(fill=True),
    }


def compare_strategies(args, gold, extra) -> None:
    corpus = gold.pairs + extra  # index k < len(gold.pairs): a needed pair
    rate = args.sample / len(corpus)
    sample = [(s, t, k) for k, (s, t) in enumerate(corpus) if in_hash_sample(f"{args.pair}-{k}", rate)]
    needed = gold.pairs
    in_sample = sum(1 for *_, k in sample if k < len(needed))
    plans = [(name, call) for name in args.strategy_names for call in args.calls]
    plans = [(n, c) for n, c in plans if not n.startswith("(b")] + sorted({(n, 0) for n, _ in plans
                                                                            if n.startswith("(b")})
    table = strategies(args.full_call)
    print(f"## {args.pair}: {len(corpus)} pairs, {len(needed)} needed (gold), sample {len(sample)} "
          f"({in_sample} needed pairs in it); full call {args.full_call} = iterations "
          f"{iteration_schedule(args.full_call)}; {os.cpu_count()} cores")
    EflomalAligner(replace(EflomalConfig(), n_iterations=(1, 1, 1), n_samplers=1)).align(needed[:200])  # warm-up
    rows: dict[tuple[str, int], list[tuple[Outcome, tuple[float, float]]]] = {plan: [] for plan in plans}
    for seed in args.seeds:
        load = os.getloadavg()[0]
        started = cpu()
        priors = fit_priors([(s, t) for s, t, _ in sample],
                            replace(EflomalConfig(), n_samplers=1 if len(sample) >= SAMPLER_AUTO else 3, seed=seed))
        priors_run = (priors, cpu() - started)
        for name, call in plans:
            before = os.getloadavg()[0]
            outcome = table[name](gold, needed, sample, priors_run, seed, call or len(needed))
            rows[(name, call)].append((outcome, (before, os.getloadavg()[0])))
            print(f"seed {seed} | {name} | calls of {call or '-'} | AER {outcome.aer:.4f} | priors CPU "
                  f"{outcome.priors_cpu:.1f} s | align CPU {outcome.align_cpu:.1f} s ({outcome.calls} calls) | "
                  f"load {before:.2f}-{os.getloadavg()[0]:.2f} (seed start {load:.2f})", flush=True)
    print("\n| strategy | call size | AER mean (min-max over seeds) | align CPU ms per needed pair | "
          "priors + align CPU ms per needed pair | load |")
    print("|---|---|---|---|---|---|")
    for (name, call), runs in rows.items():
        aers = [o.aer for o, _ in runs]
        align = statistics.mean(o.align_cpu for o, _ in runs) * 1000 / len(needed)
        total = statistics.mean(o.align_cpu + o.priors_cpu for o, _ in runs) * 1000 / len(needed)
        loads = [x for _, pair in runs for x in pair]
        print(f"| {name} | {call or '-'} | {statistics.mean(aers):.4f} ({min(aers):.4f}-{max(aers):.4f}) | "
              f"{align:.2f} | {total:.2f} | {min(loads):.1f}-{max(loads):.1f} |", flush=True)


def projection_score(lang: str, data: tuple, words: frozenset[str], alignments, second=None) -> str:
    """Exact span P/R/F1 of bench/projection.py's final row through ``alignments`` of the test pairs (and
    ``second``: pair index -> the second pass's links, for the spans ``alignments`` leave unaligned)."""
    from alignment.eval.metrics import span_prf_exact
    from alignment.projection.scoring import projected_type
    from bench.projection import ROWS, project

    pairs, src_spans, gold = data
    predicted = set()
    for k, ((src, tgt), alignment) in enumerate(zip(pairs, alignments, strict=True)):
        for s, e, kind in src_spans[k]:
            region = project(ROWS[-1], (s, e), alignment, src, tgt, words, (second or {}).get(k))
            if region is not None:
                predicted.add((k, region[0], region[1], projected_type(kind, tgt[region[0]:region[1]])))
    exact = span_prf_exact(predicted, gold)
    return f"P {exact.precision:.3f} R {exact.recall:.3f} F1 {exact.f1:.3f}"


def unaligned_pairs(data: tuple, words: frozenset[str], alignments) -> list[int]:
    """The test pairs with a source span the final row leaves unaligned (those the pipeline aligns again)."""
    from bench.projection import ROWS, candidate_span

    pairs, src_spans, _ = data
    return [k for k, ((src, tgt), alignment) in enumerate(zip(pairs, alignments, strict=True))
            if any(getattr(candidate_span(ROWS[-1], (s, e), alignment, src, tgt, words), "reason", "") == "unaligned"
                   for s, e, _ in src_spans[k])]


def compare_projection(langs: list[str], seeds: list[int]) -> None:
    """Projection through the links of the pipeline's priors run over the test pairs and the bitext, without and
    with the pipeline's second pass for unaligned spans, and through a second pass over every test pair with the
    old rule (eflomal's own schedule, 3 samplers) and that run's priors, per language and seed."""
    from bench.projection import load
    from pipelines.aligners import EflomalCalls, EflomalSettings, corpus_context, eflomal_config

    for lang in langs:
        data = load(lang)
        pairs = data[0]
        training = pairs + extra_bitext("en", lang, europarl=False)
        words = corpus_context(training[:16384], fit_priors=False, lang=lang).function_words
        for seed in seeds:
            settings = EflomalSettings(seed=seed)
            config = eflomal_config(len(training), settings)
            priors, forward, reverse = fit_priors_with_links(training, config)
            inside = [symmetrized(f, r, config.symmetrization)
                      for f, r in zip(forward[:len(pairs)], reverse[:len(pairs)], strict=True)]
            todo = unaligned_pairs(data, words, inside)
            again = dict(zip(todo, EflomalCalls(priors, settings).align([pairs[k] for k in todo]), strict=True))
            old = EflomalAligner(replace(EflomalConfig(), n_samplers=3, seed=seed), priors).align(pairs)
            print(f"{lang} seed {seed} ({len(training)} pairs): inside the priors run "
                  f"{projection_score(lang, data, words, inside)} | + second pass for unaligned spans "
                  f"({len(todo)} pairs) {projection_score(lang, data, words, inside, again)} | second pass over "
                  f"all, old rule {projection_score(lang, data, words, old)} | load {os.getloadavg()[0]:.1f}",
                  flush=True)


def compare_stored_priors(langs: list[str], seeds: list[int]) -> None:
    """A nightly span: the 799 test pairs alone, aligned as a pipeline run over them aligns them (its own priors run,
    then the second pass for unaligned spans) against stored priors fitted on the pair's other bitext (the earlier
    spans; pipelines.priors) and one call with them, alone and with a fallback for the spans its links leave
    unaligned: the union of the same call's two directions, or a second call with another seed."""
    from bench.projection import load
    from pipelines.aligners import EflomalCalls, EflomalSettings, corpus_context, eflomal_config

    for lang in langs:
        data = load(lang)
        pairs = data[0]
        history = extra_bitext("en", lang, europarl=False)
        for seed in seeds:
            settings = EflomalSettings(seed=seed)
            own_words = corpus_context(pairs, fit_priors=False, lang=lang).function_words
            config = eflomal_config(len(pairs), settings)
            started = cpu()
            own_priors, forward, reverse = fit_priors_with_links(pairs, config)
            own = [symmetrized(f, r, config.symmetrization) for f, r in zip(forward, reverse, strict=True)]
            todo = unaligned_pairs(data, own_words, own)
            again = dict(zip(todo, EflomalCalls(own_priors, settings).align([pairs[k] for k in todo]), strict=True))
            own_cpu = cpu() - started
            stored = corpus_context(history[:16384], fit_priors=True, settings=settings, lang=lang)
            started = cpu()
            calls = EflomalCalls(stored.priors, settings)
            forward, reverse = calls.directional(pairs)
            stored_cpu = cpu() - started
            gdfa = [symmetrized(f, r, calls.symmetrization) for f, r in zip(forward, reverse, strict=True)]
            union = dict(enumerate(symmetrized(f, r, "union") for f, r in zip(forward, reverse, strict=True)))
            todo_s = unaligned_pairs(data, stored.function_words, gdfa)
            reseeded = EflomalCalls(stored.priors, EflomalSettings(seed=seed + 100))
            again_s = dict(zip(todo_s, reseeded.align([pairs[k] for k in todo_s]), strict=True))
            words = stored.function_words
            started = cpu()
            voted = EflomalCalls(stored.priors, EflomalSettings(seed=seed, runs=3)).align(pairs)
            voted_cpu = cpu() - started
            todo_v = unaligned_pairs(data, words, voted)
            again_v = dict(zip(todo_v, reseeded.align([pairs[k] for k in todo_v]), strict=True))
            print(f"{lang} seed {seed} ({len(pairs)} span pairs, {min(len(history), 16384)} history pairs): own "
                  f"priors run + second pass {projection_score(lang, data, own_words, own, again)} "
                  f"({own_cpu:.1f} s) | stored priors {projection_score(lang, data, words, gdfa)} ({stored_cpu:.1f} s) "
                  f"| + union fallback {projection_score(lang, data, words, gdfa, union)} | + reseeded call for "
                  f"{len(todo_s)} pairs {projection_score(lang, data, words, gdfa, again_s)} | 3 voted runs "
                  f"{projection_score(lang, data, words, voted)} ({voted_cpu:.1f} s), + reseeded call for "
                  f"{len(todo_v)} pairs {projection_score(lang, data, words, voted, again_v)} | load "
                  f"{os.getloadavg()[0]:.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pair", default="en-cs", help="gold set: en-fr ro-en en-cs en-es en-hi")
    parser.add_argument("--settings", nargs="*", type=int, default=None, help="indices into SETTINGS")
    parser.add_argument("--strategies", action="store_true", help="compare the ways to align the needed pairs")
    parser.add_argument("--strategy-names", nargs="*", default=list(strategies(16384)))
    parser.add_argument("--calls", nargs="*", type=int, default=[100, 500, 0],
                        help="call sizes for the call-based strategies (0 = all needed pairs in one call)")
    parser.add_argument("--sample", type=int, default=16384, help="prior sample size (hash sample of the corpus)")
    parser.add_argument("--full-call", type=int, default=16384, help="the call size whose iterations (a) pins")
    parser.add_argument("--seeds", nargs="*", type=int, default=[1, 2, 3])
    parser.add_argument("--projection", nargs="*", default=None, help="europarl-ner-parallel languages (de es it)")
    parser.add_argument("--stored-priors", nargs="*", default=None,
                        help="europarl-ner-parallel languages: a span's own priors run against stored priors")
    args = parser.parse_args()
    if args.stored_priors:
        compare_stored_priors(args.stored_priors, args.seeds)
        return
    if args.projection:
        compare_projection(args.projection, args.seeds)
        return
    gold, src, tgt = gold_sets()[args.pair]
    extra = extra_bitext(src, tgt)
    if args.strategies:
        compare_strategies(args, gold, extra)
        return
    print(f"## {args.pair}: {len(gold.pairs)} gold + {len(extra)} bitext pairs")
    print("| setting | priors fit s | align s | align pairs/s | AER gdfa |")
    print("|---|---|---|---|---|")
    for index in args.settings if args.settings is not None else range(len(SETTINGS)):
        label, bundle, prior_sample, config = SETTINGS[index]
        r = run(gold, extra, bundle, prior_sample, config)
        print(f"| {label} | {r['fit']:.1f} | {r['align']:.1f} | {r['pairs_s']:.0f} | {r['aer']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
