"""Cross-lingual distant supervision: bitext + KB -> labelled relation instances in both languages.

    python -m pipelines.distant_supervision --input corpus.tsv --input-format tsv \\
        --src-lang en --tgt-lang de --kb ../shared/data/xfactr-kb --output out/run1 [Beam options]

Stages (one composite PTransform and module each): Read -> Validate -> Tokenize -> Link -> Label ->
Align+Project -> Split -> Write. Without ``--runner`` the pipeline runs locally on Beam's FnApiRunner
(``--direct_num_workers N --direct_running_mode multi_processing`` for several processes).
See docs/pipeline.md.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.utils import shared

from pipelines.aligners import AlignerSpec
from pipelines.config import PipelineConfig, parse_config
from pipelines.deadletter import NAMESPACE
from pipelines.label import LabelInstances
from pipelines.link import LinkMentions
from pipelines.project import AlignProject
from pipelines.read import ReadBitext, expand_inputs
from pipelines.resources import KBSpec, load_run_kb, pipeline_version
from pipelines.split import SplitRows
from pipelines.tokenize import TokenizeBitext
from pipelines.validate import ValidateBitext
from pipelines.write import WriteOutputs

logger = logging.getLogger(__name__)


def build_pipeline(p: beam.Pipeline, config: PipelineConfig, kb_version: str):
    """Wire every stage into ``p``; return the manifest-path PCollection."""
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
    } | "Write" >> WriteOutputs(config.output, config.to_json(), kb_version, pipeline_version(),
                                sorted({path for unit in units for path in unit[1:]}))


def make_pipeline(options: PipelineOptions) -> beam.Pipeline:
    """A Pipeline on the given runner, or on the local FnApiRunner when none is named."""
    if options.view_as(StandardOptions).runner:
        return beam.Pipeline(options=options)
    return beam.Pipeline(runner=FnApiRunner(), options=options)


def run(argv: Sequence[str] | None = None) -> beam.runners.runner.PipelineResult:
    """Parse options, build and run the pipeline, wait for it; return the PipelineResult."""
    config, beam_args = parse_config(argv)
    options = PipelineOptions(flags=beam_args)
    kb = load_run_kb(config.kb, config.kb_extra_aliases, config.langs)
    p = make_pipeline(options)
    build_pipeline(p, config, kb.version)
    result = p.run()
    result.wait_until_finish()
    for name, value in sorted(counter_totals(result).items()):
        logger.info("counter %s = %d", name, value)
    logger.info("wrote %s/manifest.json", config.output)
    return result


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
    run()


if __name__ == "__main__":
    main()
