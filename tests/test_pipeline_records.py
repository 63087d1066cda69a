"""pipelines.records: shard rows and spans from a tokenised pair, the writer's dicts, and the records' coder."""

import apache_beam as beam
import pyarrow as pa
import pytest

from pipelines.records import (
    BitextPair,
    LabelledPair,
    Mention,
    RecordCoder,
    Reject,
    ShardRow,
    TokenizedPair,
    Tokens,
    make_row,
    span_from_tokens,
)
from schemas.rejects import REJECT_SCHEMA
from schemas.shard import SHARD_SCHEMA, make_instance_id

TEXT = "Berlin ist groß"
PAIR = BitextPair("p1", "en", "de", "Berlin is big", TEXT, "f:1")
TOKENIZED = TokenizedPair(PAIR, Tokens(("Berlin", "is", "big"), (0, 7, 10), (6, 9, 13)),
                          Tokens(("Berlin", "ist", "groß"), (0, 7, 11), (6, 10, 15)))


def projected_row() -> ShardRow:
    head = span_from_tokens(TOKENIZED.tgt_tok, TEXT, "Q64", 0, 1)
    tail = span_from_tokens(TOKENIZED.tgt_tok, TEXT, "Q1", 2, 3)
    return make_row(TOKENIZED, "tgt", head, tail, ["P2", "P1"], label_source="projected", kb_version="kb-1",
                    pipeline_version="0", source_instance_id="s", confidence=0.5, aligner="fake")


def test_make_row_and_spans():
    row = projected_row()
    assert row.tail == Mention("Q1", 2, 3, 11, 15, "groß")
    assert row.relations == ("P1", "P2") and row.lang == "de" and row.source_instance_id == "s"
    assert row.tokens == ("Berlin", "ist", "groß") and row.split is None
    assert row.instance_id == make_instance_id(row.to_dict())  # the id of the row the writer gets


def test_writer_dicts_fit_the_schemas():
    row = projected_row()._replace(split="train")
    table = pa.Table.from_pylist([row.to_dict()], schema=SHARD_SCHEMA)
    assert table.column("head").to_pylist()[0] == {"kb_id": "Q64", "token_start": 0, "token_end": 1, "char_start": 0,
                                                   "char_end": 6, "surface": "Berlin"}
    assert table.column("relations").to_pylist() == [["P1", "P2"]]
    rejects = pa.Table.from_pylist([Reject("read", "bad_json", origin="f:2").to_dict()], schema=REJECT_SCHEMA)
    assert rejects.column("origin").to_pylist() == ["f:2"]


@pytest.mark.parametrize("record", [
    PAIR, TOKENIZED, Reject("project", "head:unaligned", "d", "f:1", "p1", "i", '{"head": "x"}'),
    LabelledPair(TOKENIZED, (projected_row(),), ()), projected_row()._replace(split="dev"),
])
def test_coder_round_trips_and_is_registered(record):
    coder = beam.coders.registry.get_coder(type(record))
    assert isinstance(coder, RecordCoder) and coder.is_deterministic()
    assert coder.decode(coder.encode(record)) == record
    assert type(coder.decode(coder.encode(record))) is type(record)
    assert coder.encode(record) == coder.encode(coder.decode(coder.encode(record)))  # deterministic bytes
