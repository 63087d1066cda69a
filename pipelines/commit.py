"""Output folders are transactions: a run writes into ``<output>/.staging-<run id>/`` and commits at the end.

Commit order: the old run's manifest is deleted first (from then on the folder reads as incomplete), then its
files; the new shards and rejects are moved into place; the manifest, with ``complete: true`` and every file's
rows, bytes and sha256 (schemas.manifest ``files``), is written last. A run killed at any point leaves either
the old complete output, or a folder without a complete manifest, which every reader refuses.

Reuse: an output folder holding another run's files is refused (OutputInUseError) unless ``--overwrite``; a
rerun with the same inputs (sha256) and the same resolved config is an exact rewrite. One run per local output
at a time: ``<output>/.xds-run.lock`` (pipelines.lock: a file lock locally, a lease through fsspec on remote outputs;
a crashed run's lock is taken over).
All file operations go through Beam's FileSystems, so any path the pipeline can write works.
"""

from __future__ import annotations

import json
import logging
import os
import uuid

import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from pipelines.read import fingerprint
from schemas.manifest import LOCK_NAME, MANIFEST_VERSION, STAGING_PREFIX, validate_manifest
from schemas.manifest import MANIFEST_NAME as MANIFEST

logger = logging.getLogger(__name__)


class OutputInUseError(RuntimeError):
    """The output folder holds another run's files (and --overwrite was not given)."""


def is_local(path: str) -> bool:
    return "://" not in path


def join(root: str, relative: str) -> str:
    return f"{root.rstrip('/')}/{relative}"


def new_staging(output: str) -> str:
    return join(output, f"{STAGING_PREFIX}{uuid.uuid4().hex[:12]}")


def _is_ours(relative: str) -> bool:
    """Lock and staging entries: the machinery of a run, not a run's output."""
    first = relative.split("/", 1)[0]
    return first == LOCK_NAME or first.startswith(LOCK_NAME) or first.startswith(STAGING_PREFIX)


def list_files(root: str) -> list[str]:
    """Every file under ``root`` as a path relative to it (recursively), sorted; [] when ``root`` is absent."""
    if is_local(root):
        if not os.path.isdir(root):
            return []
        out = []
        for folder, _, names in os.walk(root):
            for name in names:
                out.append(os.path.relpath(os.path.join(folder, name), root).replace(os.sep, "/"))
        return sorted(out)
    if not FileSystems.exists(root):
        return []
    prefix = root.rstrip("/") + "/"
    found = FileSystems.match([prefix + "**"])[0].metadata_list
    return sorted({m.path[len(prefix):] for m in found if m.path.startswith(prefix)})


def output_files(output: str) -> list[str]:
    """Files of committed or half-committed runs in ``output`` (lock and staging folders left out)."""
    return [f for f in list_files(output) if not _is_ours(f)]


def staging_folders(output: str) -> list[str]:
    return sorted({f.split("/", 1)[0] for f in list_files(output) if f.startswith(STAGING_PREFIX)})


