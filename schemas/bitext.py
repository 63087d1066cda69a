"""Bitext records: one sentence pair as the readers emit it."""

from __future__ import annotations

import hashlib

import pyarrow as pa

from schemas.version import field, with_meta

BITEXT_SCHEMA = with_meta(
    "bitext",
    [
        field(
            "pair_id", pa.string(), "Stable id of the pair: the input's own id when it has one, else make_pair_id()."
        ),
        field("src_lang", pa.string(), "ISO 639-1 code of the source side."),
        field("tgt_lang", pa.string(), "ISO 639-1 code of the target side."),
        field("src_text", pa.string(), "Source sentence, Unicode NFC."),
        field("tgt_text", pa.string(), "Target sentence, Unicode NFC."),
        field("origin", pa.string(), "Where the record came from: '<file path>:<1-based line>'."),
        field("doc_id", pa.string(), "Document id when the input has one.", nullable=True),
    ],
    "One sentence pair of a parallel corpus.",
)


def make_pair_id(src_lang: str, tgt_lang: str, src_text: str, tgt_text: str) -> str:
    """Content hash of a pair: the same pair gets the same id in every run and on every worker."""
    key = "\x1f".join((src_lang, tgt_lang, src_text, tgt_text)).encode("utf-8")
    return hashlib.sha1(key).hexdigest()[:20]
