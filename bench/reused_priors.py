"""Nightly spans: fit eflomal priors on each new span, or reuse the priors of earlier spans of the language pair?

    python -m bench.reused_priors --pairs en-cs en-fr en-es en-hi --seeds 1 2 3

A nightly run aligns one new span (~2,000 pairs) of bitext. Per gold set (``bench.data.gold_sets``), the new span =
the gold pairs first, filled from the pair's other bitext (``bench.data.extra_bitext``, in its order) to
``--span`` pairs; the earlier spans = the next ``--history`` disjoint chunks of ``--span`` pairs of that bitext.
When the bitext is too short for that, the span size shrinks to (gold + bitext) / (history + 1), the new span
keeping at least all gold pairs (the layout line says so); a pair without bitext (RO-EN) is skipped. AER
(the config's symmetrisation, grow-diag-final-and) is scored on the gold pairs only. Strategies, all through the
library (``pipelines.aligners.eflomal_config``, ``alignment.word.eflomal_aligner``):

* (i) today: the priors run on the new span alone, ``fit_priors_with_links(span, eflomal_config(n))`` (3 voted
  one-sampler runs below 8,192 pairs, eflomal's schedule), links symmetrised from that run;
* (ii) the merge (``EflomalPriors.merge``) of the priors fitted on each earlier span as in (i), stored and read
  back as text (``to_text``/``from_text``), then one call ``EflomalAligner(eflomal_config(n, priors=True), priors)``
  over the new span (1 sampler, the iterations of a FULL_CALL-pair call);
* (ii-b) as (ii), the priors fitted once on all earlier spans' pairs together (``eflomal_config(len(history))``);
* (iv) as (ii), with the new span's own priors of (i)'s run merged in (its CPU = (i)'s run + the call).

CPU = this process's process_time plus its finished children's rusage (the eflomal binaries), per new span; the
history fits are the earlier nights' cost, shown apart (their sum is 6 x (i) for (ii)). Every run is seeded
(``EflomalSettings(seed=s)``); seeds are outermost and the strategies run back to back per seed and pair, their
order rotated per seed. Load = the 1-minute load average before and after each run.
"""

from __future__ import annotations

import argparse
import os
import statistics
from dataclasses import dataclass

from alignment.eval.metrics import alignment_scores
from alignment.word.eflomal_aligner import (
    EflomalAligner,
    EflomalConfig,
    EflomalPriors,
    fit_priors,
    fit_priors_with_links,
    symmetrized,
)
from bench.data import extra_bitext, gold_sets
from bench.timing import children_cpu, load1
from bench.timing import cpu_seconds as cpu
from pipelines.aligners import EflomalSettings, eflomal_config

STRATEGIES = ["(i) own priors run", "(ii) merged history priors", "(ii-b) one history fit", "(iv) history + own"]


@dataclass
class Run:
    aer: float
    cpu: float  # per new span: process + eflomal children
    eflomal: float  # of which the eflomal children
    load: tuple[float, float]


@dataclass
class Layout:
    span: list  # the new span: gold pairs first
    history: list[list]  # the earlier spans
    n_gold: int


