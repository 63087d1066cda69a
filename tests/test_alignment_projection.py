"""Span projection on small literal cases: aligned, reordered, split, unaligned, CJK, low confidence."""

from alignment.projection.span import ProjectedSpan, ProjectionFailure, find_mentions, project_span
from alignment.word.core import WordAlignment


def _links(*pairs, scores=None):
    return WordAlignment.from_links(pairs, scores)


def test_aligned_span():
    src = "the European Parliament met today".split()
    tgt = "das Europäische Parlament tagte heute".split()
    result = project_span((1, 3), _links((0, 0), (1, 1), (2, 2), (3, 3), (4, 4)), src, tgt)
    assert isinstance(result, ProjectedSpan)
    assert (result.token_start, result.token_end, result.confidence) == (1, 3, 1.0)


def test_reordered_words():
    src = "the European Parliament".split()
    tgt = "il Parlamento europeo".split()
    result = project_span((1, 3), _links((0, 0), (1, 2), (2, 1)), src, tgt)
    assert (result.token_start, result.token_end) == (1, 3)


def test_small_gap_is_filled_and_distant_cluster_dropped():
    src = "Committee on Budgets met".split()
    tgt = "x Ausschuss für Haushalt y z tagte und a b c Haushalt".split()
    # 'Committee'->1, 'Budgets'->3 (gap of one token: filled); a stray weak link 'Budgets'->11 is far away.
    alignment = _links((0, 1), (2, 3), (2, 11), (3, 6), scores={(0, 1): 1.0, (2, 3): 1.0, (2, 11): 0.5, (3, 6): 1.0})
    result = project_span((0, 3), alignment, src, tgt)
    assert (result.token_start, result.token_end) == (1, 4)
    assert result.method == "alignment_cluster"
    assert result.confidence < 1.0  # the dropped cluster costs confidence


def test_edge_punctuation_trimmed():
    src = "Mr Prodi ,".split()
    tgt = "Herr Prodi , sagte".split()
    result = project_span((1, 2), _links((0, 0), (1, 1), (1, 2)), src, tgt)
    assert (result.token_start, result.token_end) == (1, 2)


def test_unaligned_entity_found_by_look_alike():
    src = "Mrs Fontaine said".split()
    tgt = "Frau Fontaine sagte".split()
    result = project_span((1, 2), _links((0, 0), (2, 2)), src, tgt)
    assert isinstance(result, ProjectedSpan)
    assert (result.token_start, result.token_end, result.method) == (1, 2, "string_unaligned")


def test_transliterated_name_with_accents_confirms_and_fixes_boundary():
    src = "President Ångström spoke".split()
    tgt = "der Präsident Angstrom sprach".split()
    # The alignment wrongly links the name to 'Präsident Walesa'; the look-alike snaps it to 'Walesa'.
    result = project_span((1, 2), _links((0, 1), (1, 1), (1, 2), (2, 3)), src, tgt)
    assert (result.token_start, result.token_end, result.method) == (2, 3, "string")


def test_unaligned_cognate_found_but_no_evidence_fails():
    src = "the Commission agreed".split()
    tgt = "la Comisión estuvo de acuerdo".split()
    result = project_span((1, 2), _links((0, 0), (2, 2)), src, tgt)
    assert (result.token_start, result.token_end, result.method) == (1, 2, "string_unaligned")
    src = "the Council agreed".split()
    tgt = "el Consejo estuvo de acuerdo".split()
    result = project_span((1, 2), _links((0, 0), (2, 2)), src, tgt)
    assert isinstance(result, ProjectionFailure) and result.reason == "unaligned"


def test_alias_confirms_translated_name():
    src = "the Commission agreed".split()
    tgt = "la Comisión Europea estuvo de acuerdo".split()
    result = project_span((1, 2), _links((0, 0), (2, 3)), src, tgt, tgt_aliases=["Comisión Europea"])
    assert (result.token_start, result.token_end, result.method) == (1, 3, "alias_unaligned")


def test_cjk_alias_inside_and_across_tokens():
    src = "I visited Beijing yesterday".split()
    tgt = ["我", "昨天", "访问", "了", "北京市"]
    result = project_span((2, 3), _links((0, 0), (1, 2), (3, 1)), src, tgt, tgt_aliases=["北京"])
    assert (result.token_start, result.token_end) == (4, 5)
    assert find_mentions("东京大学", ["在", "东京", "大学", "学习"]) == [(1, 3)]
    assert find_mentions("Rom", ["in", "Roma"]) == []  # Latin script: token boundaries required


def test_cjk_aligned_span():
    src = "Tokyo University".split()
    tgt = ["东京", "大学", "的", "学生"]
    result = project_span((0, 2), _links((0, 0), (1, 1)), src, tgt)
    assert (result.token_start, result.token_end) == (0, 2)


def test_low_confidence_and_bad_span():
    src = "New York Times reported".split()
    tgt = "die New York Times berichtete".split()
    weak = _links((1, 2), (3, 4), scores={(1, 2): 0.5, (3, 4): 1.0})
    result = project_span((0, 3), weak, src, ["A", "B", "C", "D", "E"], min_confidence=0.5)
    assert isinstance(result, ProjectionFailure) and result.reason == "low_confidence"
    assert project_span((3, 2), weak, src, tgt).reason == "bad_span"


def test_case_repair_adds_unaligned_capitalised_neighbour():
    src = "the United Kingdom voted".split()
    tgt = "il Regno Unito ha votato".split()
    alignment = _links((0, 0), (1, 1), (2, 1), (3, 4))  # 'Unito' unaligned
    result = project_span((1, 3), alignment, src, tgt)
    assert (result.token_start, result.token_end) == (1, 3)
    plain = project_span((1, 3), alignment, src, tgt, use_case=False)
    assert (plain.token_start, plain.token_end) == (1, 2)
