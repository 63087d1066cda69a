"""The nightly alias-mining step: mine aliases from every unit's projections and adopt them for the next nights
when they add enough (see ``KBConfig`` for why adoption is rationed: it changes the KB version)."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path

from pipelines.mine_aliases import replace_folder, run

logger = logging.getLogger(__name__)


def _aliases(folder: Path) -> set[tuple[str, str, str]]:
    path = folder / "provenance.jsonl"
    if not path.exists():
        return set()
    with open(path, encoding="utf-8") as handle:
        return {(r["lang"], r["entity"], r["alias"]) for r in map(json.loads, handle)}


def mine_and_adopt(shard_dirs: Sequence[str], langs: Sequence[str], adopted_dir: str, min_new: int,
                   candidate_dir: Path) -> dict:
    """Mine into ``candidate_dir``; copy it over ``adopted_dir`` when nothing is adopted yet or it adds at least
    ``min_new`` aliases. Returns the step record (counts and whether the set was adopted)."""
    info = run(shard_dirs, langs, str(candidate_dir))
    adopted = Path(adopted_dir)
    mined, before = _aliases(candidate_dir), _aliases(adopted)
    new, gone = len(mined - before), len(before - mined)
    record = {"mined": len(mined), "new": new, "gone": gone, "entities": info["entities"],
              "candidate_dir": str(candidate_dir), "adopted_dir": adopted_dir}
    if before and new < min_new:
        return {**record, "adopted": False,
                "reason": f"{new} new aliases < kb.mine_min_new {min_new}: the adopted set is kept"}
    if not mined:
        return {**record, "adopted": False, "reason": "no alias passed the mining thresholds"}
    # mined.json inside marks the folder as adopted (NightlyConfig.alias_dirs)
    replace_folder(adopted_dir, lambda staging: shutil.copytree(candidate_dir, staging, dirs_exist_ok=True))
    logger.warning("adopted %d mined aliases (%d new); the next night's KB version changes and every span is "
                   "rebuilt", len(mined), new)
    return {**record, "adopted": True,
            "reason": f"{new} new aliases: adopted; from the next night on the KB version changes and every span "
                      "is rebuilt"}
