"""Batches of bags for training and evaluation: DDP rank sharding, DataLoader workers, exact resume.

The epoch's bag order depends only on (seed, epoch). Rank ``r`` of ``W`` takes bags ``j`` with
``j % W == r`` (training truncates every rank to the same count, so DDP ranks take the same number of
steps); consecutive bags form batches; DataLoader worker ``w`` of ``n`` tokenises batches ``b % n == w``,
and the DataLoader returns them round-robin, i.e. in batch order. The batch order is therefore the same
for any number of workers, and resuming at batch ``k`` of an epoch only skips work, never changes data.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from rex.data.bags import Bag, BagCache
from rex.data.lexical import lexical_rows, pack_lexical
from rex.encoder.base import MarkedTokenizer, encode_batch, mark_text
from rex.encoder.features import FeatureStore

LEXICAL_CACHE_ROWS = 1_000_000  # instances whose hashed n-grams a BagBatches keeps (~2.5 KB each at ~300 n-grams)


def sample_bag(bag: Bag, max_size: int, seed: int, epoch: int) -> Bag:
    """At most ``max_size`` rows; over the cap, whole families (a source row and its projected twins) are
    drawn in a seeded order so twins stay together for the consistency loss."""
    if len(bag) <= max_size:
        return bag
    families: dict[str, list[int]] = {}
    for pos, (own, source) in enumerate(zip(bag.column("instance_id"), bag.column("source_instance_id"),
                                            strict=True)):
        families.setdefault(source or own, []).append(pos)
    rng = np.random.default_rng([seed, epoch, zlib.crc32("\t".join(bag.key).encode())])
    groups = list(families.values())
    kept: list[int] = []
    for i in rng.permutation(len(groups)):
        kept.extend(groups[int(i)])
        if len(kept) >= max_size:
            break
    return bag.subset(kept[:max_size])


def marked_texts(bag: Bag) -> list[str]:
    """The bag's sentences with the four entity markers inserted, in row order."""
    c = bag.columns
    return [mark_text(c["text"][i], (c["head_start"][i], c["head_end"][i]), (c["tail_start"][i], c["tail_end"][i]))
            for i in bag.index]


def instance_texts(cache: BagCache) -> Iterator[tuple[str, str]]:
    """(instance id, marked text) of every row of a bag cache, in bag order (what the feature cache encodes)."""
    for bag in cache.iter_bags(0, 0, shuffle=False):
        yield from zip(bag.column("instance_id"), marked_texts(bag), strict=True)


def collate(bags: Sequence[Bag], tokenizer: MarkedTokenizer, label_index: dict[str, int], max_length: int,
            features: FeatureStore | None = None, pooling: str = "start", lexical_buckets: int = 0,
            lexical_cache: dict | None = None) -> dict:
    """Bags -> one batch. N instances in NB bags, R relations:

    ``input_ids``/``attention_mask`` (N, L) and the marker positions ``head_pos``/``tail_pos``/``head_end``/
    ``tail_end`` (N,) -- or, with a ``features`` store, ``features`` (N, D) instead --, ``bag_index`` (N,) in [0, NB),
    ``labels`` (NB, R) and ``inst_labels`` (N, R) multi-hot (relations unknown to the model are ignored),
    ``twins`` (T, 2) instance indices (source row, projected row) present in the same batch,
    ``keys`` NB (head, tail) kb ids, ``langs`` N language codes; with ``lexical_buckets`` also the hashed n-grams
    ``lex_ids``/``lex_offsets``/``lex_weights`` (rex.data.lexical), each instance's n-grams taken from
    ``lexical_cache`` (instance id -> n-grams, filled here) when given: an instance's text never changes.
    """
    flat = [(b, bag.columns, i) for b, bag in enumerate(bags) for i in bag.index]
    texts = [text for bag in bags for text in marked_texts(bag)] if features is None or lexical_buckets else []
    if features is not None:
        batch = {"features": torch.from_numpy(features.lookup([c["instance_id"][i] for _, c, i in flat]))}
    else:
        batch = encode_batch(tokenizer, texts, max_length, pooling)
    if lexical_buckets:
        ids = [c["instance_id"][i] for _, c, i in flat]
        cache = lexical_cache if lexical_cache is not None else {}
        todo = [n for n, instance_id in enumerate(ids) if instance_id not in cache]
        rows = dict(zip(todo, lexical_rows([texts[n] for n in todo], lexical_buckets), strict=True))
        if len(cache) < LEXICAL_CACHE_ROWS:  # a bounded memo: past the cap, new instances are hashed every time
            cache.update((ids[n], row) for n, row in rows.items())
        batch.update(pack_lexical([rows[n] if n in rows else cache[ids[n]] for n in range(len(ids))]))
    inst_labels = torch.zeros((len(flat), len(label_index)))
    hot = [(n, label_index[r]) for n, (_, c, i) in enumerate(flat) for r in c["relations"][i] if r in label_index]
    if hot:
        inst_labels[torch.tensor(hot).T.unbind()] = 1.0
    bag_index = torch.tensor([b for b, _, _ in flat], dtype=torch.long)
    labels = torch.zeros((len(bags), len(label_index))).index_add_(0, bag_index, inst_labels).clamp_(max=1.0)
    position = {c["instance_id"][i]: n for n, (_, c, i) in enumerate(flat)}
    twins = [(position[c["source_instance_id"][i]], n) for n, (_, c, i) in enumerate(flat)
             if c["source_instance_id"][i] in position]
    batch.update(
        bag_index=bag_index,
        labels=labels,
        inst_labels=inst_labels,
        twins=torch.tensor(twins, dtype=torch.long).reshape(-1, 2),
        keys=[bag.key for bag in bags],
        langs=[c["lang"][i] for _, c, i in flat],
    )
    return batch


