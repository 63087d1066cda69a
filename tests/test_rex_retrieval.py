"""Tests of rex/retrieval: index vs exact search, leak-freedom, save/load, fusion, KGE, CLI."""

from __future__ import annotations

import io
import json
import os

import faiss
import numpy as np
import pytest
import torch

from rex.retrieval import build as build_mod
from rex.retrieval.api import RetrievedFacts
from rex.retrieval.build import build_fact_index, heldout_pairs_from_shards, unordered
from rex.retrieval.cli import main as cli_main
from rex.retrieval.fusion import FactFusion
from rex.retrieval.index import EXACT_MAX, FactIndex, IndexMismatchError, build_faiss, choose_factory, load_index
from rex.retrieval.kge import KGEConfig, link_prediction, train_kge
from rex.retrieval.retriever import KGEFactRetriever, KGELeakError, load_retriever
from schemas.io import write_parquet
from schemas.kb import KnowledgeBase
from schemas.shard import SHARD_SCHEMA


def synthetic_kb(n_entities: int = 120, n_relations: int = 4, seed: int = 0) -> KnowledgeBase:
    """Deterministic KB with structure: relation r links entity i to (i * (r + 2) + r) mod n, plus noise facts."""
    rng = np.random.default_rng(seed)
    facts = []
    for r in range(n_relations):
        for i in range(n_entities):
            facts.append((f"Q{i}", f"P{r}", f"Q{(i * (r + 2) + r) % n_entities}"))
    for _ in range(n_entities):
        a, b = rng.integers(0, n_entities, 2)
        facts.append((f"Q{a}", f"P{rng.integers(n_relations)}", f"Q{b}"))
    return KnowledgeBase(facts=list(dict.fromkeys(facts)), aliases={})


CONFIG = KGEConfig(model="distmult", dim=16, epochs=3, batch_size=256, lr=0.02, seed=0)


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return synthetic_kb()


@pytest.fixture(scope="module")
def heldout(kb) -> set[tuple[str, str]]:
    pairs = sorted({unordered(h, t) for h, _, t in kb.facts})
    return set(pairs[::10])


TRAINED: dict[str, np.ndarray] = {}


@pytest.fixture(scope="module")
def fact_index(kb, heldout):
    """The index of the synthetic KB; TRAINED['triples'] records what the KGE was trained on."""
    real = build_mod.train_kge

    def spy(triples, *args, **kwargs):
        TRAINED["triples"] = triples.copy()
        return real(triples, *args, **kwargs)

    build_mod.train_kge = spy
    try:
        return build_fact_index(kb, heldout, CONFIG)
    finally:
        build_mod.train_kge = real


def test_exact_index_is_identical_to_brute_force():
    keys = build_mod.unit(np.random.default_rng(1).normal(size=(3000, 24)))
    queries = build_mod.unit(np.random.default_rng(2).normal(size=(50, 24)))
    index, factory, _ = build_faiss(keys)
    assert factory == "Flat"
    _, ids = index.search(queries, 10)
    expected = np.argsort(-(queries @ keys.T), axis=1)[:, :10]
    np.testing.assert_array_equal(ids, expected)


@pytest.mark.parametrize(
    "factory,params", [("HNSW32", "efSearch=128"), ("IVF32,PQ3x4,RFlat", "nprobe=16,k_factor_rf=32"),
                       ("IVF32,PQ12x4fs,RFlat", "nprobe=16,k_factor_rf=32")]
)
def test_approximate_index_recall_against_exact(factory, params):
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(40, 24))
    keys = build_mod.unit(centres[rng.integers(0, 40, 6000)] + 0.5 * rng.normal(size=(6000, 24)))
    queries = build_mod.unit(centres[rng.integers(0, 40, 200)] + 0.5 * rng.normal(size=(200, 24)))
    exact = faiss.IndexFlatIP(24)
    exact.add(keys)
    _, truth = exact.search(queries, 10)
    index, _, _ = build_faiss(keys, factory=factory, search_params=params)
    _, found = index.search(queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(truth, found, strict=True)])
    assert recall >= 0.9, (factory, recall)


