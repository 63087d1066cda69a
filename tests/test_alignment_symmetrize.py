"""Symmetrisation heuristics on small literal cases (hand-worked)."""

import pytest

from alignment.word.symmetrize import grow_diag, grow_diag_final, intersection, symmetrize, union

# Forward: each target word has one source word; reverse: each source word has one target word.
FWD = {(0, 0), (1, 1), (2, 1), (3, 3)}
REV = {(0, 0), (1, 1), (2, 2), (3, 4)}


def test_intersection_and_union():
    assert intersection(FWD, REV) == {(0, 0), (1, 1)}
    assert union(FWD, REV) == {(0, 0), (1, 1), (2, 1), (2, 2), (3, 3), (3, 4)}


def test_grow_diag_adds_neighbours_of_unaligned_words_only():
    # From {(0,0),(1,1)}: (2,1) is below (1,1) and aligns the new source word 2 -> added;
    # (2,2) is diagonal to (1,1) and aligns the new target word 2 -> added;
    # (3,3) is diagonal to (2,2): both words new -> added; (3,4) then neighbours (3,3), target 4 new -> added.
    assert grow_diag(FWD, REV) == {(0, 0), (1, 1), (2, 1), (2, 2), (3, 3), (3, 4)}


def test_grow_diag_does_not_jump_gaps():
    fwd = {(0, 0), (3, 3)}
    rev = {(0, 0), (3, 5)}
    assert grow_diag(fwd, rev) == {(0, 0)}


def test_final_and_requires_both_words_unaligned():
    fwd = {(0, 0), (3, 3), (4, 0)}
    rev = {(0, 0), (3, 5)}
    # grow-diag adds nothing (no union link touches (0,0)'s neighbourhood).
    # final: (3,3) both new -> added; (4,0) source 4 new -> added; (3,5) target 5 new -> added.
    assert grow_diag_final(fwd, rev) == {(0, 0), (3, 3), (4, 0), (3, 5)}
    # final-and: (3,3) both new -> added; (4,0) target 0 already aligned -> no; (3,5) source 3 now aligned -> no.
    assert grow_diag_final(fwd, rev, and_=True) == {(0, 0), (3, 3)}


def test_dispatch_and_directions():
    assert symmetrize(FWD, REV, "forward") == FWD
    assert symmetrize(FWD, REV, "reverse") == REV
    assert symmetrize(FWD, REV, "grow-diag-final-and") == grow_diag_final(FWD, REV, and_=True)
    with pytest.raises(ValueError, match="unknown symmetrization"):
        symmetrize(FWD, REV, "gdfa")
