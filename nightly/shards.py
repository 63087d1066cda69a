"""Build the shards of one unit with the distant-supervision pipeline (the same code path as
``python -m pipelines.distant_supervision``), complete or visibly incomplete.

Local outputs are written to ``<output>.partial`` and renamed into place once the manifest validates (the
previous build, if any, is replaced only then). On other file systems (``gs://``), where a folder rename is
a copy, the old output is deleted first and the pipeline writes in place; its manifest is written last, so
a unit without a valid manifest is incomplete and is rebuilt by the next run.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from nightly.config import NightlyConfig, is_uri
from nightly.spans import Unit, pipeline_args, read_manifest
from pipelines.distant_supervision import run as run_pipeline
from schemas.shard import SPLITS

logger = logging.getLogger(__name__)


def build_unit(unit: Unit, config: NightlyConfig, priors: str | None = None) -> dict:
    """Run the pipeline for ``unit`` (with the stored ``priors`` folder, if any); return its manifest and the wall
    time."""
    started = time.perf_counter()
    if is_uri(unit.output):
        if FileSystems.exists(unit.output):
            FileSystems.delete([unit.output])
        run_pipeline(pipeline_args(unit, config, unit.output, priors))
    else:
        final = Path(unit.output)
        partial = final.with_name(final.name + ".partial")
        if partial.exists():
            shutil.rmtree(partial)  # an interrupted earlier attempt: never reused
        partial.parent.mkdir(parents=True, exist_ok=True)
        run_pipeline(pipeline_args(unit, config, str(partial), priors))
        if read_manifest(str(partial)) is None:
            raise RuntimeError(f"{unit.key}: the pipeline finished without a valid manifest in {partial}")
        old = final.with_name(final.name + ".replaced")
        if final.exists():
            if old.exists():
                shutil.rmtree(old)
            final.replace(old)
        partial.replace(final)
        if old.exists():
            shutil.rmtree(old)
    manifest = read_manifest(unit.output)
    if manifest is None:
        raise RuntimeError(f"{unit.key}: no valid manifest in {unit.output} after the pipeline run")
    seconds = time.perf_counter() - started
    logger.info("built %s in %.1f s (%d input pairs, %d accepted)", unit.key, seconds, manifest["input_pairs"],
                manifest["accepted_pairs"])
    return {"manifest": manifest, "seconds": round(seconds, 2)}


def projection_share(output: str, manifest: dict) -> dict[str, float]:
    """Per target language: projected rows / source-language rows (over all splits). A source row repeats once
    per target language of the run, so the denominator is the source rows divided by the number of targets."""
    counts: dict[tuple[str, str], int] = {}
    for entry in manifest["outputs"]:
        if entry["split"] not in SPLITS:
            continue
        # through Beam's FileSystems, like every other read of the job: pyarrow alone knows local and a few
        # cloud paths, not every scheme the pipeline can write to
        with FileSystems.open(f"{output.rstrip('/')}/{entry['path']}", compression_type="uncompressed") as handle:
            table = pq.read_table(handle, columns=["lang", "label_source"])
        for key in zip(table.column("lang").to_pylist(), table.column("label_source").to_pylist(), strict=True):
            counts[key] = counts.get(key, 0) + 1
    config = manifest["config"]
    source_rows = sum(n for (lang, _), n in counts.items() if lang == config["src_lang"])
    per_target = source_rows / max(1, len(config["tgt_langs"]))
    return {lang: round(counts.get((lang, "projected"), 0) / per_target, 3) if per_target else 0.0
            for lang in config["tgt_langs"]}


def manifest_summary(manifest: dict) -> dict:
    """The report's figures from one manifest: rows per split x lang, instances per lang x relation,
    rejects per stage/reason, the KB version and the input fingerprints."""
    rows: dict[str, int] = {}
    for r in manifest["rows"]:
        rows[f"{r['split']}/{r['lang']}"] = rows.get(f"{r['split']}/{r['lang']}", 0) + r["count"]
    by_lang_rel: dict[str, int] = {}
    for r in manifest["instances"]:
        key = f"{r['lang']}/{r['relation']}"
        by_lang_rel[key] = by_lang_rel.get(key, 0) + r["count"]
    return {
        "input_pairs": manifest["input_pairs"], "accepted_pairs": manifest["accepted_pairs"],
        "rejected_pairs": manifest["rejected_pairs"], "rows": rows, "instances": by_lang_rel,
        "rejects": {f"{r['stage']}/{r['reason']}": r["count"] for r in manifest["rejects"]},
        "kb_version": manifest["kb_version"],
        "inputs": [{"path": i["path"], "sha256": i["sha256"], "bytes": i["bytes"]} for i in manifest["inputs"]],
    }
