"""Split stage: assign train/dev/test by a hash of the unordered entity pair and partition the rows.

Both directions of a pair ((A, B) and (B, A)) and every language of it land in the same split, so no
entity pair is seen in training and evaluated on (:func:`split_of`).
"""

from __future__ import annotations

from collections.abc import Sequence

import apache_beam as beam

from pipelines.deadletter import count
from pipelines.hashing import unit_hash
from pipelines.records import ShardRow
from schemas.shard import SPLITS


def split_of(head_id: str, tail_id: str, fractions: Sequence[float] = (0.8, 0.1, 0.1)) -> str:
    """'train', 'dev' or 'test' from a hash of the unordered pair {head_id, tail_id}."""
    x = unit_hash("split|" + "|".join(sorted((head_id, tail_id))))
    if x < fractions[0]:
        return SPLITS[0]
    return SPLITS[1] if x < fractions[0] + fractions[1] else SPLITS[2]


def assign_split(row: ShardRow, fractions: Sequence[float]) -> ShardRow:
    """The row with its split set."""
    split = split_of(row.head.kb_id, row.tail.kb_id, fractions)
    count(f"rows.{split}.{row.lang}")
    return row._replace(split=split)


class SplitRows(beam.PTransform):
    """Shard rows -> dict split name -> PCollection of rows with their split set."""

    def __init__(self, fractions: Sequence[float] = (0.8, 0.1, 0.1)) -> None:
        super().__init__()
        self.fractions = tuple(fractions)

    def expand(self, rows):
        assigned = rows | "AssignSplit" >> beam.Map(assign_split, self.fractions).with_output_types(ShardRow)
        parts = assigned | "Partition" >> beam.Partition(lambda row, n: SPLITS.index(row.split), len(SPLITS))
        return dict(zip(SPLITS, parts, strict=True))
