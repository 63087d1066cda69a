"""Label stage: turn each side's linked mentions into labelled instances.

* Every ordered pair of linked mentions of two different entities within ``max_distance`` tokens is an
  instance labelled with all KB relations from head to tail (multi-label), or none.
* No-relation instances are kept at rate ``na_rate``, decided by a hash of the instance (so every run
  and every worker keeps the same ones).

Adds ``src_instances`` and ``tgt_instances`` (SHARD_SCHEMA rows without 'split', label_source
'linked') to each record. Pairs left out on purpose (too far apart, no-relation pairs sampled out)
are counted (``label.too_far``, ``label.na_sampled_out``), not dead-lettered: they are a sampling
decision, not bad records.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import apache_beam as beam
from apache_beam.utils import shared

from pipelines.config import PipelineConfig
from pipelines.deadletter import count
from pipelines.hashing import unit_hash
from pipelines.resources import KBResources, acquire_kb, pipeline_version
from pipelines.rows import make_row


def token_distance(a: dict, b: dict) -> int:
    """Tokens strictly between two non-overlapping spans (0 when adjacent)."""
    return max(0, b["token_start"] - a["token_end"], a["token_start"] - b["token_end"])


def keep_no_relation(key: str, rate: float) -> bool:
    """Whether a no-relation instance with this key is kept (hash-based sampling)."""
    return rate >= 1.0 or unit_hash("na|" + key) < rate


def label_mentions(
    mentions: Sequence[dict],
    relations_between: Callable[[str, str], list[str]],
    *,
    key: str,
    max_distance: int = 40,
    na_rate: float = 1.0,
) -> tuple[list[tuple[dict, dict, list[str]]], dict[str, int]]:
    """Labelled (head, tail, relations) instances and counts of the pairs left out by reason.

    ``key`` identifies the sentence (e.g. '<pair_id>|<lang>') for the no-relation sampling.
    """
    out, skipped = [], {"too_far": 0, "na_sampled_out": 0}
    for head in mentions:
        for tail in mentions:
            if head is tail or head["kb_id"] == tail["kb_id"]:
                continue
            if token_distance(head, tail) > max_distance:
                skipped["too_far"] += 1
                continue
            relations = list(relations_between(head["kb_id"], tail["kb_id"]))
            instance_key = f"{key}|{head['kb_id']}@{head['char_start']}|{tail['kb_id']}@{tail['char_start']}"
            if not relations and not keep_no_relation(instance_key, na_rate):
                skipped["na_sampled_out"] += 1
                continue
            out.append((head, tail, relations))
    return out, skipped


def label_pair(record: dict, resources: KBResources, *, max_distance: int, na_rate: float,
               version: str) -> dict:
    """The record with ``src_instances`` and ``tgt_instances`` added."""
    out = dict(record)
    for side in ("src", "tgt"):
        instances, skipped = label_mentions(
            record[f"{side}_mentions"], resources.kb.relations_between,
            key=f"{record['pair_id']}|{record[f'{side}_lang']}", max_distance=max_distance, na_rate=na_rate)
        for reason, n in skipped.items():
            count(f"label.{reason}", n)
        out[f"{side}_instances"] = [
            make_row(record, side, head, tail, relations, label_source="linked", kb_version=resources.version,
                     pipeline_version=version)
            for head, tail, relations in instances
        ]
        count(f"label.instances.{side}", len(instances))
    return out


class _LabelFn(beam.DoFn):
    def __init__(self, config: PipelineConfig, handle: shared.Shared) -> None:
        self.config, self.handle = config, handle

    def setup(self) -> None:
        self.resources = acquire_kb(self.handle, self.config)
        self.version = pipeline_version()

    def process(self, record: dict):
        yield label_pair(record, self.resources, max_distance=self.config.max_token_distance,
                         na_rate=self.config.no_relation_rate, version=self.version)


class LabelInstances(beam.PTransform):
    """Linked records -> records with labelled instances on both sides."""

    def __init__(self, config: PipelineConfig, handle: shared.Shared | None = None) -> None:
        super().__init__()
        self.config, self.handle = config, handle or shared.Shared()

    def expand(self, records):
        return records | "Label" >> beam.ParDo(_LabelFn(self.config, self.handle))
