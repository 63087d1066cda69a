"""One nightly run per registry at a time: the pipelines' file lock (pipelines.lock) under the nightly's name."""

from __future__ import annotations

from pipelines.lock import FileLock, LockedError

__all__ = ["LockedError", "NightlyLock"]


class NightlyLock(FileLock):
    """``with NightlyLock(registry / "nightly.lock", stale_seconds): ...``; LockedError when another night holds it."""

    holder_name = "nightly run"
