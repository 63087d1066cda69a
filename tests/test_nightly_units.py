"""nightly's pure parts: the gate rule, the registry, the config, span matching, the example config and DAG."""

from __future__ import annotations

import importlib.util
import json
import os
import posixpath
import shutil
from pathlib import Path

import numpy as np
import pytest
from apache_beam.io.filesystem import FileMetadata
from apache_beam.io.localfilesystem import LocalFileSystem

from nightly.config import GateConfig, NightlyConfig, SourceConfig, load_nightly_config
from nightly.gate import ModelScores, baseline_metrics, compare, decide
from nightly.registry import Registry, RegistryError
from nightly.spans import _match_source, stale_reason

REPO = Path(__file__).resolve().parents[1]


def comparison(cand: dict[str, tuple[float, int]], champ: dict[str, float] | None, base: float = 0.1) -> dict:
    """{'groups': {group: {'candidate': {...}, 'champion': {...}, 'baseline': {...}}}} from (pr_auc, positives)."""
    groups = {}
    for group, (value, positives) in cand.items():
        groups[group] = {"candidate": {"pr_auc": value, "positive_items": positives},
                         "baseline": {"pr_auc": base, "positive_items": positives}}
        if champ is not None:
            groups[group]["champion"] = {"pr_auc": champ[group], "positive_items": positives}
    return {"groups": groups}


def test_first_night_must_beat_always_na():
    gate = GateConfig(first_night_margin=0.05)
    assert decide({"test": comparison({"all": (0.2, 30)}, None, base=0.1)}, gate, False)["promote"] is True
    refused = decide({"test": comparison({"all": (0.12, 30)}, None, base=0.1)}, gate, False)
    assert refused["promote"] is False and "always-NA" in refused["reasons"][0]


def test_gate_tolerance_and_language_drop_with_minimum_positives():
    gate = GateConfig(tolerance=0.01, max_language_drop=0.05, min_positive_bags=20)
    champ = {"all": 0.60, "de": 0.60, "zh": 0.60}
    ok = decide({"test": comparison({"all": (0.595, 90), "de": (0.56, 40), "zh": (0.20, 5)}, champ)}, gate, True)
    assert ok["promote"] is True  # within tolerance; de drop 0.04 <= 0.05; zh has too few positive bags
    assert [c["ok"] for c in ok["checks"]] == [True, True, None]
    assert ok["checks"][2]["rule"].startswith("skipped: 5 positive bags")
    drop = decide({"test": comparison({"all": (0.60, 90), "de": (0.54, 40), "zh": (0.6, 5)}, champ)}, gate, True)
    assert drop["promote"] is False and drop["reasons"][0].startswith("test/de: pr_auc 0.5400")
    worse = decide({"test": comparison({"all": (0.58, 90)}, {"all": 0.60})}, gate, True)
    assert worse["promote"] is False
    extra_fails = decide({"test": comparison({"all": (0.7, 90)}, {"all": 0.6}),
                          "extra1:gold": comparison({"all": (0.5, 90)}, {"all": 0.6})}, gate, True)
    assert extra_fails["promote"] is False and extra_fails["reasons"][0].startswith("extra1:gold/all")


KEYS = [("a", "b"), ("c", "d"), ("e", "f")]


def test_compare_puts_both_models_in_the_union_label_space():
    gold_c = np.array([[1, 0, 1], [0, 0, 0], [0, 1, 0]], dtype=float)  # candidate labels P1, P2, P3 (P3 new)
    cand = ModelScores(["P1", "P2", "P3"], {"all": KEYS},
                       {"all": (gold_c, np.array([[0.9, 0.1, 0.8], [0.2, 0.1, 0.1], [0.1, 0.7, 0.1]]))}, 0.5)
    champ = ModelScores(["P1", "P2"], {"all": KEYS}, {"all": (gold_c[:, :2], np.array([[0.9, 0.1], [0.2, 0.1],
                                                                                       [0.1, 0.7]]))}, 0.5)
    result = compare(cand, champ)
    assert result["labels"] == ["P1", "P2", "P3"]
    groups = result["groups"]["all"]
    assert groups["candidate"]["pr_auc"] == pytest.approx(1.0)
    assert groups["champion"]["micro_r"] == pytest.approx(2 / 3)  # it cannot predict P3
    assert groups["baseline"]["pr_auc"] == pytest.approx(3 / 9)


