"""A model registry in a plain directory: immutable versions, a ``champion`` pointer moved atomically, an audit log.

```
<registry>/registry.json         model name and the split fractions every version was trained under
<registry>/versions/v0001/        model/ (a rex model directory) + version.json (config, metrics, gate, lineage)
<registry>/champion.json          {"version", "moved_at", "reason", "history": [...], "record": "champion/000003.json"}
<registry>/champion/000003.json   every champion pointer ever written, immutable, numbered (created if absent)
<registry>/events.jsonl           one line per register / promote / rollback (remote: events/<time>-<id>.json)
```

The registry may be a local path or any fsspec URL (``gs://``, ``s3://``, ``memory://``, ``file://``). A version
exists when its ``version.json`` does: locally the version is written to a temporary folder and renamed into
place; remotely the model is uploaded first and ``version.json`` created last, if absent. A pointer move first
creates the next immutable ``champion/<n>.json`` (if absent: two movers cannot both take number n), then replaces
``champion.json`` with the same content: ``os.replace`` locally, one object PUT remotely (atomic on object
stores: readers see the old or the new pointer). A move killed between the two leaves the old champion and an
unreferenced record. Nothing is ever deleted. Why not MLflow: docs/nightly.md.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


class RegistryError(ValueError):
    """A user-facing registry problem (unknown version, nothing to roll back to)."""


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write JSON to ``path`` via a temporary file and ``os.replace``: complete or absent."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(_dumps(obj))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def code_version() -> dict[str, str]:
    """The xds package version and, when run from a git checkout, its commit (with '+dirty' if modified)."""
    from pipelines.resources import pipeline_version

    out = {"xds": pipeline_version()}
    repo = Path(__file__).resolve().parents[1]
    if (repo / ".git").exists():
        try:
            head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                                  timeout=10, check=True).stdout.strip()
            dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                                   capture_output=True, text=True, timeout=10, check=True).stdout.strip()
            out["git"] = head + ("+dirty" if dirty else "")
        except (OSError, subprocess.SubprocessError) as err:
            out["git"] = f"unknown ({err.__class__.__name__})"
    return out


class Registry:
    """Versions and the champion pointer under ``root`` (a local path or an fsspec URL)."""

    def __init__(self, root: str | Path, model_name: str = "rex") -> None:
        self.remote = "://" in str(root)
        self.model_name = model_name
        if self.remote:
            import fsspec

            self.root: str | Path = str(root).rstrip("/")
            self.fs, self._base = fsspec.core.url_to_fs(self.root)
        else:
            self.root = Path(root)
        self.versions_dir = self._at("versions")

    # -- storage: local files or objects -----------------------------------------------------------------------
    def _at(self, relative: str) -> str | Path:
        return f"{self.root}/{relative}" if self.remote else self.root / relative

    def _key(self, relative: str, parent: bool = False) -> str:
        """The object key of ``relative``; ``parent``: make its folder first (file://; no-op on object stores)."""
        key = f"{self._base}/{relative}"
        if parent:
            self.fs.makedirs(key.rsplit("/", 1)[0], exist_ok=True)
        return key

    def _read(self, relative: str) -> Any:
        """Parsed JSON, or None when absent."""
        if self.remote:
            try:
                return json.loads(self.fs.cat_file(self._key(relative)).decode("utf-8"))
            except FileNotFoundError:
                return None
        path = self.root / relative
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None

    def _replace(self, relative: str, obj: Any) -> None:
        """Write JSON readers see whole or not at all: os.replace locally, one object PUT remotely."""
        if self.remote:
            self.fs.pipe_file(self._key(relative, parent=True), _dumps(obj).encode("utf-8"))
        else:
            write_json_atomic(self.root / relative, obj)

    def _create(self, relative: str, obj: Any) -> bool:
        """Write JSON only if ``relative`` does not exist (O_EXCL locally, fsspec mode 'xb' remotely); False
        when it does."""
        data = _dumps(obj).encode("utf-8")
        if self.remote:
            key = self._key(relative, parent=True)
            if self.fs.exists(key):
                return False
            try:
                with self.fs.open(key, "xb") as handle:
                    handle.write(data)
            except FileExistsError:
                return False
            return True
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        return True

    def _names(self, relative: str) -> list[str]:
        """Names directly under a folder (or object prefix), sorted; [] when absent."""
        if self.remote:
            try:
                return sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in self.fs.ls(self._key(relative), detail=False))
            except FileNotFoundError:
                return []
        folder = self.root / relative
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []

    # -- reading -------------------------------------------------------------------------------------------
    def info(self) -> dict:
        return self._read("registry.json") or {}

    def versions(self) -> list[str]:
        """Version ids in creation order (complete versions only: a version is complete once its version.json
        exists; temporary folders and uploads that did not finish are not versions)."""
        names = [n for n in self._names("versions") if n.startswith("v") and n[1:].isdigit()]
        if self.remote:
            return [n for n in names if self.fs.exists(self._key(f"versions/{n}/version.json"))]
        return [n for n in names if (self.root / "versions" / n / "version.json").exists()]

    def version(self, version: str) -> dict:
        record = self._read(f"versions/{version}/version.json")
        if record is None:
            known = ", ".join(self.versions()) or "none"
            raise RegistryError(f"no version {version!r} in {self.root} (versions: {known})")
        return record

    def model_dir(self, version: str) -> str | Path:
        """The version's model directory: a Path locally, a URL on a remote registry (see local_model_dir)."""
        self.version(version)
        return self._at(f"versions/{version}/model")

    def local_model_dir(self, version: str, cache_root: str | Path) -> Path:
        """A local model directory of ``version``: the registry's own when local, else a copy downloaded once
        into ``cache_root/<version>`` (versions never change, so the copy stays valid)."""
        if not self.remote:
            return Path(self.model_dir(version))
        self.version(version)
        target = Path(cache_root) / version
        if (target / ".complete").exists():
            return target
        tmp = Path(cache_root) / f".{version}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        self.fs.get(self._key(f"versions/{version}/model") + "/", str(tmp) + "/", recursive=True)
        (tmp / ".complete").write_text(f"{self.root}/versions/{version}/model\n", encoding="utf-8")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
        return target

    def champion(self) -> dict | None:
        return self._read("champion.json")

    def champion_version(self) -> str | None:
        pointer = self.champion()
        return pointer["version"] if pointer else None

    def find(self, **match: Any) -> str | None:
        """The newest version whose version.json has all of ``match``'s key/values, or None."""
        for version in reversed(self.versions()):
            record = self.version(version)
            if all(record.get(k) == v for k, v in match.items()):
                return version
        return None

    # -- writing (callers hold the nightly lock) -----------------------------------------------------------
    def ensure(self, split_fractions: list[float]) -> dict:
        """Create registry.json on first use; return it."""
        info = self.info()
        if not info:
            info = {"model_name": self.model_name, "created_at": now(), "split_fractions": list(split_fractions)}
            self._replace("registry.json", info)
        return info

    def register(self, model_dir: str | Path, record: dict) -> str:
        """Copy ``model_dir`` into a new version with ``record`` as its version.json; return the version id."""
        existing = self.versions()
        number = int(existing[-1][1:]) + 1 if existing else 1
        version = f"v{number:04d}"
        full = {**record, "version": version, "model_name": self.model_name, "registered_at": now()}
        if self.remote:
            prefix = self._key(f"versions/{version}")
            if self.fs.exists(prefix):  # an upload that did not finish (no version.json): not a version
                self.fs.rm(prefix, recursive=True)
            self.fs.put(str(model_dir).rstrip("/") + "/", prefix + "/model/", recursive=True)
            if not self._create(f"versions/{version}/version.json", full):  # last: now the version exists
                raise RegistryError(f"{version} was registered meanwhile by another writer of {self.root}")
        else:
            self.versions_dir.mkdir(parents=True, exist_ok=True)
            tmp = self.versions_dir / f".{version}.tmp-{os.getpid()}"
            if tmp.exists():
                shutil.rmtree(tmp)
            shutil.copytree(model_dir, tmp / "model")
            write_json_atomic(tmp / "version.json", full)
            os.replace(tmp, self.versions_dir / version)  # fails if the version exists: never overwritten
        self._event({"event": "register", "version": version, "night": record.get("night")})
        logger.info("registered %s", version)
        return version

    def promote(self, version: str, reason: str) -> dict:
        """Make ``version`` the champion (the previous one goes on the history stack)."""
        self.version(version)
        current = self.champion()
        history = list(current["history"]) + [current["version"]] if current else []
        if current and current["version"] == version:
            return current
        pointer = self._move({"version": version, "moved_at": now(), "reason": reason, "history": history})
        self._event({"event": "promote", "version": version, "previous": current["version"] if current else None,
                     "reason": reason})
        return pointer

    def rollback(self, to: str | None = None, reason: str = "rollback") -> dict:
        """Point the champion back at the previous champion (or at ``to``, which must be an earlier champion)."""
        current = self.champion()
        if not current or not current["history"]:
            raise RegistryError(f"nothing to roll back to in {self.root}: "
                                f"{'no champion' if not current else 'the champion has no predecessor'}")
        history = list(current["history"])
        if to is None:
            target = history.pop()
        elif to in history:
            target = to
            history = history[:history.index(to)]
        else:
            raise RegistryError(f"{to} was never a champion before {current['version']} (history: {history})")
        self.version(target)
        pointer = self._move({"version": target, "moved_at": now(), "reason": reason, "history": history,
                              "rolled_back_from": current["version"]})
        self._event({"event": "rollback", "version": target, "previous": current["version"], "reason": reason})
        return pointer

    def champion_records(self) -> list[str]:
        """The immutable champion records, oldest first (one per pointer move, plus any move killed before its
        pointer was replaced)."""
        return [n for n in self._names("champion") if n.endswith(".json") and n[:-5].isdigit()]

    def _move(self, pointer: dict) -> dict:
        """Create the next immutable champion record, then replace champion.json with it (the atomic step)."""
        records = self.champion_records()
        number = int(records[-1][:-5]) + 1 if records else 1
        name = f"champion/{number:06d}.json"
        pointer = {**pointer, "record": name}
        if not self._create(name, pointer):
            raise RegistryError(f"{self.root}/{name} exists: another writer moved the champion meanwhile; retry")
        self._replace("champion.json", pointer)
        return pointer

    def events(self) -> list[dict]:
        if self.remote:
            return [self._read(f"events/{n}") for n in self._names("events") if n.endswith(".json")]
        path = self.root / "events.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    def _event(self, event: dict) -> None:
        event = {**event, "at": now()}
        if self.remote:  # no appends on object stores: one object per event, named to sort by time
            stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
            self._replace(f"events/{stamp}-{uuid.uuid4().hex[:8]}.json", event)
            return
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "events.jsonl", "a", encoding="utf-8") as handle:
            handle.write(json.dumps(event, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
