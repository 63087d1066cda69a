"""Launching without the data: the KB and the inputs are read by the job through Beam's FileSystems (an
object-store stand-in, tests/remote_fs.py), and a Dataflow dry run translates the job with no KB, no data and no
credentials on the launching machine."""

from __future__ import annotations

import json
import logging
import shutil
import tarfile
from pathlib import Path

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.commit import OutputInUseError
from pipelines.config import parse_config
from pipelines.distant_supervision import LaunchError, counter_totals, plan_launch, run
from schemas.kb import KBFormatError, load_kb
from tests.remote_fs import PREFIX, FakeObjectStore

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
REPO = EXAMPLES.parent
CORPUS = ("Steve Jobs worked for Apple .\tSteve Jobs arbeitete für Apple .\n"
          "Berlin is big .\tBerlin ist groß .\n"
          "Munich is in Bavaria .\tMünchen liegt in Bayern .\n")
LINKS = "0-0 1-1 2-2 3-3 4-4 5-5\n0-0 1-1 2-2 3-3\n0-0 1-1 2-2 3-3 4-4\n"


@pytest.fixture
def store(tmp_path, monkeypatch):
    """An empty object store with the example KB under xdsfake://kb and a corpus under xdsfake://in/."""
    root = tmp_path / "store"
    shutil.copytree(EXAMPLES / "kb", root / "kb")
    (root / "in").mkdir()
    (root / "in" / "a.tsv").write_text(CORPUS, encoding="utf-8")
    monkeypatch.setattr(FakeObjectStore, "root", str(root))
    return root


def remote_args(tmp_path, *extra: str) -> list[str]:
    links = tmp_path / "c.links"
    links.write_text(LINKS, encoding="utf-8")
    return ["--input", f"{PREFIX}in/*.tsv", "--src-lang", "en", "--tgt-lang", "de", "--kb", f"{PREFIX}kb",
            "--output", f"{PREFIX}out", "--alignments", str(links), "--no-relation-rate", "1", *extra]


def test_the_kb_and_inputs_are_read_through_filesystems_by_the_job(store, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="pipelines.distant_supervision"):
        result = run(remote_args(tmp_path))
    assert "read and checked on the workers" in caplog.text
    manifest = json.loads((store / "out" / "manifest.json").read_text(encoding="utf-8"))
    kb = load_kb(str(EXAMPLES / "kb"), langs=["de", "en"])  # the same KB, loaded locally
    assert (manifest["kb_version"], manifest["kb_facts_version"]) == (kb.version, kb.facts_version)
    assert [i["path"] for i in manifest["inputs"]] == [f"{PREFIX}in/a.tsv"]
    assert manifest["complete"] and (manifest["input_pairs"], manifest["accepted_pairs"]) == (3, 3)
    assert counter_totals(result)["read.pairs"] == 3
    assert not [p for p in (store / "out").glob(".staging*/**/*") if p.is_file()]  # (empty folders: local only)
    # the inputs were matched by the job, so the rerun check on them runs on its manifest, before the commit
    (store / "in" / "a.tsv").write_text(CORPUS.replace("big", "large"), encoding="utf-8")
    with pytest.raises(OutputInUseError, match="different inputs"):
        run(remote_args(tmp_path))
    assert json.loads((store / "out" / "manifest.json").read_text(encoding="utf-8")) == manifest
    run(remote_args(tmp_path, "--overwrite"))
    assert json.loads((store / "out" / "manifest.json").read_text(encoding="utf-8"))["inputs"] != manifest["inputs"]


def test_a_remote_kb_without_source_aliases_fails_the_job_with_the_kb_error(store, tmp_path):
    for alias_file in (store / "kb" / "aliases").glob("en.*"):
        alias_file.unlink()
    with pytest.raises(Exception, match="no aliases for the source language en"):
        run(remote_args(tmp_path))
    with pytest.raises(KBFormatError, match="no aliases for the source language en"):  # a local KB: before the job
        run([*remote_args(tmp_path)[:7], str(store / "kb"), *remote_args(tmp_path)[8:]])


