"""The contract between the trainer and KB fact retrieval.

The trainer asks a :class:`FactRetriever` for the facts about each (head, tail) entity pair of a
batch and feeds them to the model's fact-fusion layer. Implementations must be leak-free: the
facts of the pair itself, and of every held-out (dev/test) pair, are never returned in training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class RetrievedFacts:
    """Top-k facts per query pair.

    Shapes: ``embeddings`` (B, K, F) float32, ``mask`` (B, K) bool (False = padding),
    ``fact_ids`` B lists of up to K fact ids ('<head>|<relation>|<tail>'), ``scores`` (B, K) float32
    retrieval similarities (0 at padding) or None, ``roles`` (B, 5 * R_kb) float32 or None: per KB relation r,
    the count of retrieved facts with relation r, and whether the pair's head is the subject / object of such a
    fact and whether its tail is (the symbolic view of the facts a linear model reads best).
    """

    embeddings: np.ndarray
    mask: np.ndarray
    fact_ids: list[list[str]]
    scores: np.ndarray | None = None
    roles: np.ndarray | None = None


class FactRetriever(Protocol):
    """Returns facts about the head and tail entities of each pair."""

    dim: int  # F, the fact embedding size
    k: int  # K, facts returned per pair
    role_dim: int  # width of RetrievedFacts.roles (0: the retriever gives none)

    def retrieve(self, pairs: Sequence[tuple[str, str]]) -> RetrievedFacts: ...
