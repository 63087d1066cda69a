"""rex.metrics on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from rex.metrics import (
    best_f1_threshold,
    evaluate_scores,
    interpolated_precision,
    operating_point,
    pr_auc,
    pr_curve,
    pr_figure,
    precision_at,
    prf,
    save_pr_plot,
)


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


def test_interpolated_precision_is_the_best_precision_at_equal_or_higher_recall():
    assert interpolated_precision(np.array([1.0, 0.5, 0.667, 0.5, 0.6])).tolist() == [1.0, 0.667, 0.667, 0.6, 0.6]


def test_operating_point_is_the_precision_and_recall_at_the_threshold():
    gold = np.array([[1, 0], [0, 0], [0, 1]])
    scores = np.array([[0.6, 0.1], [0.45, 0.3], [0.4, 0.9]])  # ranked: 0.9 hit, 0.6 hit, 0.45 miss, 0.4 miss
    assert operating_point(gold, scores, 0.5) == (1.0, 1.0)
    assert operating_point(gold, scores, 0.42) == pytest.approx((1.0, 2 / 3))
    assert operating_point(gold, scores, 0.95) is None


def test_pr_figure_marks_thresholds_counts_positive_bags_and_keeps_the_legend_off_the_axes():
    gold = np.array([[1, 0], [0, 0], [0, 1], [1, 1]])
    scores = np.array([[0.6, 0.1], [0.45, 0.3], [0.4, 0.9], [0.2, 0.35]])
    fig = pr_figure({"all": (gold, scores), "de": (gold[:2], scores[:2])}, "t", thresholds={"all": 0.42, "de": 0.5})
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts[0].startswith("all: AUC") and "3 positive bags" in texts[0] and "at 0.42: P 0.67, R 0.50" in texts[0]
    assert "1 positive bags" in texts[1] and "at 0.5: P 1.00, R 1.00" in texts[1]
    marks = [line.get_xydata() for line in ax.get_lines() if line.get_marker() == "o"]
    points = [tuple(xy[0]) for xy in marks if len(xy)]  # the legend's proxy marker has no data
    assert points == [pytest.approx((0.5, 2 / 3)), pytest.approx((1.0, 1.0))]
    curve = ax.get_lines()[0].get_ydata()
    assert all(a >= b for a, b in zip(curve[:-1], curve[1:], strict=True))  # interpolated: never rises
    fig.canvas.draw()
    legend_box = ax.get_legend().get_window_extent()
    assert legend_box.x0 >= ax.get_window_extent().x1  # to the right of the axes, over no curve


def test_pr_figure_without_positive_pairs_says_so():
    fig = pr_figure({"all": (np.zeros((3, 2)), np.full((3, 2), 0.5))}, "t", 0.5)
    assert fig.axes[0].get_legend() is None and [t.get_text() for t in fig.axes[0].texts] == ["no positive bags"]
