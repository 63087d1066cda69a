"""The records that flow between the pipeline's stages, the row building that makes shard rows, and their coder.

    Read, Validate     -> BitextPair      (or Reject)
    Tokenize           -> TokenizedPair   (or Reject)
    Link               -> LinkedPair      (+ Reject per ambiguous mention)
    Label              -> LabelledPair    (its instances are ShardRows without split)
    Align+Project      -> ShardRow        (+ Reject per instance that could not be projected)
    Split              -> ShardRow with split; the Write stage turns it into a SHARD_SCHEMA dict (to_dict)

Every record is an immutable NamedTuple of primitives, tuples and other records, so a stage can only
derive a new record (``_replace``), and a stage tells a reject from a good record by its type. Sequences are
tuples. Field names are those of the schemas (BITEXT_SCHEMA, SHARD_SCHEMA, SPAN_TYPE, REJECT_SCHEMA).

:class:`RecordCoder` (registered for every record type) encodes a record as the nested tuple of its fields
with Beam's Cython primitives coder: no pickling, no field names on the wire, deterministic
(bench/record_coders.py measures it against the dicts these records replaced).
"""

from __future__ import annotations

import functools
import typing
from collections.abc import Callable, Sequence
from typing import NamedTuple

import apache_beam as beam

from schemas.shard import make_instance_id

SIDES = ("src", "tgt")


class BitextPair(NamedTuple):
    """A sentence pair (BITEXT_SCHEMA); texts NFC, normalised by the Validate stage."""

    pair_id: str
    src_lang: str
    tgt_lang: str
    src_text: str
    tgt_text: str
    origin: str  # '<file>:<line>'
    doc_id: str | None = None

    def lang(self, side: str) -> str:
        return self.src_lang if side == "src" else self.tgt_lang

    def text(self, side: str) -> str:
        return self.src_text if side == "src" else self.tgt_text


class Tokens(NamedTuple):
    """Non-whitespace tokens of a text and their half-open character spans."""

    tokens: tuple[str, ...]
    starts: tuple[int, ...]
    ends: tuple[int, ...]


