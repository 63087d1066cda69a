"""Precomputed Pharaoh alignments: index checks with file and line, lookup by tokens."""

import pytest

from alignment.word.precomputed import PrecomputedAligner, read_alignments


def _files(tmp_path, links: str):
    bitext = tmp_path / "corpus.txt"
    bitext.write_text("a b c ||| x y\nd ||| z\n", encoding="utf-8")
    path = tmp_path / "fwd.align"
    path.write_text(links, encoding="utf-8")
    return bitext, path


def test_reads_links_and_serves_them_by_tokens(tmp_path):
    bitext, links = _files(tmp_path, "0-0 2-1 1p1\n0-0\n")
    aligner = PrecomputedAligner.from_files(bitext, links)
    assert aligner.name == "precomputed:fwd.align"
    first, second = aligner.align([(["d"], ["z"]), (["a", "b", "c"], ["x", "y"])])
    assert first.links == ((0, 0),)
    assert second.links == ((0, 0), (1, 1), (2, 1))
    assert second.scores == (1.0, 0.5, 1.0)


def test_one_indexed_file(tmp_path):
    bitext, links = _files(tmp_path, "1-1 3-2\n1-1\n")
    assert PrecomputedAligner.from_files(bitext, links, one_indexed=True).align([(["d"], ["z"])])[0].links == ((0, 0),)


def test_out_of_range_link_names_file_and_line(tmp_path):
    bitext, links = _files(tmp_path, "0-0\n0-1\n")
    with pytest.raises(ValueError, match=r"fwd.align:2: link 0-1 \(0-based\) outside 1 source x 1 target"):
        PrecomputedAligner.from_files(bitext, links)
    bitext, links = _files(tmp_path, "0-0\n")
    with pytest.raises(ValueError, match="1 alignment lines for 2 sentence pairs"):
        read_alignments(links, [(["a"], ["b"]), (["c"], ["d"])])


def test_missing_pair_strict_and_lenient(tmp_path):
    bitext, links = _files(tmp_path, "0-0\n0-0\n")
    with pytest.raises(KeyError, match="pair 0"):
        PrecomputedAligner.from_files(bitext, links).align([(["q"], ["r"])])
    lenient = PrecomputedAligner.from_files(bitext, links, strict=False)
    assert lenient.align([(["q"], ["r"])])[0].links == ()
    assert lenient.missing == 1
