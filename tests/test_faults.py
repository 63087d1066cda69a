"""Fault injection: each test breaks one thing and asserts the exact promise of docs/reliability.md.

Output folders (pipeline runs on 3-pair corpora with precomputed links: no aligner, seconds each), shard folders
read by rex, resumed training, and the KB. Malformed input lines are in tests/test_faults_inputs.py.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines import commit as commit_module
from pipelines.config import parse_config
from pipelines.distant_supervision import check_kb, run
from pipelines.lock import FileLock, LockedError
from pipelines.read import fingerprint
from rex.data.shards import resolve_shards
from rex.resume import check_resume, differences, record_run, run_identity
from rex.retrieval.policy import heldout_pairs_from_shards
from schemas.kb import KBFormatError, load_kb
from schemas.manifest import LOCK_NAME, MANIFEST_VERSION, IncompleteOutputError
from schemas.shard import SPLITS

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PAIRS = ("Steve Jobs worked for Apple .\tSteve Jobs arbeitete für Apple .\n"
         "Berlin is the capital of Germany .\tBerlin ist die Hauptstadt von Deutschland .\n"
         "Munich is in Bavaria .\tMünchen liegt in Bayern .\n")
LINKS = "0-0 1-1 2-2 3-3 4-4 5-5\n0-0 1-1 2-2 3-3 4-4 5-5 6-6\n0-0 1-1 2-2 3-3 4-4\n"


def corpus(folder: Path, text: str = PAIRS) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "c.tsv").write_text(text, encoding="utf-8")
    (folder / "c.links").write_text(LINKS, encoding="utf-8")
    return folder / "c.tsv", folder / "c.links"


def argv(inputs: tuple[Path, Path], out: Path, *extra: str) -> list[str]:
    return ["--input", str(inputs[0]), "--src-lang", "en", "--tgt-lang", "de", "--kb", str(EXAMPLES / "kb"),
            "--output", str(out), "--alignments", str(inputs[1]), "--no-relation-rate", "1", *extra]


def manifest_of(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def tree(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()
            and p.name != "manifest.json"}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """One committed pipeline output (read-only for the tests: they copy it)."""
    root = tmp_path_factory.mktemp("built")
    run(argv(corpus(root / "in"), root / "out"))
    return root / "out"


def first_shard(out: Path) -> Path:
    """The first shard file the output's manifest lists."""
    return out / next(f["path"] for f in manifest_of(out)["files"] if f["split"] in SPLITS)


def copy_of(built: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(built, tmp_path / "copy"))


# ---- output folders are transactions ---------------------------------------------------------------------------

def test_the_manifest_lists_every_file_with_rows_and_sha256_and_nothing_else_is_left(built):
    manifest = manifest_of(built)
    assert manifest["complete"] is True and manifest["manifest_version"] == MANIFEST_VERSION == "1.4"
    on_disk = sorted(str(p.relative_to(built)) for p in built.rglob("*.parquet"))
    assert sorted(f["path"] for f in manifest["files"]) == on_disk
    for entry in manifest["files"]:
        path = built / entry["path"]
        assert pq.ParquetFile(path).metadata.num_rows == entry["rows"]
        assert fingerprint(str(path)) == {"path": str(path), "bytes": entry["bytes"], "sha256": entry["sha256"]}
    # the rows the files hold are the rows the manifest counts; the lock and the staging folder are gone
    assert sum(f["rows"] for f in manifest["files"] if f["split"] in SPLITS) == sum(
        r["count"] for r in manifest["rows"])
    assert sorted(p.name for p in built.iterdir()) == ["data", "entities.parquet", "manifest.json", "rejects",
                                                     "relations.parquet", "report.md", "report.png"]


def test_an_identical_rerun_rewrites_the_same_bytes(built, tmp_path):
    out = copy_of(built, tmp_path)
    before = tree(out)
    run(argv(corpus(built.parent / "in"), out))
    assert tree(out) == before
    assert [f["sha256"] for f in manifest_of(out)["files"]] == [f["sha256"] for f in manifest_of(built)["files"]]


