"""Label stage: turn each side's linked mentions into labelled instances (see pipelines.labelling).

Adds ``src_instances`` and ``tgt_instances`` (SHARD_SCHEMA rows without 'split', label_source
'linked') to each record. Pairs left out on purpose (too far apart, no-relation pairs sampled out)
are counted (``label.too_far``, ``label.na_sampled_out``), not dead-lettered: they are a sampling
decision, not bad records.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.utils import shared

from pipelines.config import PipelineConfig
from pipelines.deadletter import count
from pipelines.labelling import label_mentions, make_row
from pipelines.resources import KBResources, acquire_kb, pipeline_version


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
