"""The nightly job's eflomal priors store: one fit over a source's spans, reused by the nights after it.

A span of a few thousand pairs that fits its own priors pays eflomal's small-corpus schedule (three voted runs
of ~5000/sqrt(n) iterations) and learns from little. With ``pipeline.reuse_priors`` (default) the night builds
its spans with ``--priors`` fitted once on all the source's spans (pipelines.priors, the same reading and
tokenizing as the pipeline, a hash sample of ``--prior-sample-size`` pairs per target language), and refits only
when the source has grown more than ``pipeline.priors_refit_growth`` times since the fit (1.0: the data doubled),
or the pipeline version or config changed. Refits are then geometric: their cost per night stays bounded, and
the nights between them pay for one eflomal call per span. Measured: bench/results/reused_priors.md (AER) and
bench/RESULTS.md, "Nightly: stored priors" (time).

Layout, beside the shards (so Dataflow workers can read it): ``<shards root>/_priors/<source>/<night>/`` per fit
(pipelines.priors' folder) and ``<shards root>/_priors/<source>/current.json``, the pointer the nights read,
moved only after a fit completes. Earlier fits are kept (each a few MB; a refit happens when the data doubles).
"""

from __future__ import annotations

import json
import logging
import posixpath
import time
from pathlib import Path

from apache_beam.io.filesystems import FileSystems

from nightly.config import NightlyConfig, is_uri
from nightly.registry import write_json_atomic
from nightly.spans import Unit, config_change, pipeline_args, strip_places
from pipelines.aligners import AlignerSpec
from pipelines.commit import write_json
from pipelines.config import parse_config
from pipelines.priors import fit, read_manifest
from pipelines.resources import pipeline_version

logger = logging.getLogger(__name__)
POINTER = "current.json"


def source_root(config: NightlyConfig, source: str) -> str:
    return posixpath.join(config.shards_root, "_priors", source)


def read_pointer(root: str) -> dict | None:
    path = posixpath.join(root, POINTER)
    if not FileSystems.exists(path):
        return None
    with FileSystems.open(path, compression_type="uncompressed") as handle:
        return json.loads(handle.read().decode("utf-8"))


def write_pointer(root: str, pointer: dict) -> None:
    """Write the pointer whole: a local file is replaced by a rename, an object store's object appears whole."""
    path = posixpath.join(root, POINTER)
    if is_uri(root):
        write_json(path, pointer)
    else:
        write_json_atomic(Path(path), pointer)


def fit_args(units: list[Unit], config: NightlyConfig, output: str) -> list[str]:
    """The priors fit's argv: every unit's inputs, the flags of the units' pipeline runs."""
    merged = Unit("*", units[0].source, [i for u in units for i in u.inputs], [f for u in units for f in u.files],
                  output)
    return pipeline_args(merged, config, output)


def refit_reason(pointer: dict | None, fitted_ok: bool, settings: dict, source_bytes: int, growth: float) -> str | None:
    """Why the source's priors must be fitted (again) tonight, or None to reuse them."""
    if pointer is None:
        return "no stored priors"
    if not fitted_ok:
        return f"stored priors {pointer['dir']} incomplete"
    if pointer["pipeline_version"] != pipeline_version():
        return f"pipeline version changed ({pointer['pipeline_version']} -> {pipeline_version()})"
    changed = config_change(pointer["config"], settings)
    if changed:
        return changed
    if source_bytes > (1 + growth) * pointer["fitted_bytes"]:
        return f"the source grew {source_bytes / max(pointer['fitted_bytes'], 1):.2f}x since the fit"
    return None


def ensure_priors(units: list[Unit], source_bytes: int, config: NightlyConfig, night: str) -> dict:
    """The stored priors folder tonight's units of one source are built with: reused, or fitted on ``units`` (all
    the source's units, ``source_bytes`` of input) when :func:`refit_reason` says so. Returns what the night
    records: dir, refit, reason, seconds, and the units and bytes the fit covered."""
    source = units[0].source.name
    root = source_root(config, source)
    out = posixpath.join(root, night)
    parsed, beam_args = parse_config(fit_args(units, config, out))
    if not AlignerSpec.of(parsed).fits_priors or parsed.prior_sample_size == 0:
        return {"dir": None, "refit": False, "seconds": 0.0, "fitted_units": 0, "fitted_bytes": 0,
                "reason": f"not used: the {parsed.aligner} aligner with --prior-sample-size "
                          f"{parsed.prior_sample_size} fits no eflomal priors"}
    pointer = read_pointer(root)
    settings = strip_places(json.loads(parsed.to_json()))
    ok = pointer is not None and read_manifest(pointer["dir"]) is not None
    reason = refit_reason(pointer, ok, settings, source_bytes, config.pipeline.priors_refit_growth)
    if reason is None:
        logger.info("%s: reusing the priors fitted on %d units (%s)", source, len(pointer["units"]), pointer["dir"])
        return {"dir": pointer["dir"], "refit": False, "reason": "current", "seconds": 0.0,
                "fitted_units": len(pointer["units"]), "fitted_bytes": pointer["fitted_bytes"]}
    logger.info("%s: fitting eflomal priors on %d units (%s)", source, len(units), reason)
    started = time.perf_counter()
    manifest = fit(parsed, beam_args)
    seconds = round(time.perf_counter() - started, 2)
    write_pointer(root, {"dir": out, "units": [u.key for u in units], "fitted_bytes": source_bytes,
                         "config": settings, "pipeline_version": pipeline_version(), "night": night,
                         "pairs": {lang: v["pairs"] for lang, v in manifest["langs"].items()}})
    return {"dir": out, "refit": True, "reason": reason, "seconds": seconds, "fitted_units": len(units),
            "fitted_bytes": source_bytes}
