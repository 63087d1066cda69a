"""Candidate-span scoring, function-word trimming and the derived-word type rule on small literal cases."""


from alignment.projection.scoring import (
    ScoringWeights,
    best_candidate,
    entity_function_words,
    frequent_short_words,
    link_evidence,
    projected_type,
    trim_function_words,
)
from alignment.projection.span import ProjectedSpan, ProjectionFailure, project_span
from alignment.word.core import WordAlignment


def _links(*pairs, scores=None):
    return WordAlignment.from_links(pairs, scores)


def test_link_evidence_splits_span_and_foreign_weight():
    alignment = _links((0, 0), (1, 1), (2, 1), scores={(0, 0): 1.0, (1, 1): 0.5, (2, 1): 1.0})
    evidence = link_evidence((1, 2), alignment, 3, weak_weight=0.3)
    assert evidence.inside == [0.0, 0.3, 0.0]
    assert evidence.foreign == [1.0, 1.0, 0.0]
    assert evidence.linked == [True, True, False]
    assert evidence.span_scores == {1: 0.5}


def test_one_to_many_translation_covers_all_linked_words():
    src = "the EU decided".split()
    tgt = "l' Unione europea ha deciso".split()
    # 'EU' is linked to both 'Unione' and 'europea' (1:n); first/last would agree, scoring must too.
    result = project_span((1, 2), _links((0, 0), (1, 1), (1, 2), (2, 4)), src, tgt)
    assert (result.token_start, result.token_end, result.method) == (1, 3, "alignment")
    assert result.confidence == 1.0


def test_weak_stray_link_to_a_verb_is_left_out():
    src = "the Member States agreed".split()
    tgt = "die Mitgliedstaaten bemüht sich".split()
    # 'States' has only a one-direction link to the verb, which is also linked to 'agreed'.
    alignment = _links((0, 0), (1, 1), (2, 2), (3, 2), scores={(0, 0): 1.0, (1, 1): 1.0, (2, 2): 0.5, (3, 2): 1.0})
    result = project_span((1, 3), alignment, src, tgt, weights=ScoringWeights(case_check=False))
    assert (result.token_start, result.token_end, result.method) == (1, 2, "alignment_cluster")
    assert result.confidence < 1.0
    checked = project_span((1, 3), alignment, src, tgt)  # the weak Capitalised -> lower-case link is ignored
    assert (checked.token_start, checked.token_end, checked.method) == (1, 2, "alignment")


def test_look_alike_beats_a_weak_wrong_link():
    src = "the Parliament decided today".split()
    tgt = "oggi il Parlamento ha deciso".split()
    alignment = _links((0, 1), (1, 0), (2, 4), (3, 0), scores={(0, 1): 1.0, (1, 0): 0.5, (2, 4): 1.0, (3, 0): 1.0})
    result = project_span((1, 2), alignment, src, tgt)
    assert (result.token_start, result.token_end, result.method) == (2, 3, "string")


def test_best_candidate_prefers_alias_and_returns_none_without_evidence():
    tgt = "la Comisión Europea dijo".split()
    evidence = link_evidence((1, 2), _links((0, 0), (2, 3)), len(tgt), 0.3)
    best = best_candidate(["Commission"], tgt, evidence, {(1, 3): 1.0, (1, 2): 0.89})
    assert best is not None and best[0] == (1, 3)
    assert best_candidate(["Council"], tgt, evidence, {}) is None


def test_links_to_punctuation_are_ignored_and_no_punctuation_edges():
    src, tgt = "Mr Prodi , said".split(), "Herr Prodi , sagte".split()
    alignment = _links((0, 0), (1, 1), (1, 2), (3, 3))
    evidence = link_evidence((1, 2), alignment, len(tgt), 0.3, src, tgt)
    assert evidence.inside == [0.0, 1.0, 0.0, 0.0]
    assert best_candidate(["Prodi"], tgt, evidence, {})[0] == (1, 2)
    noisy = link_evidence((1, 2), alignment, len(tgt), 0.3)  # without tokens the 'Prodi'-',' link counts
    assert noisy.inside == [0.0, 1.0, 1.0, 0.0]
    assert best_candidate(["Prodi"], tgt, noisy, {})[0] != (1, 3)  # never ends on the comma


