"""Fault injection on remote file systems: the lease lock, the registry's champion pointer and rex's manifest reads
through fsspec, on ``memory://`` (an object store in this process) and ``file://`` URLs (fsspec's local file system,
where exclusive create is O_EXCL, so separate processes can contend).

Each test asserts the promise of docs/reliability.md: a second holder refuses, a stale or dead holder's lease is
taken over by exactly one contender, a holder that lost its lease cannot commit, the champion pointer is the old
or the new one after a kill between any two steps, and rex reads exactly the files a complete manifest lists.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import fsspec
import pytest

from nightly.lock import nightly_lock
from nightly.registry import Registry, RegistryError
from pipelines.lock import FileLock, LeaseLock, LockedError, lock_for, output_lock
from rex.data.shards import count_rows, resolve_shards
from schemas.manifest import IncompleteOutputError
from schemas.shard import SPLITS

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def memory_root() -> str:
    """A fresh folder on the in-memory file system (shared by the whole process), removed afterwards."""
    root = f"memory://faults-{uuid.uuid4().hex[:8]}"
    yield root
    fs, path = fsspec.core.url_to_fs(root)
    if fs.exists(path):
        fs.rm(path, recursive=True)


def lease_record(lock: LeaseLock, number: int, **fields) -> None:
    lock.fs.makedirs(lock.root, exist_ok=True)
    lock.fs.pipe_file(lock._path(number), json.dumps(fields).encode())


# ---- the lease lock --------------------------------------------------------------------------------------------

def test_a_second_holder_refuses_and_a_released_lease_is_taken_anew(memory_root):
    url = f"{memory_root}/out/.xds-run.lock"
    assert isinstance(output_lock(url), LeaseLock) and isinstance(output_lock("/tmp/x/.xds-run.lock"), FileLock)
    with LeaseLock(url) as first:
        assert first.number == 1 and first.holder()["token"] == first.token
        with pytest.raises(LockedError, match=rf"another run holds {url} \(host {socket.gethostname()}, "
                                              rf"pid {os.getpid()}, heartbeat 0 s ago\); refusing to start"):
            LeaseLock(url).acquire()
        first.check()  # still ours
    assert LeaseLock(url).holder() is None  # released, not deleted: the newest lease stays, marked released
    with LeaseLock(url) as second:
        assert second.number == 2 and second.leases() == [2]  # older leases are removed by the next holder


@pytest.mark.parametrize("stale", ["old heartbeat", "dead process", "garbage"])
def test_a_stale_lease_is_taken_over_and_its_holder_can_no_longer_commit(memory_root, stale):
    url = f"{memory_root}/registry/nightly.lock"
    probe = LeaseLock(url, stale_seconds=60)
    if stale == "old heartbeat":  # a holder on another host that stopped beating 2 minutes ago
        lease_record(probe, 7, host="other-host", pid=1, token="t", heartbeat_at=time.time() - 120)
    elif stale == "dead process":
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
        lease_record(probe, 7, host=socket.gethostname(), pid=int(dead.stdout), token="t", heartbeat_at=time.time())
    else:
        probe.fs.makedirs(probe.root, exist_ok=True)
        probe.fs.pipe_file(probe._path(7), b"{not json")
    with LeaseLock(url, stale_seconds=60) as taker:
        assert taker.number == 8 and taker.leases() == [8]
    # a holder that stalled past the timeout and was taken over finds out before committing
    with LeaseLock(url, stale_seconds=60) as slow:
        lease_record(slow, slow.number, host="other-host", pid=1, token="t", heartbeat_at=time.time() - 120)
        with LeaseLock(url, stale_seconds=60) as fresh:
            with pytest.raises(LockedError, match="no longer held by this run"):
                slow.check()
            fresh.check()


def test_a_holder_that_lost_its_lease_stops_its_heartbeat(memory_root):
    url = f"{memory_root}/lock"
    with LeaseLock(url, stale_seconds=0.8) as holder:  # heartbeat every 0.2 s
        lease_record(holder, holder.number + 1, host="other-host", pid=1, token="t", heartbeat_at=time.time())
        assert holder.lost.wait(3)
        with pytest.raises(LockedError):
            holder.check()
    assert LeaseLock(url).holder()["host"] == "other-host"  # release did not touch the newer lease


def test_a_heartbeat_keeps_a_lease_fresh(memory_root):
    url = f"{memory_root}/lock"
    with LeaseLock(url, stale_seconds=0.8) as holder:
        first = holder.holder()["heartbeat_at"]
        time.sleep(1.0)  # longer than the stale timeout: only the heartbeat keeps the lease
        assert holder.holder()["heartbeat_at"] > first
        with pytest.raises(LockedError, match="another run holds"):
            LeaseLock(url, stale_seconds=0.8).acquire()


def test_contenders_for_one_stale_lease_on_file_urls_get_it_once(tmp_path):
    """Exclusive create is O_EXCL here: of 4 threads racing for the same stale lease exactly one wins, each round."""
    url = f"file://{tmp_path}/lock"
    for round_ in range(5):
        probe = LeaseLock(url, stale_seconds=60)
        newest = (probe.leases() or [0])[-1]
        lease_record(probe, newest + 1, host="other-host", pid=1, token="t", heartbeat_at=time.time() - 120)
        barrier, won, refused = threading.Barrier(4), [], []

        def contend(barrier=barrier, won=won, refused=refused) -> None:
            lock = LeaseLock(url, stale_seconds=60)
            barrier.wait()
            try:
                lock.acquire()
            except LockedError:
                refused.append(lock)
                return
            won.append(lock)

        threads = [threading.Thread(target=contend) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(won) == 1 and len(refused) == 3, round_
        won[0]._stop.set()  # the winner dies without releasing: its lease goes stale for the next round
        won[0]._thread.join()
        lease_record(won[0], won[0].number, host="other-host", pid=1, token="t", heartbeat_at=time.time() - 120)
    assert LeaseLock(url).leases() == [10]  # per round: the stale lease, then the one winner's


HOLD = """
import sys, time
from pipelines.lock import LeaseLock
lock = LeaseLock(sys.argv[1], stale_seconds=600)
lock.acquire()
print("held", flush=True)
time.sleep(600)
"""


def test_a_killed_process_lease_on_a_file_url_is_taken_over_at_once(tmp_path):
    url = f"file://{tmp_path}/registry/nightly.lock"
    child = subprocess.Popen([sys.executable, "-c", HOLD, url], stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert child.stdout.readline().strip() == "held"
        with pytest.raises(LockedError, match=f"pid {child.pid}"):
            nightly_lock(f"file://{tmp_path}/registry", 600).acquire()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    with nightly_lock(f"file://{tmp_path}/registry", 600) as lock:  # the holder is a dead process on this host
        assert lock.holder()["pid"] == os.getpid() and lock.number == 2


def test_the_nightly_lock_is_a_lease_on_urls_and_a_file_lock_on_paths(tmp_path, memory_root):
    assert isinstance(nightly_lock(tmp_path, 600), FileLock)
    remote = nightly_lock(memory_root, 600)
    assert isinstance(remote, LeaseLock) and remote.holder_name == "nightly run"
    with remote, pytest.raises(LockedError, match="another nightly run holds"):
        nightly_lock(memory_root, 600).acquire()
    assert isinstance(lock_for(f"{memory_root}/x"), LeaseLock)


# ---- the registry's champion pointer ---------------------------------------------------------------------------

def fake_model(tmp_path: Path, name: str) -> Path:
    model = tmp_path / name
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"name": name}))
    (model / "labels.json").write_text("{}")
    return model


def registry_root(kind: str, tmp_path: Path, memory_root: str) -> str:
    return f"{memory_root}/registry" if kind == "memory" else f"file://{tmp_path}/registry"


class Killed(Exception):
    """Stands for the process dying at this point."""


@pytest.mark.parametrize("kind", ["memory", "file"])
def test_registry_on_a_url_versions_promote_rollback(kind, tmp_path, memory_root):
    reg = Registry(registry_root(kind, tmp_path, memory_root))
    v1 = reg.register(fake_model(tmp_path, "m1"), {"night": "n1", "gate": {"promote": True}, "lineage": {}})
    v2 = reg.register(fake_model(tmp_path, "m2"), {"night": "n2", "gate": {"promote": True}, "lineage": {}})
    assert (v1, v2) == ("v0001", "v0002") and reg.versions() == ["v0001", "v0002"]
    reg.promote(v1, "first")
    reg.promote(v2, "second")
    assert reg.champion()["history"] == ["v0001"] and reg.champion()["record"] == "champion/000002.json"
    assert reg.rollback()["version"] == "v0001" and reg.champion()["history"] == []
    assert reg.champion_records() == ["000001.json", "000002.json", "000003.json"]
    assert [e["event"] for e in reg.events()] == ["register", "register", "promote", "promote", "rollback"]
    local = reg.local_model_dir(v2, tmp_path / "cache")
    assert json.loads((local / "config.json").read_text()) == {"name": "m2"}
    assert reg.local_model_dir(v2, tmp_path / "cache") == local  # downloaded once
    with pytest.raises(RegistryError, match="no version 'v0009'"):
        reg.promote("v0009", "typo")


@pytest.mark.parametrize("kind", ["memory", "file"])
def test_a_pointer_move_killed_between_its_steps_leaves_the_old_champion(kind, tmp_path, memory_root, monkeypatch):
    root = registry_root(kind, tmp_path, memory_root)
    reg = Registry(root)
    for n in (1, 2, 3):
        reg.register(fake_model(tmp_path, f"m{n}"), {"night": f"n{n}", "gate": {"promote": True}, "lineage": {}})
    reg.promote("v0001", "first")
    reg.promote("v0002", "second")
    real_replace = Registry._replace

    def die_at_the_pointer(self, relative, obj):
        if relative == "champion.json":
            raise Killed
        return real_replace(self, relative, obj)

    monkeypatch.setattr(Registry, "_replace", die_at_the_pointer)
    with pytest.raises(Killed):  # killed after the immutable record, before the pointer
        Registry(root).promote("v0003", "third")
    with pytest.raises(Killed):
        Registry(root).rollback()
    monkeypatch.setattr(Registry, "_replace", real_replace)
    reg = Registry(root)
    champion = reg.champion()
    assert (champion["version"], champion["history"], champion["record"]) == ("v0002", ["v0001"],
                                                                             "champion/000002.json")
    assert reg.champion_records() == [f"00000{n}.json" for n in range(1, 5)]  # 3 and 4: the killed moves
    assert [e["event"] for e in reg.events()][-1] == "promote"  # no event for a move that did not happen
    # the rerun moves the pointer; the records of the killed moves stay, unreferenced
    assert reg.promote("v0003", "third again")["record"] == "champion/000005.json"
    assert reg.champion()["history"] == ["v0001", "v0002"]
    assert reg.rollback()["version"] == "v0002" and reg.champion()["history"] == ["v0001"]


@pytest.mark.parametrize("kind", ["memory", "file"])
def test_a_registration_killed_before_its_version_json_is_not_a_version(kind, tmp_path, memory_root, monkeypatch):
    root = registry_root(kind, tmp_path, memory_root)
    real_create = Registry._create

    def die_at_version_json(self, relative, obj):
        if relative.endswith("version.json"):
            raise Killed
        return real_create(self, relative, obj)

    monkeypatch.setattr(Registry, "_create", die_at_version_json)
    with pytest.raises(Killed):
        Registry(root).register(fake_model(tmp_path, "m1"), {"night": "n1", "lineage": {}})
    monkeypatch.setattr(Registry, "_create", real_create)
    reg = Registry(root)
    assert reg.versions() == [] and reg.champion() is None
    assert reg.register(fake_model(tmp_path, "m2"), {"night": "n2", "lineage": {}}) == "v0001"
    assert reg.version("v0001")["night"] == "n2"
    assert json.loads((reg.local_model_dir("v0001", tmp_path / "c") / "config.json").read_text()) == {"name": "m2"}


def test_two_movers_cannot_write_the_same_champion_record(memory_root, tmp_path):
    reg = Registry(f"{memory_root}/registry")
    reg.register(fake_model(tmp_path, "m1"), {"night": "n1", "lineage": {}})
    reg.fs.pipe_file(reg._key("champion/000001.json"), b"{}")  # another writer's move, seen after our listing
    real = Registry.champion_records
    Registry.champion_records = lambda self: []  # noqa: ARG005 - our (stale) listing saw no record yet
    try:
        with pytest.raises(RegistryError, match="another writer moved the champion meanwhile"):
            reg.promote("v0001", "first")
    finally:
        Registry.champion_records = real
    assert reg.champion() is None


# ---- rex reads a manifest-listed shard folder through fsspec ---------------------------------------------------

@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    from pipelines.distant_supervision import run
    from tests.test_faults import argv, corpus

    root = tmp_path_factory.mktemp("remote-built")
    run(argv(corpus(root / "in"), root / "out"))
    return root / "out"


def upload(built: Path, url: str) -> fsspec.AbstractFileSystem:
    fs, path = fsspec.core.url_to_fs(url)
    fs.put(str(built) + "/", path + "/", recursive=True)
    return fs


@pytest.mark.parametrize("kind", ["memory", "file"])
def test_rex_reads_exactly_the_listed_files_through_fsspec(built, kind, tmp_path, memory_root, caplog):
    url = f"{memory_root}/shards" if kind == "memory" else f"file://{tmp_path}/shards"
    fs = upload(built, url)
    manifest = json.loads((built / "manifest.json").read_text())
    listed = sorted(f["path"] for f in manifest["files"] if f["split"] in SPLITS)
    beside = listed[0].rsplit("/", 1)[0]  # a stray file in a listed shard's folder
    fs.pipe_file(f"{fs._strip_protocol(url)}/{beside}/old-run.parquet", (built / listed[0]).read_bytes())
    shards = resolve_shards([url], verify="always")
    assert sorted(s.uri.split("/shards/", 1)[1] for s in shards) == listed
    assert all(s.uri.startswith("memory://" if kind == "memory" else "/") for s in shards)
    assert count_rows(shards) == sum(f["rows"] for f in manifest["files"] if f["split"] in SPLITS)
    assert "does not list are not read" in caplog.text


@pytest.mark.parametrize("fault, message", [
    ("incomplete", "does not mark this output complete"),
    ("missing", "which is missing"),
    ("rewritten", r"has sha256 .* \(changed after the run\)"),
    ("staging only", "a pipeline run into .* is in progress or did not finish"),
])
def test_rex_refuses_an_incomplete_or_changed_remote_folder(built, memory_root, fault, message):
    url = f"{memory_root}/shards"
    fs = upload(built, url)
    base = fs._strip_protocol(url)
    manifest = json.loads((built / "manifest.json").read_text())
    shard = next(f["path"] for f in manifest["files"] if f["split"] in SPLITS)
    if fault == "incomplete":
        fs.pipe_file(f"{base}/manifest.json", json.dumps({**manifest, "complete": False}).encode())
    elif fault == "missing":
        fs.rm_file(f"{base}/{shard}")
    elif fault == "rewritten":  # same size, other bytes; memory:// has no mtime, so every read hashes
        path = f"{base}/{shard}"
        data = bytearray(fs.cat_file(path))
        data[len(data) // 2] ^= 0xFF
        fs.pipe_file(path, bytes(data))
    else:
        fs.rm_file(f"{base}/manifest.json")
        fs.pipe_file(f"{base}/.staging-0123/manifest.json", b"{}")
    with pytest.raises(IncompleteOutputError, match=message):
        resolve_shards([url])


# ---- a night on a URL registry ---------------------------------------------------------------------------------

def test_nights_on_a_url_registry_promote_warm_start_and_refuse_a_second_run(tmp_path, memory_root, capsys):
    """End to end on memory:// (an object store without rename): night 1 registers and promotes, night 2 warm-starts
    from the champion downloaded into work_dir/registry-cache and is gated against it; a held lease gives exit 75."""
    from nightly import cli
    from nightly.config import NightlyConfig
    from nightly.night import Night
    from nightly.synthetic import write_kb, write_span
    from tests.test_nightly_nights import SOURCE

    kb = write_kb(tmp_path / "kb", people=60, cities=15)
    write_span(tmp_path / "bitext", "2024-01-01", kb, seed=1)
    registry = f"{memory_root}/registry"
    raw = {"bitext": {"root": str(tmp_path / "bitext"), "sources": [SOURCE]}, "kb": {"dir": str(tmp_path / "kb")},
           "work_dir": str(tmp_path / "work"), "registry": registry,
           "pipeline": {"args": ["--no-relation-rate", "1.0"]},
           "rex": {"preset": "quick", "max_steps": 30, "warm_max_steps": 20}, "gate": {"min_positive_bags": 3}}
    (tmp_path / "nightly.json").write_text(json.dumps(raw))
    cfg = NightlyConfig.from_dict(raw)
    first = Night(cfg, "n1").run()
    assert first.outcome in ("promoted", "not_promoted")
    reg = Registry(registry)
    assert reg.versions() == ["v0001"] and reg.fs.exists(reg._key("versions/v0001/model/model.safetensors"))
    reg.promote("v0001", "test: make it the champion whatever the first gate said")
    write_span(tmp_path / "bitext", "2024-01-02", kb, seed=2)
    second = Night(cfg, "n2").run()
    assert reg.versions() == ["v0001", "v0002"]
    assert reg.version("v0002")["gated_against"] == "v0001"
    assert (tmp_path / "work" / "registry-cache" / "v0001" / "model.safetensors").exists()
    assert second.outcome in ("promoted", "not_promoted")
    with nightly_lock(registry, 600):
        write_span(tmp_path / "bitext", "2024-01-03", kb, seed=3)
        assert cli.main(["run", "--config", str(tmp_path / "nightly.json"), "--night", "n3"]) == 75
    assert "another nightly run holds" in capsys.readouterr().err
    assert cli.main(["status", "--config", str(tmp_path / "nightly.json"), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert [v["version"] for v in status["versions"]] == ["v0001", "v0002"] and status["lock"] is None


# ---- a pipeline run into a remote output -----------------------------------------------------------------------

@pytest.fixture
def fake_store(tmp_path, monkeypatch) -> str:
    """tests/remote_fs.py's object-store stand-in (Beam's ``xdsfake://``), also registered with fsspec over the same
    folder, so the pipeline writes through Beam and locks through fsspec, as it would on ``gs://`` with gcsfs."""
    from fsspec.implementations.local import LocalFileSystem

    from tests.remote_fs import PREFIX, FakeObjectStore

    monkeypatch.setattr(FakeObjectStore, "root", str(tmp_path / "store"))

    class FakeFs(LocalFileSystem):
        protocol = ("xdsfake",)

        @classmethod
        def _strip_protocol(cls, path):
            path = str(path)
            if path.startswith(PREFIX):
                return os.path.join(FakeObjectStore.root, path[len(PREFIX):]).rstrip("/")
            return super()._strip_protocol(path)

    monkeypatch.setitem(importlib.import_module("fsspec.registry")._registry, "xdsfake", FakeFs)
    return PREFIX


