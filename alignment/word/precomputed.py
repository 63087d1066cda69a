"""Alignments computed elsewhere (fast_align, eflomal, awesome-align Pharaoh output), served by line.

One policy, used by the pipeline's ``--alignments FILE`` and by ``xds-align-eval aer --bitext``:

- line k of the links file answers sentence pair k of the corpus it was computed on (an empty line: no links);
- ``i-j`` links are sure and score 1.0; ``ipj`` (possible) links are kept as weak links scoring 0.5, the
  weight projection gives a link that only one eflomal direction found. Aligner output has no possible
  links; a links file made from a gold annotation has;
- every index is checked against the pair's tokens: an index past the end of a sentence means the links
  file and the tokenised text are out of step (or the file is 1-indexed), and raises ValueError naming the
  file and line.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from alignment.word.core import TokenPair, WordAlignment, parse_pharaoh

SURE_SCORE, POSSIBLE_SCORE = 1.0, 0.5


def scored_alignment(line: str, one_indexed: bool = False) -> WordAlignment:
    """One Pharaoh line as a WordAlignment: sure links score 1.0, possible-only links 0.5."""
    sure, possible = parse_pharaoh(line, one_indexed)
    sure_links = set(sure.links)
    scores = {link: SURE_SCORE if link in sure_links else POSSIBLE_SCORE for link in possible.links}
    return WordAlignment.from_links(possible.links, scores)


class PrecomputedAligner:
    """The links of one Pharaoh file, looked up by 1-based line number (see the module docstring)."""

    name = "precomputed"

    def __init__(self, path: str | Path, one_indexed: bool = False) -> None:
        self.path = str(path)
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
        self.by_line = []
        for number, line in enumerate(lines, 1):
            try:
                self.by_line.append(scored_alignment(line, one_indexed))
            except ValueError as err:
                raise ValueError(f"{self.path}:{number}: {err}") from err

    def __len__(self) -> int:
        return len(self.by_line)

    def lookup(self, line: int, n_src: int, n_tgt: int) -> WordAlignment:
        """The alignment of line ``line`` for a pair of ``n_src`` x ``n_tgt`` tokens; ValueError when the file
        has no such line or a link falls outside the pair."""
        if not 1 <= line <= len(self.by_line):
            raise ValueError(f"{self.path} has {len(self.by_line)} lines, no line {line}")
        alignment = self.by_line[line - 1]
        for i, j in alignment.links:
            if i >= n_src or j >= n_tgt:
                raise ValueError(
                    f"{self.path}:{line}: link {i}-{j} (0-based) outside {n_src} source x {n_tgt} target tokens: "
                    "the links file does not match the tokenised text (or is 1-indexed)")
        return alignment


def read_alignments(
    links_path: str | Path, pairs: Sequence[TokenPair], one_indexed: bool = False
) -> list[WordAlignment]:
    """One alignment per pair of ``pairs`` (line k answers pair k), every index checked against that pair."""
    aligner = PrecomputedAligner(links_path, one_indexed)
    if len(aligner) != len(pairs):
        raise ValueError(f"{links_path}: {len(aligner)} alignment lines for {len(pairs)} sentence pairs")
    return [aligner.lookup(k, len(src), len(tgt)) for k, (src, tgt) in enumerate(pairs, 1)]
