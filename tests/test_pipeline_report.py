"""pipelines.report: the Markdown report from a manifest and per-language row counts (pure), and its chart."""

from __future__ import annotations

from collections import Counter

from pipelines.distant_supervision import summary
from pipelines.report import plot, render

MANIFEST = {
    "input_pairs": 10, "accepted_pairs": 8, "rejected_pairs": 2, "kb_version": "kb-1", "pipeline_version": "0.1.0",
    "code_version": "0.1.0+gabc", "manifest_version": "1.3", "dataset_root": "data", "run_seconds": 12.34,
    "rows": [{"split": "train", "lang": "en", "relation": "*", "count": 5},
             {"split": "test", "lang": "de", "relation": "*", "count": 4}],
    "instances": [{"split": "train", "lang": "en", "relation": "P17", "count": 3},
                  {"split": "train", "lang": "en", "relation": "NA", "count": 2},
                  {"split": "test", "lang": "de", "relation": "P17", "count": 4}],
    "rejects": [{"stage": "read", "reason": "bad_json", "count": 2}, {"stage": "project", "reason": "unaligned",
                                                                       "count": 1}],
}
STATS = Counter({("en", "linked", "rel"): 3, ("en", "linked", "na"): 2, ("de", "projected", "rel"): 3,
                 ("de", "linked", "rel"): 1})


def test_render_names_every_count():
    text = render(MANIFEST, STATS)
    assert "| en | 5 | 5 | 0 | 0 | 0.0 % | 40.0 % |" in text
    assert "| de | 4 | 1 | 3 | 0 | 75.0 % | 0.0 % |" in text
    assert "| P17 | 4 | 3 | 7 |" in text and "| NA | 0 | 2 | 2 |" in text  # columns de, en
    assert "| read | bad_json | 2 |" in text and "| project | unaligned | 1 |" in text
    assert render(MANIFEST, STATS) == text  # deterministic


def test_the_chart_is_a_png_and_the_same_twice():
    assert plot(MANIFEST, STATS)[:4] == b"\x89PNG" and plot(MANIFEST, STATS) == plot(MANIFEST, STATS)


def test_the_summary_says_where_the_shards_are_and_the_counts():
    lines = summary("out/run1", MANIFEST, "out/run1/report.md")
    assert lines[0] == "wrote out/run1/manifest.json in 12.3 s"
    assert "rows: de 4 (train 0 / dev 0 / test 4); en 5 (train 5 / dev 0 / test 0)" in lines
    assert "rejects by stage: project 1, read 2" in lines
    assert lines[-2].startswith("shards: out/run1/data ") and lines[-1] == "report: out/run1/report.md"
