"""CPU and load figures the benchmarks print beside wall time (on a shared machine wall time depends on the other
jobs): user + system CPU of this process (every thread) and of its finished, waited-for children (eflomal binaries,
pipeline runs), and the 1-minute load average."""

from __future__ import annotations

import os
import resource


def cpu_split() -> tuple[float, float]:
    """(this process, its waited-for children) user + system CPU seconds."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def cpu_seconds() -> float:
    """This process's and its children's CPU seconds together."""
    return sum(cpu_split())


def children_cpu() -> float:
    """The children's CPU seconds alone (e.g. the eflomal binaries' part of :func:`cpu_seconds`)."""
    return cpu_split()[1]


def load1() -> float:
    """The 1-minute load average."""
    return os.getloadavg()[0]