def read_manifest(folder: str) -> dict | None:
    path = join(folder, MANIFEST)
    if not FileSystems.exists(path):
        return None
    with FileSystems.open(path, compression_type="uncompressed") as handle:
        try:
            return json.loads(handle.read().decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None


def reuse_decision(output: str, config_json: str, input_paths: list[str] | None, overwrite: bool) -> str:
    """'new' (nothing there), 'rerun' (the same inputs and config: an exact rewrite) or 'overwrite'; raises
    OutputInUseError with a one-line message when ``output`` holds another run's files and not ``overwrite``.
    ``input_paths`` None: the inputs are not compared here (the job matches them; the caller compares the
    finished job's manifest)."""
    files = output_files(output)
    if not files:
        return "new"
    manifest = read_manifest(output)
    why = _difference(manifest, config_json, input_paths)
    if why is None:
        logger.info("%s holds a run with the same %s: rewriting it", output,
                    "config" if input_paths is None else "inputs and config")
        return "rerun"
    if overwrite:
        logger.warning("--overwrite: removing the %d files of the previous run in %s (%s)", len(files), output, why)
        return "overwrite"
    raise OutputInUseError(f"{output} holds another run's output ({why}); pass --overwrite to replace it, "
                           "or choose another --output")


def _difference(manifest: dict | None, config_json: str, input_paths: list[str] | None) -> str | None:
    """Why the run in ``manifest`` is not this one, or None when inputs and config are the same."""
    if manifest is None:
        return "files without a readable manifest"
    # where the folder is does not matter (it may have been moved: the manifest's paths are relative); a field
    # that is unset (None) is the same as one an older version did not have
    old = {k: v for k, v in (manifest.get("config") or {}).items() if k != "output" and v is not None}
    new = {k: v for k, v in json.loads(config_json).items() if k != "output" and v is not None}
    if old != new:
        changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        return f"a different config: {', '.join(changed)}"
    if input_paths is None:
        return None
    built = sorted((i["path"], i["sha256"]) for i in manifest.get("inputs", []))
    now = sorted((path, fingerprint(path)["sha256"]) for path in input_paths)
    if built != now:
        return "different inputs"
    return None


def file_entries(folder: str, outputs: list[dict]) -> list[dict]:
    """The manifest's ``files``: split, path, rows (Parquet footer), bytes and sha256 of each output file."""
    entries = []
    for out in outputs:
        path = join(folder, out["path"])
        fp = fingerprint(path)
        with FileSystems.open(path, compression_type="uncompressed") as handle:
            rows = pq.ParquetFile(handle).metadata.num_rows
        entries.append({"split": out["split"], "path": out["path"], "rows": rows, "bytes": fp["bytes"],
                        "sha256": fp["sha256"]})
    return entries


def completed(folder: str, manifest: dict) -> dict:
    """``manifest`` with its ``files`` (from the files now in ``folder``) and ``complete: true``, validated."""
    manifest = {**manifest, "files": file_entries(folder, manifest["outputs"]), "manifest_version": MANIFEST_VERSION,
                "complete": True}
    return validate_manifest(manifest)


def commit(staging: str, output: str) -> dict:
    """Move the staged run into ``output`` (replacing whatever run is there) and write its complete manifest
    last; return that manifest."""
    manifest = read_manifest(staging)
    if manifest is None:
        raise RuntimeError(f"{staging}: the pipeline finished without a manifest; nothing committed")
    manifest = completed(staging, manifest)
    old = output_files(output)
    if MANIFEST in old:  # first: from here on the folder reads as incomplete until the new manifest lands
        FileSystems.delete([join(output, MANIFEST)])
    stale = [join(output, f) for f in old if f != MANIFEST]
    if stale:
        FileSystems.delete(stale)
    for entry in manifest["files"]:
        target = join(output, entry["path"])
        parent = target.rsplit("/", 1)[0]
        if not FileSystems.exists(parent):
            FileSystems.mkdirs(parent)
        FileSystems.rename([join(staging, entry["path"])], [target])
    write_json(join(output, MANIFEST), manifest)
    remove_staging(staging)
    return manifest


def write_json(path: str, manifest: dict) -> None:
    with FileSystems.create(path, mime_type="application/json") as handle:
        handle.write(json.dumps(manifest, indent=2, ensure_ascii=False).encode("utf-8"))


def remove_staging(staging: str) -> None:
    if is_local(staging):
        if FileSystems.exists(staging):
            FileSystems.delete([staging])
        return
    files = list_files(staging)  # object stores have no folders: delete what is under the prefix
    if files:
        FileSystems.delete([join(staging, f) for f in files])


def clear_stale_staging(output: str) -> None:
    """Delete staging folders of runs that died (only called while holding the output's lock)."""
    for name in staging_folders(output):
        logger.warning("removing %s/%s, left by a run that did not finish", output, name)
        remove_staging(join(output, name))
