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
    assert (result.token_start, result.token_end, result.method) == (1, 2, "identical_unaligned")


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


def test_an_alias_match_is_not_extended_by_case_repair():
    src = "He is Professor at the University of Minnesota USA .".split()
    tgt = "Es Profesor en Universidad de Minnesota EE . UU ..".split()
    links = _links((1, 0), (2, 1), (3, 2), (5, 3), (6, 4), (7, 5), (8, 8), (9, 9))
    alias = project_span((5, 8), links, src, tgt, tgt_aliases=["Universidad de Minnesota"])
    assert (alias.token_start, alias.token_end, alias.method) == (3, 6, "alias")
    # through the links alone, the unaligned capitalised neighbour is still taken in (case repair as before)
    plain = project_span((5, 8), links, src, tgt)
    assert (plain.token_start, plain.token_end) == (3, 7)


def test_an_identical_name_beats_one_stray_link_but_not_an_ambiguous_one():
    src = "Jacksonville is a city".split()
    tgt = "in Jacksonville gibt es zwei Städte".split()
    stray = _links((0, 4), (3, 5))  # "Jacksonville" linked to "zwei"
    result = project_span((0, 1), stray, src, tgt)
    assert (result.token_start, result.token_end, result.method) == (1, 2, "identical")
    # the name twice in the source, once in the target: the target one may be the other occurrence's
    src2 = "Bangladesh party aids Bangladesh group".split()
    tgt2 = "Bangladesh Partei hilft Bangladesch-Gruppe".split()
    links = _links((0, 0), (1, 1), (2, 2), (3, 3))
    result = project_span((3, 4), links, src2, tgt2)
    assert (result.token_start, result.token_end) == (3, 4)


def test_identical_needs_the_same_accents_and_transliteration_counts_across_scripts():
    src = "Chante toured".split()
    tgt = "Chanté und Chantes Tour".split()
    result = project_span((0, 1), _links((0, 2), (1, 3)), src, tgt)
    assert (result.token_start, result.token_end) == (2, 3)  # the linked token; "Chanté" is another name
    src = "Putin said".split()
    tgt = "сказал Путин".split()
    result = project_span((0, 1), _links((0, 0), (1, 0)), src, tgt)  # a stray link onto "сказал"
    assert (result.token_start, result.token_end, result.method) == (1, 2, "identical")


def test_suffix_tokens_never_end_a_span():
    src = "from Istanbul to".split()
    tgt = "Stambul ' dan geldi".split()
    links = _links((1, 0), (1, 1), (1, 2), (2, 3))
    result = project_span((1, 2), links, src, tgt, apostrophe_suffixes=True)
    assert (result.token_start, result.token_end) == (0, 1)
    # without the language's rule the word after a lone apostrophe is a word (Italian "dell ' obiettivo")
    assert project_span((1, 2), links, src, tgt).token_end == 3
    tgt = "Sendikası 'nın üyesi".split()
    result = project_span((0, 1), _links((0, 0), (0, 1)), ["Union", "member"], tgt)
    assert (result.token_start, result.token_end) == (0, 1)


def test_a_pronoun_source_is_projected_without_trimming_or_rejection():
    src = "He said".split()
    tgt = "Er sagte".split()
    links = _links((0, 0), (1, 1))
    words = frozenset({"er", "sie"})
    failure = project_span((0, 1), links, src, tgt, function_words=words)
    assert isinstance(failure, ProjectionFailure) and failure.reason == "function_words"
    result = project_span((0, 1), links, src, tgt, function_words=words, src_function_words=frozenset({"he"}))
    assert (result.token_start, result.token_end) == (0, 1)


def test_a_name_does_not_run_across_a_comma_or_a_case_suffix():
    src = "Homewood - Flossmoor High School opened its doors in 1959 .".split()
    tgt = "Homewood - Flossmoor Lisesi , 1959'da kapılarını açtı .".split()
    links = _links((0, 0), (1, 1), (2, 2), (3, 3), (4, 6), (5, 7), (8, 4), (9, 5), (10, 8))  # 'School' -> 'kapılarını'
    result = project_span((0, 5), links, src, tgt)
    assert (result.token_start, result.token_end) == (0, 4)
    src = "Brown attended Granby High School in Norfolk Virginia .".split()
    tgt = "Brown , Norfolk Virginia ' daki Granby Lisesi ' ne gitti .".split()
    links = _links((0, 0), (1, 5), (2, 6), (3, 7), (4, 10), (6, 2), (7, 3), (8, 11))  # 'School' -> 'gitti'
    result = project_span((2, 5), links, src, tgt, apostrophe_suffixes=True)
    assert (result.token_start, result.token_end) == (6, 8)
    # where a lone apostrophe is no suffix ("dell ' Europa"), it is no barrier
    assert project_span((2, 5), links, src, tgt).token_end == 11
    # a source span with a comma of its own may take one in
    src = "in Paris , Texas today".split()
    tgt = "heute in Paris , Texas".split()
    result = project_span((1, 4), _links((0, 1), (1, 2), (2, 3), (3, 4), (4, 0)), src, tgt)
    assert (result.token_start, result.token_end) == (2, 5)