def test_factory_chosen_by_size():
    assert choose_factory(EXACT_MAX, 64)[0] == "Flat"
    big, params = choose_factory(EXACT_MAX + 1, 64)
    assert big.startswith("IVF") and big.endswith("RFlat") and "nprobe" in params
    # the setting measured at 1M facts (bench/results/retrieval_batched.md), and a factory for any dimension
    assert choose_factory(1_000_000, 64) == ("IVF1024,PQ32x4fs,RFlat", "nprobe=256,k_factor_rf=64")
    for dim in (15, 16, 64):
        assert faiss.index_factory(dim, choose_factory(EXACT_MAX + 1, dim)[0], faiss.METRIC_INNER_PRODUCT)


def test_heldout_facts_never_reach_kge_or_index(kb, heldout, fact_index):
    fi = fact_index
    ents = fi.entity_ids
    trained_pairs = {unordered(ents[h], ents[t]) for h, _, t in TRAINED["triples"].tolist()}
    indexed_pairs = {unordered(ents[h], ents[t]) for h, _, t in fi.facts.tolist()}
    assert heldout and not (trained_pairs & heldout) and not (indexed_pairs & heldout)
    n_heldout_facts = sum(unordered(h, t) in heldout for h, _, t in kb.facts)
    assert fi.meta["n_facts"] == len(TRAINED["triples"]) == len(kb.facts) - n_heldout_facts > 0


def test_retrieval_is_leak_free(kb, heldout, fact_index):
    retriever = KGEFactRetriever(fact_index, k=6, exclude_pairs=heldout)
    pairs = [(h, t) for h, _, t in kb.facts] + [(t, h) for h, _, t in kb.facts[:50]] + sorted(heldout)
    found = retriever.retrieve(pairs)
    assert found.embeddings.shape == (len(pairs), 6, retriever.dim) and found.embeddings.dtype == np.float32
    assert found.mask.any(axis=1).all()
    for (h, t), ids in zip(pairs, found.fact_ids, strict=True):
        for fact in ids:
            fh, _, ft = fact.split("|")
            assert unordered(fh, ft) != unordered(h, t), (h, t, fact)
            assert unordered(fh, ft) not in heldout, fact
    assert not found.embeddings[~found.mask].any()


def test_role_features_match_the_retrieved_fact_ids(kb, heldout, fact_index):
    retriever = KGEFactRetriever(fact_index, k=6, exclude_pairs=heldout)
    pairs = [(h, t) for h, _, t in kb.facts[:40]]
    found = retriever.retrieve(pairs)
    relations = fact_index.relation_ids
    assert found.roles.shape == (len(pairs), 5 * len(relations))
    for (head, tail), ids, roles in zip(pairs, found.fact_ids, found.roles, strict=True):
        expected = np.zeros(5 * len(relations), dtype=np.float32)
        for fact in ids:  # rebuilt from the readable fact ids
            s, r, o = fact.split("|")
            base = 5 * relations.index(r)
            expected[base] += 1
            for slot, hit in ((1, s == head), (2, o == head), (3, s == tail), (4, o == tail)):
                expected[base + slot] = max(expected[base + slot], float(hit))
        np.testing.assert_array_equal(roles, expected)
    assert found.roles[:, 1::5].sum() > 0  # facts attached to the head as subject do occur


def test_excluding_a_pair_the_kge_saw_is_an_error(kb, fact_index):
    h, _, t = fact_index.fact_id(0).split("|")
    with pytest.raises(KGELeakError, match="held-out pairs"):
        KGEFactRetriever(fact_index, k=4, exclude_pairs={(t, h)})
    retriever = KGEFactRetriever(fact_index, k=4, exclude_pairs={(t, h)}, allow_kge_leak=True)
    other = kb.facts[5][0], kb.facts[9][2]
    assert all(unordered(*f.split("|")[::2]) != unordered(h, t) for f in retriever.retrieve([other]).fact_ids[0])


