"""pipelines.config: flag parsing, defaults and validation."""

import json

import pytest

from pipelines.config import parse_config

BASE = ["--input", "a.tsv", "--src-lang", "en", "--tgt-lang", "de", "--kb", "kb", "--output", "out/"]


def test_defaults_and_beam_flags_pass_through():
    config, rest = parse_config(BASE + ["--runner", "DataflowRunner", "--project", "p"])
    assert rest == ["--runner", "DataflowRunner", "--project", "p"]
    assert config.inputs == ("a.tsv",) and config.tgt_langs == ("de",) and config.output == "out"
    assert config.aligner == "eflomal" and config.split_fractions == (0.8, 0.1, 0.1)
    assert json.loads(config.to_json())["src_lang"] == "en"


def test_several_targets_and_case_policy():
    config, _ = parse_config(BASE[:-6] + ["--tgt-lang", "de, zh", "--kb", "kb", "--output", "o",
                                          "--case-policy", "de=fold"])
    assert config.tgt_langs == ("de", "zh") and config.langs == ("de", "en", "zh")
    assert config.case_policy_for("de") == "fold"
    assert config.case_policy_for("zh") == "fold" and config.case_policy_for("en") == "exact"


def test_alignments_imply_precomputed():
    config, _ = parse_config(BASE + ["--alignments", "links.txt"])
    assert config.aligner == "precomputed" and config.alignments == "links.txt"


@pytest.mark.parametrize("extra", [
    ["--split-fractions", "0.5,0.5"],
    ["--split-fractions", "0.9,0.2,0.1"],
    ["--no-relation-rate", "1.5"],
    ["--aligner", "simalign-argmax"],
    ["--aligner", "precomputed"],
    ["--case-policy", "en=upper"],
])
def test_bad_flags_exit_with_a_message(extra, capsys):
    with pytest.raises(SystemExit):
        parse_config(BASE + extra)
    assert "error" in capsys.readouterr().err
