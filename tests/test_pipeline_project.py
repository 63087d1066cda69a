"""pipelines.project: projection of source instances, the merge with target-linked rows, and the stage
(with a deterministic fake aligner: links identical tokens)."""

import dataclasses

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from alignment.word.core import WordAlignment
from pipelines.aligners import ByTokens, build_aligner
from pipelines.project import merge_target_rows, project_instances
from pipelines.records import Mention, ShardRow
from tests.helpers import EN_DE_CONFIG, align_project, labelled_en_de, stage_pipeline


class SameWordAligner:
    """Links source and target tokens that are equal ignoring case (deterministic, for tests)."""

    name = "same-word"

    def align(self, pairs):
        return [WordAlignment.from_links((i, j) for i, s in enumerate(src) for j, t in enumerate(tgt)
                                         if s.lower() == t.lower()) for src, tgt in pairs]


def same_word_builder(spec, context, load):
    """An aligner builder (pipelines.aligners.Builder) that ignores the spec: the stage with a fake aligner."""
    return ByTokens(SameWordAligner())


def test_projects_or_records_why_not():
    record = labelled_en_de("Steve Jobs worked for Apple in California.", "Steve Jobs arbeitete für Apple im Westen.")
    alignment = SameWordAligner().align([record.tokenized.token_pair()])[0]
    rows, rejects = project_instances(record, alignment, "same-word", lambda e: [], version="0")
    got = sorted((r.head.surface, r.tail.surface, r.relations) for r in rows)
    assert got == [("Apple", "Steve Jobs", ()), ("Steve Jobs", "Apple", ("P108",))]
    assert all(r.label_source == "projected" and r.aligner == "same-word" and r.projection_confidence == 1.0
               for r in rows)
    assert {r.source_instance_id for r in rows} <= {r.instance_id for r in record.src_instances}
    # 'California' has no counterpart (no link, alias or look-alike): the 4 instances with it fail
    assert sorted(r.reason for r in rejects) == ["head:unaligned"] * 2 + ["tail:unaligned"] * 2
    assert len(rows) + len(rejects) == len(record.src_instances)


def test_overlapping_projection_is_rejected():
    record = labelled_en_de("Steve Jobs worked for Apple.", "Steve Jobs arbeitete für die Firma.")
    alignment = WordAlignment.from_links([(0, 0), (1, 1), (4, 1)])  # 'Apple' wrongly aligned into 'Jobs'
    rows, rejects = project_instances(record, alignment, "x", lambda e: [], version="0")
    assert rows == [] and {r.reason for r in rejects} == {"overlapping_projection"}


def _row(instance_id: str, head: str, tail: str) -> ShardRow:
    return ShardRow(instance_id, "p", None, "de", "A B", ("A", "B"), (0, 2), (1, 3), Mention(head, 0, 1, 0, 1, head),
                    Mention(tail, 1, 2, 2, 3, tail), (), "linked", None, None, "kb", "0")


def test_merge_keeps_projected_over_linked():
    projected = [_row("1", "A", "B")]
    linked = [_row("2", "A", "B"), _row("3", "B", "A")]
    merged, superseded = merge_target_rows(projected, linked)
    assert [r.instance_id for r in merged] == ["1", "3"] and superseded == 1


def test_align_project_stage():
    records = [labelled_en_de("Steve Jobs worked for Apple.", "Steve Jobs arbeitete für Apple.", "f:1"),
               labelled_en_de("Munich is in Bavaria.", "Die Stadt liegt im Süden.", "f:2"),  # no counterparts
               labelled_en_de("It rained.", "Es regnete.", "f:3")]
    with stage_pipeline() as p:
        rows, rejects = p | beam.Create(records) | align_project(dataclasses.replace(EN_DE_CONFIG, prior_sample_size=0),
                                                               build=same_word_builder)
        summary = rows | beam.Map(lambda r: (r.lang, r.label_source, r.head.surface, r.tail.surface))
        assert_that(summary, equal_to([
            ("en", "linked", "Steve Jobs", "Apple"), ("en", "linked", "Apple", "Steve Jobs"),
            ("de", "projected", "Steve Jobs", "Apple"), ("de", "projected", "Apple", "Steve Jobs"),
            ("en", "linked", "Munich", "Bavaria"), ("en", "linked", "Bavaria", "Munich"),
        ]), label="rows")
        assert_that(rejects | beam.Map(lambda r: (r.origin, r.reason)),
                    equal_to([("f:2", "head:unaligned"), ("f:2", "head:unaligned")]), label="rejects")


