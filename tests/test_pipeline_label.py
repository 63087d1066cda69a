"""pipelines.label: the Label stage turns linked mentions into labelled rows on both sides."""

import dataclasses

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to

from pipelines.label import LabelInstances, label_pair
from pipelines.link import link_pair
from pipelines.resources import build_resources
from tests.helpers import EN_ZH_CONFIG, tokenized_en_zh


def linked(src, tgt, origin="f:1"):
    return link_pair(tokenized_en_zh(src, tgt, origin), build_resources(EN_ZH_CONFIG))[0]


def test_label_pair_rows():
    out = label_pair(linked("Berlin is the capital of Germany.", "柏林是德国的首都。"), build_resources(EN_ZH_CONFIG),
                     max_distance=40, na_rate=1.0, version="0")
    src = sorted((r["head"]["surface"], r["tail"]["surface"], tuple(r["relations"])) for r in out["src_instances"])
    assert src == [("Berlin", "Germany", ("P1376", "P17")), ("Germany", "Berlin", ("P36",))]
    tgt = sorted((r["head"]["surface"], r["tail"]["surface"], r["lang"]) for r in out["tgt_instances"])
    assert tgt == [("德国", "柏林", "zh"), ("柏林", "德国", "zh")]
    assert all(r["label_source"] == "linked" and r["projection_confidence"] is None for r in out["src_instances"])


def test_label_stage():
    records = [linked("Berlin is the capital of Germany.", "柏林是德国的首都。", "f:1"),
               linked("Google and Apple compete.", "谷歌和苹果公司竞争。", "f:2"),
               linked("It rained.", "下雨了。", "f:3")]
    with beam.Pipeline(runner=FnApiRunner(), options=PipelineOptions(flags=[])) as p:
        created = p | beam.Create(records)
        for rate, na_pairs in ((0.0, 0), (1.0, 2)):  # Google/Apple: two no-relation pairs per side
            config = dataclasses.replace(EN_ZH_CONFIG, no_relation_rate=rate)
            out = created | f"Label{rate}" >> LabelInstances(config)
            counts = out | f"Count{rate}" >> beam.Map(
                lambda r: (r["origin"], len(r["src_instances"]), len(r["tgt_instances"])))
            assert_that(counts, equal_to([("f:1", 2, 2), ("f:2", na_pairs, na_pairs), ("f:3", 0, 0)]),
                        label=f"check{rate}")