def test_another_run_into_a_used_folder_is_refused_and_overwrite_replaces_it(built, tmp_path):
    out = copy_of(built, tmp_path)
    before = tree(out)
    other = argv(corpus(built.parent / "in"), out, "--max-token-distance", "3")
    with pytest.raises(commit_module.OutputInUseError, match="max_token_distance.*pass --overwrite") as err:
        run(other)
    assert "\n" not in str(err.value)
    assert tree(out) == before  # refused before anything was written
    shard = next(f["path"] for f in manifest_of(out)["files"] if f["split"] in SPLITS)
    stray = (out / shard).with_name("part-00001-of-00002.parquet")  # a file of the old run the new one does not write
    shutil.copy(out / shard, stray)
    run([*other, "--overwrite"])
    manifest = manifest_of(out)
    assert manifest["config"]["max_token_distance"] == 3 and not stray.exists()
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.parquet")) == sorted(
        f["path"] for f in manifest["files"])


def test_other_inputs_or_files_without_a_manifest_count_as_another_run(tmp_path):
    inputs, out = corpus(tmp_path / "in"), tmp_path / "out"
    run(argv(inputs, out))
    inputs[0].write_text(PAIRS.replace("Munich", "Munich city"), encoding="utf-8")  # same path, other content
    with pytest.raises(commit_module.OutputInUseError, match="different inputs"):
        run(argv(inputs, out))
    loose = tmp_path / "loose"
    loose.mkdir()
    (loose / "notes.txt").write_text("someone else's file\n", encoding="utf-8")
    with pytest.raises(commit_module.OutputInUseError, match="without a readable manifest"):
        run(argv(inputs, loose))
    assert (loose / "notes.txt").exists()


def test_a_run_that_fails_before_its_commit_leaves_the_old_output_whole(built, tmp_path, monkeypatch):
    out = copy_of(built, tmp_path)
    before, manifest = tree(out), manifest_of(out)

    def crash(staging, output):
        raise RuntimeError("killed before the commit")

    monkeypatch.setattr("pipelines.distant_supervision.commit", crash)
    with pytest.raises(RuntimeError, match="killed"):
        run(argv(corpus(built.parent / "in"), out, "--overwrite", "--max-token-distance", "3"))
    assert tree(out) == before and manifest_of(out) == manifest
    assert not list(out.glob(".staging-*")) and not (out / LOCK_NAME).exists()


def test_a_killed_runs_staging_folder_is_refused_by_readers_and_cleared_by_the_next_run(tmp_path):
    out = tmp_path / "out"
    staged = out / ".staging-deadbeef" / "train"  # what kill -9 during the write leaves in a fresh folder
    staged.mkdir(parents=True)
    (staged / "train-00000-of-00001.parquet").write_bytes(b"PAR1 half written")
    with pytest.raises(IncompleteOutputError, match="in progress or did not finish"):
        resolve_shards([str(out)])
    run(argv(corpus(tmp_path / "in"), out))
    assert not list(out.glob(".staging-*")) and manifest_of(out)["complete"] is True


def test_a_second_concurrent_run_refuses_and_a_dead_holders_lock_is_taken_over(tmp_path):
    out = tmp_path / "out"
    inputs = corpus(tmp_path / "in")
    with FileLock(out / LOCK_NAME, 600):  # a live holder (this process)
        with pytest.raises(LockedError, match="another run holds"):
            run(argv(inputs, out))
    assert not (out / "manifest.json").exists()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    (out / LOCK_NAME).write_text(json.dumps({"host": __import__("socket").gethostname(),
                                             "pid": int(dead.stdout), "started_at": 0}), encoding="utf-8")
    run(argv(inputs, out))  # the crashed holder's lock is taken over
    assert manifest_of(out)["complete"] is True and not (out / LOCK_NAME).exists()


