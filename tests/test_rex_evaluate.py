"""rex.evaluate: per-language sub-bags, scoring every group, the retrieval call."""

from __future__ import annotations

import numpy as np
import torch

from rex.evaluate import facts_for, language_views, metrics_from_scores
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
