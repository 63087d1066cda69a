"""Span discovery and fingerprints: which (span, source) units exist, and which need building tonight.

A span is a folder ``<bitext.root>/<name>`` whose name matches ``bitext.span_pattern`` (``YYYY-MM-DD``);
each configured source that matches files in it is one *unit* = one pipeline run, written to
``<work_dir>/shards/<span>/<source>``. A unit is complete when its ``manifest.json`` validates, lists
shard files that exist, and records the same input fingerprints (relative name, bytes, sha256), the same
KB version (of the unit's languages, as the pipeline computes it) and the same pipeline config and version
as tonight's. Anything else is stale, with a reason. Files of a span that no source matches are reported,
never silently ignored. Listing and reading go through Beam's FileSystems (local paths, ``gs://``, ...).
"""

from __future__ import annotations

import fnmatch
import json
import logging
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path

from apache_beam.io.filesystems import FileSystems

from nightly.config import NightlyConfig, SourceConfig
from pipelines.config import parse_config
from pipelines.read import fingerprint
from pipelines.resources import load_run_kb, pipeline_version
from schemas.manifest import validate_manifest

logger = logging.getLogger(__name__)

# Config fields that name where a run reads and writes, not how it labels: excluded from the comparison.
_PLACE_FIELDS = ("inputs", "output", "kb", "kb_extra_aliases", "priors")


@dataclass
class Unit:
    """One pipeline run: the files of one source in one span."""

    span: str
    source: SourceConfig
    inputs: list[str]  # --input values (files, or moses prefixes)
    files: list[str]  # every file read (fingerprinted)
    output: str

    @property
    def key(self) -> str:
        return f"{self.span}/{self.source.name}"


@dataclass
class UnitStatus:
    unit: Unit
    complete: bool
    reason: str  # 'complete' or why it is (re)built
    fingerprints: list[dict] = field(default_factory=list)
    kb_version: str = ""


@dataclass
class Discovery:
    spans: list[str]
    units: list[Unit]
    unmatched: list[str]  # files inside span folders that no source matched
    ignored: list[str]  # files outside span folders (folder name does not match span_pattern)


def _join(root: str, *parts: str) -> str:
    return posixpath.join(root.rstrip("/"), *parts)


def list_files(root: str) -> list[tuple[str, int, float]]:
    """(path, bytes, mtime) of every file under ``root``, recursively, sorted by path."""
    result = FileSystems.match([_join(root, "**")])[0]
    return sorted((m.path, int(m.size_in_bytes), float(m.last_updated_in_seconds or 0.0)) for m in result.metadata_list)


def discover(config: NightlyConfig) -> Discovery:
    """Every (span, source) unit under the bitext root, spans in name order."""
    root = config.bitext.root.rstrip("/")
    if not root.startswith(("gs://", "s3://")) and "://" not in root and not Path(root).is_dir():
        raise FileNotFoundError(f"bitext root not found: {root}")
    pattern = re.compile(config.bitext.span_pattern)
    by_span: dict[str, list[str]] = {}
    ignored = []
    for path, _, _ in list_files(root):
        rel = path[len(root) + 1:] if path.startswith(root + "/") else path
        span, _, name = rel.partition("/")
        if name and pattern.match(span):
            by_span.setdefault(span, []).append(name)
        else:
            ignored.append(path)
    units, unmatched = [], []
    for span in sorted(by_span):
        names = sorted(by_span[span])
        used: set[str] = set()
        for source in config.bitext.sources:
            inputs, files = _match_source(source, names)
            used.update(files)
            if inputs:
                units.append(Unit(span, source, [_join(root, span, i) for i in inputs],
                                  [_join(root, span, f) for f in files], _join(config.shards_root, span, source.name)))
        unmatched += [_join(root, span, n) for n in names if n not in used and not n.startswith((".", "_"))]
    for path in unmatched:
        logger.warning("no source matches %s: not read (add a source to bitext.sources)", path)
    return Discovery(sorted(by_span), units, unmatched, ignored)


def _match_source(source: SourceConfig, names: list[str]) -> tuple[list[str], list[str]]:
    """(pipeline --input values, files read) of ``source`` among a span's file names."""
    if source.format != "moses":
        files = [n for n in names if fnmatch.fnmatch(n, source.pattern)]
        return files, files
    present = set(names)
    inputs, files = [], []
    for name in names:
        prefix, dot, lang = name.rpartition(".")
        if dot and lang == source.src_lang and fnmatch.fnmatch(prefix, source.pattern):
            targets = [f"{prefix}.{t}" for t in source.tgt_langs]
            missing = [t for t in targets if t not in present]
            if missing:
                raise ValueError(f"moses input {prefix}: missing {missing} beside {name}")
            inputs.append(prefix)
            files += [name, *targets]
    return inputs, files


