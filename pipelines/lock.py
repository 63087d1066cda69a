"""One writer at a time: a lock file created with O_EXCL, refreshed by a heartbeat thread.

Used by the pipeline (one run per output folder) and the nightly job (one night per registry; nightly.lock).

The file holds the holder's host, pid and start time; its mtime is the heartbeat (refreshed every
``stale_seconds / 4``). A lock is stale, and taken over, when its holder is a dead process on this host or
its heartbeat is older than ``stale_seconds`` (a holder that crashed on another machine). Taking over
renames the stale file aside first (atomic), so two contenders cannot both win.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import socket
import threading
import time
from pathlib import Path

logger = logging.getLogger(__name__)


class LockedError(RuntimeError):
    """Another process holds the lock."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class FileLock:
    """Context manager: ``with FileLock(path, stale_seconds): ...``; raises LockedError when held.
    ``holder_name`` names the other holder in the error ("another <holder_name> holds ...")."""

    holder_name = "run"

    def __init__(self, path: str | Path, stale_seconds: float = 600.0) -> None:
        self.path = Path(path)
        self.stale_seconds = stale_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def holder(self) -> dict | None:
        """The current holder's record (plus ``age_seconds`` since its last heartbeat), or None."""
        try:
            record = json.loads(self.path.read_text(encoding="utf-8"))
            age = time.time() - self.path.stat().st_mtime
        except FileNotFoundError:
            return None
        except ValueError:
            record, age = {}, time.time() - self.path.stat().st_mtime
        return {**record, "age_seconds": round(age, 1)}

    def stale_reason(self, holder: dict) -> str | None:
        if holder.get("host") == socket.gethostname() and isinstance(holder.get("pid"), int) \
                and not _pid_alive(holder["pid"]):
            return f"its holder (pid {holder['pid']}) is not running"
        if holder["age_seconds"] > self.stale_seconds:
            return f"no heartbeat for {holder['age_seconds']:.0f} s (> {self.stale_seconds:.0f} s)"
        return None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        record = {"host": socket.gethostname(), "pid": os.getpid(), "started_at": time.time()}
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self.holder()
                if holder is None:
                    continue  # released meanwhile
                reason = self.stale_reason(holder)
                if reason is None:
                    raise LockedError(f"another {self.holder_name} holds {self.path} (host {holder.get('host')}, "
                                      f"pid {holder.get('pid')}, heartbeat {holder['age_seconds']:.0f} s ago); "
                                      "refusing to start") from None
                aside = self.path.with_name(f"{self.path.name}.stale-{os.getpid()}-{time.time_ns()}")
                try:
                    os.replace(self.path, aside)
                except OSError as err:
                    if err.errno != errno.ENOENT:
                        raise
                    continue
                logger.warning("took over a stale lock %s: %s (kept as %s)", self.path, reason, aside.name)
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(record, handle)
            self._start_heartbeat()
            return
        raise LockedError(f"could not acquire {self.path} (contended); retry")

    def _start_heartbeat(self) -> None:
        self._stop.clear()

        def beat() -> None:
            while not self._stop.wait(max(1.0, self.stale_seconds / 4)):
                try:
                    os.utime(self.path)
                except FileNotFoundError:
                    logger.error("lock %s vanished while held", self.path)
                    return

        self._thread = threading.Thread(target=beat, name="lock-heartbeat", daemon=True)
        self._thread.start()

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        holder = self.holder()
        if holder and holder.get("pid") == os.getpid() and holder.get("host") == socket.gethostname():
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
