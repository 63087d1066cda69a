"""Sentence- and bag-level multi-label relation classifiers over (N, D) instance representations.

Output is one sigmoid per KB relation; "no relation" (NA) is the absence of any positive label, so a
pair is NA when every probability is below the threshold. Aggregators (OpenNRE's, made multi-label):

* ``instance`` -- sentence level: every instance is trained on its own labels; a bag scores the max.
* ``att`` -- selective attention (Lin et al. 2016) with one query per relation: for relation r the bag
  logit is the attention-weighted sum of the instance logits for r.
* ``avg`` -- the mean instance representation is classified.
* ``one`` -- at-least-one (Zeng et al. 2015): the bag logit for r is the max instance logit for r.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rex.config import ModelConfig
from rex.encoder.base import RexEncoder
from rex.retrieval.fusion import FactFusion


def segment_max(values: torch.Tensor, index: torch.Tensor, segments: int) -> torch.Tensor:
    """values (N, R), index (N,) in [0, S) -> (S, R) per-segment max (-inf for empty segments)."""
    out = torch.full((segments, values.shape[1]), float("-inf"), dtype=values.dtype, device=values.device)
    return out.scatter_reduce_(0, index[:, None].expand_as(values), values, "amax")


def segment_mean(values: torch.Tensor, index: torch.Tensor, segments: int) -> torch.Tensor:
    """values (N, D), index (N,) -> (S, D) per-segment mean."""
    out = torch.zeros((segments, values.shape[1]), dtype=values.dtype, device=values.device)
    return out.scatter_reduce_(0, index[:, None].expand_as(values), values, "mean", include_self=False)


def segment_attention(scores: torch.Tensor, values: torch.Tensor, index: torch.Tensor, segments: int) -> torch.Tensor:
    """Softmax of scores (N, R) within each segment, then the weighted sum of values (N, R) -> (S, R)."""
    shifted = scores - segment_max(scores, index, segments).detach()[index]  # (N, R)
    weights = shifted.exp()
    denom = torch.zeros((segments, scores.shape[1]), dtype=scores.dtype, device=scores.device)
    denom.index_add_(0, index, weights)
    weights = weights / denom[index]  # (N, R), sums to 1 per segment and relation
    out = torch.zeros_like(denom)
    return out.index_add_(0, index, weights * values)


def language_views(langs: list[str], bag_index: torch.Tensor) -> tuple[torch.Tensor, list[tuple[int, str]]]:
    """Per-language sub-bags: (N,) view index of each instance and the (bag, lang) of every view."""
    views: dict[tuple[int, str], int] = {}
    index = [views.setdefault((int(b), lang), len(views)) for b, lang in zip(bag_index.tolist(), langs, strict=True)]
    return torch.tensor(index, dtype=torch.long, device=bag_index.device), list(views)


class RelationModel(nn.Module):
    """Encoder + optional KB fact fusion + aggregator + multi-label classifier."""

    def __init__(self, encoder: RexEncoder, num_labels: int, cfg: ModelConfig, fact_dim: int | None = None,
                 role_dim: int | None = None):
        super().__init__()
        self.cfg = cfg
        self.encoder = encoder
        dim = encoder.output_size  # D = 2H
        self.dropout = nn.Dropout(cfg.dropout)
        self.head = None
        if cfg.head_hidden:
            self.head = nn.Sequential(nn.Linear(dim, cfg.head_hidden), nn.GELU(), nn.Dropout(cfg.dropout))
            dim = cfg.head_hidden  # D from here on
        self.classifier = nn.Linear(dim, num_labels)
        self.query = nn.Parameter(torch.randn(num_labels, dim) * 0.02) if cfg.aggregator == "att" else None
        self.lexical = None
        if cfg.lexical_buckets:
            # hashed n-grams straight to the relation logits (rex.data.lexical); zero-initialised, so it starts as
            # no change and a warm start from a model without it begins where that model was
            self.lexical = nn.EmbeddingBag(cfg.lexical_buckets, num_labels, mode="sum")
            nn.init.zeros_(self.lexical.weight)
        self.fusion = None
        self.direct = None
        if cfg.retrieval is not None and cfg.retrieval.enabled:
            if not fact_dim:
                raise ValueError("retrieval is enabled but the fact embedding size is unknown")
            self.fusion = FactFusion(dim, fact_dim)
            if cfg.retrieval.direct:
                if not role_dim:
                    raise ValueError("model.retrieval.direct needs a retriever with role features (role_dim)")
                # the symbolic fact features straight to the relation logits (what a KB-only linear model reads);
                # zero-initialised, so it starts as no change
                self.direct = nn.Linear(role_dim, num_labels)
                nn.init.zeros_(self.direct.weight)
                nn.init.zeros_(self.direct.bias)

    def encode(self, batch: dict) -> torch.Tensor:
        """Batch -> (N, D) instance representations: the encoder's, or ``features`` (N, D) cached from the same
        frozen encoder (rex.encoder.features), which skips the encoder."""
        if "features" in batch:
            reps = batch["features"]
        else:
            reps = self.encoder(batch["input_ids"], batch["attention_mask"], batch)
        reps = self.dropout(reps.float())
        return reps if self.head is None else self.head(reps)  # (N, D)

    def forward(self, batch: dict, facts: torch.Tensor | None = None, fact_mask: torch.Tensor | None = None,
                fact_roles: torch.Tensor | None = None) -> dict:
        """Returns ``inst_logits`` (N, R) and ``bag_logits`` (NB, R), and in training with ``model.lang_bag_weight``
        ``view_logits`` (V, R) of the V (bag, language) sub-bags with ``view_bag`` (V,) their bag. ``facts``
        (NB, K, F), ``fact_mask`` (NB, K), ``fact_roles`` (NB, 5 R_kb) (rex.evaluate.facts_for)."""
        reps = self.encode(batch)
        lexical = self.lexical_logits(batch)
        out = self.classify(reps, batch["bag_index"], len(batch["keys"]), facts, fact_mask, fact_roles, lexical)
        if self.training and self.cfg.lang_bag_weight > 0 and "langs" in batch:
            # each language's instances of a bag as a bag of their own (what evaluation scores per language)
            view_index, views = language_views(batch["langs"], batch["bag_index"])
            view_bag = torch.tensor([b for b, _ in views], dtype=torch.long, device=reps.device)  # (V,)
            sub = [None if x is None else x[view_bag] for x in (facts, fact_mask, fact_roles)]
            out["view_logits"] = self.classify(reps, view_index, len(views), *sub, lexical)["bag_logits"]  # (V, R)
            out["view_bag"] = view_bag
        return out

    def lexical_logits(self, batch: dict) -> torch.Tensor | None:
        """The lexical path's (N, R) logits from the batch's hashed n-grams; None for a model without one."""
        if self.lexical is None:
            return None
        if "lex_ids" not in batch:
            raise ValueError("this model has a lexical path (model.lexical_buckets): the batch lacks its n-grams")
        return self.lexical(batch["lex_ids"], batch["lex_offsets"], per_sample_weights=batch["lex_weights"])

    def classify(self, reps: torch.Tensor, bag_index: torch.Tensor, num_bags: int,
                 facts: torch.Tensor | None = None, fact_mask: torch.Tensor | None = None,
                 fact_roles: torch.Tensor | None = None, lexical: torch.Tensor | None = None) -> dict:
        """reps (N, D), bag_index (N,) -> logits; the facts of a bag are fused into each of its instances, and
        with ``retrieval.direct`` their role features add a bag-level term to every logit of the bag;
        ``lexical`` (N, R) (:meth:`lexical_logits`) adds to each instance's logits."""
        if self.fusion is not None:
            if facts is None:
                raise ValueError("this model fuses retrieved KB facts: pass facts and fact_mask")
            reps = self.fusion(reps, facts[bag_index], fact_mask[bag_index])  # (N, D)
        direct = None
        if self.direct is not None:
            if fact_roles is None:
                raise ValueError("this model reads the facts' role features: pass fact_roles")
            direct = self.direct(fact_roles)  # (NB, R)
        inst_logits = self.classifier(reps)  # (N, R)
        if lexical is not None:
            inst_logits = inst_logits + lexical
        if direct is not None:
            # the same term for every instance of a bag: the att / max aggregations below pass it through once
            inst_logits = inst_logits + direct[bag_index]
        agg = self.cfg.aggregator
        if agg == "avg":
            bag_logits = self.classifier(segment_mean(reps, bag_index, num_bags))
            if lexical is not None:
                bag_logits = bag_logits + segment_mean(lexical, bag_index, num_bags)
            if direct is not None:
                bag_logits = bag_logits + direct
        elif agg == "att":
            scores = reps @ self.query.T  # (N, R)
            bag_logits = segment_attention(scores, inst_logits, bag_index, num_bags)
        else:  # instance, one: a bag holds the relation when its best instance does
            bag_logits = segment_max(inst_logits, bag_index, num_bags)
        return {"inst_logits": inst_logits, "bag_logits": bag_logits}


