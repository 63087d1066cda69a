"""pipelines.labelling: multi-label instances, distance limit, hash sampling, splits and rows."""

from pipelines.labelling import (
    keep_no_relation,
    label_mentions,
    make_row,
    span_from_tokens,
    split_of,
    token_distance,
    unit_hash,
)
from schemas.shard import make_instance_id


def m(kb, start, end):
    return {"kb_id": kb, "token_start": start, "token_end": end, "char_start": start * 5, "char_end": end * 5,
            "surface": kb}


FACTS = {("Q64", "Q183"): ["P1376", "P17"], ("Q183", "Q64"): ["P36"]}


def rel(h, t):
    return FACTS.get((h, t), [])


def test_all_ordered_pairs_multi_label():
    mentions = [m("Q64", 0, 1), m("Q183", 5, 6), m("Q64", 8, 9)]
    out, skipped = label_mentions(mentions, rel, key="p|en", na_rate=1.0)
    labels = sorted((h["kb_id"], h["token_start"], t["kb_id"], t["token_start"], tuple(r)) for h, t, r in out)
    assert labels == [("Q183", 5, "Q64", 0, ("P36",)), ("Q183", 5, "Q64", 8, ("P36",)),
                      ("Q64", 0, "Q183", 5, ("P1376", "P17")), ("Q64", 8, "Q183", 5, ("P1376", "P17"))]
    assert skipped == {"too_far": 0, "na_sampled_out": 0}  # the two Q64 mentions are not a pair


def test_distance_and_no_relation_sampling():
    mentions = [m("Q64", 0, 1), m("Q183", 50, 51), m("Q1", 2, 3)]
    out, skipped = label_mentions(mentions, rel, key="p|en", max_distance=10, na_rate=0.0)
    assert out == [] and skipped == {"too_far": 4, "na_sampled_out": 2}
    out, _ = label_mentions(mentions, rel, key="p|en", max_distance=10, na_rate=1.0)
    assert sorted((h["kb_id"], t["kb_id"], r) for h, t, r in out) == [("Q1", "Q64", []), ("Q64", "Q1", [])]
    assert token_distance(m("a", 0, 2), m("b", 2, 3)) == 0 and token_distance(m("a", 5, 6), m("b", 0, 1)) == 4


def test_sampling_is_deterministic_and_near_the_rate():
    kept = [keep_no_relation(f"k{i}", 0.3) for i in range(5000)]
    assert kept == [keep_no_relation(f"k{i}", 0.3) for i in range(5000)]
    assert 0.27 < sum(kept) / len(kept) < 0.33
    assert 0.0 <= unit_hash("x") < 1.0


def test_split_depends_on_the_unordered_pair_only():
    assert split_of("Q1", "Q2") == split_of("Q2", "Q1")
    splits = [split_of(f"Q{i}", "Q0") for i in range(3000)]
    assert {s: round(splits.count(s) / 3000, 1) for s in ("train", "dev", "test")} == {"train": 0.8, "dev": 0.1,
                                                                                        "test": 0.1}
    assert split_of("Q1", "Q2", (0.0, 0.0, 1.0)) == "test"


def test_make_row_and_spans():
    text = "Berlin ist groß"
    record = {"pair_id": "p1", "de_lang": "de", "tgt_lang": "de", "tgt_text": text,
              "tgt_tok": {"tokens": ["Berlin", "ist", "groß"], "starts": [0, 7, 11], "ends": [6, 10, 15]}}
    head = span_from_tokens(record["tgt_tok"], text, "Q64", 0, 1)
    tail = span_from_tokens(record["tgt_tok"], text, "Q1", 2, 3)
    assert tail == {"kb_id": "Q1", "token_start": 2, "token_end": 3, "char_start": 11, "char_end": 15,
                    "surface": "groß"}
    row = make_row(record, "tgt", head, tail, ["P2", "P1"], label_source="projected", kb_version="kb-1",
                   pipeline_version="0", source_instance_id="s", confidence=0.5, aligner="fake")
    assert row["relations"] == ["P1", "P2"] and row["instance_id"] == make_instance_id(row)
    assert row["lang"] == "de" and row["source_instance_id"] == "s"
