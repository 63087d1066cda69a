"""Build and write ``manifest.json`` (MANIFEST_SCHEMA) from the run's counts (pure but for the write)."""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import platform
from collections.abc import Iterable

from apache_beam.io.filesystems import FileSystems

from pipelines.deadletter import PAIR_STAGES
from schemas.manifest import MANIFEST_VERSION, validate_manifest
from schemas.version import SCHEMA_VERSION

NO_RELATION = "NA"
_PACKAGES = ("apache-beam", "pyarrow", "spacy", "eflomal", "py3langid", "pyahocorasick", "opencc-python-reimplemented",
             "jieba", "sudachipy", "anyascii", "numba")


def instance_keys(row: dict) -> list[tuple[str, str, str]]:
    """(split, lang, relation) once per label of a row; relation 'NA' for a no-relation row."""
    return [(row["split"], row["lang"], rel) for rel in (row["relations"] or [NO_RELATION])]


def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def _counts(items: Iterable[tuple[tuple, int]], names: tuple[str, ...]) -> list[dict]:
    return [dict(zip(names, key, strict=True), count=int(n)) for key, n in sorted(items)]


def build_manifest(*, config_json: str, kb_version: str, pipeline_version: str, read_records: int,
                   accepted_pairs: int, instance_counts: Iterable, row_counts: Iterable, reject_counts: Iterable,
                   inputs: Iterable[dict], outputs: Iterable[tuple[str, str]],
                   kb_facts_version: str | None = None, dataset_root: str | None = None,
                   code_version: str | None = None) -> dict:
    """The manifest dict, validated. ``read_records`` counts the records the read stage parsed;
    input_pairs adds the read stage's rejects (lines that could not be parsed). ``outputs`` are
    (split, path relative to the manifest's folder)."""
    rejects = _counts(reject_counts, ("stage", "reason"))
    read_rejects = sum(r["count"] for r in rejects if r["stage"] == "read")
    rejected = sum(r["count"] for r in rejects if r["stage"] in PAIR_STAGES)
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "pipeline_version": pipeline_version,
        "kb_version": kb_version,
        "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "input_pairs": read_records + read_rejects,
        "accepted_pairs": accepted_pairs,
        "rejected_pairs": rejected,
        "instances": _counts(instance_counts, ("split", "lang", "relation")),
        "rows": _counts((((split, lang, "*"), n) for (split, lang), n in row_counts), ("split", "lang", "relation")),
        "rejects": rejects,
        "inputs": sorted(inputs, key=lambda i: i["path"]),
        "outputs": [{"split": s, "path": p} for s, p in sorted(outputs)],
        "config": json.loads(config_json),
        "versions": library_versions(),
        "manifest_version": MANIFEST_VERSION,
        "kb_facts_version": kb_facts_version,
        "dataset_root": dataset_root,
        "code_version": code_version,
        "run_seconds": None,  # filled in at the commit by the launcher that timed the run
        "files": None,  # filled in, with complete = True, when the run is committed (pipelines.commit)
        "complete": False,
    }
    return validate_manifest(manifest)


def write_manifest(manifest: dict, path: str) -> str:
    """Write the manifest as indented JSON to any Beam FileSystem path; return the path."""
    with FileSystems.create(path, mime_type="application/json") as handle:
        handle.write(json.dumps(manifest, indent=2, ensure_ascii=False, sort_keys=False).encode("utf-8"))
    return path
