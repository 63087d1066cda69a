"""Streaming shards into cross-lingual bags and batches."""

from rex.data.bags import Bag, BagCache, build_bag_cache
from rex.data.loader import BagBatches, collate
from rex.data.shards import resolve_shards

__all__ = ["Bag", "BagCache", "BagBatches", "build_bag_cache", "collate", "resolve_shards"]
