"""Zero-shot scoring of rex models on human-labelled relation sentences (RELX dev: KBP-37 in EN/DE/FR/ES/TR).

The models are trained on distant labels (Wikidata properties of the X-FACTR KB); RELX is labelled with KBP-37
relations. ``kbp37_to_wikidata.tsv`` (beside the data) maps the KBP-37 relations that have a counterpart to one or
more properties. The protocol, fixed before looking at any model's figures:

* **Classes.** KBP-37 relations whose property sets overlap are one class (the connected components of the mapping:
  the three headquarters relations with P159|P17 are one class, country of birth and origin with P19|P27 another).
  A class is scored only if at least one of its properties is in the model's label set.
* **Items.** Every example whose label maps to a scored class is a positive for that class; ``no_relation``
  examples are negatives (gold all zero); examples with an unmapped label (residence, founded by, ...) are left out.
* **Direction rule.** The model is run with the two mentions in both orders (e1 as head, then e2 as head); an
  example's score for a class is the maximum over both orders and over the class's properties. Direction is not
  scored: the KBP-37 and Wikidata directions do not correspond one to one, and the translators sometimes swapped
  the markers.
* **Metrics**, per language: micro P/R/F1 at the model's own threshold, average precision over all (example, class)
  pairs (sklearn), top-1 (share of positive examples whose best class is the gold one), ROC AUC of "some relation"
  (max class score) against ``no_relation``, and bootstrap standard errors of AP and top-1 (resampled examples).
* **Baselines in the same table:** random scores (mean over 50 draws), majority (the most frequent gold class of
  that language for every example: an oracle prior, stronger than any fair constant), always-NA, and optionally
  BoW-LR (bench/rex_quality.py's char-n-gram one-vs-rest LR) trained on the train split of ``--bow-shards``.

Retrieval-fused models get no KB ids here (RELX entities are not linked): they are run with their fact index
(``--retrieval-index`` overrides the one in their config) on empty entity ids, so they see no facts and are scored
on the text alone, as a user's sentence with unlinked mentions is.
For evaluation only: never train or tune thresholds on these sentences.

    python -m bench.rex_human --models out/demo/model --out out/rex-human
    python -m bench.rex_human --models A B --bow-shards out/shards-* --out out/rex-human
"""

from __future__ import annotations

import argparse
import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from bench.paths import SHARED_DATA
from rex.encoder import mark_text
from rex.metrics import prf

log = logging.getLogger(__name__)

DATA = SHARED_DATA / "relx-dev"
LANGS = ("en", "de", "fr", "es", "tr")
NO_RELATION = "no_relation"
_MARKER = re.compile(r"\s*</(e[12])>|<(e[12])>\s*")
_LABEL = re.compile(r"^([a-z]+:[a-z_/]+)\((e[12]),(e[12])\)$")

Span = tuple[int, int]


@dataclass(frozen=True)
class Example:
    """One RELX sentence: plain text, the two gold mention spans (half-open characters) and its KBP-37 label."""

    id: str
    lang: str
    text: str
    e1: Span
    e2: Span
    relation: str  # direction-free KBP-37 relation, or "no_relation"


def strip_markers(marked: str) -> tuple[str, Span, Span]:
    """``"a <e1> X </e1> b <e2> Y </e2>"`` -> ("a X b Y", span of X, span of Y); ValueError unless each marker
    occurs once, opening before closing. The white space on the inner side of a marker (``<e1> X``, ``X </e1>``)
    goes with the marker; the outer side keeps its space, so the words stay apart."""
    pieces, spans, last, length = [], {}, 0, 0
    for match in _MARKER.finditer(marked):
        piece = marked[last:match.start()]
        pieces.append(piece)
        length += len(piece)
        closing, opening = match.group(1), match.group(2)
        if opening and opening not in spans:
            spans[opening] = (length, None)
        elif closing and closing in spans and spans[closing][1] is None:
            spans[closing] = (spans[closing][0], length)
        else:
            raise ValueError(f"marker {match.group(0).strip()!r} out of order or repeated")
        last = match.end()
    pieces.append(marked[last:])
    if set(spans) != {"e1", "e2"} or any(end is None for _, end in spans.values()):
        raise ValueError("needs <e1>...</e1> and <e2>...</e2>")
    return "".join(pieces), spans["e1"], spans["e2"]


