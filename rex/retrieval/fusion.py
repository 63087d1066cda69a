"""FactFusion: attend over retrieved KB fact vectors with the relation representation as the query.

    q = W_q rel                               (B, D)
    k_j, v_j = W_k LN(f_j), W_v LN(f_j)       (B, K, D)
    a = softmax_j(q . k_j / sqrt(D)) over unmasked facts
    c = sum_j a_j v_j                         (B, D)
    g = sigmoid(W_g [rel ; c])                (B, D)
    out = rel + has_facts * g * W_o c         (B, D)

A gated residual: the layer starts close to the identity (W_o is zero-initialised, so an untrained fusion
changes nothing) and rows whose mask is all False get exactly ``rel`` back.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class FactFusion(nn.Module):
    """Fuse (B, K, F) retrieved facts into a (B, D) relation representation."""

    def __init__(self, rel_dim: int, fact_dim: int, dropout: float = 0.1) -> None:
        super().__init__()
        if rel_dim <= 0 or fact_dim <= 0:
            raise ValueError(f"rel_dim and fact_dim must be positive, got {rel_dim}, {fact_dim}")
        self.rel_dim = rel_dim
        self.fact_dim = fact_dim
        self.norm = nn.LayerNorm(fact_dim)
        self.query = nn.Linear(rel_dim, rel_dim)
        self.key = nn.Linear(fact_dim, rel_dim)
        self.value = nn.Linear(fact_dim, rel_dim)
        self.gate = nn.Linear(2 * rel_dim, rel_dim)
        self.out = nn.Linear(rel_dim, rel_dim)
        self.dropout = nn.Dropout(dropout)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, rel: torch.Tensor, facts: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """rel (B, D), facts (B, K, F), mask (B, K) bool -> (B, D)."""
        if rel.dim() != 2 or facts.dim() != 3 or mask.shape != facts.shape[:2] or facts.shape[0] != rel.shape[0]:
            raise ValueError(f"expected rel (B, D), facts (B, K, F), mask (B, K); got {tuple(rel.shape)}, "
                             f"{tuple(facts.shape)}, {tuple(mask.shape)}")
        if facts.shape[-1] != self.fact_dim or rel.shape[-1] != self.rel_dim:
            raise ValueError(f"FactFusion({self.rel_dim}, {self.fact_dim}) got D={rel.shape[-1]}, F={facts.shape[-1]}")
        mask = mask.to(torch.bool)
        f = self.norm(facts.to(rel.dtype))  # (B, K, F)
        q = self.query(rel)  # (B, D)
        k, v = self.key(f), self.value(f)  # (B, K, D)
        logits = torch.einsum("bd,bkd->bk", q, k) / math.sqrt(self.rel_dim)  # (B, K)
        logits = logits.masked_fill(~mask, torch.finfo(logits.dtype).min)
        attn = torch.softmax(logits, dim=-1) * mask  # (B, K); all-masked rows become zeros
        context = torch.einsum("bk,bkd->bd", self.dropout(attn), v)  # (B, D)
        gate = torch.sigmoid(self.gate(torch.cat([rel, context], dim=-1)))  # (B, D)
        has_facts = mask.any(dim=-1, keepdim=True).to(rel.dtype)  # (B, 1)
        return rel + has_facts * gate * self.out(context)
