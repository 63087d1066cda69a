"""Precomputed Pharaoh alignments: lookup by line, the score policy, index checks naming file and line."""

import pytest

from alignment.word.precomputed import PrecomputedAligner, read_alignments, scored_alignment


def _links(tmp_path, text: str):
    path = tmp_path / "fwd.align"
    path.write_text(text, encoding="utf-8")
    return path


def test_sure_links_score_one_and_possible_links_half():
    alignment = scored_alignment("0-0 2-1 1p1")
    assert alignment.links == ((0, 0), (1, 1), (2, 1))
    assert alignment.scores == (1.0, 0.5, 1.0)
    assert scored_alignment("").links == ()


def test_lookup_by_line(tmp_path):
    aligner = PrecomputedAligner(_links(tmp_path, "0-0 1-1\n\n0-2\n"))
    assert aligner.name == "precomputed" and len(aligner) == 3
    assert aligner.lookup(1, 2, 2).links == ((0, 0), (1, 1))
    assert aligner.lookup(2, 2, 2).links == ()
    with pytest.raises(ValueError, match=r"fwd.align:3: link 0-2 \(0-based\) outside 1 source x 2 target"):
        aligner.lookup(3, 1, 2)
    with pytest.raises(ValueError, match="has 3 lines, no line 4"):
        aligner.lookup(4, 1, 1)
    with pytest.raises(ValueError, match="no line 0"):
        aligner.lookup(0, 1, 1)


def test_one_indexed_file(tmp_path):
    assert PrecomputedAligner(_links(tmp_path, "1-1 3-2\n"), one_indexed=True).lookup(1, 3, 2).links == ((0, 0), (2, 1))


def test_bad_line_names_file_and_line(tmp_path):
    with pytest.raises(ValueError, match=r"fwd.align:2: not a Pharaoh link: 'x'"):
        PrecomputedAligner(_links(tmp_path, "0-0\nx\n"))


def test_read_alignments_checks_every_pair(tmp_path):
    pairs = [(["a", "b", "c"], ["x", "y"]), (["d"], ["z"])]
    first, second = read_alignments(_links(tmp_path, "0-0 2-1 1p1\n0-0\n"), pairs)
    assert first.scores == (1.0, 0.5, 1.0) and second.links == ((0, 0),)
    with pytest.raises(ValueError, match=r"fwd.align:2: link 0-1 \(0-based\) outside 1 source x 1 target"):
        read_alignments(_links(tmp_path, "0-0\n0-1\n"), pairs)
    with pytest.raises(ValueError, match="1 alignment lines for 2 sentence pairs"):
        read_alignments(_links(tmp_path, "0-0\n"), pairs)
