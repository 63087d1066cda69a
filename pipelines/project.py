"""Align+Project stage: word-align the pairs that have source instances and project those instances.

Every source instance either gets its target twin (label_source 'projected', with aligner and
projection_confidence = the lower of head and tail) or a dead-letter row ``project/<reason>``:
the ProjectionFailure reason of the head or tail (``head:unaligned``...), ``overlapping_projection``,
``duplicate_projection`` (two source instances landing on the same target spans), or ``no_alignment``.

A pair whose head or tail is left ``unaligned`` is aligned a second time, with the priors, in calls grouped like
the remaining pairs' (eflomal and hybrid, with priors, unless ``realign_unaligned`` is off); each span the first
links left unaligned is then projected through the second links (docs/alignment.md, "Second pass for unaligned
entities").

Target-linked instances (label_source 'linked') are kept too, except when a projected instance has the
same (head entity, tail entity) in the same target sentence: then only the projected row is kept (it
carries the lineage, source_instance_id, and the aligner) and the linked one is counted as
``project.linked_superseded``. Pairs without source instances skip the aligner.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from functools import partial

import apache_beam as beam
from apache_beam.utils import shared

from alignment.projection.scoring import entity_function_words
from alignment.projection.span import ProjectionFailure, project_span
from alignment.word.core import WordAlignment
from pipelines import aligners
from pipelines.deadletter import REJECTS, count, reject
from pipelines.hashing import unit_hash
from pipelines.normalize import normalize_text
from pipelines.priors import load_context
from pipelines.records import LabelledPair, Reject, ShardRow, make_row, span_from_tokens
from pipelines.resources import KBSpec, acquire_kb, pipeline_version
from pipelines.tokenize import APOSTROPHE_SUFFIX_LANGS, stop_words

STAGE = "project"
NEEDS_ALIGNMENT = "needs_alignment"
REMAINING = "remaining"
REALIGN = "realign"
UNALIGNED = "unaligned"


def _instance_reject(record: LabelledPair, row: ShardRow, reason: str, detail: str = "") -> Reject:
    pair = record.tokenized.pair
    return reject(STAGE, reason, detail, origin=pair.origin, pair_id=pair.pair_id, instance_id=row.instance_id,
                  raw={"head": row.head.surface, "tail": row.tail.surface})


def project_instances(record: LabelledPair, alignment: WordAlignment, aligner_name: str,
                      tgt_aliases: Callable[[str], Sequence[str]], *, min_confidence: float = 0.0, version: str = "",
                      function_words: frozenset[str] = frozenset(),
                      src_function_words: frozenset[str] = frozenset(),
                      second: WordAlignment | None = None) -> tuple[list[ShardRow], list[Reject]]:
    """(projected target rows, rejects) for the source instances of ``record``.

    ``function_words``: the target language's frequent short words, trimmed from projected span edges
    (see :func:`pipelines.aligners.corpus_context`); ``src_function_words``: the source language's stop
    words (a source mention made of them is projected without trimming; see ``project_span``). ``second``: links
    of a second alignment, through which a span ``alignment`` leaves unaligned is projected."""
    src, tgt = record.tokenized.token_pair()
    rows, rejects, seen = [], [], set()
    for row in record.src_instances:
        spans = {}
        for role in ("head", "tail"):
            mention = getattr(row, role)
            aliases = tgt_aliases(mention.kb_id)
            project = partial(project_span, (mention.token_start, mention.token_end), src_tokens=src,
                              tgt_tokens=tgt, tgt_aliases=aliases, min_confidence=min_confidence,
                              function_words=entity_function_words(function_words, aliases),
                              src_function_words=src_function_words,
                              apostrophe_suffixes=record.tokenized.pair.tgt_lang in APOSTROPHE_SUFFIX_LANGS)
            result = project(alignment=alignment)
            if second is not None and isinstance(result, ProjectionFailure) and result.reason == UNALIGNED:
                result = project(alignment=second)
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
        if new.instance_id in seen:
            rejects.append(_instance_reject(record, row, "duplicate_projection", "same target spans as another"))
            continue
        seen.add(new.instance_id)
        rows.append(new)
    return rows, rejects


def _projected_row(record: LabelledPair, row: ShardRow, head, tail, aligner_name: str, version: str) -> ShardRow:
    tok, text = record.tokenized.tgt_tok, record.tokenized.pair.tgt_text
    return make_row(
        record.tokenized, "tgt",
        span_from_tokens(tok, text, row.head.kb_id, head.token_start, head.token_end),
        span_from_tokens(tok, text, row.tail.kb_id, tail.token_start, tail.token_end),
        row.relations, label_source="projected", kb_version=row.kb_version, pipeline_version=version,
        source_instance_id=row.instance_id, confidence=min(head.confidence, tail.confidence), aligner=aligner_name)


def merge_target_rows(projected: Sequence[ShardRow], linked: Sequence[ShardRow]) -> tuple[list[ShardRow], int]:
    """Projected rows plus the linked rows whose (head, tail) entity pair no projected row has."""
    covered = {(r.head.kb_id, r.tail.kb_id) for r in projected}
    kept = [r for r in linked if (r.head.kb_id, r.tail.kb_id) not in covered]
    return [*projected, *kept], len(linked) - len(kept)


def finish_pair(record: LabelledPair, projected: list[ShardRow]) -> list[ShardRow]:
    """Every output row of one pair: source rows, then merged target rows."""
    merged, superseded = merge_target_rows(projected, record.tgt_instances)
    count("project.linked_superseded", superseded)
    count("project.projected", len(projected))
    return [*record.src_instances, *merged]


def _route(record: LabelledPair):
    if record.src_instances:
        yield beam.pvalue.TaggedOutput(NEEDS_ALIGNMENT, record)
    else:
        yield from finish_pair(record, [])


def _unaligned(rejects: Sequence[Reject]) -> bool:
    """Whether a head or tail was left without links (``head:unaligned``, ``tail:unaligned``)."""
    return any(r.reason.endswith(":" + UNALIGNED) for r in rejects)


class _AlignProjectFn(beam.DoFn):
    """One target language: build the aligner, then per batch align and project. With ``realign``, a pair that
    leaves a head or tail unaligned goes to the REALIGN output instead, as (record, its links, rows projected).

    The aligner is built on the first batch, because it needs the language's CorpusContext (a side input);
    every batch of this ParDo sees the same context (one ParDo and one context per target language)."""

    def __init__(self, spec: aligners.AlignerSpec, build: aligners.Builder, min_confidence: float,
                 kb: KBSpec, kb_handle: shared.Shared, model_handle: shared.Shared, realign: bool = False) -> None:
        self.spec, self.build, self.min_confidence, self.realign = spec, build, min_confidence, realign
        # the KB is acquired under the spec and handle the Link and Label stages load it with: one copy per worker
        self.kb, self.kb_handle, self.model_handle = kb, kb_handle, model_handle

    def setup(self) -> None:
        self.resources = acquire_kb(self.kb_handle, self.kb)
        self.version = pipeline_version()
        self.aligner: aligners.RecordAligner | None = None

    def _aliases(self, lang: str, entity: str) -> list[str]:
        return [normalize_text(a, lang) for a in self.resources.kb.aliases.get(lang, {}).get(entity, [])]

    def _context(self, context: aligners.CorpusContext | None) -> aligners.CorpusContext:
        return context or aligners.CorpusContext()

    def _build(self, context: aligners.CorpusContext | None) -> aligners.RecordAligner:
        if self.aligner is None:
            self.aligner = self.build(self.spec, self._context(context),
                                      lambda key, make: self.model_handle.acquire(make, tag=key))
        return self.aligner

    def _project(self, record: LabelledPair, alignment: WordAlignment, context: aligners.CorpusContext | None,
                 second: WordAlignment | None = None) -> tuple[list[ShardRow], list[Reject]]:
        aliases = partial(self._aliases, record.tokenized.pair.tgt_lang)
        return project_instances(record, alignment, self.aligner.name, aliases, version=self.version,
                                 min_confidence=self.min_confidence,
                                 function_words=context.function_words if context else frozenset(),
                                 src_function_words=stop_words(record.tokenized.pair.src_lang), second=second)

    @staticmethod
    def _emit(record: LabelledPair, rows: list[ShardRow], rejects: list[Reject]):
        for row in rejects:
            yield beam.pvalue.TaggedOutput(REJECTS, row)
        yield from finish_pair(record, rows)

    def process(self, batch: list[LabelledPair], context: aligners.CorpusContext | None = None):
        alignments = self._build(context).align_records(batch)
        count("project.aligned_pairs", len(batch))
        for record, alignment in zip(batch, alignments, strict=True):
            if isinstance(alignment, str):
                for row in record.src_instances:
                    yield beam.pvalue.TaggedOutput(REJECTS, _instance_reject(record, row, "no_alignment", alignment))
                yield from finish_pair(record, [])
                continue
            rows, rejects = self._project(record, alignment, context)
            if self.realign and _unaligned(rejects):
                yield beam.pvalue.TaggedOutput(REALIGN, (record, alignment, len(rows)))
                continue
            yield from self._emit(record, rows, rejects)


def without_links(context: aligners.CorpusContext) -> aligners.CorpusContext:
    """The context without the priors run's links: the second pass aligns every pair it gets (a smaller side
    input, too)."""
    return dataclasses.replace(context, links={})


class _RealignProjectFn(_AlignProjectFn):
    """The second pass: one call's (record, first links, rows projected) from _AlignProjectFn's REALIGN output,
    aligned again with the priors but without the priors run's links; each span the first links left unaligned
    is projected through the new ones."""

    def _context(self, context: aligners.CorpusContext | None) -> aligners.CorpusContext:
        return without_links(context or aligners.CorpusContext())

    def process(self, batch: list[tuple[LabelledPair, WordAlignment, int]],
                context: aligners.CorpusContext | None = None):
        second = self._build(context).align_records([record for record, _, _ in batch])
        count("project.realigned_pairs", len(batch))
        for (record, first, before), links in zip(batch, second, strict=True):
            rows, rejects = self._project(record, first, context, None if isinstance(links, str) else links)
            count("project.realign_projected", len(rows) - before)
            yield from self._emit(record, rows, rejects)


def in_sample(record: LabelledPair, size: int, total: int, needed: int = 0):
    """The record's :class:`aligners.SamplePair` when it falls in the prior sample of about ``size`` of ``total``
    pairs: the ``needed`` pairs that have source instances first (all of them when they fit, else a hash sample
    of ``size`` of them), the others hash-sampled to fill the rest."""
    needs = bool(record.src_instances)
    taken = min(needed, size)
    rate = taken / needed if needs else (size - taken) / max(total - needed, 1)
    if rate >= 1 or unit_hash("prior|" + record.tokenized.pair.pair_id) < rate:
        src, tgt = record.tokenized.token_pair()
        yield aligners.SamplePair(record.tokenized.pair.pair_id, tuple(src), tuple(tgt), needs)


def split_known(record: LabelledPair, context: aligners.CorpusContext | None = None):
    """The record (main output) when the priors run aligned its pair, else tagged REMAINING."""
    if context is None or aligners.pair_key(record.tokenized.token_pair()) not in context.links:
        yield beam.pvalue.TaggedOutput(REMAINING, record)
    else:
        yield record


def call_count(needed: int, batch_size: int, context: aligners.CorpusContext | None = None) -> int:
    """How many eflomal calls the needed pairs the priors run did not align take, at about ``batch_size`` each."""
    known = len(context.links) if context else 0
    return max(1, math.ceil(max(needed - known, 0) / batch_size))


def _pair_id(item: LabelledPair | tuple) -> str:
    """The pair id of a record, or of a REALIGN item (record, first links, rows projected)."""
    return (item if isinstance(item, LabelledPair) else item[0]).tokenized.pair.pair_id


def call_of(item: LabelledPair | tuple, calls: int) -> tuple[int, LabelledPair | tuple]:
    """(call number by a hash of the pair id, item): the key that groups the remaining pairs (records) and the
    second pass's pairs (REALIGN items) into calls."""
    return int(unit_hash("call|" + _pair_id(item)) * calls), item


