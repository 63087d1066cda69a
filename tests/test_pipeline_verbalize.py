"""pipelines.verbalize: template rendering, Turkish case suffixes, and a written shard set that holds only
train-split facts, with counts that add up."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from pipelines.split import split_of
from pipelines.verbalize import render, run, tokens_of, turkish_suffix
from schemas.io import read_parquet
from schemas.shard import SHARD_SCHEMA


@pytest.mark.parametrize(("template", "lang", "text", "head", "tail"), [
    ("[X] was born in [Y] .", "en", "Marie Curie was born in Warsaw .", "Marie Curie", "Warsaw"),
    ("[X] est [né;X-Gender=MASC|née;X-Gender=FEM] [PREPLOC;Y] [Y] .", "fr", "Marie Curie est né à Warsaw .",
     "Marie Curie", "Warsaw"),
    ("Le siège social [PREPDEF;X] [X] est en [PREPLOC;Y] [Y] .", "fr", "Le siège social de Marie Curie est en à "
     "Warsaw .", "Marie Curie", "Warsaw"),
    ("[X] [Y.Loc] doğdu .", "tr", "Marie Curie Warsaw'da doğdu .", "Marie Curie", "Warsaw"),
    ("[X.Gen] karargahı [Y.Loc] .", "tr", "Marie Curie'nin karargahı Warsaw'da .", "Marie Curie", "Warsaw"),
    ("[X]出生于[Y]。", "zh", "Marie Curie出生于Warsaw。", "Marie Curie", "Warsaw"),
])
def test_render_fills_the_template_and_spans_cover_the_names_alone(template, lang, text, head, tail):
    sentence = render(template, lang, "Marie Curie", "Warsaw")
    assert sentence.text == text
    assert sentence.text[slice(*sentence.head)] == head and sentence.text[slice(*sentence.tail)] == tail
    _, starts, ends = tokens_of(sentence.text)
    if lang != "zh":  # names are whole tokens, so the spans fall on token boundaries
        assert sentence.head[0] in starts and sentence.tail[1] in ends


def test_render_refuses_a_template_without_both_slots():
    assert render("[X] is a thing .", "en", "a", "b") is None
    assert render("[X] and [X] and [Y]", "en", "a", "b") is None


@pytest.mark.parametrize(("name", "case", "suffix"), [
    ("Ankara", "Loc", "'da"), ("İzmir", "Loc", "'de"), ("Paris", "Loc", "'te"), ("Ankara", "Gen", "'nın"),
    ("Berlin", "Gen", "'in"), ("Moskova", "Dat", "'ya"), ("Berlin", "Dat", "'e"), ("Ankara", "Abl", "'dan"),
    ("Tokyo", "Gen", "'nun"), ("Köln", "Acc", "'ü"), ("Paris", "Nom", ""),
])
def test_turkish_suffixes_follow_vowel_harmony(name, case, suffix):
    assert turkish_suffix(name, case) == suffix


def _kb(root):
    (root / "facts").mkdir(parents=True)
    (root / "aliases").mkdir()
    pairs = [(f"Q{i}", f"Q{1000 + i}") for i in range(60)]
    (root / "facts" / "facts.tsv").write_text(
        "".join(f"{h}\tP19\t{t}\n" for h, t in pairs) + f"{pairs[0][0]}\tP27\t{pairs[0][1]}\n", encoding="utf-8")
    (root / "aliases" / "en.txt").write_text(
        "".join(f"{h}\tPerson {h}\n{t}\tTown {t}\n" for h, t in pairs), encoding="utf-8")
    (root / "aliases" / "fr.txt").write_text(  # French names for half the entities only
        "".join(f"{h}\tPersonne {h}\n{t}\tVille {t}\n" for h, t in pairs[:30]), encoding="utf-8")
    (root / "TREx_prompts.csv").write_text(
        "pid,relation,en,fr\nP19,place of birth,[X] was born in [Y] .,[X] est [né;X-Gender=MASC|née;X] à [Y] .\n"
        "P27,citizenship,[X] is [Y] citizen .,\n", encoding="utf-8")
    return pairs


def test_run_writes_train_only_rows_with_every_kb_label_and_counts_that_add_up(tmp_path):
    pairs = _kb(tmp_path / "kb")
    manifest = run(str(tmp_path / "kb"), [], None, ["en", "fr"], 0, str(tmp_path / "out"))
    files = sorted((tmp_path / "out" / "data" / "train").glob("lang=*/verbalized-00000-of-00001.parquet"))
    assert [f.parent.name for f in files] == ["lang=en", "lang=fr"]
    rows = [row for f in files for row in read_parquet(str(f), SHARD_SCHEMA).to_pylist()]
    train_pairs = [p for p in pairs if split_of(*p) == "train"]
    assert 0 < len(train_pairs) < len(pairs)  # the fixture has held-out pairs to leave out
    assert {(r["head"]["kb_id"], r["tail"]["kb_id"]) for r in rows} == set(train_pairs)
    assert {r["split"] for r in rows} == {"train"} and {r["label_source"] for r in rows} == {"verbalized"}
    for row in rows:
        assert row["text"][row["head"]["char_start"]:row["head"]["char_end"]] == row["head"]["surface"]
        assert row["tokens"][row["tail"]["token_start"]:row["tail"]["token_end"]] == row["tail"]["surface"].split()
    first = [r for r in rows if (r["head"]["kb_id"], r["tail"]["kb_id"]) == pairs[0]]
    if pairs[0] in train_pairs:  # both KB relations label the row, whichever template wrote it
        assert all(r["relations"] == ["P19", "P27"] for r in first)
    rejects = {(r["stage"], r["reason"]): r["count"] for r in manifest["rejects"]}
    # 61 facts x 2 languages = rows + rejects; French lacks names for 30 pairs and a P27 template
    assert manifest["input_pairs"] == 2 * 61 == len(rows) + sum(rejects.values())
    assert rejects[("verbalize", "heldout_pair")] == 2 * sum(split_of(*p) != "train" for p in pairs) + 2 * (
        split_of(*pairs[0]) != "train")
    assert ("verbalize", "no_alias") in rejects and ("verbalize", "no_template") in rejects
    on_disk = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert on_disk["accepted_pairs"] == len(rows) == sum(pq.read_metadata(f).num_rows for f in files)
    assert on_disk["dataset_root"] == "data"