def test_compare_matches_the_champions_rows_by_bag_key_and_refuses_other_bags():
    gold = np.array([[1, 0], [0, 0], [0, 1]], dtype=float)
    scores = np.array([[0.9, 0.1], [0.2, 0.3], [0.1, 0.7]])
    cand = ModelScores(["P1", "P2"], {"all": KEYS, "de": KEYS[:2]}, {"all": (gold, scores),
                                                                      "de": (gold[:2], scores[:2])}, 0.5)
    # the same bags in another order: matched by key, so the champion's metrics equal the candidate's
    flipped = ModelScores(["P1", "P2"], {"all": KEYS[::-1], "de": KEYS[1::-1]},
                          {"all": (gold[::-1], scores[::-1]), "de": (gold[1::-1], scores[1::-1])}, 0.5)
    groups = compare(cand, flipped)["groups"]
    assert groups["all"]["champion"] == groups["all"]["candidate"]
    assert groups["de"]["champion"] == groups["de"]["candidate"]
    # a bag only one model scored (here in the German sub-bags) stops the gate
    other = ModelScores(["P1", "P2"], {"all": KEYS, "de": [KEYS[0], KEYS[2]]},
                        {"all": (gold, scores), "de": (gold[[0, 2]], scores[[0, 2]])}, 0.5)
    with pytest.raises(RuntimeError, match="different bags in group 'de'"):
        compare(cand, other)
    with pytest.raises(RuntimeError, match="different groups"):
        compare(cand, ModelScores(["P1", "P2"], {"all": KEYS}, {"all": (gold, scores)}, 0.5))


def test_baseline_metrics():
    gold = np.array([[1, 0], [0, 0]], dtype=float)
    assert baseline_metrics(gold) == {"micro_f1": 0.0, "macro_f1": 0.0, "pr_auc": 0.25, "items": 2,
                                      "positive_items": 1}


def fake_model(tmp_path: Path, name: str) -> Path:
    model = tmp_path / name
    model.mkdir()
    (model / "config.json").write_text("{}")
    return model


def test_registry_versions_promote_rollback(tmp_path):
    reg = Registry(tmp_path / "registry")
    v1 = reg.register(fake_model(tmp_path, "m1"), {"night": "n1", "gate": {"promote": True}, "lineage": {}})
    v2 = reg.register(fake_model(tmp_path, "m2"), {"night": "n2", "gate": {"promote": True}, "lineage": {}})
    assert (v1, v2) == ("v0001", "v0002") and reg.versions() == ["v0001", "v0002"]
    assert (reg.model_dir(v2) / "config.json").exists()
    with pytest.raises(RegistryError, match="nothing to roll back to"):
        reg.rollback()
    reg.promote(v1, "first")
    reg.promote(v2, "second")
    assert reg.champion()["history"] == ["v0001"]
    assert reg.rollback()["version"] == "v0001" and reg.champion()["history"] == []
    with pytest.raises(RegistryError, match="no version 'v0009'"):
        reg.promote("v0009", "typo")
    assert reg.find(night="n2") == "v0002" and reg.find(night="n3") is None
    assert [e["event"] for e in reg.events()] == ["register", "register", "promote", "promote", "rollback"]
    assert not [p for p in (tmp_path / "registry").rglob("*") if ".tmp-" in p.name]
    assert reg.version(v1)["night"] == "n1"  # versions are never rewritten by promotions


def minimal(tmp_path: Path, **extra) -> dict:
    return {"bitext": {"root": "bitext", "sources": [{"name": "en-de", "pattern": "*.jsonl", "format": "jsonl",
                                                      "src_lang": "en", "tgt_langs": ["de"]}]},
            "kb": {"dir": "kb"}, "work_dir": "work", "registry": "registry", **extra}


def test_config_errors_name_the_file_and_paths_resolve(tmp_path):
    path = tmp_path / "n.json"
    path.write_text(json.dumps(minimal(tmp_path, gate={"tolerence": 0.1})))
    with pytest.raises(ValueError, match=r"n\.json: section 'gate': unknown keys \['tolerence'\]"):
        load_nightly_config(path)
    path.write_text(json.dumps(minimal(tmp_path)))
    cfg = load_nightly_config(path)
    assert cfg.bitext.root == str(tmp_path / "bitext") and cfg.shards_root == str(tmp_path / "work" / "shards")
    with pytest.raises(ValueError, match="tsv takes one target language"):
        SourceConfig("x", "*.tsv", "tsv", "en", ["de", "fr"])
    with pytest.raises(ValueError, match="set by the nightly job"):
        NightlyConfig.from_dict(minimal(tmp_path, pipeline={"args": ["--output", "x"]}))


