"""bench.projection_region: the earlier heaviest-cluster projection the benchmark compares against."""

from alignment.word.core import WordAlignment
from bench.projection_region import region_span


def test_region_takes_first_to_last_of_the_heaviest_cluster():
    src = "the Member States agreed".split()
    tgt = "die Mitgliedstaaten bemüht sich".split()
    alignment = WordAlignment.from_links([(0, 0), (1, 1), (2, 2), (3, 2)],
                                         {(0, 0): 1.0, (1, 1): 1.0, (2, 2): 0.5, (3, 2): 1.0})
    assert region_span((1, 3), alignment, src, tgt) == (1, 3)  # first..last takes the verb


def test_region_splits_clusters_at_gaps_and_trims_punctuation():
    src = "he met Angela Merkel today".split()
    tgt = ", Angela Merkel traf er heute dort wieder".split()
    alignment = WordAlignment.from_links([(2, 0), (2, 1), (3, 2), (3, 7)])
    assert region_span((2, 4), alignment, src, tgt) == (1, 3)  # the lone far link and the comma are left out


def test_region_without_links_or_matches_is_none():
    assert region_span((0, 1), WordAlignment(()), ["Paris"], ["Berlin"]) is None
