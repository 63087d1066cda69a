"""pipelines.priors: stored eflomal priors (fit once, reuse with --priors), the stage's use of them, and the
launcher's checks."""

from __future__ import annotations

import dataclasses
import json

import apache_beam as beam
import pytest

from alignment.word.eflomal_aligner import EflomalPriors
from nightly.synthetic import write_kb, write_span
from pipelines.aligners import ByTokens, CorpusContext
from pipelines.config import parse_config
from pipelines.distant_supervision import LaunchError, counter_totals, run
from pipelines.priors import (
    MANIFEST,
    PriorsError,
    check_priors,
    context_from_text,
    context_text,
    fit,
    load_context,
    priors_file,
    sample_pair,
)
from pipelines.read import make_record
from tests.helpers import EN_DE_CONFIG, align_project, labelled_en_de, stage_pipeline
from tests.test_pipeline_project import SameWordAligner


def test_stored_context_round_trip():
    priors = EflomalPriors({("cat", "Katze"): 2.0}, {1: 3.0}, {-1: 1.0}, {("cat", 1): 1.0}, {("Katze", 1): 1.0}, 5)
    back = context_from_text(context_text(CorpusContext(priors, frozenset({"der", "die"})), 5))
    assert back.priors.lexical == {("cat", "Katze"): 2.0} and back.priors.n_pairs == 5
    assert back.function_words == frozenset({"der", "die"}) and back.links == {}
    empty = context_from_text(context_text(CorpusContext(), 0))
    assert empty.priors is None and empty.function_words == frozenset()
    with pytest.raises(PriorsError, match="format 9"):
        context_from_text(json.dumps({"format": 9}) + "\n")


def test_sample_takes_every_pair_when_the_language_has_few_and_about_size_otherwise():
    pairs = [make_record(f"a {k}", f"b {k}", "en", "de", f"f:{k}") for k in range(400)]
    assert sum(1 for p in pairs for _ in sample_pair(p, 500, {"de": 400})) == 400
    taken = sum(1 for p in pairs for _ in sample_pair(p, 100, {"de": 400}))
    assert 60 < taken < 140


def test_check_priors_names_what_is_missing(tmp_path):
    with pytest.raises(PriorsError, match="no priors.json"):
        check_priors(str(tmp_path), ["de"])
    (tmp_path / MANIFEST).write_text(json.dumps({"format": 1, "langs": {"de": {}}}))
    assert check_priors(str(tmp_path), ["de"]) == {"de": priors_file(str(tmp_path), "de")}
    with pytest.raises(PriorsError, match="no priors for zh"):
        check_priors(str(tmp_path), ["de", "zh"])


CONTEXTS: list[CorpusContext] = []  # what the fake builder got (the stage runs in this process)


def recording_context(spec, context, load):
    CONTEXTS.append(context)
    return ByTokens(SameWordAligner())


def test_stage_reads_stored_priors_instead_of_a_priors_run(tmp_path):
    """With stored priors the stage builds its aligner from the file's context (no links: no priors run); the second
    pass for unaligned entities stays."""
    priors = EflomalPriors({("Jobs", "Jobs"): 1.0}, n_pairs=1)
    (tmp_path / "de.priors").write_text(context_text(CorpusContext(priors, frozenset({"die"})), 1), encoding="utf-8")
    records = [labelled_en_de("Steve Jobs worked for Apple.", "Steve Jobs arbeitete für Apple.", "f:1"),
               labelled_en_de("Munich is in Bavaria.", "Die Stadt liegt im Süden.", "f:2")]
    CONTEXTS.clear()
    config = dataclasses.replace(EN_DE_CONFIG, prior_sample_size=100, priors=str(tmp_path))
    with stage_pipeline() as p:
        p | beam.Create(records) | align_project(config, build=recording_context)
    assert CONTEXTS and all(c.links == {} and c.function_words == frozenset({"die"}) for c in CONTEXTS)
    assert all(c.priors.lexical == {("Jobs", "Jobs"): 1.0} for c in CONTEXTS)
    assert align_project(config).realign is True
    assert align_project(dataclasses.replace(config, realign_unaligned=False)).realign is False


@pytest.fixture(scope="module")
def span(tmp_path_factory):
    root = tmp_path_factory.mktemp("priors")
    kb = write_kb(root / "kb", people=40, cities=10)
    files = [write_span(root / "bitext", f"2024-01-0{i}", kb, seed=i) for i in (1, 2)]
    return root, files


def test_fit_then_a_run_with_the_stored_priors(span, tmp_path):
    root, files = span
    common = ["--input-format", "jsonl", "--src-lang", "en", "--tgt-lang", "de", "--no-relation-rate", "1.0"]
    lines = sum(1 for f in files for _ in open(f, encoding="utf-8"))
    config, beam_args = parse_config(["--input", str(files[0]), "--input", str(files[1]), *common,
                                      "--output", str(tmp_path / "priors"), "--eflomal-seed", "3"], needs_kb=False)
    manifest = fit(config, beam_args)
    assert manifest["langs"]["de"]["pairs"] == lines and len(manifest["inputs"]) == 2
    fitted = manifest["counters"]
    assert fitted["read.pairs"] == fitted["priors.sampled"] == lines >= fitted["tokenize.accepted"] > 0
    context = load_context(priors_file(str(tmp_path / "priors"), "de"))
    assert context.priors is not None and context.priors.n_pairs == lines and context.links == {}
    result = run(["--input", str(files[1]), *common, "--kb", str(root / "kb"), "--output", str(tmp_path / "out"),
                  "--priors", str(tmp_path / "priors")])
    out = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert out["config"]["priors"] == str(tmp_path / "priors")
    assert any(r["lang"] == "de" and r["count"] > 0 for r in out["rows"])
    counters = counter_totals(result)
    assert counters["project.aligned_pairs"] > 0


def test_run_refuses_priors_it_cannot_use(span, tmp_path):
    root, files = span
    argv = ["--input", str(files[0]), "--input-format", "jsonl", "--src-lang", "en", "--tgt-lang", "de",
            "--kb", str(root / "kb"), "--output", str(tmp_path / "out")]
    with pytest.raises(LaunchError, match="no priors.json"):
        run([*argv, "--priors", str(tmp_path)])
    with pytest.raises(LaunchError, match="uses no eflomal priors"):
        run([*argv, "--priors", str(tmp_path), "--aligner", "simalign-argmax", "--aligner-model", "x"])
