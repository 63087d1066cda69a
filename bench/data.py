"""Loaders for the project's shared data used by the alignment benchmarks (``<repo>/../shared/data``).

Raw bitext (NTREX-128, WMT news) is tokenised with :func:`simple_tokenize`, a script-agnostic splitter
(whitespace, then punctuation as separate tokens). It only feeds the statistical model more sentence
pairs; gold sets keep their own tokenisation.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path

from alignment.eval.gold import GoldSet, load_jsonl_gold, load_pharaoh_gold
from alignment.word.core import TokenPair
from bench.paths import SHARED_DATA


def _is_punct(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "PS"


def simple_tokenize(text: str) -> list[str]:
    """Split on whitespace, then make every punctuation/symbol character its own token,
    except '.', ',', '-', ''' and '’' between two letters/digits ("3.5", "e-mail", "l'an" stay whole)."""
    tokens: list[str] = []
    for chunk in text.split():
        current = ""
        for k, ch in enumerate(chunk):
            inner = 0 < k < len(chunk) - 1 and ch in ".,-'’" and not _is_punct(chunk[k - 1]) and not _is_punct(
                chunk[k + 1])
            if _is_punct(ch) and not inner:
                if current:
                    tokens.append(current)
                tokens.append(ch)
                current = ""
            else:
                current += ch
        if current:
            tokens.append(current)
    return tokens


def _read_parallel(src_path: Path, tgt_path: Path, reverse: bool = False,
                   tokenize: Callable[[str], list[str]] = simple_tokenize) -> Iterator[TokenPair]:
    with open(src_path, encoding="utf-8") as src_file, open(tgt_path, encoding="utf-8") as tgt_file:
        src_lines, tgt_lines = src_file.read().splitlines(), tgt_file.read().splitlines()
    if src_path.name.startswith("wmttest2024"):  # line 1 of every WMT24 file is a contamination canary
        src_lines, tgt_lines = src_lines[1:], tgt_lines[1:]
    if len(src_lines) != len(tgt_lines):
        raise ValueError(f"{src_path} has {len(src_lines)} lines but {tgt_path} has {len(tgt_lines)}")
    for src, tgt in zip(src_lines, tgt_lines, strict=True):
        pair = (tokenize(src), tokenize(tgt))
        if pair[0] and pair[1]:
            yield (pair[1], pair[0]) if reverse else pair


def read_conll_sentences(path: Path) -> list[list[tuple[str, str]]]:
    """CoNLL-2002 ``token<TAB>tag`` lines, blank line between sentences."""
    sentences, current = [], []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            line = line.rstrip("\n")
            if not line.strip():
                if current:
                    sentences.append(current)
                current = []
                continue
            fields = line.split("\t")
            if len(fields) != 2:
                raise ValueError(f"{path}:{number}: expected 'token<TAB>tag', got {len(fields)} fields")
            current.append((fields[0], fields[1]))
    if current:
        sentences.append(current)
    return sentences


def bio_spans(tags: list[str]) -> list[tuple[int, int, str]]:
    """[start, end, type) spans from BIO tags (an I- without a matching B- starts a new span)."""
    spans: list[tuple[int, int, str]] = []
    start, kind = None, None
    for k, tag in enumerate(tags + ["O"]):
        prefix, _, label = tag.partition("-")
        if start is not None and (prefix != "I" or label != kind):
            spans.append((start, k, kind))
            start, kind = None, None
        if prefix == "B" or (prefix == "I" and start is None):
            start, kind = k, label
    return spans


def europarl_pairs(lang: str, shared: Path = SHARED_DATA) -> list[TokenPair]:
    """The 799 tokenised EN-``lang`` sentence pairs of europarl-ner-parallel (tags ignored)."""
    folder = shared / "europarl-ner-parallel"
    en = read_conll_sentences(folder / "en-europarl.test.conll02")
    xx = read_conll_sentences(folder / f"{lang}-europarl.test.conll02")
    return [([t for t, _ in a], [t for t, _ in b]) for a, b in zip(en, xx, strict=True)]


def extra_bitext(src: str, tgt: str, shared: Path = SHARED_DATA, europarl: bool = True,
                 tokenize: Callable[[str], list[str]] | None = None) -> list[TokenPair]:
    """All raw bitext in shared data for a language pair (ISO 639-1 codes), oriented src -> tgt.

    ``europarl=False`` leaves out the europarl-ner-parallel sentences (when they are the test set).
    ``tokenize`` (default :func:`simple_tokenize`) may return the stripped line instead, for callers that
    tokenise themselves; europarl-ner-parallel comes tokenised, so it is only added with the default."""
    ntrex = {"fr": "fra", "es": "spa", "de": "deu"}
    wmt = shared / "wmt-news"
    jobs: list[tuple[Path, Path, bool]] = []
    for a, b in ((src, tgt), (tgt, src)):
        flip = (a, b) != (src, tgt)
        if a == "en" and b in ntrex:
            jobs.append((shared / "ntrex128" / "newstest2019-src.eng.txt",
                         shared / "ntrex128" / f"newstest2019-ref.{ntrex[b]}.txt", flip))
        for source in sorted(wmt.glob(f"wmt2[123]/*.{a}-{b}.src.{a}")):
            for ref in sorted(source.parent.glob(f"{source.name.split('.src.')[0]}.ref.*.{b}")):
                jobs.append((source, ref, flip))
        if a == "en":
            for ref in sorted(wmt.glob(f"wmt24/wmttest2024.en-{b}.ref*.{b}")):
                jobs.append((wmt / "wmt24" / "wmttest2024.src.en", ref, flip))
    pairs: list[TokenPair] = []
    for src_path, tgt_path, flip in jobs:
        pairs.extend(_read_parallel(src_path, tgt_path, reverse=flip, tokenize=tokenize or simple_tokenize))
    if europarl and tokenize is None and "en" in (src, tgt) and {src, tgt} & {"de", "es", "it"}:
        other = tgt if src == "en" else src
        pairs.extend(europarl_pairs(other, shared) if src == "en" else
                     [(b, a) for a, b in europarl_pairs(other, shared)])
    return pairs


def gold_sets(shared: Path = SHARED_DATA) -> dict[str, tuple[GoldSet, str, str]]:
    """Gold word-alignment sets by name -> (set, source language, target language)."""
    gold, extra = shared / "wordalign-gold", shared / "wordalign-gold-extra"
    return {
        "en-fr": (load_pharaoh_gold(gold / "enfr.src-tgt", gold / "enfr.gold", one_indexed=True), "en", "fr"),
        "ro-en": (load_pharaoh_gold(gold / "roen.src-tgt", gold / "roen.gold", one_indexed=True), "ro", "en"),
        "en-cs": (load_jsonl_gold([extra / "czenali.train.jsonl", extra / "czenali.valid.jsonl"]), "en", "cs"),
        "en-es": (load_jsonl_gold([extra / "es_golden.train.jsonl", extra / "es_golden.valid.jsonl"]), "en", "es"),
        "en-hi": (load_jsonl_gold([extra / "hindi.train.jsonl", extra / "hindi.valid.jsonl"], strict=False),
                  "en", "hi"),
    }
