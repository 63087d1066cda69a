"""Evaluate sentence alignment against a known line alignment (NTREX-128 documents).

Protocol: the lines of one document are joined into a paragraph per language (with a space, or nothing for
Chinese/Japanese; ``joiner="\\n"`` keeps line breaks), re-split by :func:`split_sentences`, aligned, and scored at
the LINE level, because re-splitting can cut a line into several sentences or merge two lines into one sentence:

1. each split sentence maps to the set of lines its characters overlap;
2. the predicted beads and this sentence-to-line map form a bipartite graph of source and target lines; each
   connected component is one predicted line-level link ``(src_lines, tgt_lines)``;
3. the gold links are ``((k,), (k,))`` for every line k kept on both sides;
4. ``strict`` precision/recall/F1 compare the non-null predicted and gold links exactly (a link is right only when
   both of its line sets are right); ``pairwise`` expands links into (source line, target line) pairs.

The *split ceiling* is the F1 of the best alignment the split allows (the same components built from the gold
line links instead of predicted beads): under-splitting (a headline without a full stop merged with the next
sentence) caps every aligner at that value.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from alignment.eval.metrics import PRF, GroupLink, sentence_alignment_f1
from alignment.sentence.split import SentenceSpan, split_sentences

NTREX_FILES = {
    "en": "newstest2019-src.eng.txt", "de": "newstest2019-ref.deu.txt", "zh": "newstest2019-ref.zho-CN.txt",
    "fr": "newstest2019-ref.fra.txt", "es": "newstest2019-ref.spa.txt",
}


@dataclass(frozen=True)
class SplitDoc:
    """One side of a document: its split sentences and, per sentence, the (document-local) line ids it covers."""

    sentences: list[str]
    lines: list[tuple[int, ...]]


def load_ntrex(directory: Path, lang: str) -> list[tuple[str, list[str]]]:
    """(document id, lines) per NTREX document, in file order."""
    doc_ids = (directory / "DOCUMENT_IDS.tsv").read_text(encoding="utf-8").splitlines()
    lines = (directory / NTREX_FILES[lang]).read_text(encoding="utf-8").splitlines()
    if len(doc_ids) != len(lines):
        raise ValueError(f"{directory / NTREX_FILES[lang]}: {len(lines)} lines but {len(doc_ids)} document ids")
    docs = []
    for doc_id, group in itertools.groupby(zip(doc_ids, lines, strict=True), key=lambda pair: pair[0].strip()):
        docs.append((doc_id, [line.strip() for _, line in group]))
    return docs


def split_lines(lines: Sequence[str], lang: str, keep: Sequence[int], joiner: str | None = None,
                base: int = 0, splitter: Callable[[str, str], list[SentenceSpan]] = split_sentences) -> SplitDoc:
    """Join the kept lines (``lines[k]`` for k in ``keep``) into one paragraph, split it, and map each sentence
    back to the ids ``base + k`` of the lines it covers (``base`` makes ids unique across documents)."""
    joiner = ("" if lang in ("zh", "ja") else " ") if joiner is None else joiner
    text, starts = "", []
    for k in keep:
        if text:
            text += joiner
        starts.append((len(text), len(text) + len(lines[k]), base + k))
        text += lines[k]
    sentences, covered = [], []
    for span in splitter(text, lang):
        sentences.append(span.text)
        covered.append(tuple(k for begin, end, k in starts if begin < span.end and span.start < end))
    return SplitDoc(sentences, covered)


def drop_lines(count: int, fraction: float, rng: random.Random) -> list[int]:
    """The line ids kept after dropping ``round(fraction * count)`` random lines (at least one line is kept)."""
    dropped = set(rng.sample(range(count), min(count - 1, round(fraction * count)))) if count > 1 else set()
    return [k for k in range(count) if k not in dropped]


def line_links(beads: Iterable[tuple[Sequence[int], Sequence[int]]], src: SplitDoc, tgt: SplitDoc) -> set[GroupLink]:
    """Line-level links: connected components of sentence beads joined through the lines they cover."""
    parent: dict[tuple[str, int], tuple[str, int]] = {}

    def find(node: tuple[str, int]) -> tuple[str, int]:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for src_ids, tgt_ids in beads:
        nodes = [("s", line) for i in src_ids for line in src.lines[i]]
        nodes += [("t", line) for j in tgt_ids for line in tgt.lines[j]]
        for node in nodes:
            find(node)
        for a, b in itertools.pairwise(nodes):
            parent[find(a)] = find(b)
    for side, doc in (("s", src), ("t", tgt)):  # a sentence's lines belong together even if it sat in no bead
        for covered in doc.lines:
            for a, b in itertools.pairwise([(side, line) for line in covered]):
                parent[find(a)] = find(b)
    groups: dict[tuple[str, int], list[tuple[str, int]]] = {}
    for node in list(parent):
        groups.setdefault(find(node), []).append(node)
    return {(tuple(sorted(k for s, k in nodes if s == "s")), tuple(sorted(k for s, k in nodes if s == "t")))
            for nodes in groups.values()}


def score_links(predicted: Iterable[GroupLink], gold: Iterable[GroupLink]) -> dict[str, PRF]:
    """Strict and pairwise P/R/F1 (``alignment.eval.metrics.sentence_alignment_f1``) over the non-null links."""
    return sentence_alignment_f1([link for link in predicted if link[0] and link[1]],
                                 [link for link in gold if link[0] and link[1]])


def gold_links(src: SplitDoc, tgt: SplitDoc) -> set[GroupLink]:
    """One ((k,), (k,)) link per line id present on both sides."""
    src_ids = {k for covered in src.lines for k in covered}
    return {((k,), (k,)) for covered in tgt.lines for k in covered if k in src_ids}


def oracle_beads(src: SplitDoc, tgt: SplitDoc) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Sentence pairs sharing a line: the best beads the split allows (used for the split ceiling)."""
    return [((i,), (j,)) for i, src_lines in enumerate(src.lines) for j, tgt_lines in enumerate(tgt.lines)
            if set(src_lines) & set(tgt_lines)]