def read_relx(path: Path, lang: str) -> list[Example]:
    """A KBP-37 format file: blocks of ``id<TAB>"sentence"`` and a label line, separated by blank lines."""
    examples = []
    blocks = [b for b in re.split(r"\n\s*\n", path.read_text(encoding="utf-8")) if b.strip()]
    for number, block in enumerate(blocks, start=1):
        lines = [line for line in block.strip().splitlines() if line.strip()]
        if len(lines) < 2 or "\t" not in lines[0]:
            raise ValueError(f"{path}: block {number} is not '<id>\\t\"sentence\"' plus a label line")
        ex_id, sentence = lines[0].split("\t", 1)
        sentence = sentence.strip()
        if len(sentence) >= 2 and sentence[0] == sentence[-1] == '"':
            sentence = sentence[1:-1]
        try:
            text, e1, e2 = strip_markers(sentence)
        except ValueError as err:
            raise ValueError(f"{path}: example {ex_id}: {err}") from err
        label = lines[1].strip()
        match = _LABEL.match(label)
        if label != NO_RELATION and not match:
            raise ValueError(f"{path}: example {ex_id}: unknown label {label!r}")
        examples.append(Example(ex_id.strip(), lang, text, e1, e2, match.group(1) if match else NO_RELATION))
    return examples


def read_mapping(path: Path) -> dict[str, tuple[str, ...]]:
    """kbp37_to_wikidata.tsv -> {KBP-37 relation: (property, ...)} (no_relation and comments left out)."""
    mapping = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        kbp, props = line.split("\t")[:2]
        if kbp != NO_RELATION and props.strip() != "-":
            mapping[kbp] = tuple(p for p in props.strip().split("|") if p)
    return mapping