class TokenizedPair(NamedTuple):
    """A validated pair and both sides' tokens."""

    pair: BitextPair
    src_tok: Tokens
    tgt_tok: Tokens

    def tok(self, side: str) -> Tokens:
        return self.src_tok if side == "src" else self.tgt_tok

    def token_pair(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(source tokens, target tokens): what a word aligner reads."""
        return self.src_tok.tokens, self.tgt_tok.tokens


class Mention(NamedTuple):
    """An entity mention (SPAN_TYPE): tokens [token_start, token_end), characters [char_start, char_end)."""

    kb_id: str
    token_start: int
    token_end: int
    char_start: int
    char_end: int
    surface: str


class LinkedPair(NamedTuple):
    """A tokenised pair and the KB mentions linked on each side, in text order."""

    tokenized: TokenizedPair
    src_mentions: tuple[Mention, ...]
    tgt_mentions: tuple[Mention, ...]

    def mentions(self, side: str) -> tuple[Mention, ...]:
        return self.src_mentions if side == "src" else self.tgt_mentions


class ShardRow(NamedTuple):
    """One relation instance (SHARD_SCHEMA); ``split`` is None until the Split stage sets it."""

    instance_id: str
    pair_id: str
    source_instance_id: str | None
    lang: str
    text: str
    tokens: tuple[str, ...]
    token_starts: tuple[int, ...]
    token_ends: tuple[int, ...]
    head: Mention
    tail: Mention
    relations: tuple[str, ...]
    label_source: str
    projection_confidence: float | None
    aligner: str | None
    kb_version: str
    pipeline_version: str
    split: str | None = None
    origin: str | None = None  # '<file>:<line>' of the bitext pair

    def to_dict(self) -> dict:
        """The SHARD_SCHEMA dict the Parquet writer takes."""
        row = self._asdict()
        row["head"], row["tail"] = self.head._asdict(), self.tail._asdict()
        return row


class LabelledPair(NamedTuple):
    """A tokenised pair and the instances labelled on each side (label_source 'linked')."""

    tokenized: TokenizedPair
    src_instances: tuple[ShardRow, ...]
    tgt_instances: tuple[ShardRow, ...]


class Reject(NamedTuple):
    """A dead-letter row (REJECT_SCHEMA); built by :func:`pipelines.deadletter.reject`."""

    stage: str
    reason: str
    detail: str | None = None
    origin: str | None = None
    pair_id: str | None = None
    instance_id: str | None = None
    raw: str | None = None

    def to_dict(self) -> dict:
        """The REJECT_SCHEMA dict the Parquet writer takes."""
        return self._asdict()


def span_from_tokens(tok: Tokens, text: str, kb_id: str, start: int, end: int) -> Mention:
    """The mention of tokens [start, end) of a tokenised text."""
    char_start, char_end = tok.starts[start], tok.ends[end - 1]
    return Mention(kb_id, start, end, char_start, char_end, text[char_start:char_end])


def make_row(record: TokenizedPair, side: str, head: Mention, tail: Mention, relations: Sequence[str], *,
             label_source: str, kb_version: str, pipeline_version: str, source_instance_id: str | None = None,
             confidence: float | None = None, aligner: str | None = None) -> ShardRow:
    """The shard row of one instance on one side of ``record`` (without split, set by the Split stage)."""
    pair, tok = record.pair, record.tok(side)
    lang, text = pair.lang(side), pair.text(side)
    instance_id = make_instance_id({"pair_id": pair.pair_id, "lang": lang, "text": text, "head": head._asdict(),
                                    "tail": tail._asdict(), "label_source": label_source})
    return ShardRow(instance_id, pair.pair_id, source_instance_id, lang, text, tuple(tok.tokens), tuple(tok.starts),
                    tuple(tok.ends), head, tail, tuple(sorted(relations)), label_source, confidence, aligner,
                    kb_version, pipeline_version, origin=pair.origin)


# --- coder -------------------------------------------------------------------------------------------------------

RECORD_TYPES = (BitextPair, Tokens, TokenizedPair, Mention, LinkedPair, ShardRow, LabelledPair, Reject)
Codec = tuple[Callable[[tuple], tuple], Callable[[tuple], tuple]]
_CODECS: dict[type, Codec] = {}  # record type -> (to plain nested tuples, back to the record)


def _nested_fields(cls: type) -> list[tuple[int, type, bool]]:
    """(field index, record type, whether the field is a tuple of them) for the fields that hold records."""
    hints = typing.get_type_hints(cls)
    out = []
    for index, name in enumerate(cls._fields):
        hint = hints[name]
        if hint in RECORD_TYPES:
            out.append((index, hint, False))
        elif typing.get_origin(hint) is tuple and typing.get_args(hint)[0] in RECORD_TYPES:
            out.append((index, typing.get_args(hint)[0], True))
    return out


def codec(cls: type) -> Codec:
    """The functions that turn a ``cls`` record into nested plain tuples and back. Built once per type, with
    the record-holding fields resolved in advance: the coder calls them for every element."""
    if cls in _CODECS:
        return _CODECS[cls]
    make = functools.partial(tuple.__new__, cls)  # what NamedTuple._make does, without its length check
    nested = [(index, *codec(sub), many) for index, sub, many in _nested_fields(cls)]
    if not nested:
        _CODECS[cls] = (tuple, make)
        return _CODECS[cls]

    def to_plain(record: tuple) -> tuple:
        out = list(record)
        for index, encode, _, many in nested:
            out[index] = tuple(map(encode, out[index])) if many else encode(out[index])
        return tuple(out)

    def from_plain(plain: tuple) -> tuple:
        out = list(plain)
        for index, _, decode, many in nested:
            out[index] = tuple(map(decode, out[index])) if many else decode(out[index])
        return make(out)

    _CODECS[cls] = (to_plain, from_plain)
    return _CODECS[cls]


class RecordCoder(beam.coders.Coder):
    """A record as the nested tuple of its fields, written by Beam's FastPrimitivesCoder (Cython). Without the
    registration, Beam would pickle each record (the primitives coder's fallback for unknown types)."""

    def __init__(self, record_type: type) -> None:
        self.record_type = record_type
        self._to_plain, self._from_plain = codec(record_type)
        self._primitives = beam.coders.FastPrimitivesCoder().get_impl()

    @classmethod
    def from_type_hint(cls, typehint, registry) -> RecordCoder:
        return cls(typehint)

    def encode(self, value) -> bytes:
        return self._primitives.encode(self._to_plain(value))

    def decode(self, encoded: bytes):
        return self._from_plain(self._primitives.decode(encoded))

    def is_deterministic(self) -> bool:
        return True  # fields are str, int, float, None and tuples: the primitives coder writes them canonically

    def to_type_hint(self):
        return self.record_type

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and other.record_type is self.record_type

    def __hash__(self) -> int:
        return hash((type(self), self.record_type))

    def __reduce__(self):
        return RecordCoder, (self.record_type,)


for _cls in RECORD_TYPES:
    beam.coders.registry.register_coder(_cls, RecordCoder)
