"""Validate stage: normalise both sides, reject bad pairs with a reason, drop duplicates by pair_id.

Reasons: ``empty_side:{src,tgt}``, ``too_long:{src,tgt}`` (characters), ``wrong_language:{src,tgt}``,
``duplicate_pair`` (same pair_id as an earlier record: the lowest origin is kept).

Language-identification policy (measured on ntrex128, see docs/pipeline.md):

* zh / ja: by script, which is exact and free. A zh side is rejected when kana are at least 10 % of its
  letters (Japanese), or when it has no Han character at all and at least ``langid_min_letters``
  letters; a ja side when it has neither kana nor Han and at least that many letters. Chinese lines
  full of Latin names ("BBC Scotland 的 Alasdair Lamont 在 Tony Macaroni 球场") pass: a share-of-Han
  threshold rejected three such ntrex128 lines.
* other languages: py3langid on the first 200 characters, only when the side has at least
  ``langid_min_letters`` letters (short and name-only lines are never judged), and the side is
  rejected only when another language gets probability >= ``langid_min_prob``.
"""

from __future__ import annotations

import functools

import apache_beam as beam

from alignment.text import is_han, is_kana
from pipelines.deadletter import REJECTS, count, pair_reject, route
from pipelines.normalize import normalize_text
from pipelines.records import BitextPair, Reject

STAGE = "validate"
LANGID_PREFIX = 200


@functools.lru_cache(maxsize=1)
def _identifier():
    from py3langid import langid

    return langid.LanguageIdentifier.from_modelpath(langid.MODEL_DIR / langid.MODEL_FILE, norm_probs=True)


def check_language(text: str, lang: str, min_letters: int = 30, min_prob: float = 0.9) -> str | None:
    """None when ``text`` may be in ``lang`` under the policy above, else a detail string."""
    letters = [ch for ch in text if ch.isalpha()]
    if lang in ("zh", "ja"):
        if not letters:
            return None
        han, kana = sum(map(is_han, letters)), sum(map(is_kana, letters))
        if lang == "zh" and kana >= 0.1 * len(letters):
            return f"script: {kana / len(letters):.0%} kana"
        cjk = han if lang == "zh" else han + kana
        if cjk == 0 and len(letters) >= min_letters:
            return f"script: no {'Han' if lang == 'zh' else 'Han or kana'} in {len(letters)} letters"
        return None
    if len(letters) < min_letters:
        return None
    guess, prob = _identifier().classify(text[:LANGID_PREFIX])
    if guess != lang and prob >= min_prob:
        return f"py3langid: {guess} ({prob:.2f})"
    return None


def validate_pair(pair: BitextPair, max_chars: int = 1000, langid_min_letters: int = 30,
                  langid_min_prob: float = 0.9) -> BitextPair | Reject:
    """The normalised pair, or a reject naming the first failed check."""
    texts = {}
    for side in ("src", "tgt"):
        lang, text = pair.lang(side), normalize_text(pair.text(side), pair.lang(side))
        if not text.strip():
            return pair_reject(STAGE, f"empty_side:{side}", pair)
        if len(text) > max_chars:
            return pair_reject(STAGE, f"too_long:{side}", pair, f"{len(text)} > {max_chars} characters")
        problem = check_language(text, lang, langid_min_letters, langid_min_prob)
        if problem:
            return pair_reject(STAGE, f"wrong_language:{side}", pair, f"declared {lang}, {problem}")
        texts[f"{side}_text"] = text
    return pair._replace(**texts)


def first_of_duplicates(pair_id: str, pairs: list[BitextPair]) -> tuple[BitextPair, list[Reject]]:
    """Keep the pair with the lowest origin; the others become ``duplicate_pair`` rejects."""
    ordered = sorted(pairs, key=lambda r: r.origin)
    keep = ordered[0]
    return keep, [pair_reject(STAGE, "duplicate_pair", r, f"same pair_id as {keep.origin}") for r in ordered[1:]]


class _ValidateFn(beam.DoFn):
    def __init__(self, max_chars: int, langid_min_letters: int, langid_min_prob: float) -> None:
        self.args = (max_chars, langid_min_letters, langid_min_prob)

    def setup(self) -> None:
        _identifier()

    def process(self, pair: BitextPair):
        yield from route(validate_pair(pair, *self.args))


class _DedupeFn(beam.DoFn):
    def process(self, item):
        pair_id, pairs = item
        keep, dupes = first_of_duplicates(pair_id, list(pairs))
        count("validate.accepted")
        yield keep
        for row in dupes:
            yield beam.pvalue.TaggedOutput(REJECTS, row)


class ValidateBitext(beam.PTransform):
    """Bitext pairs -> (normalised unique pairs, rejects)."""

    def __init__(self, max_chars: int = 1000, langid_min_letters: int = 30, langid_min_prob: float = 0.9) -> None:
        super().__init__()
        self.args = (max_chars, langid_min_letters, langid_min_prob)

    def expand(self, records):
        checked = records | "Check" >> beam.ParDo(_ValidateFn(*self.args)).with_output_types(
            BitextPair, **{REJECTS: Reject}).with_outputs(REJECTS, main="ok")
        unique = (
            checked.ok
            | "KeyByPairId" >> beam.Map(lambda r: (r.pair_id, r)).with_output_types(tuple[str, BitextPair])
            | "GroupByPairId" >> beam.GroupByKey()
            | "Dedupe" >> beam.ParDo(_DedupeFn()).with_output_types(BitextPair, **{REJECTS: Reject}).with_outputs(
                REJECTS, main="ok")
        )
        rejects = (checked[REJECTS], unique[REJECTS]) | "MergeRejects" >> beam.Flatten()
        return unique.ok, rejects
