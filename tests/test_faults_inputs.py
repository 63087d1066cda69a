"""Fault injection on the inputs: every line of every format is a pair or a reject with its reason and
``file:line`` origin, and a file that cannot be read to its end (truncated or corrupt compression) says so with one
reject naming the file and the first line lost. The reader is pure (pipelines.read.read_unit); one pipeline run
checks that the counts add up in the manifest and that every reject row carries reason and origin.
"""

from __future__ import annotations

import bz2
import gzip
import json
import tracemalloc
from pathlib import Path

import pytest

from pipelines.distant_supervision import run
from pipelines.read import MAX_LINE_BYTES, read_unit
from pipelines.records import BitextPair, Reject
from schemas.io import read_parquet
from schemas.rejects import REJECT_SCHEMA

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
GOOD = ("Berlin is the capital of Germany .", "Berlin ist die Hauptstadt von Deutschland .")


def read_all(unit: tuple[str, ...], fmt: str) -> tuple[list[BitextPair], list[Reject]]:
    items = list(read_unit(unit, fmt, "en"))
    pairs = [i for i in items if isinstance(i, BitextPair)]
    rejects = [i for i in items if isinstance(i, Reject)]
    assert len(pairs) + len(rejects) == len(items)
    assert all(r.stage == "read" and r.reason and r.origin for r in rejects)
    return pairs, rejects


def reasons(rejects: list[Reject]) -> dict[str, str]:
    """origin line number -> reason."""
    return {r.origin.rsplit(":", 1)[1]: r.reason for r in rejects}


def test_tsv_every_line_is_a_pair_or_a_reject_with_its_line(tmp_path):
    path = tmp_path / "c.tsv"
    path.write_bytes(b"\t".join(s.encode() for s in GOOD) + b"\n"
                     + b"a\tb\tc\n" + b"only one field\n" + b"caf\xe9\tcaf\xc3\xa9\n" + b"\n"
                     + b"\t".join(s.encode() for s in GOOD) + b"\r\n")
    pairs, rejects = read_all(("de", str(path)), "tsv")
    assert len(pairs) + len(rejects) == 6  # six lines in, six records out
    assert reasons(rejects) == {"2": "wrong_field_count", "3": "wrong_field_count", "4": "undecodable",
                                "5": "wrong_field_count"}
    assert [p.origin for p in pairs] == [f"{path}:1", f"{path}:6"] and pairs[1].tgt_text == GOOD[1]


def test_jsonl_bad_json_deep_nesting_and_lone_surrogates_are_rejects_not_crashes(tmp_path):
    path = tmp_path / "c.jsonl"
    lines = [json.dumps({"en": GOOD[0], "de": GOOD[1]}).encode(),
             b'{"en": "unterminated',
             b"[1, 2]",
             json.dumps({"en": GOOD[0]}).encode(),
             b'{"en": "lone \\ud800 surrogate", "de": "x"}',
             b"[" * 100_000 + b"]" * 100_000,
             b'{"en": "caf\xe9", "de": "x"}',
             b'{"en": "ok", "de": "ok", "id": "\\udfff"}']
    path.write_bytes(b"\n".join(lines) + b"\n")
    pairs, rejects = read_all(("de", str(path)), "jsonl")
    assert len(pairs) + len(rejects) == len(lines)
    assert reasons(rejects) == {"2": "bad_json", "3": "bad_json", "4": "wrong_field_count", "5": "undecodable",
                                "6": "bad_json", "7": "undecodable", "8": "undecodable"}
    assert all(len(r.raw or "") <= 100_000 for r in rejects)
    for r in rejects:  # every reject can be written (no lone surrogate left in it)
        json.dumps(r.to_dict(), ensure_ascii=False).encode("utf-8")


def test_moses_a_short_side_and_an_undecodable_side_are_rejects(tmp_path):
    src, tgt = tmp_path / "c.en", tmp_path / "c.de"
    src.write_bytes(f"{GOOD[0]}\nLine two .\nLine three .\n".encode())
    tgt.write_bytes(f"{GOOD[1]}\n".encode() + b"Zeile zwei \xff.\n")
    pairs, rejects = read_all(("de", str(src), str(tgt)), "moses")
    assert len(pairs) == 1 and len(rejects) == 2
    assert {r.origin: r.reason for r in rejects} == {f"{tgt}:2": "undecodable", f"{src}:3": "line_count_mismatch"}


