"""Relation-extraction metrics over multi-label predictions; "no relation" is never a class of its own.

Inputs are ``gold`` (M, R) 0/1 and ``scores`` (M, R) probabilities for M items (bags, or instances)
and R KB relations. P/R/F1 count only positive (item, relation) decisions, so NA is excluded:

* micro: pooled over all (item, relation) pairs;
* macro: the mean over relations that occur in the gold labels or the predictions (a relation that is
  neither predicted nor present has no defined precision or recall).

PR-AUC and P@N follow OpenNRE's bag-level protocol: all (item, relation) pairs ranked by score; the
curve's precision and recall at every cut-off; the area under it (trapezoidal, sklearn.metrics.auc), the
curve extended to recall 0 at its first precision.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import auc  # noqa: E402


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den else 0.0


def _f1(p: float, r: float) -> float:
    return _ratio(2 * p * r, p + r)


def prf(gold: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """gold, pred (M, R) 0/1 -> micro and macro precision, recall, F1 (no-relation excluded)."""
    gold, pred = np.asarray(gold, bool), np.asarray(pred, bool)
    tp = (gold & pred).sum(axis=0).astype(float)  # (R,)
    n_pred, n_gold = pred.sum(axis=0).astype(float), gold.sum(axis=0).astype(float)
    micro_p, micro_r = _ratio(tp.sum(), n_pred.sum()), _ratio(tp.sum(), n_gold.sum())
    seen = (n_pred + n_gold) > 0
    per_p = [_ratio(t, p) for t, p in zip(tp[seen], n_pred[seen], strict=True)]
    per_r = [_ratio(t, g) for t, g in zip(tp[seen], n_gold[seen], strict=True)]
    per_f = [_f1(p, r) for p, r in zip(per_p, per_r, strict=True)]
    return {
        "micro_p": micro_p, "micro_r": micro_r, "micro_f1": _f1(micro_p, micro_r),
        "macro_p": float(np.mean(per_p)) if per_p else 0.0,
        "macro_r": float(np.mean(per_r)) if per_r else 0.0,
        "macro_f1": float(np.mean(per_f)) if per_f else 0.0,
    }


def pr_curve(gold: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall after each of the (item, relation) pairs ranked by descending score."""
    flat_gold = np.asarray(gold, float).ravel()
    order = np.argsort(-np.asarray(scores, float).ravel(), kind="stable")
    hits = np.cumsum(flat_gold[order])
    ranks = np.arange(1, len(order) + 1)
    total = flat_gold.sum()
    return hits / ranks, (hits / total if total else np.zeros_like(hits))


