"""Simulated nights end to end on template spans (nightly.synthetic): real pipeline runs, real rex trainings
(the seconds-scale 'quick' preset), the gate, the registry and the lock."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from nightly import cli
from nightly.config import NightlyConfig
from nightly.lock import LockedError, NightlyLock
from nightly.night import Night, NightError
from nightly.registry import Registry
from nightly.synthetic import write_kb, write_span
from pipelines.distant_supervision import run as run_pipeline
from pipelines.split import split_of

SOURCE = {"name": "en-de", "pattern": "en-de*.jsonl", "format": "jsonl", "src_lang": "en", "tgt_langs": ["de"]}


@pytest.fixture(scope="module")
def gold(tmp_path_factory) -> dict:
    """A KB and a fixed, clean eval shard set (the user's trusted extra eval set)."""
    root = tmp_path_factory.mktemp("gold")
    kb = write_kb(root / "kb", people=80, cities=20)
    write_span(root / "src", "gold", kb, seed=99)
    run_pipeline(["--input", str(root / "src" / "gold" / "en-de.jsonl"), "--input-format", "jsonl", "--src-lang", "en",
                  "--tgt-lang", "de", "--kb", str(root / "kb"), "--output", str(root / "shards"),
                  "--no-relation-rate", "1.0"])
    return {"kb": kb, "kb_dir": root / "kb", "shards": root / "shards"}


def make_world(tmp_path: Path, gold: dict, spans: int = 2, **overrides) -> tuple[NightlyConfig, Path]:
    kb_dir = tmp_path / "kb"
    shutil.copytree(gold["kb_dir"], kb_dir)
    for i in range(spans):
        write_span(tmp_path / "bitext", f"2024-01-0{i + 1}", gold["kb"], seed=i + 1)
    raw = {
        "bitext": {"root": str(tmp_path / "bitext"), "sources": [SOURCE]},
        "kb": {"dir": str(kb_dir)}, "work_dir": str(tmp_path / "work"), "registry": str(tmp_path / "registry"),
        "pipeline": {"args": ["--no-relation-rate", "1.0"]},
        "rex": {"preset": "quick", "max_steps": 60, "warm_max_steps": 40},
        "gate": {"min_positive_bags": 3, "extra_eval": [str(gold["shards"])]},
        **overrides,
    }
    return NightlyConfig.from_dict(raw), tmp_path


def pair_splits(shards_root: Path) -> dict[tuple[str, str], set[str]]:
    out: dict[tuple[str, str], set[str]] = {}
    for path in shards_root.rglob("*.parquet"):
        if path.parent.name == "rejects" or "data" not in path.parts:  # shards only (not relations/entities.parquet)
            continue
        table = pq.read_table(path, columns=["head", "tail", "split"])
        for head, tail, split in zip(table["head"].to_pylist(), table["tail"].to_pylist(), table["split"].to_pylist(),
                                     strict=True):
            out.setdefault(tuple(sorted((head["kb_id"], tail["kb_id"]))), set()).add(split)
    return out


def test_three_nights_promote_incremental_bad_span_refused_and_rollback(tmp_path, gold):
    cfg, root = make_world(tmp_path, gold)
    reg = Registry(cfg.registry)

    first = Night(cfg, "n1").run()
    assert (first.outcome, first.exit_code) == ("promoted", 0)
    assert first.summary["built"] == ["2024-01-01/en-de", "2024-01-02/en-de"]
    assert reg.champion_version() == "v0001"
    checks = first.summary["gate"]["decision"]["checks"]
    assert [c["rule"].split(" >")[0] for c in checks] == ["pr_auc", "pr_auc"]  # first night: vs always-NA, 2 sets
    assert all(c["candidate"] > c["reference"] for c in checks)
    night_dir = Path(first.summary["folder"])
    assert (night_dir / "pr.png").stat().st_size > 0 and "## Gate" in (night_dir / "report.md").read_text()
    assert json.loads((night_dir / "summary.json").read_text())["outcome"] == "promoted"
    priors = first.summary["priors"]["en-de"]  # one fit over both spans, before they are built
    assert priors["refit"] and priors["fitted_units"] == 2 and priors["reason"] == "no stored priors"
    assert "eflomal priors of en-de: fitted on 2 units" in (night_dir / "report.md").read_text()
    first_splits = pair_splits(root / "work" / "shards")

    again = Night(cfg, "n1b").run()  # no new span, no KB change
    assert (again.outcome, again.exit_code) == ("nothing_to_do", 0)
    assert "v0001 was trained on exactly these inputs" in again.summary["nothing_reason"]
    assert again.summary["skipped"] == ["2024-01-01/en-de", "2024-01-02/en-de"]
    assert again.summary["spans_skipped"] == ["2024-01-01", "2024-01-02"] and again.summary["built"] == []
    assert reg.versions() == ["v0001"]

    write_span(root / "bitext", "2024-01-03", gold["kb"], seed=3)
    second = Night(cfg, "n2").run()
    assert second.summary["built"] == ["2024-01-03/en-de"]
    assert second.summary["skipped"] == ["2024-01-01/en-de", "2024-01-02/en-de"]
    assert second.summary["spans_processed"] == ["2024-01-03"]
    assert second.summary["spans_skipped"] == ["2024-01-01", "2024-01-02"]
    manifest = json.loads((root / "work" / "shards" / "2024-01-03" / "en-de" / "manifest.json").read_text())
    built = second.summary["units_built"]["2024-01-03/en-de"]
    assert built["reason"] == "new" and built["input_pairs"] == manifest["input_pairs"]
    assert not second.summary["priors"]["en-de"]["refit"]  # 1.5x the fitted data: reused
    assert manifest["config"]["priors"] == priors["dir"]
    assert built["rows"] == {f"{r['split']}/{r['lang']}": r["count"] for r in manifest["rows"]}
    assert second.summary["rows_added"] == built["rows"]  # the only unit built tonight
    report_md = (Path(second.summary["folder"]) / "report.md").read_text()
    test_rows = sum(n for k, n in built["rows"].items() if k.startswith("test/"))
    assert f"/ {test_rows} | de " in report_md and "| 2024-01-01/en-de | complete | | | | | reused |" in report_md
    assert "| relation | de | en | total |" in report_md and "## Rejects added" in report_md
    assert second.summary["training"]["parent"] == "v0001"
    assert second.summary["training"]["init_from"].endswith("versions/v0001/model")
    assert second.summary["gate"]["champion"] == "v0001"
    decision = second.summary["gate"]["decision"]
    assert decision["promote"] == all(c["ok"] is not False for c in decision["checks"])
    assert second.outcome == ("promoted" if decision["promote"] else "not_promoted")
    lineage = reg.version("v0002")["lineage"]
    assert lineage["parent"] == "v0001" and lineage["spans"] == ["2024-01-01", "2024-01-02", "2024-01-03"]
    assert lineage["units"]["2024-01-03/en-de"]["inputs"][0]["name"] == "en-de.jsonl"
    assert lineage["kb_version"].startswith("kb-") and lineage["code_version"]["xds"]
    champion_before_bad = reg.champion_version()

    write_span(root / "bitext", "2024-01-04", gold["kb"], seed=4, corrupt=True, repeat=6)
    third = Night(cfg, "n3").run()
    assert (third.outcome, third.exit_code) == ("not_promoted", 3)
    assert third.summary["priors"]["en-de"]["refit"] and "grew" in third.summary["priors"]["en-de"]["reason"]
    assert reg.champion_version() == champion_before_bad
    assert reg.version("v0003")["gate"]["promote"] is False
    failed = [c for c in third.summary["gate"]["decision"]["checks"] if c["ok"] is False]
    assert any(c["eval"].startswith("extra1") and c["group"] == "all" for c in failed)

    # pairs never change split across spans and nights
    splits = pair_splits(root / "work" / "shards")
    assert all(len(s) == 1 for s in splits.values())
    assert {p: s for p, s in splits.items() if p in first_splits} == first_splits
    assert all(split_of(*p) in s for p, s in splits.items())

    # rollback and manual promote
    if reg.champion_version() != "v0002":  # night 2's gate may refuse on this tiny data; rollback needs a history
        reg.promote("v0002", "test")
    assert cli.main(["rollback", "--config", _write_config(cfg, root)]) == 0
    assert reg.champion_version() == "v0001"
    assert cli.main(["promote", "--config", _write_config(cfg, root), "v0003"]) == 2  # gate refused, no --force
    assert reg.champion_version() == "v0001"
    assert [e["event"] for e in reg.events()][-1] == "rollback"
    assert sorted(reg.versions()) == ["v0001", "v0002", "v0003"]  # nothing deleted


def _write_config(cfg: NightlyConfig, root: Path) -> str:
    path = root / "nightly.json"
    path.write_text(json.dumps(cfg.to_dict()), encoding="utf-8")
    return str(path)


def test_kill_between_steps_resumes_from_the_failed_step(tmp_path, gold, monkeypatch):
    cfg, _ = make_world(tmp_path, gold)
    import nightly.night as night_mod

    real_build = night_mod.build_unit
    calls = []

    def build_once_then_die(unit, config, priors=None):
        calls.append(unit.key)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed")  # the job dies while building the second span
        return real_build(unit, config, priors)

    monkeypatch.setattr(night_mod, "build_unit", build_once_then_die)
    with pytest.raises(KeyboardInterrupt):
        Night(cfg, "n1").run()
    state = json.loads((tmp_path / "work" / "nights" / "n1" / "state.json").read_text())
    assert state["failed_step"] == "shards" and list(state["steps"]["shards"]["built"]) == ["2024-01-01/en-de"]
    assert not (tmp_path / "registry" / "champion.json").exists()
    assert not list((tmp_path / "work" / "shards" / "2024-01-02").glob("*"))  # no half-written unit in place

    def crash_at_gate(step: str) -> None:
        if step == "gate":
            raise RuntimeError("gate crashed")

    night = Night(cfg, "n1")
    night.before_step = crash_at_gate
    with pytest.raises(RuntimeError, match="gate crashed"):
        night.run()
    assert calls == ["2024-01-01/en-de", "2024-01-02/en-de", "2024-01-02/en-de"]  # span 1 reused
    state = json.loads((tmp_path / "work" / "nights" / "n1" / "state.json").read_text())
    assert state["failed_step"] == "gate" and state["steps"]["train"]["status"] == "done"
    assert Registry(cfg.registry).versions() == [] and Registry(cfg.registry).champion() is None
    assert json.loads((tmp_path / "work" / "nights" / "n1" / "summary.json").read_text())["exit_code"] == 1

    import rex.api

    monkeypatch.setattr(rex.api, "train", lambda *a, **k: pytest.fail("training must not rerun"))
    monkeypatch.setattr(night_mod, "build_unit", lambda *a: pytest.fail("no span must be rebuilt"))
    resumed = Night(cfg, "n1").run()
    assert resumed.outcome == "promoted" and Registry(cfg.registry).champion_version() == "v0001"
    assert json.loads((tmp_path / "work" / "nights" / "n1" / "state.json").read_text())["attempts"] == 3


def test_kb_change_rebuilds_every_span_reports_why_and_the_index_follows_the_kb(tmp_path, gold):
    """Retrieval on: night 1 builds the rule-held-out fact index; a KB update that brings a new relation (P108)
    rebuilds every span and the index, the warm-started candidate gains a classifier row for P108 and is gated
    in the union label space; a night without a KB change reuses the index."""
    from nightly.index import heldout_by_rule
    from schemas.kb import load_kb

    cfg, root = make_world(tmp_path, gold, rex={"preset": "quick", "max_steps": 30, "warm_max_steps": 20},
                           retrieval={"enabled": True, "epochs": 3, "dim": 16})
    first = Night(cfg, "n1").run()
    assert first.outcome == "promoted"
    index1 = first.summary["index"]
    assert index1["built"] is True
    kb = load_kb(cfg.kb.dir, langs=["de", "en"])
    heldout = heldout_by_rule(kb, [0.8, 0.1, 0.1])
    meta = json.loads((Path(index1["index_dir"]) / "meta.json").read_text())
    assert meta["n_facts"] == sum(tuple(sorted((h, t))) not in heldout for h, _, t in kb.facts)
    # every related dev/test pair of the spans is held out of the index (so is any a future span brings); no
    # train pair is (pairs without a KB fact have nothing in the index)
    kb_pairs = {tuple(sorted((h, t))) for h, _, t in kb.facts}
    for pair, splits in pair_splits(root / "work" / "shards").items():
        assert pair not in kb_pairs or (pair in heldout) == (splits != {"train"})

    # a KB update: P108 (employer) facts for person-city pairs in the train split, and a span that mentions them
    names, facts_file = gold["kb"]["names"], Path(cfg.kb.dir) / "facts" / "facts.tsv"
    related = {tuple(sorted((h, t))) for h, _, t in gold["kb"]["facts"]}
    new_pairs = [(p, c) for p in gold["kb"]["people"] for c in gold["kb"]["cities"]
                 if tuple(sorted((p, c))) not in related and split_of(p, c) == "train"][:6]
    facts_file.write_text(facts_file.read_text() + "".join(f"{p}\tP108\t{c}\n" for p, c in new_pairs),
                          encoding="utf-8")
    span = root / "bitext" / "2024-01-03" / "en-de.jsonl"
    span.parent.mkdir(parents=True)
    span.write_text("".join(json.dumps({"id": f"w{i}-{k}", "en": f"{names[p]} works for {names[c]} .",
                                        "de": f"{names[p]} arbeitet für {names[c]} ."}) + "\n"
                            for i, (p, c) in enumerate(new_pairs) for k in range(4)), encoding="utf-8")
    second = Night(cfg, "n2").run()
    assert second.summary["built"] == ["2024-01-01/en-de", "2024-01-02/en-de", "2024-01-03/en-de"]
    assert len(second.summary["kb_changed_units"]) == 2
    assert [r.split(" (")[0] for r in second.summary["units"].values()] == ["KB version changed"] * 2 + ["new"]
    assert "2 units rebuilt" in (Path(second.summary["folder"]) / "report.md").read_text()
    assert second.summary["index"]["built"] is True and second.summary["index"]["index_dir"] != index1["index_dir"]
    champion_labels = json.loads((Registry(cfg.registry).model_dir("v0001") / "labels.json").read_text())["relations"]
    candidate_labels = json.loads((Registry(cfg.registry).model_dir("v0002") / "labels.json").read_text())["relations"]
    assert "P108" not in champion_labels and candidate_labels == champion_labels + ["P108"]  # old rows kept
    gate = json.loads((Path(second.summary["folder"]) / "gate.json").read_text())
    assert gate["champion"] == "v0001" and "P108" in gate["comparisons"]["test"]["labels"]

    write_span(root / "bitext", "2024-01-04", gold["kb"], seed=4)
    third = Night(cfg, "n3").run()
    assert third.summary["built"] == ["2024-01-04/en-de"]
    assert third.summary["index"] == {"index_dir": second.summary["index"]["index_dir"], "built": False,
                                      "reason": "reused (same KB version, fractions, settings)"}
    assert "- retrieval index: reused (same KB version" in (Path(third.summary["folder"]) / "report.md").read_text()


def test_split_fraction_change_is_refused(tmp_path, gold):
    cfg, _ = make_world(tmp_path, gold, rex={"preset": "quick", "max_steps": 20})
    Registry(cfg.registry).ensure([0.8, 0.1, 0.1])
    cfg.pipeline.args += ["--split-fractions", "0.7,0.15,0.15"]
    with pytest.raises(NightError, match="split fractions changed"):
        Night(cfg, "n1").run()
    assert cli.main(["run", "--config", _write_config(cfg, tmp_path), "--night", "n1"]) == 1


def test_a_second_run_is_refused_while_the_first_holds_the_lock(tmp_path, gold, capsys):
    cfg, _ = make_world(tmp_path, gold, spans=0)
    lock_path = Path(cfg.registry) / "nightly.lock"
    with NightlyLock(lock_path, 600):
        with pytest.raises(LockedError, match="another nightly run holds"):
            Night(cfg, "n1").run()
        assert cli.main(["run", "--config", _write_config(cfg, tmp_path)]) == 75
        assert "refusing to start" in capsys.readouterr().err
    assert not lock_path.exists()
    # a crashed holder: a dead process on this host, or a heartbeat older than the stale timeout
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    lock_path.write_text(json.dumps({"host": socket.gethostname(), "pid": int(dead.stdout)}))
    with NightlyLock(lock_path, 600):
        pass
    lock_path.write_text(json.dumps({"host": "other-machine", "pid": 1}))
    with pytest.raises(LockedError):
        NightlyLock(lock_path, 600).acquire()
    old = time.time() - 700
    os.utime(lock_path, (old, old))
    with NightlyLock(lock_path, 600):
        assert json.loads(lock_path.read_text())["pid"] == os.getpid()


def test_no_spans_is_nothing_to_do(tmp_path, gold, capsys):
    cfg, _ = make_world(tmp_path, gold, spans=0)
    (tmp_path / "bitext").mkdir()
    assert cli.main(["run", "--config", _write_config(cfg, tmp_path), "--night", "n1"]) == 0
    captured = capsys.readouterr()
    assert "nothing to do: no spans under the bitext root" in captured.out
    assert captured.err.startswith("night n1: plan (1 of ")  # a line as each step starts
    assert cli.main(["run", "--config", _write_config(cfg, tmp_path), "--night", "n2", "-q"]) == 0
    assert capsys.readouterr().err == ""
