"""Scoring bags with a trained model: cross-lingual bags and per-language sub-bags, then the metrics."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import torch

from rex.metrics import evaluate_scores, save_pr_plot
from rex.model.relation import RelationModel, language_views

ALL = "all"


def to_device(batch: dict, device: torch.device) -> dict:
    return {k: (v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}


def facts_for(retriever, keys: list[tuple[str, str]], device: torch.device) -> dict[str, torch.Tensor]:
    """Retrieved KB facts of the batch's pairs, as the model's keyword arguments: ``facts`` (NB, K, F) float,
    ``fact_mask`` (NB, K) bool and, when the retriever gives them, ``fact_roles`` (NB, 5 R_kb); {} without one."""
    if retriever is None:
        return {}
    found = retriever.retrieve(keys)
    out = {"facts": torch.as_tensor(found.embeddings, dtype=torch.float32, device=device),
           "fact_mask": torch.as_tensor(found.mask, dtype=torch.bool, device=device)}
    if found.roles is not None:
        out["fact_roles"] = torch.as_tensor(found.roles, dtype=torch.float32, device=device)
    return out


@torch.no_grad()
def score_bags(model: RelationModel, batches: Iterable[dict], device: torch.device,
               retriever=None, keys_out: dict[str, list] | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{group: (gold (M, R), scores (M, R))} for group 'all' (whole cross-lingual bags) and each language
    (the bag restricted to that language's instances). ``keys_out``, when given, receives each group's bag
    keys in row order (a bag key is the (head, tail) pair), so two models' rows can be matched by key."""
    model.eval()
    keys: dict[str, list] = {} if keys_out is None else keys_out
    gold: dict[str, list] = {}
    scores: dict[str, list] = {}
    for batch in batches:
        batch = to_device(batch, device)
        facts = facts_for(retriever, batch["keys"], device)
        reps = model.encode(batch)  # (N, D)
        lexical = model.lexical_logits(batch)  # (N, R) or None
        nb = len(batch["keys"])
        full = torch.sigmoid(model.classify(reps, batch["bag_index"], nb, **facts, lexical=lexical)["bag_logits"])
        gold.setdefault(ALL, []).append(batch["labels"].cpu().numpy())
        scores.setdefault(ALL, []).append(full.float().cpu().numpy())
        keys.setdefault(ALL, []).extend(tuple(k) for k in batch["keys"])
        view_index, views = language_views(batch["langs"], batch["bag_index"])
        view_bag = torch.tensor([b for b, _ in views], dtype=torch.long, device=device)
        sub_facts = {name: value[view_bag] for name, value in facts.items()}
        sub = torch.sigmoid(model.classify(reps, view_index, len(views), **sub_facts,
                                           lexical=lexical)["bag_logits"]).float().cpu()
        sub_gold = batch["labels"][view_bag].cpu()
        for v, (b, lang) in enumerate(views):
            gold.setdefault(lang, []).append(sub_gold[v : v + 1].numpy())
            scores.setdefault(lang, []).append(sub[v : v + 1].numpy())
            keys.setdefault(lang, []).append(tuple(batch["keys"][b]))
    return {g: (np.concatenate(gold[g]), np.concatenate(scores[g])) for g in gold}


def group_thresholds(groups: Iterable[str], threshold: float,
                     lang_thresholds: Mapping[str, float] | None = None) -> dict[str, float]:
    """The cut each group is evaluated at: a language group's own (model.lang_thresholds) when the model has one,
    else ``threshold``; ALL (whole cross-lingual bags) always ``threshold``."""
    langs = lang_thresholds or {}
    return {group: threshold if group == ALL else langs.get(group, threshold) for group in groups}


def metrics_from_scores(scored: dict[str, tuple[np.ndarray, np.ndarray]], threshold: float,
                        plot_path: str | Path | None = None, title: str = "",
                        lang_thresholds: Mapping[str, float] | None = None) -> dict[str, dict[str, float]]:
    """Metrics per group (see rex.metrics.evaluate_scores), each language group at its ``lang_thresholds`` cut
    when it has one (the model's ``model.lang_thresholds``), every other group at ``threshold``; the metrics then
    carry the ``threshold`` used. Optionally the PR curves as a PNG, each marked at its group's cut."""
    cuts = group_thresholds(scored, threshold, lang_thresholds)
    out = {group: evaluate_scores(g, s, cuts[group]) for group, (g, s) in sorted(scored.items())}
    if lang_thresholds:
        # which cut produced P/R/F1, once per-language cuts make it differ between groups
        for group, metrics in out.items():
            metrics["threshold"] = cuts[group]
    if plot_path is not None and scored:
        save_pr_plot(scored, str(plot_path), title, cuts if lang_thresholds else threshold)
    return out


def positive_share_shifts(dev: Mapping[str, Mapping[str, float]], test: Mapping[str, Mapping[str, float]],
                          ratio: float = 1.5, min_items: int = 30) -> dict[str, dict[str, float]]:
    """Groups whose share of positive items differs between two splits' metrics (rex.metrics.evaluate_scores:
    ``positive_items`` of ``items``) by more than ``ratio`` either way: {group: {"dev": share, "test": share}}.
    Groups with fewer than ``min_items`` items in either split are left out: their shares are noise.

    A cut tuned on dev predicts about as many pairs as dev holds; where test holds twice the positives it predicts
    too few there, and a per-language F1 reads low for a reason that is the split's, not the model's (bench/RESULTS.md,
    "the test split's positive rate")."""
    out = {}
    for group in sorted(set(dev) & set(test)):
        if min(dev[group].get("items", 0), test[group].get("items", 0)) < max(min_items, 1):
            continue
        shares = {name: metrics.get("positive_items", 0) / metrics["items"]
                  for name, metrics in (("dev", dev[group]), ("test", test[group]))}
        low, high = sorted(shares.values())
        if high > 0 and (low == 0 or high / low > ratio):
            out[group] = {k: round(v, 3) for k, v in shares.items()}
    return out
