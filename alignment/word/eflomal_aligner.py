"""Statistical word alignment with eflomal (Östling & Tiedemann 2016), with priors and symmetrisation.

Usage in a parallel pipeline: ``priors = fit_priors(corpus_or_sample, config)`` once, broadcast the
(small, picklable) :class:`EflomalPriors`, then ``EflomalAligner(config, priors).align(bundle)`` per
bundle. eflomal only reads and writes files; this module hides the temporary files. The priors are
eflomal's own (``eflomal.calculate_priors``/``write_priors``/``read_priors``): lexical counts,
HMM jump counts and fertility counts from a forward and a reverse run.
"""

from __future__ import annotations

import functools
import io
import logging
import math
import os
import re
import subprocess
import tempfile
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import eflomal

from alignment.word.core import Link, TokenPair, WordAlignment
from alignment.word.lookalike import lookalike_counts
from alignment.word.symmetrize import METHODS, symmetrize

logger = logging.getLogger(__name__)

EFLOMAL_MAX_TOKENS = 1024
_ABBREVIATIONS = {
    "intersection": "inter", "union": "union", "grow-diag": "gd", "grow-diag-final": "gdf",
    "grow-diag-final-and": "gdfa", "forward": "fwd", "reverse": "rev",
}
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class EflomalConfig:
    """Settings of one eflomal run (the same for every language pair: nothing is tuned per test set).

    Defaults are the best average over the five gold sets of ``bench/aer.py`` (docs/alignment.md).

    ``prefix_len`` truncates every (lower-cased) word to its first N characters for the statistical
    model only (light stemming; 0 = off). eflomal always lower-cases. ``rel_iterations`` scales
    eflomal's default sampler iterations; ``n_iterations`` (IBM1, HMM, fertility) overrides it.
    ``lookalike_weight`` > 0 adds, for the pairs being aligned, lexical priors of that weight for identical
    and look-alike word pairs (names, numbers, cognates; similarity >= ``lookalike_min_similarity``;
    see :mod:`alignment.word.lookalike`).
    ``parallel_directions`` runs the forward and reverse models as two eflomal processes at once (one
    process does them one after the other, on one core with ``n_samplers=1``): 1.7x faster on 2 cores.
    ``runs`` > 1 makes that many independent eflomal runs and keeps, per direction, the links a majority
    of them found (before symmetrisation): 3 runs lowered AER on RO-EN from 0.302 (mean of 5 single runs)
    to 0.296 and on EN-FR from 0.084 to 0.079, at 3x the time (docs/alignment.md).
    ``seed``: eflomal 2.0 has no seed option; its binary seeds each direction's sampler from 8 bytes of
    ``/dev/urandom``. With a seed, the binary runs in a private mount namespace where ``/dev/urandom`` is a
    file holding the seed (:func:`seeding_available`; Linux with unprivileged user namespaces), which makes a
    run with one sampler bit-identical; run k of ``runs`` uses ``seed + k``. None: as eflomal does.
    """

    symmetrization: str = "grow-diag-final-and"
    max_tokens: int = EFLOMAL_MAX_TOKENS
    model: int = 3
    n_samplers: int = 3
    rel_iterations: float = 1.0
    n_iterations: tuple[int, int, int] | None = None
    null_prior: float = 0.2
    prefix_len: int = 4
    lookalike_weight: float = 2.0
    lookalike_min_similarity: float = 0.7
    parallel_directions: bool = True
    runs: int = 1
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.symmetrization not in METHODS:
            raise ValueError(f"unknown symmetrization {self.symmetrization!r}; choose one of {', '.join(METHODS)}")
        if not 0 < self.max_tokens <= EFLOMAL_MAX_TOKENS:
            raise ValueError(f"max_tokens must be in 1..{EFLOMAL_MAX_TOKENS} (eflomal's limit), got {self.max_tokens}")
        if self.model not in (1, 2, 3):
            raise ValueError(f"model must be 1 (IBM1), 2 (+HMM) or 3 (+fertility), got {self.model}")
        if self.runs < 1:
            raise ValueError(f"runs must be >= 1, got {self.runs}")
        if self.seed is not None and not 0 <= self.seed < 2**64:
            raise ValueError(f"seed must be in 0..2**64-1, got {self.seed}")


