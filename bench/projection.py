"""Entity-span projection EN -> DE/ES/IT on europarl-ner-parallel against the gold target spans.

The English gold NER spans are projected through eflomal alignments (trained on the 799 test pairs,
without their tags, plus all other bitext in ../shared/data for the pair) and compared with the gold
spans of the target language: exact match of (sentence, start, end, type), the type carried over.

    python -m bench.projection                   # DE, ES, IT, the baseline and the full method
    python -m bench.projection --langs it --errors 20
"""

from __future__ import annotations

import argparse
import time

from alignment.benchdata import SHARED, bio_spans, extra_bitext, read_conll_sentences
from alignment.core import WordAlignment
from alignment.eflomal_aligner import EflomalAligner, EflomalConfig
from alignment.evaluate import span_prf_exact, span_prf_overlap
from alignment.projection import ProjectedSpan, project_span

BASELINE = EflomalConfig(symmetrization="grow-diag-final-and", prefix_len=0, anchor_weight=0.0)
TUNED = EflomalConfig()


def first_last(span: tuple[int, int], alignment: WordAlignment) -> tuple[int, int] | None:
    """The measured baseline: first..last target token aligned to any token of the span."""
    targets = sorted({j for i, j in alignment.links if span[0] <= i < span[1]})
    return (targets[0], targets[-1] + 1) if targets else None


def load(lang: str):
    folder = SHARED / "europarl-ner-parallel"
    en = read_conll_sentences(folder / "en-europarl.test.conll02")
    xx = read_conll_sentences(folder / f"{lang}-europarl.test.conll02")
    pairs = [([t for t, _ in a], [t for t, _ in b]) for a, b in zip(en, xx, strict=True)]
    src_spans = [bio_spans([tag for _, tag in a]) for a in en]
    gold = {(k, s, e, kind) for k, b in enumerate(xx) for s, e, kind in bio_spans([tag for _, tag in b])}
    return pairs, src_spans, gold


_CACHE: dict[tuple, tuple[list[WordAlignment], float, int]] = {}


def aligned(lang: str, pairs, config: EflomalConfig, extra: bool) -> tuple[list[WordAlignment], float, int]:
    """Alignments of the 799 pairs (trained with the extra bitext if asked), seconds, training size; memoised."""
    key = (lang, config, extra)
    if key not in _CACHE:
        training = pairs + (extra_bitext("en", lang, europarl=False) if extra else [])
        started = time.perf_counter()
        alignments = EflomalAligner(config).align(training)[: len(pairs)]
        _CACHE[key] = (alignments, time.perf_counter() - started, len(training))
    return _CACHE[key]


def evaluate(lang: str, config: EflomalConfig, extra: bool, full: bool, errors: int) -> dict[str, float]:
    pairs, src_spans, gold = load(lang)
    alignments, seconds, n_training = aligned(lang, pairs, config, extra)
    predicted = set()
    for k, ((src, tgt), alignment) in enumerate(zip(pairs, alignments, strict=True)):
        for s, e, kind in src_spans[k]:
            if full:
                result = project_span((s, e), alignment, src, tgt)
                region = (result.token_start, result.token_end) if isinstance(result, ProjectedSpan) else None
            else:
                region = first_last((s, e), alignment)
            if region is not None:
                predicted.add((k, region[0], region[1], kind))
    for k, s, e, kind in sorted(predicted - gold)[:errors]:
        src, tgt = pairs[k]
        print(f"  wrong {kind}: {' '.join(tgt[s:e])!r}  gold: "
              f"{[' '.join(tgt[a:b]) for kk, a, b, _ in gold if kk == k]}")
    exact, overlap = span_prf_exact(predicted, gold), span_prf_overlap(predicted, gold)
    return {"exact P": exact.precision, "exact R": exact.recall, "exact F1": exact.f1,
            "overlap F1": overlap.f1, "align s": seconds, "train pairs": n_training}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--langs", nargs="*", default=["de", "es", "it"])
    parser.add_argument("--errors", type=int, default=0, help="print this many wrong projections per run")
    parser.add_argument("--only-final", action="store_true", help="skip the baseline and intermediate rows")
    args = parser.parse_args()
    rows = [
        ("baseline: 799 pairs, gdfa, first/last", BASELINE, False, False),
        ("+ bitext, prefix-4, anchors, first/last", TUNED, True, False),
        ("+ projection: gap-3 clusters, punctuation/case repair, look-alike confirmation", TUNED, True, True),
    ]
    if args.only_final:
        rows = rows[-1:]
    print("| lang | variant | exact P | exact R | exact F1 | overlap F1 | train pairs | align s |")
    print("|---|---|---|---|---|---|---|---|")
    for lang in args.langs:
        for label, config, extra, full in rows:
            m = evaluate(lang, config, extra, full, args.errors)
            print(f"| {lang} | {label} | {m['exact P']:.3f} | {m['exact R']:.3f} | {m['exact F1']:.3f} | "
                  f"{m['overlap F1']:.3f} | {m['train pairs']} | {m['align s']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