def layout(gold_pairs: list, extra: list, span: int, history: int) -> Layout | None:
    if not extra:
        return None
    size = min(span, (len(gold_pairs) + len(extra)) // (history + 1))
    fill = max(0, size - len(gold_pairs))
    new = list(gold_pairs) + extra[:fill]
    rest = extra[fill:]
    size = min(size, len(rest) // history)
    return Layout(new, [rest[k * size:(k + 1) * size] for k in range(history)], len(gold_pairs))


def measured(fn):
    """fn() -> alignments of the new span; returns them with (cpu, eflomal cpu, load before, load after)."""
    load, started, kids = load1(), cpu(), children_cpu()
    out = fn()
    return out, cpu() - started, children_cpu() - kids, (load, load1())


def run_pair(name: str, gold, lay: Layout, seed: int, order: list[str]) -> dict[str, Run]:
    settings = EflomalSettings(seed=seed)
    span, n = lay.span, lay.n_gold

    def score(alignments) -> float:
        return alignment_scores(alignments[:n], gold.sure, gold.possible).aer

    # the earlier nights: per-span priors (as (i) fits them) and one fit over all their pairs
    started, kids = cpu(), children_cpu()
    per_span = [fit_priors(chunk, eflomal_config(len(chunk), settings)) for chunk in lay.history]
    merged = per_span[0]
    for priors in per_span[1:]:
        merged = merged.merge(priors)
    stored = merged.to_text()
    merged = EflomalPriors.from_text(stored, merged.n_pairs)  # what a nightly job would read back
    merged_cost = (cpu() - started, children_cpu() - kids)
    together = [p for chunk in lay.history for p in chunk]
    started, kids = cpu(), children_cpu()
    one_fit = fit_priors(together, eflomal_config(len(together), settings))
    one_fit = EflomalPriors.from_text(one_fit.to_text(), one_fit.n_pairs)
    one_cost = (cpu() - started, children_cpu() - kids)
    print(f"{name} seed {seed}: history fits: {len(lay.history)} x {len(lay.history[0])} pairs "
          f"{merged_cost[0]:.1f} s CPU ({merged_cost[1]:.1f} eflomal), priors text {len(stored) / 1e6:.1f} MB, "
          f"{len(merged.lexical)} lexical entries; one fit over {len(together)} pairs {one_cost[0]:.1f} s "
          f"({one_cost[1]:.1f} eflomal) | load {load1():.2f}", flush=True)

    runs: dict[str, Run] = {}
    own: dict = {}

    def own_run():
        config = eflomal_config(len(span), settings)
        priors, forward, reverse = fit_priors_with_links(span, config)
        own["priors"] = priors
        return [symmetrized(f, r, config.symmetrization) for f, r in zip(forward, reverse, strict=True)]

    def with_priors(priors: EflomalPriors):
        return lambda: EflomalAligner(eflomal_config(len(span), settings, priors=True), priors).align(span)

    jobs = {
        STRATEGIES[0]: own_run,
        STRATEGIES[1]: with_priors(merged),
        STRATEGIES[2]: with_priors(one_fit),
    }
    for strategy in [s for s in order if s in jobs] + [STRATEGIES[3]]:
        if strategy == STRATEGIES[3]:  # needs (i)'s priors: always after it; (i)'s run is part of its cost
            out, took, eflo, load = measured(lambda: EflomalAligner(
                eflomal_config(len(span), settings, priors=True), merged.merge(own["priors"])).align(span))
            took, eflo = took + runs[STRATEGIES[0]].cpu, eflo + runs[STRATEGIES[0]].eflomal
        else:
            out, took, eflo, load = measured(jobs[strategy])
        runs[strategy] = Run(score(out), took, eflo, load)
        print(f"{name} seed {seed} | {strategy} | AER {runs[strategy].aer:.4f} | CPU {took:.2f} s "
              f"({eflo:.2f} eflomal) | load {load[0]:.2f}-{load[1]:.2f}", flush=True)
    runs["history"] = Run(0.0, merged_cost[0], merged_cost[1], (0, 0))
    runs["history one fit"] = Run(0.0, one_cost[0], one_cost[1], (0, 0))
    return runs


def spread(values: list[float], fmt: str) -> str:
    return f"{statistics.mean(values):{fmt}} ({min(values):{fmt}}-{max(values):{fmt}})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", nargs="*", default=["en-cs", "en-fr", "en-es", "en-hi"],
                        help="gold sets: en-fr ro-en en-cs en-es en-hi")
    parser.add_argument("--seeds", nargs="*", type=int, default=[1, 2])
    parser.add_argument("--span", type=int, default=2048, help="pairs per span")
    parser.add_argument("--history", type=int, default=6, help="earlier spans")
    args = parser.parse_args()
    golds = gold_sets()
    layouts = {}
    for name in args.pairs:
        gold, src, tgt = golds[name]
        lay = layout(gold.pairs, extra_bitext(src, tgt), args.span, args.history)
        if lay is None:
            print(f"{name}: skipped, no other bitext of the pair in shared data (no earlier spans)")
            continue
        layouts[name] = (gold, lay)
        print(f"{name}: new span {len(lay.span)} pairs ({lay.n_gold} gold), earlier spans {len(lay.history)} x "
              f"{len(lay.history[0])} pairs", flush=True)
    EflomalAligner(EflomalConfig(n_iterations=(1, 1, 1), n_samplers=1)).align(
        next(iter(layouts.values()))[1].span[:200])  # warm-up
    results: dict[str, list[dict[str, Run]]] = {name: [] for name in layouts}
    for k, seed in enumerate(args.seeds):
        order = STRATEGIES[:3][k % 3:] + STRATEGIES[:3][:k % 3]
        for name, (gold, lay) in layouts.items():
            results[name].append(run_pair(name, gold, lay, seed, order))

    print(f"\nseeds {' '.join(map(str, args.seeds))}; {os.cpu_count()} cores. CPU = process + eflomal children per new "
          "span, s (eflomal children alone in brackets); history CPU = the earlier nights' fits, not paid tonight.\n")
    print("| pair | new span (gold) | earlier spans | strategy | AER mean (min-max) | dAER vs (i) mean (min-max) | "
          "CPU s per span mean (min-max) | eflomal s | history fit CPU s | load |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, runs in results.items():
        lay = layouts[name][1]
        for strategy in STRATEGIES:
            got = [r[strategy] for r in runs]
            delta = [r[strategy].aer - r[STRATEGIES[0]].aer for r in runs]
            history = {STRATEGIES[1]: "history", STRATEGIES[3]: "history", STRATEGIES[2]: "history one fit"}
            hist = spread([r[history[strategy]].cpu for r in runs], ".1f") if strategy in history else "-"
            loads = [x for r in got for x in r.load]
            print(f"| {name} | {len(lay.span)} ({lay.n_gold}) | {len(lay.history)} x {len(lay.history[0])} | "
                  f"{strategy} | {spread([r.aer for r in got], '.4f')} | "
                  f"{'-' if strategy == STRATEGIES[0] else spread(delta, '+.4f')} | "
                  f"{spread([r.cpu for r in got], '.2f')} | {statistics.mean(r.eflomal for r in got):.2f} | "
                  f"{hist} | {min(loads):.1f}-{max(loads):.1f} |", flush=True)


if __name__ == "__main__":
    main()
