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


@pytest.mark.parametrize(("extra", "message"), [
    (["--split-fractions", "0.5,0.5"], "--split-fractions '0.5,0.5': three non-negative numbers summing to 1"),
    (["--split-fractions", "0.9,0.2,0.1"], "--split-fractions '0.9,0.2,0.1'"),
    (["--no-relation-rate", "1.5"], "--no-relation-rate must be in [0, 1]"),
    (["--aligner", "simalign-argmax"], "--aligner simalign-argmax needs --aligner-model PATH"),
    (["--aligner", "precomputed"], "--aligner precomputed needs --alignments PATH"),
    (["--case-policy", "en=upper"], "--case-policy 'en=upper': expected LANG=exact or LANG=fold"),
])
def test_bad_flags_exit_with_a_message(extra, message, capsys):
    with pytest.raises(SystemExit) as exc:
        parse_config(BASE + extra)
    assert exc.value.code == 2  # argparse's usage error, not a crash or a success
    err = capsys.readouterr().err
    assert "error: " + message in err


def test_eflomal_seed_flag_reaches_the_aligner_settings():
    from pipelines.aligners import EflomalSettings
    from pipelines.config import parse_config

    base = ["--input", "x.tsv", "--src-lang", "en", "--tgt-lang", "de", "--kb", "k", "--output", "o"]
    assert EflomalSettings.of(parse_config(base)[0]).seed is None
    assert EflomalSettings.of(parse_config([*base, "--eflomal-seed", "7"])[0]).seed == 7


def test_the_second_pass_for_unaligned_entities_is_on_unless_turned_off():
    from pipelines.config import parse_config

    base = ["--input", "x.tsv", "--src-lang", "en", "--tgt-lang", "de", "--kb", "k", "--output", "o"]
    assert parse_config(base)[0].realign_unaligned
    assert not parse_config([*base, "--no-realign-unaligned"])[0].realign_unaligned


def test_an_unset_config_field_an_older_manifest_lacks_is_the_same_config():
    import json

    from nightly.spans import strip_places
    from pipelines.commit import _difference

    old = {"config": {"src_lang": "en", "output": "a"}}
    assert _difference(old, json.dumps({"src_lang": "en", "output": "b", "eflomal_seed": None}), None) is None
    assert _difference(old, json.dumps({"src_lang": "en", "eflomal_seed": 7}), None) == \
        "a different config: eflomal_seed"
    assert strip_places({"src_lang": "en", "eflomal_seed": None, "output": "x"}) == {"src_lang": "en"}