def test_rex_section_sets_shards_warm_start_and_steps(tmp_path):
    cfg = NightlyConfig.from_dict(minimal(tmp_path, rex={"preset": "quick", "max_steps": 50, "warm_max_steps": 10,
                                                         "overrides": {"train": {"lr": 0.002}}}))
    scratch = cfg.rex.build(["a", "b"], None)
    warm = cfg.rex.build(["a"], "/reg/v1/model")
    assert scratch.data.shards == ["a", "b"] and scratch.train.max_steps == 50 and scratch.train.init_from is None
    assert warm.train.max_steps == 10 and warm.train.init_from == "/reg/v1/model" and warm.train.lr == 0.002


def test_sources_match_files_and_moses_pairs():
    source = SourceConfig("en-fr", "en-fr*", "moses", "en", ["fr"])
    assert _match_source(source, ["en-fr.en", "en-fr.fr", "notes.txt"]) == (["en-fr"], ["en-fr.en", "en-fr.fr"])
    with pytest.raises(ValueError, match="missing"):
        _match_source(source, ["en-fr.en"])


def test_stale_reason_names_what_changed():
    from nightly.spans import Unit

    unit = Unit("2024-01-01", SourceConfig("s", "*", "tsv", "en", ["de"]), [], [], "/out")
    manifest = {"kb_version": "kb-1", "pipeline_version": "x", "outputs": [],
                "inputs": [{"path": "/b/2024-01-01/a.tsv", "bytes": 3, "sha256": "h"}], "config": {"max_chars": 9}}
    fps = [{"name": "a.tsv", "bytes": 3, "sha256": "h"}]
    assert stale_reason(manifest, unit, fps, "kb-2", {"max_chars": 9}).startswith("KB version changed (kb-1 -> kb-2)")
    assert stale_reason(manifest, unit, [{**fps[0], "sha256": "z"}], "kb-1", {"max_chars": 9}) == "inputs changed"
    assert stale_reason(manifest, unit, fps, "kb-1", {"max_chars": 5}) == "pipeline config changed (max_chars)"


def test_example_config_loads_and_the_airflow_dag_imports_without_airflow():
    cfg = load_nightly_config(REPO / "examples" / "nightly" / "nightly.yaml")
    assert [s.name for s in cfg.bitext.sources] == ["en-de", "en-zh", "en-fr"]
    dataflow = load_nightly_config(REPO / "examples" / "nightly" / "nightly-dataflow.yaml")
    assert "DataflowRunner" in dataflow.pipeline.beam_args
    spec = importlib.util.spec_from_file_location("nightly_dag", REPO / "examples" / "nightly" / "airflow_dag.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.command("/etc/xds/nightly.yaml") == "xds-nightly run --config /etc/xds/nightly.yaml"
    assert module.NOT_PROMOTED_EXIT_CODE == 3


def test_kb_cache_sees_an_in_place_edit_and_shares_matchers_across_runs(tmp_path):
    """The nightly process runs the pipeline many times: the cached KB must follow in-place edits (same size,
    new mtime), and the 'en' matcher is built once for an en-de and an en-zh run over the same KB."""
    import os

    from nightly.synthetic import write_kb
    from pipelines.config import parse_config
    from pipelines.resources import KBSpec, build_resources, load_run_kb

    write_kb(tmp_path / "kb", people=10, cities=4, countries=2)
    facts = tmp_path / "kb" / "facts" / "facts.tsv"
    before = load_run_kb(str(tmp_path / "kb"), (), ("de", "en"))
    assert load_run_kb(str(tmp_path / "kb"), (), ("de", "en")) is before  # cached while unchanged
    text = facts.read_text(encoding="utf-8")
    facts.write_text(text.replace("\tP19\t", "\tP20\t", 1), encoding="utf-8")  # same size, new content
    os.utime(facts, ns=(facts.stat().st_atime_ns, facts.stat().st_mtime_ns + 1_000_000))
    after = load_run_kb(str(tmp_path / "kb"), (), ("de", "en"))
    assert after is not before and after.version != before.version

    def config(tgt: str):
        argv = ["--input", "x", "--input-format", "jsonl", "--src-lang", "en", "--tgt-lang", tgt,
                "--kb", str(tmp_path / "kb"), "--output", str(tmp_path / "out")]
        return KBSpec.of(parse_config(argv)[0])

    en_de, en_zh = build_resources(config("de")), build_resources(config("zh"))
    assert en_de.matchers["en"] is en_zh.matchers["en"] and en_de.kb.version != en_zh.kb.version
    facts.write_text(text, encoding="utf-8")
    assert build_resources(config("de")).matchers["en"] is not en_de.matchers["en"]  # the KB changed: rebuilt


def test_verbose_flag_before_or_after_the_subcommand():
    from nightly.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["run", "--config", "c.yaml", "-v"]).verbose is True  # as docs/nightly.md shows it
    assert parser.parse_args(["-v", "status", "--config", "c.yaml"]).verbose is True
    assert parser.parse_args(["rollback", "--config", "c.yaml"]).verbose is False


