"""Span projection EN -> DE/FR/ES/TR on relx-dev, as the pipeline runs it, against the gold target spans.

relx-dev (../shared/data/relx-dev) holds 205 human-translated sentences per language with the two entity
mentions marked in every language: a gold test of projection nobody tuned on. "Pipeline mode" means what
``python -m pipelines.distant_supervision`` does to a pair:

* both sides normalised and tokenised by the pipeline's tokenizer (spaCy; Turkish apostrophe suffixes split);
* eflomal with priors and function words from the language's :func:`pipelines.aligners.corpus_context`, fitted
  on a corpus of the relx-dev pairs plus the other bitext of the language pair in ../shared/data (news test
  sets; XQuAD sentence pairs, sentence-aligned here into ``--cache`` on first use);
* one alignment call over that corpus (as a real run's call holds many pairs), the 205 pairs' links used;
* ``project_span`` with the entity's target aliases when the English mention is a KB alias (the pipeline's
  source mentions are KB-linked), and the function words of the row.

A projection is right when its tokens are the tokens the gold mention covers (a marker that cuts a word,
"Nintendo|s", is matched by the whole token, as the pipeline can only give whole tokens); the column "exact
characters" asks for the gold characters themselves. The English mention's twin is found
through the label direction (translators sometimes swapped e1 and e2 and flipped the label).

    python -m bench.projection_relx                  # DE FR ES TR, the rows before/after
    python -m bench.projection_relx --langs tr --errors 20
"""

from __future__ import annotations

import argparse
import pickle
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rapidfuzz.distance import Indel

from alignment.projection.scoring import entity_function_words, is_punct
from alignment.projection.span import ProjectedSpan, project_span
from alignment.text import fold, latin_fold
from bench.data import extra_bitext
from bench.paths import SHARED_DATA
from bench.rex_human import strip_markers
from pipelines.aligners import EflomalCalls, EflomalSettings, corpus_context
from pipelines.normalize import normalize_text
from pipelines.tokenize import APOSTROPHE_SUFFIX_LANGS, load_spacy, stop_words, tokenize_text
from schemas.kb import load_kb

RELX = SHARED_DATA / "relx-dev"
_LABEL = re.compile(r"^(.*)\((e[12]),(e[12])\)$")
PRONOUNS = {"he", "she", "it", "his", "her", "its", "they", "their", "him", "them", "who", "which", "this"}


@dataclass(frozen=True)
class Mention:
    """One gold projection case: the English mention and its twin in the target sentence."""

    example: str
    src_text: str
    src_span: tuple[int, int]  # characters
    tgt_text: str
    tgt_span: tuple[int, int]  # characters


def _blocks(path: Path) -> list[tuple[str, str, str]]:
    """(id, marked sentence, label) per example."""
    out = []
    for block in re.split(r"\n\s*\n", path.read_text(encoding="utf-8")):
        lines = [line for line in block.strip().splitlines() if line.strip()]
        if len(lines) >= 2 and "\t" in lines[0]:
            ex_id, sentence = lines[0].split("\t", 1)
            out.append((ex_id.strip(), sentence.strip().strip('"'), lines[1].strip()))
    return out


def _order(label: str) -> tuple[str, str]:
    match = _LABEL.match(label)
    return (match.group(2), match.group(3)) if match else ("e1", "e2")


def load_mentions(lang: str) -> list[Mention]:
    """The gold mention pairs EN -> ``lang``; the target's e1/e2 matched to the English by label direction."""
    out = []
    for (ex_id, en_marked, en_label), (tgt_id, xx_marked, xx_label) in zip(
            _blocks(RELX / "RELX_en.dev.txt"), _blocks(RELX / f"RELX_{lang}.dev.txt"), strict=True):
        if ex_id != tgt_id:
            raise ValueError(f"relx-dev {lang}: example {tgt_id} where {ex_id} was expected")
        en_text, *en_spans = strip_markers(en_marked)
        xx_text, *xx_spans = strip_markers(xx_marked)
        en_by, xx_by = dict(zip(("e1", "e2"), en_spans, strict=True)), dict(zip(("e1", "e2"), xx_spans, strict=True))
        en_by = {role: _strip(en_text, span) for role, span in en_by.items()}
        xx_by = {role: _strip(xx_text, span) for role, span in xx_by.items()}
        en_order, xx_order = _order(en_label), _order(xx_label)
        if not _LABEL.match(en_label) and _swapped(en_text, en_by, xx_text, xx_by):
            xx_order = ("e2", "e1")
        for en_role, xx_role in zip(en_order, xx_order, strict=True):
            out.append(Mention(ex_id, en_text, en_by[en_role], xx_text, xx_by[xx_role]))
    return out


