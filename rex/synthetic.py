"""Synthetic shards in the real SHARD_SCHEMA, for tests and load benchmarks (never for quality figures).

English rows are 'linked'; each has a German 'projected' twin (``source_instance_id`` set, a projection
confidence) and some pairs have a directly linked German row. Relations come from sentence templates, so
a model can learn them; a share of pairs have no relation (NA templates).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np

from schemas.io import write_parquet
from schemas.shard import SHARD_SCHEMA, SPLITS, make_instance_id

TEMPLATES = {
    "P19": {"en": "{h} was born in {t} .", "de": "{h} wurde in {t} geboren ."},
    "P27": {"en": "{h} is a citizen of {t} .", "de": "{h} ist Staatsbürger von {t} ."},
    "P36": {"en": "The capital of {h} is {t} .", "de": "Die Hauptstadt von {h} ist {t} ."},
    "P108": {"en": "{h} works for {t} .", "de": "{h} arbeitet für {t} ."},
}
NA_TEMPLATES = {"en": "{h} and {t} were in the news .", "de": "{h} und {t} waren in den Nachrichten ."}
_PLACEHOLDER = re.compile(r"\{([ht])\}")


def split_of(head: str, tail: str) -> str:
    """train/dev/test by a SHA-1 hash of the unordered pair (70/15/15). Not the pipeline's split (other fractions
    and hash): synthetic shards only need pair-disjoint splits of their own."""
    a, b = sorted((head, tail))
    bucket = int(hashlib.sha1(f"{a}|{b}".encode()).hexdigest()[:8], 16) % 100
    return "train" if bucket < 70 else "dev" if bucket < 85 else "test"


def make_row(template: str, lang: str, head: tuple[str, str], tail: tuple[str, str], relations: list[str],
             pair_id: str, label_source: str = "linked", source_id: str | None = None,
             confidence: float | None = None, split: str | None = None) -> dict:
    """One shard row from a template with {h}/{t}; head/tail are (kb_id, surface)."""
    text, spans, last = "", {}, 0
    for match in _PLACEHOLDER.finditer(template):
        text += template[last : match.start()]
        kb_id, surface = head if match.group(1) == "h" else tail
        spans[match.group(1)] = (kb_id, len(text), len(text) + len(surface), surface)
        text += surface
        last = match.end()
    text += template[last:]
    starts = [m.start() for m in re.finditer(r"\S+", text)]
    ends = [m.end() for m in re.finditer(r"\S+", text)]

    def span(key: str) -> dict:
        kb_id, cs, ce, surface = spans[key]
        ts = next(i for i, s in enumerate(starts) if s == cs)
        te = next(i for i, e in enumerate(ends) if e == ce) + 1
        return {"kb_id": kb_id, "token_start": ts, "token_end": te, "char_start": cs, "char_end": ce,
                "surface": surface}

    row = {
        "pair_id": pair_id, "source_instance_id": source_id, "lang": lang, "text": text,
        "tokens": text.split(), "token_starts": starts, "token_ends": ends, "head": span("h"), "tail": span("t"),
        "relations": sorted(relations), "label_source": label_source, "projection_confidence": confidence,
        "aligner": "synthetic" if label_source == "projected" else None,
        "split": split or split_of(head[0], tail[0]), "kb_version": "synthetic-kb", "pipeline_version": "0.0-test",
    }
    row["instance_id"] = make_instance_id(row)
    return row


def synthetic_rows(num_pairs: int = 60, seed: int = 0, na_share: float = 0.3,
                   sentences_per_pair: int = 2) -> list[dict]:
    """Rows for ``num_pairs`` entity pairs: English linked rows, German projected twins, some German linked rows."""
    rng = np.random.default_rng(seed)
    rels = sorted(TEMPLATES)
    rows: list[dict] = []
    for p in range(num_pairs):
        head, tail = (f"Q{1000 + 2 * p}", f"Ent{p}a"), (f"Q{1001 + 2 * p}", f"Ent{p}b")
        relation = None if rng.random() < na_share else rels[int(rng.integers(len(rels)))]
        labels = [relation] if relation else []
        for s in range(sentences_per_pair):
            templates = TEMPLATES[relation] if relation else NA_TEMPLATES
            pair_id = f"pair-{p}-{s}"
            src = make_row(templates["en"], "en", head, tail, labels, pair_id)
            conf = float(np.round(rng.uniform(0.3, 1.0), 3))
            twin = make_row(templates["de"], "de", head, tail, labels, pair_id, "projected", src["instance_id"], conf)
            rows += [src, twin]
        if p % 3 == 0:
            templates = TEMPLATES[relation] if relation else NA_TEMPLATES
            rows.append(make_row(templates["de"], "de", head, tail, labels, f"pair-{p}-de"))
    return rows


def write_synthetic_shards(out_dir: str | Path, num_pairs: int = 60, seed: int = 0, files_per_split: int = 2,
                           **kwargs) -> Path:
    """Write ``<out_dir>/<split>/part-*.parquet`` like the pipeline does; returns ``out_dir``."""
    out = Path(out_dir)
    rows = synthetic_rows(num_pairs, seed, **kwargs)
    for split in SPLITS:
        part = [r for r in rows if r["split"] == split]
        (out / split).mkdir(parents=True, exist_ok=True)
        for i in range(files_per_split):
            chunk = part[i::files_per_split]
            if chunk:
                write_parquet(chunk, str(out / split / f"part-{i:05d}.parquet"), SHARD_SCHEMA)
    return out


def tiny_config(shard_dirs: list[str], steps: int = 8, **train_overrides):
    """A seconds-scale configuration for tests: a 1-layer 32-wide encoder, a small vocabulary."""
    from rex.config import DataConfig, EncoderConfig, ModelConfig, RexConfig, TrainConfig

    train = {"batch_size": 4, "eval_batch_size": 16, "lr": 3e-3, "warmup_steps": 2, "max_steps": steps,
             "eval_every": steps, "save_every": steps, "log_every": 1, "patience": 0, "progress": False,
             "cpu_threads": 1, **train_overrides}
    return RexConfig(
        data=DataConfig(shards=list(shard_dirs), max_length=32, max_bag_size=6),
        encoder=EncoderConfig(vocab_size=120, hidden=32, layers=1, heads=2, ffn=64, dropout=0.1),
        model=ModelConfig(aggregator="att"),
        train=TrainConfig(**train),
    )
