"""The output layout the ecosystem reads in one call: ``OUT/data/<split>/lang=<lang>/part-*.parquet`` (the shards
alone, no empty files), rejects and the manifest beside it; pyarrow, Hugging Face ``datasets`` and DuckDB each
read ``OUT/data`` with one call and get the manifest's row counts; rex reads the run folder, ``data/`` and a split
folder in it through the manifest."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from pipelines import write
from pipelines.distant_supervision import run
from rex.data.shards import resolve_shards
from schemas.io import read_parquet
from schemas.kb import KB_ENTITY_LABEL_SCHEMA, KB_RELATION_SCHEMA, load_kb
from schemas.shard import SHARD_SCHEMA, SPLITS

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CORPUS = ("Steve Jobs worked for Apple .\tSteve Jobs arbeitete für Apple .\n"
          "Berlin is big .\tBerlin ist groß .\n"
          "Munich is in Bavaria .\tMünchen liegt in Bayern .\n"
          "bad line\n")
LINKS = "0-0 1-1 2-2 3-3 4-4 5-5\n0-0 1-1 2-2 3-3\n0-0 1-1 2-2 3-3 4-4\n\n"


def build(tmp: Path, *flags: str) -> Path:
    (tmp / "c.tsv").write_text(CORPUS, encoding="utf-8")
    (tmp / "c.links").write_text(LINKS, encoding="utf-8")
    out = tmp / "out"
    run(["--input", str(tmp / "c.tsv"), "--src-lang", "en", "--tgt-lang", "de", "--kb", str(EXAMPLES / "kb"),
         "--output", str(out), "--alignments", str(tmp / "c.links"), "--no-relation-rate", "1", *flags])
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    return build(tmp_path_factory.mktemp("layout"))


@pytest.fixture(scope="module")
def sharded(tmp_path_factory) -> Path:
    """The same run with --shards-per-destination 3 and a record batch per row (in-process runner), so the few rows
    of each split x language spread over its buckets."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(write, "RECORD_BATCH_ROWS", 1)
        return build(tmp_path_factory.mktemp("sharded"), "--shards-per-destination", "3")


def expected(out: Path) -> Counter:
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    return Counter({(r["split"], r["lang"]): r["count"] for r in manifest["rows"]})


def test_the_layout_is_data_split_lang_with_no_empty_files(built):
    manifest = json.loads((built / "manifest.json").read_text(encoding="utf-8"))
    shards = sorted(p.relative_to(built).as_posix() for p in (built / "data").rglob("*.parquet"))
    assert shards == sorted(f["path"] for f in manifest["files"] if f["split"] in SPLITS)
    assert all(p.startswith("data/") and "/lang=" in p for p in shards)
    assert all(pq.ParquetFile(built / p).metadata.num_rows > 0 for p in shards)
    assert manifest["dataset_root"] == "data" and (built / "rejects").is_dir()
    rows = ds.dataset(built / "data", partitioning="hive").to_table().to_pylist()
    assert {r["origin"].rsplit(":", 1)[1] for r in rows} == {"1", "3"}  # each row names its input line


def test_pyarrow_reads_the_dataset_root_in_one_call(built):
    table = ds.dataset(built / "data", partitioning="hive").to_table(columns=["split", "lang"])
    assert Counter(zip(table["split"].to_pylist(), table["lang"].to_pylist(), strict=True)) == expected(built)


def test_duckdb_reads_the_dataset_root_in_one_call(built):
    duckdb = pytest.importorskip("duckdb", reason="duckdb is not installed (pip install -e '.[dev]')")
    rows = duckdb.sql(f"SELECT split, lang, count(*) FROM read_parquet('{built}/data/**/*.parquet', "
                      "hive_partitioning = true) GROUP BY ALL").fetchall()
    assert Counter({(s, lang): n for s, lang, n in rows}) == expected(built)