def classes_of(mapping: dict[str, tuple[str, ...]], labels: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Merge KBP-37 relations with overlapping property sets; keep the properties in ``labels``.
    Returns {class name: properties}; the name joins the properties, e.g. "P159|P17"."""
    groups: list[set[str]] = []
    for props in mapping.values():
        merged = set(props)
        for group in [g for g in groups if g & merged]:
            merged |= group
            groups.remove(group)
        groups.append(merged)
    known = set(labels)
    out = {}
    for group in groups:
        kept = tuple(sorted(group & known))
        if kept:
            out["|".join(sorted(group))] = kept
    return out


def gold_matrix(examples: Sequence[Example], mapping, classes: dict[str, tuple[str, ...]]
                ) -> tuple[list[int], np.ndarray]:
    """(indices of the scored examples, gold (M, C) 0/1). An example is kept if it is no_relation or its
    relation maps into a scored class."""
    names = list(classes)
    keep, rows = [], []
    for i, ex in enumerate(examples):
        row = np.zeros(len(names))
        if ex.relation != NO_RELATION:
            props = set(mapping.get(ex.relation, ()))
            hits = [c for c, name in enumerate(names) if props & set(name.split("|"))]
            if not hits or not props & {p for c in hits for p in classes[names[c]]}:
                continue
            row[hits] = 1
        keep.append(i)
        rows.append(row)
    return keep, np.array(rows).reshape(len(rows), len(names))


def class_scores(probs_12: np.ndarray, probs_21: np.ndarray, labels: Sequence[str],
                 classes: dict[str, tuple[str, ...]]) -> np.ndarray:
    """(M, R) model probabilities in both mention orders -> (M, C): max over orders and the class's properties."""
    both = np.maximum(probs_12, probs_21)
    index = {label: i for i, label in enumerate(labels)}
    return np.stack([both[:, [index[p] for p in props]].max(axis=1) for props in classes.values()], axis=1)


def score_table(gold: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """Every metric of one system on one language: gold and scores (M, C)."""
    out = {k: v for k, v in prf(gold, scores >= threshold).items() if k.startswith("micro")}
    out["ap"] = _ap(gold, scores)
    out["top1"] = _top1(gold, scores)
    has_rel = gold.max(axis=1) > 0
    out["roc_auc_any"] = (float(roc_auc_score(has_rel, scores.max(axis=1)))
                          if 0 < has_rel.sum() < len(has_rel) else float("nan"))
    rng = np.random.default_rng(0)
    aps, tops = [], []
    for _ in range(200):
        pick = rng.integers(0, len(gold), len(gold))
        aps.append(_ap(gold[pick], scores[pick]))
        tops.append(_top1(gold[pick], scores[pick]))
    out["ap_se"], out["top1_se"] = float(np.nanstd(aps)), float(np.nanstd(tops))
    out["items"], out["positives"] = int(len(gold)), int(has_rel.sum())
    return out


def _ap(gold: np.ndarray, scores: np.ndarray) -> float:
    flat = gold.ravel()
    return float(average_precision_score(flat, scores.ravel())) if flat.sum() else float("nan")


def _top1(gold: np.ndarray, scores: np.ndarray) -> float:
    positive = gold.max(axis=1) > 0
    if not positive.any():
        return float("nan")
    # ties at the top share the credit (the expected value of breaking them at random), so constant scores
    # are not credited with whichever class happens to come first
    top = scores[positive] == scores[positive].max(axis=1, keepdims=True)
    return float(((gold[positive] * top).sum(axis=1) / top.sum(axis=1)).mean())


def baselines(gold: np.ndarray, threshold: float = 0.5, draws: int = 50) -> dict[str, dict[str, float]]:
    """Random (mean over ``draws`` uniform draws), oracle majority class, always-NA."""
    rng = np.random.default_rng(0)
    runs = [score_table(gold, rng.random(gold.shape), threshold) for _ in range(draws)]
    random = {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}
    majority = np.zeros_like(gold)
    majority[:, int(gold.sum(axis=0).argmax())] = 1.0
    return {"random": random, "majority (oracle)": score_table(gold, majority, threshold),
            "always-NA": score_table(gold, np.zeros_like(gold), threshold)}


def marked_both(examples: Sequence[Example]) -> tuple[list[str], list[str]]:
    """The model inputs with e1 as head and with e2 as head."""
    return ([mark_text(ex.text, ex.e1, ex.e2) for ex in examples],
            [mark_text(ex.text, ex.e2, ex.e1) for ex in examples])


def model_scorer(model_dir: str, device, retrieval_index: str | None = None
                 ) -> tuple[list[str], float, Callable[[list[str]], np.ndarray]]:
    """(labels, threshold, marked texts -> (N, R) probabilities) of a saved rex model (a retrieval model through
    its retriever, which finds no facts for the empty entity ids)."""
    from rex.model.io import load_model_dir
    from rex.predict import predict_records
    from rex.retrieval.policy import build_retriever

    loaded = load_model_dir(model_dir, device)
    loaded.model.eval()
    retriever = build_retriever(loaded.config.model.retrieval, "predict", index_dir=retrieval_index)

    def score(marked: list[str]) -> np.ndarray:
        rows = []
        for start in range(0, len(marked), 64):
            records = [{"id": None, "language": None, "marked": m, "pair": ("", "")}
                       for m in marked[start:start + 64]]
            for out in predict_records(loaded, records, device, retriever):
                rows.append([out["scores"][label] for label in loaded.labels])
        return np.array(rows)

    return list(loaded.labels), float(loaded.config.model.threshold), score


def bow_scorer(shards: Sequence[str], cache_dir: Path) -> tuple[list[str], Callable[[list[str]], np.ndarray]]:
    """BoW-LR of bench/rex_quality.py, trained on the train split of ``shards``."""
    from bench.rex_quality import bow_text, bow_vectorizer, instances, ovr_probs
    from rex.config import DataConfig
    from rex.data import build_bag_cache, resolve_shards

    cfg = DataConfig(shards=list(shards), max_length=128, max_bag_size=16)
    cache = build_bag_cache(resolve_shards(shards), "train", cfg, str(cache_dir))
    rows = instances(cache, cfg.max_bag_size, 13)
    labels = cache.labels
    vectorizer = bow_vectorizer()
    x_train = vectorizer.fit_transform([r[2] for r in rows])
    train_labels = [r[3] for r in rows]

    def score(marked: list[str]) -> np.ndarray:
        x = vectorizer.transform([bow_text(m) for m in marked])
        return ovr_probs(x_train, train_labels, x, labels)

    return labels, score


def evaluate_system(examples_by_lang, mapping, labels, threshold, score) -> dict[str, dict]:
    """{lang: metrics} of one scorer, plus the gold of each language (for the baselines). ``score`` is called
    once, on every language's inputs in both orders (BoW-LR fits its classifier in that call)."""
    classes = classes_of(mapping, labels)
    kept, golds, marked = {}, {}, []
    for lang, examples in examples_by_lang.items():
        keep, golds[lang] = gold_matrix(examples, mapping, classes)
        kept[lang] = [examples[i] for i in keep]
        first, second = marked_both(kept[lang])
        marked += first + second
    probs = score(marked)
    out, start = {}, 0
    for lang, examples in kept.items():
        n = len(examples)
        scores = class_scores(probs[start:start + n], probs[start + n:start + 2 * n], labels, classes)
        start += 2 * n
        out[lang] = {"metrics": score_table(golds[lang], scores, threshold), "gold": golds[lang],
                     "classes": list(classes)}
    return out


def format_table(results: dict[str, dict[str, dict]]) -> str:
    """Markdown: one row per system, per language 'micro F1 / AP ± se / top-1 ± se'."""
    langs = sorted({lang for per in results.values() for lang in per}, key=lambda x: LANGS.index(x)
                   if x in LANGS else 99)
    lines = ["| system | " + " | ".join(langs) + " |", "|---|" + "---|" * len(langs)]
    for name, per in results.items():
        cells = []
        for lang in langs:
            m = per.get(lang)
            cells.append("-" if m is None else
                         f"{m['micro_f1']:.2f} / {m['ap']:.3f}±{m['ap_se']:.3f} / {m['top1']:.2f}±{m['top1_se']:.2f}"
                         f" (AUC {m['roc_auc_any']:.2f})")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DATA), help="folder with RELX_<lang>.dev.txt and the mapping "
                        "(default: %(default)s)")
    parser.add_argument("--langs", nargs="+", default=list(LANGS), help="languages (default: %(default)s)")
    parser.add_argument("--models", nargs="*", default=[], help="rex model directories to score")
    parser.add_argument("--retrieval-index", default=None,
                        help="fact index for retrieval models (default: the one in each model's config)")
    parser.add_argument("--bow-shards", nargs="*", default=[], help="shard folders to train BoW-LR on (optional)")
    parser.add_argument("--out", required=True, help="folder for results.json and table.md")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    import torch

    data = Path(args.data)
    if not (data / "kbp37_to_wikidata.tsv").is_file():
        raise SystemExit(f"error: no kbp37_to_wikidata.tsv in {data}")
    mapping = read_mapping(data / "kbp37_to_wikidata.tsv")
    examples = {lang: read_relx(data / f"RELX_{lang}.dev.txt", lang) for lang in args.langs}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    systems: dict[str, dict] = {}
    for model_dir in args.models:
        labels, threshold, score = model_scorer(model_dir, device, args.retrieval_index)
        systems[f"rex {model_dir}"] = evaluate_system(examples, mapping, labels, threshold, score)
    if args.bow_shards:
        labels, score = bow_scorer(args.bow_shards, out / "bow-cache")
        systems["BoW-LR"] = evaluate_system(examples, mapping, labels, 0.5, score)
    if not systems:
        # baselines alone: score over every mapped class
        all_props = sorted({p for props in mapping.values() for p in props})
        systems["(classes only)"] = evaluate_system(examples, mapping, all_props, 0.5,
                                                    lambda m: np.zeros((len(m), len(all_props))))
    results = {name: {lang: v["metrics"] for lang, v in per.items()} for name, per in systems.items()}
    # the baselines on the gold of the first system (the class set depends on the label set; say which)
    first_name, first = next(iter(systems.items()))
    per_lang = {lang: baselines(v["gold"]) for lang, v in first.items()}
    for base in next(iter(per_lang.values())):
        results[base] = {lang: tables[base] for lang, tables in per_lang.items()}
    classes = {name: next(iter(per.values()))["classes"] for name, per in systems.items()}
    (out / "results.json").write_text(json.dumps({"results": results, "classes": classes,
                                                  "baseline_classes_from": first_name}, indent=1))
    table = format_table(results)
    (out / "table.md").write_text(table + "\n")
    for name, scored in classes.items():
        print(f"classes scored for {name}: {scored}")
    print(f"baselines on the classes of {first_name}")
    print("cells: micro F1 / average precision ± bootstrap se / top-1 ± se (ROC AUC some-relation vs none)")
    print(table)


if __name__ == "__main__":
    main()
