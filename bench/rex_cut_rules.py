"""Which per-language decision-cut rule transfers from dev to unseen data, chosen on dev alone.

A saved model scores the dev and test bags of its shards (its own data config, retrieval index and input layout:
rex.evaluate.score_bags over ``BagBatches.for_config``). Then, for each rule, dev's language sub-bags are split at
random into halves many times; the rule's cuts are tuned on one half and the per-language micro F1 is measured on
the other (and the other way round). The rule with the best mean held-out F1 is the one to use; test is printed
beside it for reference, never used to choose. Rules:

* ``own N``: a language's own best-F1 cut from N positive dev bags, else the whole-bag cut (the rule before);
* ``pooled``: one cut tuned on every language's sub-bags together;
* ``own N, else pooled``: ``rex.trainer.tune_thresholds`` at ``train.min_lang_threshold_positives`` N (the rule now);
* ``shrink K``: a language's own cut pulled toward the pooled one as if the pooled cut had K more positives.
* ``bagged``: a language's own cut as the median of the best cuts of bootstrap resamples of its dev bags.
* ``mean_f1``: one cut for every language, chosen for the best mean of the per-language micro F1s.

    python -m bench.rex_cut_rules --model runs/m/model --shards out/shards-* --cache-dir /tmp/bags \\
        [--retrieval-index DIR] [--halvings 30]
"""

from __future__ import annotations

import argparse
import dataclasses
import logging

import numpy as np
import torch
from torch.utils.data import DataLoader

from rex.config import ModelConfig
from rex.data import BagBatches, build_bag_cache, resolve_shards
from rex.data.loader import instance_texts
from rex.encoder.features import FeatureStore, fill
from rex.evaluate import ALL, metrics_from_scores, score_bags
from rex.metrics import best_f1_threshold
from rex.model.io import base_reference_of, load_model_dir
from rex.retrieval.policy import build_retriever
from rex.trainer import tune_thresholds

Groups = dict[str, tuple[np.ndarray, np.ndarray]]


def positives(gold: np.ndarray) -> int:
    return int((gold > 0).any(axis=1).sum())


def pooled_cut(dev: Groups, fallback: float) -> float:
    langs = [g for g in dev if g != ALL]
    found = best_f1_threshold(np.concatenate([dev[g][0] for g in langs]), np.concatenate([dev[g][1] for g in langs]))
    return found[0] if found else fallback


def rule_cuts(rule: tuple[str, int], dev: Groups) -> dict[str, float]:
    """Each language's cut under ``rule``, tuned on ``dev``."""
    kind, n = rule
    if kind == "tune_thresholds":  # the trainer's own rule
        cfg = ModelConfig()
        tune_thresholds(cfg, dev, n)
        return {g: cfg.threshold_for(g) for g in dev if g != ALL}
    if kind == "mean_f1":  # one cut for every language, the one with the best mean of the per-language micro F1s
        langs = [g for g in dev if g != ALL]
        grid = np.unique(np.quantile(np.concatenate([dev[g][1].ravel() for g in langs]), np.linspace(0.5, 0.9999, n)))
        best = max(grid, key=lambda c: mean_f1(dev, {g: float(c) for g in langs}))
        return {g: float(best) for g in langs}
    if kind == "bagged":  # each language's own cut as the median best cut over n bootstrap resamples of its bags
        rng = np.random.default_rng(0)
        cuts = {}
        for g, (gold, scores) in dev.items():
            if g == ALL:
                continue
            found = [best_f1_threshold(gold[i], scores[i]) for i in
                     (rng.integers(0, len(gold), len(gold)) for _ in range(n))]
            found = [f[0] for f in found if f is not None]
            cuts[g] = float(np.median(found)) if found else pooled_cut(dev, 0.5)
        return cuts
    whole = best_f1_threshold(*dev[ALL])
    whole = whole[0] if whole else 0.5
    pool = pooled_cut(dev, whole)
    cuts = {}
    for g, (gold, scores) in dev.items():
        if g == ALL:
            continue
        own = best_f1_threshold(gold, scores) if positives(gold) else None
        if kind == "own":
            cuts[g] = own[0] if own and positives(gold) >= n else whole
        else:  # shrink
            k = positives(gold)
            cuts[g] = (k * own[0] + n * pool) / (k + n) if own else pool
    return cuts


