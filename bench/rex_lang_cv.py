"""Per language, rex (without retrieval) against BoW-LR by K-fold cross-validation over entity pairs.

In the languages whose only bitext is XQuAD (ar, el, ro, th, tr, vi) the pipeline's fixed test split holds 21-30
positive sub-bags, and its positive share differs from dev's by up to 2x, so that one split cannot tell the two systems
apart there (bench/rex_lang_significance.py: 95 % intervals about +-0.2 wide). Here every entity pair is tested once.
Pairs are hashed (unordered, with a salt of their own, so the folds do not follow the pipeline's split) into 2K
buckets; fold k tests buckets 2k and 2k+1, tunes on bucket 2k+2 (mod 2K) and trains on the rest (K=5: 70 / 10 / 20 %);
both directions and every language of a pair stay in one split, as in the pipeline. Verbalised KB facts
(``label_source`` 'verbalized', written for the pipeline's train pairs only) of a pair the fold holds out are
dropped and counted, as pipelines/verbalize.py rejects held-out pairs: they state the pair's relation outright.

Each fold retrains one saved model's recipe (its config.json: encoder, pooling, head, aggregator, steps, EMA, seed; its
cuts are tuned again on the fold's dev by training) and BoW-LR (bench/rex_quality.py) on the same train bags. rex
decides at its tuned cuts; BoW-LR at 0.5 (bench/rex_quality.py) and, as a second column, at cuts tuned on its own dev
scores by rex's rule. The test sub-bags of all folds are pooled per language: micro F1 from the summed counts, a
paired bootstrap over the pooled sub-bags for its 95 % interval, and PR-AUC per fold (in how many folds rex is above).
Frozen-feature recipes reuse the feature cache (keyed by instance id), so a fold costs one bag cache and one training.

    python -m bench.rex_lang_cv --like runs/m/model --shards out/shards-* --out /tmp/cv [--folds 5] [--jobs 2]

Folds already trained and scored under ``--out`` are reused (delete a fold's folder to redo it).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bench.rex_cut_rules import positives, score_split
from bench.rex_lang_significance import BOW_THRESHOLD, bag_counts, bow_scores, micro_f1, paired_bootstrap
from pipelines.hashing import unit_hash
from rex.config import ModelConfig, RexConfig, load_config
from rex.data import resolve_shards
from rex.evaluate import ALL
from rex.metrics import pr_auc
from rex.trainer import tune_thresholds
from schemas.shard import SHARD_SCHEMA, SPLITS

SYSTEMS = ("rex", "bow", "bow_dev")  # rex at its tuned cuts; BoW-LR at 0.5; BoW-LR at its dev-tuned cuts


def split_in_fold(head_id: str, tail_id: str, fold: int, folds: int) -> str:
    """'train', 'dev' or 'test' of the unordered pair {head_id, tail_id} in fold ``fold`` of ``folds``."""
    bucket = int(unit_hash("cv|" + "|".join(sorted((head_id, tail_id)))) * 2 * folds)
    if bucket // 2 == fold:
        return SPLITS[2]
    return SPLITS[1] if bucket == (2 * fold + 2) % (2 * folds) else SPLITS[0]


def resplit(table: pa.Table, fold: int, folds: int) -> tuple[pa.Table, int]:
    """``table`` (shard rows) with its split column set by :func:`split_in_fold`, without the verbalised rows of the
    pairs the fold holds out; and how many of those were dropped."""
    heads = pc.struct_field(table["head"], "kb_id").to_pylist()
    tails = pc.struct_field(table["tail"], "kb_id").to_pylist()
    splits = pa.array([split_in_fold(h, t, fold, folds) for h, t in zip(heads, tails, strict=True)], pa.string())
    table = table.set_column(table.schema.get_field_index("split"), "split", splits)
    leak = pc.and_(pc.equal(table["label_source"], "verbalized"), pc.not_equal(splits, SPLITS[0]))
    return table.filter(pc.invert(leak)), int(pc.sum(leak).as_py() or 0)


def write_fold_shards(shards: list[str], fold: int, folds: int, out: Path) -> Path:
    """Every row of ``shards`` (the pipeline's splits joined) into one shard file with the fold's splits (the
    dropped verbalised rows counted in ``shards.json`` beside it)."""
    target = out / "shards" / "rows.parquet"
    if target.exists():
        return target.parent
    target.parent.mkdir(parents=True, exist_ok=True)
    tables = [pq.read_table(s.path, filesystem=s.filesystem, schema=SHARD_SCHEMA) for s in resolve_shards(shards)]
    rows, dropped = resplit(pa.concat_tables(tables), fold, folds)
    (out / "shards.json").write_text(json.dumps({"rows": rows.num_rows, "verbalized_heldout_dropped": dropped}))
    partial = target.with_name("_rows.parquet")  # "_" files are skipped by readers until renamed
    pq.write_table(rows.cast(SHARD_SCHEMA), partial)
    partial.rename(target)
    return target.parent


def fold_recipe(like: RexConfig, shards: Path, out: Path, threads: int | None) -> RexConfig:
    """The saved recipe on the fold's shards: fresh cuts (training tunes them), the fold's bag caches, ``threads``
    (None: the recipe's train.cpu_threads)."""
    if like.model.retrieval is not None:
        raise SystemExit("rex_lang_cv: the recipe uses retrieval; its fact index holds out the pipeline's dev/test "
                         "pairs, not a fold's, so only recipes without retrieval are cross-validated")
    fresh = ModelConfig()
    return dataclasses.replace(
        like,
        data=dataclasses.replace(like.data, shards=[str(shards)], cache_dir=str(out / "bag-cache")),
        model=dataclasses.replace(like.model, threshold=fresh.threshold, lang_thresholds={}),
        train=dataclasses.replace(like.train, cpu_threads=like.train.cpu_threads if threads is None else threads,
                                  progress=False),
    )


def run_fold(like_dir: str, shards: list[str], fold: int, folds: int, out: str, threads: int | None) -> str:
    """Train and score one fold (reused when its scores exist); returns the path of its scores."""
    from rex.api import train

    out_dir = Path(out) / f"fold-{fold}"
    scores = out_dir / "scores.npz"
    if scores.exists():
        return str(scores)
    fold_shards = write_fold_shards(shards, fold, folds, out_dir)
    cfg = fold_recipe(load_config(Path(like_dir) / "config.json"), fold_shards, out_dir, threads)
    start = time.process_time()
    if not (out_dir / "rex" / "metrics.json").exists():
        train(cfg, out_dir / "rex")
    seconds = time.process_time() - start
    model_dir = out_dir / "rex" / "model"
    rex = score_split(str(model_dir), [str(fold_shards)], "test", cfg.data.cache_dir, None)
    trained = load_config(model_dir / "config.json")  # with the cuts training tuned
    bow = bow_scores(trained, [str(fold_shards)], cfg.data.cache_dir, ("dev", "test"))
    bow_dev_cfg = ModelConfig(threshold=BOW_THRESHOLD)  # BoW-LR's cuts by rex's rule, on its own dev scores
    tune_thresholds(bow_dev_cfg, bow["dev"], cfg.train.min_lang_threshold_positives)
    arrays: dict[str, np.ndarray] = {}
    for lang, (gold, score) in rex.items():
        bow_gold, bow_probs = bow["test"][lang]
        if gold.shape != bow_gold.shape or not (gold == bow_gold).all():
            raise SystemExit(f"fold {fold}, {lang}: the two systems' test sub-bags differ")
        arrays[f"{lang}/gold"] = gold
        arrays[f"{lang}/score/rex"], arrays[f"{lang}/pred/rex"] = score, score >= trained.model.threshold_for(lang)
        arrays[f"{lang}/score/bow"], arrays[f"{lang}/pred/bow"] = bow_probs, bow_probs >= BOW_THRESHOLD
        arrays[f"{lang}/pred/bow_dev"] = bow_probs >= bow_dev_cfg.threshold_for(lang)
    np.savez_compressed(out_dir / "_scores.npz", **arrays)
    (out_dir / "_scores.npz").rename(scores)
    # CPU seconds of training with its bag caches (features come from the shared feature cache)
    (out_dir / "fold.json").write_text(json.dumps({"fold": fold, "folds": folds, "rex_train_cpu_s": round(seconds)}))
    return str(scores)


def load_folds(paths: list[str]) -> list[dict[str, dict[str, np.ndarray]]]:
    """Per fold: language -> {"gold", "score/rex", "pred/rex", ...} arrays."""
    folds = []
    for path in paths:
        with np.load(path) as z:
            fold: dict = {}
            for key in z.files:
                lang, _, rest = key.partition("/")
                fold.setdefault(lang, {})[rest] = z[key]
            folds.append(fold)
    return folds


def report(folds: list[dict], resamples: int, seed: int) -> str:
    """The per-language table of the pooled test sub-bags of every fold (markdown) and a verdict line per comparison."""
    rng = np.random.default_rng(seed)
    langs = sorted({lang for f in folds for lang in f if lang != ALL}) + [ALL]
    lines = ["| language | positive sub-bags (of) | rex micro F1 | BoW-LR at 0.5 | rex - BoW-LR (95 % interval) | "
             "BoW-LR at dev cuts | rex - it (95 % interval) | PR-AUC rex / BoW-LR, mean of folds | "
             "folds rex PR-AUC above |", "|---|---|---|---|---|---|---|---|---|"]
    verdicts: dict[str, dict[str, list[str]]] = {s: {"above": [], "below": [], "within noise": []}
                                                  for s in SYSTEMS[1:]}
    for lang in langs:
        parts = [f[lang] for f in folds if lang in f]
        counts = {s: np.concatenate([bag_counts(p["gold"], p[f"pred/{s}"]) for p in parts]) for s in SYSTEMS}
        cells = [f"{micro_f1(counts['rex']):.3f}"]
        for other in SYSTEMS[1:]:
            diff, low, high = paired_bootstrap(counts["rex"], counts[other], resamples, rng)
            verdict = "above" if low > 0 else "below" if high < 0 else "within noise"
            if lang != ALL:
                verdicts[other][verdict].append(lang)
            cells += [f"{micro_f1(counts[other]):.3f}", f"{diff:+.3f} ({low:+.3f} .. {high:+.3f}) {verdict}"]
        aucs = [(pr_auc(p["gold"], p["score/rex"]), pr_auc(p["gold"], p["score/bow"])) for p in parts]
        above = sum(r > b for r, b in aucs)
        n_pos, n = sum(positives(p["gold"]) for p in parts), sum(len(p["gold"]) for p in parts)
        lines.append(f"| {lang} | {n_pos} ({n}) | " + " | ".join(cells) + f" | {np.mean([r for r, _ in aucs]):.3f} / "
                     f"{np.mean([b for _, b in aucs]):.3f} | {above} of {len(aucs)} |")
    for other, label in zip(SYSTEMS[1:], ("BoW-LR at 0.5", "BoW-LR at its dev cuts"), strict=True):
        lines.append(f"rex against {label}: " + "; ".join(f"{k}: {len(v)} {v}" for k, v in verdicts[other].items()))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--like", required=True, help="a saved rex model directory: its recipe is retrained per fold")
    parser.add_argument("--shards", nargs="+", required=True)
    parser.add_argument("--out", required=True, help="fold shards, bag caches, models and scores (reused)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2,
                        help="folds trained at once (one CPU thread each when > 1, else the recipe's)")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0, help="of the bootstrap")
    args = parser.parse_args()
    if args.folds < 2 or args.jobs < 1:
        parser.error("--folds must be >= 2 and --jobs >= 1")
    logging.basicConfig(level=logging.WARNING)
    threads = 1 if args.jobs > 1 else None  # folds side by side: one thread each
    # spawn: torch and its thread pools do not survive a fork
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(run_fold, args.like, args.shards, k, args.folds, args.out, threads)
                   for k in range(args.folds)]
        paths = [f.result() for f in futures]
    print(f"{args.folds}-fold cross-validation over entity pairs of {args.like}'s recipe (rex without retrieval) "
          "against BoW-LR, test sub-bags of every fold pooled:")
    for k in range(args.folds):
        facts = json.loads((Path(args.out) / f"fold-{k}" / "shards.json").read_text())
        print(f"fold {k}: {facts['rows']} rows; {facts['verbalized_heldout_dropped']} verbalised rows of its "
              "held-out pairs dropped")
    print(report(load_folds(paths), args.resamples, args.seed))


if __name__ == "__main__":
    main()
