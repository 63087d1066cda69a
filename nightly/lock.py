"""One nightly run per registry at a time: the pipelines' lock (pipelines.lock) under the nightly's name.

A local registry gets the O_EXCL file lock ``<registry>/nightly.lock``; a registry on an fsspec URL gets the
lease folder ``<registry>/nightly.lock/`` (pipelines.lock.LeaseLock), both with a heartbeat and a stale timeout.
"""

from __future__ import annotations

from pathlib import Path

from pipelines.lock import FileLock, LeaseLock, LockedError, is_url, lock_for

__all__ = ["LockedError", "NightlyLock", "nightly_lock"]


class NightlyLock(FileLock):
    """``with NightlyLock(registry / "nightly.lock", stale_seconds): ...``; LockedError when another night holds it."""

    holder_name = "nightly run"


def nightly_lock(registry: str | Path, stale_seconds: float) -> FileLock | LeaseLock:
    """The lock of ``registry`` (a local path or an fsspec URL)."""
    if is_url(registry):
        return lock_for(f"{str(registry).rstrip('/')}/nightly.lock", stale_seconds, holder_name="nightly run")
    return NightlyLock(Path(registry) / "nightly.lock", stale_seconds)
