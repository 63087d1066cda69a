"""rex.cli: config file + flags, train -> evaluate -> predict round trip, clear input errors."""

from __future__ import annotations

import dataclasses
import io
import json
import re

import pytest
import yaml

from rex.cli import build_parser, main, resolve_config
from rex.config import SECTIONS, RetrievalConfig
from rex.model import load_model_dir
from rex.synthetic import tiny_config, write_synthetic_shards


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    shards = write_synthetic_shards(root / "shards", num_pairs=40)
    config = tiny_config([str(shards)], steps=30).to_dict()
    config["data"].pop("shards")
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    code = main(["train", "--config", str(root / "config.yaml"), "--shards", str(shards), "--output", str(root / "out"),
                 "--train.max_steps", "30", "--model.aggregator", "att",
                 "--model.lexical_buckets", "512"])  # the round trips below then cover the lexical path too
    assert code == 0
    return root, shards


def test_flags_override_the_config_file(tmp_path):
    (tmp_path / "c.json").write_text(json.dumps({"train": {"lr": 0.1, "max_steps": 5}, "data": {"langs": ["en"]}}))
    args = build_parser().parse_args(["train", "--config", str(tmp_path / "c.json"), "--output", "o",
                                      "--train.max_steps", "9", "--data.langs", "de", "zh",
                                      "--model.retrieval.index_dir", "idx", "--model.retrieval.k", "4",
                                      "--train.progress", "false"])
    cfg = resolve_config(args)
    assert cfg.train.lr == 0.1 and cfg.train.max_steps == 9 and cfg.data.langs == ["de", "zh"]
    assert cfg.model.retrieval.index_dir == "idx" and cfg.model.retrieval.k == 4 and cfg.train.progress is False


def test_bad_config_values_fail_early(tmp_path):
    (tmp_path / "c.json").write_text(json.dumps({"train": {"lr": -1}}))
    with pytest.raises(ValueError, match="c.json: need lr > 0"):
        resolve_config(build_parser().parse_args(["train", "--config", str(tmp_path / "c.json"), "--output", "o"]))
    (tmp_path / "d.json").write_text(json.dumps({"trian": {}}))
    with pytest.raises(ValueError, match="unknown sections"):
        resolve_config(build_parser().parse_args(["train", "--config", str(tmp_path / "d.json"), "--output", "o"]))


def test_train_evaluate_predict_round_trip(trained, tmp_path, capsys):
    root, shards = trained
    model = root / "out" / "model"
    assert main(["evaluate", "--model", str(model), "--shards", str(shards), "--split", "test",
                 "--output", str(tmp_path / "m.json"), "--plot", str(tmp_path / "pr.png")]) == 0
    metrics = json.loads((tmp_path / "m.json").read_text())
    saved = json.loads((root / "out" / "metrics.json").read_text())["test"]
    assert metrics["all"]["pr_auc"] == pytest.approx(saved["all"]["pr_auc"])  # reloaded model = trained model
    assert load_model_dir(model).config.model.lexical_buckets == 512
    assert (tmp_path / "pr.png").exists()
    lines = [
        {"id": 1, "text": "Ent1a was born in Ent1b .", "language": "en", "head": {"start": 0, "end": 5},
         "tail": [18, 23]},
        {"id": 2, "marked_text": "[E1]Ent7a[/E1] und [E2]Ent7b[/E2] waren in den Nachrichten .", "language": "de"},
    ]
    (tmp_path / "in.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    assert main(["predict", "--model", str(model), "--input", str(tmp_path / "in.jsonl"),
                 "--output", str(tmp_path / "out.jsonl")]) == 0
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    labels = json.loads((model / "labels.json").read_text())["relations"]
    assert [o["id"] for o in out] == [1, 2] and all(sorted(o["scores"]) == sorted(labels) for o in out)
    assert all(0.0 <= p <= 1.0 for o in out for p in o["scores"].values())


def test_predict_bad_line_names_file_and_line(trained, tmp_path, capsys):
    root, _ = trained
    (tmp_path / "in.jsonl").write_text(json.dumps({"text": "abc", "head": [0, 1], "tail": [2, 9]}) + "\n")
    argv = ["predict", "--model", str(root / "out" / "model"), "--input", str(tmp_path / "in.jsonl"),
            "--output", str(tmp_path / "o.jsonl")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert re.fullmatch(r"rex predict: error: .*in.jsonl:1: 'tail' span \[2, 9\] is not inside the text.*", err)
    with pytest.raises(ValueError, match=r"in.jsonl:1: 'tail' span"):  # -v: the exception with its traceback
        main([*argv, "-v"])


def test_predict_reads_stdin_and_writes_stdout(trained, tmp_path, monkeypatch, capsys):
    root, _ = trained
    model = str(root / "out" / "model")
    lines = [json.dumps({"id": i, "text": "Ent1a was born in Ent1b .", "language": "en", "head": [0, 5],
                         "tail": [18, 23]}) for i in range(3)]
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n")
    assert main(["predict", "--model", model, "--input", str(tmp_path / "in.jsonl"), "--output",
                 str(tmp_path / "file.jsonl"), "-q"]) == 0
    capsys.readouterr()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(("\n".join(lines) + "\n{bad\n").encode())))
    assert main(["predict", "--model", model, "--input", "-", "--output", "-", "--rejects",
                 str(tmp_path / "rejects.jsonl")]) == 0
    captured = capsys.readouterr()
    assert captured.out == (tmp_path / "file.jsonl").read_text()  # stdout holds the predictions alone
    assert "3 predictions written to stdout; 1 bad lines" in captured.err
    assert json.loads((tmp_path / "rejects.jsonl").read_text())["origin"] == "<stdin>:4"
    assert main(["predict", "--model", model, "--input", "-", "--output", "-", "--rejects", "-"]) == 2
    assert "--rejects -: give a file" in capsys.readouterr().err


