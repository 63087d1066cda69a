"""Tests for alignment.sentence.evaluation: sentence-to-line mapping, line-level links, scores, seeded drops."""

import random

import pytest

from alignment.sentence.evaluation import (
    SplitDoc,
    drop_lines,
    gold_links,
    line_links,
    oracle_beads,
    score_links,
    split_lines,
)


def test_split_lines_maps_sentences_back_to_lines():
    doc = split_lines(["Headline", "One. Two.", "Three."], "en", keep=[0, 1, 2], base=10)
    assert doc.sentences == ["Headline One.", "Two.", "Three."]  # the headline merges with the next sentence
    assert doc.lines == [(10, 11), (11,), (12,)]
    zh = split_lines(["你好。", "再见。"], "zh", keep=[1])
    assert zh.sentences == ["再见。"] and zh.lines == [(1,)]


def test_line_links_join_split_sentences_into_one_link():
    src = SplitDoc(["A.", "B1.", "B2."], [(0,), (1,), (1,)])
    tgt = SplitDoc(["a.", "b."], [(0,), (1,)])
    links = line_links([((0,), (0,)), ((1,), (1,)), ((2,), ())], src, tgt)
    assert links == {((0,), (0,)), ((1,), (1,))}
    assert gold_links(src, tgt) == {((0,), (0,)), ((1,), (1,))}


def test_scores_are_strict_on_merged_lines():
    src = SplitDoc(["A.", "B.", "C."], [(0,), (1,), (2,)])
    tgt = SplitDoc(["a b.", "c."], [(0, 1), (2,)])  # target lines 0 and 1 were merged by the splitter
    gold = gold_links(src, tgt)
    ceiling = line_links(oracle_beads(src, tgt), src, tgt)
    assert ceiling == {((0, 1), (0, 1)), ((2,), (2,))}
    strict = score_links(ceiling, gold)["strict"]
    assert (strict.precision, strict.recall) == pytest.approx((1 / 2, 1 / 3))


def test_drop_lines_is_seeded_and_keeps_a_line():
    kept = drop_lines(20, 0.1, random.Random(1))
    assert len(kept) == 18 and kept == drop_lines(20, 0.1, random.Random(1))
    assert drop_lines(1, 0.9, random.Random(1)) == [0]
