"""pipelines.alias_matcher: longest token-aligned matches, case policy, minimum length and ambiguity policy."""

import pytest

from pipelines.alias_matcher import AliasMatcher, fold_case, is_lowercase, resolve_ambiguity
from pipelines.tokenize import load_spacy, tokenize_text

POP = {"Q90": 50.0, "Q47899": 2.0, "Q230": 3.0, "Q1428": 2.0, "Q60": 9.0, "Q1384": 8.0, "Q1": 1.0}
ALIASES = [("Paris", "Q90"), ("Paris", "Q47899"), ("Georgia", "Q230"), ("Georgia", "Q1428"),
           ("New York", "Q60"), ("York", "Q2"), ("New York City", "Q60"), ("UK", "Q145"), ("Berlin", "Q64"),
           ("Bath", "Q22889"), ("people", "Q2472587"), ("can", "Q16"), ("北京", "Q956")]


def find(matcher, lang, text):
    tok = tokenize_text(load_spacy(lang), text)
    return matcher.find(text, tok.starts, tok.ends)


@pytest.fixture(scope="module")
def en():
    return AliasMatcher("en", ALIASES, POP, min_chars=3, margin=2.0)


def test_ambiguity_policy():
    assert resolve_ambiguity(["Q90", "Q47899"], POP, 2.0) == "Q90"  # 50 >= 2 * 2
    assert resolve_ambiguity(["Q230", "Q1428"], POP, 2.0) is None  # 3 < 2 * 2
    assert resolve_ambiguity(["Q230", "Q1428"], POP, 1.4) == "Q230"
    assert resolve_ambiguity(["Qa", "Qb"], {}, 2.0) is None  # no popularity at all
    assert resolve_ambiguity(["Qa"], {}, 2.0) == "Qa"


def test_longest_match_and_ambiguous_mentions(en):
    mentions, ambiguous = find(en, "en", "From New York City to Paris and Georgia.")
    assert [(m.surface, m.kb_id, m.token_start, m.token_end) for m in mentions] == [
        ("New York City", "Q60", 1, 4), ("Paris", "Q90", 5, 6)]
    assert [(a["surface"], a["candidates"]) for a in ambiguous] == [("Georgia", ["Q1428", "Q230"])]


def test_token_boundaries_case_and_min_length(en):
    mentions, _ = find(en, "en", "Berliner bakers took a bath in Berlin, UK.")
    assert [m.surface for m in mentions] == ["Berlin"]  # not inside 'Berliner', 'bath' != 'Bath', 'UK' < 3 chars
    folded = AliasMatcher("en", ALIASES, POP, case_policy="fold", min_chars=2)
    mentions, _ = find(folded, "en", "a bath in berlin, uk")
    assert [m.kb_id for m in mentions] == ["Q22889", "Q64", "Q145"]


def test_chinese_aliases_in_either_script_and_cjk_min_length():
    zh = AliasMatcher("zh", [("德國", "Q183"), ("柏林", "Q64"), ("人", "Q5")], {}, min_chars_cjk=2)
    text = "柏林是德国的首都，有很多人。"
    mentions, _ = find(zh, "zh", text)
    assert [(m.surface, m.kb_id) for m in mentions] == [("柏林", "Q64"), ("德国", "Q183")]
    assert all(text[m.char_start:m.char_end] == m.surface for m in mentions)


def test_lowercase_aliases_are_skipped_in_exact_case_languages(en):
    mentions, _ = find(en, "en", "Many people can visit Berlin.")
    assert [m.surface for m in mentions] == ["Berlin"] and en.skipped_lowercase == 2
    kept = AliasMatcher("en", ALIASES, POP, keep_lowercase=True)
    assert [m.surface for m in find(kept, "en", "Many people can visit Berlin.")[0]] == ["people", "can", "Berlin"]
    assert is_lowercase("people") and not is_lowercase("北京") and not is_lowercase("iPhone")


def test_fold_case_keeps_length():
    assert fold_case("İstanbul ÄB") == "İstanbul äb"
    assert len(fold_case("İ")) == 1


def test_empty_matcher_and_bad_policy():
    assert AliasMatcher("de", [], {}).find("Berlin", [0], [6]) == ([], [])
    with pytest.raises(ValueError):
        AliasMatcher("en", ALIASES, POP, case_policy="lower")


def test_entities_english_writes_in_lower_case_are_not_linked_in_any_language():
    from pipelines.alias_matcher import concept_entities

    english = {"Q7188": ["government", "gov"], "Q148": ["China", "PRC"], "Q5": ["human", "iPhone user"]}
    concepts = concept_entities(english)
    assert concepts == {"Q7188"}
    items = [("政府", "Q7188"), ("中国", "Q148"), ("Regierung", "Q7188")]
    zh = AliasMatcher("zh", items[:2], {}, skip_entities=concepts)
    text = "中国政府"
    found, _ = zh.find(text, [0, 2], [2, 4])
    assert [m.kb_id for m in found] == ["Q148"] and zh.skipped_concepts == 1
    de = AliasMatcher("de", items[2:], {}, skip_entities=concepts)
    assert not len(de)
