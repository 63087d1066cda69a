"""Old vs new implementation of the stage functions sped up with identical outputs.

On 4,000 real pairs (2,000 EN-DE and 2,000 EN-ZH: NTREX-128, topped up from WMT22 general test), in one
process, warm (one untimed pass of each first), interleaved (old then new, new then old, ... for ``--rounds``), timed
by CPU time (``time.process_time``), the 1-minute load average printed before and after each stage:

* validate: ``validate_pair`` with py3langid's own LanguageIdentifier (old) vs pipelines.validate's
  FastLanguageIdentifier (new); the outputs (pairs or rejects with their details) must be equal.
* tokenize: both sides of a pair through spaCy's Doc (``tokenize_doc``, old) vs ``tokenize_text`` (new: jieba
  offsets for zh); ratio also per target language (the English side is the same code in both).
* is_punct (project): ``is_punct.__wrapped__`` (no cache, old) vs the memoised ``is_punct`` (new) on every
  source and target token of every pair, as projection asks of them; the project stage itself is not timed here.

``--shortcut`` also measures a language-id shortcut (skip py3langid when the declared language is evident
from distinctive stop words, :func:`evident`) on deliberately mislabelled lines: real NTREX-128, XQuAD and
europarl-ner-parallel (it) lines declared as each other language of en/de/fr/es/it. It could be adopted only
if it accepts no more mislabelled lines than today's check (it can only turn rejections into acceptances, so
good lines cannot lose); results and the decision: bench/results/stage_speed.md.

    python -m bench.stage_speed --rounds 6 --shortcut
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import logging
import os
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence

from bench.paths import SHARED_DATA

logger = logging.getLogger(__name__)

PAIRS_PER_LANG = 2000
SOURCES = {  # target language -> (NTREX-128 reference, WMT22 English source, WMT22 reference)
    "de": ("newstest2019-ref.deu.txt", "generaltest2022.en-de.src.en", "generaltest2022.en-de.ref.A.de"),
    "zh": ("newstest2019-ref.zho-CN.txt", "generaltest2022.en-zh.src.en", "generaltest2022.en-zh.ref.A.zh"),
}
MISLABEL_LANGS = ("en", "de", "fr", "es", "it")


def _lines(path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def load_pairs(per_lang: int = PAIRS_PER_LANG) -> list:
    """``per_lang`` EN-DE and EN-ZH records (NTREX-128 first, then WMT22), as the read stage makes them."""
    from pipelines.read import make_record

    records = []
    for lang, (ntrex_ref, wmt_src, wmt_ref) in SOURCES.items():
        src = _lines(SHARED_DATA / "ntrex128" / "newstest2019-src.eng.txt")
        tgt = _lines(SHARED_DATA / "ntrex128" / ntrex_ref)
        src += _lines(SHARED_DATA / "wmt-news" / "wmt22" / wmt_src)
        tgt += _lines(SHARED_DATA / "wmt-news" / "wmt22" / wmt_ref)
        for k, (s, t) in enumerate(zip(src[:per_lang], tgt[:per_lang], strict=True)):
            records.append(make_record(s, t, "en", lang, f"bench:{lang}:{k}"))
    return records


def interleaved(name: str, old: Callable[[], object], new: Callable[[], object], rounds: int,
                compare: bool = True) -> dict:
    """CPU seconds of ``old`` and ``new`` over ``rounds`` alternating runs (after one warm run of each), and
    whether they returned equal results (None when ``compare`` is off: not meant to be equal)."""
    want, got = old(), new()  # warm: model loads, compiled code, caches
    same = want == got if compare else None
    del want, got
    # The models' objects (jieba's 350k-word dictionary, spaCy's vocab) move out of the collector's reach, as a
    # long-running worker's would end up: otherwise a full collection walks them at a random moment and its cost
    # lands on whichever run triggered it (runs of the same code differed 2x that way).
    gc.collect()
    gc.freeze()
    cpu: dict[str, list[float]] = {"old": [], "new": []}
    load = [os.getloadavg()[0]]
    for k in range(rounds):
        # the order alternates too (old first, then new first): the second run of a round profits from the
        # first's warm CPU caches, which a fixed order would credit to one side
        for label, fn in (("old", old), ("new", new))[::1 if k % 2 == 0 else -1]:
            gc.collect()
            start = time.process_time()
            fn()
            cpu[label].append(time.process_time() - start)
    load.append(os.getloadavg()[0])
    # per-round ratios: their median resists a burst of load on one run, their range shows the noise
    ratios = sorted(a / b for a, b in zip(cpu["old"], cpu["new"], strict=True))
    row = {"stage": name, "old_s": round(sum(cpu["old"]), 3), "new_s": round(sum(cpu["new"]), 3),
           "ratio": round(sum(cpu["old"]) / sum(cpu["new"]), 2), "median": round(statistics.median(ratios), 2),
           "range": [round(ratios[0], 2), round(ratios[-1], 2)], "identical": same,
           "load1": [round(x, 2) for x in load]}
    print(json.dumps(row), flush=True)
    return row


def bench_validate(pairs: Sequence, rounds: int) -> dict:
    from py3langid import langid

    from pipelines.validate import _identifier, validate_pair

    reference = langid.LanguageIdentifier.from_modelpath(langid.MODEL_DIR / langid.MODEL_FILE, norm_probs=True)
    fast = _identifier()
    return interleaved("validate", lambda: [validate_pair(p, identifier=reference) for p in pairs],
                       lambda: [validate_pair(p, identifier=fast) for p in pairs], rounds)


def bench_tokenize(pairs: Sequence, rounds: int) -> list[dict]:
    from pipelines.tokenize import load_spacy, tokenize_doc, tokenize_text

    nlp = {lang: load_spacy(lang) for lang in ("en", "de", "zh")}
    def both_sides(tokenize, subset):
        return [(tokenize(nlp[p.src_lang], p.src_text), tokenize(nlp[p.tgt_lang], p.tgt_text)) for p in subset]

    def zh_side(tokenize, subset):
        return [tokenize(nlp["zh"], p.tgt_text) for p in subset]

    en_de, en_zh = [p for p in pairs if p.tgt_lang == "de"], [p for p in pairs if p.tgt_lang == "zh"]
    # en-de runs the same code on both sides (a control: its distance from 1.00 is the measurement's noise)
    return [interleaved(label, functools.partial(run, tokenize_doc, subset), functools.partial(run, tokenize_text,
                                                                                              subset), rounds)
            for label, run, subset in (("tokenize (both sides, all pairs)", both_sides, pairs),
                                       ("tokenize en-de (control: same code)", both_sides, en_de),
                                       ("tokenize en-zh (both sides)", both_sides, en_zh),
                                       ("tokenize zh side only", zh_side, en_zh))]


def bench_is_punct(pairs: Sequence, rounds: int) -> dict:
    from alignment.projection.scoring import is_punct
    from pipelines.tokenize import load_spacy, tokenize_text

    nlp = {lang: load_spacy(lang) for lang in ("en", "de", "zh")}
    tokens = [tok for p in pairs for side in ("src", "tgt")
              for tok in tokenize_text(nlp[p.lang(side)], p.text(side)).tokens]
    return interleaved("is_punct (project)", lambda: [is_punct.__wrapped__(t) for t in tokens],
                       lambda: [is_punct(t) for t in tokens], rounds)


# --- the language-id shortcut experiment ---------------------------------------------------------------------

_WORD = re.compile(r"[^\W\d_]+")


@functools.cache
def distinctive_stop_words(lang: str) -> frozenset[str]:
    """spaCy stop words of ``lang`` that are a stop word of no other language spaCy has a list for."""
    import pkgutil

    import spacy.lang

    from pipelines.tokenize import stop_words

    others: set[str] = set()
    for module in pkgutil.iter_modules(spacy.lang.__path__):
        if module.ispkg and module.name != lang:
            others |= stop_words(module.name)
    return stop_words(lang) - others


def evident(text: str, lang: str, min_words: int = 3, min_share: float = 0.15) -> bool:
    """``text`` holds at least ``min_words`` distinctive stop words of ``lang``, and they are at least
    ``min_share`` of its words (the candidate shortcut: py3langid is then skipped)."""
    words = _WORD.findall(text.lower())
    if not words:
        return False
    hits = sum(map(distinctive_stop_words(lang).__contains__, words))
    return hits >= min_words and hits >= min_share * len(words)


def mislabelled_lines() -> dict[str, list[str]]:
    """Real lines per language: NTREX-128 (en, de, fr, es), XQuAD contexts (de, es, en, ru, tr, vi, ro, el) and
    europarl-ner-parallel sentences (it: its tokens joined by spaces)."""
    from bench.data import read_conll_sentences
    from pipelines.validate import LANGID_PREFIX

    lines: dict[str, list[str]] = {}
    for lang, name in (("en", "newstest2019-src.eng.txt"), ("de", "newstest2019-ref.deu.txt"),
                       ("fr", "newstest2019-ref.fra.txt"), ("es", "newstest2019-ref.spa.txt")):
        lines.setdefault(lang, []).extend(_lines(SHARED_DATA / "ntrex128" / name))
    for lang in ("de", "es", "en", "ru", "tr", "vi", "ro", "el"):
        data = json.loads((SHARED_DATA / "xquad" / f"xquad.{lang}.json").read_text(encoding="utf-8"))
        lines.setdefault(lang, []).extend(p["context"][:LANGID_PREFIX * 2] for a in data["data"]
                                          for p in a["paragraphs"])
    conll = SHARED_DATA / "europarl-ner-parallel" / "it-europarl.test.conll02"
    lines["it"] = [" ".join(tok for tok, _ in sent) for sent in read_conll_sentences(conll)]
    return lines


# (min_words, min_share) settings of :func:`evident` tried; the default first
SHORTCUT_SETTINGS = ((3, 0.15), (1, 0.0), (2, 0.0), (2, 0.1), (3, 0.1), (3, 0.2), (4, 0.25))


def bench_shortcut(rounds: int) -> dict:
    from pipelines.normalize import normalize_text
    from pipelines.validate import check_language

    lines = {lang: [normalize_text(t, lang) for t in texts] for lang, texts in mislabelled_lines().items()}
    cases = [(text, true_lang, declared, check_language(text, declared) is None)
             for true_lang, texts in lines.items() for declared in MISLABEL_LANGS for text in texts]
    good = [c for c in cases if c[1] == c[2]]
    wrong = [c for c in cases if c[1] != c[2]]
    table = []
    for min_words, min_share in SHORTCUT_SETTINGS:
        short_good = [evident(text, declared, min_words, min_share) for text, _, declared, _ in good]
        short_wrong = [evident(text, declared, min_words, min_share) for text, _, declared, _ in wrong]
        let_through = [c for c, short in zip(wrong, short_wrong, strict=True) if short and not c[3]]
        row = {"min_words": min_words, "min_share": min_share, "good_lines": len(good),
               "good_rejected_today": sum(not c[3] for c in good),
               "good_rejected_shortcut": sum(not (c[3] or s) for c, s in zip(good, short_good, strict=True)),
               "good_evident": sum(short_good), "mislabelled_lines": len(wrong),
               "mislabelled_accepted_today": sum(c[3] for c in wrong),
               "mislabelled_accepted_shortcut": sum(c[3] or s for c, s in zip(wrong, short_wrong, strict=True)),
               "examples_let_through": [{"true": c[1], "declared": c[2], "text": c[0][:100]} for c in let_through[:3]]}
        row["safe"] = row["mislabelled_accepted_shortcut"] <= row["mislabelled_accepted_today"]
        print(json.dumps(row, ensure_ascii=False), flush=True)
        table.append(row)

    good_texts = [(text, declared) for text, _, declared, _ in good]
    speed = interleaved("language id + shortcut (good lines)",
                        lambda: [check_language(t, lang) for t, lang in good_texts],
                        lambda: [None if evident(t, lang) else check_language(t, lang) for t, lang in good_texts],
                        rounds, compare=False)
    return {"counts": table, "speed": speed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="timed old/new alternations per stage")
    parser.add_argument("--pairs-per-lang", type=int, default=PAIRS_PER_LANG)
    parser.add_argument("--shortcut", action="store_true", help="also measure the language-id shortcut")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not (SHARED_DATA / "ntrex128").is_dir():
        print(f"skipped: needs the project's shared data at {SHARED_DATA} (ntrex128, wmt-news, xquad); "
              "set XDS_SHARED_DATA to its folder", file=sys.stderr)
        return 0
    pairs = load_pairs(args.pairs_per_lang)
    print(f"{len(pairs)} pairs, {os.cpu_count()} cpus, load1 {os.getloadavg()[0]:.2f}, "
          f"rounds {args.rounds}, CPU time (process_time)", flush=True)
    rows = [bench_validate(pairs, args.rounds), *bench_tokenize(pairs, args.rounds),
            bench_is_punct(pairs, args.rounds)]
    if args.shortcut:
        rows.append(bench_shortcut(args.rounds)["speed"])
    print("\n| stage | old CPU s | new CPU s | old/new (sums) | per-round median [range] | outputs identical | "
          "load1 before-after |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['stage']} | {r['old_s']} | {r['new_s']} | {r['ratio']}x | {r['median']}x [{r['range'][0]}-"
              f"{r['range'][1]}] | {r['identical']} | {r['load1'][0]}-{r['load1'][1]} |")
    return 0 if all(r["identical"] is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