def _swapped(en_text: str, en_by: dict, xx_text: str, xx_by: dict) -> bool:
    """For a label without direction (no_relation): whether the translator swapped the markers, judged by
    how the names are written (a clear margin needed; translated names leave the order as it is)."""
    def sim(a: str, b: str) -> float:
        return Indel.normalized_similarity(latin_fold(a), latin_fold(b))

    def text(whole: str, span: tuple[int, int]) -> str:
        return whole[span[0]:span[1]]

    e1, e2 = text(en_text, en_by["e1"]), text(en_text, en_by["e2"])
    x1, x2 = text(xx_text, xx_by["e1"]), text(xx_text, xx_by["e2"])
    return sim(e1, x2) + sim(e2, x1) > sim(e1, x1) + sim(e2, x2) + 0.5


def _strip(text: str, span: tuple[int, int]) -> tuple[int, int]:
    """The span without white space and punctuation at its edges (translators' markers sometimes take in a
    comma or a full stop: ", England,")."""
    start, end = span
    while start < end and (text[start].isspace() or is_punct(text[start])):
        start += 1
    while end > start and (text[end - 1].isspace() or is_punct(text[end - 1])):
        end -= 1
    return start, end


def english_entities(kb) -> dict[str, str]:
    """Accent-folded English alias -> its most popular entity (how a relx-dev mention gets a KB entity)."""
    entity_of: dict[str, str] = {}
    for entity, names in kb.aliases.get("en", {}).items():
        for name in names:
            key = fold(name)
            if key not in entity_of or kb.popularity.get(entity, 0) > kb.popularity.get(entity_of[key], 0):
                entity_of[key] = entity
    return entity_of


def token_span(tokens, span: tuple[int, int]) -> tuple[int, int] | None:
    """The tokens overlapping the character span (the pipeline links whole tokens)."""
    inside = [k for k, (s, e) in enumerate(zip(tokens.starts, tokens.ends, strict=True)) if s < span[1] and span[0] < e]
    return (inside[0], inside[-1] + 1) if inside else None


def bitext(lang: str, cache: Path) -> list[tuple[str, str]]:
    """Raw text pairs EN -> ``lang`` of ../shared/data: news test sets and XQuAD (sentence-aligned on first use)."""
    pairs = list(extra_bitext("en", lang, europarl=False, tokenize=str.strip))
    xquad = cache / f"xquad-en-{lang}.jsonl"
    if (SHARED_DATA / "xquad" / f"xquad.{lang}.json").exists():
        if not xquad.exists():
            cache.mkdir(parents=True, exist_ok=True)
            subprocess.run([sys.executable, "-m", "alignment.sentence", "--format", "xquad",
                            "--src", str(SHARED_DATA / "xquad" / "xquad.en.json"),
                            "--src-lang", "en", "--tgt", str(SHARED_DATA / "xquad" / f"xquad.{lang}.json"),
                            "--tgt-lang", lang, "--output", str(xquad)], check=True)
        import json

        with open(xquad, encoding="utf-8") as handle:
            pairs.extend((r["src"], r["tgt"]) for r in map(json.loads, handle))
    return pairs


@dataclass
class Prepared:
    lang: str
    mentions: list[Mention]
    src_tokens: list
    tgt_tokens: list
    alignments: list
    aliases: list[list[str]]  # the mention's entity's target aliases ([] when the English text is no KB alias)
    corpus_pairs: list
    seconds: float


def links_path(cache: Path, lang: str, seed: int | None) -> Path:
    """The cached links of ``lang``: one file per eflomal seed (unseeded runs share the unsuffixed file)."""
    return cache / (f"relx-links-{lang}.pkl" if seed is None else f"relx-links-{lang}-seed{seed}.pkl")


def prepare(lang: str, cache: Path, refresh: bool = False, seed: int | None = None) -> Prepared:
    """Tokens, alignments and aliases of ``lang``'s mentions. The links are kept in ``cache``, per seed, so rows
    compared across code changes use the same links unless ``refresh``."""
    mentions = load_mentions(lang)
    en_nlp, xx_nlp = load_spacy("en"), load_spacy(lang)
    texts = {}
    for m in mentions:
        texts[m.src_text] = tokenize_text(en_nlp, normalize_text(m.src_text, "en"))
        texts[m.tgt_text] = tokenize_text(xx_nlp, normalize_text(m.tgt_text, lang))
    relx_pairs = list(dict.fromkeys((m.src_text, m.tgt_text) for m in mentions))
    path = links_path(cache, lang, seed)
    if path.exists() and not refresh:
        with open(path, "rb") as handle:
            by_pair, token_pairs, seconds = pickle.load(handle)  # noqa: S301 - the bench's own cache file
    else:
        corpus = relx_pairs + [p for p in bitext(lang, cache) if p[0] and p[1]]
        token_pairs = []
        for src, tgt in corpus:
            s = texts.get(src) or tokenize_text(en_nlp, normalize_text(src, "en"))
            t = texts.get(tgt) or tokenize_text(xx_nlp, normalize_text(tgt, lang))
            if s.tokens and t.tokens:
                token_pairs.append((list(s.tokens), list(t.tokens)))
        started = time.process_time()
        settings = EflomalSettings(seed=seed)
        context = corpus_context(token_pairs[:16384], fit_priors=True, settings=settings, lang=lang)
        links = EflomalCalls(context.priors, settings).align(token_pairs)
        seconds = time.process_time() - started
        by_pair = dict(zip(relx_pairs, links, strict=False))
        cache.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as handle:
            pickle.dump((by_pair, token_pairs, seconds), handle)
    kb = load_kb(str(SHARED_DATA / "xfactr-kb"), (str(SHARED_DATA / "xfactr-aliases-extra"),), langs=("en", lang))
    entity_of = english_entities(kb)
    tgt_aliases = kb.aliases.get(lang, {})
    aliases = []
    for m in mentions:
        entity = entity_of.get(fold(m.src_text[m.src_span[0]:m.src_span[1]]))
        aliases.append([normalize_text(a, lang) for a in tgt_aliases.get(entity, [])] if entity else [])
    return Prepared(lang, mentions, [texts[m.src_text] for m in mentions], [texts[m.tgt_text] for m in mentions],
                    [by_pair[(m.src_text, m.tgt_text)] for m in mentions], aliases, token_pairs, seconds)


