"""End to end: the bundled example (exact counts and rows), a slice of the shared real data, and the
pipeline graph built for Dataflow without submitting it."""

import glob
import json
from pathlib import Path

import apache_beam as beam
import pyarrow as pa
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.config import parse_config
from pipelines.distant_supervision import build_pipeline, counter_totals, run
from pipelines.split import split_of
from schemas.io import read_parquet
from schemas.rejects import REJECT_SCHEMA
from schemas.shard import SHARD_SCHEMA
from tests.conftest import shared_path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def read_rows(out: Path, split: str | None = None) -> list[dict]:
    parts = [read_parquet(p, SHARD_SCHEMA) for p in sorted(glob.glob(f"{out}/data/{split or '*'}/lang=*/*.parquet"))]
    return pa.concat_tables(parts).to_pylist() if parts else []


def test_example_en_zh_end_to_end(tmp_path):
    out = tmp_path / "en-zh"
    run(["--input", str(EXAMPLES / "data" / "en-zh.tsv"), "--input-format", "tsv", "--src-lang", "en",
         "--tgt-lang", "zh", "--kb", str(EXAMPLES / "kb"), "--output", str(out)])
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert (manifest["input_pairs"], manifest["accepted_pairs"], manifest["rejected_pairs"]) == (50, 45, 5)
    rejects = {(r["stage"], r["reason"]): r["count"] for r in manifest["rejects"]}
    assert {k: v for k, v in rejects.items() if k[0] != "project"} == {
        ("read", "undecodable"): 1, ("read", "wrong_field_count"): 1, ("validate", "duplicate_pair"): 1,
        ("validate", "empty_side:src"): 1, ("validate", "wrong_language:tgt"): 1, ("link", "ambiguous_alias"): 2}
    rows = read_rows(out)
    en = [r for r in rows if r["lang"] == "en"]
    zh = [r for r in rows if r["lang"] == "zh"]
    assert len(en) == 47  # English linking and labelling are deterministic
    # every English instance has its Chinese twin or a recorded reason
    projected = [r for r in zh if r["label_source"] == "projected"]
    assert len(projected) + sum(v for k, v in rejects.items() if k[0] == "project") == len(en)
    assert {r["source_instance_id"] for r in projected} <= {r["instance_id"] for r in en}
    assert all(r["aligner"].startswith("eflomal") and 0 <= r["projection_confidence"] <= 1 for r in projected)
    berlin = [r for r in en if r["text"] == "Berlin is the capital of Germany."
              and r["head"]["surface"] == "Berlin"][0]
    assert berlin["relations"] == ["P1376", "P17"] and berlin["split"] == split_of("Q64", "Q183")
    assert berlin["origin"] == f"{EXAMPLES / 'data' / 'en-zh.tsv'}:1"
    assert all(r["origin"].startswith(str(EXAMPLES / "data" / "en-zh.tsv") + ":") for r in rows)
    assert manifest["dataset_root"] == "data" and manifest["run_seconds"] > 0 and manifest["code_version"]
    assert berlin["tail"] == {"kb_id": "Q183", "token_start": 5, "token_end": 6, "char_start": 25, "char_end": 32,
                              "surface": "Germany"}
    # the Traditional-script line was normalised and linked through the Traditional KB alias 德國
    hamburg = [r for r in zh if r["text"] == "汉堡是德国的一个大港口。" and r["head"]["kb_id"] == "Q1055"]
    assert hamburg and hamburg[0]["tail"]["surface"] == "德国" and hamburg[0]["relations"] == ["P17"]
    assert len({r["instance_id"] for r in rows}) == len(rows)
    for split in ("train", "dev", "test"):  # no entity pair crosses splits
        assert all(split_of(r["head"]["kb_id"], r["tail"]["kb_id"]) == split for r in read_rows(out, split))
    reject_rows = read_parquet(glob.glob(f"{out}/rejects/*.parquet")[0], REJECT_SCHEMA).to_pylist()
    assert sum(1 for r in reject_rows if r["stage"] != "project") == 7
    assert {r["origin"].rsplit(":", 1)[1] for r in reject_rows if r["stage"] == "read"} == {"46", "50"}