def relation_loss(out: dict, batch: dict, cfg: ModelConfig,
                  class_weight: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """BCE over the relations (instance- or bag-level) + the per-language sub-bags' BCE (``view_logits``, weighted
    by ``model.lang_bag_weight``) + the optional cross-lingual consistency term.
    ``class_weight`` (R,) scales each relation's positive labels (see :func:`class_weights`)."""
    logits, gold = (out["inst_logits"], batch["inst_labels"]) if cfg.aggregator == "instance" else \
        (out["bag_logits"], batch["labels"])
    pos_weight = class_weight
    if cfg.pos_weight != 1.0:
        pos_weight = cfg.pos_weight * (class_weight if class_weight is not None else torch.ones(gold.shape[1],
                                                                                               device=gold.device))
    bce = F.binary_cross_entropy_with_logits(logits, gold, pos_weight=pos_weight)
    parts = {"bce": float(bce.detach())}
    if "view_logits" in out:
        views = F.binary_cross_entropy_with_logits(out["view_logits"], batch["labels"][out["view_bag"]],
                                                   pos_weight=pos_weight)
        parts["lang_bags"] = float(views.detach())
        bce = bce + cfg.lang_bag_weight * views
    if cfg.consistency_weight > 0 and len(batch["twins"]):
        cons = consistency_loss(out["inst_logits"], batch["twins"], cfg.consistency)
        parts["consistency"] = float(cons.detach())
        return bce + cfg.consistency_weight * cons, parts
    return bce, parts


def class_weights(bag_counts: list[int], kind: str) -> torch.Tensor | None:
    """(R,) positive-label weights from the train bags per relation: 1/sqrt(n) ('sqrt_inv') or 1/n ('inv'),
    normalised to mean 1 (a relation with no bag gets the largest weight); None for 'none'."""
    if kind == "none":
        return None
    counts = torch.tensor(bag_counts, dtype=torch.float32).clamp(min=1.0)
    weights = counts.rsqrt() if kind == "sqrt_inv" else counts.reciprocal()
    return weights * (len(weights) / weights.sum())


def consistency_loss(logits: torch.Tensor, twins: torch.Tensor, kind: str = "kl") -> torch.Tensor:
    """logits (N, R), twins (T, 2) (source, projected) -> scalar: symmetric Bernoulli KL or MSE of probabilities."""
    a, b = logits[twins[:, 0]], logits[twins[:, 1]]  # (T, R)
    if kind == "mse":
        return F.mse_loss(torch.sigmoid(a), torch.sigmoid(b))
    pa, pb = torch.sigmoid(a), torch.sigmoid(b)
    la, lb = F.logsigmoid(a), F.logsigmoid(b)  # log p
    na, nb = F.logsigmoid(-a), F.logsigmoid(-b)  # log (1 - p)
    kl_ab = pa * (la - lb) + (1 - pa) * (na - nb)
    kl_ba = pb * (lb - la) + (1 - pb) * (nb - na)
    return (kl_ab + kl_ba).mean()
