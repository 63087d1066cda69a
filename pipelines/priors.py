"""Stored eflomal priors: fit them once on a corpus, reuse them in later runs (``--priors DIR``).

    python -m pipelines.priors --input 'bitext/*/en-de.jsonl' --input-format jsonl --src-lang en --tgt-lang de \\
        --output priors/en-de
    python -m pipelines.distant_supervision ... --priors priors/en-de

A pipeline run fits its priors on a sample of its own pairs (pipelines.aligners.corpus_context). A run over a
small batch (a nightly span, a small daily job) learns little from its own few thousand pairs and pays eflomal's
small-corpus schedule for that. With ``--priors DIR`` it skips the priors run and aligns every needed pair with
priors fitted once on a larger corpus (one sampler, a full call's iterations): on four gold sets AER as good or
better at 5-15x less eflomal CPU per span (bench/results/reused_priors.md).

The fit reads, validates and tokenizes like the pipeline (same flags: a run's own argv works, flags that only
matter for linking, labelling or writing are accepted and ignored) but only a hash sample of about
``--prior-sample-size`` pairs per target language, taken right after reading.

Layout of DIR: ``<lang>.priors`` per target language (a JSON header line with the function words and the number
of pairs, then eflomal's priors text) and ``priors.json``, written last (a folder without it is incomplete; it
is deleted first when a fit starts): each file's sha256 and pairs, the input files' fingerprints, the config and
the pipeline version.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import time
from collections.abc import Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines import aligners
from pipelines.commit import is_local, join, write_json
from pipelines.config import PipelineConfig, parse_config
from pipelines.deadletter import count
from pipelines.hashing import unit_hash
from pipelines.read import ReadBitext, fingerprint
from pipelines.records import BitextPair, TokenizedPair
from pipelines.resources import pipeline_version
from pipelines.tokenize import TokenizeBitext
from pipelines.validate import ValidateBitext

logger = logging.getLogger(__name__)
MANIFEST = "priors.json"
FORMAT = 1


class PriorsError(ValueError):
    """A priors folder that cannot serve a run (one-line message)."""


def priors_file(root: str, lang: str) -> str:
    return join(root, f"{lang}.priors")


def context_text(context: aligners.CorpusContext, n_pairs: int) -> str:
    """A context as stored: a JSON header line, then eflomal's priors text (empty without priors)."""
    header = {"format": FORMAT, "pairs": n_pairs, "has_priors": context.priors is not None,
              "function_words": sorted(context.function_words)}
    return json.dumps(header, ensure_ascii=False) + "\n" + (context.priors.to_text() if context.priors else "")


def context_from_text(text: str) -> aligners.CorpusContext:
    """The CorpusContext a stored file holds (no links: every needed pair is aligned with the priors)."""
    from alignment.word.eflomal_aligner import EflomalPriors

    first, _, body = text.partition("\n")
    header = json.loads(first)
    if header.get("format") != FORMAT:
        raise PriorsError(f"stored priors of format {header.get('format')!r}, this code reads {FORMAT}")
    priors = EflomalPriors.from_text(body, header["pairs"]) if header["has_priors"] else None
    return aligners.CorpusContext(priors, frozenset(header["function_words"]))


def read_text(path: str) -> str:
    with FileSystems.open(path, compression_type="uncompressed") as handle:
        return handle.read().decode("utf-8")


def load_context(path: str) -> aligners.CorpusContext:
    """The stored context at ``path`` (a Beam FileSystems path): what a run's AlignProject side input holds."""
    return context_from_text(read_text(path))


def read_manifest(root: str) -> dict | None:
    path = join(root, MANIFEST)
    if not FileSystems.exists(path):
        return None
    return json.loads(read_text(path))


def check_priors(root: str, tgt_langs: Sequence[str]) -> dict[str, str]:
    """{target language: stored file} for a run's ``--priors``; PriorsError when the folder is incomplete (no
    priors.json), of another format, or lacks a target language."""
    manifest = read_manifest(root)
    if manifest is None:
        raise PriorsError(f"--priors {root}: no {MANIFEST} (not fitted, or the fit did not finish); fit it with "
                          "'python -m pipelines.priors ... --output DIR'")
    if manifest.get("format") != FORMAT:
        raise PriorsError(f"--priors {root}: format {manifest.get('format')!r}, this code reads {FORMAT}")
    missing = [lang for lang in tgt_langs if lang not in manifest["langs"]]
    if missing:
        raise PriorsError(f"--priors {root}: no priors for {', '.join(missing)} (it has "
                          f"{', '.join(sorted(manifest['langs'])) or 'none'})")
    return {lang: priors_file(root, lang) for lang in tgt_langs}


