"""Tests for alignment.sentence.scoring: CJK-aware lengths, the length model, anchors, block vectors."""

import math
from collections import Counter

import numpy as np
import pytest

from alignment.sentence.scoring import (
    CJK_CHAR_WEIGHT,
    AnchorWeights,
    LengthModel,
    anchor_cost,
    anchor_cost_matrix,
    anchor_matrices,
    block_sums,
    block_vectors,
    embedding_distance,
    estimate_ratio,
    estimate_variance,
    extract_anchors,
    text_length,
)


def test_text_length_ignores_spaces_and_weights_cjk():
    assert text_length("ab c") == 3
    assert text_length("猫 AM") == CJK_CHAR_WEIGHT + 2


def test_length_cost_is_lowest_at_the_expected_ratio():
    model = LengthModel(ratio=2.0, variance=4.0)
    assert model.cost(50, 100) == pytest.approx(0.0, abs=1e-9)  # delta 0: -log(2 * 0.5)
    assert model.cost(50, 100) < model.cost(50, 120) < model.cost(50, 160)
    assert model.cost(0, 0) == 0.0
    # delta = 20 / sqrt(((50 + 60) / 2) * 4)
    delta = 20 / math.sqrt(55 * 4)
    assert model.cost(50, 120) == pytest.approx(-math.log(math.erfc(delta / math.sqrt(2))))


def test_ratio_and_variance_estimates():
    assert estimate_ratio([(["aaaa"], ["aaaaaaaa"]), (["aa"], ["aaaa"])]) == pytest.approx(2.0)
    assert estimate_ratio([([], [])]) == 1.0
    assert estimate_variance([(10, 10)] * 5, 1.0) == 6.8  # too few beads: the default
    lengths = [(100, 100 + d) for d in (-10, 10) * 20]  # (d^2 / 100) = 1 each
    assert estimate_variance(lengths, 1.0) == pytest.approx(1.0, rel=0.02)


def test_anchors_numbers_names_and_entities():
    anchors = extract_anchors("The BBC said 1,000 people met Angela Merkel in 2019.", "en",
                              entity_fn=lambda text, lang: ["Q567"] if "Merkel" in text else [])
    assert anchors == Counter({"#1000": 1, "#2019": 1, "w:bbc": 1, "w:angela": 1, "w:merkel": 1, "e:Q567": 1})
    german = extract_anchors("Laut BBC trafen 1.000 Menschen Angela Merkel im Jahr 2019.", "de")
    assert {"#1000", "#2019", "w:bbc", "w:merkel"} <= set(german)
    assert "w:laut" not in german  # the sentence-initial word is not a name
    assert extract_anchors("一位工党的 AM 表示，2017 年", "zh") == Counter({"w:am": 1, "#2017": 1})


def test_anchor_cost_rewards_common_anchors_and_penalises_one_sided_numbers():
    weights = AnchorWeights(match=2.0, mismatch=0.5)
    src, tgt = Counter({"#5": 1, "w:bbc": 1}), Counter({"#5": 1, "#7": 2})
    assert anchor_cost(src, tgt, weights) == pytest.approx(-2.0 + 0.5 * 2)  # one-sided names cost nothing
    assert anchor_cost(Counter(), Counter(), weights) == 0.0


def test_block_vectors_are_unit_means():
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    blocks = block_vectors(vectors, 2)
    assert blocks.shape == (2, 2)
    np.testing.assert_allclose(blocks[0], [math.sqrt(0.5), math.sqrt(0.5)])


def test_embedding_distance_is_normalised_per_block():
    src = np.array([[1.0, 0.0], [0.0, 1.0]])
    tgt = np.array([[1.0, 0.0], [0.0, 1.0]])
    similarity, distance = embedding_distance(src, tgt, 1, 1)
    np.testing.assert_allclose(similarity, np.eye(2))
    np.testing.assert_allclose(distance, [[0.0, 2.0], [2.0, 0.0]])  # each block's mean distance is 0.5
    merged_sim, merged = embedding_distance(src, tgt, 2, 1)  # the generic merged block: cos 0.707 with both
    assert merged_sim.shape == (1, 2)
    gap = 1 - math.sqrt(0.5)  # its distance to each target, and its mean distance; the targets' mean is 0.5
    np.testing.assert_allclose(merged, [[gap / ((gap + 0.5) / 2)] * 2])


def test_block_sums_windows_and_empty_blocks():
    values = np.array([1.0, 2.0, 4.0])
    np.testing.assert_allclose(block_sums(values, 2), [3.0, 6.0])
    np.testing.assert_allclose(block_sums(values, 0), [0.0, 0.0, 0.0, 0.0])  # one null block per start 0..N
    assert block_sums(values, 4).shape == (0,)


def test_matrix_costs_agree_with_the_scalar_costs():
    model = LengthModel(ratio=1.3, variance=3.0)
    src, tgt = np.array([0.0, 20.0, 90.0]), np.array([0.0, 25.0, 300.0])
    expected = [[model.cost(a, b) for b in tgt] for a in src]
    np.testing.assert_allclose(model.cost_matrix(src, tgt), expected, rtol=1e-6)
    weights = AnchorWeights(2.0, 0.5)
    left = [Counter({"#5": 2, "w:bbc": 1}), Counter()]
    right = [Counter({"#5": 1}), Counter({"w:bbc": 1, "#7": 1})]
    a, b = anchor_matrices(left, right)
    expected = [[anchor_cost(x, y, weights) for y in right] for x in left]
    np.testing.assert_allclose(anchor_cost_matrix(a, b, weights, numbers=2), expected)  # vocab: #5 #7 w:bbc
