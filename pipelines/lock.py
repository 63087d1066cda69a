"""One writer at a time: a lock file created with O_EXCL (local paths), or a lease of numbered objects created
if absent (``scheme://`` paths, through fsspec), each refreshed by a heartbeat thread.

Used by the pipeline (one run per output folder) and the nightly job (one night per registry; nightly.lock).
:func:`lock_for` picks the kind by the path.

The file holds the holder's host, pid and start time; its mtime is the heartbeat (refreshed every
``stale_seconds / 4``). A lock is stale, and taken over, when its holder is a dead process on this host or
its heartbeat is older than ``stale_seconds`` (a holder that crashed on another machine). Taking over
renames the stale file aside first (atomic), so two contenders cannot both win.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import socket
import threading
import time
import uuid
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

    def check(self) -> None:
        """LockedError when the lock file is no longer this process's (taken over after a long stall)."""
        holder = self.holder()
        if not holder or holder.get("pid") != os.getpid() or holder.get("host") != socket.gethostname():
            raise LockedError(f"{self.path} is no longer held by this {self.holder_name} (taken over: "
                              f"{holder.get('host') if holder else 'gone'}); stopping before the commit")

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


# Backends whose exclusive create (fsspec mode "xb") is known to be exclusive: O_EXCL on a local disk, and the
# in-process memory file system. On others fsspec's generic file accepts "xb" and may write unconditionally:
# the lease is then best-effort (see docs/reliability.md).
EXCLUSIVE_PROTOCOLS = {"file", "local", "memory"}
_LEASE = re.compile(r"lease-(\d{9})\.json$")