def test_a_pipeline_run_into_a_remote_output_refuses_a_held_lease_and_takes_a_stale_one(fake_store, tmp_path):
    from pipelines.distant_supervision import run
    from tests.test_faults import argv, corpus

    inputs, out = corpus(tmp_path / "in"), f"{fake_store}out"
    held = lock_for(f"{out}/.xds-run.lock")
    assert isinstance(held, LeaseLock) and held.exclusive is False  # an unknown backend: best-effort, and says so
    with held, pytest.raises(LockedError, match=f"another run holds {out}/.xds-run.lock"):
        run(argv(inputs, out))
    # a stale lease (another host, no heartbeat for 20 minutes) is taken over and the run commits
    lease_record(held, 2, host="other-host", pid=1, token="t", heartbeat_at=time.time() - 1200)
    run(argv(inputs, out))
    store = tmp_path / "store" / "out"
    manifest = json.loads((store / "manifest.json").read_text())
    assert manifest["complete"] is True
    assert sorted(p.name for p in (store / ".xds-run.lock").iterdir()) == ["lease-000000003.json"]
    assert json.loads((store / ".xds-run.lock" / "lease-000000003.json").read_text())["released"] is True
    shards = resolve_shards([out])  # rex reads it through fsspec; the released lease does not count as a run
    assert sorted(s.path.rsplit("/out/", 1)[1] for s in shards) == sorted(
        f["path"] for f in manifest["files"] if f["split"] in SPLITS)
    run(argv(inputs, out))  # an identical rerun takes lease 4 and rewrites the folder
    assert LeaseLock(f"{out}/.xds-run.lock").leases() == [4]