class BagBatches(IterableDataset):
    """Collated batches of one epoch for one rank (use with ``DataLoader(batch_size=None)``)."""

    def __init__(self, cache: BagCache, tokenizer: MarkedTokenizer, labels: Sequence[str], *, batch_size: int,
                 max_length: int, max_bag_size: int, seed: int, shuffle: bool, buffer_partitions: int = 2,
                 rank: int = 0, world: int = 1, features: FeatureStore | None = None, pooling: str = "start",
                 lexical_buckets: int = 0):
        self.cache, self.tokenizer, self.features, self.pooling = cache, tokenizer, features, pooling
        self.lexical_buckets = lexical_buckets
        self._lexical_cache: dict = {}  # instance id -> its hashed n-grams, kept across epochs
        self.label_index = {label: i for i, label in enumerate(labels)}
        self.batch_size, self.max_length, self.max_bag_size = batch_size, max_length, max_bag_size
        self.seed, self.shuffle, self.buffer_partitions = seed, shuffle, buffer_partitions
        self.rank, self.world = rank, world
        self.epoch, self.skip_batches = 0, 0

    @classmethod
    def for_config(cls, cache: BagCache, tokenizer: MarkedTokenizer, labels: Sequence[str], config, *,
                   batch_size: int, seed: int, shuffle: bool = False, max_bag_size: int | None = None,
                   **kwargs) -> BagBatches:
        """The batches a model of ``config`` (a RexConfig) reads: its max_length, pooling and lexical path, so a
        scorer cannot feed a model inputs of another layout; ``max_bag_size`` defaults to the config's training cap
        for shuffled (training) batches and to its evaluation cap (``data.eval_max_bag_size``) otherwise."""
        if max_bag_size is None:
            max_bag_size = config.data.max_bag_size if shuffle else config.data.eval_max_bag_size
        return cls(cache, tokenizer, labels, batch_size=batch_size, max_length=config.data.max_length,
                   max_bag_size=max_bag_size, seed=seed,
                   shuffle=shuffle, pooling=config.encoder.pooling, lexical_buckets=config.model.lexical_buckets,
                   **kwargs)

    def set_epoch(self, epoch: int, skip_batches: int = 0) -> None:
        """Choose the epoch (bag order) and how many of its batches were already consumed."""
        self.epoch, self.skip_batches = epoch, skip_batches

    def bags_per_rank(self) -> int:
        total = self.cache.num_bags
        return total // self.world if self.shuffle else (total - self.rank + self.world - 1) // self.world

    def __len__(self) -> int:
        """Batches per epoch: training drops the last partial batch, evaluation keeps it."""
        n = self.bags_per_rank()
        return n // self.batch_size if self.shuffle else -(-n // self.batch_size)

    def iter_bags(self) -> Iterator[Bag]:
        """This rank's bags of the current epoch, in order."""
        limit = self.bags_per_rank()
        stream = self.cache.iter_bags(self.seed, self.epoch, self.shuffle, self.buffer_partitions)
        taken = 0
        for j, bag in enumerate(stream):
            if taken >= limit:
                return
            if j % self.world == self.rank:
                taken += 1
                yield bag

    def __iter__(self) -> Iterator[dict]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        total, pending, index = len(self), [], 0
        for bag in self.iter_bags():
            pending.append(bag)
            if len(pending) < self.batch_size:
                continue
            if index >= total:
                return
            if index >= self.skip_batches and (index - self.skip_batches) % workers == worker:
                yield self._collate(pending)
            pending, index = [], index + 1
        if pending and index < total and index >= self.skip_batches and (index - self.skip_batches) % workers == worker:
            yield self._collate(pending)

    def _collate(self, bags: list[Bag]) -> dict:
        sampled = [sample_bag(b, self.max_bag_size, self.seed, self.epoch) for b in bags]
        return collate(sampled, self.tokenizer, self.label_index, self.max_length, self.features, self.pooling,
                       self.lexical_buckets, self._lexical_cache)
