"""Python entry points: train from a config, a quick demo training, evaluate a saved model."""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Sequence
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from rex.config import DataConfig, EncoderConfig, ModelConfig, RexConfig, TrainConfig
from rex.data import BagBatches, build_bag_cache, resolve_shards
from rex.evaluate import metrics_from_scores, score_bags
from rex.model.io import load_model_dir
from rex.retrieval.policy import build_retriever
from schemas.cli import progress_off


def train(config: RexConfig, out_dir: str | Path) -> dict:
    """Train (resuming from ``out_dir``'s last checkpoint if there is one); returns the final metrics."""
    from rex.trainer import Trainer

    return Trainer(config, out_dir).train()


def quick_config(shard_dirs: Sequence[str], steps: int = 150, **train_overrides) -> RexConfig:
    """A small from-scratch configuration that trains in about a minute on a 2-core CPU."""
    return RexConfig(
        data=DataConfig(shards=list(shard_dirs), max_length=96, max_bag_size=8),
        encoder=EncoderConfig(kind="transformer", vocab_size=4000, hidden=128, layers=2, heads=4, ffn=256),
        model=ModelConfig(aggregator="att", dropout=0.1),
        train=TrainConfig(**{"batch_size": 16, "lr": 1e-3, "warmup_steps": max(1, steps // 10), "max_steps": steps,
                             "eval_every": max(1, steps // 4), "save_every": steps, "patience": 0,
                             "progress": False, "cpu_threads": 1,
                             **train_overrides}),
    )


def train_quick(shard_dirs: Sequence[str], out_dir: str | Path, steps: int = 150, **train_overrides) -> dict:
    """Train the small default model on ``shard_dirs`` for ``steps`` steps; returns the metrics dict
    ({'dev': {...}, 'test': {group: metrics}}, groups 'all' and one per language)."""
    return train(quick_config(shard_dirs, steps, **train_overrides), out_dir)


def evaluate_model(model_dir: str | Path, shards: Sequence[str], split: str = "test", plot: str | None = None,
                   cache_dir: str | None = None, device: str | None = None, retrieval_index: str | None = None,
                   progress: bool = False) -> dict:
    """Metrics of a saved model on one split of the given shards (the model's own row filters apply); each language
    group at the model's ``model.lang_thresholds`` cut when it has one, else at ``model.threshold``.
    ``progress``: a tqdm bar of the scored batches on stderr (on a terminal only)."""
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    loaded = load_model_dir(model_dir, dev)
    data_cfg = dataclasses.replace(loaded.config.data, shards=list(shards))
    with tempfile.TemporaryDirectory(prefix="rex-eval-") as tmp:
        cache = build_bag_cache(resolve_shards(shards), split, data_cfg, cache_dir or tmp)
        retriever = build_retriever(loaded.config.model.retrieval, "evaluate", shards=shards,
                                    index_dir=retrieval_index)
        data = BagBatches.for_config(cache, loaded.tokenizer, loaded.labels, loaded.config,
                                     batch_size=loaded.config.train.eval_batch_size, seed=loaded.config.train.seed)
        batches = tqdm(DataLoader(data, batch_size=None), desc=f"evaluate {split}", unit=" batches",
                       disable=progress_off(not progress))
        scored = score_bags(loaded.model, batches, dev, retriever)
    return metrics_from_scores(scored, loaded.config.model.threshold, plot, title=f"{split} PR curve",
                               lang_thresholds=loaded.config.model.lang_thresholds)
