"""The one place a retriever is built for rex: which facts each use may see.

The policy (docs/retrieval.md, "Leak-freedom"):

* ``train`` and ``evaluate``: the facts of every dev and test entity pair of the shards in use are withheld, for
  every query. Training and evaluation therefore see the same KB, and the figures ``rex evaluate`` gives for a
  saved model are the ones its training run reported.
* ``predict``: nothing more is withheld. The pairs are the user's queries, and the KB is what is known about them.
* Always, in the retriever itself: the queried pair's own facts (either direction) are never returned.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import pyarrow.compute as pc

from rex.config import RetrievalConfig
from rex.data.shards import open_shard, resolve_shards
from rex.lineage import shard_lineage

logger = logging.getLogger(__name__)

PURPOSES = ("train", "evaluate", "predict")
HELDOUT_SPLITS = ("dev", "test")


def unordered(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


def heldout_pairs_from_shards(roots: Iterable[str], splits: Iterable[str] = HELDOUT_SPLITS) -> set[tuple[str, str]]:
    """Unordered (head, tail) kb-id pairs of the dev/test rows of the shards under ``roots``: the shard files
    rex.data.resolve_shards finds (folders, files, globs, remote URIs; rejects and temporary folders skipped).

    Reads only the head, tail and split columns; checks each file's schema (SchemaMismatchError names the file).
    """
    splits = sorted(set(splits))
    shards = resolve_shards(list(roots))
    pairs: set[tuple[str, str]] = set()
    for shard in shards:
        columns = {"head": pc.field("head", "kb_id"), "tail": pc.field("tail", "kb_id")}
        table = open_shard(shard).to_table(columns=columns, filter=pc.field("split").isin(splits))
        pairs.update(unordered(h, t) for h, t in zip(table["head"].to_pylist(), table["tail"].to_pylist(),
                                                     strict=True))
    logger.info("%d held-out (%s) pairs from %d shard files", len(pairs), "/".join(splits), len(shards))
    return pairs


def build_retriever(ret: RetrievalConfig | None, purpose: str, *, shards: Iterable[str] = (),
                    heldout_pairs: Iterable[tuple[str, str]] | None = None, index_dir: str | None = None):
    """The FactRetriever for ``purpose`` (None when retrieval is off).

    ``heldout_pairs``: the dev and test (head, tail) pairs, when the caller has them (the trainer's bag caches);
    otherwise they are read from ``shards``. ``index_dir`` overrides the config's index (``--retrieval-index``).
    Raises KGELeakError when the index's KGE was trained on a withheld pair (see load_retriever)."""
    if purpose not in PURPOSES:
        raise ValueError(f"retriever purpose must be one of {PURPOSES}, got {purpose!r}")
    if ret is None or not ret.enabled:
        return None
    from rex.retrieval.retriever import load_retriever  # faiss is imported only when retrieval is used

    withheld: set[tuple[str, str]] = set()
    if purpose != "predict":
        pairs = heldout_pairs if heldout_pairs is not None else heldout_pairs_from_shards(list(shards))
        withheld = {unordered(a, b) for a, b in pairs}
    retriever = load_retriever(index_dir or ret.index_dir, k=ret.k, exclude_pairs=withheld)
    if purpose == "train" and shards:  # evaluating a model with its own (older) index on newer shards is fine
        check_facts_version(retriever.fi.meta, list(shards), index_dir or ret.index_dir)
    return retriever


def check_facts_version(meta: dict, shards: list[str], index_dir: str) -> None:
    """IndexMismatchError when the index was built from other KB facts than the shards were labelled with (both
    sides' ``kb_facts_version``; the alias languages loaded may differ). Unknown on either side: not checked."""
    from rex.retrieval.index import IndexMismatchError

    labelled = {e["kb_facts_version"] for e in shard_lineage(shards) if e.get("kb_facts_version")}
    built = meta.get("kb_facts_version")
    if not built or not labelled:
        return
    if labelled != {built}:
        raise IndexMismatchError(f"{index_dir}: built from KB facts {built}, but the shards were labelled with "
                                 f"{', '.join(sorted(labelled))}; rebuild the index from the shards' KB")
