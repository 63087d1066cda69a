"""WordAlignment and the Pharaoh format: sure/possible links, 0- and 1-indexed files, file:line errors."""

import pytest

from alignment.word.core import WordAlignment, parse_pharaoh, read_pharaoh, write_pharaoh


def test_from_links_sorts_dedups_and_keeps_scores():
    alignment = WordAlignment.from_links([(2, 1), (0, 0), (2, 1)], {(0, 0): 0.9, (2, 1): 0.4})
    assert alignment.links == ((0, 0), (2, 1))
    assert alignment.scores == (0.9, 0.4)
    assert alignment.to_pharaoh() == "0-0 2-1"
    assert len(alignment) == 2


def test_parse_sure_possible_and_one_indexed():
    sure, possible = parse_pharaoh("1-1 2p3 3-2", one_indexed=True)
    assert sure.links == ((0, 0), (2, 1))
    assert possible.links == ((0, 0), (1, 2), (2, 1))
    with pytest.raises(ValueError, match="1-indexed"):
        parse_pharaoh("0-0", one_indexed=True)
    with pytest.raises(ValueError, match="not a Pharaoh link"):
        parse_pharaoh("0:1")


def test_read_write_roundtrip_and_error_names_line(tmp_path):
    path = tmp_path / "links.txt"
    write_pharaoh(str(path), [WordAlignment.from_links([(0, 1), (1, 0)]), WordAlignment(())])
    assert path.read_text() == "0-1 1-0\n\n"
    read = read_pharaoh(str(path))
    assert [sure.links for sure, _ in read] == [((0, 1), (1, 0)), ()]
    path.write_text("0-0\n1-x\n")
    with pytest.raises(ValueError, match=r"links.txt:2: not a Pharaoh link"):
        read_pharaoh(str(path))
