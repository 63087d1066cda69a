"""The one representation of a word alignment, the aligner interface, and the two text formats word aligners
read and write: Pharaoh links and ``source ||| target`` bitext (fast_align / awesome-align input)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

Tokens = Sequence[str]
TokenPair = tuple[Tokens, Tokens]
Link = tuple[int, int]  # (source word index, target word index), 0-based


@dataclass(frozen=True)
class WordAlignment:
    """Sorted, unique (source word index, target word index) links, 0-based, with optional scores.

    ``scores[k]`` belongs to ``links[k]`` when present.
    """

    links: tuple[Link, ...]
    scores: tuple[float, ...] | None = None

    @classmethod
    def from_links(
        cls, links: Iterable[Link], scores: dict[Link, float] | None = None
    ) -> WordAlignment:
        ordered = tuple(sorted({(int(i), int(j)) for i, j in links}))
        return cls(ordered, tuple(float(scores[link]) for link in ordered) if scores is not None else None)

    def to_pharaoh(self) -> str:
        return " ".join(f"{i}-{j}" for i, j in self.links)

    def __len__(self) -> int:
        return len(self.links)


class Aligner(Protocol):
    """Aligns a batch of tokenised sentence pairs; output k answers input k (empty when unalignable)."""

    name: str

    def align(self, pairs: Sequence[TokenPair]) -> list[WordAlignment]: ...


def parse_pharaoh(line: str, one_indexed: bool = False) -> tuple[WordAlignment, WordAlignment]:
    """Parse ``i-j`` (sure) and ``ipj`` (possible) links; return (sure, possible).

    ``possible`` includes the sure links, as in the AER definition (S is a subset of P).
    """
    sure: set[Link] = set()
    possible: set[Link] = set()
    offset = 1 if one_indexed else 0
    for item in line.split():
        sep = "-" if "-" in item else "p" if "p" in item else None
        if sep is None:
            raise ValueError(f"not a Pharaoh link: {item!r}")
        left, right = item.split(sep, 1)
        try:
            link = (int(left) - offset, int(right) - offset)
        except ValueError as err:
            raise ValueError(f"not a Pharaoh link: {item!r}") from err
        if link[0] < 0 or link[1] < 0:
            raise ValueError(f"negative index in link {item!r} (is the file 1-indexed?)")
        possible.add(link)
        if sep == "-":
            sure.add(link)
    return WordAlignment.from_links(sure), WordAlignment.from_links(possible)


def read_pharaoh(path: str, one_indexed: bool = False) -> list[tuple[WordAlignment, WordAlignment]]:
    """Read a Pharaoh file, one (sure, possible) pair per line; errors name the file and line."""
    out = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            try:
                out.append(parse_pharaoh(line, one_indexed))
            except ValueError as err:
                raise ValueError(f"{path}:{number}: {err}") from err
    return out


def write_pharaoh(path: str, alignments: Iterable[WordAlignment]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for alignment in alignments:
            handle.write(alignment.to_pharaoh() + "\n")


def read_bitext(path: str | Path) -> list[tuple[list[str], list[str]]]:
    """Read ``source tokens ||| target tokens`` lines (fast_align / awesome-align format)."""
    pairs = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            fields = line.rstrip("\n").split(" ||| ")
            if len(fields) != 2:
                raise ValueError(f"{path}:{number}: expected 'source ||| target', found {len(fields) - 1} separators")
            pairs.append((fields[0].split(), fields[1].split()))
    return pairs
