"""Cross-lingual distant supervision: bitext + KB -> labelled relation instances in both languages.

    python -m pipelines.distant_supervision --input corpus.tsv --input-format tsv \\
        --src-lang en --tgt-lang de --kb ../shared/data/xfactr-kb --output out/run1 [Beam options]

Stages (one composite PTransform and module each): Read -> Validate -> Tokenize -> Link -> Label ->
Align+Project -> Split -> Write. Without ``--runner`` the pipeline runs locally on Beam's FnApiRunner
(``--direct_num_workers N --direct_running_mode multi_processing`` for several processes).
See docs/pipeline.md.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Sequence

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.utils import shared

from pipelines.aligners import AlignerSpec
from pipelines.commit import (
    LOCK_NAME,
    OutputInUseError,
    clear_stale_staging,
    commit,
    is_local,
    new_staging,
    remove_staging,
    reuse_decision,
)
from pipelines.config import PipelineConfig, parse_config
from pipelines.deadletter import NAMESPACE
from pipelines.label import LabelInstances
from pipelines.link import LinkMentions
from pipelines.lock import FileLock, LockedError
from pipelines.project import AlignProject
from pipelines.read import ReadBitext, expand_inputs
from pipelines.resources import KBSpec, load_run_kb, pipeline_version
from pipelines.split import SplitRows
from pipelines.tokenize import TokenizeBitext
from pipelines.validate import ValidateBitext
from pipelines.write import WriteOutputs
from schemas.kb import KBFormatError

logger = logging.getLogger(__name__)
LOCK_STALE_SECONDS = 600.0  # a lock without a heartbeat this long (holder on another host died) is taken over


def input_paths(config: PipelineConfig) -> list[str]:
    """The input files the manifest fingerprints (globs resolved, a Moses pair as its two files)."""
    units = expand_inputs(config.inputs, config.input_format, config.src_lang, config.tgt_langs)
    return sorted({path for unit in units for path in unit[1:]})


def build_pipeline(p: beam.Pipeline, config: PipelineConfig, kb_version: str, output: str | None = None,
                   kb_facts_version: str | None = None):
    """Wire every stage into ``p``; return the manifest-path PCollection. ``output`` is where the Write stage
    writes (``run`` passes the staging folder; default ``config.output``)."""
    units = expand_inputs(config.inputs, config.input_format, config.src_lang, config.tgt_langs)
    if config.aligner == "precomputed" and len(units) != 1:
        raise ValueError(f"--alignments needs exactly one input (line k = pair k), got {len(units)} inputs")
    kb, kb_handle = KBSpec.of(config), shared.Shared()  # one spec and handle: one KB load per worker
    records, read_rejects = p | "Read" >> ReadBitext(units, config.input_format, config.src_lang)
    valid, validate_rejects = records | "Validate" >> ValidateBitext(
        config.max_chars, config.langid_min_letters, config.langid_min_prob)
    tokenized, tokenize_rejects = valid | "Tokenize" >> TokenizeBitext(config.langs, config.max_tokens)
    linked, link_rejects = tokenized | "Link" >> LinkMentions(kb, kb_handle)
    labelled = linked | "Label" >> LabelInstances(kb, config.max_token_distance, config.no_relation_rate, kb_handle)
    rows, project_rejects = labelled | "AlignProject" >> AlignProject(
        config.tgt_langs, AlignerSpec.of(config), kb, batch_size=config.align_batch_size,
        prior_sample_size=config.prior_sample_size, min_confidence=config.min_projection_confidence,
        kb_handle=kb_handle)
    splits = rows | "Split" >> SplitRows(config.split_fractions)
    rejects = (read_rejects, validate_rejects, tokenize_rejects, link_rejects, project_rejects) | (
        "AllRejects" >> beam.Flatten())
    return {
        **splits, "rejects": rejects, "read_records": records, "accepted": tokenized,
    } | "Write" >> WriteOutputs(output or config.output, config.to_json(), kb_version, pipeline_version(),
                                sorted({path for unit in units for path in unit[1:]}), kb_facts_version)


def make_pipeline(options: PipelineOptions) -> beam.Pipeline:
    """A Pipeline on the given runner, or on the local FnApiRunner when none is named."""
    if options.view_as(StandardOptions).runner:
        return beam.Pipeline(options=options)
    return beam.Pipeline(runner=FnApiRunner(), options=options)


def output_lock(output: str):
    """One run per local output folder (pipelines.lock: a crashed run's lock is taken over); none on object
    stores (no exclusive create there): see docs/reliability.md."""
    if not is_local(output):
        return contextlib.nullcontext()
    os.makedirs(output, exist_ok=True)
    return FileLock(os.path.join(output, LOCK_NAME), stale_seconds=LOCK_STALE_SECONDS)


def run(argv: Sequence[str] | None = None) -> beam.runners.runner.PipelineResult:
    """Parse options, build and run the pipeline into a staging folder, wait for it, commit the output (shards,
    rejects, then the complete manifest); return the PipelineResult. OutputInUseError when ``--output`` holds
    another run (without ``--overwrite``), LockedError when a run into it is in progress."""
    config, beam_args = parse_config(argv)
    options = PipelineOptions(flags=beam_args)
    kb = load_run_kb(config.kb, config.kb_extra_aliases, config.langs)
    check_kb(kb, config)
    with output_lock(config.output):
        clear_stale_staging(config.output)
        reuse_decision(config.output, config.to_json(), input_paths(config), config.overwrite)
        staging = new_staging(config.output)
        try:
            p = make_pipeline(options)
            build_pipeline(p, config, kb.version, staging, kb.facts_version)
            result = p.run()
            result.wait_until_finish()
            commit(staging, config.output)
        finally:
            remove_staging(staging)  # after a commit: already gone; after a failure: no half-written output
    for name, value in sorted(counter_totals(result).items()):
        logger.info("counter %s = %d", name, value)
    logger.info("wrote %s/manifest.json", config.output)
    return result


def check_kb(kb, config: PipelineConfig) -> None:
    """The KB must have aliases for the source language: without them nothing is linked and the run would write
    zero rows (KBFormatError; ``--allow-missing-aliases`` makes it a warning with the counts). A target language
    without aliases is a warning with the counts: its rows can only be projected (the X-FACTR KB has no German
    aliases, and German rows are all projected by design)."""
    counts = ", ".join(f"{lang}={len(kb.aliases.get(lang, {}))}" for lang in config.langs)
    if not kb.aliases.get(config.src_lang):
        message = f"{config.kb}: no aliases for the source language {config.src_lang} (entities with aliases: {counts})"
        if not config.allow_missing_aliases:
            raise KBFormatError(f"{message}; pass --allow-missing-aliases to run anyway")
        logger.warning("%s", message)
    missing = [lang for lang in config.tgt_langs if not kb.aliases.get(lang)]
    if missing:
        logger.warning("%s: no aliases for %s (entities with aliases: %s): those rows can only be projected",
                       config.kb, ", ".join(missing), counts)


def counter_totals(result) -> dict[str, int]:
    """The pipeline's ``xds`` Beam counters summed over steps (committed values, else attempted)."""
    totals: dict[str, int] = {}
    query = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))
    for counter in query["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        totals[counter.key.metric.name] = totals.get(counter.key.metric.name, 0) + int(value or 0)
    return totals


def main() -> None:
    # force: an import-time logging.warning (Beam's apitools notice) has already configured the root logger
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    for name in ("pipelines", __name__):  # our progress and counters at INFO, Beam's chatter stays at WARNING
        logging.getLogger(name).setLevel(logging.INFO)
    try:
        run()
    except (OutputInUseError, LockedError, KBFormatError, FileNotFoundError) as err:
        if "-v" in sys.argv[1:] or "--verbose" in sys.argv[1:]:
            raise
        sys.exit(f"xds-pipeline: {err}")


if __name__ == "__main__":
    main()
