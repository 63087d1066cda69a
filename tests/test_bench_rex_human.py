"""The human-labelled (RELX) zero-shot scoring: reader, class merging, direction rule, metrics."""

from pathlib import Path

import numpy as np
import pytest

from bench.rex_human import (
    DATA,
    Example,
    baselines,
    class_scores,
    classes_of,
    evaluate_system,
    gold_matrix,
    read_mapping,
    read_relx,
    score_table,
    strip_markers,
)

MAPPING = {"per:employee_of": ("P108",), "org:city_of_headquarters": ("P159",),
           "org:country_of_headquarters": ("P159", "P17"), "per:origin": ("P27",)}


def test_strip_markers_spans_and_spacing():
    text, e1, e2 = strip_markers("The <e1> Indiana Hoosiers </e1> played <e2> Indiana University </e2>.")
    assert text == "The Indiana Hoosiers played Indiana University."
    assert text[e1[0]:e1[1]] == "Indiana Hoosiers" and text[e2[0]:e2[1]] == "Indiana University"
    # e2 first, a marker glued to a suffix
    text, e1, e2 = strip_markers("<e2> Ankara </e2>'da <e1> TSB </e1>")
    assert (text, text[e1[0]:e1[1]], text[e2[0]:e2[1]]) == ("Ankara'da TSB", "TSB", "Ankara")


@pytest.mark.parametrize("bad", ["<e1> a </e1> b", "<e1> a <e1> b </e1> <e2> c </e2>", "</e1> a <e1> <e2> b </e2>"])
def test_strip_markers_refuses_broken_markers(bad):
    with pytest.raises(ValueError):
        strip_markers(bad)


def test_read_relx_file(tmp_path):
    path = tmp_path / "RELX_en.dev.txt"
    path.write_text('1\t"<e1> Ada </e1> works for <e2> IBM </e2>."\nper:employee_of(e1,e2)\n\n\n'
                    '2\t"<e1> x </e1> and <e2> y </e2>"\nno_relation\n\n\n'
                    '3\t"<e1> a </e1> b <e2> c </e2>"\norg:top_members/employees(e2,e1)\n', encoding="utf-8")
    got = read_relx(path, "en")
    assert [(e.id, e.relation) for e in got] == [("1", "per:employee_of"), ("2", "no_relation"),
                                                   ("3", "org:top_members/employees")]
    assert got[0].text == "Ada works for IBM." and got[0].e2 == (14, 17)
    path.write_text('4\t"<e1> a </e1> b <e2> c </e2>"\nnot a label\n', encoding="utf-8")
    with pytest.raises(ValueError, match="example 4"):
        read_relx(path, "en")


def test_classes_merge_overlapping_properties_and_follow_the_label_set():
    assert classes_of(MAPPING, ["P108", "P159", "P17", "P27", "P530"]) == {
        "P108": ("P108",), "P159|P17": ("P159", "P17"), "P27": ("P27",)}
    # a class is scored with the properties the model knows; none known -> not scored
    assert classes_of(MAPPING, ["P17"]) == {"P159|P17": ("P17",)}


def _ex(relation):
    return Example("i", "en", "a b", (0, 1), (2, 3), relation)


def test_gold_keeps_mapped_positives_and_negatives_only():
    classes = classes_of(MAPPING, ["P108", "P159"])
    keep, gold = gold_matrix([_ex("per:employee_of"), _ex("per:spouse"), _ex("no_relation"),
                              _ex("org:city_of_headquarters"), _ex("per:origin")], MAPPING, classes)
    assert keep == [0, 2, 3]  # spouse has no counterpart, origin's P27 is not in the label set
    assert gold.tolist() == [[1, 0], [0, 0], [0, 1]]


def test_direction_rule_takes_the_better_order_and_best_property():
    classes = {"P108": ("P108",), "P159|P17": ("P159", "P17")}
    labels = ["P17", "P108", "P159"]
    forward = np.array([[0.1, 0.2, 0.3]])
    reverse = np.array([[0.6, 0.9, 0.0]])
    assert class_scores(forward, reverse, labels, classes).tolist() == [[0.9, 0.6]]


def test_metrics_perfect_and_inverted():
    gold = np.array([[1, 0], [0, 1], [0, 0], [1, 0]], float)
    perfect = score_table(gold, gold * 0.9, 0.5)
    assert perfect["micro_f1"] == 1 and perfect["ap"] == 1 and perfect["top1"] == 1 and perfect["roc_auc_any"] == 1
    inverted = score_table(gold, 1 - gold, 0.5)
    assert inverted["micro_f1"] == 0 and inverted["top1"] == 0 and inverted["ap"] < 0.5
    assert perfect["positives"] == 3 and perfect["items"] == 4


def test_baselines_majority_and_always_na():
    gold = np.array([[1, 0], [1, 0], [0, 1], [0, 0]], float)
    base = baselines(gold, draws=5)
    assert base["majority (oracle)"]["top1"] == pytest.approx(2 / 3)
    assert base["always-NA"]["micro_f1"] == 0
    assert base["always-NA"]["top1"] == pytest.approx(0.5)  # two classes tied: half the credit
    assert 0 < base["random"]["ap"] < 1


def test_evaluate_system_scores_both_orders():
    """A scorer that recognises the employer only with the person as head still gets it right."""
    examples = {"en": [Example("1", "en", "IBM hired Ada", (0, 3), (10, 13), "per:employee_of"),
                       Example("2", "en", "Ada met Bob", (0, 3), (8, 11), "no_relation")]}

    def score(marked):
        return np.array([[0.9 if m.startswith("[E2]IBM[/E2]") else 0.1] for m in marked])

    per = evaluate_system(examples, MAPPING, ["P108"], 0.5, score)
    assert per["en"]["metrics"]["micro_f1"] == 1.0 and per["en"]["metrics"]["top1"] == 1.0


@pytest.mark.skipif(not (Path(DATA) / "kbp37_to_wikidata.tsv").is_file(),
                    reason="needs ../shared/data/relx-dev (not in a clone without shared data)")
def test_real_relx_dev_reads_and_aligns_across_languages():
    mapping = read_mapping(Path(DATA) / "kbp37_to_wikidata.tsv")
    per_lang = {lang: read_relx(Path(DATA) / f"RELX_{lang}.dev.txt", lang) for lang in ("en", "de", "tr")}
    assert all(len(v) == 205 for v in per_lang.values())
    assert [e.id for e in per_lang["en"]] == [e.id for e in per_lang["tr"]]
    for examples in per_lang.values():
        for ex in examples:
            assert ex.text[ex.e1[0]:ex.e1[1]].strip() and ex.text[ex.e2[0]:ex.e2[1]].strip()
    classes = classes_of(mapping, sorted({p for props in mapping.values() for p in props}))
    keep, gold = gold_matrix(per_lang["en"], mapping, classes)
    assert 100 <= gold.max(axis=1).sum() <= len(keep)
