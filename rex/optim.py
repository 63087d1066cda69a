"""Optimiser, learning-rate schedule and mixed precision settings."""

from __future__ import annotations

import contextlib
import math

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from rex.config import TrainConfig


def lr_factor(step: int, warmup: int, total: int, schedule: str = "linear") -> float:
    """Multiplier of the base learning rate at optimiser step ``step`` (0-based).

    Linear warmup to 1 over ``warmup`` steps, then linear or cosine decay to 0 at ``total``.
    """
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    return 1.0 - progress


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> tuple[torch.optim.Optimizer, LambdaLR]:
    """AdamW without weight decay on biases, norms and embeddings; a LambdaLR over :func:`lr_factor`."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        skip = param.ndim < 2 or "norm" in name.lower() or "embed" in name.lower() or "positions" in name
        (no_decay if skip else decay).append(param)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    # the fused kernel: one pass over each parameter instead of a dozen; on CPU 3-4x faster per step for the wide
    # lexical path's millions of weights (measured: 2^18 x 47 weights, 164 -> 42 ms per step)
    fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in decay + no_decay)
    optimizer = torch.optim.AdamW(groups, lr=cfg.lr, fused=fused or None)
    scheduler = LambdaLR(
        optimizer, lambda step: lr_factor(step, cfg.warmup_steps, cfg.max_steps, cfg.schedule)
    )
    return optimizer, scheduler


def amp_dtype(cfg: TrainConfig, device: torch.device) -> torch.dtype | None:
    """bf16/fp16 autocast on CUDA ('auto' prefers bf16); None (fp32) on CPU or when off."""
    if device.type != "cuda" or cfg.amp == "off":
        return None
    if cfg.amp == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if cfg.amp == "bf16" else torch.float16


def autocast(device: torch.device, dtype: torch.dtype | None):
    """The autocast context for ``dtype`` (a null context for fp32)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
