"""Readers for gold word-alignment sets: ``src ||| tgt`` bitext + Pharaoh gold, or JSONL with links.

Every link is checked against the sentence lengths; a bad line raises ValueError naming file and line
(or, with ``strict=False``, the bad link is dropped and logged with file and line: some published gold
sets contain a stray link past the end of a sentence).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from alignment.word.core import Link, TokenPair, WordAlignment, read_bitext, read_pharaoh

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GoldSet:
    """Tokenised sentence pairs with sure and possible (superset of sure) links, 0-based."""

    name: str
    pairs: list[TokenPair]
    sure: list[WordAlignment]
    possible: list[WordAlignment]


def check_links(
    links: Iterable[Link], n_src: int, n_tgt: int, where: str, strict: bool = True
) -> list[Link]:
    """Links inside an n_src x n_tgt sentence pair; out-of-range ones raise (strict) or are logged and dropped.

    An index of -1 marks an explicit NULL link (a word aligned to nothing): it is not a link and is skipped.
    """
    kept = []
    for i, j in links:
        if i == -1 or j == -1:
            continue
        if 0 <= i < n_src and 0 <= j < n_tgt:
            kept.append((i, j))
        elif strict:
            raise ValueError(f"{where}: link {i}-{j} (0-based) outside {n_src} source x {n_tgt} target tokens")
        else:
            logger.warning("%s: dropped link %d-%d outside %d x %d tokens", where, i, j, n_src, n_tgt)
    return kept


def load_pharaoh_gold(
    bitext_path: str | Path, gold_path: str | Path, one_indexed: bool = False, strict: bool = True
) -> GoldSet:
    """A ``|||`` bitext file plus a Pharaoh gold file (``i-j`` sure, ``ipj`` possible)."""
    pairs = read_bitext(bitext_path)
    gold = read_pharaoh(str(gold_path), one_indexed)
    if len(gold) != len(pairs):
        raise ValueError(f"{gold_path}: {len(gold)} lines but {bitext_path} has {len(pairs)} sentence pairs")
    sure, possible = [], []
    for number, ((src, tgt), (s, p)) in enumerate(zip(pairs, gold, strict=True), 1):
        where = f"{gold_path}:{number}"
        sure.append(WordAlignment.from_links(check_links(s.links, len(src), len(tgt), where, strict)))
        possible.append(WordAlignment.from_links(check_links(p.links, len(src), len(tgt), where, strict)))
    return GoldSet(Path(gold_path).stem, pairs, sure, possible)


def load_jsonl_gold(paths: Sequence[str | Path], strict: bool = True) -> GoldSet:
    """JSONL lines ``{"src_words": [...], "tgt_words": [...], "alignment": [[i, j], ...]}`` (0-based, sure only)."""
    pairs, sure = [], []
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                where = f"{path}:{number}"
                try:
                    record = json.loads(line)
                    src, tgt = list(record["src_words"]), list(record["tgt_words"])
                    raw = [(int(i), int(j)) for i, j in record["alignment"]]
                except (ValueError, KeyError, TypeError) as err:
                    raise ValueError(f"{where}: not a gold alignment record: {err}") from err
                pairs.append((src, tgt))
                sure.append(WordAlignment.from_links(check_links(raw, len(src), len(tgt), where, strict)))
    return GoldSet(Path(paths[0]).name.split(".")[0], pairs, sure, list(sure))