def test_demo_kb_adds_generated_facts_without_id_clashes_and_enough_test_pairs(tmp_path):
    from nightly.demo import EXAMPLES, write_demo_kb
    from pipelines.split import split_of
    from schemas.kb import load_kb

    generated = write_demo_kb(tmp_path)
    example = load_kb(str(EXAMPLES / "kb"))
    kb = load_kb(str(tmp_path / "kb"), [str(tmp_path / "generated-kb" / "aliases")], langs=["en", "de"])
    example_ids = {e for h, _, t in example.facts for e in (h, t)}
    generated_ids = {e for h, _, t in generated["facts"] for e in (h, t)}
    assert not example_ids & generated_ids
    assert len(kb.facts) == len(example.facts) + len(generated["facts"])
    assert set(kb.aliases["en"]) >= generated_ids  # every generated entity can be linked
    # night 2's gate needs >= 20 positive test bags per gated language (gate.min_positive_bags)
    test_pairs = {tuple(sorted((h, t))) for h, _, t in generated["facts"] if split_of(h, t) == "test"}
    assert len(test_pairs) >= 30


def test_window_spans_trains_on_the_newest_spans_only(tmp_path):
    from nightly.night import Night

    for span in ("2024-01-01", "2024-01-02", "2024-01-03"):
        (tmp_path / "bitext" / span).mkdir(parents=True)
        (tmp_path / "bitext" / span / "a.jsonl").write_text("{}\n")
    raw = minimal(tmp_path, rex={"window_spans": 2})
    raw["bitext"]["root"] = str(tmp_path / "bitext")
    night = Night(NightlyConfig.from_dict(raw), "n1")
    night.state = {"steps": {"plan": {"units": [f"2024-01-0{i}/en-de" for i in (1, 2, 3)]}}}
    assert [Path(d).parts[-2] for d in night.train_dirs()] == ["2024-01-02", "2024-01-03"]
    night.config.rex.window_spans = 0
    assert len(night.train_dirs()) == 3


class RootedFileSystem(LocalFileSystem):
    """``nightlyfs://x`` is ``<ROOT>/x``: a file system the job reaches only through Beam's FileSystems, as it
    would reach gs:// or s3:// (no local path ever leaves this class)."""

    ROOT = ""
    PREFIX = "nightlyfs://"

    @classmethod
    def scheme(cls) -> str:
        return "nightlyfs"

    def _local(self, path: str) -> str:
        return os.path.join(self.ROOT, path[len(self.PREFIX):]) if path.startswith(self.PREFIX) else path

    def _uri(self, meta: FileMetadata) -> FileMetadata:
        return FileMetadata(self.PREFIX + os.path.relpath(meta.path, self.ROOT), meta.size_in_bytes,
                            meta.last_updated_in_seconds)

    def join(self, basepath, *paths):
        return posixpath.join(basepath, *paths)

    def split(self, path):
        return posixpath.split(path)

    def _url_dirname(self, url_or_path):
        return posixpath.dirname(url_or_path)

    def _list(self, dir_or_prefix):
        return (self._uri(m) for m in super()._list(self._local(dir_or_prefix)))

    def metadata(self, path):
        return self._uri(super().metadata(self._local(path)))

    def mkdirs(self, path):
        return super().mkdirs(self._local(path))

    def create(self, path, *args, **kwargs):
        return super().create(self._local(path), *args, **kwargs)

    def open(self, path, *args, **kwargs):
        return super().open(self._local(path), *args, **kwargs)

    def copy(self, sources, destinations):
        return super().copy([self._local(p) for p in sources], [self._local(p) for p in destinations])

    def rename(self, sources, destinations):
        return super().rename([self._local(p) for p in sources], [self._local(p) for p in destinations])

    def exists(self, path):
        return super().exists(self._local(path))

    def size(self, path):
        return super().size(self._local(path))

    def last_updated(self, path):
        return super().last_updated(self._local(path))

    def checksum(self, path):
        return super().checksum(self._local(path))

    def delete(self, paths):
        # not super().delete: LocalFileSystem.delete matches its paths through metadata(), which answers URIs here
        for path in paths:
            local = self._local(path)
            if os.path.isdir(local):
                shutil.rmtree(local)
            else:
                os.remove(local)


