"""The deterministic hash behind every sampling and splitting decision of the pipeline (no-relation sampling,
train/dev/test splits, the eflomal prior sample, verbalised facts): the same key gives the same number on every
run and every worker."""

from __future__ import annotations

import hashlib


def unit_hash(key: str) -> float:
    """A deterministic number in [0, 1) from ``key``."""
    return int.from_bytes(hashlib.sha1(key.encode("utf-8")).digest()[:8], "big") / 2.0**64
