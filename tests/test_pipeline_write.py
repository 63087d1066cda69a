"""pipelines.write: shards and rejects carry the project schemas; the manifest names them and adds up."""

import glob
import json
from pathlib import Path

import apache_beam as beam
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from apache_beam.testing.util import assert_that, equal_to

from pipelines import write
from pipelines.deadletter import reject
from pipelines.records import BitextPair, Mention, TokenizedPair, Tokens, make_row
from pipelines.write import WriteOutputs
from schemas.io import read_parquet
from schemas.rejects import REJECT_SCHEMA
from schemas.shard import SHARD_SCHEMA, SPLITS
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


def write_sharded(out: str, rows: list, rejects: list, shards: int) -> dict:
    """WriteOutputs on literal rows and rejects (langs de, en); returns the manifest."""
    with stage_pipeline() as p:
        pcolls = {split: p | split.title() >> beam.Create([r for r in rows if r.split == split]) for split in SPLITS}
        pcolls.update({
            "rejects": p | "Rejects" >> beam.Create(rejects),
            "read_records": p | "Read" >> beam.Create([{"pair_id": "p1"}]),
            "accepted": p | "Accepted" >> beam.Create([{"pair_id": "p1"}]),
            "input_files": p | "Inputs" >> beam.Create([]),
            "kb": p | "KB" >> beam.Create([{"kb_version": "kb-1"}]),
        })
        pcolls | WriteOutputs(out, json.dumps({"k": 1}), "0", ("de", "en"), "0+gabc", shards=shards)
    return json.loads(open(f"{out}/manifest.json", encoding="utf-8").read())


def file_bytes(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.parquet"))}


def test_shards_per_destination_spreads_each_destination_over_its_files(tmp_path, monkeypatch):
    # small record batches, so a few hundred literal rows make enough batches to reach every bucket
    monkeypatch.setattr(write, "RECORD_BATCH_ROWS", 10)
    base = shard_row("train")
    rows = [base._replace(instance_id=f"{split}-{lang}-{i}", split=split, lang=lang)
            for split, lang, n in (("train", "en", 200), ("dev", "de", 120), ("test", "en", 3)) for i in range(n)]
    rejects = [reject("read", "wrong_field_count", origin=f"in.tsv:{i}") for i in range(60)]
    manifest = write_sharded(str(tmp_path / "a"), rows, rejects, shards=3)

    out = tmp_path / "a"
    files = file_bytes(out)
    by_dest: dict[str, list[str]] = {}
    for path in files:
        by_dest.setdefault(path.rsplit("/", 1)[0], []).append(path.rsplit("/", 1)[1])
    assert all(name.endswith("-of-00003.parquet") for names in by_dest.values() for name in names)
    assert len(by_dest["data/train/lang=en"]) == 3 and len(by_dest["data/dev/lang=de"]) == 3
    assert len(by_dest["rejects"]) == 3
    # every expected destination has its bucket-0 file (the commit prunes it when empty); no other file is empty
    for split in SPLITS:
        for lang in ("de", "en"):
            assert "part-00000-of-00003.parquet" in by_dest[f"data/{split}/lang={lang}"]
    for path in files:
        if not path.endswith("-00000-of-00003.parquet"):
            assert pq.ParquetFile(out / path).metadata.num_rows > 0, path

    # every row exactly once, and the folder reads as one dataset
    for split, lang in (("train", "en"), ("dev", "de"), ("test", "en")):
        ids = [i for name in by_dest[f"data/{split}/lang={lang}"]
               for i in read_parquet(str(out / "data" / split / f"lang={lang}" / name), SHARD_SCHEMA)
               .column("instance_id").to_pylist()]
        assert sorted(ids) == sorted(r.instance_id for r in rows if (r.split, r.lang) == (split, lang))
    table = ds.dataset(out / "data", partitioning="hive").to_table(columns=["instance_id"])
    assert sorted(table.column("instance_id").to_pylist()) == sorted(r.instance_id for r in rows)
    origins = [o for name in by_dest["rejects"]
               for o in read_parquet(str(out / "rejects" / name), REJECT_SCHEMA).column("origin").to_pylist()]
    assert sorted(origins) == sorted(r.origin for r in rejects)

    # the manifest lists exactly the files written, and its counts add up
    assert sorted(o["path"] for o in manifest["outputs"]) == sorted(files)
    assert {(r["split"], r["lang"]): r["count"] for r in manifest["rows"]} == {
        ("train", "en"): 200, ("dev", "de"): 120, ("test", "en"): 3}
    assert manifest["rejected_pairs"] == 60

    # a rerun writes the same files, byte for byte
    write_sharded(str(tmp_path / "b"), rows, rejects, shards=3)
    assert file_bytes(tmp_path / "b") == files


def test_one_shard_per_destination_keeps_one_file_each(tmp_path, monkeypatch):
    monkeypatch.setattr(write, "RECORD_BATCH_ROWS", 10)
    rows = [shard_row("train")._replace(instance_id=f"i{i}") for i in range(50)]
    write_sharded(str(tmp_path / "a"), rows, [], shards=1)
    assert sorted(file_bytes(tmp_path / "a")) == sorted(
        [f"data/{split}/lang={lang}/part-00000-of-00001.parquet" for split in SPLITS for lang in ("de", "en")]
        + ["rejects/rejects-00000-of-00001.parquet"])
    assert pq.ParquetFile(tmp_path / "a/data/train/lang=en/part-00000-of-00001.parquet").metadata.num_rows == 50


def test_the_bucket_is_a_stable_hash_within_range():
    assert write.shard_of("any", 1) == 0
    buckets = [write.shard_of(f"id-{i}", 7) for i in range(2000)]
    assert set(buckets) == set(range(7)) and buckets == [write.shard_of(f"id-{i}", 7) for i in range(2000)]
    assert write.shard_of("id-1", 7) == 4  # a SHA-1 of the key, the same on every run and worker (not hash())