def _call_records(_: int, items) -> list:
    """One call's items in pair-id order: the same input order on every run (a seeded eflomal repeats itself)."""
    return sorted(items, key=_pair_id)


def _tgt_lang(record: LabelledPair) -> str:
    return record.tokenized.pair.tgt_lang


class AlignProject(beam.PTransform):
    """Labelled pairs -> (instance rows without split, rejects).

    Each target language of ``tgt_langs`` is aligned on its own branch. A sample of about ``prior_sample_size``
    of its pairs (0: none), the pairs with source instances first, gives, once, the :class:`aligners.CorpusContext`
    every bundle sees as a side input: eflomal priors and the links of the sampled pairs that need them (for
    eflomal: one run, :func:`aligners.context_of_sample`) and the language's function words (for projection).
    Needed pairs without links from that run are aligned in calls of up to ``batch_size`` pairs. With
    ``realign_unaligned`` (eflomal and hybrid with priors), the pairs that leave a head or tail unaligned are
    aligned once more, with the priors but not the priors run's links, in calls grouped the same way, and their
    unaligned spans projected through those links. ``stored_priors`` ({lang: file} of pipelines.priors): those
    languages' contexts are read from the files instead (no priors run, no links; the second pass as above). ``build``
    makes the aligner from ``aligner`` and that context (:func:`aligners.build_aligner`; tests pass one that
    returns a fake). ``kb`` (and ``kb_handle``, shared with the Link and Label stages) gives the target aliases
    projection looks for.
    """

    def __init__(self, tgt_langs: Sequence[str], aligner: aligners.AlignerSpec, kb: KBSpec, *,
                 batch_size: int = 16384, prior_sample_size: int = 16384, min_confidence: float = 0.0,
                 kb_handle: shared.Shared | None = None, build: aligners.Builder = aligners.build_aligner,
                 realign_unaligned: bool = True, stored_priors: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self.langs, self.spec, self.kb = list(tgt_langs), aligner, kb
        self.batch_size, self.prior_sample_size, self.min_confidence = batch_size, prior_sample_size, min_confidence
        self.kb_handle, self.build = kb_handle or shared.Shared(), build
        self.stored = dict(stored_priors or {})
        # without priors a second call would be the first one again; with stored priors it is a call over fewer
        # pairs, which samples differently (on real news it brought the projected share from 0.896 back to 0.923)
        self.realign = realign_unaligned and aligner.fits_priors and (prior_sample_size > 0 or bool(self.stored))

    def expand(self, records):
        langs, spec = self.langs, self.spec
        routed = records | "Route" >> beam.FlatMap(_route).with_output_types(
            ShardRow, **{NEEDS_ALIGNMENT: LabelledPair}).with_outputs(NEEDS_ALIGNMENT, main="done")
        by_lang = lambda r, n: langs.index(_tgt_lang(r))  # noqa: E731
        needs = routed[NEEDS_ALIGNMENT] | "ByLang" >> beam.Partition(by_lang, len(langs))
        outputs, rejects = [routed.done], []
        for lang, part in zip(langs, needs, strict=True):
            side, realign_side = {}, {}
            needed = part | f"CountNeeded_{lang}" >> beam.combiners.Count.Globally()
            if lang in self.stored:  # read on the workers: the path may be on any Beam file system
                side["context"] = beam.pvalue.AsSingleton(
                    records.pipeline | f"StoredPriorsPath_{lang}" >> beam.Create([self.stored[lang]])
                    | f"StoredPriors_{lang}" >> beam.Map(load_context))
                realign_side["context"] = side["context"]
            elif self.prior_sample_size > 0:
                corpus = records | f"Corpus_{lang}" >> beam.Filter(lambda r, t=lang: _tgt_lang(r) == t)
                total = corpus | f"CountPairs_{lang}" >> beam.combiners.Count.Globally()
                context = (
                    corpus
                    | f"SamplePairs_{lang}" >> beam.FlatMap(in_sample, self.prior_sample_size,
                                                             beam.pvalue.AsSingleton(total),
                                                             beam.pvalue.AsSingleton(needed))
                    | f"CollectSample_{lang}" >> beam.combiners.ToList()
                    | f"CorpusContext_{lang}" >> beam.Map(
                        aligners.context_of_sample, fit_priors=spec.fits_priors, settings=spec.eflomal, lang=lang)
                )
                side["context"] = beam.pvalue.AsSingleton(context)
                if self.realign:  # the second pass needs the priors, not the priors run's links
                    realign_side["context"] = beam.pvalue.AsSingleton(
                        context | f"RealignContext_{lang}" >> beam.Map(without_links))
            model_handle = shared.Shared()  # the hybrid aligner's encoder, one copy for both passes
            tags = {REJECTS: Reject, REALIGN: tuple} if self.realign else {REJECTS: Reject}
            aligned = (
                self._batches(lang, part, needed, side)
                | f"AlignAndProject_{lang}" >> beam.ParDo(
                    _AlignProjectFn(spec, self.build, self.min_confidence, self.kb, self.kb_handle, model_handle,
                                    self.realign),
                    **side,
                ).with_output_types(ShardRow, **tags).with_outputs(*tags, main="rows")
            )
            outputs.append(aligned.rows)
            rejects.append(aligned[REJECTS])
            if self.realign:
                again = self._realigned(lang, aligned[REALIGN], model_handle, realign_side)
                outputs.append(again.rows)
                rejects.append(again[REJECTS])
        rows = outputs | "MergeRows" >> beam.Flatten()
        return rows, rejects | "MergeRejects" >> beam.Flatten()

    def _realigned(self, lang: str, items, model_handle: shared.Shared, side: dict):
        """The second pass over the REALIGN items, in calls of about ``batch_size`` grouped by pair id (so their
        size does not depend on bundles either): rows and rejects."""
        calls = (items | f"CountRealign_{lang}" >> beam.combiners.Count.Globally()
                 | f"RealignCalls_{lang}" >> beam.Map(call_count, self.batch_size))
        return (
            items
            | f"RealignCallOf_{lang}" >> beam.Map(call_of, beam.pvalue.AsSingleton(calls))
            | f"GroupRealign_{lang}" >> beam.GroupByKey()
            | f"RealignPairs_{lang}" >> beam.MapTuple(_call_records)
            | f"RealignAndProject_{lang}" >> beam.ParDo(
                _RealignProjectFn(self.spec, self.build, self.min_confidence, self.kb, self.kb_handle, model_handle),
                **side,
            ).with_output_types(ShardRow, **{REJECTS: Reject}).with_outputs(REJECTS, main="rows")
        )

    def _batches(self, lang: str, part, needed, side: dict):
        """The lists of needed records the aligner gets. eflomal: the records the priors run aligned in batches of
        any size (no eflomal call), the others grouped by a hash of their pair id into full-size calls, so a call's
        size never depends on the runner's bundles. Other aligners: batches as the bundles allow."""
        batch = beam.BatchElements(min_batch_size=self.batch_size, max_batch_size=self.batch_size)
        if not self.spec.fits_priors:
            return part | f"Batch_{lang}" >> batch
        split = part | f"SplitKnown_{lang}" >> beam.FlatMap(split_known, **side).with_outputs(REMAINING, main="known")
        calls = needed | f"Calls_{lang}" >> beam.Map(call_count, self.batch_size, **side)
        rest = (split[REMAINING]
                | f"CallOf_{lang}" >> beam.Map(call_of, beam.pvalue.AsSingleton(calls))
                | f"GroupCalls_{lang}" >> beam.GroupByKey()
                | f"CallPairs_{lang}" >> beam.MapTuple(_call_records))
        return (split.known | f"BatchKnown_{lang}" >> batch, rest) | f"Batches_{lang}" >> beam.Flatten()
