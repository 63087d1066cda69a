"""Knowledge-graph embeddings (DistMult, ComplEx, TransE) trained on KB facts, and link-prediction metrics.

Training uses reciprocal relations (Lacroix et al., 2018): every fact (h, r, t) gives two queries,
(h, r, ?) -> t and (t, r^-1, ?) -> h, each a softmax cross-entropy of the true answer against
``negatives`` entities sampled once per batch and shared by its queries (sampled softmax; 0 = all
entities, i.e. 1-vs-all). Sharing the negatives turns scoring into one (B, d) x (d, C) matrix product,
which keeps a 50k-entity KB trainable in minutes on a loaded CPU (1-vs-all took ~10 s per batch here).

Triples are integer arrays (N, 3) of (head index, relation index, tail index); the caller owns the id
vocabularies. Only the facts passed to :func:`train_kge` shape the embeddings, so held-out facts must be
removed before the call (see rex.retrieval.build).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

logger = logging.getLogger(__name__)

KGE_MODELS = ("distmult", "complex", "transe")


@dataclass
class KGEConfig:
    """Hyper-parameters of a KGE model; ``dim`` is the real size of an entity vector."""

    model: str = "transe"
    dim: int = 64
    epochs: int = 20
    batch_size: int = 1024
    lr: float = 0.01
    weight_decay: float = 0.0
    n3: float = 1e-3  # N3 regulariser weight (DistMult/ComplEx)
    negatives: int = 512  # shared sampled negatives per batch; 0 = score against every entity
    seed: int = 0

    def __post_init__(self) -> None:
        if self.model not in KGE_MODELS:
            raise ValueError(f"KGE model must be one of {KGE_MODELS}, got {self.model!r}")
        if self.dim <= 0 or (self.model == "complex" and self.dim % 2):
            raise ValueError(f"dim must be positive (and even for complex), got {self.dim}")
        if self.epochs < 0 or self.batch_size <= 0 or self.negatives < 0:
            raise ValueError("epochs and negatives must be >= 0 and batch_size > 0")

    def to_dict(self) -> dict:
        return asdict(self)


class KGEModel(nn.Module):
    """Entity table (E, dim) and relation table (2R, dim) (forward and reciprocal relations)."""

    def __init__(self, n_entities: int, n_relations: int, config: KGEConfig) -> None:
        super().__init__()
        self.config = config
        self.n_relations = n_relations
        self.entity = nn.Embedding(n_entities, config.dim)
        self.relation = nn.Embedding(2 * n_relations, config.dim)
        scale = 1e-1 if config.model == "transe" else 1e-3
        nn.init.normal_(self.entity.weight, std=scale)
        nn.init.normal_(self.relation.weight, std=scale)
        if config.model != "transe":  # multiplicative models need non-tiny relations to start learning
            nn.init.normal_(self.relation.weight, mean=1.0, std=scale)

    def _query(self, heads: torch.Tensor, rels: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Query vectors (B, dim) for (h, r, ?) and the factors used by the N3 regulariser."""
        h, r = self.entity(heads), self.relation(rels)  # (B, dim)
        if self.config.model == "distmult":
            return h * r, [h, r]
        if self.config.model == "complex":
            hr, hi = h.chunk(2, dim=-1)
            rr, ri = r.chunk(2, dim=-1)
            return torch.cat([hr * rr - hi * ri, hr * ri + hi * rr], dim=-1), [h, r]
        return h + r, []  # transe

    def score_all(self, heads: torch.Tensor, rels: torch.Tensor,
                  candidates: torch.Tensor | None = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Scores (B, C) of the candidate entities (C,) (default: all, C = E) as answers of (h, r, ?),
        plus the regulariser factors."""
        q, factors = self._query(heads, rels)
        table = self.entity.weight if candidates is None else self.entity(candidates)  # (C, dim)
        if self.config.model == "transe":
            return -torch.cdist(q, table), factors
        return q @ table.T, factors

    def entity_vectors(self) -> np.ndarray:
        """Entity embeddings (E, dim) float32."""
        return self.entity.weight.detach().cpu().numpy().astype(np.float32)

    def relation_vectors(self) -> np.ndarray:
        """Forward-relation embeddings (R, dim) float32 (reciprocals dropped)."""
        return self.relation.weight[: self.n_relations].detach().cpu().numpy().astype(np.float32)


def _both_directions(triples: np.ndarray, n_relations: int) -> np.ndarray:
    """(2N, 3) queries: (h, r, t) and (t, r + R, h)."""
    inverse = np.stack([triples[:, 2], triples[:, 1] + n_relations, triples[:, 0]], axis=1)
    return np.concatenate([triples, inverse]).astype(np.int64)


def train_kge(triples: np.ndarray, n_entities: int, n_relations: int, config: KGEConfig,
              progress: bool = False) -> KGEModel:
    """Train a KGE model on ``triples`` (N, 3) int; deterministic for a given seed and thread count."""
    if triples.ndim != 2 or triples.shape[1] != 3:
        raise ValueError(f"triples must have shape (N, 3), got {triples.shape}")
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    model = KGEModel(n_entities, n_relations, config)
    optim = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    queries = _both_directions(triples, n_relations)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(config.epochs):
        order = rng.permutation(len(queries))
        total = 0.0
        batches = range(0, len(order), config.batch_size)
        for start in tqdm(batches, desc=f"kge epoch {epoch + 1}", disable=not progress, leave=False):
            batch = torch.from_numpy(queries[order[start : start + config.batch_size]])
            if config.negatives and config.negatives < n_entities:
                # candidates = the batch's true answers + shared random negatives; target = own answer's column
                negatives = torch.from_numpy(rng.integers(0, n_entities, config.negatives))
                candidates = torch.cat([batch[:, 2], negatives])  # (B + C,)
                scores, factors = model.score_all(batch[:, 0], batch[:, 1], candidates)  # (B, B + C)
                same = candidates[None, :] == batch[:, 2:3]  # other columns holding the true answer
                same[torch.arange(len(batch)), torch.arange(len(batch))] = False
                loss = loss_fn(scores.masked_fill(same, -1e9), torch.arange(len(batch)))
            else:
                scores, factors = model.score_all(batch[:, 0], batch[:, 1])  # (B, E)
                loss = loss_fn(scores, batch[:, 2])
            if factors and config.n3 > 0:
                loss = loss + config.n3 * sum(f.abs().pow(3).sum() for f in factors) / len(batch)
            optim.zero_grad()
            loss.backward()
            optim.step()
            total += float(loss.detach()) * len(batch)
        logger.info("kge %s epoch %d: loss %.4f", config.model, epoch + 1, total / max(1, len(queries)))
    model.eval()
    return model


@torch.no_grad()
def link_prediction(model: KGEModel, test: np.ndarray, known: np.ndarray, batch_size: int = 512) -> dict[str, float]:
    """Filtered MRR and Hits@1/3/10 of ``test`` (N, 3) in both directions; ``known`` = all true triples.

    Filtered ranking (Bordes et al., 2013): other true answers of the same query are not counted as errors.
    """
    n_rel = model.n_relations
    answers: dict[tuple[int, int], list[int]] = {}
    for h, r, t in _both_directions(known, n_rel).tolist():
        answers.setdefault((h, r), []).append(t)
    queries = _both_directions(test, n_rel)
    ranks = []
    for start in range(0, len(queries), batch_size):
        batch = torch.from_numpy(queries[start : start + batch_size])
        scores, _ = model.score_all(batch[:, 0], batch[:, 1])  # (B, E)
        target = scores[torch.arange(len(batch)), batch[:, 2]].clone()  # (B,)
        for row, (h, r, t) in enumerate(batch.tolist()):
            scores[row, answers.get((h, r), [])] = -torch.inf
            scores[row, t] = target[row]
        ranks.append(1 + (scores > target[:, None]).sum(dim=1))
    rank = torch.cat(ranks).double() if ranks else torch.zeros(0, dtype=torch.double)
    if len(rank) == 0:
        return {"mrr": 0.0, "hits@1": 0.0, "hits@3": 0.0, "hits@10": 0.0, "queries": 0}
    return {
        "mrr": float((1.0 / rank).mean()),
        "hits@1": float((rank <= 1).double().mean()),
        "hits@3": float((rank <= 3).double().mean()),
        "hits@10": float((rank <= 10).double().mean()),
        "queries": int(len(rank)),
    }
