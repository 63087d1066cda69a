"""pipelines.rows: a shard row and its spans from a tokenised record."""

from pipelines.rows import make_row, span_from_tokens
from schemas.shard import make_instance_id


def test_make_row_and_spans():
    text = "Berlin ist groß"
    record = {"pair_id": "p1", "de_lang": "de", "tgt_lang": "de", "tgt_text": text,
              "tgt_tok": {"tokens": ["Berlin", "ist", "groß"], "starts": [0, 7, 11], "ends": [6, 10, 15]}}
    head = span_from_tokens(record["tgt_tok"], text, "Q64", 0, 1)
    tail = span_from_tokens(record["tgt_tok"], text, "Q1", 2, 3)
    assert tail == {"kb_id": "Q1", "token_start": 2, "token_end": 3, "char_start": 11, "char_end": 15,
                    "surface": "groß"}
    row = make_row(record, "tgt", head, tail, ["P2", "P1"], label_source="projected", kb_version="kb-1",
                   pipeline_version="0", source_instance_id="s", confidence=0.5, aligner="fake")
    assert row["relations"] == ["P1", "P2"] and row["instance_id"] == make_instance_id(row)
    assert row["lang"] == "de" and row["source_instance_id"] == "s"