def pipeline_args(unit: Unit, config: NightlyConfig, output: str, priors: str | None = None) -> list[str]:
    """The distant-supervision pipeline's argv for ``unit`` writing to ``output`` (runner flags last), with
    ``--priors`` when the night has stored priors for the unit's source (nightly.priors)."""
    argv = []
    for value in unit.inputs:
        argv += ["--input", value]
    argv += ["--input-format", unit.source.format, "--src-lang", unit.source.src_lang,
             "--tgt-lang", ",".join(unit.source.tgt_langs), "--kb", config.kb.dir, "--output", output]
    for extra in config.alias_dirs():
        argv += ["--kb-extra-aliases", extra]
    if priors:
        argv += ["--priors", priors]
    return argv + list(config.pipeline.args) + list(config.pipeline.beam_args)


def labelling_config(unit: Unit, config: NightlyConfig) -> dict:
    """The unit's resolved pipeline config without its places (what decides the rows, as stored in manifests)."""
    parsed, _ = parse_config(pipeline_args(unit, config, "unused"))
    return strip_places(json.loads(parsed.to_json()))


def strip_places(config_dict: dict) -> dict:
    """The config without where things are, and without unset (None) fields: a field an older manifest does
    not have is the same as the field unset."""
    return {k: v for k, v in config_dict.items() if k not in _PLACE_FIELDS and v is not None}


class FingerprintCache:
    """sha256 of input files keyed by (path, bytes, mtime), persisted as JSON: a night re-hashes only new files."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, dict] = {}
        if path.exists():
            try:
                self.entries = json.loads(path.read_text(encoding="utf-8"))
            except ValueError:
                logger.warning("%s is not JSON: every input is re-hashed", path)

    def get(self, path: str, size: int, mtime: float) -> dict:
        key = f"{path}|{size}|{mtime}"
        if key not in self.entries:
            self.entries[key] = fingerprint(path)
        return self.entries[key]

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.entries, indent=0, sort_keys=True), encoding="utf-8")
        tmp.replace(self.path)


def relative_fingerprints(unit: Unit, cache: FingerprintCache, stats: dict[str, tuple[int, float]]) -> list[dict]:
    """[{'name', 'bytes', 'sha256'}] of the unit's files, names relative to the span folder."""
    out = []
    for path in unit.files:
        size, mtime = stats[path]
        fp = cache.get(path, size, mtime)
        out.append({"name": span_relative(path, unit.span), "bytes": fp["bytes"], "sha256": fp["sha256"]})
    return sorted(out, key=lambda f: f["name"])


def span_relative(path: str, span: str) -> str:
    """``.../<span>/a/b.tsv`` -> ``a/b.tsv`` (so a moved bitext root still matches its manifests)."""
    marker = f"/{span}/"
    return path.split(marker, 1)[1] if marker in path else posixpath.basename(path)


def read_manifest(output: str) -> dict | None:
    """The unit's validated manifest, or None when absent or unreadable (an incomplete build)."""
    path = _join(output, "manifest.json")
    if not FileSystems.exists(path):
        return None
    try:
        with FileSystems.open(path, compression_type="uncompressed") as handle:
            return validate_manifest(json.loads(handle.read().decode("utf-8")))
    except ValueError as err:
        logger.warning("%s: unreadable manifest (%s); the unit is rebuilt", path, err)
        return None


def unit_status(unit: Unit, config: NightlyConfig, cache: FingerprintCache,
                stats: dict[str, tuple[int, float]]) -> UnitStatus:
    """Complete or stale (with the reason) against tonight's inputs, KB version and pipeline config."""
    fps = relative_fingerprints(unit, cache, stats)
    kb_version = load_run_kb(config.kb.dir, tuple(config.alias_dirs()), unit.source.langs).version
    manifest = read_manifest(unit.output)
    if manifest is None:
        return UnitStatus(unit, False, "new" if not FileSystems.exists(unit.output) else "incomplete (no manifest)",
                          fps, kb_version)
    reason = stale_reason(manifest, unit, fps, kb_version, labelling_config(unit, config))
    return UnitStatus(unit, reason is None, reason or "complete", fps, kb_version)


def config_change(old: dict, new: dict) -> str | None:
    """'pipeline config changed (keys...)' when two stripped configs differ, else None."""
    changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    return f"pipeline config changed ({', '.join(changed)})" if changed else None


def stale_reason(manifest: dict, unit: Unit, fps: list[dict], kb_version: str, labelling: dict) -> str | None:
    """Why a unit with this manifest must be rebuilt, or None when it is complete and current."""
    if manifest["kb_version"] != kb_version:
        return f"KB version changed ({manifest['kb_version']} -> {kb_version})"
    built = sorted(({"name": span_relative(i["path"], unit.span), "bytes": i["bytes"], "sha256": i["sha256"]}
                    for i in manifest["inputs"]), key=lambda f: f["name"])
    if built != fps:
        return "inputs changed"
    changed = config_change(strip_places(manifest["config"]), labelling)
    if changed:
        return changed
    if manifest["pipeline_version"] != pipeline_version():
        return f"pipeline version changed ({manifest['pipeline_version']} -> {pipeline_version()})"
    missing = [o["path"] for o in manifest["outputs"] if not FileSystems.exists(_join(unit.output, o["path"]))]
    if missing:
        return f"incomplete (missing {missing[0]})"
    return None


def file_stats(root: str) -> dict[str, tuple[int, float]]:
    return {path: (size, mtime) for path, size, mtime in list_files(root)}