@dataclass
class EflomalPriors:
    """Dirichlet prior counts learnt from an aligned corpus (eflomal's five prior kinds).

    ``lexical[(src_word, tgt_word)]``, ``hmm_forward[jump]``, ``hmm_reverse[jump]``,
    ``fertility_forward[(src_word, fertility)]``, ``fertility_reverse[(tgt_word, fertility)]``.
    """

    lexical: dict[tuple[str, str], float] = field(default_factory=dict)
    hmm_forward: dict[int, float] = field(default_factory=dict)
    hmm_reverse: dict[int, float] = field(default_factory=dict)
    fertility_forward: dict[tuple[str, int], float] = field(default_factory=dict)
    fertility_reverse: dict[tuple[str, int], float] = field(default_factory=dict)
    n_pairs: int = 0

    def merge(self, other: EflomalPriors) -> EflomalPriors:
        """Sum of two prior sets (e.g. fitted on two shards of a corpus)."""
        parts = [Counter(a) + Counter(b) for a, b in zip(self._parts(), other._parts(), strict=True)]
        return EflomalPriors(*(dict(part) for part in parts), n_pairs=self.n_pairs + other.n_pairs)

    def _parts(self) -> tuple[dict, dict, dict, dict, dict]:
        return self.lexical, self.hmm_forward, self.hmm_reverse, self.fertility_forward, self.fertility_reverse

    def to_text(self) -> str:
        """eflomal's priors file format (``eflomal-align --priors``)."""
        out = io.StringIO()
        eflomal.write_priors(out, *self._parts())
        return out.getvalue()

    @classmethod
    def from_text(cls, text: str, n_pairs: int = 0) -> EflomalPriors:
        """Parse eflomal's priors file format (as written by ``eflomal-makepriors`` or :meth:`to_text`)."""
        lexical, hmmf, hmmr, ferf, ferr = eflomal.read_priors(io.StringIO(text))
        return cls(
            {(s, t): a for s, t, a in lexical}, dict(hmmf), dict(hmmr),
            {(w, f): a for w, f, a in ferf}, {(w, f): a for w, f, a in ferr}, n_pairs,
        )


def clean_tokens(tokens: Sequence[str]) -> list[str]:
    """Make tokens safe for eflomal's space-separated files: inner whitespace -> '_', empty -> '_'."""
    return [_WHITESPACE.sub("_", token.strip()) or "_" for token in tokens]


def _check_lengths(pairs: Sequence[TokenPair], max_tokens: int) -> None:
    for index, (src, tgt) in enumerate(pairs):
        if len(src) > max_tokens or len(tgt) > max_tokens:
            raise ValueError(
                f"pair {index} has {len(src)} source / {len(tgt)} target tokens, over max_tokens={max_tokens} "
                "(eflomal's limit); reject or split it before aligning"
            )


def _read_links(path: str, count: int) -> list[set[tuple[int, int]]]:
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    if len(lines) != count:
        raise RuntimeError(f"eflomal wrote {len(lines)} alignment lines to {path}, expected {count}")
    out = []
    for number, line in enumerate(lines, 1):
        try:
            out.append({(int(i), int(j)) for i, j in (item.split("-") for item in line.split())})
        except ValueError as err:
            raise RuntimeError(f"{path}:{number}: unreadable eflomal link line {line!r}") from err
    return out


def vote_links(runs: Sequence[list[set[tuple[int, int]]]]) -> list[set[tuple[int, int]]]:
    """Per pair, the links found by more than half of ``runs`` (each run: one link set per pair)."""
    need = len(runs) // 2 + 1
    return [{link for link, n in Counter(link for run in runs for link in run[k]).items() if n >= need}
            for k in range(len(runs[0]))]


def iteration_schedule(n_pairs: int, rel_iterations: float = 1.0, model: int = 3) -> tuple[int, int, int]:
    """eflomal's sampler iterations (IBM1, HMM, fertility) for a call of ``n_pairs`` pairs: its own rule
    (``eflomal.cython.align``), about 5000/sqrt(n) times ``rel_iterations``. Pass the result as
    ``EflomalConfig.n_iterations`` to give a small call the schedule of a bigger one."""
    iters = max(2, int(round(rel_iterations * 5000 / math.sqrt(max(n_pairs, 1)))))
    quarter = max(1, iters // 4)
    if model == 1:
        return (iters, 0, 0)
    if model == 2:
        return (max(2, quarter), iters, 0)
    return (max(2, quarter), quarter, iters)


def _binary() -> str:
    path = os.path.join(os.path.dirname(eflomal.__file__), "bin", "eflomal")
    if not os.path.exists(path):
        raise RuntimeError(f"eflomal's binary is not at {path}; reinstall eflomal (pip install eflomal==2.0.0)")
    return path


_SEEDED = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
           'mount --bind "$0" /dev/urandom && exec "$@"']


