"""Per language, is rex's micro F1 above BoW-LR's by more than the test split's noise? A paired bootstrap.

A saved model scores the test bags of its shards as ``rex evaluate`` does (bench.rex_cut_rules.score_split: its data
config, retrieval index and input layout) and decides at its own cuts (``model.lang_thresholds``, else
``model.threshold``), or with ``--retune`` at cuts tuned on its dev bags by today's rule
(rex.trainer.tune_thresholds at ``train.min_lang_threshold_positives``: for a model saved before a rule change).
BoW-LR (bench/rex_quality.py: tf-idf character 1-3-grams, one-vs-rest logistic regression) is trained on the same
train bags and decides at 0.5, as in bench/rex_quality.py. Both systems see the same language sub-bags (their gold
labels are checked to be identical, bag by bag). Test bags of each language are resampled with replacement, the
same draw for both systems, and the difference of micro F1 recomputed: the 2.5 and 97.5 percentiles give a 95 %
interval. A language is "above" or "below" only when the interval excludes 0.

``--bow-cuts dev`` decides BoW-LR at cuts tuned on its own dev scores by the same rule as rex's
(rex.trainer.tune_thresholds), so both systems' cuts carry the same dev-to-test risk; the default keeps
bench/rex_quality.py's 0.5. Each language's share of positive sub-bags in dev and in test is printed beside it:
a cut tuned on dev predicts too few pairs where test holds many more positives than dev.

    python -m bench.rex_lang_significance --model runs/m/model --shards out/shards-* --cache-dir /tmp/bags \\
        [--retrieval-index DIR] [--resamples 1000] [--retune] [--bow-cuts dev]
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import torch

from bench.rex_cut_rules import Groups, positives, saved_model_parser, score_split
from bench.rex_quality import bow_baseline, grouped, instances
from rex.config import ModelConfig, RexConfig, TrainConfig
from rex.data import build_bag_cache, resolve_shards
from rex.evaluate import ALL
from rex.metrics import pr_auc
from rex.model.io import load_model_dir
from rex.trainer import tune_thresholds

BOW_THRESHOLD = 0.5  # bench/rex_quality.py's --threshold default


def bow_scores(cfg: RexConfig, shards: list[str], cache_dir: str, splits: tuple[str, ...] = ("test",)
               ) -> dict[str, Groups]:
    """BoW-LR's sub-bag scores of each of ``splits``, trained on the model's train bags (its data config ``cfg`` and
    seed)."""
    data = dataclasses.replace(cfg.data, shards=shards)
    files = resolve_shards(shards)
    caches = {s: build_bag_cache(files, s, data, cache_dir) for s in ("train", *splits)}
    # BoW-LR trains on the bags rex trains on and scores the bags rex's evaluation scores
    rows = {s: instances(cache, data.max_bag_size if s == "train" else data.eval_max_bag_size, cfg.train.seed)
            for s, cache in caches.items()}
    labels = caches["train"].labels
    # one fit, every split scored: the rows are concatenated and cut apart again
    scored = [r for s in splits for r in rows[s]]
    probs = bow_baseline(rows["train"], scored, labels)
    out, start = {}, 0
    for s in splits:
        out[s] = grouped(rows[s], probs[start:start + len(rows[s])], labels)
        start += len(rows[s])
    return out


def positive_share(gold: np.ndarray) -> float:
    """The share of sub-bags with at least one gold relation."""
    return positives(gold) / max(len(gold), 1)


def bag_counts(gold: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """(bags, 3): true positives, false positives and false negatives of each sub-bag's (bag, relation) cells."""
    gold, pred = np.asarray(gold, bool), np.asarray(pred, bool)
    return np.stack([(gold & pred).sum(1), (~gold & pred).sum(1), (gold & ~pred).sum(1)], axis=1)


