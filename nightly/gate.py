"""The gate: candidate and champion scored on the same bags, compared by a configured rule.

Both models score the same bag cache (built once from tonight's test shards with the night's data config,
same bag sampling and order), each with the retrieval index it was trained with; their rows are matched by bag
key in every group (whole bags and each language), and a bag scored by one model only stops the gate. Their
scores are placed in the union of their relation sets (a relation a model does not know scores 0), so the
gold matrix is the same for both; the always-no-relation baseline (all scores 0: micro/macro F1 = 0, PR-AUC =
the share of positive (bag, relation) pairs, the expected area of an uninformed ranking) is computed on that
gold too.
``decide`` is a pure function of the metrics and the gate config.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from nightly.config import GateConfig
from rex.config import DataConfig
from rex.data import BagBatches, BagCache, build_bag_cache, resolve_shards
from rex.evaluate import ALL, score_bags
from rex.metrics import evaluate_scores, save_pr_plot
from rex.model.io import load_model_dir
from rex.retrieval.policy import build_retriever

logger = logging.getLogger(__name__)

Scored = dict[str, tuple[np.ndarray, np.ndarray]]  # group -> (gold (M, R), scores (M, R))


@dataclass
class ModelScores:
    labels: list[str]
    keys: dict[str, list[tuple]]  # group -> bag key of each row of ``scored[group]``
    scored: Scored
    threshold: float


def build_eval_cache(shards: Sequence[str], data: DataConfig, cache_root: str | Path, split: str = "test") -> BagCache:
    """The bag cache of ``split`` of ``shards`` under the night's data config (reused when unchanged)."""
    return build_bag_cache(resolve_shards(list(shards)), split, dataclasses.replace(data, shards=list(shards)),
                           cache_root)


def score_model(model_dir: str | Path, cache: BagCache, data: DataConfig, seed: int, device: torch.device,
                batch_size: int = 64, shards: Sequence[str] = ()) -> ModelScores:
    """Score every bag of ``cache`` with the model in ``model_dir`` (with its own retrieval index, if any; the
    dev and test pairs of ``shards``, the cache's own, are withheld as in rex.retrieval.policy)."""
    loaded = load_model_dir(model_dir, device)
    retriever = build_retriever(loaded.config.model.retrieval, "evaluate", shards=shards)
    # the model's own input layout (pooling, lexical path); the night's bag sampling (its evaluation cap)
    batches = BagBatches.for_config(cache, loaded.tokenizer, loaded.labels, loaded.config, batch_size=batch_size,
                                    seed=seed, max_bag_size=data.eval_max_bag_size)
    keys: dict[str, list[tuple]] = {}
    scored = score_bags(loaded.model, DataLoader(batches, batch_size=None), device, retriever, keys_out=keys)
    return ModelScores(list(loaded.labels), keys, scored, loaded.config.model.threshold)


def matched_rows(candidate: ModelScores, champion: ModelScores) -> ModelScores:
    """``champion`` with each group's rows put in the candidate's bag-key order. Both must have scored exactly
    the same bags (by key) in every group: otherwise the comparison would not be on the same data."""
    scored = {}
    if set(candidate.keys) != set(champion.keys):
        raise RuntimeError(f"candidate and champion scored different groups ({sorted(candidate.keys)} vs "
                           f"{sorted(champion.keys)}); gate not computed")
    for group, cand_keys in candidate.keys.items():
        champ_keys = champion.keys[group]
        row = {key: i for i, key in enumerate(champ_keys)}
        if len(row) != len(champ_keys) or len(set(cand_keys)) != len(cand_keys) or set(row) != set(cand_keys):
            only_cand, only_champ = set(cand_keys) - set(row), set(row) - set(cand_keys)
            raise RuntimeError(f"candidate and champion scored different bags in group {group!r} "
                               f"({len(only_cand)} only in the candidate's, {len(only_champ)} only in the "
                               f"champion's, or repeated keys); gate not computed")
        order = np.array([row[key] for key in cand_keys], dtype=int)
        gold, scores = champion.scored[group]
        scored[group] = (gold[order], scores[order])
    return ModelScores(champion.labels, {g: list(k) for g, k in candidate.keys.items()}, scored, champion.threshold)


def union_labels(*label_lists: Sequence[str]) -> list[str]:
    out: list[str] = []
    for labels in label_lists:
        out += [r for r in labels if r not in out]
    return out


def in_label_space(model: ModelScores, labels: Sequence[str]) -> Scored:
    """The model's (gold, scores) with columns ``labels``; relations the model lacks: gold 0, score 0."""
    index = {r: i for i, r in enumerate(model.labels)}
    out = {}
    for group, (gold, scores) in model.scored.items():
        g = np.zeros((len(gold), len(labels)), dtype=float)
        s = np.zeros((len(gold), len(labels)), dtype=float)
        for j, rel in enumerate(labels):
            if rel in index:
                g[:, j], s[:, j] = gold[:, index[rel]], scores[:, index[rel]]
        out[group] = (g, s)
    return out


