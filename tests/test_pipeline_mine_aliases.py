"""Alias mining from projected rows: the pure choices, the Beam transform on literal rows, the written folder
(loadable as extra aliases by the KB loader)."""

from __future__ import annotations

import json

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.testing.util import assert_that, equal_to

from pipelines.mine_aliases import (
    MineAliases,
    MinedAlias,
    MiningSettings,
    choose_aliases,
    looks_like_name,
    main,
    resolve_conflicts,
)
from schemas.kb import load_kb
from tests.helpers import stage_pipeline


def _row(pair: str, surface: str, entity: str = "Q183", confidence: float = 0.9, source: str = "projected",
         start: int = 0, tail: str = "Q64") -> dict:
    return {"lang": "de", "pair_id": pair, "label_source": source, "projection_confidence": confidence,
            "head": {"kb_id": entity, "token_start": 0, "token_end": 1, "char_start": start,
                     "char_end": start + len(surface), "surface": surface},
            "tail": {"kb_id": tail, "token_start": 3, "token_end": 4, "char_start": 40, "char_end": 46,
                     "surface": "Berlin"}}


def test_looks_like_name():
    assert looks_like_name("Deutschland", "de") and looks_like_name("Vereinigten Staaten", "de")
    assert not looks_like_name("deutschen", "de")  # a derived adjective
    assert not looks_like_name("der Ukraine", "de") and not looks_like_name("1990", "de")
    assert looks_like_name("北京", "zh")  # no case: no case rule


def test_choose_aliases_needs_count_share_and_confidence():
    seen = [("Deutschland", 1.0, f"p{k}") for k in range(4)] + [("Deutschlands", 0.9, "p9"), ("Bund", 0.2, "q1"),
                                                                  ("Bund", 0.2, "q2"), ("Bund", 0.2, "q3")]
    mined = choose_aliases("de", "Q183", seen, MiningSettings(min_count=3, min_share=0.2, min_confidence=0.5))
    assert [(a.alias, a.count) for a in mined] == [("Deutschland", 4)]  # "Bund": low confidence; "Deutschlands": once
    assert mined[0].share == 0.5 and mined[0].examples == ("p0", "p1", "p2")


def test_a_surface_claimed_by_two_entities_goes_to_the_clear_winner_or_to_none():
    def alias(entity, surface, count):
        return MinedAlias("de", entity, surface, count, 1.0, 1.0, ())

    kept, dropped = resolve_conflicts([alias("Q1", "Georgia", 6), alias("Q2", "Georgia", 3), alias("Q3", "Paris", 4),
                                       alias("Q4", "Paris", 3)])
    assert [(a.entity, a.alias) for a in kept] == [("Q1", "Georgia")] and dropped == 1


def test_mine_aliases_counts_each_target_mention_once_and_only_projected_rows():
    rows = [_row(f"p{k}", "Deutschland") for k in range(3)]
    rows += [_row("p0", "Deutschland", tail="Q1055")]  # the same mention in a second row: counted once
    rows += [_row(f"l{k}", "Deutschland", source="linked") for k in range(3)]  # linked rows say nothing new
    rows += [_row(f"x{k}", "Reich", entity="Q183") for k in range(2)]  # twice only
    with stage_pipeline() as p:
        mined = p | beam.Create(rows) | MineAliases(["de"], MiningSettings(min_count=3))
        assert_that(mined | beam.Map(lambda a: (a.entity, a.alias, a.count)),
                    equal_to([("Q183", "Deutschland", 3), ("Q64", "Berlin", 5)]))


def test_the_written_folder_is_an_extra_alias_folder(tmp_path, capsys):
    shards = tmp_path / "shards"
    (shards / "train").mkdir(parents=True)
    rows = [_row(f"p{k}", "Deutschland") for k in range(3)] + [_row(f"q{k}", "Berlin", entity="Q64", start=20)
                                                               for k in range(3)]
    pq.write_table(pa.Table.from_pylist(rows), shards / "train" / "part.parquet")
    (shards / "manifest.json").write_text(json.dumps({"kb_version": "kb-x", "kb_facts_version": "f-x"}))
    out = tmp_path / "mined"
    assert main(["--shards", str(shards), "--langs", "de", "--output", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["de.txt", "mined.json", "provenance.jsonl"]
    assert (out / "de.txt").read_text(encoding="utf-8").splitlines() == ["Q183\tDeutschland", "Q64\tBerlin"]
    info = json.loads((out / "mined.json").read_text())
    assert info["aliases"] == {"de": 2} and info["inputs"][0]["kb_version"] == "kb-x"
    kb_dir = tmp_path / "kb"
    (kb_dir / "facts").mkdir(parents=True)
    fact = {"sub_uri": "Q183", "predicate_id": "P36", "obj_uri": "Q64"}
    (kb_dir / "facts" / "P36.jsonl").write_text(json.dumps(fact) + "\n")
    (kb_dir / "aliases").mkdir()
    (kb_dir / "aliases" / "en.txt").write_text("Q183\tGermany\nQ64\tBerlin\n")
    kb = load_kb(str(kb_dir), (str(out),), langs=("en", "de"))
    assert kb.aliases["de"]["Q183"] == ["Deutschland"]
    assert main(["--shards", str(tmp_path / "nowhere"), "--langs", "de", "--output", str(out)]) == 2
    assert "no manifest.json" in capsys.readouterr().err
