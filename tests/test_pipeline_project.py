"""pipelines.project: projection of source instances, the merge with target-linked rows, and the stage
(with a deterministic fake aligner: links identical tokens)."""

import dataclasses

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from alignment.word.core import WordAlignment
from pipelines.aligners import ByTokens
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
