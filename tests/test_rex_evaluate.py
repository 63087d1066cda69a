"""rex.evaluate: per-language sub-bags, scoring every group, the retrieval call."""

from __future__ import annotations

import numpy as np
import torch

from rex.evaluate import facts_for, language_views, metrics_from_scores, positive_share_shifts
from rex.retrieval.api import RetrievedFacts


def test_language_views_split_bags_by_language():
    index, views = language_views(["en", "de", "en", "zh"], torch.tensor([0, 0, 0, 1]))
    assert index.tolist() == [0, 1, 0, 2]
    assert views == [(0, "en"), (0, "de"), (1, "zh")]


def test_facts_for_converts_and_passes_keys():
    class Fake:
        dim, k = 3, 2

        def __init__(self):
            self.asked = None

        def retrieve(self, pairs):
            self.asked = list(pairs)
            return RetrievedFacts(np.ones((len(pairs), 2, 3), np.float32), np.array([[True, False]] * len(pairs)),
                                  [["a"]] * len(pairs))

    fake = Fake()
    found = facts_for(fake, [("Q1", "Q2")], torch.device("cpu"))
    assert fake.asked == [("Q1", "Q2")] and found["facts"].shape == (1, 2, 3)
    assert found["fact_mask"].dtype == torch.bool and "fact_roles" not in found  # this retriever gives none
    assert facts_for(None, [("Q1", "Q2")], torch.device("cpu")) == {}


def test_metrics_per_group_and_plot(tmp_path):
    scored = {"all": (np.array([[1, 0]]), np.array([[0.9, 0.2]])), "en": (np.array([[1, 0]]), np.array([[0.4, 0.1]]))}
    out = metrics_from_scores(scored, 0.5, tmp_path / "pr.png")
    assert out["all"]["micro_f1"] == 1.0 and out["en"]["micro_f1"] == 0.0 and out["en"]["pr_auc"] == 1.0
    assert (tmp_path / "pr.png").exists()


def test_positive_share_shifts_name_the_groups_whose_positive_rate_moves_between_splits():
    dev = {"all": {"items": 100, "positive_items": 10}, "ar": {"items": 80, "positive_items": 10},
           "fr": {"items": 60, "positive_items": 9}, "th": {"items": 50, "positive_items": 0},
           "zh": {"items": 0, "positive_items": 0}, "dev_only": {"items": 5, "positive_items": 1},
           "hi": {"items": 6, "positive_items": 1}}
    test = {"all": {"items": 100, "positive_items": 12}, "ar": {"items": 80, "positive_items": 24},
            "fr": {"items": 60, "positive_items": 6}, "th": {"items": 50, "positive_items": 5},
            "zh": {"items": 0, "positive_items": 0}, "hi": {"items": 6, "positive_items": 5}}
    # all: 1.2x (kept quiet); ar 3x up; fr 1.5x down (not more than 1.5x); th from none; zh empty in both;
    # hi 5x up, but six bags a side say nothing
    assert positive_share_shifts(dev, test, min_items=6)["hi"] == {"dev": 0.167, "test": 0.833}
    assert positive_share_shifts(dev, test) == {"ar": {"dev": 0.125, "test": 0.3}, "th": {"dev": 0.0, "test": 0.1}}
    assert positive_share_shifts(dev, test, ratio=1.4) == {"ar": {"dev": 0.125, "test": 0.3},
                                                           "fr": {"dev": 0.15, "test": 0.1},
                                                           "th": {"dev": 0.0, "test": 0.1}}
