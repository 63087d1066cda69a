"""rex.load(...).predict(...): the Python prediction API, relation names in labels.json and in the output, and
the same scores as `rex predict` (one code path)."""

from __future__ import annotations

import json

import pytest

import rex
from rex.api import train
from rex.cli import main
from rex.model.io import load_model_dir
from rex.predict import InputError
from rex.relation_names import relation_names_for
from rex.synthetic import tiny_config, write_synthetic_shards

NAMES = {"P19": "place of birth", "P36": "capital", "P108": "employer"}  # P27 left unnamed


def write_kb_with_prompts(folder):
    """An X-FACTR-style KB folder with only what rex reads: TREx_prompts.csv (pid,relation,<lang>...)."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["pid,relation,en"] + [f"{pid},{name},[X] {name} [Y] ." for pid, name in NAMES.items()]
    (folder / "TREx_prompts.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A tiny model trained on synthetic shards whose pipeline manifest names a KB folder with relation names."""
    root = tmp_path_factory.mktemp("infer")
    shards = write_synthetic_shards(root / "shards", num_pairs=30)
    kb = write_kb_with_prompts(root / "kb")
    (shards / "manifest.json").write_text(json.dumps({"kb_version": "kb-test1", "pipeline_version": "9.9",
                                                      "config": {"kb": str(kb)}}))
    train(tiny_config([str(shards)], steps=6), root / "out")
    return root / "out" / "model"


def test_labels_json_carries_names_beside_ids(model_dir):
    info = json.loads((model_dir / "labels.json").read_text())
    assert {"P19", "P27", "P36"} <= set(info["relations"])
    # from the manifest's KB folder, for the labels only; P27 has no name there
    assert info["names"] == {r: NAMES[r] for r in info["relations"] if r in NAMES} and "P27" not in info["names"]


def test_predict_returns_ids_names_and_scores(model_dir):
    model = rex.load(model_dir, device="cpu")
    out = model.predict("Ent1a was born in Ent1b .", (0, 5), (18, 23), "en")
    assert sorted(out["scores"]) == sorted(model.labels) and out["language"] == "en"
    assert all(0.0 <= p <= 1.0 for p in out["scores"].values())
    assert [p["relation"] for p in out["predictions"]] == sorted(out["relations"], key=lambda r: -out["scores"][r])
    for pred in out["predictions"]:
        assert pred["name"] == NAMES.get(pred["relation"], pred["relation"])
        assert pred["score"] >= model.threshold
    assert model.relation_names == {r: NAMES.get(r, r) for r in model.labels}


def test_a_low_threshold_lists_every_relation_with_its_name(model_dir):
    model = rex.load(model_dir, device="cpu")
    model.loaded.config.model.threshold = 1e-9
    model.loaded.config.model.lang_thresholds = {}  # dev's languages get a cut of their own (or the pooled one)
    out = model.predict("Ent1a was born in Ent1b .", (0, 5), (18, 23), "en")
    assert {p["relation"]: p["name"] for p in out["predictions"]} == {r: NAMES.get(r, r) for r in model.labels}


def test_batch_equals_single_and_cli_output(model_dir, tmp_path):
    items = [{"id": 1, "text": "Ent1a was born in Ent1b .", "head": [0, 5], "tail": [18, 23], "language": "en"},
             {"id": 2, "marked_text": "[E1]Ent7a[/E1] ist Staatsbürger von [E2]Ent7b[/E2] .", "language": "de"},
             {"id": 3, "text": "The capital of Ent3a is Ent3b .", "head": [15, 20], "tail": [24, 29],
              "language": "en"}]
    batched = rex.load(model_dir, device="cpu", batch_size=2).predict_batch(items)
    single = rex.load(model_dir, device="cpu", batch_size=64)
    assert [o["id"] for o in batched] == [1, 2, 3]
    for item, got in zip(items, batched, strict=True):
        alone = single.predict_batch([item])[0]
        assert got["relations"] == alone["relations"]
        assert got["scores"] == pytest.approx(alone["scores"], abs=1e-5)
    (tmp_path / "in.jsonl").write_text("\n".join(json.dumps(x) for x in items) + "\n")
    assert main(["predict", "--model", str(model_dir), "--input", str(tmp_path / "in.jsonl"),
                 "--output", str(tmp_path / "out.jsonl")]) == 0
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert lines == single.predict_batch(items)  # the CLI's batch of 64 holds all three, as here


def test_bad_items_name_their_index(model_dir):
    model = rex.load(model_dir, device="cpu")
    with pytest.raises(InputError, match=r"item 0: 'tail' span \(3, 99\) is not inside the text"):
        model.predict("Ada saw Bob", (0, 3), (3, 99), "en")
    with pytest.raises(InputError, match="item 1: needs 'text'"):
        model.predict_batch([{"text": "Ada saw Bob", "head": [0, 3], "tail": [8, 11]}, {"language": "en"}])


def test_a_model_saved_without_names_shows_ids(model_dir, tmp_path):
    import shutil

    old = tmp_path / "old-model"
    shutil.copytree(model_dir, old)
    info = json.loads((old / "labels.json").read_text())
    del info["names"]
    (old / "labels.json").write_text(json.dumps(info))
    model = rex.load(old, device="cpu")
    assert model.relation_names == {r: r for r in model.labels}
    model.loaded.config.model.threshold = 1e-9
    model.loaded.config.model.lang_thresholds = {}  # dev's languages get a cut of their own (or the pooled one)
    out = model.predict("Ent1a was born in Ent1b .", (0, 5), (18, 23), "en")
    assert all(p["name"] == p["relation"] for p in out["predictions"])


def test_relation_names_explicit_file_wins_and_saved_names_fill_gaps(tmp_path):
    table = tmp_path / "relations.tsv"
    table.write_text("P19\tbirthplace\nP99\tunused\n")
    lineage = [{"kb": str(write_kb_with_prompts(tmp_path / "kb"))}]
    assert relation_names_for(["P19", "P36"], None, lineage) == {"P19": "place of birth", "P36": "capital"}
    assert relation_names_for(["P19", "P36"], str(table), lineage) == {"P19": "birthplace"}
    assert relation_names_for(["P19", "P5"], str(table), [], saved={"P5": "five"}) == {"P19": "birthplace",
                                                                                       "P5": "five"}
    assert relation_names_for(["P19"], None, [{"kb": str(tmp_path / "absent")}, {"kb": None}]) == {}
    with pytest.raises(FileNotFoundError, match="data.relation_names"):
        relation_names_for(["P19"], str(tmp_path / "nope.tsv"), [])


def test_loaded_model_keeps_names(model_dir):
    loaded = load_model_dir(model_dir)
    assert loaded.relation_names == {r: NAMES[r] for r in loaded.labels if r in NAMES}