def pr_auc(gold: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ranked precision-recall curve, started at recall 0 with the first precision (so a
    perfect ranking scores 1 even on small sets); 0 when there is no positive pair."""
    precision, recall = pr_curve(gold, scores)
    if not len(recall) or not recall[-1]:
        return 0.0
    return float(auc(np.r_[0.0, recall], np.r_[precision[0], precision]))


def best_f1_threshold(gold: np.ndarray, scores: np.ndarray, floor: float = 0.01) -> tuple[float, float] | None:
    """(threshold, micro F1) of the cut through the ranked (item, relation) pairs that maximises micro F1,
    or None without a positive pair. The threshold is the lowest score predicted at that cut (rounded down to
    6 decimals, so ``scores >= threshold`` predicts exactly those pairs), and never below ``floor``."""
    flat = np.asarray(scores, float).ravel()
    precision, recall = pr_curve(gold, scores)
    if not len(recall) or not recall[-1]:
        return None
    ranked = np.sort(flat)[::-1]
    # a cut may only fall where the score changes, or pairs with the same score would be split
    last_of_score = np.r_[ranked[1:] < ranked[:-1], True]
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    f1 = np.where(last_of_score & (ranked >= floor), f1, -1.0)
    best = int(np.argmax(f1))
    if f1[best] < 0:
        return None
    return max(floor, float(np.floor(ranked[best] * 1e6) / 1e6)), float(f1[best])


def precision_at(gold: np.ndarray, scores: np.ndarray, n: int) -> float:
    """Precision of the ``n`` highest-scored (item, relation) pairs (fewer when there are fewer pairs)."""
    precision, _ = pr_curve(gold, scores)
    return float(precision[min(n, len(precision)) - 1]) if len(precision) else 0.0


def evaluate_scores(gold: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """Every metric for one group of items: P/R/F1 at ``threshold``, PR-AUC, P@100/200/300, counts."""
    gold = np.asarray(gold, float).reshape(len(gold), -1)
    scores = np.asarray(scores, float).reshape(len(scores), -1)
    out = prf(gold, scores >= threshold)
    out["pr_auc"] = pr_auc(gold, scores)
    for n in (100, 200, 300):
        out[f"p@{n}"] = precision_at(gold, scores, n)
    out["items"] = int(len(gold))
    out["positive_items"] = int((gold.sum(axis=1) > 0).sum())
    return out


def interpolated_precision(precision: np.ndarray) -> np.ndarray:
    """The standard interpolation: at each cut, the best precision reached at this recall or any higher one
    (so the curve never rises to the right and the saw-tooth of single ranks disappears)."""
    return np.maximum.accumulate(np.asarray(precision, float)[::-1])[::-1]


def operating_point(gold: np.ndarray, scores: np.ndarray, threshold: float) -> tuple[float, float] | None:
    """(recall, precision) of predicting every (item, relation) pair with score >= threshold; None if none is."""
    precision, recall = pr_curve(gold, scores)
    predicted = int((np.asarray(scores, float).ravel() >= threshold).sum())
    return (float(recall[predicted - 1]), float(precision[predicted - 1])) if predicted else None


def pr_figure(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], title: str = "",
              thresholds: float | Mapping[str, float] | None = None):
    """A matplotlib Figure of interpolated PR curves {name: (gold, scores)}: each curve's operating point at its
    threshold (one for all, or one per curve) is marked, and the legend (AUC, positive bags, the point's P/R) sits
    to the right of the axes, never over the curves."""
    fig, ax = plt.subplots(figsize=(7.5, 4), dpi=120)
    marked = False
    for name, (gold, scores) in curves.items():
        precision, recall = pr_curve(gold, scores)
        if not len(recall) or not recall[-1]:
            continue
        positives = int((np.asarray(gold).reshape(len(gold), -1).sum(axis=1) > 0).sum())
        cut = thresholds.get(name) if isinstance(thresholds, Mapping) else thresholds
        point = operating_point(gold, scores, cut) if cut is not None else None
        label = f"{name}: AUC {pr_auc(gold, scores):.3f}, {positives} positive bags"
        if point is not None:
            label += f"\n    at {cut:.3g}: P {point[1]:.2f}, R {point[0]:.2f}"
        interp = interpolated_precision(precision)
        (line,) = ax.step(np.r_[0.0, recall], np.r_[interp[0], interp], where="pre", label=label)
        if point is not None:
            # the real precision at the threshold (on or below the interpolated curve)
            ax.plot(*point, marker="o", markersize=6, markerfacecolor="white", color=line.get_color())
            marked = True
    if marked:
        ax.plot([], [], marker="o", markerfacecolor="white", color="0.3", linestyle="none",
                label="operating point (model threshold)")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision (interpolated)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=7, frameon=False)
    else:  # no curve has a positive pair: say so instead of an empty frame
        ax.text(0.5, 0.5, "no positive bags", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    return fig


def save_pr_plot(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], path: str, title: str = "",
                 thresholds: float | Mapping[str, float] | None = None) -> None:
    """PR curves {name: (gold, scores)} to a PNG (see :func:`pr_figure`)."""
    fig = pr_figure(curves, title, thresholds)
    fig.savefig(path, bbox_inches="tight")  # 'tight' keeps the legend outside the axes in the image
    plt.close(fig)
