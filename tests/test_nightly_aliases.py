"""The nightly alias-mining step: a language the KB has no aliases for gets aliases mined from the night's
projections, adopted for the next nights (a KB change: every span rebuilt, now with linked rows), and a later
mined set that adds too little is not adopted."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from nightly.aliases import mine_and_adopt
from nightly.night import Night
from schemas.kb import load_kb
from tests.test_nightly_nights import gold, make_world  # noqa: F401 - the module's KB fixture


class Stop(Exception):
    pass


def _manifest(root: Path) -> dict:
    return json.loads((root / "work" / "shards" / "2024-01-01" / "en-de" / "manifest.json").read_text())


def _label_sources(shards_root: Path, lang: str) -> set[str]:
    out = set()
    for path in shards_root.rglob("*.parquet"):
        if "rejects" in path.parts or "data" not in path.parts:  # shards only (not relations/entities.parquet)
            continue
        table = pq.read_table(path, columns=["lang", "label_source"])
        out |= {s for lg, s in zip(table["lang"].to_pylist(), table["label_source"].to_pylist(), strict=True)
                if lg == lang}
    return out


def test_mined_aliases_are_adopted_and_the_next_night_links_the_language(tmp_path, gold):  # noqa: F811
    cfg, root = make_world(tmp_path, gold, kb={"dir": str(tmp_path / "kb"), "mine_aliases": ["de"], "mine_min_new": 1},
                           rex={"preset": "quick", "max_steps": 20, "warm_max_steps": 10})
    (Path(cfg.kb.dir) / "aliases" / "de.txt").unlink()  # German: projected only
    first = Night(cfg, "n1").run()
    assert first.outcome == "promoted"
    step = json.loads((root / "work" / "nights" / "n1" / "state.json").read_text())["steps"]["aliases"]
    assert step["adopted"] is True and step["mined"] > 0 and step["new"] == step["mined"]
    assert _label_sources(root / "work" / "shards", "de") == {"projected"}
    kb_before = _manifest(root)["kb_version"]
    adopted = Path(cfg.mined_aliases_dir)
    assert (adopted / "de.txt").exists() and cfg.alias_dirs() == [str(adopted)]

    second = Night(cfg, "n2")

    def stop_after_shards(step: str) -> None:
        if step == "aliases":
            raise Stop

    second.before_step = stop_after_shards
    with pytest.raises(Stop):
        second.run()
    plan = second.state["steps"]["plan"]
    assert plan["kb_changed"] == sorted(plan["units"]) and len(plan["units"]) == 2
    rebuilt = _manifest(root)  # the spans were rebuilt with the mined folder: German mentions can be linked now
    assert rebuilt["kb_version"] != kb_before and str(adopted) in rebuilt["config"]["kb_extra_aliases"]
    assert load_kb(cfg.kb.dir, cfg.alias_dirs(), langs=["de"]).aliases["de"]


def test_a_mined_set_that_adds_too_little_is_not_adopted(tmp_path, gold):  # noqa: F811
    shards = [str(gold["shards"])]
    adopted = tmp_path / "adopted"
    first = mine_and_adopt(shards, ["de"], str(adopted), 5, tmp_path / "c1")
    assert first["adopted"] is True and first["mined"] > 0
    again = mine_and_adopt(shards, ["de"], str(adopted), 5, tmp_path / "c2")
    assert again["adopted"] is False and again["new"] == 0 and "kept" in again["reason"]