def test_spans_and_shards_on_a_non_local_file_system(tmp_path, monkeypatch):
    """Bitext root and shards behind a Beam file system scheme: discovery, fingerprints, the pipeline run, the
    manifest checks and the projection share all go through FileSystems; a second plan sees the unit complete."""
    from nightly.night import Night
    from nightly.synthetic import write_kb, write_span

    monkeypatch.setattr(RootedFileSystem, "ROOT", str(tmp_path / "remote"))
    kb = write_kb(tmp_path / "kb", people=20, cities=6, countries=3)
    write_span(tmp_path / "remote" / "bitext", "2024-01-01", kb, seed=1)
    (tmp_path / "remote" / "bitext" / "2024-01-01" / "notes.txt").write_text("not bitext")
    raw = minimal(tmp_path, shards="nightlyfs://shards", pipeline={"args": ["--no-relation-rate", "1.0"]})
    raw["bitext"] = {"root": "nightlyfs://bitext", "sources": [{"name": "en-de", "pattern": "en-de*.jsonl",
                                                                "format": "jsonl", "src_lang": "en",
                                                                "tgt_langs": ["de"]}]}
    raw["kb"] = {"dir": str(tmp_path / "kb")}
    cfg = NightlyConfig.from_dict(raw, base_dir=tmp_path)
    night = Night(cfg, "n1")
    night.state = night._load_state()
    night.step_plan()
    assert night.step_out("plan")["statuses"] == {"2024-01-01/en-de": "new"}
    assert night.step_out("plan")["unmatched"] == ["nightlyfs://bitext/2024-01-01/notes.txt"]
    night.step_priors()  # the priors store beside the shards, written and read only through FileSystems
    assert night.step_out("priors")["sources"]["en-de"]["dir"] == "nightlyfs://shards/_priors/en-de/n1"
    assert (tmp_path / "remote" / "shards" / "_priors" / "en-de" / "current.json").exists()
    night.step_shards()
    built = night.step_out("shards")["built"]["2024-01-01/en-de"]
    assert built["input_pairs"] == len((tmp_path / "remote" / "bitext" / "2024-01-01" / "en-de.jsonl").read_text()
                                       .splitlines())
    assert built["projection_share"]["de"] > 0.5
    manifest = json.loads((tmp_path / "remote" / "shards" / "2024-01-01" / "en-de" / "manifest.json").read_text())
    assert manifest["config"]["priors"] == "nightlyfs://shards/_priors/en-de/n1"
    again = Night(cfg, "n2")
    again.state = again._load_state()
    again.step_plan()
    assert again.step_out("plan")["statuses"] == {"2024-01-01/en-de": "complete"}


def test_gate_scores_a_model_with_its_own_input_layout(tiny_bert, tmp_path):
    """An HF encoder with entity pooling reads the sentence without markers; the gate must score it exactly as
    ``rex evaluate`` does (it once built marker batches for every model)."""
    import torch

    from nightly.gate import build_eval_cache, score_model
    from rex.api import evaluate_model, train
    from rex.config import EncoderConfig
    from rex.evaluate import ALL, metrics_from_scores
    from rex.synthetic import tiny_config, write_synthetic_shards

    shards = write_synthetic_shards(tmp_path / "shards", num_pairs=30)
    cfg = tiny_config([str(shards)], steps=4, warmup_steps=1, lr=1e-2)
    cfg.encoder = EncoderConfig(kind="hf", name_or_path=tiny_bert, tune="full", pooling="entity")
    train(cfg, tmp_path / "run")
    model = tmp_path / "run" / "model"
    cache = build_eval_cache([str(shards)], cfg.data, tmp_path / "bags")
    gated = score_model(model, cache, cfg.data, cfg.train.seed, torch.device("cpu"))
    gate_auc = metrics_from_scores(gated.scored, gated.threshold)[ALL]["pr_auc"]
    assert gate_auc == pytest.approx(evaluate_model(model, [str(shards)], "test", device="cpu")[ALL]["pr_auc"])