def test_precomputed_alignments_end_to_end(tmp_path):
    corpus = tmp_path / "c.tsv"
    corpus.write_text("Steve Jobs worked for Apple .\tSteve Jobs arbeitete für Apple .\n"
                      "Berlin is big .\tBerlin ist groß .\n"
                      "Munich is in Bavaria .\tMünchen liegt in Bayern .\n", encoding="utf-8")  # no links line
    links = tmp_path / "c.links"
    links.write_text("0-0 1-1 2-2 3-3 4-4 5-5\n0-0 1-1 2-2 3-3\n", encoding="utf-8")
    out = tmp_path / "out"
    result = run(["--input", str(corpus), "--src-lang", "en", "--tgt-lang", "de", "--kb", str(EXAMPLES / "kb"),
                  "--output", str(out), "--alignments", str(links), "--no-relation-rate", "1"])
    counters = counter_totals(result)
    assert counters["read.pairs"] == 3 and counters["project.no_alignment"] == 2 and counters["rows.train.de"] >= 1
    de = sorted((r["head"]["surface"], r["tail"]["surface"], tuple(r["relations"]), r["aligner"])
                for r in read_rows(out) if r["lang"] == "de")
    assert de == [("Apple", "Steve Jobs", (), "precomputed"), ("Bayern", "München", (), None),
                  ("München", "Bayern", ("P131",), None), ("Steve Jobs", "Apple", ("P108",), "precomputed")]
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert {(r["stage"], r["reason"]): r["count"] for r in manifest["rejects"]} == {("project", "no_alignment"): 2}


@pytest.mark.slow
def test_real_data_slice(tmp_path):
    ntrex, kb = shared_path("ntrex128"), shared_path("xfactr-kb")
    src = (ntrex / "newstest2019-src.eng.txt").read_text(encoding="utf-8").splitlines()[:100]
    inputs = []
    for lang, name in (("de", "newstest2019-ref.deu.txt"), ("zh", "newstest2019-ref.zho-CN.txt")):
        tgt = (ntrex / name).read_text(encoding="utf-8").splitlines()[:100]
        (tmp_path / f"slice.{lang}").write_text("\n".join(tgt) + "\n", encoding="utf-8")
        inputs.append(lang)
    (tmp_path / "slice.en").write_text("\n".join(src) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    run(["--input", str(tmp_path / "slice"), "--input-format", "moses", "--src-lang", "en", "--tgt-lang", "de,zh",
         "--kb", str(kb), "--output", str(out)])
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["input_pairs"] == 200 and manifest["accepted_pairs"] >= 190
    langs = {r["lang"] for r in manifest["rows"]}
    assert langs == {"en", "de", "zh"}
    rows = read_rows(out)
    assert any(r["label_source"] == "projected" and r["lang"] == "de" for r in rows)
    assert any(r["relations"] for r in rows)


def test_graph_builds_for_dataflow_without_submitting():
    options = PipelineOptions(flags=["--runner", "DataflowRunner", "--project", "demo-project", "--region",
                                     "europe-west1", "--temp_location", "gs://demo-bucket/tmp",
                                     "--setup_file", "./setup.py"])
    p = beam.Pipeline(options=options)
    config, _ = parse_config(["--input", str(EXAMPLES / "data" / "en-de.jsonl"), "--input-format", "jsonl",
                              "--src-lang", "en", "--tgt-lang", "de", "--kb", str(EXAMPLES / "kb"),
                              "--output", "gs://demo-bucket/out"])
    build_pipeline(p, config)
    proto = p.to_runner_api()
    names = {t.unique_name for t in proto.components.transforms.values()}
    for stage in ("Read", "Validate", "Tokenize", "Link", "Label", "AlignProject", "Split", "Write"):
        assert stage in names
    assert type(p.runner).__name__ == "DataflowRunner"
