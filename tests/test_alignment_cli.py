"""xds-align-eval: align a tiny bitext, score it, fail cleanly on bad input."""

import json

from alignment.cli import main


def test_align_then_aer(tmp_path, capsys):
    bitext = tmp_path / "c.src-tgt"
    bitext.write_text("a b ||| x y\nc ||| z\n", encoding="utf-8")
    links = tmp_path / "c.align"
    assert main(["align", "--bitext", str(bitext), "--output", str(links)]) == 0
    assert len(links.read_text().splitlines()) == 2
    gold = tmp_path / "c.gold"
    gold.write_text("1-1 2p2\n1-1\n", encoding="utf-8")
    links.write_text("0-0 1-1\n0-0\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["aer", "--gold", str(gold), "--gold-one-indexed", "--pred", str(links), "--bitext", str(bitext)]) == 0
    scores = json.loads(capsys.readouterr().out)
    # A = {00, 11, 00'}, S = {00, 00'}, P = S + {11}: precision 1, recall 1, AER 0.
    assert (scores["precision"], scores["recall"], scores["aer"], scores["sure"]) == (1.0, 1.0, 0.0, 2)


def test_bad_input_reports_file_and_line(tmp_path, capsys):
    bitext = tmp_path / "c.src-tgt"
    bitext.write_text("a b ||| x y\nno separator\n", encoding="utf-8")
    assert main(["align", "--bitext", str(bitext), "--output", str(tmp_path / "o")]) == 1
    assert "c.src-tgt:2" in capsys.readouterr().err
    assert main(["aer", "--pred", str(bitext)]) == 2
