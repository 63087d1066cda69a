"""Frozen-encoder features: every instance encoded once, memory-mapped, keyed by encoder hash and instance id.

With ``encoder.tune='frozen'`` nothing of the encoder trains, so an instance's (2H,) entity representation is
the same in every epoch, every run and every night. It is computed once and read back from disk; training then
touches only the classifier (and the fact fusion), which is orders of magnitude cheaper per example.

Layout under the cache root::

    <key>/meta.json          encoder reference (name and sha256 of its weights), pooling, max_length, dim
    <key>/seg-00000.npy      (n, D) float16 features
    <key>/seg-00000.ids.json the n instance ids, in row order

``key`` hashes the encoder's weights, the pooling, ``max_length`` and the marker scheme, so a changed encoder
never reads stale features. A segment is written under a temporary name and renamed, so a reader never sees half
of one and an interrupted fill resumes where it stopped; segments are only added, so a later run encodes only
the instances it has not seen (instance ids are content hashes, schemas.shard.make_instance_id).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from rex.config import PLAIN_POOLINGS
from rex.encoder.base import MARKERS, MarkedTokenizer, RexEncoder, encode_batch, entity_pool, unmark
from schemas.cli import progress_off

logger = logging.getLogger(__name__)
FORMAT = 1
_SEGMENT_ROWS = 16_384  # rows per segment file: bounds the work an interruption loses


def store_key(reference: dict, pooling: str, max_length: int) -> str:
    raw = json.dumps({"sha256": reference["sha256"], "pooling": pooling, "max_length": max_length,
                      "markers": list(MARKERS), "format": FORMAT}, sort_keys=True)
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


class FeatureStore:
    """Append-only, memory-mapped (instance id -> (D,) feature) store of one encoder configuration."""

    def __init__(self, root: str | Path, reference: dict, pooling: str, max_length: int, dim: int):
        self.dim = dim
        self.directory = Path(root) / store_key(reference, pooling, max_length)
        self.directory.mkdir(parents=True, exist_ok=True)
        meta = {"encoder": reference, "pooling": pooling, "max_length": max_length, "dim": dim, "format": FORMAT}
        meta_path = self.directory / "meta.json"
        if meta_path.exists():
            found = json.loads(meta_path.read_text(encoding="utf-8"))
            if found.get("dim") != dim:
                raise ValueError(f"{self.directory}: cached features have dim {found.get('dim')}, the encoder {dim}")
        else:
            _write_atomic(meta_path, json.dumps(meta, indent=1, sort_keys=True).encode())
        self._index: dict[str, tuple[int, int]] = {}
        self._names: list[str] = []
        self._arrays: list[np.ndarray] | None = None
        self.refresh()

    def refresh(self) -> None:
        """Index the segments written since the last refresh (by this or another process)."""
        for path in sorted(self.directory.glob("seg-*.npy")):
            if path.name in self._names:
                continue
            ids = json.loads(path.with_suffix(".ids.json").read_text(encoding="utf-8"))
            seg = len(self._names)
            self._names.append(path.name)
            for row, instance_id in enumerate(ids):
                self._index.setdefault(instance_id, (seg, row))
        self._arrays = None

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, instance_id: str) -> bool:
        return instance_id in self._index

    def __getstate__(self) -> dict:  # DataLoader workers re-open the memory maps instead of copying them
        return {**self.__dict__, "_arrays": None}

    def missing(self, ids: Iterable[str]) -> list[str]:
        return [i for i in ids if i not in self._index]

    def _segments(self) -> list[np.ndarray]:
        if self._arrays is None:
            self._arrays = [np.load(self.directory / name, mmap_mode="r") for name in self._names]
        return self._arrays

    def lookup(self, ids: Sequence[str]) -> np.ndarray:
        """(N, D) float32 features of ``ids``; KeyError naming the first id that was never encoded."""
        segments = self._segments()
        out = np.empty((len(ids), self.dim), dtype=np.float32)
        for n, instance_id in enumerate(ids):
            where = self._index.get(instance_id)
            if where is None:
                raise KeyError(f"instance {instance_id} is not in the feature cache {self.directory}")
            out[n] = segments[where[0]][where[1]]
        return out

    def add(self, ids: Sequence[str], features: np.ndarray) -> None:
        """Append one segment: ``features`` (len(ids), D)."""
        if features.shape != (len(ids), self.dim):
            raise ValueError(f"features of shape {features.shape} for {len(ids)} ids of dim {self.dim}")
        if not len(ids):
            return
        name = f"seg-{len(self._names):05d}-{os.getpid()}-{hashlib.sha1(ids[0].encode()).hexdigest()[:8]}"
        # ids first: a segment exists for readers only once its .npy is in place (refresh globs *.npy)
        _write_atomic(self.directory / f"{name}.ids.json", json.dumps(list(ids)).encode())
        buf = tempfile.NamedTemporaryFile(dir=self.directory, prefix=".seg-", suffix=".npy", delete=False)
        with buf:
            np.save(buf, features.astype(np.float16))
        os.replace(buf.name, self.directory / f"{name}.npy")
        self.refresh()


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


@torch.inference_mode()
def fill(store: FeatureStore, encoder: RexEncoder, tokenizer: MarkedTokenizer, items: Iterable[tuple[str, str]],
         max_length: int, device: torch.device, batch_size: int = 64, progress: bool = True) -> int:
    """Encode the (instance id, marked text) ``items`` that the store lacks; returns how many were encoded.

    Texts are sorted by length first, so a batch pads to similar lengths (most of the speed on a CPU). A batch
    holds up to ``batch_size`` distinct encoder inputs: with ``pooling='entity'`` or ``'entity_context'`` every
    pair of a sentence has the same input, which is encoded once and pooled per pair.
    """
    todo: dict[str, str] = {}
    for instance_id, marked in items:
        if instance_id not in store and instance_id not in todo:
            todo[instance_id] = marked
    if not todo:
        return 0
    pooling = encoder.pooling
    plain = {i: unmark(m)[0] for i, m in todo.items()} if pooling in PLAIN_POOLINGS else todo
    order = sorted(todo, key=lambda i: (len(todo[i]), plain[i]))  # one sentence's pairs side by side
    encoder.eval()
    ids_out: list[str] = []
    feats_out: list[np.ndarray] = []
    passes = 0
    bar = tqdm(total=len(order), disable=progress_off(not progress), desc="encode features", unit="inst")
    for chunk in _chunks(order, plain, batch_size):
        batch = encode_batch(tokenizer, [todo[i] for i in chunk], max_length, pooling)
        batch = {k: v.to(device) for k, v in batch.items()}
        rows, inverse = torch.unique(batch["input_ids"], dim=0, return_inverse=True)  # (U, L), (N,)
        first = torch.full((len(rows),), len(chunk), dtype=torch.long, device=device)
        first.scatter_reduce_(0, inverse, torch.arange(len(chunk), device=device), "amin")
        hidden = encoder.hidden_states(rows, batch["attention_mask"][first])  # (U, L, H)
        reps = entity_pool(hidden[inverse], batch, pooling)  # (N, D)
        passes += len(rows)
        ids_out.extend(chunk)
        feats_out.append(reps.float().cpu().numpy())
        bar.update(len(chunk))
        if len(ids_out) >= _SEGMENT_ROWS:
            store.add(ids_out, np.concatenate(feats_out))
            ids_out, feats_out = [], []
    bar.close()
    if ids_out:
        store.add(ids_out, np.concatenate(feats_out))
    logger.info("feature cache %s: %d instances encoded in %d encoder rows, %d cached", store.directory, len(todo),
                passes, len(store))
    return len(todo)


def _chunks(order: list[str], key: dict[str, str], distinct: int):
    """Consecutive runs of ``order`` with at most ``distinct`` different ``key`` values each."""
    chunk: list[str] = []
    seen: set[str] = set()
    for instance_id in order:
        if key[instance_id] not in seen and len(seen) == distinct:
            yield chunk
            chunk, seen = [], set()
        chunk.append(instance_id)
        seen.add(key[instance_id])
    if chunk:
        yield chunk