@functools.cache
def seeding_available() -> bool:
    """Whether this machine can run eflomal seeded: ``unshare`` with unprivileged user and mount namespaces."""
    try:
        return subprocess.run([*_SEEDED[:4], "true"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _command(config: EflomalConfig, n_pairs: int, files: dict[str, str], seed_file: str | None) -> list[str]:
    iters = config.n_iterations or iteration_schedule(n_pairs, config.rel_iterations, config.model)
    args = [_binary(), "-m", str(config.model), "-s", files["src"], "-t", files["tgt"], "-n", str(config.n_samplers),
            "-N", str(config.null_prior), "-1", str(iters[0]), "-q"]
    if config.model >= 2:
        args += ["-2", str(iters[1])]
    if config.model >= 3:
        args += ["-3", str(iters[2])]
    for flag, key in (("-f", "fwd"), ("-r", "rev"), ("-p", "priors")):
        if key in files:
            args += [flag, files[key]]
    return args if seed_file is None else [*_SEEDED, seed_file, *args]


def run_eflomal(
    pairs: Sequence[TokenPair], config: EflomalConfig, priors: EflomalPriors | str | None = None
) -> tuple[list[set[tuple[int, int]]], list[set[tuple[int, int]]]]:
    """Align non-empty pairs in both directions; return (forward, reverse) link sets as (src, tgt).

    ``priors`` may be given as :class:`EflomalPriors` or already as priors-file text (cheaper when
    the same priors serve many bundles). Look-alike priors of the pairs are appended: eflomal sums
    repeated lexical entries. The files are prepared with eflomal's own ``Aligner.prepare_files`` and its
    binary is run with the options its ``align`` passes (plus the pinned iterations and the seed, if any).
    """
    if not pairs:
        return [], []
    if config.runs > 1:
        results = [run_eflomal(pairs, replace(config, runs=1, seed=None if config.seed is None else config.seed + k),
                               priors) for k in range(config.runs)]
        return vote_links([f for f, _ in results]), vote_links([r for _, r in results])
    if config.seed is not None and not seeding_available():
        raise RuntimeError("EflomalConfig.seed needs unshare with unprivileged user and mount namespaces, "
                           "which this machine does not allow; leave seed=None")
    prepare = eflomal.Aligner(
        model=config.model, n_samplers=config.n_samplers, null_prior=config.null_prior,
        source_prefix_len=config.prefix_len, target_prefix_len=config.prefix_len,
    )
    cleaned = [(clean_tokens(src), clean_tokens(tgt)) for src, tgt in pairs]
    priors_text = priors.to_text() if isinstance(priors, EflomalPriors) else priors or ""
    if config.lookalike_weight > 0:
        counts = lookalike_counts(cleaned, min_similarity=config.lookalike_min_similarity)
        lookalikes = {key: config.lookalike_weight * n for key, n in counts.items()}
        priors_text += EflomalPriors(lexical=lookalikes).to_text()
    src_lines = [" ".join(src) + "\n" for src, _ in cleaned]
    tgt_lines = [" ".join(tgt) + "\n" for _, tgt in cleaned]
    with tempfile.TemporaryDirectory(prefix="eflomal-") as tmp:
        files = {key: os.path.join(tmp, key) for key in ("src", "tgt", "fwd", "rev")}
        if priors_text:
            files["priors"] = os.path.join(tmp, "priors")
        with (open(files["src"], "wb") as src_file, open(files["tgt"], "wb") as tgt_file,
              open(files.get("priors", os.devnull), "w", encoding="utf-8") as priors_file):
            prepare.prepare_files(src_lines, src_file, tgt_lines, tgt_file,
                                  io.StringIO(priors_text) if priors_text else None, priors_file)
        seed_file = None
        if config.seed is not None:
            seed_file = os.path.join(tmp, "seed")
            with open(seed_file, "wb") as handle:
                handle.write(config.seed.to_bytes(8, "little"))

        def call(*directions: str) -> None:
            chosen = {k: v for k, v in files.items() if k not in ("fwd", "rev") or k in directions}
            done = subprocess.run(_command(config, len(pairs), chosen, seed_file), capture_output=True)
            if done.returncode != 0:
                raise RuntimeError(f"eflomal exited with {done.returncode}: {done.stderr.decode(errors='replace')}")

        if config.parallel_directions:
            with ThreadPoolExecutor(max_workers=2) as pool:  # each call waits on its own eflomal process
                for job in [pool.submit(call, "fwd"), pool.submit(call, "rev")]:
                    job.result()
        else:
            call("fwd", "rev")
        return _read_links(files["fwd"], len(pairs)), _read_links(files["rev"], len(pairs))


def fit_priors(pairs: Sequence[TokenPair], config: EflomalConfig = EflomalConfig()) -> EflomalPriors:
    """Align ``pairs`` with eflomal and count its priors (lexical, HMM jumps, fertility) from both directions."""
    return fit_priors_with_links(pairs, config)[0]


def fit_priors_with_links(
    pairs: Sequence[TokenPair], config: EflomalConfig = EflomalConfig()
) -> tuple[EflomalPriors, list[set[Link]], list[set[Link]]]:
    """:func:`fit_priors`, also returning the run's forward and reverse links of every pair (empty sets for a
    pair with an empty side): pairs that need links and are in the priors sample get them from this run."""
    _check_lengths(pairs, config.max_tokens)
    positions = [k for k, (src, tgt) in enumerate(pairs) if src and tgt]
    kept = [pairs[k] for k in positions]
    forward, reverse = run_eflomal(kept, config)
    src_lines = [" ".join(clean_tokens(src)) for src, _ in kept]
    tgt_lines = [" ".join(clean_tokens(tgt)) for _, tgt in kept]
    fwd_lines = [" ".join(f"{i}-{j}" for i, j in sorted(links)) for links in forward]
    rev_lines = [" ".join(f"{i}-{j}" for i, j in sorted(links)) for links in reverse]
    lexical, hmmf, hmmr, ferf, ferr = eflomal.calculate_priors(src_lines, tgt_lines, fwd_lines, rev_lines)
    logger.info("eflomal priors from %d pairs: %d lexical entries", len(kept), len(lexical))
    priors = EflomalPriors(dict(lexical), dict(hmmf), dict(hmmr), dict(ferf), dict(ferr), len(kept))
    out_fwd: list[set[Link]] = [set() for _ in pairs]
    out_rev: list[set[Link]] = [set() for _ in pairs]
    for k, fwd, rev in zip(positions, forward, reverse, strict=True):
        out_fwd[k], out_rev[k] = fwd, rev
    return priors, out_fwd, out_rev


def symmetrized(forward: set[Link], reverse: set[Link], method: str) -> WordAlignment:
    """One pair's symmetrised links; each scored 1.0 when both directions found it, 0.5 when one did."""
    links = symmetrize(forward, reverse, method)
    both = forward & reverse
    return WordAlignment.from_links(links, {link: 1.0 if link in both else 0.5 for link in links}) \
        if links else WordAlignment(())


class EflomalAligner:
    """Aligner protocol over eflomal: forward + reverse runs, symmetrised with ``config.symmetrization``.

    Each link carries a score: 1.0 when both directions found it, 0.5 when only one did.
    Empty pairs get an empty alignment; a pair over ``max_tokens`` raises ValueError naming its index.
    """

    def __init__(self, config: EflomalConfig = EflomalConfig(), priors: EflomalPriors | None = None) -> None:
        self.config = config
        self.priors = priors
        self._priors_text = priors.to_text() if priors is not None else None
        self.max_tokens = config.max_tokens
        self.name = f"eflomal-{_ABBREVIATIONS[config.symmetrization]}"

    def directional(self, pairs: Sequence[TokenPair]) -> tuple[list[set[Link]], list[set[Link]]]:
        """The forward and reverse links of every pair, before symmetrisation (empty sets for empty pairs)."""
        _check_lengths(pairs, self.max_tokens)
        positions = [k for k, (src, tgt) in enumerate(pairs) if len(src) and len(tgt)]
        forward, reverse = run_eflomal([pairs[k] for k in positions], self.config, self._priors_text)
        out_fwd: list[set[Link]] = [set() for _ in pairs]
        out_rev: list[set[Link]] = [set() for _ in pairs]
        for k, fwd, rev in zip(positions, forward, reverse, strict=True):
            out_fwd[k], out_rev[k] = fwd, rev
        return out_fwd, out_rev

    def align(self, pairs: Sequence[TokenPair]) -> list[WordAlignment]:
        return [symmetrized(fwd, rev, self.config.symmetrization) for fwd, rev in zip(*self.directional(pairs),
                                                                                       strict=True)]
