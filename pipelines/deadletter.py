"""Dead-letter rows (REJECT_SCHEMA) and the Beam counters every stage shares.

Every stage emits rejected records on the tagged output ``REJECTS`` as a :class:`pipelines.records.Reject` built
by :func:`reject`, and counts them in the ``xds`` Metrics namespace as ``<stage>.<reason>``.
"""

from __future__ import annotations

import functools
import json

from apache_beam import pvalue
from apache_beam.metrics import Metrics

from pipelines.records import BitextPair, Reject

NAMESPACE = "xds"
REJECTS = "rejects"
# Stages whose rejects are whole input pairs: input_pairs = accepted_pairs + rejects of these stages.
PAIR_STAGES = ("read", "validate", "tokenize", "verbalize")  # verbalize: KB facts x languages (pipelines.verbalize)
RAW_LIMIT = 2000


@functools.lru_cache(maxsize=4096)
def _counter(name: str):
    # Metrics.counter builds a new object (and metric name) per call; the object is only a handle that
    # finds the running bundle's container at inc() time, so one per name serves every bundle and thread.
    return Metrics.counter(NAMESPACE, name)


def count(name: str, n: int = 1) -> None:
    """Increment the Beam counter ``xds:<name>`` (a no-op outside a running pipeline)."""
    _counter(name).inc(n)


def reject(
    stage: str,
    reason: str,
    detail: str | None = None,
    *,
    origin: str | None = None,
    pair_id: str | None = None,
    instance_id: str | None = None,
    raw: object = None,
) -> Reject:
    """A dead-letter record; ``raw`` (a string or a JSON-able value) is truncated to 2,000 characters."""
    if raw is not None and not isinstance(raw, str):
        raw = json.dumps(raw, ensure_ascii=False, default=str)
    count(f"{stage}.{reason}")
    return Reject(stage, reason, detail, origin, pair_id, instance_id, raw[:RAW_LIMIT] if raw is not None else None)


def pair_reject(stage: str, reason: str, pair: BitextPair, detail: str | None = None) -> Reject:
    """Reject a whole bitext pair (keeps its origin, pair id and texts)."""
    raw = {"src_text": pair.src_text, "tgt_text": pair.tgt_text}
    return reject(stage, reason, detail, origin=pair.origin, pair_id=pair.pair_id, raw=raw)


def route(item, accepted_counter: str | None = None):
    """Yield ``item`` on the REJECTS output when it is a Reject, else on the main one."""
    if isinstance(item, Reject):
        yield pvalue.TaggedOutput(REJECTS, item)
    else:
        if accepted_counter:
            count(accepted_counter)
        yield item