@pytest.mark.parametrize("suffix, compress", [(".gz", gzip.compress), (".bz2", lambda b: bz2.compress(b, 1))])
def test_a_truncated_compressed_file_keeps_whole_lines_and_names_the_break(tmp_path, suffix, compress):
    lines = [f"Sentence number {i} is here .\tSatz Nummer {i} ist hier .".encode() for i in range(6000)]
    data = compress(b"\n".join(lines) + b"\n")
    path = tmp_path / f"c.tsv{suffix}"
    path.write_bytes(data[: len(data) // 2])  # bz2 level 1: 100 kB blocks, so whole blocks precede the cut
    pairs, rejects = read_all(("de", str(path)), "tsv")
    assert 0 < len(pairs) < len(lines)
    # the documented rule: the complete lines before the break are kept, none of them cut, then one reject
    kept = [tuple(line.decode().split("\t")) for line in lines[: len(pairs)]]
    assert [(p.src_text, p.tgt_text) for p in pairs] == kept
    assert len(rejects) == 1 and rejects[0].reason == "unreadable_file"
    assert rejects[0].origin == f"{path}:{len(pairs) + 1}" and str(path) in rejects[0].detail


def test_a_plain_file_named_gz_is_one_reject_not_a_zlib_error(tmp_path):
    path = tmp_path / "c.tsv.gz"
    path.write_text("\t".join(GOOD) + "\n", encoding="utf-8")
    pairs, rejects = read_all(("de", str(path)), "tsv")
    assert pairs == [] and [(r.reason, r.origin) for r in rejects] == [("unreadable_file", f"{path}:1")]


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_a_200_mb_line_is_one_reject_read_in_bounded_memory(tmp_path, suffix):
    path = tmp_path / f"c.tsv{suffix}"
    good = "\t".join(GOOD).encode() + b"\n"
    with (gzip.open(path, "wb", compresslevel=1) if suffix else open(path, "wb")) as handle:
        handle.write(good)
        block = b"x" * (1 << 20)
        for _ in range(200):  # one line of 200 MB, no break in it
            handle.write(block)
        handle.write(b"\tend\n" + good)
    tracemalloc.start()
    try:
        pairs, rejects = read_all(("de", str(path)), "tsv")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [p.origin for p in pairs] == [f"{path}:1", f"{path}:3"]
    assert [(r.reason, r.origin) for r in rejects] == [("line_too_long", f"{path}:2")]
    assert f"{200 * (1 << 20) + 4} bytes" in rejects[0].detail and rejects[0].raw.startswith("xxx")
    assert peak < 8 * MAX_LINE_BYTES  # a few line buffers, never the 200 MB line


def test_an_over_long_moses_line_is_a_reject_and_keeps_the_sides_in_step(tmp_path):
    src, tgt = tmp_path / "c.en", tmp_path / "c.de"
    src.write_bytes(f"{GOOD[0]}\n".encode() + b"x" * (MAX_LINE_BYTES + 10) + f"\n{GOOD[0]}\n".encode())
    tgt.write_bytes(f"{GOOD[1]}\nkurz\n{GOOD[1]}\n".encode())
    pairs, rejects = read_all(("de", str(src), str(tgt)), "moses")
    assert [p.origin for p in pairs] == [f"{src}:1", f"{src}:3"] and pairs[1].tgt_text == GOOD[1]
    assert [(r.reason, r.origin) for r in rejects] == [("line_too_long", f"{src}:2")]


def test_pipeline_counts_add_up_and_every_reject_row_has_reason_and_origin(tmp_path):
    corpus = tmp_path / "c.jsonl"
    corpus.write_bytes(b"\n".join([
        json.dumps({"en": GOOD[0], "de": GOOD[1]}).encode(),
        b"not json",
        b'{"en": "lone \\ud800", "de": "x"}',
        json.dumps({"en": "", "de": "leer"}).encode(),
        json.dumps({"en": "Munich is in Bavaria .", "de": "München liegt in Bayern ."}).encode(),
    ]) + b"\n")
    links = tmp_path / "c.links"
    links.write_text("0-0 1-1 2-2 3-3 4-4 5-5 6-6\n\n\n\n0-0 1-1 2-2 3-3 4-4\n", encoding="utf-8")
    out = tmp_path / "out"
    run(["--input", str(corpus), "--input-format", "jsonl", "--src-lang", "en", "--tgt-lang", "de",
         "--kb", str(EXAMPLES / "kb"), "--output", str(out), "--alignments", str(links), "--no-relation-rate", "1"])
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert (manifest["input_pairs"], manifest["accepted_pairs"], manifest["rejected_pairs"]) == (5, 2, 3)
    rows = [r for f in manifest["files"] if f["split"] == "rejects"
            for r in read_parquet(str(out / f["path"]), REJECT_SCHEMA).to_pylist()]
    assert sum(r["count"] for r in manifest["rejects"]) == len(rows)
    assert all(r["stage"] and r["reason"] and r["origin"] for r in rows)
    pair_level = sorted((r["reason"], r["origin"].rsplit(":", 1)[1]) for r in rows if r["stage"] in ("read",
                                                                                                      "validate"))
    assert pair_level == [("bad_json", "2"), ("empty_side:src", "4"), ("undecodable", "3")]


def test_length_flags_above_the_hard_caps_are_clamped_with_a_warning(caplog):
    from pipelines.config import HARD_MAX_CHARS, HARD_MAX_TOKENS, parse_config

    base = ["--input", "x.tsv", "--src-lang", "en", "--tgt-lang", "de", "--kb", "KB", "--output", "o"]
    with caplog.at_level("WARNING"):
        config, _ = parse_config([*base, "--max-chars", "50000000", "--max-tokens", "1000000"])
    assert (config.max_chars, config.max_tokens) == (HARD_MAX_CHARS, HARD_MAX_TOKENS)
    assert "--max-chars 50000000 is above the hard cap" in caplog.text
    assert json.loads(config.to_json())["max_chars"] == HARD_MAX_CHARS  # the manifest records what was used
    with pytest.raises(SystemExit):
        parse_config([*base, "--max-tokens", "0"])
