"""Build a leak-free fact index from a KB: drop held-out facts, train the KGE, index the fact keys.

Leak-freedom at build time: every fact whose unordered (head, tail) pair is held out (a dev or test pair
of the shards) is removed BEFORE the KGE model is trained, so neither the index nor the embeddings have
seen it. The retriever additionally filters the query pair's own facts and the held-out pairs at query
time (rex.retrieval.retriever).

Vectors: with unit entity vectors u, a fact (h, r, t) is indexed under the key normalise(u_h + u_t) and
a query for an entity x is u_x, so a query finds x's own facts and those of its KGE neighbours. The
vector fed to the model (the "value", F = 3d) is [u_h ; u_r ; u_t].
"""

from __future__ import annotations

import logging
import time

import numpy as np
import torch

from rex.retrieval.index import FORMAT, FactIndex, build_faiss, model_hash, unit
from rex.retrieval.kge import KGEConfig, train_kge
from rex.retrieval.policy import HELDOUT_SPLITS, heldout_pairs_from_shards, unordered  # noqa: F401 (re-exported)
from schemas.cli import STDIO, open_input
from schemas.kb import KnowledgeBase

logger = logging.getLogger(__name__)



def fact_keys(entity_unit: np.ndarray, facts: np.ndarray) -> np.ndarray:
    """Index keys (N, d): normalise(u_h + u_t) for facts (N, 3) int."""
    return unit(entity_unit[facts[:, 0]] + entity_unit[facts[:, 2]])


def read_pair_lines(path: str) -> list[tuple[str, str]]:
    """(head, tail) of every 'head<TAB>tail' line of a file (``-``: stdin), in order (blank lines skipped);
    ValueError naming file and line for a line that is not UTF-8 or not two non-empty tab-separated ids."""
    pairs: list[tuple[str, str]] = []
    with open_input(path, binary=True) as handle:
        if path == STDIO:
            path = "<stdin>"
        for number, raw in enumerate(handle, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise ValueError(f"{path}:{number}: not UTF-8 ({err.reason} at byte {err.start})") from None
            if not line.strip():
                continue
            parts = line.rstrip("\r\n").split("\t")
            if len(parts) != 2 or not all(p.strip() for p in parts):
                raise ValueError(f"{path}:{number}: expected 'head<TAB>tail' (two tab-separated KB ids), got "
                                 f"{len(parts)} field{'s' if len(parts) != 1 else ''}")
            pairs.append((parts[0].strip(), parts[1].strip()))
    return pairs


def read_pairs_tsv(path: str) -> set[tuple[str, str]]:
    """Unordered pairs from a file of 'head<TAB>tail' lines; ValueError naming file and line when malformed."""
    return {unordered(head, tail) for head, tail in read_pair_lines(path)}


def encode_facts(facts: list[tuple[str, str, str]]) -> tuple[np.ndarray, list[str], list[str]]:
    """(N, 3) int32 triples plus the sorted entity and relation id lists they index."""
    entities = sorted({h for h, _, _ in facts} | {t for _, _, t in facts})
    relations = sorted({r for _, r, _ in facts})
    e_idx = {e: i for i, e in enumerate(entities)}
    r_idx = {r: i for i, r in enumerate(relations)}
    arr = np.array([(e_idx[h], r_idx[r], e_idx[t]) for h, r, t in facts], dtype=np.int32).reshape(-1, 3)
    return arr, entities, relations


def build_fact_index(kb: KnowledgeBase, heldout_pairs: set[tuple[str, str]], config: KGEConfig,
                     factory: str | None = None, search_params: str | None = None,
                     progress: bool = False) -> FactIndex:
    """Train the KGE on the KB facts minus held-out pairs and index those facts (never the held-out ones)."""
    facts, entities, relations = encode_facts(kb.facts)
    heldout = {unordered(a, b) for a, b in heldout_pairs}
    keep = np.array([unordered(h, t) not in heldout for h, _, t in kb.facts], dtype=bool)
    train = facts[keep]
    logger.info("fact index: %d facts, %d held out by %d pairs", len(facts), int((~keep).sum()), len(heldout))
    if len(train) == 0:
        raise ValueError("no KB facts left to index after removing the held-out pairs")
    started = time.perf_counter()
    model = train_kge(train, len(entities), len(relations), config, progress=progress)
    kge_seconds = time.perf_counter() - started
    ent, rel = model.entity_vectors(), model.relation_vectors()
    keys = fact_keys(unit(ent), train)
    started = time.perf_counter()
    index, chosen, params = build_faiss(keys, factory=factory, search_params=search_params)
    meta = {
        "format": FORMAT,
        "kb_version": kb.version,
        "kb_facts_version": kb.facts_version,  # what the shards' manifests are matched against
        "model_hash": model_hash(ent, rel, config.to_dict()),
        "model_config": config.to_dict(),
        "factory": chosen,
        "search_params": params,
        "dim": int(keys.shape[1]),
        "fact_dim": int(3 * keys.shape[1]),
        "n_facts": int(len(train)),
        "n_kb_facts": int(len(facts)),
        "entities": entities,
        "relations": relations,
        "heldout_pairs": sorted(list(p) for p in heldout),
        "kge_train_seconds": round(kge_seconds, 2),
        "index_build_seconds": round(time.perf_counter() - started, 2),
        "torch_threads": torch.get_num_threads(),
    }
    return FactIndex(index=index, facts=train, entity_emb=ent, relation_emb=rel, meta=meta)