def sample_pair(pair: BitextPair, size: int, totals: dict[str, int]):
    """The pair when it falls in its target language's hash sample of about ``size`` pairs (the key the pipeline's
    own sample uses, so a pair id is in or out in both)."""
    total = totals.get(pair.tgt_lang, 0)
    if size >= total or unit_hash("prior|" + pair.pair_id) < size / total:
        count("priors.sampled")
        yield pair


def sample_of(record: TokenizedPair) -> aligners.SamplePair:
    src, tgt = record.token_pair()
    return aligners.SamplePair(record.pair.pair_id, tuple(src), tuple(tgt), False)


def write_context(sample: list[aligners.SamplePair], lang: str, root: str,
                  settings: aligners.EflomalSettings) -> tuple[str, int]:
    """Fit the language's context on its sample and store it; (lang, pairs)."""
    context = aligners.context_of_sample(sample, fit_priors=True, settings=settings, lang=lang)
    with FileSystems.create(priors_file(root, lang), mime_type="text/plain") as handle:
        handle.write(context_text(context, len(sample)).encode("utf-8"))
    return lang, len(sample)


class FitPriors(beam.PTransform):
    """Read -> hash sample per target language -> Validate -> Tokenize -> per language one eflomal priors run,
    stored as ``<root>/<lang>.priors``; output: (lang, pairs) per language."""

    def __init__(self, config: PipelineConfig, root: str) -> None:
        super().__init__()
        self.config, self.root = config, root

    def expand(self, pbegin):
        c = self.config
        records, _, _ = pbegin | "Read" >> ReadBitext(c.inputs, c.input_format, c.src_lang, c.tgt_langs)
        totals = records | "ByLang" >> beam.Map(lambda r: (r.tgt_lang, 1)) | "CountByLang" >> beam.CombinePerKey(sum)
        sampled = records | "Sample" >> beam.FlatMap(sample_pair, c.prior_sample_size, beam.pvalue.AsDict(totals))
        valid, _ = sampled | "Validate" >> ValidateBitext(c.max_chars, c.langid_min_letters, c.langid_min_prob)
        tokenized, _ = valid | "Tokenize" >> TokenizeBitext(c.langs, c.max_tokens)
        settings = aligners.EflomalSettings.of(c)
        fitted = []
        for lang in c.tgt_langs:
            fitted.append(
                tokenized
                | f"Only_{lang}" >> beam.Filter(lambda r, t=lang: r.pair.tgt_lang == t)
                | f"SamplePairs_{lang}" >> beam.Map(sample_of)
                | f"Collect_{lang}" >> beam.combiners.ToList()
                | f"Fit_{lang}" >> beam.Map(write_context, lang, self.root, settings))
        return fitted | "Fitted" >> beam.Flatten()


def fit(config: PipelineConfig, beam_args: Sequence[str] = ()) -> dict:
    """Fit and store the priors of ``config.inputs`` in ``config.output``; return the manifest (also written)."""
    from pipelines.distant_supervision import counter_totals, input_paths, make_pipeline

    started = time.monotonic()
    root = config.output
    if FileSystems.exists(join(root, MANIFEST)):  # the folder is incomplete until this fit writes it again
        FileSystems.delete([join(root, MANIFEST)])
    if is_local(root):
        os.makedirs(root, exist_ok=True)
    p = make_pipeline(PipelineOptions(flags=list(beam_args)))
    _ = p | "FitPriors" >> FitPriors(config, root)
    result = p.run()
    result.wait_until_finish()
    langs = {}
    for lang in config.tgt_langs:
        text = read_text(priors_file(root, lang))
        langs[lang] = {"file": f"{lang}.priors", "pairs": json.loads(text.partition("\n")[0])["pairs"],
                       "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()}
    local = all(is_local(p) for pattern in config.inputs for p in pattern.split(","))
    manifest = {"format": FORMAT, "langs": langs, "config": json.loads(config.to_json()),
                "inputs": [fingerprint(path) for path in input_paths(config)] if local else list(config.inputs),
                "pipeline_version": pipeline_version(), "seconds": round(time.monotonic() - started, 1),
                # a fit keeps no records: read.pairs (all read), priors.sampled, and validate.accepted and
                # tokenize.accepted (of the sample) say how many sampled pairs were rejected before the fit
                "counters": counter_totals(result)}
    write_json(join(root, MANIFEST), manifest)
    logger.info("priors for %s in %s (%s pairs) in %.1f s", ", ".join(config.tgt_langs), root,
                ", ".join(str(v["pairs"]) for v in langs.values()), manifest["seconds"])
    return manifest


def main(argv: Sequence[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    logging.getLogger("pipelines").setLevel(logging.DEBUG if "-v" in argv or "--verbose" in argv else logging.INFO)
    config, beam_args = parse_config(argv, needs_kb=False)
    try:
        fit(config, beam_args)
    except (FileNotFoundError, PriorsError) as err:
        if "-v" in argv or "--verbose" in argv:
            raise
        sys.exit(f"xds-priors: {err}")


if __name__ == "__main__":
    main()