@pytest.mark.parametrize("prior_sample_size", [0, 4, 100])
def test_align_project_stage_with_eflomal(prior_sample_size):
    """The real eflomal path, without priors (the default) and with priors fitted in the graph and
    broadcast: every source instance of the pairs is either projected or dead-lettered (eflomal is
    stochastic, so no exact spans here)."""
    pairs = [("Steve Jobs worked for Apple.", "Steve Jobs arbeitete für Apple."),
             ("Munich is in Bavaria.", "München liegt in Bayern.")]
    records = [labelled_en_de(src, tgt, f"f:{k}") for k in range(3) for src, tgt in pairs]
    n_src = sum(len(r.src_instances) for r in records)
    config = dataclasses.replace(EN_DE_CONFIG, prior_sample_size=prior_sample_size, align_batch_size=4)
    with stage_pipeline() as p:
        rows, rejects = p | beam.Create(records) | align_project(config)
        projected = rows | beam.Filter(lambda r: r.label_source == "projected")
        total = ((projected, rejects) | beam.Flatten() | beam.combiners.Count.Globally())
        assert_that(total, equal_to([n_src]), label="accounted")
        assert_that(projected | beam.Map(lambda r: r.aligner) | beam.Distinct(), equal_to(["eflomal-gdfa"]),
                    label="aligner")
        # names written identically on both sides are projected exactly, in both directions of each copy: a
        # stage that rejected every instance would still be "accounted" above, not here
        jobs = (projected | beam.Filter(lambda r: r.head.surface in ("Steve Jobs", "Apple"))
                | beam.Map(lambda r: (r.head.surface, r.tail.surface)))
        assert_that(jobs, equal_to([("Steve Jobs", "Apple"), ("Apple", "Steve Jobs")] * 3), label="identical names")


class NoEflomalCalls:
    """Fails the test if any pair reaches an eflomal call (they should all come from the priors run)."""

    def directional(self, pairs):
        raise AssertionError(f"{len(pairs)} pairs sent to an eflomal call")


def links_from_priors_run_only(spec, context, load):
    """build_aligner, with eflomal calls forbidden: every needed pair must have its links in the context."""
    aligner = build_aligner(spec, context, load)
    aligner.aligner.calls = NoEflomalCalls()
    return aligner


def test_needed_pairs_take_their_links_from_the_priors_run():
    """A sample that holds every needed pair (fewer than prior_sample_size, so all of them are in it) gives their
    links: the stage calls eflomal for none of them, and projects the identical names."""
    pairs = [("Steve Jobs worked for Apple.", "Steve Jobs arbeitete für Apple."),
             ("Munich is in Bavaria.", "München liegt in Bayern."), ("It rained.", "Es regnete.")]
    records = [labelled_en_de(src, tgt, f"f:{k}") for k in range(3) for src, tgt in pairs]
    # 6 needed of 9 pairs; no second pass (it would call eflomal for a pair whose entity the first links miss)
    config = dataclasses.replace(EN_DE_CONFIG, prior_sample_size=7, align_batch_size=2, realign_unaligned=False)
    with stage_pipeline() as p:
        rows, _ = p | beam.Create(records) | align_project(config, build=links_from_priors_run_only)
        projected = rows | beam.Filter(lambda r: r.label_source == "projected")
        jobs = (projected | beam.Filter(lambda r: r.head.surface in ("Steve Jobs", "Apple"))
                | beam.Map(lambda r: (r.head.surface, r.tail.surface)))
        assert_that(jobs, equal_to([("Steve Jobs", "Apple"), ("Apple", "Steve Jobs")] * 3))


