"""The aligners the Align+Project stage can use, behind the ``alignment`` package's Aligner protocol.

* ``eflomal`` (default): :class:`alignment.eflomal_aligner.EflomalAligner` with priors fitted once on
  the corpus (or a hash sample of it) and broadcast to every worker as a side input.
* ``simalign-{argmax,itermax,match}``: :class:`alignment.neural.NeuralAligner` on ``--aligner-model``.
* ``precomputed``: Pharaoh links from ``--alignments`` (line k answers input line k).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from alignment.core import TokenPair, WordAlignment, read_pharaoh

_LINE = re.compile(r":(\d+)$")


def line_number(origin: str) -> int:
    """The 1-based line of an origin '<file>:<line>'; ValueError when it has none."""
    match = _LINE.search(origin)
    if not match:
        raise ValueError(f"origin {origin!r} has no line number")
    return int(match.group(1))


class PrecomputedAligner:
    """Looks alignments up by input line: ``align_origins`` answers each pair by its origin's line."""

    name = "precomputed"

    def __init__(self, path: str) -> None:
        self.path = path
        self.by_line = [sure for sure, _ in read_pharaoh(path)]

    def lookup(self, origin: str, n_src: int, n_tgt: int) -> WordAlignment:
        """The alignment of the record from ``origin``; ValueError when missing or out of range."""
        line = line_number(origin)
        if line > len(self.by_line):
            raise ValueError(f"{self.path} has {len(self.by_line)} lines, no line {line} for {origin}")
        alignment = self.by_line[line - 1]
        if any(i >= n_src or j >= n_tgt for i, j in alignment.links):
            raise ValueError(f"{self.path}:{line}: link beyond the {n_src}x{n_tgt} tokens of {origin}")
        return alignment


def make_neural_aligner(kind: str, model: str):
    """A NeuralAligner for 'simalign-<method>'."""
    from alignment.neural import NeuralAligner

    return NeuralAligner(model, method=kind.split("-", 1)[1])


def fit_eflomal_priors(pairs: Sequence[TokenPair]):
    """eflomal priors on the sampled corpus; None for an empty sample (the aligner then runs without)."""
    from alignment.eflomal_aligner import EflomalConfig, fit_priors

    return fit_priors(list(pairs), EflomalConfig()) if pairs else None


def make_eflomal_aligner(priors):
    from alignment.eflomal_aligner import EflomalAligner, EflomalConfig

    return EflomalAligner(EflomalConfig(), priors)
