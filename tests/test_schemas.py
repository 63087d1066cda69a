"""Round trips and mismatch errors for every schema in schemas/."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from schemas import (
    BITEXT_SCHEMA,
    REJECT_SCHEMA,
    SCHEMA_VERSION,
    SHARD_SCHEMA,
    make_instance_id,
    make_pair_id,
)
from schemas.io import SchemaMismatchError, check_schema, read_parquet, write_parquet
from schemas.manifest import MANIFEST_SCHEMA, validate_manifest
from schemas.version import NAME_KEY, VERSION_KEY


def _span(kb_id: str, t0: int, t1: int, c0: int, c1: int, surface: str) -> dict:
    return {"kb_id": kb_id, "token_start": t0, "token_end": t1, "char_start": c0, "char_end": c1, "surface": surface}


def shard_row(**overrides) -> dict:
    row = {
        "pair_id": "p1",
        "source_instance_id": None,
        "lang": "en",
        "text": "Paris is the capital of France.",
        "tokens": ["Paris", "is", "the", "capital", "of", "France", "."],
        "token_starts": [0, 6, 9, 13, 21, 24, 30],
        "token_ends": [5, 8, 12, 20, 23, 30, 31],
        "head": _span("Q142", 5, 6, 24, 30, "France"),
        "tail": _span("Q90", 0, 1, 0, 5, "Paris"),
        "relations": ["P36"],
        "label_source": "linked",
        "projection_confidence": None,
        "aligner": None,
        "split": "train",
        "kb_version": "kb-0",
        "pipeline_version": "0.1.0",
        "origin": "in.tsv:1",
    }
    row.update(overrides)
    row["instance_id"] = make_instance_id(row)
    return row


def test_shard_round_trip(tmp_path):
    rows = [shard_row(), shard_row(lang="de", text="Paris ist die Hauptstadt Frankreichs.", relations=[])]
    path = str(tmp_path / "s.parquet")
    write_parquet(rows, path, SHARD_SCHEMA)
    table = read_parquet(path, SHARD_SCHEMA)
    assert table.to_pylist() == rows
    meta = pq.read_schema(path).metadata
    assert meta[VERSION_KEY].decode() == SCHEMA_VERSION
    assert meta[NAME_KEY] == b"shard"


def test_a_file_of_an_earlier_minor_version_without_a_nullable_field_still_reads(tmp_path):
    older = pa.schema([f for f in SHARD_SCHEMA if f.name != "origin"],
                      metadata={**SHARD_SCHEMA.metadata, VERSION_KEY: b"1.0"})
    path = str(tmp_path / "old.parquet")
    rows = [{k: v for k, v in shard_row().items() if k != "origin"}]
    pq.write_table(pa.Table.from_pylist(rows, schema=older), path)
    assert read_parquet(path, SHARD_SCHEMA).column("origin").to_pylist() == [None]
    # field docs travel with the file
    assert pq.read_schema(path).field("relations").metadata[b"doc"].startswith(b"KB relation ids")


def test_bitext_and_rejects_round_trip(tmp_path):
    pair = {
        "src_lang": "en",
        "tgt_lang": "de",
        "src_text": "Hi.",
        "tgt_text": "Hallo.",
        "origin": "a.tsv:1",
        "doc_id": None,
    }
    pair["pair_id"] = make_pair_id(pair["src_lang"], pair["tgt_lang"], pair["src_text"], pair["tgt_text"])
    write_parquet([pair], str(tmp_path / "b.parquet"), BITEXT_SCHEMA)
    assert read_parquet(str(tmp_path / "b.parquet"), BITEXT_SCHEMA).to_pylist() == [
        {k: pair[k] for k in BITEXT_SCHEMA.names}
    ]
    reject = {
        "stage": "validate",
        "reason": "empty_side",
        "detail": "tgt empty",
        "origin": "a.tsv:2",
        "pair_id": None,
        "instance_id": None,
        "raw": "x\t",
    }
    write_parquet([reject], str(tmp_path / "r.parquet"), REJECT_SCHEMA)
    assert read_parquet(str(tmp_path / "r.parquet"), REJECT_SCHEMA).to_pylist() == [
        {k: reject[k] for k in REJECT_SCHEMA.names}
    ]


def test_ids_are_stable_and_content_based():
    assert make_pair_id("en", "de", "a", "b") == make_pair_id("en", "de", "a", "b")
    assert make_pair_id("en", "de", "a", "b") != make_pair_id("en", "de", "b", "a")
    a, b = shard_row(), shard_row(split="test", kb_version="kb-1")
    assert a["instance_id"] == b["instance_id"]  # split and versions are not content
    assert shard_row(lang="fr")["instance_id"] != a["instance_id"]


def test_wrong_table_is_named(tmp_path):
    path = str(tmp_path / "b.parquet")
    write_parquet([], path, BITEXT_SCHEMA)
    with pytest.raises(SchemaMismatchError, match="b.parquet: is a 'bitext' table, expected 'shard'"):
        read_parquet(path, SHARD_SCHEMA)


def test_missing_field_and_type_change_are_reported(tmp_path):
    schema = SHARD_SCHEMA.remove(SHARD_SCHEMA.get_field_index("split"))
    idx = schema.get_field_index("lang")
    schema = schema.set(idx, pa.field("lang", pa.int32()))
    with pytest.raises(SchemaMismatchError) as err:
        check_schema(schema, SHARD_SCHEMA, "x.parquet")
    assert "missing field 'split'" in str(err.value) and "field 'lang' is int32" in str(err.value)


def test_unversioned_and_future_files_are_refused(tmp_path):
    path = str(tmp_path / "plain.parquet")
    pq.write_table(pa.table({"a": [1]}), path)
    with pytest.raises(SchemaMismatchError, match="no schema version"):
        read_parquet(path, SHARD_SCHEMA)
    future = SHARD_SCHEMA.with_metadata({**SHARD_SCHEMA.metadata, VERSION_KEY: b"9.0"})
    with pytest.raises(SchemaMismatchError, match="schema version 9.0"):
        check_schema(future, SHARD_SCHEMA, "f.parquet")


def test_not_parquet_is_named(tmp_path):
    path = tmp_path / "junk.parquet"
    path.write_bytes(b"not parquet")
    with pytest.raises(SchemaMismatchError, match="junk.parquet: not a readable Parquet file"):
        read_parquet(str(path), SHARD_SCHEMA)


def _manifest(**overrides) -> dict:
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "pipeline_version": "0.1.0",
        "kb_version": "kb-0",
        "created_at": "2026-11-23T00:00:00Z",
        "input_pairs": 10,
        "accepted_pairs": 8,
        "rejected_pairs": 2,
        "instances": [{"split": "train", "lang": "en", "relation": "P36", "count": 3}],
        "rows": [{"split": "train", "lang": "en", "relation": "*", "count": 3}],
        "rejects": [{"stage": "validate", "reason": "empty_side", "count": 2}],
        "inputs": [{"path": "a.tsv", "bytes": 100, "sha256": "00"}],
        "outputs": [{"split": "train", "path": "out/train-00000-of-00001.parquet"}],
        "config": {"src_lang": "en"},
        "versions": {"apache_beam": "2.77.0"},
    }
    manifest.update(overrides)
    return manifest


def test_manifest_validates_and_round_trips_as_json():
    manifest = _manifest()
    assert validate_manifest(manifest) is manifest
    assert validate_manifest(json.loads(json.dumps(manifest)))
    assert MANIFEST_SCHEMA.metadata[NAME_KEY] == b"manifest"


def test_manifest_counts_must_add_up():
    with pytest.raises(ValueError, match="do not add up"):
        validate_manifest(_manifest(rejected_pairs=1))


def test_manifest_missing_or_mistyped_fields():
    bad = _manifest()
    del bad["inputs"]
    with pytest.raises(ValueError, match="lacks fields"):
        validate_manifest(bad)
    with pytest.raises(ValueError, match="does not fit schema"):
        validate_manifest(_manifest(instances=[{"split": "train"}]))


def test_schema_doc_is_up_to_date():
    from pathlib import Path

    from schemas.doc import render

    doc = Path(__file__).resolve().parents[1] / "docs" / "schemas.md"
    assert doc.read_text(encoding="utf-8") == render(), "run: python -m schemas.doc > docs/schemas.md"
