"""Finding shard files, checking their schema on open, and streaming filtered rows with pyarrow.dataset.

Shards are the pipeline's Parquet files (``schemas.shard.SHARD_SCHEMA``), under ``<root>/data/<split>/lang=<lang>/``
(manifest 1.3) or ``<root>/<split>/`` (before). A root folder with a ``manifest.json`` (the folder's or, for a split
folder or the ``data`` folder, the run folder's) is read as its manifest
says: exactly the files it lists (each must exist with the listed size and sha256), an incomplete folder is
refused (IncompleteOutputError), other Parquet files beside them are warned about and not read. Checksums
(``verify``): ``cached`` (default) hashes a listed file once per (URI, size, mtime) and remembers the match in
``$XDS_CACHE_DIR/verified-shards`` (default ``~/.cache/xds``), ``always`` hashes on every read, ``off`` checks
sizes only; ``XDS_VERIFY_SHARDS`` sets the default. Why cached: docs/reliability.md. A folder with a run's
staging folder or lock but no manifest is refused too. Without a manifest every Parquet file is read (with a 1.0
manifest, which lists no files, with a warning). Roots may be local directories, files or globs, or remote URIs:
``pyarrow.fs``'s own (``gs://``, ``s3://``, ``hdfs://``) or any other fsspec URL (``memory://``, ``az://``). Only
the columns rex needs are read, and the row filters (split, language, label source, minimum projection
confidence) are pushed down to the scanner.
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
import posixpath
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from schemas.io import SchemaMismatchError, check_schema
from schemas.kb import ENTITIES_TABLE, RELATIONS_TABLE
from schemas.manifest import (
    DATASET_ROOT,
    LOCK_NAME,
    MANIFEST_NAME,
    STAGING_PREFIX,
    IncompleteOutputError,
    listed_shards,
    validate_manifest,
)
from schemas.shard import SHARD_SCHEMA, SPLITS

logger = logging.getLogger(__name__)

# Flat columns read from the shards (nested span fields are projected by the scanner).
COLUMNS = {
    "instance_id": pc.field("instance_id"),
    "source_instance_id": pc.field("source_instance_id"),
    "lang": pc.field("lang"),
    "text": pc.field("text"),
    "head_kb": pc.field("head", "kb_id"),
    "head_start": pc.field("head", "char_start"),
    "head_end": pc.field("head", "char_end"),
    "tail_kb": pc.field("tail", "kb_id"),
    "tail_start": pc.field("tail", "char_start"),
    "tail_end": pc.field("tail", "char_end"),
    "relations": pc.field("relations"),
    "label_source": pc.field("label_source"),
    "projection_confidence": pc.field("projection_confidence"),
}
ROW_SCHEMA = pa.schema(
    [
        ("instance_id", pa.string()),
        ("source_instance_id", pa.string()),
        ("lang", pa.string()),
        ("text", pa.string()),
        ("head_kb", pa.string()),
        ("head_start", pa.int32()),
        ("head_end", pa.int32()),
        ("tail_kb", pa.string()),
        ("tail_start", pa.int32()),
        ("tail_end", pa.int32()),
        ("relations", pa.list_(pa.string())),
        ("label_source", pa.string()),
        ("projection_confidence", pa.float32()),
    ]
)
"""Schema of the flat rows rex keeps in its bag cache (a projection of SHARD_SCHEMA)."""


@dataclass(frozen=True)
class ShardFile:
    filesystem: pafs.FileSystem
    path: str
    size: int
    mtime_ns: int

    @property
    def uri(self) -> str:
        if isinstance(self.filesystem, pafs.LocalFileSystem):
            return self.path
        if isinstance(self.filesystem, pafs.PyFileSystem):  # an fsspec file system (filesystem_for)
            protocol = self.filesystem.handler.fs.protocol
            return f"{protocol[0] if isinstance(protocol, tuple) else protocol}://{self.path}"
        return f"{self.filesystem.type_name}://{self.path}"


def filesystem_for(uri: str) -> tuple[pafs.FileSystem, str]:
    """(pyarrow file system, path) of a ``scheme://`` URI: pyarrow's own file systems (local, gs, s3, hdfs), else
    any fsspec file system (memory, az, http, ...) wrapped for pyarrow."""
    try:
        return pafs.FileSystem.from_uri(uri)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        import fsspec

        fs, path = fsspec.core.url_to_fs(uri)
        return pafs.PyFileSystem(pafs.FSSpecHandler(fs)), path


VERIFY_MODES = ("cached", "always", "off")


def verify_mode(verify: str | None = None) -> str:
    """``verify``, else ``$XDS_VERIFY_SHARDS``, else 'cached'; ValueError for anything but VERIFY_MODES."""
    mode = verify or os.environ.get("XDS_VERIFY_SHARDS") or "cached"
    if mode not in VERIFY_MODES:
        raise ValueError(f"shard checksum mode {mode!r}: expected one of {', '.join(VERIFY_MODES)} "
                         "(XDS_VERIFY_SHARDS)")
    return mode


def resolve_shards(roots: Sequence[str], verify: str | None = None) -> list[ShardFile]:
    """Every ``*.parquet`` file under the given directories, files or (local) globs, sorted, deduplicated.

    Under a directory, ``rejects/`` (the pipeline's dead letters) and hidden, ``_``-prefixed or ``beam-temp*``
    folders are skipped; any other Parquet file must be a shard (its schema is checked on open). Files a
    manifest lists are checked against its sha256 as ``verify`` says (:func:`verify_mode`).
    """
    mode = verify_mode(verify)
    found: dict[str, ShardFile] = {}
    for root in roots:
        if "://" not in root and any(ch in root for ch in "*?["):
            paths = sorted(glob.glob(root, recursive=True))
            if not paths:
                raise FileNotFoundError(f"shard glob {root!r} matches nothing")
            for path in paths:
                for shard in _expand(pafs.LocalFileSystem(), os.path.abspath(path), root, mode):
                    found[shard.uri] = shard
            continue
        if "://" in root:
            filesystem, path = filesystem_for(root)
        else:
            filesystem, path = pafs.LocalFileSystem(), os.path.abspath(root)
        for shard in _expand(filesystem, path, root, mode):
            found[shard.uri] = shard
    if not found:
        raise FileNotFoundError(f"no .parquet shard files under {list(roots)}")
    return [found[k] for k in sorted(found)]


def _expand(filesystem: pafs.FileSystem, path: str, root: str, verify: str) -> list[ShardFile]:
    info = filesystem.get_file_info(path)
    if info.type == pafs.FileType.NotFound:
        raise FileNotFoundError(f"shard root {root!r} does not exist")
    if info.type == pafs.FileType.File:
        return [ShardFile(filesystem, info.path, info.size or 0, info.mtime_ns or 0)]
    infos = filesystem.get_file_info(pafs.FileSelector(path, recursive=True))
    found = [
        ShardFile(filesystem, i.path, i.size or 0, i.mtime_ns or 0)
        for i in infos
        if i.type == pafs.FileType.File and i.path.endswith(".parquet") and not _skipped(i.path[len(path):])
    ]
    listed = _listed(filesystem, path, root, verify)
    if listed is None:
        return found
    unlisted = sorted({f.path for f in found} - {f.path for f in listed})
    if unlisted:
        logger.warning("%s: %d Parquet files the manifest does not list are not read (e.g. %s)", root, len(unlisted),
                       unlisted[0])
    return listed


def _governing(path: str) -> list[tuple[str, tuple[str, ...]]]:
    """(folder that may hold the manifest, splits it governs here): the root itself, for a split folder
    (``out/run1/dev``) its parent, and for the dataset root (``out/run1/data``) or a split folder in it
    (``out/run1/data/dev``) the run's folder above it."""
    out = [(path, SPLITS)]
    name = posixpath.basename(path.rstrip("/"))
    parent = posixpath.dirname(path.rstrip("/"))
    if name in SPLITS:
        out.append((parent, (name,)))
        if posixpath.basename(parent) == DATASET_ROOT:
            out.append((posixpath.dirname(parent), (name,)))
    elif name == DATASET_ROOT:
        out.append((parent, SPLITS))
    return out


def _listed(filesystem: pafs.FileSystem, path: str, root: str, verify: str) -> list[ShardFile] | None:
    """The shard files the governing manifest lists, checked (present, listed size and sha256), or None when no manifest
    lists files (then the caller reads every Parquet file, as before manifests listed them)."""
    for folder, splits in _governing(path):
        manifest_path = posixpath.join(folder, MANIFEST_NAME)
        if filesystem.get_file_info(manifest_path).type != pafs.FileType.File:
            _refuse_unfinished(filesystem, folder, root)
            continue
        try:
            with filesystem.open_input_stream(manifest_path) as handle:
                manifest = json.loads(handle.read().decode("utf-8"))
            if not isinstance(manifest, dict):
                raise ValueError("not a JSON object")
            if manifest.get("files") is None and manifest.get("complete") is None:
                logger.warning("%s: a manifest without a file list (before manifest 1.1, or not the pipeline's); "
                               "reading every Parquet file under it", root)
                return None
            manifest = validate_manifest(manifest)
        except (UnicodeDecodeError, ValueError) as err:
            raise IncompleteOutputError(f"{root}: unreadable manifest {manifest_path} ({err})") from err
        entries = listed_shards(manifest, root, splits)
        shards = []
        for entry in entries:
            file_path = posixpath.join(folder, entry["path"])
            info = filesystem.get_file_info(file_path)
            if info.type != pafs.FileType.File:
                raise IncompleteOutputError(f"{root}: the manifest lists {entry['path']}, which is missing")
            if info.size is not None and info.size != entry["bytes"]:
                raise IncompleteOutputError(f"{root}: {entry['path']} has {info.size} bytes, the manifest says "
                                            f"{entry['bytes']} (changed after the run)")
            shard = ShardFile(filesystem, info.path, info.size or 0, info.mtime_ns or 0)
            if verify != "off":
                _check_sha256(shard, entry, root, cached=verify == "cached")
            shards.append(shard)
        return shards
    return None


_VERIFIED: set[str] = set()  # this process's verified keys (resolve_shards runs several times per training)


def _verified_marker(shard: ShardFile, sha256: str) -> tuple[str, str]:
    """(key, marker file): the key changes with the file's URI, size, mtime and the manifest's sha256."""
    key = hashlib.sha1(json.dumps([shard.uri, shard.size, shard.mtime_ns, sha256]).encode()).hexdigest()
    cache = os.environ.get("XDS_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "xds")
    return key, os.path.join(cache, "verified-shards", key)


def file_sha256(shard: ShardFile) -> str:
    """sha256 of one file, streamed in 1 MiB blocks."""
    digest = hashlib.sha256()
    with shard.filesystem.open_input_stream(shard.path) as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_sha256(shard: ShardFile, entry: dict, root: str, cached: bool) -> None:
    """IncompleteOutputError when ``shard``'s sha256 is not the manifest's. ``cached``: skip a file verified before
    with the same URI, size and mtime (a file without an mtime is hashed on every read)."""
    key, marker = _verified_marker(shard, entry["sha256"])
    cacheable = cached and shard.mtime_ns > 0
    if cacheable and (key in _VERIFIED or os.path.exists(marker)):
        return
    found = file_sha256(shard)
    if found != entry["sha256"]:
        raise IncompleteOutputError(f"{root}: {entry['path']} has sha256 {found[:12]}..., the manifest says "
                                    f"{entry['sha256'][:12]}... (changed after the run)")
    if not cacheable:
        return
    _VERIFIED.add(key)
    try:
        os.makedirs(os.path.dirname(marker), exist_ok=True)
        with open(marker, "w", encoding="utf-8") as handle:
            handle.write(f"{shard.uri}\n")
    except OSError as err:  # an unwritable cache costs a re-hash next time, nothing else
        logger.debug("could not remember the checksum of %s in %s: %s", shard.uri, marker, err)


def _refuse_unfinished(filesystem: pafs.FileSystem, folder: str, root: str) -> None:
    """IncompleteOutputError when ``folder`` has no manifest but a pipeline run's staging folder or lock."""
    try:
        names = [posixpath.basename(i.path) for i in filesystem.get_file_info(pafs.FileSelector(folder))]
    except (FileNotFoundError, OSError):
        return
    if any(n.startswith(STAGING_PREFIX) or n == LOCK_NAME for n in names):
        raise IncompleteOutputError(f"{root}: no manifest yet, a pipeline run into {folder} is in progress or did "
                                    "not finish; rerun it (or wait) before reading these shards")


def _skipped(relative: str) -> bool:
    """Inside a shard root, skip the pipeline's dead-letter folder, hidden or temporary folders and the KB tables
    beside the manifest (relations.parquet, entities.parquet)."""
    parts = [part for part in relative.split("/") if part]
    if len(parts) == 1 and parts[0] in (RELATIONS_TABLE, ENTITIES_TABLE):
        return True
    return any(p == "rejects" or p.startswith((".", "_", "beam-temp")) for p in parts[:-1])


def _footer(shard: ShardFile) -> pq.FileMetaData:
    """The Parquet footer, after checking the schema (SchemaMismatchError naming the file)."""
    try:
        with shard.filesystem.open_input_file(shard.path) as handle:
            meta = pq.ParquetFile(handle).metadata
    except (pa.ArrowInvalid, OSError) as err:
        raise SchemaMismatchError(f"{shard.uri}: not a readable Parquet file ({err})") from err
    check_schema(meta.schema.to_arrow_schema(), SHARD_SCHEMA, shard.uri)
    return meta


def open_shard(shard: ShardFile) -> ds.Dataset:
    """Open one shard file as a dataset after checking its schema (SchemaMismatchError naming the file)."""
    schema = _footer(shard).schema.to_arrow_schema()
    return ds.dataset(shard.path, filesystem=shard.filesystem, format="parquet", schema=schema)


def row_filter(
    split: str, langs: Sequence[str] | None, label_sources: Sequence[str], min_confidence: float
) -> ds.Expression:
    """The pushed-down filter: split, languages, label sources and minimum projection confidence."""
    expr = (pc.field("split") == split) & pc.field("label_source").isin(list(label_sources))
    if langs:
        expr &= pc.field("lang").isin(list(langs))
    if min_confidence > 0:
        conf = pc.field("projection_confidence")
        # compared in float32, the column's type, so a row at exactly the threshold passes
        expr &= conf.is_null() | (conf >= pa.scalar(min_confidence, pa.float32()))
    return expr


def scan_rows(shard: ShardFile, expr: ds.Expression, batch_rows: int = 65_536) -> Iterator[pa.RecordBatch]:
    """Record batches of ROW_SCHEMA columns from one shard, filtered by ``expr``."""
    dataset = open_shard(shard)
    try:
        for batch in dataset.to_batches(columns=COLUMNS, filter=expr, batch_size=batch_rows):
            if batch.num_rows:
                yield pa.RecordBatch.from_arrays(batch.columns, schema=ROW_SCHEMA)
    except (pa.ArrowInvalid, OSError) as err:
        raise SchemaMismatchError(f"{shard.uri}: corrupt Parquet data ({err})") from err


def count_rows(shards: Sequence[ShardFile]) -> int:
    """Rows in the files from the Parquet footers (schemas checked, no data read)."""
    return sum(_footer(shard).num_rows for shard in shards)
