"""pipelines.link + pipelines.resources: the Link stage on the bundled example KB."""


import apache_beam as beam
from apache_beam.testing.util import assert_that, equal_to

from pipelines.link import LinkMentions, link_pair
from pipelines.records import LinkedPair
from pipelines.resources import build_resources, pipeline_version
from tests.helpers import EN_ZH_KB, stage_pipeline, tokenized_en_zh


def test_resources_load_the_run_languages_only():
    resources = build_resources(EN_ZH_KB)
    assert sorted(resources.matchers) == ["en", "zh"] and resources.version.startswith("kb-")
    assert resources.kb.languages == ["en", "zh"]
    assert pipeline_version()


def test_link_pair_finds_both_sides_and_reports_ambiguity():
    record = tokenized_en_zh("Tbilisi is the capital of Georgia.", "第比利斯是格鲁吉亚的首都。")
    out, rejects = link_pair(record, build_resources(EN_ZH_KB))
    assert isinstance(out, LinkedPair) and out.tokenized == record
    assert [m.kb_id for m in out.src_mentions] == ["Q994"]  # 'Georgia' is ambiguous in English
    assert [m.kb_id for m in out.tgt_mentions] == ["Q994", "Q230"]
    assert [(r.stage, r.reason, r.origin) for r in rejects] == [("link", "ambiguous_alias", "f:1")]


def test_link_stage():
    records = [tokenized_en_zh("Berlin is the capital of Germany.", "柏林是德国的首都。", "f:1"),
               tokenized_en_zh("It rained.", "下雨了。", "f:2"),
               tokenized_en_zh("Atlanta is in Georgia.", "亚特兰大在佐治亚州。", "f:3")]
    with stage_pipeline() as p:
        linked, rejects = p | beam.Create(records) | LinkMentions(EN_ZH_KB)
        summary = linked | beam.Map(lambda r: (r.tokenized.pair.origin, tuple(m.kb_id for m in r.src_mentions),
                                               tuple(m.kb_id for m in r.tgt_mentions)))
        assert_that(summary, equal_to([("f:1", ("Q64", "Q183"), ("Q64", "Q183")), ("f:2", (), ()),
                                       ("f:3", ("Q23556",), ("Q23556", "Q1428"))]), label="linked")
        assert_that(rejects | beam.Map(lambda r: (r.reason, r.origin)),
                    equal_to([("ambiguous_alias", "f:3")]), label="rejects")