def test_refusals_are_one_line_on_the_command_line(built, tmp_path):
    out = copy_of(built, tmp_path)
    proc = subprocess.run([sys.executable, "-m", "pipelines.distant_supervision",
                           *argv(corpus(built.parent / "in"), out, "--max-token-distance", "3")],
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1], timeout=300)
    assert proc.returncode == 1
    last = [line for line in proc.stderr.splitlines() if line.strip()][-1]
    assert last.startswith("xds-pipeline: ") and "--overwrite" in last and "Traceback" not in proc.stderr


# ---- rex reads exactly what the manifest lists -----------------------------------------------------------------

def test_rex_reads_the_listed_files_and_warns_about_others(built, tmp_path, caplog):
    out = copy_of(built, tmp_path)
    listed = sorted(str(out / f["path"]) for f in manifest_of(out)["files"] if f["split"] in SPLITS)
    assert [s.path for s in resolve_shards([str(out)])] == listed
    shutil.copy(first_shard(out), first_shard(out).with_name("old-run.parquet"))
    with caplog.at_level(logging.WARNING):
        assert [s.path for s in resolve_shards([str(out)])] == listed
    assert "does not list are not read" in caplog.text and "old-run.parquet" in caplog.text
    # a split folder (data/<split>) is governed by the run's manifest
    split = first_shard(out).parent.parent
    assert [s.path for s in resolve_shards([str(split)])] == [p for p in listed if f"/{split.name}/" in p]


