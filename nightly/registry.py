"""A model registry in a plain directory: immutable versions, a ``champion`` pointer moved atomically, an audit log.

```
<registry>/registry.json         model name and the split fractions every version was trained under
<registry>/versions/v0001/        model/ (a rex model directory) + version.json (config, metrics, gate, lineage)
<registry>/champion.json          {"version", "moved_at", "reason", "history": [earlier champions, newest last]}
<registry>/events.jsonl           one line per register / promote / rollback
```

Versions are written to a temporary folder and renamed into place, so a version either exists completely
or not at all; ``champion.json`` is replaced with ``os.replace`` (atomic on POSIX), so readers see the old
or the new champion, never a half-written file. Nothing is ever deleted. Why not MLflow: docs/nightly.md.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import shutil
import subprocess
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
        json.dump(obj, handle, indent=2, sort_keys=True, ensure_ascii=False)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


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
    """Versions and the champion pointer under ``root`` (a local or mounted path)."""

    def __init__(self, root: str | Path, model_name: str = "rex") -> None:
        self.root = Path(root)
        self.model_name = model_name
        self.versions_dir = self.root / "versions"

    # -- reading -------------------------------------------------------------------------------------------
    def info(self) -> dict:
        path = self.root / "registry.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}

    def versions(self) -> list[str]:
        """Version ids in creation order (complete versions only: temporary folders are not versions)."""
        if not self.versions_dir.is_dir():
            return []
        return sorted(p.name for p in self.versions_dir.iterdir() if p.name.startswith("v") and p.name[1:].isdigit()
                      and (p / "version.json").exists())

    def version(self, version: str) -> dict:
        path = self.versions_dir / version / "version.json"
        if not path.exists():
            known = ", ".join(self.versions()) or "none"
            raise RegistryError(f"no version {version!r} in {self.root} (versions: {known})")
        return json.loads(path.read_text(encoding="utf-8"))

    def model_dir(self, version: str) -> Path:
        self.version(version)
        return self.versions_dir / version / "model"

    def champion(self) -> dict | None:
        path = self.root / "champion.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None

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
            write_json_atomic(self.root / "registry.json", info)
        return info

    def register(self, model_dir: str | Path, record: dict) -> str:
        """Copy ``model_dir`` into a new version with ``record`` as its version.json; return the version id."""
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        existing = self.versions()
        number = int(existing[-1][1:]) + 1 if existing else 1
        version = f"v{number:04d}"
        tmp = self.versions_dir / f".{version}.tmp-{os.getpid()}"
        if tmp.exists():
            shutil.rmtree(tmp)
        shutil.copytree(model_dir, tmp / "model")
        full = {**record, "version": version, "model_name": self.model_name, "registered_at": now()}
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
        pointer = {"version": version, "moved_at": now(), "reason": reason, "history": history}
        write_json_atomic(self.root / "champion.json", pointer)
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
        pointer = {"version": target, "moved_at": now(), "reason": reason, "history": history,
                   "rolled_back_from": current["version"]}
        write_json_atomic(self.root / "champion.json", pointer)
        self._event({"event": "rollback", "version": target, "previous": current["version"], "reason": reason})
        return pointer

    def events(self) -> list[dict]:
        path = self.root / "events.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    def _event(self, event: dict) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "events.jsonl", "a", encoding="utf-8") as handle:
            handle.write(json.dumps({**event, "at": now()}, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
