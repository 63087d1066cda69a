"""Tests for alignment.sentence.cli: XQuAD and JSONL readers, errors naming file and line, end-to-end output that
the pipeline's JSONL reader accepts."""

import json

import pytest

from alignment.sentence.cli import main, read_document_jsonl, read_xquad


def write_xquad(path, contexts, title="T", qid="q"):
    paragraphs = [{"context": c, "qas": [{"id": f"{qid}{k}", "question": "?", "answers": []}]}
                  for k, c in enumerate(contexts)]
    path.write_text(json.dumps({"data": [{"title": title, "paragraphs": paragraphs}]}), encoding="utf-8")


def test_read_xquad_pairs_paragraphs_in_order(tmp_path):
    write_xquad(tmp_path / "en.json", ["One. Two.", "Three."])
    write_xquad(tmp_path / "de.json", ["Eins. Zwei.", "Drei."])
    assert read_xquad(tmp_path / "en.json", tmp_path / "de.json") == [("T/0", "One. Two.", "Eins. Zwei."),
                                                                       ("T/1", "Three.", "Drei.")]


def test_read_xquad_mismatch_names_the_file(tmp_path):
    write_xquad(tmp_path / "en.json", ["One.", "Two."])
    write_xquad(tmp_path / "de.json", ["Eins."])
    with pytest.raises(ValueError, match="de.json: article 0"):
        read_xquad(tmp_path / "en.json", tmp_path / "de.json")


def test_read_document_jsonl_errors_name_file_and_line(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text('{"doc_id": "d1", "src": "A.", "tgt": "B."}\n\n{"src": 3}\n', encoding="utf-8")
    reader = read_document_jsonl(path)
    assert next(reader) == ("d1", "A.", "B.")
    with pytest.raises(ValueError, match=r"docs.jsonl:3: expected an object"):
        next(reader)


def test_main_writes_pipeline_jsonl_and_rejects(tmp_path):
    docs = tmp_path / "docs.jsonl"
    rows = [
        {"doc_id": "d1", "src": "The cat sat on the mat. It was a very long and tiring day for everyone in 2019.",
         "tgt": "猫坐在垫子上。2019 年，对办公室里的每个人来说，这是漫长而疲惫的一天。"},
        {"doc_id": "d2", "src": "Only English here.", "tgt": "   "},
    ]
    docs.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "out" / "en-zh.jsonl"
    assert main(["--format", "jsonl", "--input", str(docs), "--src-lang", "en", "--tgt-lang", "zh",
                 "--output", str(out)]) == 0
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(r["id"], r["doc_id"]) for r in records] == [("d1:0", "d1"), ("d1:1", "d1")]
    assert records[0]["tgt"] == "猫坐在垫子上。"
    rejects = [json.loads(line) for line in (tmp_path / "out" / "en-zh.rejects.jsonl").read_text().splitlines()]
    assert rejects == [{"doc_id": "d2", "reason": "empty_side", "src": "Only English here.", "tgt": ""}]

    from pipelines.read import parse_jsonl_line  # the consumer of this output

    record = parse_jsonl_line(out.read_bytes().splitlines()[0], f"{out}:1", "en", "zh")
    assert (record.pair_id, record.doc_id, record.tgt_text) == ("d1:0", "d1", "猫坐在垫子上。")


def test_main_exits_with_the_file_and_line_of_bad_input(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"doc_id": "a", "src": "A.", "tgt": "B."}\nnot json\n', encoding="utf-8")
    with pytest.raises(SystemExit, match=r"bad.jsonl:2: not valid JSON"):
        main(["--format", "jsonl", "--input", str(path), "--src-lang", "en", "--tgt-lang", "de",
              "--output", str(tmp_path / "out.jsonl")])


@pytest.mark.parametrize("lang", ["ar", "el", "hi", "ro", "ru", "th", "tr", "vi"])
def test_xquad_new_languages_align_the_first_article(lang):
    """The first article (Super_Bowl_50, 5 paragraphs) of each later-added XQuAD language aligns mostly 1-1."""
    from alignment.sentence.aligner import AlignerConfig, SentenceAligner
    from alignment.sentence.cli import convert
    from tests.conftest import shared_path

    folder = shared_path("xquad")
    docs = [d for d in read_xquad(folder / "xquad.en.json", folder / f"xquad.{lang}.json")
            if d[0].startswith("Super_Bowl_50/")]
    pairs, rejects, counts = convert(docs, SentenceAligner("en", lang, AlignerConfig(anchors=True)))
    n_english = sum(len(p["src_sentences"]) for p in pairs) + counts["unaligned_source"]
    assert len(docs) == 5 and n_english >= 20
    assert counts["unaligned_source"] <= 2 and len(pairs) >= 0.7 * n_english
    assert all(r["reason"] in ("unaligned_source", "unaligned_target") for r in rejects)
