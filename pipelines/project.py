"""Align+Project stage: word-align the pairs that have source instances and project those instances.

Every source instance either gets its target twin (label_source 'projected', with aligner and
projection_confidence = the lower of head and tail) or a dead-letter row ``project/<reason>``:
the ProjectionFailure reason of the head or tail (``head:unaligned``...), ``overlapping_projection``,
``duplicate_projection`` (two source instances landing on the same target spans), or ``no_alignment``.

Target-linked instances (label_source 'linked') are kept too, except when a projected instance has the
same (head entity, tail entity) in the same target sentence: then only the projected row is kept (it
carries the lineage, source_instance_id, and the aligner) and the linked one is counted as
``project.linked_superseded``. Pairs without source instances skip the aligner.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import apache_beam as beam
from apache_beam.utils import shared

from alignment.projection.span import ProjectionFailure, project_span
from alignment.word.core import WordAlignment
from pipelines import aligners
from pipelines.config import PipelineConfig
from pipelines.deadletter import REJECTS, count, reject
from pipelines.hashing import unit_hash
from pipelines.normalize import normalize_text
from pipelines.resources import acquire_kb, pipeline_version
from pipelines.rows import make_row, span_from_tokens

STAGE = "project"
NEEDS_ALIGNMENT = "needs_alignment"


def _instance_reject(record: dict, row: dict, reason: str, detail: str = "") -> dict:
    return reject(STAGE, reason, detail, origin=record["origin"], pair_id=record["pair_id"],
                  instance_id=row["instance_id"], raw={"head": row["head"]["surface"], "tail": row["tail"]["surface"]})


def project_instances(record: dict, alignment: WordAlignment, aligner_name: str,
                      tgt_aliases: Callable[[str], Sequence[str]], *, min_confidence: float = 0.0,
                      version: str = "", function_words: frozenset[str] = frozenset()) -> tuple[list[dict], list[dict]]:
    """(projected target rows, rejects) for the source instances of ``record``.

    ``function_words``: the target language's frequent short words, trimmed from projected span edges
    (see :func:`alignment.projection.scoring.frequent_short_words`)."""
    src, tgt = record["src_tok"]["tokens"], record["tgt_tok"]["tokens"]
    rows, rejects, seen = [], [], set()
    for row in record["src_instances"]:
        spans = {}
        for role in ("head", "tail"):
            mention = row[role]
            aliases = tgt_aliases(mention["kb_id"])
            words = function_words - {a.lower() for a in aliases} if function_words and aliases else function_words
            result = project_span((mention["token_start"], mention["token_end"]), alignment, src, tgt,
                                  tgt_aliases=aliases, min_confidence=min_confidence, function_words=words)
            if isinstance(result, ProjectionFailure):
                rejects.append(_instance_reject(record, row, f"{role}:{result.reason}", result.detail))
                break
            spans[role] = result
        if len(spans) < 2:
            continue
        head, tail = spans["head"], spans["tail"]
        if head.token_start < tail.token_end and tail.token_start < head.token_end:
            detail = f"head {head.token_start}:{head.token_end}, tail {tail.token_start}:{tail.token_end}"
            rejects.append(_instance_reject(record, row, "overlapping_projection", detail))
            continue
        new = _projected_row(record, row, head, tail, aligner_name, version)
        if new["instance_id"] in seen:
            rejects.append(_instance_reject(record, row, "duplicate_projection", "same target spans as another"))
            continue
        seen.add(new["instance_id"])
        rows.append(new)
    return rows, rejects


def _projected_row(record: dict, row: dict, head, tail, aligner_name: str, version: str) -> dict:
    tok, text = record["tgt_tok"], record["tgt_text"]
    return make_row(
        record, "tgt",
        span_from_tokens(tok, text, row["head"]["kb_id"], head.token_start, head.token_end),
        span_from_tokens(tok, text, row["tail"]["kb_id"], tail.token_start, tail.token_end),
        row["relations"], label_source="projected", kb_version=row["kb_version"], pipeline_version=version,
        source_instance_id=row["instance_id"], confidence=min(head.confidence, tail.confidence), aligner=aligner_name)


def merge_target_rows(projected: list[dict], linked: list[dict]) -> tuple[list[dict], int]:
    """Projected rows plus the linked rows whose (head, tail) entity pair no projected row has."""
    covered = {(r["head"]["kb_id"], r["tail"]["kb_id"]) for r in projected}
    kept = [r for r in linked if (r["head"]["kb_id"], r["tail"]["kb_id"]) not in covered]
    return projected + kept, len(linked) - len(kept)


def finish_pair(record: dict, projected: list[dict]):
    """Every output row of one pair: source rows, then merged target rows."""
    merged, superseded = merge_target_rows(projected, record["tgt_instances"])
    count("project.linked_superseded", superseded)
    count("project.projected", len(projected))
    return list(record["src_instances"]) + merged


def _route(record: dict):
    if record["src_instances"]:
        yield beam.pvalue.TaggedOutput(NEEDS_ALIGNMENT, record)
    else:
        yield from finish_pair(record, [])


class _AlignProjectFn(beam.DoFn):
    """One target language: build the aligner, then per batch align and project.

    The aligner is built on the first batch, because it needs the language's CorpusContext (a side input);
    every batch of this ParDo sees the same context (one ParDo and one context per target language)."""

    def __init__(self, spec: aligners.AlignerSpec, build: aligners.Builder, min_confidence: float,
                 kb_config: PipelineConfig, kb_handle: shared.Shared, model_handle: shared.Shared) -> None:
        self.spec, self.build, self.min_confidence = spec, build, min_confidence
        # the KB is acquired under the run's configuration, the key the Link and Label stages load it with
        self.kb_config, self.kb_handle, self.model_handle = kb_config, kb_handle, model_handle

    def setup(self) -> None:
        self.resources = acquire_kb(self.kb_handle, self.kb_config)
        self.version = pipeline_version()
        self.aligner: aligners.RecordAligner | None = None

    def _aliases(self, lang: str, entity: str) -> list[str]:
        return [normalize_text(a, lang) for a in self.resources.kb.aliases.get(lang, {}).get(entity, [])]

    def process(self, batch: list[dict], context: aligners.CorpusContext | None = None):
        if self.aligner is None:
            self.aligner = self.build(self.spec, context or aligners.CorpusContext(),
                                      lambda key, make: self.model_handle.acquire(make, tag=key))
        function_words = context.function_words if context else frozenset()
        alignments = self.aligner.align_records(batch)
        count("project.aligned_pairs", len(batch))
        for record, alignment in zip(batch, alignments, strict=True):
            if isinstance(alignment, str):
                for row in record["src_instances"]:
                    yield beam.pvalue.TaggedOutput(REJECTS, _instance_reject(record, row, "no_alignment", alignment))
                yield from finish_pair(record, [])
                continue
            aliases = partial(self._aliases, record["tgt_lang"])
            rows, rejects = project_instances(record, alignment, self.aligner.name, aliases, version=self.version,
                                              min_confidence=self.min_confidence, function_words=function_words)
            for row in rejects:
                yield beam.pvalue.TaggedOutput(REJECTS, row)
            yield from finish_pair(record, rows)


def in_sample(record: dict, size: int, total: int):
    """The record's token pair when it falls in the hash sample of about ``size`` of ``total`` pairs."""
    if total <= size or unit_hash("prior|" + record["pair_id"]) < size / total:
        yield record["src_tok"]["tokens"], record["tgt_tok"]["tokens"]


