"""Dead-letter rows (REJECT_SCHEMA) and the Beam counters every stage shares.

Every stage emits rejected records on the tagged output ``REJECTS`` as a reject row built by
:func:`reject`, and counts them in the ``xds`` Metrics namespace as ``<stage>.<reason>``.
"""

from __future__ import annotations

import functools
import json

from apache_beam import pvalue
from apache_beam.metrics import Metrics

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
) -> dict:
    """A REJECT_SCHEMA row; ``raw`` (a string or a JSON-able record) is truncated to 2,000 characters."""
    if raw is not None and not isinstance(raw, str):
        raw = json.dumps(raw, ensure_ascii=False, default=str)
    count(f"{stage}.{reason}")
    return {
        "stage": stage,
        "reason": reason,
        "detail": detail,
        "origin": origin,
        "pair_id": pair_id,
        "instance_id": instance_id,
        "raw": raw[:RAW_LIMIT] if raw is not None else None,
    }


def pair_reject(stage: str, reason: str, record: dict, detail: str | None = None) -> dict:
    """Reject a whole bitext record (keeps its origin, pair id and texts)."""
    raw = {k: record.get(k) for k in ("src_text", "tgt_text") if k in record}
    return reject(stage, reason, detail, origin=record.get("origin"), pair_id=record.get("pair_id"), raw=raw)


def route(item: dict, accepted_counter: str | None = None):
    """Yield ``item`` on the REJECTS output when it is a reject row (has 'stage'), else on the main one."""
    if "stage" in item:
        yield pvalue.TaggedOutput(REJECTS, item)
    else:
        if accepted_counter:
            count(accepted_counter)
        yield item
