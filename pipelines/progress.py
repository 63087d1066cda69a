"""Progress of a pipeline run on the local in-process runner: one line every few seconds.

Beam's FnApiRunner reports its metrics only when the job has finished, so a run would be silent until then. For a
run whose workers live in the launching process (the default FnApiRunner, one worker or threads), ``build_pipeline``
adds pass-through steps (:class:`CountProgress`) after a few stages; they count elements in this process, and a
:class:`ProgressLine` thread logs the counts with the elapsed time:

    progress 0:45: 12,000 pairs read, 11,874 tokenized, 11,874 labelled, 20,315 rows; 310 rejects

Other runners (several processes, Dataflow) run the job elsewhere; there the line gives the elapsed time only.
The steps are only added for in-process runs, so a Dataflow job's graph does not change.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter

import apache_beam as beam

logger = logging.getLogger(__name__)
# (counter, how the line names it), in pipeline order
STAGES = (("read", "pairs read"), ("tokenized", "tokenized"), ("labelled", "labelled"), ("rows", "rows"),
          ("rejects", "rejects"))
INTERVAL_SECONDS = 15.0

_counts: Counter[str] = Counter()
_lock = threading.Lock()


def _tick(element, name: str):
    with _lock:
        _counts[name] += 1
    return element


class CountProgress(beam.PTransform):
    """Counts the elements passing through (in this process) under ``name``; returns them unchanged."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self._name = name

    def expand(self, pcoll):
        return pcoll | beam.Map(_tick, self._name).with_output_types(pcoll.element_type)


def snapshot() -> dict[str, int]:
    with _lock:
        return dict(_counts)


def reset() -> None:
    with _lock:
        _counts.clear()


def format_line(elapsed: float, counts: dict[str, int]) -> str:
    """``progress M:SS: 12,000 pairs read, ...; 310 rejects`` (the counts left out when there are none)."""
    minutes, seconds = divmod(int(elapsed), 60)
    hours, minutes = divmod(minutes, 60)
    clock = f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"
    parts = [f"{counts[name]:,} {label}" for name, label in STAGES[:-1] if counts.get(name)]
    text = f"progress {clock}: " + (", ".join(parts) if parts else "running")
    if counts.get("rejects"):
        text += f"; {counts['rejects']:,} rejects"
    return text


class ProgressLine:
    """A daemon thread logging :func:`format_line` every ``interval`` seconds while the ``with`` block runs (the
    counts start from zero). Nothing is started when the logger would not print INFO (``-q``, or a caller that
    configured logging at WARNING)."""

    def __init__(self, interval: float = INTERVAL_SECONDS, started: float | None = None) -> None:
        self.interval = interval
        self.started = time.monotonic() if started is None else started
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> ProgressLine:
        reset()
        if logger.isEnabledFor(logging.INFO):
            self._thread = threading.Thread(target=self._loop, name="xds-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            logger.info("%s", format_line(time.monotonic() - self.started, snapshot()))
