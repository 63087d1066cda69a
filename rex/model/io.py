"""Model directories: ``config.json``, ``labels.json``, ``model.safetensors`` and the tokenizer files.

A model directory loads offline and never unpickles anything: weights are safetensors, everything else
JSON or the tokenizer's own files. Directories are written to a temp dir and renamed into place.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_model, save_model

from rex.config import RexConfig
from rex.encoder import MarkedTokenizer, build_encoder, load_tokenizer
from rex.model.relation import RelationModel

WEIGHTS = "model.safetensors"


@dataclass
class LoadedModel:
    model: RelationModel
    tokenizer: MarkedTokenizer
    config: RexConfig
    labels: list[str]
    fact_dim: int | None


def build_model(config: RexConfig, tokenizer: MarkedTokenizer, labels: list[str], fact_dim: int | None = None,
                saved_dir: str | None = None) -> RelationModel:
    encoder = build_encoder(config.encoder, tokenizer, config.data.max_length, saved_dir=saved_dir)
    return RelationModel(encoder, len(labels), config.model, fact_dim)


def save_model_dir(directory: str | Path, model: RelationModel, tokenizer: MarkedTokenizer, config: RexConfig,
                   labels: list[str], fact_dim: int | None = None,
                   extra: Callable[[Path], None] | None = None) -> None:
    """Write a complete model directory atomically (replacing an older one); ``extra(tmp_dir)`` adds files."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    config.save(tmp / "config.json")
    (tmp / "labels.json").write_text(json.dumps({"relations": labels, "fact_dim": fact_dim}, indent=1) + "\n",
                                     encoding="utf-8")
    save_model(model, str(tmp / WEIGHTS))
    tokenizer.save(str(tmp))
    if hasattr(model.encoder, "save_arch"):
        model.encoder.save_arch(str(tmp))
    if extra is not None:
        extra(tmp)
    old = None
    if directory.exists():
        old = directory.with_name(f".{directory.name}-old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(directory, old)
    os.replace(tmp, directory)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def load_model_dir(directory: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Load a model directory written by :func:`save_model_dir` (offline, no pickle)."""
    directory = Path(directory)
    for name in ("config.json", "labels.json", WEIGHTS):
        if not (directory / name).exists():
            raise FileNotFoundError(f"{directory}: not a rex model directory (missing {name})")
    config = RexConfig.from_dict(json.loads((directory / "config.json").read_text(encoding="utf-8")),
                                 where=str(directory / "config.json"))
    info = json.loads((directory / "labels.json").read_text(encoding="utf-8"))
    tokenizer = load_tokenizer(config.encoder, str(directory))
    model = build_model(config, tokenizer, info["relations"], info.get("fact_dim"), saved_dir=str(directory))
    load_model(model, str(directory / WEIGHTS), device=str(device))
    model.to(device).eval()
    return LoadedModel(model, tokenizer, config, info["relations"], info.get("fact_dim"))
