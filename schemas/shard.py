"""Shard rows: one relation instance = one sentence x one ordered entity pair x one language."""

from __future__ import annotations

import hashlib
import json

import pyarrow as pa

from schemas.version import field, with_meta

SPAN_TYPE = pa.struct(
    [
        pa.field("kb_id", pa.string(), nullable=False),
        pa.field("token_start", pa.int32(), nullable=False),
        pa.field("token_end", pa.int32(), nullable=False),
        pa.field("char_start", pa.int32(), nullable=False),
        pa.field("char_end", pa.int32(), nullable=False),
        pa.field("surface", pa.string(), nullable=False),
    ]
)
"""An entity mention. Token span [token_start, token_end) and character span [char_start, char_end)
are half-open; ``surface == text[char_start:char_end]``."""

LABEL_SOURCES = ("linked", "projected", "verbalized")
SPLITS = ("train", "dev", "test")

SHARD_SCHEMA = with_meta(
    "shard",
    [
        field("instance_id", pa.string(), "Stable id: make_instance_id() of the row's content."),
        field("pair_id", pa.string(), "The bitext pair the sentence comes from (BITEXT_SCHEMA.pair_id)."),
        field(
            "source_instance_id",
            pa.string(),
            "For a projected row, the instance_id of the source-side row it was projected from; null otherwise.",
            nullable=True,
        ),
        field("lang", pa.string(), "ISO 639-1 code of this row's sentence."),
        field("text", pa.string(), "The sentence (NFC; Chinese in the KB's script)."),
        field("tokens", pa.list_(pa.string()), "Tokens of text."),
        field("token_starts", pa.list_(pa.int32()), "Character offset where each token starts."),
        field("token_ends", pa.list_(pa.int32()), "Character offset where each token ends (exclusive)."),
        field("head", SPAN_TYPE, "Head entity mention (subject of the relation)."),
        field("tail", SPAN_TYPE, "Tail entity mention (object of the relation)."),
        field(
            "relations",
            pa.list_(pa.string()),
            "KB relation ids holding from head to tail, sorted; empty means no relation.",
        ),
        field("label_source", pa.string(),
              "'linked': both mentions linked on this side; 'projected': projected; "
              "'verbalized': a KB fact written with its relation template (pipelines.verbalize)."),
        field(
            "projection_confidence",
            pa.float32(),
            "Confidence in [0, 1] of the projected spans (the lower of head and tail); null for linked rows.",
            nullable=True,
        ),
        field(
            "aligner", pa.string(), "Name of the word aligner used for projection; null for linked rows.", nullable=True
        ),
        field("split", pa.string(), "'train', 'dev' or 'test', by a hash of the unordered entity pair."),
        field("kb_version", pa.string(), "KnowledgeBase.version of the KB used for labelling."),
        field("pipeline_version", pa.string(), "Version of the package that wrote the row."),
        field("origin", pa.string(),
              "'<file>:<line>' of the bitext pair the row comes from (for Moses input the source-side file; the "
              "target file has the same line); null for KB verbalisation rows and before schema 1.1.",
              nullable=True),
    ],
    "Distantly-labelled relation instances.",
)


def make_instance_id(row: dict) -> str:
    """Content hash of an instance: pair, language, text, both spans and the labels.

    Independent of the run (no versions or split), so the same instance keeps its id across runs.
    """
    key = {
        "pair_id": row["pair_id"],
        "lang": row["lang"],
        "text": row["text"],
        "head": [row["head"][k] for k in ("kb_id", "char_start", "char_end")],
        "tail": [row["tail"][k] for k in ("kb_id", "char_start", "char_end")],
        "label_source": row["label_source"],
    }
    return hashlib.sha1(json.dumps(key, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()[:24]
