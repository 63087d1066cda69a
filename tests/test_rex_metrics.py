"""rex.metrics on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from rex.metrics import best_f1_threshold, evaluate_scores, pr_auc, pr_curve, precision_at, prf, save_pr_plot


def test_prf_micro_macro_excludes_no_relation():
    gold = np.array([[1, 0], [0, 1], [0, 0], [1, 0]])  # row 2 is a no-relation item
    pred = np.array([[1, 0], [1, 0], [0, 0], [0, 0]])
    out = prf(gold, pred)
    # micro: tp=1, predicted=2, gold=3
    assert out["micro_p"] == pytest.approx(0.5)
    assert out["micro_r"] == pytest.approx(1 / 3)
    assert out["micro_f1"] == pytest.approx(2 * 0.5 * (1 / 3) / (0.5 + 1 / 3))
    # relation 0: p=1/2, r=1/2; relation 1: p=0 (nothing predicted), r=0
    assert out["macro_p"] == pytest.approx(0.25)
    assert out["macro_r"] == pytest.approx(0.25)
    assert out["macro_f1"] == pytest.approx(0.25)


def test_prf_all_no_relation_is_zero_not_nan():
    out = prf(np.zeros((3, 2)), np.zeros((3, 2)))
    assert out == {k: 0.0 for k in out}


def test_pr_curve_auc_and_precision_at_n():
    gold = np.array([[1, 0], [0, 1]])
    scores = np.array([[0.9, 0.8], [0.1, 0.7]])  # ranking: (0,0)+ (0,1)- (1,1)+ (1,0)-
    precision, recall = pr_curve(gold, scores)
    np.testing.assert_allclose(precision, [1, 0.5, 2 / 3, 0.5])
    np.testing.assert_allclose(recall, [0.5, 0.5, 1, 1])
    # trapezoids over recall, from (0, 1): 0->0.5 at precision 1, 0.5->1 between precision 0.5 and 2/3
    assert pr_auc(gold, scores) == pytest.approx(0.5 + 0.5 * (0.5 + 2 / 3) / 2)
    assert precision_at(gold, scores, 1) == 1.0
    assert precision_at(gold, scores, 3) == pytest.approx(2 / 3)
    assert precision_at(gold, scores, 100) == 0.5  # fewer pairs than N: all pairs


def test_evaluate_scores_threshold_and_counts(tmp_path):
    gold = np.array([[1, 0], [0, 0], [0, 1]])
    scores = np.array([[0.6, 0.1], [0.2, 0.3], [0.4, 0.9]])
    out = evaluate_scores(gold, scores, threshold=0.5)
    assert out["micro_f1"] == 1.0 and out["items"] == 3 and out["positive_items"] == 2
    assert out["pr_auc"] == pytest.approx(1.0)  # both positives ranked first
    save_pr_plot({"all": (gold, scores)}, str(tmp_path / "pr.png"), "t")
    assert (tmp_path / "pr.png").read_bytes()[:4] == b"\x89PNG"


def test_best_f1_threshold_picks_the_cut_with_the_best_micro_f1():
    gold = np.array([[1, 0], [1, 0], [0, 1], [0, 0]])
    scores = np.array([[0.30, 0.01], [0.20, 0.02], [0.05, 0.25], [0.04, 0.03]])
    threshold, f1 = best_f1_threshold(gold, scores)
    # the three positives are the three highest scores: the cut after them gives F1 1
    assert threshold == pytest.approx(0.2, abs=1e-6) and f1 == pytest.approx(1.0)
    assert prf(gold, scores >= threshold)["micro_f1"] == pytest.approx(1.0)


def test_best_f1_threshold_never_splits_tied_scores_and_respects_the_floor():
    gold = np.array([[1], [0], [0]])
    tied = np.array([[0.4], [0.4], [0.1]])
    threshold, f1 = best_f1_threshold(gold, tied)
    assert threshold == pytest.approx(0.4, abs=1e-6) and f1 == pytest.approx(2 * 0.5 * 1 / 1.5)
    assert best_f1_threshold(gold, np.array([[0.001], [0.0], [0.0]])) is None  # only below the floor
    assert best_f1_threshold(np.zeros((2, 1)), np.ones((2, 1))) is None  # no positive
