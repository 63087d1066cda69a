"""Shard rows: a SHARD_SCHEMA row for one side of a record (without 'split', set by the Split stage) and the
SPAN_TYPE dicts it holds. Used by the Label, Align+Project and verbalisation stages."""

from __future__ import annotations

from collections.abc import Sequence

from schemas.shard import make_instance_id


def make_row(record: dict, side: str, head: dict, tail: dict, relations: Sequence[str], *, label_source: str,
             kb_version: str, pipeline_version: str, source_instance_id: str | None = None,
             confidence: float | None = None, aligner: str | None = None) -> dict:
    """A SHARD_SCHEMA row for one side of ``record`` (without 'split', set by the Split stage)."""
    tok = record[f"{side}_tok"]
    row = {
        "pair_id": record["pair_id"],
        "source_instance_id": source_instance_id,
        "lang": record[f"{side}_lang"],
        "text": record[f"{side}_text"],
        "tokens": list(tok["tokens"]),
        "token_starts": list(tok["starts"]),
        "token_ends": list(tok["ends"]),
        "head": dict(head),
        "tail": dict(tail),
        "relations": sorted(relations),
        "label_source": label_source,
        "projection_confidence": confidence,
        "aligner": aligner,
        "kb_version": kb_version,
        "pipeline_version": pipeline_version,
    }
    row["instance_id"] = make_instance_id(row)
    return row


def span_from_tokens(tok: dict, text: str, kb_id: str, start: int, end: int) -> dict:
    """A SPAN_TYPE dict for tokens [start, end) of a tokenised text."""
    char_start, char_end = tok["starts"][start], tok["ends"][end - 1]
    return {"kb_id": kb_id, "token_start": start, "token_end": end, "char_start": char_start,
            "char_end": char_end, "surface": text[char_start:char_end]}