def test_prior_sample_takes_needed_pairs_first():
    from pipelines.project import in_sample

    def with_id(record, pair_id):
        return record._replace(tokenized=record.tokenized._replace(
            pair=record.tokenized.pair._replace(pair_id=pair_id)))

    jobs = labelled_en_de("Steve Jobs worked for Apple.", "Steve Jobs arbeitete für Apple.")
    needed = [with_id(jobs, f"n{k}") for k in range(40)]
    other = labelled_en_de("It rained.", "Es regnete.", "f:99")
    assert not other.src_instances and jobs.src_instances
    # 40 needed of 1,000 pairs, sample of 50: every needed pair, and 10 of the 960 others expected
    assert all(list(in_sample(r, 50, 1000, 40))[0].needs_links for r in needed)
    others = [with_id(other, f"o{k}") for k in range(960)]
    taken = sum(1 for r in others for _ in in_sample(r, 50, 1000, 40))
    assert 2 <= taken <= 25
    # more needed pairs than the sample: only a hash sample of them, and no other pair
    assert 5 <= sum(1 for r in needed for _ in in_sample(r, 20, 1000, 40)) <= 35
    assert not any(True for r in others[:200] for _ in in_sample(r, 20, 1000, 40))


class DictionaryAligner(SameWordAligner):
    """SameWordAligner, plus the translations in ``words``."""

    name = "dictionary"
    words = {"munich": "hauptstadt", "bavaria": "freistaat"}

    def align(self, pairs):
        return [WordAlignment.from_links((i, j) for i, s in enumerate(src) for j, t in enumerate(tgt)
                                         if self.words.get(s.lower(), s.lower()) == t.lower()) for src, tgt in pairs]


SECOND_PASS: list[int] = []  # pairs the second pass aligned (the stage runs in this process)


def second_pass_knows_more(spec, context, load):
    """First pass (a context with the priors run's links): same words only; the second pass (the context without
    them, as the stage builds it): a dictionary that also links Munich and Bavaria (to words that are no alias)."""
    if context.links:
        return ByTokens(SameWordAligner())

    class Recording(DictionaryAligner):
        def align(self, pairs):
            SECOND_PASS.append(len(pairs))
            return super().align(pairs)

    return ByTokens(Recording())


@pytest.mark.parametrize("realign", [True, False])
def test_unaligned_entities_are_aligned_a_second_time(realign):
    """A pair whose head or tail the first links leave unaligned is aligned again; the spans the first links left
    unaligned are projected through the second links, the others keep the first projection. A pair no pass
    aligns keeps its rejects, once; every source instance is projected or rejected."""
    records = [labelled_en_de("Steve Jobs worked for Apple.", "Steve Jobs arbeitete für Apple.", "f:1"),
               labelled_en_de("Munich is in Bavaria.", "Hauptstadt liegt in Freistaat.", "f:2"),
               labelled_en_de("Munich is in Bavaria.", "Die Stadt liegt im Süden.", "f:3")]
    SECOND_PASS.clear()
    config = dataclasses.replace(EN_DE_CONFIG, prior_sample_size=100, realign_unaligned=realign)
    with stage_pipeline() as p:
        rows, rejects = p | beam.Create(records) | align_project(config, build=second_pass_knows_more)
        projected = rows | beam.Filter(lambda r: r.label_source == "projected")
        summary = projected | beam.Map(lambda r: (r.origin, r.head.surface, r.tail.surface, r.aligner))
        expected = [("f:1", "Steve Jobs", "Apple", "same-word"), ("f:1", "Apple", "Steve Jobs", "same-word")]
        if realign:
            expected += [("f:2", "Hauptstadt", "Freistaat", "dictionary"),
                         ("f:2", "Freistaat", "Hauptstadt", "dictionary")]
        assert_that(summary, equal_to(expected), label="projected")
        unaligned = [("f:3", "head:unaligned")] * 2 + ([] if realign else [("f:2", "head:unaligned")] * 2)
        assert_that(rejects | beam.Map(lambda r: (r.origin, r.reason)), equal_to(unaligned), label="rejects")
    # f:2 and f:3, in one call (a second pass only when asked for)
    assert SECOND_PASS == ([2] if realign else [])