def test_function_words_trimmed_at_edges_but_not_when_copied_from_source():
    words = frozenset({"den", "der", "die", "von"})
    assert trim_function_words(0, 2, ["the", "Netherlands"], ["den", "Niederlanden"], words) == (1, 2)
    assert trim_function_words(0, 2, ["von", "Wogau"], ["von", "Wogau"], words) == (0, 2)
    assert trim_function_words(0, 1, ["the"], ["die"], words) == (0, 1)  # one token is always kept
    # a capitalised article inside the sentence belongs to a name; at the sentence start it is only capitalised
    assert trim_function_words(1, 3, ["Cairo"], ["in", "Der", "Spiegel"], words) == (1, 3)
    assert trim_function_words(0, 2, ["Netherlands"], ["Die", "Niederlanden"], words) == (1, 2)
    assert trim_function_words(2, 4, ["Netherlands"], ["so", ":", "Die", "Niederlanden"], words) == (3, 4)
    assert trim_function_words(2, 4, ["Netherlands"], ["so", ",", "Die", "Niederlanden"], words) == (2, 4)
    # the source edge is itself a function word: its translation stays ("The National" -> "Der National")
    assert trim_function_words(0, 2, ["The", "National"], ["Der", "National"], words, frozenset({"the"})) == (0, 2)
    assert trim_function_words(1, 3, ["the", "Netherlands"], ["in", "den", "Niederlanden"], words,
                               frozenset({"the"})) == (2, 3)


def test_project_span_with_function_words_trims_and_rejects():
    src = "in the Netherlands and".split()
    tgt = "in den Niederlanden und".split()
    alignment = _links((0, 0), (1, 1), (2, 2), (3, 3))
    words = frozenset({"in", "den", "und"})
    result = project_span((1, 3), alignment, src, tgt, function_words=words)
    assert (result.token_start, result.token_end) == (2, 3)
    assert isinstance(project_span((1, 3), alignment, src, tgt), ProjectedSpan)
    failure = project_span((1, 2), alignment, src, tgt, function_words=words)  # 'the' -> 'den' only
    assert isinstance(failure, ProjectionFailure) and failure.reason == "function_words"


def test_frequent_short_words_skips_long_and_rare_words():
    sentences = [["die", "Kommission", "und", "der", "Rat"], ["die", "Kommission", "und"], ["die", "Rat"]]
    assert frequent_short_words(sentences, n=2) == frozenset({"die", "und"})
    assert "kommission" not in frequent_short_words(sentences, n=10)
    names = [["New", "York", "und", "die"], ["new", "und"]]
    assert frequent_short_words(names, n=10) == frozenset({"und", "die", "new"})  # only where written lower-case
    assert frequent_short_words(names, n=10, allowed=frozenset({"und", "die"})) == frozenset({"und", "die"})


def test_entity_function_words_spare_the_entitys_own_alias_words():
    words = frozenset({"el", "la", "de"})
    assert entity_function_words(words, ["El Cairo"]) == {"la", "de"}
    assert entity_function_words(words, []) == words


def test_projected_type_marks_single_lower_case_words_misc():
    assert projected_type("LOC", ["belgischen"]) == "MISC"
    assert projected_type("ORG", ["comunitari"]) == "MISC"
    assert projected_type("ORG", ["Kommission"]) == "ORG"
    assert projected_type("ORG", ["commissione", "per", "i", "bilanci"]) == "ORG"  # multi-word names keep the type
    assert projected_type("LOC", ["北京"]) == "LOC"  # no letter case: unchanged


