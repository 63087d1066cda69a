"""pipelines.link + pipelines.resources: the Link stage on the bundled example KB."""

from pathlib import Path

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to

from pipelines.config import PipelineConfig
from pipelines.link import LinkMentions, link_pair
from pipelines.read import make_record
from pipelines.resources import build_resources, pipeline_version
from pipelines.tokenize import Tokenizers, tokenize_pair

KB = str(Path(__file__).resolve().parents[1] / "examples" / "kb")
CONFIG = PipelineConfig(inputs=(), src_lang="en", tgt_langs=("zh",), kb=KB, output="unused")


def tokenized(src, tgt, origin="f:1"):
    return tokenize_pair(make_record(src, tgt, "en", "zh", origin), Tokenizers(("en", "zh")), 200)


def test_resources_load_the_run_languages_only():
    resources = build_resources(CONFIG)
    assert sorted(resources.matchers) == ["en", "zh"] and resources.version.startswith("kb-")
    assert resources.kb.languages == ["en", "zh"]
    assert pipeline_version()


def test_link_pair_finds_both_sides_and_reports_ambiguity():
    record = tokenized("Tbilisi is the capital of Georgia.", "第比利斯是格鲁吉亚的首都。")
    out, rejects = link_pair(record, build_resources(CONFIG))
    assert [m["kb_id"] for m in out["src_mentions"]] == ["Q994"]  # 'Georgia' is ambiguous in English
    assert [m["kb_id"] for m in out["tgt_mentions"]] == ["Q994", "Q230"]
    assert [(r["stage"], r["reason"], r["origin"]) for r in rejects] == [("link", "ambiguous_alias", "f:1")]


def test_link_stage():
    records = [tokenized("Berlin is the capital of Germany.", "柏林是德国的首都。", "f:1"),
               tokenized("It rained.", "下雨了。", "f:2"),
               tokenized("Atlanta is in Georgia.", "亚特兰大在佐治亚州。", "f:3")]
    with beam.Pipeline(runner=FnApiRunner(), options=PipelineOptions(flags=[])) as p:
        linked, rejects = p | beam.Create(records) | LinkMentions(CONFIG)
        summary = linked | beam.Map(lambda r: (r["origin"], tuple(m["kb_id"] for m in r["src_mentions"]),
                                               tuple(m["kb_id"] for m in r["tgt_mentions"])))
        assert_that(summary, equal_to([("f:1", ("Q64", "Q183"), ("Q64", "Q183")), ("f:2", (), ()),
                                       ("f:3", ("Q23556",), ("Q23556", "Q1428"))]), label="linked")
        assert_that(rejects | beam.Map(lambda r: (r["reason"], r["origin"])),
                    equal_to([("ambiguous_alias", "f:3")]), label="rejects")
