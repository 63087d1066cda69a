"""pipelines.kb_tables and the schemas.kb rows it writes: relations.parquet and entities.parquet beside the shards."""

from __future__ import annotations

from pathlib import Path

import apache_beam as beam
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.utils import shared

from pipelines.kb_tables import WriteKBTables, table_keys
from pipelines.records import Mention, ShardRow
from pipelines.resources import KBSpec
from schemas.io import read_parquet
from schemas.kb import (
    KB_ENTITY_LABEL_SCHEMA,
    KB_RELATION_SCHEMA,
    KnowledgeBase,
    entity_label_rows,
    read_relation_templates,
    relation_rows,
)
from tests.helpers import stage_pipeline

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
KB = KnowledgeBase(facts=[("Q1", "P19", "Q2"), ("Q1", "P27", "Q3")],
                   aliases={"en": {"Q1": ["Ada Lovelace", "Ada"], "Q2": ["London"]}, "fr": {"Q2": ["Londres"]}},
                   relation_names={"P19": "place of birth"})


def test_relation_rows_list_every_kb_relation_with_name_count_and_templates():
    templates = {"P19": {"en": "[X] was born in [Y] .", "fr": "[X] est né à [Y] .", "zh": "[X]的出生地是[Y]。"}}
    assert relation_rows(KB, {"P19": 3}, ["fr", "en"], templates) == [
        {"relation": "P19", "name": "place of birth", "instances": 3,
         "templates": [{"lang": "en", "template": "[X] was born in [Y] ."},
                       {"lang": "fr", "template": "[X] est né à [Y] ."}]},
        {"relation": "P27", "name": None, "instances": 0, "templates": []},
    ]


def test_entity_label_rows_one_per_entity_and_language_label_null_when_unknown():
    assert entity_label_rows(KB, ["Q2", "Q1", "Q2"], ["en", "fr"]) == [
        {"kb_id": "Q1", "lang": "en", "label": "Ada Lovelace", "aliases": ["Ada Lovelace", "Ada"]},
        {"kb_id": "Q1", "lang": "fr", "label": None, "aliases": []},
        {"kb_id": "Q2", "lang": "en", "label": "London", "aliases": ["London"]},
        {"kb_id": "Q2", "lang": "fr", "label": "Londres", "aliases": ["Londres"]},
    ]


def test_read_relation_templates(tmp_path):
    path = tmp_path / "TREx_prompts.csv"
    path.write_text("pid,relation,en,fr\nP19,place of birth,[X] was born in [Y] .,\nP27,citizenship,x,y\n",
                    encoding="utf-8")
    assert read_relation_templates(str(path)) == {"P19": {"en": "[X] was born in [Y] ."}, "P27": {}}


def _row(head: str, tail: str, relations: tuple[str, ...], lang: str = "en") -> ShardRow:
    def mention(kb_id: str, at: int) -> Mention:
        return Mention(kb_id, at, at + 1, at, at + 1, "x")

    return ShardRow("i", "p", None, lang, "x y", ("x", "y"), (0, 2), (1, 3), mention(head, 0), mention(tail, 2),
                    relations, "linked", None, None, "kb", "v", "train", "f:1")


def test_table_keys():
    assert list(table_keys("Q1", "Q2", ("P19", "P27"))) == [("entities", "Q1"), ("entities", "Q2"),
                                                           ("relations", "P19"), ("relations", "P27")]


def test_write_kb_tables_stage(tmp_path):
    spec = KBSpec(str(EXAMPLES / "kb"), langs=("de", "en"), case_policies=(("de", "exact"), ("en", "exact")))
    rows = [_row("Q64", "Q183", ("P17",)), _row("Q64", "Q183", ("P17",), "de"), _row("Q90", "Q142", ())]
    with stage_pipeline() as p:
        written = p | beam.Create(rows) | WriteKBTables(str(tmp_path), spec, shared.Shared())
        assert_that(written, equal_to([("relations", "relations.parquet"), ("entities", "entities.parquet")]))
    relations = read_parquet(str(tmp_path / "relations.parquet"), KB_RELATION_SCHEMA).to_pylist()
    assert {r["relation"]: r["instances"] for r in relations}["P17"] == 2
    assert {r["relation"] for r in relations} >= {"P17", "P19", "P108"} and relations[0]["templates"] == []
    entities = read_parquet(str(tmp_path / "entities.parquet"), KB_ENTITY_LABEL_SCHEMA).to_pylist()
    assert [(e["kb_id"], e["lang"]) for e in entities] == [(e, lang) for e in ("Q142", "Q183", "Q64", "Q90")
                                                          for lang in ("de", "en")]
    assert {(e["kb_id"], e["lang"]): e["label"] for e in entities}[("Q183", "en")] == "Germany"
