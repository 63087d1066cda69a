"""pipelines.manifest: counts add up, the dict validates against MANIFEST_SCHEMA, bad counts are refused."""

import json

import pytest

from pipelines.manifest import build_manifest, instance_keys, write_manifest


def kwargs(**over):
    base = dict(
        config_json=json.dumps({"src_lang": "en"}), kb_version="kb-1", pipeline_version="0.1.0", read_records=8,
        accepted_pairs=5,
        instance_counts=[(("train", "en", "P17"), 3), (("train", "en", "NA"), 1)],
        row_counts=[(("train", "en"), 4)],
        reject_counts=[(("read", "bad_json"), 2), (("validate", "empty_side:tgt"), 2),
                       (("tokenize", "too_many_tokens:src"), 1), (("project", "head:unaligned"), 7)],
        inputs=[{"path": "in.tsv", "bytes": 10, "sha256": "ab"}], outputs=[("train", "out/train/x.parquet")],
    )
    base.update(over)
    return base


def test_counts_add_up():
    manifest = build_manifest(**kwargs())
    assert (manifest["input_pairs"], manifest["accepted_pairs"], manifest["rejected_pairs"]) == (10, 5, 5)
    assert manifest["rows"] == [{"split": "train", "lang": "en", "relation": "*", "count": 4}]
    assert {"stage": "project", "reason": "head:unaligned", "count": 7} in manifest["rejects"]
    assert manifest["config"] == {"src_lang": "en"} and "apache-beam" in manifest["versions"]


def test_inconsistent_counts_are_refused():
    with pytest.raises(ValueError, match="do not add up"):
        build_manifest(**kwargs(accepted_pairs=6))


def test_instance_keys_and_write(tmp_path):
    assert instance_keys({"split": "dev", "lang": "de", "relations": []}) == [("dev", "de", "NA")]
    assert instance_keys({"split": "dev", "lang": "de", "relations": ["P1", "P2"]}) == [
        ("dev", "de", "P1"), ("dev", "de", "P2")]
    path = write_manifest(build_manifest(**kwargs()), str(tmp_path / "manifest.json"))
    assert json.loads(open(path, encoding="utf-8").read())["kb_version"] == "kb-1"
