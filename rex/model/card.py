"""The model card: a ``README.md`` in every model directory, saying what the model is, what it was trained on,
what it predicts, how well it did and where it should not be trusted.

Everything on the card comes from what the trainer knows when it saves: the config, the label set with names,
the shard roots' manifests (rex.lineage), the train split's relation counts and, for the final model, the dev
and test metrics. A checkpoint's card has no metrics yet and says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rex.config import RexConfig

CARD = "README.md"
METRIC_COLUMNS = ("items", "positive_items", "pr_auc", "micro_p", "micro_r", "micro_f1", "macro_f1", "p@100")


@dataclass
class CardFacts:
    """What the trainer knows about a model beyond its config and labels."""

    lineage: list[dict] = field(default_factory=list)  # rex.lineage.shard_lineage of data.shards
    train_stats: dict | None = None  # the train split's relation_stats (bags and instances per relation, language)
    results: dict | None = None  # the trainer's final results: steps, best_step, dev/test {group: metrics}


def write_model_card(directory: str | Path, config: RexConfig, labels: Sequence[str], names: Mapping[str, str],
                     facts: CardFacts | None = None) -> None:
    Path(directory, CARD).write_text(model_card(config, labels, names, facts or CardFacts()), encoding="utf-8")


def model_card(config: RexConfig, labels: Sequence[str], names: Mapping[str, str], facts: CardFacts) -> str:
    enc, mod = config.encoder, config.model
    encoder = ("a Transformer trained from scratch with a sentencepiece vocabulary (not a Hugging Face model)"
               if enc.kind == "transformer" else f"Hugging Face `{enc.name_or_path}`, tuning `{enc.tune}`")
    lines = [
        "# rex relation-extraction model", "",
        f"Multi-label relation classifier over {len(labels)} KB relations between two marked entities in a sentence; "
        f"encoder: {encoder}. Written by `rex train`.", "",
        "```python",
        "import rex",
        "model = rex.load(\"THIS_DIRECTORY\")",
        "model.predict(\"Ada Lovelace was born in London.\", (0, 12), (25, 31), \"en\")",
        "```", "",
        *_lineage(facts.lineage),
        *_labels(labels, names, facts.train_stats, mod.threshold, mod.lang_thresholds),
        *_config(config),
        *_metrics(facts.results),
        *_limits(facts.train_stats, config),
    ]
    return "\n".join(lines) + "\n"


def _lineage(lineage: Sequence[dict]) -> list[str]:
    out = ["## Training data", ""]
    if not lineage:
        return [*out, "Unknown (no shard roots recorded).", ""]
    out += ["| shard root | manifest | KB | kb_version | pipeline_version | built |", "|---|---|---|---|---|---|"]
    for e in lineage:
        paths = [f"`{p}`" if p else "" for p in (e["root"], e.get("manifest"), e.get("kb"))]
        paths[1] = paths[1] or "not found"
        out.append("| " + " | ".join(paths + [str(e.get(k) or "") for k in ("kb_version", "pipeline_version",
                                                                               "created_at")]) + " |")
    return [*out, ""]


def _labels(labels: Sequence[str], names: Mapping[str, str], stats: dict | None, threshold: float,
            lang_thresholds: Mapping[str, float] | None = None) -> list[str]:
    bags = (stats or {}).get("bags", {})
    per_lang = ""
    if lang_thresholds:
        cuts = ", ".join(f"{lang} {cut:.4g}" for lang, cut in sorted(lang_thresholds.items()))
        per_lang = f" Input in a language with its own cut (`model.lang_thresholds`: {cuts}) uses that cut instead."
    out = ["## Labels", "",
           f"One sigmoid per relation; a relation is predicted when its score is >= {threshold:.4g} "
           f"(`model.threshold`).{per_lang} No relation = no label predicted.", "",
           "| id | name | train bags |", "|---|---|---|"]
    out += [f"| {r} | {names.get(r, '(unknown)')} | {bags.get(r, '')} |" for r in labels]
    return [*out, ""]


def _config(config: RexConfig) -> list[str]:
    d, e, m, t = config.data, config.encoder, config.model, config.train
    retrieval = m.retrieval if m.retrieval is not None and m.retrieval.enabled else None
    rows = [
        ("encoder", f"kind={e.kind}, name_or_path={e.name_or_path}, tune={e.tune}, pooling={e.pooling}"
         + (f", hidden={e.hidden}, layers={e.layers}" if e.kind == "transformer" else "")),
        ("model", f"aggregator={m.aggregator}, head_hidden={m.head_hidden}, class_weighting={m.class_weighting}, "
                  f"consistency_weight={m.consistency_weight}"
                  + (f", lexical_buckets={m.lexical_buckets}" if m.lexical_buckets else "")
                  + (f", lang_bag_weight={m.lang_bag_weight}" if m.lang_bag_weight else "")),
        ("retrieval", f"index_dir={retrieval.index_dir}, k={retrieval.k} (predict needs the index and KB ids)"
         if retrieval else "off"),
        ("data", f"langs={d.langs or 'all'}, label_sources={d.label_sources}, min_confidence={d.min_confidence}, "
                 f"max_length={d.max_length}, max_bag_size={d.max_bag_size} (evaluation: {d.eval_max_bag_size})"),
        ("train", f"max_steps={t.max_steps}, batch_size={t.batch_size}, lr={t.lr}, schedule={t.schedule}, "
                  f"seed={t.seed}" + (f", init_from={t.init_from}" if t.init_from else "")),
    ]
    return ["## Configuration", "", "Full config: `config.json`.", "", "| section | values |", "|---|---|",
            *[f"| {k} | {v} |" for k, v in rows], ""]


def _metrics(results: dict | None) -> list[str]:
    out = ["## Metrics", ""]
    splits = {s: results[s] for s in ("dev", "test") if isinstance((results or {}).get(s), dict)}
    if not splits:
        return [*out, "Not evaluated yet (a checkpoint, or no dev/test split): see `metrics.json` of the run.", ""]
    out += [f"After {results.get('steps')} steps (best dev step {results.get('best_step')}). Measured against "
            "distant labels on whole cross-lingual bags (`all`) and per language (each bag restricted to that "
            "language's instances); `items` = bags.", "",
            "| split | group | " + " | ".join(METRIC_COLUMNS) + " |", "|---" * (len(METRIC_COLUMNS) + 2) + "|"]
    for split, groups in splits.items():
        for group, metrics in sorted(groups.items(), key=lambda kv: (kv[0] != "all", kv[0])):
            cells = [_fmt(metrics.get(c)) for c in METRIC_COLUMNS]
            out.append(f"| {split} | {group} | " + " | ".join(cells) + " |")
    return [*out, ""]


def _fmt(value) -> str:
    return f"{value:.3f}" if isinstance(value, float) else ("" if value is None else str(value))


def _limits(stats: dict | None, config: RexConfig) -> list[str]:
    langs = sorted({lang for per in (stats or {}).get("instances_by_lang", {}).values() for lang in per})
    seen = ", ".join(langs) if langs else (", ".join(config.data.langs) if config.data.langs else "unknown")
    return ["## Limits", "",
            "- **Distant labels.** Training and evaluation labels come from a KB, not from people: a sentence "
            "mentioning two entities gets every relation the KB holds between them, whether or not it expresses "
            "it, and projected instances inherit their source's labels through word alignment. The metrics above "
            "are agreement with those labels, not human-judged accuracy.",
            f"- **Languages.** Trained on: {seen}. In any other language the model is zero-shot (it relies on the "
            "encoder's multilinguality) and nothing here measures how well that works.",
            "- **Label set.** Only the relations listed above; direction matters (head -> tail); relations rare in "
            "training (few train bags) are unreliable.",
            "- **Scores** are per-relation probabilities from a model trained on a mostly no-relation mix; the "
            "threshold was tuned on the dev split when it exists.", ""]
