"""Fault injection for what rex reads besides shards: prediction inputs, fact-index inputs and model directories.

Each test breaks one thing and asserts the exact promise of docs/reliability.md: bad prediction lines are either a
one-line error with file:line or, with a rejects file, one reject each (origin, reason) beside the predictions of
every good line; an entity beyond the model's maximum length is warned about; bad pair files name file and line;
a tampered model directory is refused on one line naming the file, and nothing is unpickled. A tiny model trained
for a few steps on synthetic shards (seconds) and an index of the bundled example KB (dim 8, one epoch).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path

import pytest
import torch

from rex.api import train
from rex.cli import main
from rex.model.io import WEIGHTS, ModelDirError, load_model_dir
from rex.predict import entities_cut, predict_file
from rex.synthetic import tiny_config, write_synthetic_shards

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
GOOD = {"id": "g", "text": "Ent1a was born in Ent1b .", "head": [0, 5], "tail": [18, 23], "language": "en"}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("faults-models")
    shards = write_synthetic_shards(root / "shards", num_pairs=30)
    train(tiny_config([str(shards)], steps=4), root / "out")
    return root / "out" / "model"


# ---- rex predict: a rejects file, and entities beyond the maximum length ----------------------------------------

BAD_LINES = [
    (b'{"text": "a b", "head": [0, 1], "tail": [2, 3]\n', "not JSON"),
    (b'{"text": 5, "head": [0, 1], "tail": [2, 3]}\n', "'text' must be a string"),
    (b'{"marked_text": "caf\xe9"}\n', "not UTF-8"),
    (b'{"text": "lone \\ud800 x", "head": [0, 4], "tail": [7, 8]}\n', "lone surrogate"),
    (b'{"text": "abc", "head": [0, 1], "tail": [2, 9]}\n', "is not inside the text"),
]


def test_predict_with_a_rejects_file_writes_every_bad_line_there_and_goes_on(model_dir, tmp_path, capsys):
    good = (json.dumps(GOOD) + "\n").encode()
    lines = [good, BAD_LINES[0][0], good, b"\n", *[bad for bad, _ in BAD_LINES[1:]], good]
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"".join(lines))
    out, rejects = tmp_path / "out.jsonl", tmp_path / "rejects.jsonl"
    assert main(["predict", "--model", str(model_dir), "--input", str(source), "--output", str(out),
                 "--rejects", str(rejects)]) == 0
    predictions = [json.loads(x) for x in out.read_text().splitlines()]
    dead = [json.loads(x) for x in rejects.read_text(encoding="utf-8").splitlines()]
    assert [p["id"] for p in predictions] == ["g", "g", "g"]
    # every non-blank input line is a prediction or a reject, and each reject names its line and reason
    assert len(predictions) + len(dead) == sum(1 for x in lines if x.strip())
    assert [d["origin"] for d in dead] == [f"{source}:{n}" for n in (2, 5, 6, 7, 8)]
    for reject, (_, reason) in zip(dead, BAD_LINES, strict=True):
        assert reason in reject["reason"] and set(reject) == {"origin", "reason", "line"}
    assert dead[0]["line"] == BAD_LINES[0][0].decode()
    assert capsys.readouterr().err.strip().endswith(f"3 predictions written to {out}; 5 bad lines written to "
                                                    f"{rejects}")


def test_predict_without_a_rejects_file_stops_at_the_first_bad_line(model_dir, tmp_path, capsys):
    source = tmp_path / "in.jsonl"
    source.write_bytes((json.dumps(GOOD) + "\n").encode() + BAD_LINES[2][0] + BAD_LINES[0][0])
    assert main(["predict", "--model", str(model_dir), "--input", str(source),
                 "--output", str(tmp_path / "out.jsonl")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"{source}:2: not UTF-8" in err
    # the rejects file is never the input or the output
    before = source.read_bytes()
    for rejects, message in ((source, "the output is the input file"), (tmp_path / "out.jsonl",
                                                                         "the rejects file is the output file")):
        assert main(["predict", "--model", str(model_dir), "--input", str(source), "--output",
                     str(tmp_path / "out.jsonl"), "--rejects", str(rejects)]) == 2
        assert f"{rejects}: {message}" in capsys.readouterr().err
    assert source.read_bytes() == before


def test_an_entity_beyond_the_maximum_length_is_warned_about(model_dir, tiny_bert, tmp_path, caplog):
    loaded = load_model_dir(model_dir)
    filler = " ".join(["word"] * 200)  # far more than the model's 32 tokens
    text = f"Ent1a {filler} Ent1b ."
    far = {"id": "far", "text": text, "head": [0, 5], "tail": [len(text) - 7, len(text) - 2], "language": "en"}
    near = {"id": "near", "text": f"Ent1a was born in Ent1b . {filler}", "head": [0, 5], "tail": [18, 23],
            "language": "en"}
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps(far) + "\n" + json.dumps(near) + "\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="rex.predict"):
        assert predict_file(loaded, str(source), str(tmp_path / "out.jsonl"), torch.device("cpu")) == (2, 0)
    out = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert "tail entity beyond the model's maximum length (32 tokens" in out[0]["warning"]
    assert "warning" not in out[1]  # a long text whose entities fit in the window is not warned about
    assert f"{source}:1: tail entity beyond" in caplog.text and f"{source}:2" not in caplog.text
    # both poolings: the start markers' window, and the plain-text window of entity pooling (an HF tokenizer)
    from rex.encoder import mark_text
    from rex.encoder.hf import HFTokenizer

    marked = [mark_text(far["text"], tuple(far["head"]), tuple(far["tail"])),
              mark_text(near["text"], tuple(near["head"]), tuple(near["tail"]))]
    assert entities_cut(loaded.tokenizer, marked, 32, "start") == [["tail"], []]
    hf = HFTokenizer.from_pretrained(tiny_bert)
    assert entities_cut(hf, marked, 32, "entity") == [["tail"], []]
    assert entities_cut(hf, marked, 512, "entity") == [[], []]


# ---- rex index query / build -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def index_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("faults-index") / "index"
    assert main(["index", "build", "--kb", str(EXAMPLES / "kb"), "--output", str(out), "--dim", "8",
                 "--epochs", "1"]) == 0
    return out


def test_index_query_with_fewer_facts_than_k_answers_short_with_a_note(index_dir, capsys):
    capsys.readouterr()
    assert main(["index", "query", "--index", str(index_dir), "--pair", "Q64", "Q183", "--pair", "Qnone", "Qnone2",
                 "--k", "500"]) == 0
    known, unknown = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert 0 < len(known["facts"]) < 500 and known["note"] == f"{len(known['facts'])} of k=500 facts found"
    assert unknown["facts"] == [] and unknown["note"] == "0 of k=500 facts found"


@pytest.mark.parametrize("content, message", [
    (b"Q64\tQ183\nQ64\n", r":2: expected 'head<TAB>tail' \(two tab-separated KB ids\), got 1 field$"),
    (b"Q64\tQ183\tQ1\n", r":1: expected 'head<TAB>tail' .*got 3 fields$"),
    (b"Q64\t\n", r":1: expected 'head<TAB>tail'"),
    (b"Q64\tQ18\xff\n", r":1: not UTF-8"),
])
def test_bad_pair_files_name_file_and_line(index_dir, tmp_path, capsys, content, message):
    pairs = tmp_path / "pairs.tsv"
    pairs.write_bytes(content)
    for argv in (["index", "query", "--index", str(index_dir), "--pairs", str(pairs)],
                 ["index", "query", "--index", str(index_dir), "--pair", "Q64", "Q183", "--exclude-pairs", str(pairs)],
                 ["index", "build", "--kb", str(EXAMPLES / "kb"), "--output", str(tmp_path / "never"),
                  "--heldout-pairs", str(pairs)]):
        capsys.readouterr()
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert "\n" not in err, err
        assert err.startswith(f"rex index: error: {pairs}:") and err.endswith(" (-v for the traceback)")
        assert re.search(message, err.removesuffix(" (-v for the traceback)")), err
    assert not (tmp_path / "never").exists()


def test_index_query_of_a_folder_that_is_not_an_index_is_one_line(tmp_path, capsys):
    assert main(["index", "query", "--index", str(tmp_path), "--pair", "Q64", "Q183"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"{tmp_path}: no meta.json" in err


# ---- tampered model directories --------------------------------------------------------------------------------

def _shape(folder: Path) -> None:
    from safetensors.torch import load_file, save_file

    state = {k: v.clone() for k, v in load_file(str(folder / WEIGHTS)).items()}
    rows, width = state["classifier.weight"].shape
    state["classifier.weight"] = torch.zeros(rows + 1, width)
    save_file(state, str(folder / "w.tmp"))
    os.replace(folder / "w.tmp", folder / WEIGHTS)


def _pickle(folder: Path) -> None:
    from safetensors.torch import load_file

    torch.save({k: v.clone() for k, v in load_file(str(folder / WEIGHTS)).items()}, folder / "w.tmp")
    os.replace(folder / "w.tmp", folder / WEIGHTS)  # torch.save's zip of pickles under the safetensors name


def _labels(folder: Path, value) -> None:
    (folder / "labels.json").write_text(json.dumps(value), encoding="utf-8")


TAMPERED = {
    "missing labels.json": (lambda d: (d / "labels.json").unlink(), FileNotFoundError,
                            r"model: not a rex model directory \(missing labels.json\)"),
    "garbled config.json": (lambda d: (d / "config.json").write_text('{"encoder": {', encoding="utf-8"),
                            ModelDirError, r"model/config.json: not valid JSON \(Expecting"),
    "config.json with an unknown key": (lambda d: (d / "config.json").write_text('{"encoder": {"hiddn": 3}}'),
                                        ValueError, r"model/config.json: unknown keys \['hiddn'\]"),
    "garbled labels.json": (lambda d: (d / "labels.json").write_text("[1,", encoding="utf-8"), ModelDirError,
                            r"model/labels.json: not valid JSON"),
    "labels.json not an object": (lambda d: _labels(d, ["P1"]), ModelDirError,
                                  r"model/labels.json: expected a JSON object"),
    "labels.json without relations": (lambda d: _labels(d, {"names": {}}), ModelDirError,
                                      r"model/labels.json: 'relations' must be a non-empty list"),
    "labels.json with another label count": (
        lambda d: _labels(d, {**json.loads((d / "labels.json").read_text()),
                              "relations": [*json.loads((d / "labels.json").read_text())["relations"], "P999"]}),
        ModelDirError, r"model/model.safetensors: weights do not fit the model .*size mismatch for"),
    "weights of another shape": (_shape, ModelDirError,
                                 r"model/model.safetensors: weights do not fit .*size mismatch for classifier"),
    "a pickle where safetensors is expected": (_pickle, ModelDirError,
                                               r"model/model.safetensors: a pickle or torch.save file, not safe"),
    "truncated weights": (lambda d: (d / WEIGHTS).write_bytes((d / WEIGHTS).read_bytes()[:100]), ModelDirError,
                          r"model/model.safetensors: not a readable safetensors file"),
    "garbled tokenizer": (lambda d: (d / "spm.model").write_bytes(b"garbage"), ModelDirError,
                          r"model: the tokenizer files do not load"),
}


@pytest.mark.parametrize("fault", list(TAMPERED))
def test_a_tampered_model_directory_is_refused_on_one_line_naming_the_file(model_dir, tmp_path, capsys, fault,
                                                                           monkeypatch):
    tamper, error, message = TAMPERED[fault]
    folder = Path(shutil.copytree(model_dir, tmp_path / "model"))
    tamper(folder)
    unpickled = []  # rex's only way to unpickle weights would be torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: unpickled.append(a) or {})
    with pytest.raises(error, match=message):
        load_model_dir(folder)
    (tmp_path / "in.jsonl").write_text(json.dumps(GOOD) + "\n", encoding="utf-8")
    assert main(["predict", "--model", str(folder), "--input", str(tmp_path / "in.jsonl"),
                 "--output", str(tmp_path / "out.jsonl")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("rex predict: error: ") and str(folder) in err
    assert unpickled == []
