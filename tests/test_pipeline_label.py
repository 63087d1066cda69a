"""pipelines.label: multi-label instances, distance limit, hash sampling of no-relation instances, and the
Label stage turning linked mentions into labelled rows on both sides."""

import apache_beam as beam
from apache_beam.testing.util import assert_that, equal_to

from pipelines.hashing import unit_hash
from pipelines.label import LabelInstances, keep_no_relation, label_mentions, label_pair, token_distance
from pipelines.link import link_pair
from pipelines.records import Mention
from pipelines.resources import build_resources
from tests.helpers import EN_ZH_KB, stage_pipeline, tokenized_en_zh


def m(kb, start, end):
    return Mention(kb, start, end, start * 5, end * 5, kb)


FACTS = {("Q64", "Q183"): ["P1376", "P17"], ("Q183", "Q64"): ["P36"]}


def rel(h, t):
    return FACTS.get((h, t), [])


def test_all_ordered_pairs_multi_label():
    mentions = [m("Q64", 0, 1), m("Q183", 5, 6), m("Q64", 8, 9)]
    out, skipped = label_mentions(mentions, rel, key="p|en", na_rate=1.0)
    labels = sorted((h.kb_id, h.token_start, t.kb_id, t.token_start, tuple(r)) for h, t, r in out)
    assert labels == [("Q183", 5, "Q64", 0, ("P36",)), ("Q183", 5, "Q64", 8, ("P36",)),
                      ("Q64", 0, "Q183", 5, ("P1376", "P17")), ("Q64", 8, "Q183", 5, ("P1376", "P17"))]
    assert skipped == {"too_far": 0, "na_sampled_out": 0}  # the two Q64 mentions are not a pair


def test_distance_and_no_relation_sampling():
    mentions = [m("Q64", 0, 1), m("Q183", 50, 51), m("Q1", 2, 3)]
    out, skipped = label_mentions(mentions, rel, key="p|en", max_distance=10, na_rate=0.0)
    assert out == [] and skipped == {"too_far": 4, "na_sampled_out": 2}
    out, _ = label_mentions(mentions, rel, key="p|en", max_distance=10, na_rate=1.0)
    assert sorted((h.kb_id, t.kb_id, r) for h, t, r in out) == [("Q1", "Q64", []), ("Q64", "Q1", [])]
    assert token_distance(m("a", 0, 2), m("b", 2, 3)) == 0 and token_distance(m("a", 5, 6), m("b", 0, 1)) == 4


def test_sampling_is_deterministic_and_near_the_rate():
    kept = [keep_no_relation(f"k{i}", 0.3) for i in range(5000)]
    assert kept == [keep_no_relation(f"k{i}", 0.3) for i in range(5000)]
    assert 0.27 < sum(kept) / len(kept) < 0.33
    assert 0.0 <= unit_hash("x") < 1.0


def linked(src, tgt, origin="f:1"):
    return link_pair(tokenized_en_zh(src, tgt, origin), build_resources(EN_ZH_KB))[0]


def test_label_pair_rows():
    out = label_pair(linked("Berlin is the capital of Germany.", "柏林是德国的首都。"), build_resources(EN_ZH_KB),
                     max_distance=40, na_rate=1.0, version="0")
    src = sorted((r.head.surface, r.tail.surface, r.relations) for r in out.src_instances)
    assert src == [("Berlin", "Germany", ("P1376", "P17")), ("Germany", "Berlin", ("P36",))]
    tgt = sorted((r.head.surface, r.tail.surface, r.lang) for r in out.tgt_instances)
    assert tgt == [("德国", "柏林", "zh"), ("柏林", "德国", "zh")]
    assert all(r.label_source == "linked" and r.projection_confidence is None for r in out.src_instances)


def test_label_stage():
    records = [linked("Berlin is the capital of Germany.", "柏林是德国的首都。", "f:1"),
               linked("Google and Apple compete.", "谷歌和苹果公司竞争。", "f:2"),
               linked("It rained.", "下雨了。", "f:3")]
    with stage_pipeline() as p:
        created = p | beam.Create(records)
        for rate, na_pairs in ((0.0, 0), (1.0, 2)):  # Google/Apple: two no-relation pairs per side
            out = created | f"Label{rate}" >> LabelInstances(EN_ZH_KB, max_distance=40, na_rate=rate)
            counts = out | f"Count{rate}" >> beam.Map(
                lambda r: (r.tokenized.pair.origin, len(r.src_instances), len(r.tgt_instances)))
            assert_that(counts, equal_to([("f:1", 2, 2), ("f:2", na_pairs, na_pairs), ("f:3", 0, 0)]),
                        label=f"check{rate}")