def test_unknown_entities_and_cache(fact_index):
    retriever = KGEFactRetriever(fact_index, k=4)
    found = retriever.retrieve([("Qnope", "Qnada"), ("Q1", "Qnada"), ["Q1", "Qnada"]])  # lists accepted too
    assert not found.mask[0].any() and found.mask[1].all()
    assert found.fact_ids[1] == found.fact_ids[2]
    assert isinstance(found, RetrievedFacts) and len(retriever._cache) == 2


def test_save_load_round_trip_and_mismatch(tmp_path, fact_index, heldout):
    out = str(tmp_path / "idx")
    fact_index.save(out)
    pairs = [("Q1", "Q3"), ("Q7", "Q20")]
    before = KGEFactRetriever(fact_index, k=6, exclude_pairs=heldout).retrieve(pairs)
    after = load_retriever(out, k=6, exclude_pairs=heldout, kb_version=fact_index.meta["kb_version"],
                           model_hash=fact_index.meta["model_hash"]).retrieve(pairs)
    assert before.fact_ids == after.fact_ids
    np.testing.assert_array_equal(before.embeddings, after.embeddings)
    with pytest.raises(IndexMismatchError, match="KB version"):
        load_index(out, kb_version="kb-0000")
    with pytest.raises(IndexMismatchError, match="embedding model"):
        load_index(out, expected_model_hash="kge-0000")
    np.save(os.path.join(out, "entity_emb.npy"), fact_index.entity_emb + 1, allow_pickle=False)
    with pytest.raises(IndexMismatchError, match="hash"):
        load_index(out)
    with pytest.raises(IndexMismatchError, match="meta.json"):
        load_index(str(tmp_path))


def test_fusion_shapes_and_all_masked_rows_unchanged():
    torch.manual_seed(0)
    fusion = FactFusion(rel_dim=12, fact_dim=9)
    torch.nn.init.normal_(fusion.out.weight)  # as after training: the residual branch is active
    rel, facts = torch.randn(3, 12), torch.randn(3, 5, 9)
    mask = torch.tensor([[True] * 5, [True, False, False, False, False], [False] * 5])
    out = fusion(rel, facts, mask)
    assert out.shape == (3, 12)
    assert torch.equal(out[2], rel[2]) and not torch.allclose(out[0], rel[0])
    facts2 = facts.clone()
    facts2[1, 1:] = 100.0  # padded facts must not matter
    fusion.eval()
    assert torch.allclose(fusion(rel, facts, mask)[1], fusion(rel, facts2, mask)[1])
    out.sum().backward()
    assert fusion.query.weight.grad is not None and torch.isfinite(fusion.query.weight.grad).all()
    with pytest.raises(ValueError, match="expected"):
        fusion(rel, facts, mask[:, :2])


def test_kge_learns_structure(kb):
    facts, ents, rels = build_mod.encode_facts(kb.facts)
    config = KGEConfig(model="complex", dim=32, epochs=15, batch_size=256, lr=0.05, negatives=64, seed=0)
    model = train_kge(facts, len(ents), len(rels), config)
    trained = link_prediction(model, facts, facts)
    untrained = link_prediction(train_kge(facts, len(ents), len(rels), KGEConfig(model="complex", dim=32, epochs=0)),
                                facts, facts)
    assert trained["mrr"] > 0.5 > untrained["mrr"] + 0.3, (trained, untrained)
    with pytest.raises(ValueError, match="KGE model"):
        KGEConfig(model="nope")


def _shard_row(head: str, tail: str, split: str) -> dict:
    span = {"kb_id": head, "token_start": 0, "token_end": 1, "char_start": 0, "char_end": 1, "surface": "a"}
    return {"instance_id": f"{head}-{tail}", "pair_id": "p", "source_instance_id": None, "lang": "en", "text": "a b",
            "tokens": ["a", "b"], "token_starts": [0, 2], "token_ends": [1, 3], "head": span,
            "tail": {**span, "kb_id": tail, "token_start": 1, "token_end": 2, "char_start": 2, "char_end": 3,
                     "surface": "b"},
            "relations": [], "label_source": "linked", "projection_confidence": None, "aligner": None,
            "split": split, "kb_version": "kb-x", "pipeline_version": "0"}