def test_priors_refit_reason():
    from nightly.priors import refit_reason
    from pipelines.resources import pipeline_version

    pointer = {"dir": "d", "pipeline_version": pipeline_version(), "config": {"max_tokens": 200},
               "fitted_bytes": 1000}
    same = {"max_tokens": 200}
    assert refit_reason(None, False, same, 1000, 1.0) == "no stored priors"
    assert refit_reason(pointer, False, same, 1000, 1.0) == "stored priors d incomplete"
    assert refit_reason(pointer, True, same, 2000, 1.0) is None  # doubled: not yet more than 2x
    assert refit_reason(pointer, True, same, 2001, 1.0) == "the source grew 2.00x since the fit"
    assert refit_reason(pointer, True, same, 1001, 0.0).startswith("the source grew")
    assert refit_reason(pointer, True, {"max_tokens": 100}, 1000, 1.0) == "pipeline config changed (max_tokens)"
    old = {**pointer, "pipeline_version": "0.0.1"}
    assert refit_reason(old, True, same, 1000, 1.0).startswith("pipeline version changed (0.0.1 ->")


def test_priors_pointer_moves_only_after_a_complete_fit(tmp_path, monkeypatch):
    """A fit that dies leaves no pointer (the next attempt fits again); a finished fit moves it; a source that has
    not doubled since reuses it."""
    import nightly.priors as store
    from nightly.spans import Unit

    cfg = NightlyConfig.from_dict({
        "bitext": {"root": str(tmp_path / "bitext"), "sources": [
            {"name": "en-de", "pattern": "*.tsv", "format": "tsv", "src_lang": "en", "tgt_langs": ["de"]}]},
        "kb": {"dir": str(tmp_path / "kb")}, "work_dir": str(tmp_path / "work"), "registry": str(tmp_path / "reg")})
    unit = Unit("2024-01-01", cfg.bitext.sources[0], ["a.tsv"], ["a.tsv"], str(tmp_path / "out"))
    root = store.source_root(cfg, "en-de")

    def dies(config, beam_args):
        raise KeyboardInterrupt("killed")

    def fits(config, beam_args):
        os.makedirs(config.output, exist_ok=True)
        Path(config.output, "priors.json").write_text(json.dumps({"format": 1, "langs": {"de": {"pairs": 3}}}))
        return {"langs": {"de": {"pairs": 3}}}

    monkeypatch.setattr(store, "fit", dies)
    with pytest.raises(KeyboardInterrupt):
        store.ensure_priors([unit], 100, cfg, "n1")
    assert store.read_pointer(root) is None
    monkeypatch.setattr(store, "fit", fits)
    first = store.ensure_priors([unit], 100, cfg, "n1")
    assert first["refit"] and store.read_pointer(root)["dir"] == first["dir"] == posixpath.join(root, "n1")
    monkeypatch.setattr(store, "fit", dies)  # not called: reused
    again = store.ensure_priors([unit], 150, cfg, "n2")
    assert not again["refit"] and again["dir"] == first["dir"] and again["fitted_units"] == 1


def test_no_priors_store_for_an_aligner_without_priors(tmp_path):
    from nightly.priors import ensure_priors
    from nightly.spans import Unit

    cfg = NightlyConfig.from_dict({
        "bitext": {"root": str(tmp_path / "bitext"), "sources": [
            {"name": "en-de", "pattern": "*.tsv", "format": "tsv", "src_lang": "en", "tgt_langs": ["de"]}]},
        "kb": {"dir": str(tmp_path / "kb")}, "work_dir": str(tmp_path / "work"), "registry": str(tmp_path / "reg"),
        "pipeline": {"args": ["--prior-sample-size", "0"]}})
    unit = Unit("2024-01-01", cfg.bitext.sources[0], ["a.tsv"], ["a.tsv"], str(tmp_path / "out"))
    out = ensure_priors([unit], 100, cfg, "n1")
    assert out["dir"] is None and "fits no eflomal priors" in out["reason"]