def evaluate(prep: Prepared, function_words: frozenset[str], errors: int = 0,
             src_function_words: frozenset[str] = frozenset()) -> dict:
    right, right_chars, reasons, inside_token, shown = 0, 0, Counter(), 0, 0
    for m, src, tgt, alignment, aliases in zip(prep.mentions, prep.src_tokens, prep.tgt_tokens, prep.alignments,
                                               prep.aliases, strict=True):
        if token_span(tgt, m.tgt_span) and (m.tgt_span[1] not in tgt.ends or m.tgt_span[0] not in tgt.starts):
            inside_token += 1
        span = token_span(src, m.src_span)
        if span is None:
            reasons["no source tokens"] += 1
            continue
        result = project_span(span, alignment, list(src.tokens), list(tgt.tokens), tgt_aliases=aliases,
                              function_words=entity_function_words(function_words, aliases),
                              src_function_words=src_function_words,
                              apostrophe_suffixes=prep.lang in APOSTROPHE_SUFFIX_LANGS)
        if not isinstance(result, ProjectedSpan):
            pronoun = m.src_text[m.src_span[0]:m.src_span[1]].lower() in PRONOUNS
            reasons[f"reject {result.reason}" + (" (pronoun source)" if pronoun else "")] += 1
            continue
        chars = (tgt.starts[result.token_start], tgt.ends[result.token_end - 1])
        right_chars += chars == m.tgt_span
        if (result.token_start, result.token_end) == token_span(tgt, m.tgt_span):
            right += 1
            continue
        reasons["wrong span"] += 1
        if shown < errors:
            shown += 1
            print(f"    {m.example}: {m.src_text[m.src_span[0]:m.src_span[1]]!r} -> "
                  f"{m.tgt_text[chars[0]:chars[1]]!r}, gold {m.tgt_text[m.tgt_span[0]:m.tgt_span[1]]!r}")
    total = len(prep.mentions)
    return {"exact": right / total, "chars": right_chars / total, "n": total, "reasons": reasons,
            "inside_token": inside_token}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--langs", nargs="*", default=["de", "fr", "es", "tr"])
    parser.add_argument("--errors", type=int, default=0, help="print this many wrong projections per row")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/xds-bench-cache"),
                        help="where XQuAD sentence pairs are kept between runs")
    parser.add_argument("--refresh", action="store_true", help="align again instead of using the cached links")
    parser.add_argument("--eflomal-seed", type=int, nargs="*", default=[None],
                        help="seed eflomal (as the pipeline's --eflomal-seed); several seeds give one row set each, "
                             "the links of each kept in --cache")
    args = parser.parse_args(argv)
    print("| lang | seed | function words | exact span | exact characters | wrong | rejects by reason | "
          "gold ends inside a token | corpus pairs | align CPU s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for lang, seed in ((lang, seed) for lang in args.langs for seed in args.eflomal_seed):
        prep = prepare(lang, args.cache, args.refresh, seed)
        words = corpus_context(prep.corpus_pairs[:16384], fit_priors=False, lang=lang).function_words
        rows = (("none", frozenset(), frozenset()),
                ("the pipeline's (corpus_context)", words, stop_words("en")))
        for label, function_words, src_words in rows:
            m = evaluate(prep, function_words, args.errors, src_words)
            rejects = ", ".join(f"{k} {v}" for k, v in sorted(m["reasons"].items()) if k != "wrong span") or "-"
            print(f"| {lang} | {'-' if seed is None else seed} | {label} | {m['exact']:.3f} | {m['chars']:.3f} | "
                  f"{m['reasons']['wrong span']} | "
                  f"{rejects} | {m['inside_token']}/{m['n']} | {len(prep.corpus_pairs)} | {prep.seconds:.0f} |",
                  flush=True)
        print(f"    {lang} function words: {' '.join(sorted(words))}", flush=True)


if __name__ == "__main__":
    main()