def test_index_command_has_build_and_query(capsys):
    for command, flags in ((["index", "build"], ("--kb", "--heldout-shards", "--output", "--kb-extra-aliases")),
                           (["index", "query"], ("--index",))):
        with pytest.raises(SystemExit) as done:
            main([*command, "--help"])
        assert done.value.code == 0
        out = capsys.readouterr().out
        assert all(flag in out for flag in flags), (command, out)


def test_predict_refuses_to_write_over_its_input(trained, tmp_path, capsys):
    root, _ = trained
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"text": "abc def", "head": [0, 3], "tail": [4, 7]}) + "\n")
    before = source.read_text()
    assert main(["predict", "--model", str(root / "out" / "model"), "--input", str(source),
                 "--output", str(tmp_path / "." / "in.jsonl")]) == 2
    assert "the output is the input file" in capsys.readouterr().err
    assert source.read_text() == before


def _train_help(capsys) -> str:
    with pytest.raises(SystemExit) as done:
        main(["train", "--help"])
    assert done.value.code == 0
    return capsys.readouterr().out


def test_train_help_gives_every_flag_its_help_default_and_choices(capsys):
    text = _train_help(capsys)
    blocks = re.split(r"\n  (?=--)", text)  # one block per flag: the flag line and its wrapped help
    fields = [(s, f) for s, k in SECTIONS.items() for f in dataclasses.fields(k) if f.name != "retrieval"]
    fields += [("model.retrieval", f) for f in dataclasses.fields(RetrievalConfig)]
    for section, f in fields:
        block = next((b for b in blocks if b.startswith(f"--{section}.{f.name} ")), None)
        assert block is not None, f"--{section}.{f.name} missing"
        words = " ".join(block.split())
        assert f.metadata.get("help") and "default:" in words, f"--{section}.{f.name}: {words}"
    flat = " ".join(text.split())
    assert "--encoder.kind {transformer,hf}" in flat and "--train.amp {auto,bf16,fp16,off}" in flat
    assert "--data.label_sources {linked,projected,verbalized}" in flat and "--train.progress {true,false}" in flat
    assert "optimizer steps to train (default: 2000)" in flat
    assert "bag cache folder (default: <output>/bag-cache)" in flat  # the help's own default, not a second one


@pytest.mark.parametrize("argv,message", [
    (["--encoder.kind", "foo"], "argument --encoder.kind: invalid choice: 'foo'"),
    (["--train.max_steps", "x"], "argument --train.max_steps: invalid int value: 'x'"),
    (["--train.progress", "maybe"], "expected true/false, got 'maybe'"),
])
def test_bad_flag_values_fail_on_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as done:
        main(["train", "--output", "o", *argv])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("rex train: error: ") and message in err


def test_invalid_config_values_fail_on_one_line_and_raise_with_v(tmp_path, capsys):
    assert main(["train", "--output", str(tmp_path / "o"), "--train.lr", "-1"]) == 2
    err = capsys.readouterr().err
    assert err == "rex train: error: command line: need lr > 0, max_steps >= 1 (-v for the traceback)\n"
    with pytest.raises(ValueError, match="need lr > 0"):
        main(["-v", "train", "--output", str(tmp_path / "o"), "--train.lr", "-1"])


def test_train_says_where_the_model_went_and_warns_about_a_long_warmup(tmp_path, capsys, caplog):
    shards = write_synthetic_shards(tmp_path / "shards", num_pairs=30)
    config = tiny_config([str(shards)], steps=2).to_dict()
    (tmp_path / "c.json").write_text(json.dumps(config))
    with caplog.at_level("WARNING"):
        assert main(["train", "--config", str(tmp_path / "c.json"), "--output", str(tmp_path / "out"),
                     "--train.warmup_steps", "5"]) == 0
    assert any("warmup_steps (5) > train.max_steps (2)" in r.getMessage() for r in caplog.records)
    assert f"model saved to {tmp_path / 'out' / 'model'} (model card: " in capsys.readouterr().err
