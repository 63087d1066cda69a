"""Training checkpoints: a model directory plus the trainer state, written atomically.

``<output>/checkpoints/step-000500/`` = model directory (config.json, labels.json, model.safetensors, tokenizer)
+ ``trainer_state.pt`` (optimizer, scheduler, grad scaler, RNG states: tensors and plain containers only,
loaded with ``torch.load(weights_only=True)`` so nothing is unpickled) + ``state.json`` (step, epoch, data
position, early-stopping state).
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

logger = logging.getLogger(__name__)
STEP_DIR = re.compile(r"^step-(\d+)$")


@dataclass
class Progress:
    """Where training is: optimizer steps done, epoch, micro-batches consumed in that epoch, early stopping."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    best_score: float = -1.0
    best_step: int = -1
    bad_evals: int = 0
    world: int = 1


def trainer_state(optimizer, scheduler, scaler, ema: dict[str, torch.Tensor] | None = None) -> dict:
    state = {
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng_cpu": torch.get_rng_state(),
    }
    if scaler is not None:
        state["scaler"] = scaler.state_dict()
    if ema is not None:  # train.ema_decay's averaged weights
        state["ema"] = ema
    if torch.cuda.is_available():
        state["rng_cuda"] = torch.cuda.get_rng_state_all()
    return state


def write_extra(tmp: Path, state: dict, progress: Progress) -> None:
    torch.save(state, tmp / "trainer_state.pt")
    (tmp / "state.json").write_text(json.dumps(asdict(progress), indent=1) + "\n", encoding="utf-8")


def latest_checkpoint(root: Path) -> Path | None:
    """The newest complete checkpoint under ``root`` (incomplete ones are temp dirs, never named step-*)."""
    steps = sorted((int(m.group(1)), p) for p in root.glob("step-*") if (m := STEP_DIR.match(p.name))
                   and (p / "state.json").exists())
    return steps[-1][1] if steps else None


def load_trainer_state(directory: Path, optimizer, scheduler, scaler, device: torch.device,
                       ema: dict[str, torch.Tensor] | None = None) -> Progress:
    """Restore optimizer, scheduler, scaler, RNG states and (into ``ema``) the averaged weights; return the saved
    progress."""
    state = torch.load(directory / "trainer_state.pt", map_location=device, weights_only=True)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    if scaler is not None and "scaler" in state:
        scaler.load_state_dict(state["scaler"])
    if ema is not None and "ema" in state:
        for name, value in state["ema"].items():
            ema[name].copy_(value)
    torch.set_rng_state(state["rng_cpu"].cpu())
    if "rng_cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["rng_cuda"]])
    return Progress(**json.loads((directory / "state.json").read_text(encoding="utf-8")))


def prune_checkpoints(root: Path, keep: int) -> None:
    """Delete all but the ``keep`` newest checkpoints."""
    steps = sorted((int(m.group(1)), p) for p in root.glob("step-*") if (m := STEP_DIR.match(p.name)))
    for _, path in steps[:-keep]:
        shutil.rmtree(path, ignore_errors=True)