def test_launch_plans():
    def plan(*flags: str, kb: str = str(EXAMPLES / "kb"), inputs: str = "x.tsv"):
        config, beam_args = parse_config(["--input", inputs, "--src-lang", "en", "--tgt-lang", "de", "--kb", kb,
                                          "--output", "o", *flags])
        return plan_launch(config, PipelineOptions(flags=beam_args))

    local = plan()
    assert (local.mode, local.reads_inputs, local.reads_kb, local.runner) == ("run", True, True, "FnApiRunner")
    assert not plan(inputs="gs://b/x.tsv").reads_inputs and not plan(kb="gs://b/kb").reads_kb
    assert plan(kb="/no/such/kb").reads_kb  # a local run needs the KB here: "KB folder not found" at once
    dataflow = plan("--runner", "DataflowRunner", kb="/opt/xds/kb")  # baked into the image, absent here
    assert (dataflow.reads_inputs, dataflow.reads_kb) == (False, False)
    assert plan("--runner", "DataflowRunner", "--template_location", "gs://b/t.json").mode == "template"
    with pytest.raises(LaunchError, match="--dry_run needs a remote runner"):
        plan("--dry_run", "True")


def _gcp_missing() -> str | None:
    try:
        import apache_beam.runners.dataflow.internal.apiclient  # noqa: F401
        import google.cloud.storage  # noqa: F401
    except ImportError as err:
        return f"apache-beam[gcp] is not installed ({err}); pip install -e '.[gcp]'"
    return None


@pytest.mark.skipif(_gcp_missing() is not None, reason=str(_gcp_missing()))
def test_a_dataflow_dry_run_translates_the_job_without_kb_data_or_credentials(tmp_path, monkeypatch, caplog):
    from apache_beam.portability.api import beam_runner_api_pb2

    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-credentials.json"))
    monkeypatch.chdir(REPO)  # --setup_file ./setup.py, as docs/dataflow.md runs it
    with caplog.at_level(logging.INFO, logger="pipelines.distant_supervision"):
        result = run(["--input", "gs://xds-nowhere/corpus/*.jsonl.gz", "--input-format", "jsonl", "--src-lang", "en",
                      "--tgt-lang", "de,zh", "--kb", "gs://xds-nowhere/kb", "--output", "gs://xds-nowhere/out/run1",
                      "--runner", "DataflowRunner", "--project", "xds-demo", "--region", "europe-west1",
                      "--temp_location", "gs://xds-nowhere/tmp", "--setup_file", "./setup.py", "--dry_run", "True"])
    assert "dry run on DataflowRunner" in caplog.text and counter_totals(result) == {}
    pipeline = result.job.proto_pipeline
    names = {t.unique_name for t in pipeline.components.transforms.values()}
    for step in ("KB", "Read", "Read/Match", "Read/ReadLines", "Validate", "Tokenize", "Link", "Label", "AlignProject",
                 "Split", "Write", "Write/WriteManifest"):
        assert step in names, step
    assert "Commit" not in names  # the launcher commits after the job; a dry run commits nothing
    staged = {}
    for env in pipeline.components.environments.values():
        for dep in env.dependencies:
            role = beam_runner_api_pb2.ArtifactStagingToRolePayload.FromString(dep.role_payload)
            staged[role.staged_name] = beam_runner_api_pb2.ArtifactFilePayload.FromString(dep.type_payload).path
    assert Path(staged["workflow.tar.gz"]).name == "xds-0.1.0.tar.gz"
    with tarfile.open(staged["workflow.tar.gz"]) as sdist:
        members = sdist.getnames()
    assert "xds-0.1.0/pipelines/distant_supervision.py" in members
    assert not [m for m in members if m.startswith("xds-0.1.0/tests/")]