def test_cli_build_and_query_with_heldout_shards(tmp_path, kb, capsys, monkeypatch):
    kb_dir = tmp_path / "kb"
    kb_dir.mkdir()
    (kb_dir / "facts.tsv").write_text("".join(f"{h}\t{r}\t{t}\n" for h, r, t in kb.facts), encoding="utf-8")
    shards = tmp_path / "shards"
    (shards / "test").mkdir(parents=True)
    rows = [_shard_row("Q2", "Q4", "test"), _shard_row("Q1", "Q3", "train")]
    write_parquet(rows, str(shards / "test" / "part-0.parquet"), SHARD_SCHEMA)
    assert heldout_pairs_from_shards([str(shards)]) == {("Q2", "Q4")}
    out = tmp_path / "idx"
    assert cli_main(["index", "build", "--kb", str(kb_dir), "--output", str(out), "--heldout-shards", str(shards),
                     "--dim", "8", "--epochs", "1"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["factory"] == "Flat" and summary["n_facts"] < summary["n_kb_facts"]
    assert cli_main(["index", "query", "--index", str(out), "--pair", "Q1", "Q3", "--k", "4"]) == 0
    line = json.loads(capsys.readouterr().out.strip())
    assert line["head"] == "Q1" and 0 < len(line["facts"]) <= 4
    # more facts asked for than the index holds, and an unknown pair: a short answer with a note, not a crash
    k = summary["n_facts"] + 5
    assert cli_main(["index", "query", "--index", str(out), "--pair", "Q1", "Q3", "--pair", "Qx", "Qy",
                     "--k", str(k)]) == 0
    answers = [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]
    assert [a["head"] for a in answers] == ["Q1", "Qx"]
    assert all(len(a["facts"]) < k and a["note"].endswith(f"k={k} facts found") for a in answers)
    # pairs on stdin: the same answers as --pair
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"Q1\tQ3\nQx\tQy\n")))
    assert cli_main(["index", "query", "--index", str(out), "--pairs", "-", "--k", str(k)]) == 0
    assert [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()] == answers


def test_one_builder_one_policy(tmp_path, kb, heldout, fact_index):
    """build_retriever: train and evaluate withhold every dev/test pair of the shards (read through
    resolve_shards, so a rejects folder beside them is skipped), predict withholds nothing more."""
    from rex.config import RetrievalConfig
    from rex.retrieval.policy import build_retriever

    index_dir = str(tmp_path / "idx")
    fact_index.save(index_dir)
    shards = tmp_path / "shards"
    (shards / "dev").mkdir(parents=True)
    (shards / "rejects").mkdir()
    (shards / "rejects" / "rejects-0.parquet").write_bytes(b"not a shard")  # never opened
    held = sorted(heldout)
    rows = [_shard_row(h, t, "dev") for h, t in held] + [_shard_row("Q1", "Q3", "train")]
    write_parquet(rows, str(shards / "dev" / "part-0.parquet"), SHARD_SCHEMA)
    ret = RetrievalConfig(enabled=True, index_dir=index_dir, k=4)
    assert build_retriever(None, "train") is None
    assert build_retriever(RetrievalConfig(enabled=False), "evaluate") is None
    evaluating = build_retriever(ret, "evaluate", shards=[str(shards)])
    training = build_retriever(ret, "train", heldout_pairs=heldout)
    predicting = build_retriever(ret, "predict", shards=[str(shards)])
    query = [("Q1", "Q3"), ("Q7", "Q20")]
    assert evaluating.retrieve(query).fact_ids == training.retrieve(query).fact_ids
    assert predicting.exclude_codes.size == 0 < evaluating.exclude_codes.size
    with pytest.raises(ValueError, match="purpose"):
        build_retriever(ret, "serve")


