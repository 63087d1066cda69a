"""Label stage: turn each side's linked mentions into labelled instances.

* Every ordered pair of linked mentions of two different entities within ``max_distance`` tokens is an
  instance labelled with all KB relations from head to tail (multi-label), or none.
* No-relation instances are kept at rate ``na_rate``, decided by a hash of the instance (so every run
  and every worker keeps the same ones).

Each linked pair becomes a LabelledPair whose instances are ShardRows without split (label_source
'linked'). Pairs left out on purpose (too far apart, no-relation pairs sampled out)
are counted (``label.too_far``, ``label.na_sampled_out``), not dead-lettered: they are a sampling
decision, not bad records.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import apache_beam as beam
from apache_beam.utils import shared

from pipelines.deadletter import count
from pipelines.hashing import unit_hash
from pipelines.records import LabelledPair, LinkedPair, Mention, make_row
from pipelines.resources import KBResources, KBSpec, acquire_kb, pipeline_version


def token_distance(a: Mention, b: Mention) -> int:
    """Tokens strictly between two non-overlapping spans (0 when adjacent)."""
    return max(0, b.token_start - a.token_end, a.token_start - b.token_end)


def keep_no_relation(key: str, rate: float) -> bool:
    """Whether a no-relation instance with this key is kept (hash-based sampling)."""
    return rate >= 1.0 or unit_hash("na|" + key) < rate


def label_mentions(
    mentions: Sequence[Mention],
    relations_between: Callable[[str, str], list[str]],
    *,
    key: str,
    max_distance: int = 40,
    na_rate: float = 1.0,
) -> tuple[list[tuple[Mention, Mention, list[str]]], dict[str, int]]:
    """Labelled (head, tail, relations) instances and counts of the pairs left out by reason.

    ``key`` identifies the sentence (e.g. '<pair_id>|<lang>') for the no-relation sampling.
    """
    out, skipped = [], {"too_far": 0, "na_sampled_out": 0}
    for head in mentions:
        for tail in mentions:
            if head is tail or head.kb_id == tail.kb_id:
                continue
            if token_distance(head, tail) > max_distance:
                skipped["too_far"] += 1
                continue
            relations = list(relations_between(head.kb_id, tail.kb_id))
            instance_key = f"{key}|{head.kb_id}@{head.char_start}|{tail.kb_id}@{tail.char_start}"
            if not relations and not keep_no_relation(instance_key, na_rate):
                skipped["na_sampled_out"] += 1
                continue
            out.append((head, tail, relations))
    return out, skipped


def label_pair(record: LinkedPair, resources: KBResources, *, max_distance: int, na_rate: float,
               version: str) -> LabelledPair:
    """The pair with the labelled instances of both sides."""
    tokenized, rows = record.tokenized, {}
    for side in ("src", "tgt"):
        instances, skipped = label_mentions(
            record.mentions(side), resources.kb.relations_between,
            key=f"{tokenized.pair.pair_id}|{tokenized.pair.lang(side)}", max_distance=max_distance, na_rate=na_rate)
        for reason, n in skipped.items():
            count(f"label.{reason}", n)
        rows[side] = tuple(
            make_row(tokenized, side, head, tail, relations, label_source="linked", kb_version=resources.version,
                     pipeline_version=version)
            for head, tail, relations in instances
        )
        count(f"label.instances.{side}", len(instances))
    return LabelledPair(tokenized, rows["src"], rows["tgt"])


class _LabelFn(beam.DoFn):
    def __init__(self, kb: KBSpec, max_distance: int, na_rate: float, handle: shared.Shared) -> None:
        self.kb, self.max_distance, self.na_rate, self.handle = kb, max_distance, na_rate, handle

    def setup(self) -> None:
        self.resources = acquire_kb(self.handle, self.kb)
        self.version = pipeline_version()

    def process(self, record: LinkedPair):
        yield label_pair(record, self.resources, max_distance=self.max_distance, na_rate=self.na_rate,
                         version=self.version)


class LabelInstances(beam.PTransform):
    """Linked pairs -> labelled pairs (instances on both sides). ``max_distance``: tokens allowed between head
    and tail; ``na_rate``: share of no-relation instances kept."""

    def __init__(self, kb: KBSpec, max_distance: int = 40, na_rate: float = 0.2,
                 handle: shared.Shared | None = None) -> None:
        super().__init__()
        self.kb, self.max_distance, self.na_rate, self.handle = kb, max_distance, na_rate, handle or shared.Shared()

    def expand(self, records):
        return records | "Label" >> beam.ParDo(
            _LabelFn(self.kb, self.max_distance, self.na_rate, self.handle)).with_output_types(LabelledPair)
