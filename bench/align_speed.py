"""Speed vs AER of eflomal settings for bulk alignment (the pipeline's bundles with priors).

The corpus is a gold set plus all raw bitext ../shared/data holds for the pair (unique sentences, nothing
replicated). Priors are fitted once on a sample of the bitext (the gold sentences excluded), then the whole
corpus is aligned in bundles of ``--bundle`` pairs with those priors, as the pipeline does. Printed per
setting: seconds to fit the priors, seconds and pairs/s to align the corpus, AER (grow-diag-final-and) on the
gold sentences. eflomal runs ~5000/sqrt(bundle) sampler iterations per call (times ``rel_iterations``),
so big bundles cost less per pair.

    python -m bench.align_speed --pair en-cs
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

from alignment.eval.metrics import alignment_scores
from alignment.word.eflomal_aligner import EflomalAligner, EflomalConfig, fit_priors
from bench.data import extra_bitext, gold_sets

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pair", default="en-cs", help="gold set: en-fr ro-en en-cs en-es en-hi")
    parser.add_argument("--settings", nargs="*", type=int, default=None, help="indices into SETTINGS")
    args = parser.parse_args()
    gold, src, tgt = gold_sets()[args.pair]
    extra = extra_bitext(src, tgt)
    print(f"## {args.pair}: {len(gold.pairs)} gold + {len(extra)} bitext pairs")
    print("| setting | priors fit s | align s | align pairs/s | AER gdfa |")
    print("|---|---|---|---|---|")
    for index in args.settings if args.settings is not None else range(len(SETTINGS)):
        label, bundle, prior_sample, config = SETTINGS[index]
        r = run(gold, extra, bundle, prior_sample, config)
        print(f"| {label} | {r['fit']:.1f} | {r['align']:.1f} | {r['pairs_s']:.0f} | {r['aer']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