def test_prefetch_gives_the_facts_of_per_pair_retrieval_on_an_approximate_index(kb, heldout, fact_index):
    """prefetch searches many pairs per FAISS call; every pair then retrieves exactly what a retriever that searched
    it alone (one pair per call, as per-step calls do) retrieves: same facts, order, mask, roles and scores, on the
    exact index and on an IVF-PQ + refine index like the one chosen above 200k facts."""
    from rex.retrieval.build import fact_keys, unit

    keys = fact_keys(unit(fact_index.entity_emb), fact_index.facts.astype(np.int64))
    ivf, _, _ = build_faiss(keys, factory="IVF8,PQ4x4,RFlat", search_params="nprobe=3,k_factor_rf=2", use_gpu=False)
    approximate = FactIndex(index=ivf, facts=fact_index.facts, entity_emb=fact_index.entity_emb,
                            relation_emb=fact_index.relation_emb, meta=fact_index.meta)
    pairs = [(h, t) for h, _, t in kb.facts] + sorted(heldout) + [("Qnope", "Q1")]
    for fi in (fact_index, approximate):
        batched = KGEFactRetriever(fi, k=6, exclude_pairs=heldout)
        assert batched.prefetch(pairs, batch_pairs=128) == len(set(pairs))
        assert batched.prefetch(pairs[:5]) == 0  # cached pairs are not searched again
        single = KGEFactRetriever(fi, k=6, exclude_pairs=heldout)
        for start in range(0, len(pairs), 97):
            chunk = pairs[start : start + 97]
            a = batched.retrieve(chunk)
            b = [single.retrieve([pair]) for pair in chunk]
            assert a.fact_ids == [f for one in b for f in one.fact_ids]
            np.testing.assert_array_equal(a.mask, np.concatenate([one.mask for one in b]))
            np.testing.assert_array_equal(a.roles, np.concatenate([one.roles for one in b]))
            np.testing.assert_allclose(a.scores, np.concatenate([one.scores for one in b]), rtol=0, atol=1e-6)


def test_trainer_prefetches_the_runs_pairs_and_retrieves_the_same_facts(tmp_path):
    """The trainer searches the train, dev and test pairs up front in large batches: no FAISS search happens in a
    training step, and each step's facts are the ones a retriever searching batch by batch returns."""
    from rex.config import RetrievalConfig
    from rex.retrieval.policy import build_retriever
    from rex.synthetic import tiny_config, write_synthetic_shards
    from rex.trainer import Trainer

    shards = str(write_synthetic_shards(tmp_path / "shards", num_pairs=30))
    ents = [f"Q{1000 + i}" for i in range(60)]
    facts = [(a, "R1", b) for a, b in zip(ents, ents[1:], strict=False)]
    facts += [(a, "R2", b) for a, b in zip(ents, ents[3:], strict=False)]
    heldout = heldout_pairs_from_shards([shards])
    fi = build_fact_index(KnowledgeBase(facts=facts, aliases={}), heldout, CONFIG)
    fi.meta.pop("kb_facts_version", None)  # the synthetic shards name no KB facts version to check against
    fi.save(str(tmp_path / "idx"))
    cfg = tiny_config([shards], steps=30)
    cfg.model.retrieval = RetrievalConfig(enabled=True, index_dir=str(tmp_path / "idx"), k=4)
    trainer = Trainer(cfg, tmp_path / "run")
    pairs = trainer.caches["train"].pairs() | trainer.caches["dev"].pairs() | trainer.caches["test"].pairs()
    assert set(trainer.retriever._cache) == {(str(h), str(t)) for h, t in pairs}
    logged = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["retrieval_prefetch_pairs"] for r in logged if "retrieval_prefetch_pairs" in r] == [len(pairs)]
    searches = []
    real_search = trainer.retriever._search
    trainer.retriever._search = lambda chunk: searches.append(chunk) or real_search(chunk)
    per_batch = build_retriever(cfg.model.retrieval, "train", heldout_pairs=heldout)
    retrieved = 0
    for batch in trainer._loader(trainer.train_data):
        fact_ids = trainer.retriever.retrieve(batch["keys"]).fact_ids
        assert fact_ids == per_batch.retrieve(batch["keys"]).fact_ids
        retrieved += sum(map(len, fact_ids))
    assert retrieved > 0 and not searches
