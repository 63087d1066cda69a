"""The KB reader: layouts, formats, errors naming file and line, and the X-FACTR folder as it is."""

from __future__ import annotations

import json

import pytest

from schemas.kb import ENTITY_SCHEMA, FACT_SCHEMA, KBFormatError, load_kb
from tests.conftest import shared_path


def _kb(tmp_path, facts_name="facts/P1.jsonl", facts_text=None):
    (tmp_path / "facts").mkdir()
    (tmp_path / "aliases").mkdir()
    if facts_text is None:
        facts_text = "\n".join(
            json.dumps(f)
            for f in [
                {"sub_uri": "Q1", "predicate_id": "P36", "obj_uri": "Q2"},
                {"sub_uri": "Q1", "predicate_id": "P36", "obj_uri": "Q2"},  # duplicate
                {"head": "Q1", "relation": "P30", "tail": "Q2"},
                {"head": "Q2", "relation": "P17", "tail": "Q1"},
            ]
        )
    (tmp_path / facts_name).write_text(facts_text + "\n", encoding="utf-8")
    (tmp_path / "aliases" / "en.txt").write_text("Q1\tFrance\tFrench Republic\nQ2\tParis\n", encoding="utf-8")
    (tmp_path / "aliases" / "zh.txt").write_text("Q1\t法国\n", encoding="utf-8")
    (tmp_path / "relations.tsv").write_text("P36\tcapital\nP30\tcontinent\n", encoding="utf-8")
    return tmp_path


def test_load_small_kb(tmp_path):
    kb = load_kb(str(_kb(tmp_path)))
    assert kb.facts == [("Q1", "P36", "Q2"), ("Q1", "P30", "Q2"), ("Q2", "P17", "Q1")]
    assert kb.relations_between("Q1", "Q2") == ["P30", "P36"]
    assert kb.relations_between("Q2", "Q1") == ["P17"]
    assert kb.relations_between("Q2", "Q3") == []
    assert kb.languages == ["en", "zh"]
    assert sorted(kb.alias_items("en")) == [("France", "Q1"), ("French Republic", "Q1"), ("Paris", "Q2")]
    assert kb.relation_names["P36"] == "capital"
    assert kb.popularity == {"Q1": 3.0, "Q2": 3.0}
    assert kb.version.startswith("kb-")
    assert load_kb(str(tmp_path)).version == kb.version
    assert load_kb(str(tmp_path), langs=["zh"]).languages == ["zh"]


def test_tables_fit_their_schemas(tmp_path):
    kb = load_kb(str(_kb(tmp_path)))
    entities = kb.entity_table()
    assert entities.schema.equals(ENTITY_SCHEMA, check_metadata=True)
    assert entities.num_rows == 2
    facts = kb.fact_table()
    assert facts.schema.equals(FACT_SCHEMA)
    assert facts.column("fact_id").to_pylist()[0] == "Q1|P36|Q2"


def test_tsv_facts_and_extra_alias_dirs(tmp_path):
    base = tmp_path / "kb"
    base.mkdir()
    _kb(base, facts_name="facts/x.tsv", facts_text="Q1\tP36\tQ2")
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "nl.txt").write_text("Q1\tFrankrijk\n", encoding="utf-8")
    (extra / "en.txt").write_text("Q1\tFrance\tLa France\n", encoding="utf-8")
    kb = load_kb(str(base), extra_alias_dirs=[str(extra)])
    assert kb.facts == [("Q1", "P36", "Q2")]
    assert kb.aliases["nl"] == {"Q1": ["Frankrijk"]}
    assert kb.aliases["en"]["Q1"] == ["France", "French Republic", "La France"]


@pytest.mark.parametrize(
    "name,text,message",
    [
        ("facts/P1.jsonl", '{"sub_uri": "Q1"}', r"P1.jsonl:1: a fact needs"),
        ("facts/P1.jsonl", "\n{not json", r"P1.jsonl:2: not JSON"),
        ("facts/P1.tsv", "Q1\tP1", r"P1.tsv:1: expected 3 tab-separated fields, got 2"),
    ],
)
def test_bad_fact_lines_name_file_and_line(tmp_path, name, text, message):
    _kb(tmp_path, facts_name=name, facts_text=text)
    with pytest.raises(KBFormatError, match=message):
        load_kb(str(tmp_path))


def test_bad_alias_line_and_missing_folder(tmp_path):
    _kb(tmp_path)
    (tmp_path / "aliases" / "fr.txt").write_text("Q1\tFrance\nQ2\n", encoding="utf-8")
    with pytest.raises(KBFormatError, match=r"fr.txt:2: expected 'entity_id<TAB>alias"):
        load_kb(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="KB folder not found"):
        load_kb(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no facts"):
        load_kb(str(tmp_path / "empty"))


def test_xfactr_kb_loads_as_it_is():
    kb_dir = shared_path("xfactr-kb")
    kb = load_kb(str(kb_dir), langs=["en", "zh"])
    assert len(kb.facts) == 46000 or len(kb.facts) > 45000  # unique triples of the 46 x 1,000 lines
    assert len(kb.relations) == 46
    assert kb.relation_names["P19"] == "place of birth"
    assert "Q142" in kb.aliases["en"]
    assert kb.languages == ["en", "zh"]
