"""The KB fact index for retrieval (rex.retrieval), held out by the split rule and rebuilt only when needed.

``rex index build`` holds out the dev/test pairs found in the shards it is given. Night after night that set
grows, so the index would be stale (and a champion's index would leak the new test pairs' facts). Here the
held-out set is every KB pair whose split by the pipeline's own rule (``pipelines.split.split_of`` with
the run's fractions) is dev or test: the same pairs any future span can put in dev or test. The index then
depends only on the KB version, the fractions and the KGE settings, and lives in
``<work_dir>/index/<kb_version>-<hash>`` (written to a temporary folder and renamed).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from nightly.config import NightlyConfig
from pipelines.split import split_of
from schemas.kb import KnowledgeBase, load_kb

logger = logging.getLogger(__name__)


def heldout_by_rule(kb: KnowledgeBase, fractions: Sequence[float]) -> set[tuple[str, str]]:
    """Unordered KB pairs (sorted tuple) whose split by the pipeline's rule is dev or test."""
    return {tuple(sorted((h, t))) for h, _, t in kb.facts if split_of(h, t, fractions) != "train"}


def index_dir(config: NightlyConfig, kb_version: str, fractions: Sequence[float]) -> Path:
    ret = config.retrieval
    key = json.dumps({"fractions": list(fractions), "k": ret.k, "dim": ret.dim, "epochs": ret.epochs,
                      "seed": ret.seed}, sort_keys=True)
    return Path(config.work_dir) / "index" / f"{kb_version}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"


def ensure_index(config: NightlyConfig, langs: Sequence[str], fractions: Sequence[float]) -> dict:
    """Build the index unless a complete one for this KB version and settings exists; return where and why."""
    from rex.retrieval.build import build_fact_index
    from rex.retrieval.kge import KGEConfig

    kb = load_kb(config.kb.dir, config.alias_dirs(), langs=list(langs))
    target = index_dir(config, kb.version, fractions)
    if (target / "meta.json").exists():
        return {"index_dir": str(target), "built": False, "reason": "reused (same KB version, fractions, settings)"}
    heldout = heldout_by_rule(kb, fractions)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    ret = config.retrieval
    fact_index = build_fact_index(kb, heldout, KGEConfig(dim=ret.dim, epochs=ret.epochs, seed=ret.seed))
    fact_index.save(str(tmp))
    os.replace(tmp, target)
    logger.info("built fact index %s (%d held-out pairs)", target, len(heldout))
    return {"index_dir": str(target), "built": True, "reason": f"new KB version {kb.version} or settings",
            "heldout_pairs": len(heldout), "facts": fact_index.meta["n_facts"]}