def test_second_links_only_for_spans_the_first_left_unaligned():
    record = labelled_en_de("Munich is in Bavaria.", "Hauptstadt liegt in Freistaat.")
    first = SameWordAligner().align([record.tokenized.token_pair()])[0]  # only 'in' -> 'in'
    assert {r.reason for r in project_instances(record, first, "x", lambda e: [], version="0")[1]} == {
        "head:unaligned"}
    second = WordAlignment.from_links([(0, 3), (3, 0)])  # Munich -> Freistaat, Bavaria -> Hauptstadt: wrong, used
    rows, rejects = project_instances(record, first, "x", lambda e: [], version="0", second=second)
    assert not rejects and sorted((r.head.surface, r.tail.surface) for r in rows) == [
        ("Freistaat", "Hauptstadt"), ("Hauptstadt", "Freistaat")]
    jobs = labelled_en_de("Steve Jobs worked for Apple.", "Steve Jobs arbeitete für Apple.")
    aligned = SameWordAligner().align([jobs.tokenized.token_pair()])[0]
    wrong = WordAlignment.from_links([(0, 4), (1, 4), (4, 0)])
    assert project_instances(jobs, aligned, "x", lambda e: [], version="0", second=wrong) == project_instances(
        jobs, aligned, "x", lambda e: [], version="0")


CALL_SIZES: list[int] = []  # the stage runs in this process (FnApiRunner): the recorder below appends here


class RecordingCalls:
    name, symmetrization = "eflomal-gdfa", "grow-diag-final-and"

    def directional(self, pairs):
        CALL_SIZES.append(len(pairs))
        return [set() for _ in pairs], [set() for _ in pairs]


def recording_builder(spec, context, load):
    aligner = build_aligner(spec, context, load)
    aligner.aligner.calls = RecordingCalls()
    return aligner


@pytest.mark.parametrize("prior_sample_size", [0, 3])
def test_remaining_pairs_are_grouped_into_full_size_calls(prior_sample_size):
    """Needed pairs the priors run did not align reach eflomal in calls grouped by pair id, about align_batch_size
    each, and every one of them exactly once."""
    records = [labelled_en_de("Steve Jobs worked for Apple.", f"Steve Jobs arbeitete {k} Jahre für Apple.", f"f:{k}")
               for k in range(12)]
    CALL_SIZES.clear()
    config = dataclasses.replace(EN_DE_CONFIG, prior_sample_size=prior_sample_size, align_batch_size=4)
    with stage_pipeline() as p:
        p | beam.Create(records) | align_project(config, build=recording_builder)
    if prior_sample_size == 0:
        assert sum(CALL_SIZES) == 12 and len(CALL_SIZES) <= 3
    else:  # a hash sample of about 3 of the 12 needed pairs got links from the priors run
        assert 0 < sum(CALL_SIZES) < 12 and len(CALL_SIZES) <= 3


def test_call_count_and_call_of():
    from pipelines.aligners import CorpusContext
    from pipelines.project import call_count, call_of

    assert call_count(0, 4) == 1 and call_count(9, 4) == 3
    assert call_count(9, 4, CorpusContext(links={b"a": ((), ()), b"b": ((), ())})) == 2  # 7 pairs left
    record = labelled_en_de("It rained.", "Es regnete.")
    key, same = call_of(record, 5)
    assert 0 <= key < 5 and same is record and call_of(record, 5)[0] == key


def test_function_words_never_include_the_entity_target_aliases():
    record = labelled_en_de("Steve Jobs worked for Apple.", "Steve Jobs arbeitete für Apple.")
    alignment = SameWordAligner().align([record.tokenized.token_pair()])[0]
    words = frozenset({"apple", "für"})
    _, rejects = project_instances(record, alignment, "x", lambda e: [], version="0", function_words=words)
    assert {r.reason for r in rejects} == {"head:function_words", "tail:function_words"}
    aliases = {"Q312": ["Apple"]}  # Apple Inc. in the test KB
    rows, rejects = project_instances(record, alignment, "x", lambda e: aliases.get(e, []), version="0",
                                      function_words=words)
    assert rejects == [] and len(rows) == 2
