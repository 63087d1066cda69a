"""Where a model's training data came from: the pipeline manifests beside the shard roots it trained on.

A shard root is usually a pipeline output folder (``<out>/manifest.json`` beside ``<out>/{train,dev,test}/``),
but users also pass a split folder, one file or a glob, so the manifest is looked for in the root and up to two
folders above it. Lineage is informational (the model card, relation names): an unreadable or missing manifest
is recorded as such and never stops training.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import posixpath
from collections.abc import Sequence

import pyarrow.fs as pafs

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
_LEVELS = 3  # the root, its parent (a split folder was given) and grandparent (a shard file was given)


def shard_lineage(roots: Sequence[str]) -> list[dict]:
    """One entry per shard root: ``{'root', 'manifest'}`` plus, when a manifest was read, its ``kb`` folder,
    ``kb_version``, ``pipeline_version``, ``created_at`` and ``schema_version`` (None where absent)."""
    out = []
    for root in roots:
        paths = sorted(glob.glob(root)) if "://" not in root and any(c in root for c in "*?[") else [root]
        found = next((m for m in (_find_manifest(p) for p in paths) if m is not None), None)
        entry: dict = {"root": root, "manifest": None}
        if found is not None:
            uri, manifest = found
            config = manifest.get("config") if isinstance(manifest.get("config"), dict) else {}
            entry.update(manifest=uri, kb=config.get("kb"),
                         **{k: manifest.get(k) for k in ("kb_version", "kb_facts_version", "pipeline_version",
                                                         "created_at", "schema_version")})
        out.append(entry)
    return out


def _find_manifest(path: str) -> tuple[str, dict] | None:
    """(uri, parsed manifest) of the first manifest.json in ``path`` or the folders above it, or None."""
    try:
        if "://" in path:
            filesystem, path = pafs.FileSystem.from_uri(path)
            prefix = f"{filesystem.type_name}://"
        else:
            filesystem, path, prefix = pafs.LocalFileSystem(), os.path.abspath(path), ""
        for _ in range(_LEVELS):
            candidate = posixpath.join(path, MANIFEST)
            if filesystem.get_file_info(candidate).type == pafs.FileType.File:
                with filesystem.open_input_stream(candidate) as handle:
                    return prefix + candidate, json.loads(handle.read().decode("utf-8"))
            path = posixpath.dirname(path.rstrip("/"))
    except (OSError, ValueError) as err:  # no credentials, unknown scheme, bad JSON: lineage unknown, say why
        logger.warning("%s: manifest not read (%s)", path, err)
    return None