def micro_f1(counts: np.ndarray) -> float:
    """Micro F1 of summed :func:`bag_counts` rows, 2 tp / (2 tp + fp + fn) (rex.metrics.prf's), 0 without a hit.
    Counts, unlike decision matrices, also pool sub-bags scored over different label sets."""
    tp, fp, fn = counts.sum(axis=0)
    return float(2 * tp / (2 * tp + fp + fn)) if tp else 0.0


def paired_bootstrap(a: np.ndarray, b: np.ndarray, resamples: int,
                     rng: np.random.Generator) -> tuple[float, float, float]:
    """(micro F1 of a - micro F1 of b, 2.5 and 97.5 percentiles of that difference over resampled sub-bags, the same
    draw for both); ``a``, ``b``: the two systems' :func:`bag_counts` of the same sub-bags."""
    diffs = []
    for _ in range(resamples):
        idx = rng.integers(0, len(a), len(a))
        diffs.append(micro_f1(a[idx]) - micro_f1(b[idx]))
    low, high = np.percentile(diffs, [2.5, 97.5])
    return micro_f1(a) - micro_f1(b), float(low), float(high)


def main() -> None:
    parser = saved_model_parser(__doc__.splitlines()[0])
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--retune", action="store_true",
                        help="tune the cuts on dev with today's rule instead of the model's saved ones")
    parser.add_argument("--bow-cuts", choices=("0.5", "dev"), default="0.5",
                        help="BoW-LR's cuts: 0.5 (bench/rex_quality.py) or tuned on its dev scores by rex's rule")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rex = score_split(args.model, args.shards, "test", args.cache_dir, args.retrieval_index)
    dev = score_split(args.model, args.shards, "dev", args.cache_dir, args.retrieval_index)
    cfg = load_model_dir(args.model, torch.device("cpu")).config
    model_cfg, min_positives = cfg.model, TrainConfig().min_lang_threshold_positives
    bow_splits = bow_scores(cfg, args.shards, args.cache_dir, ("dev", "test"))
    bow, bow_cfg = bow_splits["test"], ModelConfig(threshold=BOW_THRESHOLD)
    if args.bow_cuts == "dev":
        tune_thresholds(bow_cfg, bow_splits["dev"], min_positives)
    if args.retune:
        tune_thresholds(model_cfg, dev, min_positives)
    rng = np.random.default_rng(args.seed)
    print("| language | positive share of sub-bags, dev / test | positive test bags | rex micro F1 (cut) | "
          "BoW-LR micro F1 (cut) | rex - BoW-LR (95 % interval) | verdict | PR-AUC rex / BoW-LR |")
    print("|---|---|---|---|---|---|---|---|")
    verdicts = {"above": [], "below": [], "within noise": []}
    for lang in sorted(g for g in rex if g != ALL):
        (gold, scores), (bow_gold, bow_probs) = rex[lang], bow[lang]
        if gold.shape != bow_gold.shape or not (gold == bow_gold).all():
            raise SystemExit(f"{lang}: the two systems' test sub-bags differ; same shards and cache dir?")
        cut, bow_cut = model_cfg.threshold_for(lang), bow_cfg.threshold_for(lang)
        rex_counts, bow_counts = bag_counts(gold, scores >= cut), bag_counts(gold, bow_probs >= bow_cut)
        diff, low, high = paired_bootstrap(rex_counts, bow_counts, args.resamples, rng)
        verdict = "above" if low > 0 else "below" if high < 0 else "within noise"
        verdicts[verdict].append(lang)
        share = f"{positive_share(dev[lang][0]):.2f} / {positive_share(gold):.2f}" if lang in dev else "- / -"
        print(f"| {lang} | {share} | {positives(gold)} | {micro_f1(rex_counts):.3f} ({cut:.3f}) | "
              f"{micro_f1(bow_counts):.3f} ({bow_cut:.3f}) | {diff:+.3f} ({low:+.3f} .. {high:+.3f}) | "
              f"{verdict} | {pr_auc(gold, scores):.3f} / {pr_auc(gold, bow_probs):.3f} |")
    print("; ".join(f"{k}: {len(v)} {v}" for k, v in verdicts.items()))


if __name__ == "__main__":
    main()
