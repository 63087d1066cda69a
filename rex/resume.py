"""A resumed run must be the run that was interrupted: same shard files, same requested config.

``rex train`` records in ``<output>/run.json`` what a new run was asked for (the config as requested, before a
checkpoint or a warm-start model fills in encoder sections) and which shard files it read (URI and size). When
``<out>`` holds a checkpoint, the new request is compared with that record, and any difference outside the
fields that may change between an interrupted run and its resume (below) is refused with a one-line message
naming the fields: resuming would otherwise silently keep the checkpoint's encoder and data (``--encoder.hidden
128`` into an ``--output`` trained with 256 kept 256). Checkpoints from before this record are resumed with a
warning that they cannot be checked.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

logger = logging.getLogger(__name__)

RUN_FILE = "run.json"
# settings of how a run proceeds, not of what it learns from what: a resume may change them
MAY_CHANGE = {
    "train": {"max_steps", "progress", "cpu_threads", "log_every", "keep_checkpoints", "eval_batch_size", "save_every",
              "eval_every", "patience", "tune_threshold", "min_lang_threshold_positives"},
    "data": {"shards", "num_workers", "cache_dir", "feature_cache", "feature_batch_size", "partition_rows",
             "buffer_partitions"},  # shards: compared as the files they resolve to
}


def run_identity(config_dict: dict, shards: Sequence) -> dict:
    """What identifies a run: the requested config and the shard files (``rex.data.shards.ShardFile``s)."""
    return {"config": config_dict, "shards": [{"uri": s.uri, "bytes": s.size} for s in shards]}


def _default_fields() -> dict:
    """The config's default values per section: what a field missing from an older run's record meant."""
    from rex.config import RexConfig

    return RexConfig().to_dict()


def differences(saved: dict, now: dict) -> list[str]:
    """'section.field' names that differ between two run identities (outside MAY_CHANGE), plus 'shard files'.
    A field the saved record lacks (written by an older rex, before the field existed) is the same as long as the
    run now leaves it at its default."""
    out = []
    defaults = _default_fields()
    for section in sorted(set(saved["config"]) | set(now["config"])):
        old, new = saved["config"].get(section), now["config"].get(section)
        if not isinstance(old, dict) or not isinstance(new, dict):
            if old != new:
                out.append(section)
            continue
        section_defaults = defaults.get(section) if isinstance(defaults.get(section), dict) else {}
        for name in sorted(set(old) | set(new)):
            if name in MAY_CHANGE.get(section, set()) or old.get(name) == new.get(name):
                continue
            if name not in old and name in section_defaults and new.get(name) == section_defaults[name]:
                continue  # a field added since the run was recorded, left at its default
            out.append(f"{section}.{name}: {old.get(name)!r} -> {new.get(name)!r}")
    if saved["shards"] != now["shards"]:
        old_uris = {s["uri"] for s in saved["shards"]}
        new_uris = {s["uri"] for s in now["shards"]}
        changed = len(old_uris ^ new_uris) or sum(a != b for a, b in zip(saved["shards"], now["shards"], strict=False))
        out.append(f"shard files ({changed} added, removed or changed)")
    return out


def check_resume(out: Path, identity: dict) -> None:
    """ValueError (one line) when ``out``'s recorded run differs from ``identity``; a warning when unrecorded."""
    path = out / RUN_FILE
    if not path.exists():
        logger.warning("%s holds checkpoints without a %s (written before rex recorded runs): resuming without "
                       "checking that shards and config are the same", out, RUN_FILE)
        return
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise ValueError(f"{path}: unreadable ({err}); move {out} aside to start a new run") from err
    changed = differences(saved, identity)
    if changed:
        raise ValueError(f"--output {out} holds checkpoints of a different run ({'; '.join(changed)}); resuming would "
                         f"keep the checkpoint's model: use another --output, or delete {out / 'checkpoints'} to start "
                         "over")


def record_run(out: Path, identity: dict) -> None:
    (out / RUN_FILE).write_text(json.dumps(identity, indent=1, sort_keys=True) + "\n", encoding="utf-8")
