"""Alignments computed elsewhere (fast_align, eflomal, awesome-align Pharaoh output) as an Aligner.

Every link is checked against its sentence pair: an index past the end of a sentence means the links
file and the tokenised text are out of step, and raises ValueError naming the file and line.
``ipj`` (possible) links are kept with score 0.5, ``i-j`` links with 1.0.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from alignment.word.core import TokenPair, WordAlignment, parse_pharaoh, read_bitext

logger = logging.getLogger(__name__)


def read_alignments(
    links_path: str | Path, pairs: Sequence[TokenPair], one_indexed: bool = False
) -> list[WordAlignment]:
    """Read one Pharaoh line per pair of ``pairs`` and check every index against that pair's tokens."""
    out = []
    with open(links_path, encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    if len(lines) != len(pairs):
        raise ValueError(f"{links_path}: {len(lines)} alignment lines for {len(pairs)} sentence pairs")
    for number, (line, (src, tgt)) in enumerate(zip(lines, pairs, strict=True), 1):
        try:
            sure, possible = parse_pharaoh(line, one_indexed)
        except ValueError as err:
            raise ValueError(f"{links_path}:{number}: {err}") from err
        for i, j in possible.links:
            if i >= len(src) or j >= len(tgt):
                raise ValueError(
                    f"{links_path}:{number}: link {i}-{j} (0-based) outside {len(src)} source x {len(tgt)} target "
                    "tokens: the links file does not match the tokenised text (or needs --one-indexed)"
                )
        sure_links = set(sure.links)
        scores = {link: 1.0 if link in sure_links else 0.5 for link in possible.links}
        out.append(WordAlignment.from_links(possible.links, scores))
    return out


class PrecomputedAligner:
    """Serves precomputed alignments for the sentence pairs they were computed on (looked up by tokens).

    A pair that the files do not cover raises KeyError with ``strict=True``; otherwise it gets an empty
    alignment (projection then reports it as ``unaligned``) and is counted in ``self.missing``.
    """

    def __init__(
        self, pairs: Sequence[TokenPair], alignments: Sequence[WordAlignment], name: str = "precomputed",
        strict: bool = True,
    ) -> None:
        if len(pairs) != len(alignments):
            raise ValueError(f"{len(pairs)} pairs but {len(alignments)} alignments")
        self.name = name
        self.strict = strict
        self.missing = 0
        self._table = {(tuple(src), tuple(tgt)): a for (src, tgt), a in zip(pairs, alignments, strict=True)}

    @classmethod
    def from_files(
        cls, bitext_path: str | Path, links_path: str | Path, one_indexed: bool = False, name: str | None = None,
        strict: bool = True,
    ) -> PrecomputedAligner:
        """A ``source ||| target`` file (fast_align input) and the Pharaoh links computed on it."""
        pairs = read_bitext(bitext_path)
        alignments = read_alignments(links_path, pairs, one_indexed)
        return cls(pairs, alignments, name or f"precomputed:{Path(links_path).name}", strict)

    def align(self, pairs: Sequence[TokenPair]) -> list[WordAlignment]:
        out = []
        for index, (src, tgt) in enumerate(pairs):
            found = self._table.get((tuple(src), tuple(tgt)))
            if found is None:
                if self.strict:
                    raise KeyError(f"pair {index} ({' '.join(src)[:60]!r}) has no precomputed alignment")
                self.missing += 1
                logger.warning("pair %d has no precomputed alignment; returning an empty one", index)
                found = WordAlignment(())
            out.append(found)
        return out
