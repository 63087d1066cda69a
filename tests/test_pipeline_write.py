"""pipelines.write: shards and rejects carry the project schemas; the manifest names them and adds up."""

import glob
import json

import apache_beam as beam
from apache_beam.testing.util import assert_that, equal_to

from pipelines.deadletter import reject
from pipelines.records import BitextPair, Mention, TokenizedPair, Tokens, make_row
from pipelines.write import WriteOutputs
from schemas.io import read_parquet
from schemas.rejects import REJECT_SCHEMA
from schemas.shard import SHARD_SCHEMA
from tests.helpers import stage_pipeline


def shard_row(split):
    tok = Tokens(("Berlin", ",", "Germany"), (0, 6, 8), (6, 7, 15))
    record = TokenizedPair(BitextPair("p1", "en", "de", "Berlin, Germany", "Berlin, Deutschland", "in.tsv:1"), tok, tok)
    head, tail = Mention("Q64", 0, 1, 0, 6, "Berlin"), Mention("Q183", 2, 3, 8, 15, "Germany")
    row = make_row(record, "src", head, tail, ["P17"], label_source="linked", kb_version="kb-1", pipeline_version="0")
    return row._replace(split=split)


def test_write_outputs(tmp_path):
    out = str(tmp_path / "run")
    in_file = tmp_path / "in.tsv"
    in_file.write_text("Berlin, Germany\tBerlin, Deutschland\nbad\n", encoding="utf-8")
    with stage_pipeline() as p:
        pcolls = {
            "train": p | "Train" >> beam.Create([shard_row("train")]),
            "dev": p | "Dev" >> beam.Create([]),
            "test": p | "Test" >> beam.Create([]),
            "rejects": p | "Rejects" >> beam.Create([reject("read", "wrong_field_count", origin="in.tsv:2")]),
            "read_records": p | "Read" >> beam.Create([{"pair_id": "p1"}]),
            "accepted": p | "Accepted" >> beam.Create([{"pair_id": "p1"}]),
            "input_files": p | "Inputs" >> beam.Create([str(in_file)]),
            "kb": p | "KB" >> beam.Create([{"kb_version": "kb-1", "kb_facts_version": "facts-1"}]),
        }
        manifest_path = pcolls | WriteOutputs(out, json.dumps({"k": 1}), "0", ("de", "en"), "0+gabc")
        assert_that(manifest_path, equal_to([f"{out}/manifest.json"]))
    train = read_parquet(glob.glob(f"{out}/data/train/lang=en/part-*.parquet")[0], SHARD_SCHEMA)
    assert train.num_rows == 1 and train.column("relations").to_pylist() == [["P17"]]
    assert train.column("origin").to_pylist() == ["in.tsv:1"]
    assert read_parquet(glob.glob(f"{out}/rejects/*.parquet")[0], REJECT_SCHEMA).num_rows == 1
    manifest = json.loads(open(f"{out}/manifest.json", encoding="utf-8").read())
    assert (manifest["input_pairs"], manifest["accepted_pairs"], manifest["rejected_pairs"]) == (2, 1, 1)
    assert manifest["instances"] == [{"split": "train", "lang": "en", "relation": "P17", "count": 1}]
    assert manifest["inputs"][0]["bytes"] == in_file.stat().st_size
    assert (manifest["kb_version"], manifest["kb_facts_version"]) == ("kb-1", "facts-1")
    assert (manifest["dataset_root"], manifest["code_version"]) == ("data", "0+gabc")
    assert {o["split"] for o in manifest["outputs"]} >= {"train", "rejects"}
    assert all((tmp_path / "run" / o["path"]).exists() for o in manifest["outputs"])  # relative to the folder
