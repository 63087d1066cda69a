"""Cross-lingual distant supervision: bitext + KB -> labelled relation instances in both languages.

    python -m pipelines.distant_supervision --input corpus.tsv --input-format tsv \\
        --src-lang en --tgt-lang de --kb ../shared/data/xfactr-kb --output out/run1 [Beam options]

Stages (one composite PTransform and module each): Read -> Validate -> Tokenize -> Link -> Label ->
Align+Project -> Split -> Write. Without ``--runner`` the pipeline runs locally on Beam's FnApiRunner
(``--direct_num_workers N --direct_running_mode multi_processing`` for several processes).
See docs/pipeline.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import (
    DirectOptions,
    GoogleCloudOptions,
    PipelineOptions,
    StandardOptions,
    TestOptions,
)
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.utils import shared

from pipelines.aligners import AlignerSpec
from pipelines.commit import (
    LOCK_NAME,
    OutputInUseError,
    clear_stale_staging,
    commit,
    is_local,
    join,
    new_staging,
    read_manifest,
    remove_staging,
    reuse_decision,
    write_json,
)
from pipelines.config import PipelineConfig, parse_config
from pipelines.deadletter import NAMESPACE
from pipelines.kb_tables import WriteKBTables
from pipelines.label import LabelInstances
from pipelines.link import LinkMentions
from pipelines.lock import LockedError
from pipelines.lock import output_lock as lock_output
from pipelines.priors import PriorsError, check_priors, priors_file
from pipelines.progress import CountProgress, ProgressLine
from pipelines.project import AlignProject
from pipelines.read import ReadBitext, check_patterns, expand_inputs
from pipelines.report import write_report
from pipelines.resources import (
    KBInfo,
    KBSpec,
    alias_counts,
    check_aliases,
    code_version,
    load_run_kb,
    pipeline_version,
)
from pipelines.split import SplitRows
from pipelines.tokenize import TokenizeBitext
from pipelines.validate import ValidateBitext
from pipelines.write import WriteOutputs
from schemas.kb import KBFormatError
from schemas.manifest import MANIFEST_NAME, STAGING_PREFIX
from schemas.shard import SPLITS

logger = logging.getLogger(__name__)
# the closing summary: printed with -q too (main keeps this logger at INFO)
summary_logger = logging.getLogger(f"{__name__}.summary")
LOCK_STALE_SECONDS = 600.0  # a lock without a heartbeat this long (holder on another host died) is taken over


LOCAL_RUNNERS = ("DirectRunner", "SwitchingDirectRunner", "BundleBasedDirectRunner", "FnApiRunner", "PrismRunner")
# runners whose workers run inside the launching process (unless --direct_running_mode multi_processing)
IN_PROCESS_RUNNERS = ("DirectRunner", "SwitchingDirectRunner", "BundleBasedDirectRunner", "FnApiRunner")


class LaunchError(ValueError):
    """Flags that cannot work together (a one-line error on the command line)."""


@dataclass(frozen=True)
class Launch:
    """What the launching machine does around ``p.run()``.

    ``mode``: 'run' (wait for the job, then commit), 'dry_run' (Beam's ``--dry_run``: build and translate the job,
    submit nothing, write nothing) or 'template' (``--template_location``: the job commits its own output at its
    end). ``reads_inputs``: the launcher matches and fingerprints the inputs itself (a local runner on local
    inputs: a missing input fails at once, and a rerun is recognised before the job starts); otherwise the job
    matches them and the rerun check on inputs runs on the finished job's manifest. ``reads_kb``: the launcher
    loads and checks the KB (a local folder it can see); otherwise the workers do (resources.KBInfo).
    ``in_process``: the workers run in this process, so the progress line can count elements (pipelines.progress)."""

    mode: str
    reads_inputs: bool
    reads_kb: bool
    runner: str
    in_process: bool = False


def plan_launch(config: PipelineConfig, options: PipelineOptions) -> Launch:
    """The Launch for these flags; LaunchError for a dry run on a local runner (which would run the job)."""
    runner = options.view_as(StandardOptions).runner or "FnApiRunner"
    local = runner in LOCAL_RUNNERS
    if options.view_as(TestOptions).dry_run:
        if local:
            raise LaunchError(f"--dry_run needs a remote runner (--runner DataflowRunner); {runner} would run the job")
        mode = "dry_run"
    else:
        mode = "template" if options.view_as(GoogleCloudOptions).template_location else "run"
    reads_inputs = local and all(is_local(path) for pattern in config.inputs for path in pattern.split(","))
    reads_kb = is_local(config.kb) and (local or os.path.isdir(config.kb))
    in_process = runner in IN_PROCESS_RUNNERS and options.view_as(DirectOptions).direct_running_mode != (
        "multi_processing")
    return Launch(mode, reads_inputs, reads_kb, runner, in_process)


def input_paths(config: PipelineConfig) -> list[str]:
    """The input files the manifest fingerprints (globs resolved on this machine, a Moses pair as its two files)."""
    units = expand_inputs(config.inputs, config.input_format, config.src_lang, config.tgt_langs)
    return sorted({path for unit in units for path in unit[1:]})


def check_inputs(config: PipelineConfig, reads_inputs: bool) -> list[str] | None:
    """Check the inputs before anything runs; return the matched files when this machine reads them (else None:
    the job matches them). FileNotFoundError naming a pattern that matches nothing, LaunchError for inputs that
    cannot work with the other flags."""
    try:
        check_patterns(config.inputs, config.input_format, config.tgt_langs)
        paths = input_paths(config) if reads_inputs else None
    except ValueError as err:
        raise LaunchError(str(err)) from None
    if config.aligner == "precomputed":
        units = (expand_inputs(config.inputs, config.input_format, config.src_lang, config.tgt_langs)
                 if reads_inputs else config.inputs)
        if len(units) != 1:
            raise LaunchError(f"--alignments needs exactly one input (line k = pair k), got {len(units)} inputs")
    if config.priors:
        if not AlignerSpec.of(config).fits_priors:
            raise LaunchError(f"--priors: the {config.aligner} aligner uses no eflomal priors")
        try:
            check_priors(config.priors, config.tgt_langs)
        except PriorsError as err:
            raise LaunchError(str(err)) from None
    return paths


def build_pipeline(p: beam.Pipeline, config: PipelineConfig, output: str | None = None,
                   commit_to: str | None = None, count_progress: bool = False):
    """Wire every stage into ``p``; return the manifest-path PCollection. ``output`` is where the Write stage
    writes (``run`` passes the staging folder; default ``config.output``). ``commit_to``: the job itself commits
    the staged output there at its end (a template: no launcher waits for it). ``count_progress``: side branches
    that count elements for the progress line of an in-process run (pipelines.progress)."""
    kb, kb_handle = KBSpec.of(config), shared.Shared()  # one spec and handle: one KB load per worker
    kb_info = p | "KB" >> KBInfo(kb, kb_handle, config.src_lang, config.tgt_langs, config.allow_missing_aliases)
    records, read_rejects, input_files = p | "Read" >> ReadBitext(
        config.inputs, config.input_format, config.src_lang, config.tgt_langs)
    valid, validate_rejects = records | "Validate" >> ValidateBitext(
        config.max_chars, config.langid_min_letters, config.langid_min_prob)
    tokenized, tokenize_rejects = valid | "Tokenize" >> TokenizeBitext(config.langs, config.max_tokens)
    linked, link_rejects = tokenized | "Link" >> LinkMentions(kb, kb_handle)
    labelled = linked | "Label" >> LabelInstances(kb, config.max_token_distance, config.no_relation_rate, kb_handle)
    rows, project_rejects = labelled | "AlignProject" >> AlignProject(
        config.tgt_langs, AlignerSpec.of(config), kb, batch_size=config.align_batch_size,
        prior_sample_size=config.prior_sample_size, min_confidence=config.min_projection_confidence,
        kb_handle=kb_handle, realign_unaligned=config.realign_unaligned,
        stored_priors={lang: priors_file(config.priors, lang) for lang in config.tgt_langs} if config.priors else None)
    splits = rows | "Split" >> SplitRows(config.split_fractions)
    rejects = (read_rejects, validate_rejects, tokenize_rejects, link_rejects, project_rejects) | (
        "AllRejects" >> beam.Flatten())
    if count_progress:  # leaves beside the stages: the stages' own graph is the same with or without them
        for name, pcoll in (("read", records), ("tokenized", tokenized), ("labelled", labelled), ("rows", rows),
                            ("rejects", rejects)):
            pcoll | f"Progress/{name}" >> CountProgress(name)
    kb_tables = rows | "KBTables" >> WriteKBTables(output or config.output, kb, kb_handle)
    manifest = {
        **splits, "rejects": rejects, "read_records": records, "accepted": tokenized, "input_files": input_files,
        "kb": kb_info, "kb_tables": kb_tables,
    } | "Write" >> WriteOutputs(output or config.output, config.to_json(), pipeline_version(), config.langs,
                                code_version(), shards=config.shards_per_destination)
    if commit_to:
        manifest | "Commit" >> beam.Map(commit_step, commit_to, config.to_json(), config.overwrite)
    return manifest


def make_pipeline(options: PipelineOptions) -> beam.Pipeline:
    """A Pipeline on the given runner, or on the local FnApiRunner when none is named."""
    if options.view_as(StandardOptions).runner:
        return beam.Pipeline(options=options)
    return beam.Pipeline(runner=FnApiRunner(), options=options)


def output_lock(output: str):
    """One run per output folder (pipelines.lock: a file lock on local paths, a lease through fsspec on remote
    ones; a crashed run's lock is taken over): see docs/reliability.md."""
    if is_local(output):
        os.makedirs(output, exist_ok=True)
    return lock_output(join(output, LOCK_NAME), stale_seconds=LOCK_STALE_SECONDS)


def check_staged_inputs(staging: str, output: str, overwrite: bool) -> None:
    """When the job matched the inputs itself, compare the staged manifest's inputs (sha256) with the run already
    in ``output``: OutputInUseError when they differ and not ``overwrite`` (nothing is committed)."""
    old, new = read_manifest(output), read_manifest(staging)
    if old is None or new is None:  # nothing there, or reuse_decision already dealt with a folder without one
        return
    if sorted((i["path"], i["sha256"]) for i in old.get("inputs", [])) == sorted(
            (i["path"], i["sha256"]) for i in new["inputs"]):
        return
    if not overwrite:
        raise OutputInUseError(f"{output} holds another run's output (different inputs); pass --overwrite to "
                               "replace it, or choose another --output")
    logger.warning("--overwrite: replacing the run in %s (different inputs)", output)


def prune_empty_shards(staging: str, run_seconds: float | None = None) -> None:
    """Leave out of the staged run the shard files without rows (every expected split x language gets its bucket-0
    file, an empty one when it has no rows, which ``datasets`` cannot read: pipelines.write) and record
    ``run_seconds``; the staged manifest is rewritten, the empty files deleted. The manifest's row counts are
    unchanged (the files held none)."""
    manifest = read_manifest(staging)
    if manifest is None:
        return  # commit() refuses a staging folder without a manifest
    keep, empty = [], []
    for out in manifest["outputs"]:
        if out["split"] in SPLITS and not _parquet_rows(join(staging, out["path"])):
            empty.append(join(staging, out["path"]))
        else:
            keep.append(out)
    if empty:
        FileSystems.delete(empty)
    write_json(join(staging, MANIFEST_NAME), {**manifest, "outputs": keep, "run_seconds": run_seconds})


def _parquet_rows(path: str) -> int:
    with FileSystems.open(path, compression_type="uncompressed") as handle:
        return pq.ParquetFile(handle).metadata.num_rows


def commit_step(manifest_path: str, output: str, config_json: str, overwrite: bool) -> str:
    """The last step of a job that commits itself (a template): the rerun checks, then the commit."""
    staging = manifest_path.rsplit("/", 1)[0]
    try:
        reuse_decision(output, config_json, None, overwrite)
        check_staged_inputs(staging, output, overwrite)
        prune_empty_shards(staging)
        commit(staging, output)
    finally:
        remove_staging(staging)
    _write_report(output)
    return f"{output}/manifest.json"


def run(argv: Sequence[str] | None = None) -> beam.runners.runner.PipelineResult:
    """Parse options, build and run the pipeline into a staging folder, wait for it, commit the output (shards,
    rejects, then the complete manifest); return the PipelineResult. OutputInUseError when ``--output`` holds
    another run (without ``--overwrite``), LockedError when a run into it is in progress. With ``--dry_run`` the
    job is only built and translated; with ``--template_location`` the template is written and its jobs commit
    their own output."""
    started = time.monotonic()
    config, beam_args = parse_config(argv)
    options = PipelineOptions(flags=beam_args)
    launch = plan_launch(config, options)
    if launch.reads_kb:
        check_kb(load_run_kb(config.kb, config.kb_extra_aliases, config.langs), config)
    else:
        logger.info("KB %s is read and checked on the workers", config.kb)
    paths = check_inputs(config, launch.reads_inputs)
    if launch.mode == "dry_run":
        p = make_pipeline(options)
        build_pipeline(p, config, join(config.output, f"{STAGING_PREFIX}dry-run"))
        result = p.run()
        logger.info("dry run on %s: the job was built and translated; nothing was submitted, read or written",
                    launch.runner)
        return result
    if launch.mode == "template":
        reuse_decision(config.output, config.to_json(), None, config.overwrite)
        p = make_pipeline(options)
        build_pipeline(p, config, new_staging(config.output), commit_to=config.output)
        result = p.run()
        logger.info("template written; each job started from it commits its output into %s at its end", config.output)
        return result
    with output_lock(config.output) as lock:
        clear_stale_staging(config.output)
        reuse_decision(config.output, config.to_json(), paths, config.overwrite)
        staging = new_staging(config.output)
        try:
            p = make_pipeline(options)
            build_pipeline(p, config, staging, count_progress=launch.in_process)
            logger.info("running on %s: read, validate, tokenize, link, label, align + project, split, write into "
                        "%s (a progress line every %d s, the summary at the end)", launch.runner, staging,
                        ProgressLine().interval)
            with ProgressLine(started=started):
                result = p.run()
                result.wait_until_finish()
            if paths is None:
                check_staged_inputs(staging, config.output, config.overwrite)
            prune_empty_shards(staging, round(time.monotonic() - started, 1))
            if lock is not None:
                lock.check()  # a run that stalled past the lock's staleness and was taken over does not commit
            manifest = commit(staging, config.output)
        finally:
            remove_staging(staging)  # after a commit: already gone; after a failure: no half-written output
    for name, value in sorted(counter_totals(result).items()):
        logger.debug("counter %s = %d", name, value)
    report = _write_report(config.output)
    for line in summary(config.output, manifest, report):
        summary_logger.info("%s", line)
    return result


def _write_report(output: str) -> str | None:
    """The run's report.md and report.png (pipelines.report); a failure is a warning: the output is committed."""
    try:
        return write_report(output)
    except (OSError, ValueError, RuntimeError) as err:
        logger.warning("%s: the run is committed but its report could not be written (%s); rerun "
                       "'python -m pipelines.report %s'", output, err, output)
        return None


def summary(output: str, manifest: dict, report: str | None) -> list[str]:
    """The lines the command ends with: where the shards are, the counts, the time."""
    rows: dict[str, dict[str, int]] = {}
    for item in manifest["rows"]:
        rows.setdefault(item["lang"], {})[item["split"]] = item["count"]
    rejects: dict[str, int] = {}
    for item in manifest["rejects"]:
        rejects[item["stage"]] = rejects.get(item["stage"], 0) + item["count"]
    lines = [f"wrote {join(output, MANIFEST_NAME)} in {manifest.get('run_seconds') or 0:.1f} s",
             f"pairs: {manifest['input_pairs']:,} read, {manifest['accepted_pairs']:,} accepted, "
             f"{manifest['rejected_pairs']:,} rejected",
             "rows: " + "; ".join(f"{lang} {sum(by.values()):,} ({' / '.join(f'{s} {by.get(s, 0):,}' for s in SPLITS)})"
                                  for lang, by in sorted(rows.items())),
             "rejects by stage: " + (", ".join(f"{k} {v:,}" for k, v in sorted(rejects.items())) or "none"),
             f"shards: {join(output, manifest.get('dataset_root') or '')} (pyarrow.dataset(..., partitioning='hive'), "
             "datasets.load_dataset('parquet', data_dir=...), DuckDB read_parquet('.../**/*.parquet'))"]
    if report:
        lines.append(f"report: {report}")
    return lines


def check_kb(kb, config: PipelineConfig) -> None:
    """The launcher's KB check (resources.check_aliases): KBFormatError without source-language aliases (unless
    ``--allow-missing-aliases``), a warning with the counts for a language without aliases."""
    for warning in check_aliases(alias_counts(kb, config.langs), config.kb, config.src_lang, config.tgt_langs,
                                 config.allow_missing_aliases):
        logger.warning("%s", warning)


def counter_totals(result) -> dict[str, int]:
    """The pipeline's ``xds`` Beam counters summed over steps (committed values, else attempted)."""
    totals: dict[str, int] = {}
    try:
        metrics = result.metrics()
    except NotImplementedError:  # a dry run's result has no metrics
        return totals
    query = metrics.query(MetricsFilter().with_namespace(NAMESPACE))
    for counter in query["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        totals[counter.key.metric.name] = totals.get(counter.key.metric.name, 0) + int(value or 0)
    return totals


def main(argv: Sequence[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    verbosity = argparse.ArgumentParser(add_help=False, allow_abbrev=False)  # the full parse happens in run()
    verbosity.add_argument("-v", "--verbose", action="store_true")
    verbosity.add_argument("-q", "--quiet", action="store_true")
    flags, _ = verbosity.parse_known_args(argv)
    # force: an import-time logging.warning (Beam's apitools notice) has already configured the root logger
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    # our start, progress and summary lines at INFO (counters with -v; -q keeps the summary), Beam's at WARNING
    level = logging.DEBUG if flags.verbose else logging.WARNING if flags.quiet else logging.INFO
    for name in ("pipelines", __name__):
        logging.getLogger(name).setLevel(level)
    summary_logger.setLevel(logging.DEBUG if flags.verbose else logging.INFO)
    try:
        run(argv)
    except (OutputInUseError, LockedError, KBFormatError, FileNotFoundError, LaunchError) as err:
        if flags.verbose:
            raise
        sys.exit(f"xds-pipeline: {err}")


if __name__ == "__main__":
    main()
