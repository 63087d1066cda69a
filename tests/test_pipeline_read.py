"""pipelines.read: line parsers, input expansion (globs, gzip, Moses) and the Read stage."""

import gzip
import json

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from pipelines.read import (
    RAW_HEAD,
    LineTooLong,
    ReadBitext,
    expand_inputs,
    fingerprint,
    iter_lines,
    parse_jsonl_line,
    parse_tsv_line,
    read_unit,
)
from pipelines.records import BitextPair, Reject
from schemas.bitext import make_pair_id
from tests.helpers import stage_pipeline


def test_tsv_line_ok_and_nfc():
    rec = parse_tsv_line("Cafe\u0301\tKaffee".encode(), "f.tsv:3", "en", "de")
    assert rec == BitextPair(make_pair_id("en", "de", "Café", "Kaffee"), "en", "de", "Café", "Kaffee", "f.tsv:3")


@pytest.mark.parametrize("raw, reason", [
    (b"only one field", "wrong_field_count"),
    (b"a\tb\tc", "wrong_field_count"),
    (b"caf\xe9\tx", "undecodable"),
])
def test_tsv_bad_lines(raw, reason):
    row = parse_tsv_line(raw, "f.tsv:1", "en", "de")
    assert isinstance(row, Reject) and (row.stage, row.reason, row.origin) == ("read", reason, "f.tsv:1")


def test_jsonl_forms():
    by_lang = parse_jsonl_line(json.dumps({"id": 7, "en": "Hi", "de": "Hallo", "doc_id": "d"}).encode(),
                               "f:1", "en", "de", ":de")
    assert (by_lang.pair_id, by_lang.doc_id, by_lang.tgt_text) == ("7:de", "d", "Hallo")
    generic = parse_jsonl_line(b'{"src": "Hi", "tgt": "Hallo"}', "f:2", "en", "de")
    assert generic.pair_id == make_pair_id("en", "de", "Hi", "Hallo")
    assert parse_jsonl_line(b'{"src": "Hi"', "f:3", "en", "de").reason == "bad_json"
    assert parse_jsonl_line(b'[1, 2]', "f:4", "en", "de").reason == "bad_json"
    assert parse_jsonl_line(b'{"src": "Hi"}', "f:5", "en", "de").reason == "wrong_field_count"


def test_moses_pairs_lines_and_reports_a_short_file(tmp_path):
    (tmp_path / "c.en").write_text("one\ntwo\nthree\n", encoding="utf-8")
    (tmp_path / "c.de").write_text("eins\nzwei\n", encoding="utf-8")
    units = expand_inputs([str(tmp_path / "c")], "moses", "en", ["de"])
    assert units == [("de", str(tmp_path / "c.en"), str(tmp_path / "c.de"))]
    out = list(read_unit(units[0], "moses", "en"))
    assert [r.tgt_text for r in out[:2]] == ["eins", "zwei"]
    assert out[2].reason == "line_count_mismatch" and out[2].origin.endswith("c.en:3")


def test_globs_gzip_and_missing_inputs(tmp_path):
    with gzip.open(tmp_path / "a.tsv.gz", "wt", encoding="utf-8") as handle:
        handle.write("x\ty\n")
    (tmp_path / "b.tsv").write_text("p\tq\n", encoding="utf-8")
    units = expand_inputs([str(tmp_path / "*.tsv*")], "tsv", "en", ["de"])
    assert [u[1].rsplit("/", 1)[1] for u in units] == ["a.tsv.gz", "b.tsv"]
    assert next(read_unit(units[0], "tsv", "en")).tgt_text == "y"
    with pytest.raises(FileNotFoundError, match="nothing.tsv"):
        expand_inputs([str(tmp_path / "nothing.tsv")], "tsv", "en", ["de"])
    with pytest.raises(ValueError, match="single"):
        expand_inputs([str(tmp_path / "b.tsv")], "tsv", "en", ["de", "fr"])
    assert fingerprint(str(tmp_path / "b.tsv"))["bytes"] == 4


def test_read_stage(tmp_path):
    path = tmp_path / "in.tsv"
    path.write_bytes(b"Berlin\tBerlin\n\nbad line\nParis\tParis\n")
    with stage_pipeline() as p:  # the glob is matched inside the pipeline
        records, rejects, files = p | ReadBitext([str(tmp_path / "*.tsv")], "tsv", "en", ["de"])
        assert_that(files, equal_to([str(path)]), label="files")
        assert_that(records, equal_to([
            BitextPair(make_pair_id("en", "de", "Berlin", "Berlin"), "en", "de", "Berlin", "Berlin", f"{path}:1"),
            BitextPair(make_pair_id("en", "de", "Paris", "Paris"), "en", "de", "Paris", "Paris", f"{path}:4"),
        ]), label="records")
        assert_that(rejects | beam.Map(lambda r: (r.stage, r.reason, r.origin)),
                    equal_to([("read", "wrong_field_count", f"{path}:2"), ("read", "wrong_field_count", f"{path}:3")]),
                    label="rejects")


def test_a_pattern_matching_nothing_fails_the_job_naming_it(tmp_path):
    with pytest.raises(Exception, match="nothing.tsv"):
        with stage_pipeline() as p:
            p | ReadBitext([str(tmp_path / "nothing.tsv")], "tsv", "en", ["de"])


def test_over_long_lines_are_rejects_in_bounded_memory(tmp_path):
    path = tmp_path / "long.tsv"
    path.write_bytes(b"a\tb\n" + b"x" * 5000 + b"\tz\r\n" + b"c\td\n" + b"y" * 2000)  # the last without a break
    lines = list(iter_lines(str(path), max_bytes=1000))
    assert [n for n, _ in lines] == [1, 2, 3, 4]
    assert lines[0][1] == b"a\tb" and lines[2][1] == b"c\td"
    assert isinstance(lines[1][1], LineTooLong) and lines[1][1].size == 5002 and len(lines[1][1].head) == RAW_HEAD
    assert isinstance(lines[3][1], LineTooLong) and lines[3][1].size == 2000