def test_cjk_alias_and_aligned_span_with_candidates():
    src = "I visited Beijing yesterday".split()
    tgt = ["我", "昨天", "访问", "了", "北京市"]
    result = project_span((2, 3), _links((0, 0), (1, 2), (3, 1)), src, tgt, tgt_aliases=["北京"])
    assert (result.token_start, result.token_end, result.method) == (4, 5, "alias_unaligned")
    result = project_span((0, 2), _links((0, 0), (1, 1)), "Tokyo University".split(), ["东京", "大学", "的", "学生"])
    assert (result.token_start, result.token_end) == (0, 2)


def test_custom_weights():
    src, tgt = "the Commission".split(), "la Commissione".split()
    alignment = _links((0, 0), (1, 1))
    wide = project_span((1, 2), alignment, src, tgt, weights=ScoringWeights(foreign_cost=0.0, unaligned_cost=0.0))
    assert (wide.token_start, wide.token_end) == (1, 2)


def test_case_check_ignores_weak_capitalised_to_lower_case_links():
    src = "the Structural Funds helped".split()
    tgt = "die Strukturfonds muss darstellen".split()
    scores = {(0, 0): 1.0, (1, 1): 1.0, (2, 2): 0.5, (3, 3): 1.0}
    alignment = _links(*scores, scores=scores)
    checked = link_evidence((1, 3), alignment, len(tgt), 0.3, src, tgt, case_check=True)
    assert checked.inside == [0.0, 1.0, 0.0, 0.0]
    assert link_evidence((1, 3), alignment, len(tgt), 0.3, src, tgt).inside == [0.0, 1.0, 0.3, 0.0]
    result = project_span((1, 3), alignment, src, tgt)
    assert (result.token_start, result.token_end) == (1, 2)
    loose = project_span((1, 3), alignment, src, tgt, weights=ScoringWeights(case_check=False))
    assert (loose.token_start, loose.token_end) == (1, 3)
    lost = project_span((1, 2), _links((1, 2), scores={(1, 2): 0.5}), src, tgt)  # its only link was ignored
    assert isinstance(lost, ProjectionFailure) and lost.reason == "unaligned" and "ignored" in lost.detail


def test_kb_alias_outweighs_a_stray_link():
    """The EN-ZH example case: eflomal (50 pairs) linked 'Germany' to 港口; the KB alias 德国 is in the sentence."""
    src, tgt = "Hamburg is a big port in Germany .".split(), "汉堡 是 德国 的 一个 大 港口 。".split()
    alignment = _links((0, 0), (1, 1), (6, 6))
    assert project_span((6, 7), alignment, src, tgt, tgt_aliases=["德国"]).token_start == 2
    assert project_span((6, 7), alignment, src, tgt).token_start == 6  # without the alias, the link wins


def test_a_name_word_linked_to_a_capitalised_and_a_far_lower_case_word_keeps_the_capitalised_one():
    src = "risen in the Puerto Rican Independence Party hierarchy".split()
    tgt = "monté dans la hiérarchie du Parti de l' indépendance de Porto Rico".split()
    # 'Puerto' linked (both directions) to 'hiérarchie' seven tokens before its other link, 'Porto'
    links = ((0, 0), (1, 1), (2, 2), (3, 3), (3, 10), (4, 11), (5, 8), (6, 5), (7, 3))
    scores = {link: 1.0 for link in links} | {(3, 10): 0.5}
    alignment = _links(*links, scores=scores)
    evidence = link_evidence((3, 7), alignment, len(tgt), 0.3, src, tgt, case_check=True)
    assert evidence.inside[3] == 0.0 and evidence.inside[10] == 0.3
    result = project_span((3, 7), alignment, src, tgt)
    assert (result.token_start, result.token_end) == (5, 12)
    assert (project_span((3, 7), alignment, src, tgt, weights=ScoringWeights(case_check=False)).token_start) == 3
    # near it, the lower-case word is part of one translation of several words ('EU' -> 'Unione europea')
    near = link_evidence((1, 2), _links((1, 1), (1, 2)), 3, 0.3, ["the", "EU"], ["l'", "Unione", "europea"], True)
    assert near.inside == [0.0, 1.0, 1.0]