@pytest.mark.parametrize("fault, message", [
    ("incomplete", "does not mark this output complete"),
    ("missing", "which is missing"),
    ("resized", "changed after the run"),
    ("garbled", "unreadable manifest"),
])
def test_rex_refuses_an_incomplete_or_changed_folder(built, tmp_path, fault, message):
    out = copy_of(built, tmp_path)
    manifest = manifest_of(out)
    if fault == "incomplete":
        manifest["complete"] = False
        (out / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    elif fault == "missing":
        first_shard(out).unlink()
    elif fault == "resized":
        with open(first_shard(out), "ab") as handle:
            handle.write(b"appended")
    else:
        (out / "manifest.json").write_text('{"complete": tru', encoding="utf-8")
    with pytest.raises(IncompleteOutputError, match=message):
        resolve_shards([str(out)])
    with pytest.raises(IncompleteOutputError, match=message):  # rex index build --heldout-shards reads the same way
        heldout_pairs_from_shards([str(p) for p in (out / "data").iterdir()] if fault != "resized" else [str(out)])


def test_a_same_size_rewrite_is_caught_by_the_checksum(built, tmp_path, monkeypatch):
    monkeypatch.setenv("XDS_CACHE_DIR", str(tmp_path / "cache"))
    out = copy_of(built, tmp_path)
    shard = first_shard(out)
    assert resolve_shards([str(out)])  # hashed once, remembered by (URI, size, mtime)
    assert len(list((tmp_path / "cache" / "verified-shards").iterdir())) == len(resolve_shards([str(out)]))
    before = shard.stat().st_mtime_ns
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    os.utime(shard, ns=(before + 10**9, before + 10**9))  # a rewrite moves the mtime
    with pytest.raises(IncompleteOutputError, match=r"part-00000-of-00001.parquet has sha256 .* \(changed after"):
        resolve_shards([str(out)])
    # the limit of the cache: a rewrite that puts the old mtime back is caught only by verify='always'
    os.utime(shard, ns=(before, before))
    assert resolve_shards([str(out)])
    assert resolve_shards([str(out)], verify="off")
    with pytest.raises(IncompleteOutputError, match="changed after the run"):
        resolve_shards([str(out)], verify="always")
    monkeypatch.setenv("XDS_VERIFY_SHARDS", "always")
    with pytest.raises(IncompleteOutputError, match="changed after the run"):
        resolve_shards([str(out)])
    monkeypatch.setenv("XDS_VERIFY_SHARDS", "sometimes")
    with pytest.raises(ValueError, match="expected one of cached, always, off"):
        resolve_shards([str(out)])


def test_rex_cli_refuses_an_incomplete_folder_in_one_line(built, tmp_path, capsys):
    from rex.cli import main

    out = copy_of(built, tmp_path)
    manifest = manifest_of(out)
    manifest["complete"] = False
    (out / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert main(["train", "--shards", str(out), "--output", str(tmp_path / "model")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "does not mark this output complete" in err


# ---- a resumed training run is the same run --------------------------------------------------------------------

class _Shard:
    def __init__(self, uri: str, size: int) -> None:
        self.uri, self.size = uri, size


def test_resume_with_another_encoder_or_other_shards_is_refused(tmp_path):
    from rex.synthetic import tiny_config

    config = tiny_config(["shards"]).to_dict()
    shards = [_Shard("/s/train/a.parquet", 10)]
    record_run(tmp_path, run_identity(config, shards))
    check_resume(tmp_path, run_identity(config, shards))  # the same run: fine
    more_steps = json.loads(json.dumps(config))
    more_steps["train"]["max_steps"] += 100
    check_resume(tmp_path, run_identity(more_steps, shards))  # how long to train may change
    wider = json.loads(json.dumps(config))
    wider["encoder"]["hidden"] = 128
    with pytest.raises(ValueError, match=r"encoder\.hidden: 32 -> 128") as err:
        check_resume(tmp_path, run_identity(wider, shards))
    assert "\n" not in str(err.value)
    assert differences(run_identity(config, shards), run_identity(config, [_Shard("/s/train/a.parquet", 11)])) == [
        "shard files (1 added, removed or changed)"]


def test_resume_of_a_run_recorded_before_a_field_existed(tmp_path):
    """A field an older rex did not record is the same run while it stays at its default, and a change when not."""
    from rex.synthetic import tiny_config

    config = tiny_config(["shards"]).to_dict()
    shards = [_Shard("/s/train/a.parquet", 10)]
    older = json.loads(json.dumps(config))
    del older["model"]["lang_thresholds"], older["train"]["min_lang_threshold_positives"]
    record_run(tmp_path, run_identity(older, shards))
    check_resume(tmp_path, run_identity(config, shards))
    changed = json.loads(json.dumps(config))
    changed["model"]["lang_thresholds"] = {"de": 0.3}
    with pytest.raises(ValueError, match=r"model\.lang_thresholds: None -> \{'de': 0\.3\}"):
        check_resume(tmp_path, run_identity(changed, shards))


def test_trainer_refuses_to_resume_a_different_run(tmp_path):
    from rex.api import train
    from rex.synthetic import tiny_config, write_synthetic_shards

    shards = str(write_synthetic_shards(tmp_path / "shards", num_pairs=20))
    train(tiny_config([shards], steps=2), tmp_path / "run")
    assert (tmp_path / "run" / "run.json").exists()
    wider = tiny_config([shards], steps=4)
    wider.encoder.hidden = 64
    with pytest.raises(ValueError, match=r"holds checkpoints of a different run \(encoder\.hidden: 32 -> 64"):
        train(wider, tmp_path / "run")


# ---- the KB fails loudly ---------------------------------------------------------------------------------------

def _kb(tmp_path: Path, facts: bytes, aliases: dict[str, bytes] | None = None) -> Path:
    kb = tmp_path / "kb"
    (kb / "facts").mkdir(parents=True)
    (kb / "aliases").mkdir()
    (kb / "facts" / "facts.tsv").write_bytes(facts)
    for lang, text in (aliases or {"en": b"Q1\tBerlin\nQ2\tGermany\n"}).items():
        (kb / "aliases" / f"{lang}.txt").write_bytes(text)
    return kb


@pytest.mark.parametrize("facts, aliases, where", [
    (b"Q1\tP17\tQ2\nQ1\tP\xff17\tQ2\n", None, "facts.tsv:2: not UTF-8"),
    (b"Q1\tP17\tQ2\n\nQ1\tP17\n", None, "facts.tsv:3: expected 3 tab-separated fields"),
    (b"Q1\tP17\tQ2\n", {"en": b"Q1\tBerlin\nQ2\tGer\xc3many\n"}, "en.txt:2: not UTF-8"),
    (b"Q1\tP17\tQ2\n", {"en": b"Q1\tBerlin\nQ2\n"}, "en.txt:2: expected 'entity_id<TAB>alias"),
    (b"\n\n", None, "no facts in"),
])
def test_kb_errors_name_the_file_and_line(tmp_path, facts, aliases, where):
    with pytest.raises(KBFormatError, match=where):
        load_kb(str(_kb(tmp_path, facts, aliases)))


def test_a_kb_without_source_aliases_is_an_error_unless_allowed(tmp_path, caplog):
    kb = load_kb(str(_kb(tmp_path, b"Q1\tP17\tQ2\n", {"de": b"Q1\tBerlin\n"})))
    inputs = ["--input", "x.tsv", "--src-lang", "en", "--tgt-lang", "de", "--kb", "KB", "--output", "o"]
    with pytest.raises(KBFormatError, match="no aliases for the source language en .*de=1, en=0"):
        check_kb(kb, parse_config(inputs)[0])
    with caplog.at_level(logging.WARNING):
        check_kb(kb, parse_config([*inputs, "--allow-missing-aliases"])[0])
    assert "no aliases for the source language en" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):  # a target language without aliases: projected rows only, said so
        check_kb(kb, parse_config(["--input", "x", "--src-lang", "de", "--tgt-lang", "en", "--kb", "KB",
                                   "--output", "o"])[0])
    assert "no aliases for en" in caplog.text and "can only be projected" in caplog.text


def test_the_facts_version_ignores_the_alias_languages_and_an_index_of_other_facts_is_refused(built, tmp_path):
    from rex.retrieval.index import IndexMismatchError
    from rex.retrieval.policy import check_facts_version

    kb_dir = str(EXAMPLES / "kb")
    en, every = load_kb(kb_dir, langs=["en"]), load_kb(kb_dir)
    assert en.version != every.version and en.aliases_version != every.aliases_version
    assert en.facts_version == every.facts_version == manifest_of(built)["kb_facts_version"]
    check_facts_version({"kb_facts_version": every.facts_version}, [str(built)], "idx")  # same facts: fine
    check_facts_version({}, [str(built)], "idx")  # an index from before facts versions: not checkable
    with pytest.raises(IndexMismatchError, match="built from KB facts facts-0, but the shards were labelled with"):
        check_facts_version({"kb_facts_version": "facts-0"}, [str(built)], "idx")


# ---- rex predict inputs ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("line, message", [
    ('{"text": "a b", "head": [0, 1], "tail": [2, 3]', "not JSON"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"text": 5, "head": [0, 1], "tail": [2, 3]}', "'text' must be a string"),
    ('{"text": "lone \\ud800 x", "head": [0, 4], "tail": [7, 8]}', "lone surrogate"),
    ('{"id": "\\udfff", "text": "ab cd", "head": [0, 2], "tail": [3, 5]}', "lone surrogate"),
])
def test_predict_bad_lines_name_file_and_line(line, message):
    from rex.predict import InputError, parse_line

    with pytest.raises(InputError, match=rf"^in\.jsonl:7: .*{message}"):
        parse_line(line, "in.jsonl:7")


def test_predict_undecodable_input_names_file_and_line(tmp_path):
    from rex.predict import InputError, read_lines

    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"marked_text": "ok"}\n{"marked_text": "caf\xe9"}\n')
    lines = read_lines(str(path))
    assert next(lines) == '{"marked_text": "ok"}\n'
    with pytest.raises(InputError, match=rf"^{path}:2: not UTF-8"):
        next(lines)