def shared_gold(models: Sequence[ModelScores], labels: Sequence[str]) -> dict[str, np.ndarray]:
    """Gold per group in ``labels``: each relation's column from a model that knows it (they agree)."""
    spaces = [in_label_space(m, labels) for m in models]
    groups = spaces[0].keys()
    out = {}
    for group in groups:
        gold = np.maximum.reduce([space[group][0] for space in spaces])
        out[group] = gold
    return out


def baseline_metrics(gold: np.ndarray) -> dict[str, float]:
    """Always no relation: nothing predicted, every score tied at 0."""
    total = gold.size
    return {"micro_f1": 0.0, "macro_f1": 0.0, "pr_auc": float(gold.sum() / total) if total else 0.0,
            "items": int(len(gold)), "positive_items": int((gold.sum(axis=1) > 0).sum())}


def compare(candidate: ModelScores, champion: ModelScores | None, plot_path: str | Path | None = None,
            title: str = "") -> dict:
    """Metrics per group of candidate, champion and the always-NA baseline on the same gold; optional plot."""
    if champion is not None:
        champion = matched_rows(candidate, champion)
    models = [candidate] + ([champion] if champion is not None else [])
    labels = union_labels(*(m.labels for m in models))
    gold = shared_gold(models, labels)
    result: dict = {"labels": labels, "groups": {}}
    curves = {}
    for name, model in (("candidate", candidate), ("champion", champion)):
        if model is None:
            continue
        space = in_label_space(model, labels)
        for group, (_, scores) in space.items():
            metrics = evaluate_scores(gold[group], scores, model.threshold)
            result["groups"].setdefault(group, {})[name] = metrics
        curves[name] = (gold[ALL], space[ALL][1])
    for group, g in gold.items():
        result["groups"][group]["baseline"] = baseline_metrics(g)
    if plot_path is not None and curves:
        thresholds = {name: m.threshold for name, m in (("candidate", candidate), ("champion", champion))
                      if m is not None}
        save_pr_plot(curves, str(plot_path), title, thresholds)
    return result


def decide(comparisons: dict[str, dict], gate: GateConfig, has_champion: bool) -> dict:
    """Promote or not: every check on every eval set must hold. Returns {'promote', 'checks', 'reasons'}."""
    m = gate.metric
    checks = []
    for eval_name, comp in comparisons.items():
        groups = comp["groups"]
        cand_all = groups[ALL]["candidate"]
        if not has_champion:
            limit = groups[ALL]["baseline"][m] + gate.first_night_margin
            checks.append(_check(eval_name, ALL, f"{m} > always-NA + {gate.first_night_margin}",
                                 cand_all[m], groups[ALL]["baseline"][m], limit, cand_all[m] > limit))
            continue
        champ_all = groups[ALL]["champion"][m]
        limit = champ_all - gate.tolerance
        checks.append(_check(eval_name, ALL, f"{m} >= champion - {gate.tolerance}", cand_all[m], champ_all, limit,
                             cand_all[m] >= limit))
        for group in sorted(g for g in groups if g != ALL):
            positives = groups[group]["candidate"]["positive_items"]
            if positives < gate.min_positive_bags:
                checks.append({"eval": eval_name, "group": group, "rule": f"skipped: {positives} positive bags "
                               f"< {gate.min_positive_bags}", "candidate": groups[group]["candidate"][m],
                               "reference": groups[group]["champion"][m], "limit": None, "ok": None})
                continue
            champ = groups[group]["champion"][m]
            limit = champ - gate.max_language_drop
            checks.append(_check(eval_name, group, f"{m} >= champion - {gate.max_language_drop}",
                                 groups[group]["candidate"][m], champ, limit, groups[group]["candidate"][m] >= limit))
    failed = [c for c in checks if c["ok"] is False]
    reasons = [f"{c['eval']}/{c['group']}: {m} {c['candidate']:.4f} fails '{c['rule']}' (limit {c['limit']:.4f})"
               for c in failed]
    if not checks:
        reasons.append("no eval set to gate on")
    return {"promote": bool(checks) and not failed, "metric": m, "checks": checks, "reasons": reasons}


def _check(eval_name: str, group: str, rule: str, candidate: float, reference: float, limit: float,
           ok: bool) -> dict:
    return {"eval": eval_name, "group": group, "rule": rule, "candidate": float(candidate),
            "reference": float(reference), "limit": float(limit), "ok": bool(ok)}
