"""Distant labelling and splitting (pure; no Beam).

* Every ordered pair of linked mentions of two different entities within ``max_distance`` tokens is an
  instance labelled with all KB relations from head to tail (multi-label), or none.
* No-relation instances are kept at rate ``na_rate``, decided by a hash of the instance (so every run
  and every worker keeps the same ones).
* The split is a hash of the unordered entity pair, so a pair never crosses train/dev/test.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from schemas.shard import SPLITS, make_instance_id


def unit_hash(key: str) -> float:
    """A deterministic number in [0, 1) from ``key``."""
    return int.from_bytes(hashlib.sha1(key.encode("utf-8")).digest()[:8], "big") / 2.0**64


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


def split_of(head_id: str, tail_id: str, fractions: Sequence[float] = (0.8, 0.1, 0.1)) -> str:
    """'train', 'dev' or 'test' from a hash of the unordered pair {head_id, tail_id}."""
    x = unit_hash("split|" + "|".join(sorted((head_id, tail_id))))
    if x < fractions[0]:
        return SPLITS[0]
    return SPLITS[1] if x < fractions[0] + fractions[1] else SPLITS[2]


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
