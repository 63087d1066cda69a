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

py3langid runs through :class:`FastLanguageIdentifier`, which gives bit-identical scores at about twice
the speed (its docstring; ``tests/test_pipeline_validate_langid.py`` compares it with py3langid's own).
"""

from __future__ import annotations

import functools
import logging
import threading

import apache_beam as beam
import numpy as np
from py3langid import langid

from alignment.text import is_han, is_kana
from pipelines.deadletter import REJECTS, count, pair_reject, route
from pipelines.normalize import normalize_text
from pipelines.records import BitextPair, Reject

logger = logging.getLogger(__name__)

STAGE = "validate"
LANGID_PREFIX = 200


def walk_feature_counts(data: np.ndarray, nextmove: np.ndarray, rowbase: np.ndarray, output: np.ndarray,
                        scratch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """py3langid's ``visit_counts`` DFA walk over the bytes ``data``, as the two arrays its ``_sparse_score``
    builds from the Counter: feature ids in first-visit order (the Counter's key order) and their counts as
    float32. Compiled by numba (:func:`_compiled_walk`); ``scratch`` is a zeroed int64 array with one slot per
    feature and is left zeroed again."""
    order = np.empty(len(data), dtype=np.intp)
    n_seen, state = 0, 0
    for letter in data:
        state = nextmove[rowbase[state] + letter]
        feature = output[state]
        if feature >= 0:
            if scratch[feature] == 0:
                order[n_seen] = feature
                n_seen += 1
            scratch[feature] += 1
    features = order[:n_seen].copy()
    counts = np.empty(n_seen, dtype=np.float32)
    for k in range(n_seen):
        counts[k] = scratch[features[k]]
        scratch[features[k]] = 0
    return features, counts


@functools.cache
def _compiled_walk():
    import numba

    # The GIL stays held (no nogil): a thread's call never overlaps another's, though each thread has its own
    # scratch anyway. cache=True keeps the compiled code beside the module (or numba's user cache when that is
    # read-only), so a worker compiles once (~0.8 s CPU), not per process start.
    try:
        return numba.njit(cache=True)(walk_feature_counts)
    except RuntimeError as err:  # numba: "cannot cache function ...: no locator available" (read-only disk)
        logger.info("numba cannot cache the language-id walk (%s); compiling it in this process", err)
        return numba.njit(walk_feature_counts)


class FastLanguageIdentifier(langid.LanguageIdentifier):
    """py3langid's identifier with the same arithmetic and two costs removed (bit-identical scores):

    * the byte-wise DFA walk and Counter, pure Python in py3langid (~30 % of a classify), run compiled by
      numba (:func:`walk_feature_counts`);
    * the model's float16 feature table is widened to float32 once at load instead of per call: numpy's
      float16 -> float32 cast of the gathered rows was ~40 % of a classify. The widening is exact and the
      product then runs through the same float32 matmul kernel on the same values, so the scores are the same
      bits; it costs 28 MB more memory (57 MB table instead of 28 MB).
    """

    __slots__ = ("_arrays", "_local")

    def __init__(self, nb_ptc, *args, **kwargs) -> None:
        super().__init__(np.asarray(nb_ptc, dtype=np.float32), *args, **kwargs)
        itemsize = {2: np.uint16, 4: np.uint32, 8: np.uint64}
        self._arrays = (np.frombuffer(self.tk_nextmove, dtype=itemsize[self.tk_nextmove.itemsize]),
                        np.asarray(self._rowbase, dtype=np.int64), np.asarray(self.tk_output, dtype=np.int64))
        self._local = threading.local()

    def _raw_score(self, text: bytes) -> np.ndarray:
        """Same as py3langid's ``_raw_score`` (walk, then ``log1p(counts) @ table[features] + pc``)."""
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = np.zeros(len(self._full_model[0]), dtype=np.int64)
        features, counts = _compiled_walk()(np.frombuffer(text, dtype=np.uint8), *self._arrays, scratch)
        if len(features):
            return np.log1p(counts) @ self.nb_ptc[features] + self.nb_pc
        fill = 0.0 if self._norm_probs else langid.RAW_FLOOR
        return np.full(len(self.nb_classes), fill, dtype=np.float32)


@functools.lru_cache(maxsize=1)
def _identifier() -> FastLanguageIdentifier:
    identifier = FastLanguageIdentifier.from_modelpath(langid.MODEL_DIR / langid.MODEL_FILE, norm_probs=True)
    identifier.classify("warm up")  # compile the walk now (setup), not inside the first bundle
    return identifier


def check_language(text: str, lang: str, min_letters: int = 30, min_prob: float = 0.9,
                   identifier: langid.LanguageIdentifier | None = None) -> str | None:
    """None when ``text`` may be in ``lang`` under the policy above, else a detail string. ``identifier``:
    py3langid's (normalised probabilities) instead of :func:`_identifier` (bench/stage_speed.py compares)."""
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
    guess, prob = (identifier or _identifier()).classify(text[:LANGID_PREFIX])
    if guess != lang and prob >= min_prob:
        return f"py3langid: {guess} ({prob:.2f})"
    return None


def validate_pair(pair: BitextPair, max_chars: int = 1000, langid_min_letters: int = 30,
                  langid_min_prob: float = 0.9, identifier: langid.LanguageIdentifier | None = None,
                  ) -> BitextPair | Reject:
    """The normalised pair, or a reject naming the first failed check."""
    texts = {}
    for side in ("src", "tgt"):
        lang, text = pair.lang(side), normalize_text(pair.text(side), pair.lang(side))
        if not text.strip():
            return pair_reject(STAGE, f"empty_side:{side}", pair)
        if len(text) > max_chars:
            return pair_reject(STAGE, f"too_long:{side}", pair, f"{len(text)} > {max_chars} characters")
        problem = check_language(text, lang, langid_min_letters, langid_min_prob, identifier)
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