def test_hf_datasets_reads_the_dataset_root_in_one_call_with_its_splits(built, tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets", reason="datasets is not installed (pip install -e '.[dev]')")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    datasets.disable_progress_bars()
    loaded = datasets.load_dataset("parquet", data_dir=str(built / "data"), cache_dir=str(tmp_path / "hf"))
    names = {"train": "train", "dev": "validation", "test": "test"}  # datasets calls a dev/ folder "validation"
    got = Counter()
    for split, table in loaded.items():
        for row_split, lang in zip(table["split"], table["lang"], strict=True):
            assert names[row_split] == split
            got[(row_split, lang)] += 1
    assert got == expected(built)


def test_rex_reads_the_run_the_dataset_root_and_a_split_folder_through_the_manifest(built, caplog):
    every = {s.path for s in resolve_shards([str(built)])}
    assert "not read" not in caplog.text  # the KB tables beside the manifest are no shards, and no surprise
    assert len(every) >= 2 and {s.path for s in resolve_shards([str(built / "data")])} == every
    split = next(p for p in (built / "data").iterdir())
    assert {Path(s.path).parent.parent.name for s in resolve_shards([str(split)])} == {split.name}


def test_the_run_writes_a_quality_report_beside_the_manifest(built):
    report = (built / "report.md").read_text(encoding="utf-8")
    assert "| en | 4 | 4 | 0 | 0 | 0.0 % | 50.0 % |" in report  # en rows: all linked, half without a relation
    assert "| de | 4 | 0 | 4 | 0 | 100.0 % | 50.0 % |" in report  # de rows: all projected
    assert "| P108 |" in report and "| read | wrong_field_count | 1 |" in report
    assert "![rows per language" in report and (built / "report.png").read_bytes()[:4] == b"\x89PNG"
    manifest = json.loads((built / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["run_seconds"] > 0 and manifest["code_version"].startswith(manifest["pipeline_version"])


def test_the_kb_tables_name_the_relations_and_entities_beside_the_manifest(built):
    manifest = json.loads((built / "manifest.json").read_text(encoding="utf-8"))
    listed = {f["split"]: f for f in manifest["files"] if f["split"] not in SPLITS and f["split"] != "rejects"}
    assert sorted(listed) == ["entities", "relations"] and listed["relations"]["path"] == "relations.parquet"
    table = read_parquet(str(built / "relations.parquet"), KB_RELATION_SCHEMA)
    relations = {r["relation"]: r for r in table.to_pylist()}
    kb = load_kb(str(EXAMPLES / "kb"))
    assert sorted(relations) == kb.relations and relations["P108"]["name"] == "employer"
    counted = Counter()
    for item in manifest["instances"]:
        counted[item["relation"]] += item["count"]
    assert {r: row["instances"] for r, row in relations.items() if row["instances"]} == {
        r: n for r, n in counted.items() if r != "NA"}
    rows = ds.dataset(built / "data", partitioning="hive").to_table().to_pylist()
    entities = read_parquet(str(built / "entities.parquet"), KB_ENTITY_LABEL_SCHEMA).to_pylist()
    mentioned = {r[side]["kb_id"] for r in rows for side in ("head", "tail")}
    assert {(e["kb_id"], e["lang"]) for e in entities} == {(e, lang) for e in mentioned for lang in ("de", "en")}
    labels = {(e["kb_id"], e["lang"]): e["label"] for e in entities}
    assert all(labels[(e, lang)] == (kb.aliases.get(lang, {}).get(e) or [None])[0] for e, lang in labels)
    duckdb = pytest.importorskip("duckdb", reason="duckdb is not installed (pip install -e '.[dev]')")
    joined = duckdb.sql(f"SELECT s.head.surface, e.label, e.aliases FROM read_parquet('{built}/data/**/*.parquet', "
                        f"hive_partitioning = true) s JOIN '{built}/entities.parquet' e ON e.kb_id = s.head.kb_id "
                        "AND e.lang = s.lang WHERE s.lang = 'en'").fetchall()
    assert joined and all(label and surface in aliases for surface, label, aliases in joined)  # linked by a KB name


def test_shards_per_destination_splits_each_language_over_files_the_manifest_lists(built, sharded):
    manifest = json.loads((sharded / "manifest.json").read_text(encoding="utf-8"))
    shards = sorted(p.relative_to(sharded).as_posix() for p in (sharded / "data").rglob("*.parquet"))
    assert shards == sorted(f["path"] for f in manifest["files"] if f["split"] in SPLITS)  # empty bucket 0 pruned
    assert all(p.endswith("-of-00003.parquet") and pq.ParquetFile(sharded / p).metadata.num_rows > 0 for p in shards)
    folders = Counter(p.rsplit("/", 1)[0] for p in shards)
    assert max(folders.values()) <= 3 and max(folders.values()) > 1
    assert [f["path"] for f in manifest["files"] if f["split"] == "rejects"][0] == (
        "rejects/rejects-00000-of-00003.parquet")  # the rejects' bucket-0 file is always there
    rows = Counter()
    for f in manifest["files"]:
        if f["split"] in SPLITS:
            rows[(f["split"], f["path"].split("lang=")[1].split("/")[0])] += f["rows"]
    assert rows == expected(sharded) == expected(built)
    columns = [c for c in SHARD_SCHEMA.names if c != "origin"]  # origin names the input, in another folder here
    one, three = (sorted(ds.dataset(out / "data", partitioning="hive").to_table(columns=columns).to_pylist(),
                         key=lambda row: row["instance_id"]) for out in (built, sharded))
    assert three == one  # the same rows, each once