# "pooled": the trainer's rule with a minimum no language reaches
RULES = {"own 10 (before)": ("own", 10), "pooled": ("tune_thresholds", 10**9),
         "own 30, else pooled": ("tune_thresholds", 30),
         "own 50, else pooled (now)": ("tune_thresholds", 50), "shrink 10": ("shrink", 10),
         "shrink 30": ("shrink", 30), "bagged own (median of 30 bootstrap cuts)": ("bagged", 30),
         "one cut, best mean per-language F1": ("mean_f1", 200)}


def mean_f1(groups: Groups, cuts: dict[str, float]) -> float:
    scored = metrics_from_scores({g: groups[g] for g in cuts}, 0.5, lang_thresholds=cuts)
    return float(np.mean([scored[g]["micro_f1"] for g in cuts]))


def halves(dev: Groups, rng: np.random.Generator) -> tuple[Groups, Groups]:
    a, b = {}, {}
    for g, (gold, scores) in dev.items():
        mask = rng.random(len(gold)) < 0.5
        a[g], b[g] = (gold[mask], scores[mask]), (gold[~mask], scores[~mask])
    return a, b


def score_split(model_dir: str, shards: list[str], split: str, cache_dir: str, retrieval_index: str | None) -> Groups:
    loaded = load_model_dir(model_dir, torch.device("cpu"))
    data = dataclasses.replace(loaded.config.data, shards=shards)
    cache = build_bag_cache(resolve_shards(shards), split, data, cache_dir)
    retriever = build_retriever(loaded.config.model.retrieval, "evaluate", shards=shards, index_dir=retrieval_index)
    cfg, features = loaded.config, None
    if cfg.encoder.tune == "frozen" and cfg.data.feature_cache:  # the run's cached features, as the trainer reads them
        features = FeatureStore(cfg.data.feature_cache, base_reference_of(cfg), cfg.encoder.pooling,
                                cfg.data.max_length, loaded.model.encoder.output_size)
        fill(features, loaded.model.encoder, loaded.tokenizer, instance_texts(cache), cfg.data.max_length,
             torch.device("cpu"), cfg.data.feature_batch_size, progress=False)
    batches = BagBatches.for_config(cache, loaded.tokenizer, loaded.labels, cfg, batch_size=cfg.train.eval_batch_size,
                                    seed=cfg.train.seed, features=features)
    return score_bags(loaded.model, DataLoader(batches, batch_size=None), torch.device("cpu"), retriever)


def saved_model_parser(description: str) -> argparse.ArgumentParser:
    """The flags of a benchmark over one saved model's dev/test scores (score_split's arguments, a seed)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--model", required=True, help="a saved rex model directory")
    parser.add_argument("--shards", nargs="+", required=True)
    parser.add_argument("--cache-dir", required=True, help="bag caches (reused)")
    parser.add_argument("--retrieval-index", default=None, help="for retrieval models: their fact index")
    parser.add_argument("--seed", type=int, default=0)
    return parser


def main() -> None:
    parser = saved_model_parser(__doc__.splitlines()[0])
    parser.add_argument("--halvings", type=int, default=30)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    dev, test = (score_split(args.model, args.shards, s, args.cache_dir, args.retrieval_index) for s in ("dev", "test"))
    rng = np.random.default_rng(args.seed)
    held: dict[str, list[float]] = {name: [] for name in RULES}
    for _ in range(args.halvings):
        a, b = halves(dev, rng)
        for tune, other in ((a, b), (b, a)):
            for name, rule in RULES.items():
                held[name].append(mean_f1(other, rule_cuts(rule, tune)))
    print(f"{args.model}: dev positive bags per language "
          f"{ {g: positives(gold) for g, (gold, _) in sorted(dev.items()) if g != ALL} }")
    print("| rule | dev halves: mean per-language micro F1 (± sd) | test, cuts tuned on all of dev (reference) |")
    print("|---|---|---|")
    for name, rule in RULES.items():
        print(f"| {name} | {np.mean(held[name]):.3f} ± {np.std(held[name]):.3f} | "
              f"{mean_f1(test, rule_cuts(rule, dev)):.3f} |")


if __name__ == "__main__":
    main()
