"""pipelines.progress: the in-process counters and the periodic progress line."""

from __future__ import annotations

import logging
import time

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines import progress


def test_count_progress_passes_elements_through_and_counts_them():
    progress.reset()
    with TestPipeline() as p:
        out = p | beam.Create(["a", "b", "c"]) | progress.CountProgress("read")
        assert_that(out, equal_to(["a", "b", "c"]))
    assert progress.snapshot() == {"read": 3}


def test_format_line():
    assert progress.format_line(5, {}) == "progress 0:05: running"
    assert progress.format_line(3725, {"read": 12000, "tokenized": 11874, "rows": 20315, "rejects": 310}) == (
        "progress 1:02:05: 12,000 pairs read, 11,874 tokenized, 20,315 rows; 310 rejects")


def test_progress_line_logs_while_the_block_runs_and_only_at_info(caplog):
    with caplog.at_level(logging.INFO, logger="pipelines.progress"):
        with progress.ProgressLine(interval=0.05):
            progress._tick("x", "read")
            time.sleep(0.3)
    lines = [r.getMessage() for r in caplog.records if r.name == "pipelines.progress"]
    assert lines and all(line.startswith("progress 0:00: ") for line in lines)
    assert "1 pairs read" in lines[-1]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="pipelines.progress"):  # -q: no thread, no line
        with progress.ProgressLine(interval=0.05) as line:
            time.sleep(0.2)
        assert line._thread is None
    assert not [r for r in caplog.records if r.name == "pipelines.progress"]


def test_only_in_process_runs_get_the_counting_steps():
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines.config import parse_config
    from pipelines.distant_supervision import plan_launch

    config, _ = parse_config(["--input", "a.tsv", "--src-lang", "en", "--tgt-lang", "de", "--kb", "kb", "--output",
                              "o"])
    assert plan_launch(config, PipelineOptions([])).in_process
    assert not plan_launch(config, PipelineOptions(["--direct_running_mode", "multi_processing"])).in_process
    assert not plan_launch(config, PipelineOptions(["--runner", "PrismRunner"])).in_process