class LeaseLock:
    """The lock on a ``scheme://`` path (any fsspec file system): a folder of lease objects
    ``<path>/lease-<n>.json``; the newest one is the lease. Taking the lock (free, released or stale) creates
    lease n+1 only if it does not exist (exists check, then ``open(..., "xb")``, then a read-back of this holder's
    token), so of two contenders for the same stale lease only one gets n+1; a lease is never deleted while it is
    the newest, only marked released. The holder rewrites its lease with a new ``heartbeat_at`` every
    ``stale_seconds / 4`` (one object PUT) after checking it is still the newest; a lease whose heartbeat is older
    than ``stale_seconds`` (holder clocks must agree to well within that), or whose holder is a dead process on
    this host, is stale. :meth:`check` before a commit raises LockedError when another holder took over."""

    holder_name = "run"

    def __init__(self, url: str, stale_seconds: float = 600.0) -> None:
        import fsspec

        self.url = str(url).rstrip("/")
        self.stale_seconds = stale_seconds
        self.fs, self.root = fsspec.core.url_to_fs(self.url)
        protocols = self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,)
        self.exclusive = bool(EXCLUSIVE_PROTOCOLS & set(protocols))
        self.token = uuid.uuid4().hex
        self.number: int | None = None
        self._stop = threading.Event()
        self.lost = threading.Event()
        self._thread: threading.Thread | None = None

    # -- reading ---------------------------------------------------------------------------------------------
    def _path(self, number: int) -> str:
        return f"{self.root}/lease-{number:09d}.json"

    def leases(self) -> list[int]:
        """Lease numbers present, ascending."""
        try:
            names = self.fs.ls(self.root, detail=False)
        except FileNotFoundError:
            return []
        return sorted(int(m.group(1)) for m in (_LEASE.search(str(n)) for n in names) if m)

    def _read(self, number: int) -> dict | None:
        """The lease record; None when it is gone; {'unreadable': True} while a heartbeat rewrites it."""
        try:
            record = json.loads(self.fs.cat_file(self._path(number)).decode("utf-8"))
        except FileNotFoundError:
            return None
        except (UnicodeDecodeError, ValueError):
            return {"unreadable": True}
        return record if isinstance(record, dict) else {"unreadable": True}

    def holder(self) -> dict | None:
        """The newest lease's record (plus ``lease`` and ``age_seconds`` since its heartbeat) unless it was
        released; None when no one holds the lock."""
        numbers = self.leases()
        if not numbers:
            return None
        record = self._read(numbers[-1])
        if record is None or record.get("released"):
            return None
        beat = record.get("heartbeat_at", record.get("started_at"))
        age = time.time() - beat if isinstance(beat, int | float) else 0.0  # unreadable: being rewritten, fresh
        return {**record, "lease": numbers[-1], "age_seconds": round(age, 1)}

    stale_reason = FileLock.stale_reason

    # -- taking and keeping ------------------------------------------------------------------------------------
    def _record(self, **extra: object) -> bytes:
        now = time.time()
        record = {"host": socket.gethostname(), "pid": os.getpid(), "token": self.token, "started_at": self._started,
                  "heartbeat_at": now, **extra}
        return json.dumps(record).encode("utf-8")

    def _create(self, number: int) -> bool:
        """Create lease ``number`` if absent; True when it is this holder's."""
        path = self._path(number)
        if self.fs.exists(path):
            return False
        try:
            with self.fs.open(path, "xb") as handle:
                handle.write(self._record())
        except FileExistsError:
            return False
        record = self._read(number)  # a backend that wrote "xb" unconditionally shows the last writer here
        return record is not None and record.get("token") == self.token

    def acquire(self) -> None:
        self._started = time.time()
        with contextlib.suppress(OSError):  # object stores have no folders; local file:// needs one
            self.fs.makedirs(self.root, exist_ok=True)
        if not self.exclusive:
            logger.info("lock %s: exclusive create on %s is as good as its fsspec backend's mode 'xb' "
                        "(best-effort otherwise; docs/reliability.md)", self.url, self.fs.protocol)
        for _ in range(5):
            numbers = self.leases()
            newest = numbers[-1] if numbers else 0
            if newest:
                holder = self.holder()
                if holder is not None and holder.get("unreadable"):
                    time.sleep(0.2)  # a heartbeat's rewrite is one PUT; what stays unreadable is garbage
                    holder = self.holder()
                if holder is not None:
                    reason = "unreadable lease" if holder.get("unreadable") else self.stale_reason(holder)
                    if reason is None:
                        raise LockedError(f"another {self.holder_name} holds {self.url} (host {holder.get('host')}, "
                                          f"pid {holder.get('pid')}, heartbeat {holder['age_seconds']:.0f} s ago); "
                                          "refusing to start")
                    logger.warning("taking over the stale lease %s of %s: %s", newest, self.url, reason)
            if not self._create(newest + 1):
                continue  # another contender got it first: look again
            self.number = newest + 1
            for old in (n for n in numbers if n < self.number):
                with contextlib.suppress(FileNotFoundError):
                    self.fs.rm_file(self._path(old))
            self._start_heartbeat()
            return
        raise LockedError(f"could not acquire {self.url} (contended); retry")

    def _start_heartbeat(self) -> None:
        self._stop.clear()
        self.lost.clear()

        def beat() -> None:
            while not self._stop.wait(max(0.2, self.stale_seconds / 4)):
                try:
                    if not self._still_ours():
                        self.lost.set()
                        logger.error("lost the lock %s: lease %s was taken over by a newer one", self.url,
                                     self.number)
                        return
                    self.fs.pipe_file(self._path(self.number), self._record())
                except OSError as err:  # a transient store error: the next beat tries again
                    logger.warning("lock %s: heartbeat failed (%s)", self.url, err)

        self._thread = threading.Thread(target=beat, name="lease-heartbeat", daemon=True)
        self._thread.start()

    def _still_ours(self) -> bool:
        numbers = self.leases()
        return bool(numbers) and numbers[-1] == self.number

    def check(self) -> None:
        """LockedError when another holder took the lock over (this one stalled past ``stale_seconds``)."""
        if self.number is None or self.lost.is_set() or not self._still_ours():
            raise LockedError(f"{self.url} is no longer held by this {self.holder_name} (a newer lease took it "
                              "over); stopping before the commit")

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.number is not None and self._still_ours():
            self.fs.pipe_file(self._path(self.number), self._record(released=True))
        self.number = None

    def __enter__(self) -> LeaseLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def is_url(path: str | Path) -> bool:
    return "://" in str(path)


def lock_for(path: str | Path, stale_seconds: float = 600.0, holder_name: str = "run") -> FileLock | LeaseLock:
    """The lock at ``path``: a FileLock for a local path, a LeaseLock for a ``scheme://`` path."""
    lock = LeaseLock(str(path), stale_seconds) if is_url(path) else FileLock(path, stale_seconds)
    lock.holder_name = holder_name
    return lock


def output_lock(path: str, stale_seconds: float = 600.0) -> FileLock | LeaseLock | contextlib.nullcontext:
    """The pipeline's lock on an output folder's lock path; on a remote scheme fsspec cannot open here (its
    package not installed), no lock, with a warning (the commit order still protects readers)."""
    if not is_url(path):
        return FileLock(path, stale_seconds)
    try:
        return LeaseLock(path, stale_seconds)
    except (ImportError, ValueError) as err:
        logger.warning("no lock on %s: fsspec cannot open it here (%s); two concurrent runs into this output would "
                       "not be refused", path, err)
        return contextlib.nullcontext()