class AlignProject(beam.PTransform):
    """Labelled records -> (instance rows without split, rejects).

    Each target language is aligned on its own branch. A hash sample of about ``prior_sample_size`` of
    its pairs gives, once, the :class:`aligners.CorpusContext` every bundle sees as a side input: eflomal
    priors (for eflomal) and the language's function words (for projection). ``build`` makes the aligner
    from the spec and that context (:func:`aligners.build_aligner`; tests pass one that returns a fake).
    """

    def __init__(self, config: PipelineConfig, kb_handle: shared.Shared | None = None,
                 build: aligners.Builder = aligners.build_aligner) -> None:
        super().__init__()
        self.config, self.kb_handle, self.build = config, kb_handle or shared.Shared(), build

    def expand(self, records):
        cfg, langs = self.config, list(self.config.tgt_langs)
        routed = records | "Route" >> beam.FlatMap(_route).with_outputs(NEEDS_ALIGNMENT, main="done")
        by_lang = lambda r, n: langs.index(r["tgt_lang"])  # noqa: E731
        needs = routed[NEEDS_ALIGNMENT] | "ByLang" >> beam.Partition(by_lang, len(langs))
        outputs, rejects = [routed.done], []
        spec = aligners.AlignerSpec.of(cfg)
        for lang, part in zip(langs, needs, strict=True):
            side = {}
            if cfg.prior_sample_size > 0:
                corpus = records | f"Corpus_{lang}" >> beam.Filter(lambda r, t=lang: r["tgt_lang"] == t)
                total = corpus | f"CountPairs_{lang}" >> beam.combiners.Count.Globally()
                context = (
                    corpus
                    | f"SamplePairs_{lang}" >> beam.FlatMap(in_sample, cfg.prior_sample_size,
                                                             beam.pvalue.AsSingleton(total))
                    | f"CollectSample_{lang}" >> beam.combiners.ToList()
                    | f"CorpusContext_{lang}" >> beam.Map(
                        aligners.corpus_context, fit_priors=spec.fits_priors, settings=spec.eflomal)
                )
                side["context"] = beam.pvalue.AsSingleton(context)
            aligned = (
                part
                | f"Batch_{lang}" >> beam.BatchElements(min_batch_size=cfg.align_batch_size,
                                                        max_batch_size=cfg.align_batch_size)
                | f"AlignAndProject_{lang}" >> beam.ParDo(
                    _AlignProjectFn(spec, self.build, cfg.min_projection_confidence, cfg, self.kb_handle,
                                    shared.Shared()), **side
                ).with_outputs(REJECTS, main="rows")
            )
            outputs.append(aligned.rows)
            rejects.append(aligned[REJECTS])
        rows = outputs | "MergeRows" >> beam.Flatten()
        return rows, rejects | "MergeRejects" >> beam.Flatten()
