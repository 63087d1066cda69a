"""rex.model: aggregators, losses, the retrieval hook, model directories."""

from __future__ import annotations

import pytest
import torch

from rex.config import EncoderConfig, ModelConfig, RetrievalConfig, RexConfig
from rex.data.lexical import lexical_features
from rex.encoder import encode_batch, mark_text, new_tokenizer
from rex.model import build_model, consistency_loss, load_model_dir, relation_loss, save_model_dir
from rex.model.relation import segment_attention, segment_max, segment_mean
from rex.synthetic import synthetic_rows


def test_segment_ops_by_hand():
    values = torch.tensor([[1.0, 4.0], [3.0, 2.0], [5.0, 0.0]])  # (N=3, R=2)
    index = torch.tensor([0, 0, 1])
    assert torch.equal(segment_max(values, index, 2), torch.tensor([[3.0, 4.0], [5.0, 0.0]]))
    assert torch.equal(segment_mean(values, index, 2), torch.tensor([[2.0, 3.0], [5.0, 0.0]]))
    equal = segment_attention(torch.zeros(3, 2), values, index, 2)  # uniform attention = mean
    assert torch.allclose(equal, segment_mean(values, index, 2))
    peaked = segment_attention(torch.tensor([[100.0, 0.0], [0.0, 0.0], [0.0, 0.0]]), values, index, 2)
    assert torch.allclose(peaked, torch.tensor([[1.0, 3.0], [5.0, 0.0]]))


def test_consistency_loss_zero_for_equal_twins_positive_otherwise():
    logits = torch.tensor([[2.0, -1.0], [2.0, -1.0], [-2.0, 1.0]])
    assert consistency_loss(logits, torch.tensor([[0, 1]])).item() == pytest.approx(0.0, abs=1e-7)
    assert consistency_loss(logits, torch.tensor([[0, 2]])).item() > 0.5
    assert consistency_loss(logits, torch.tensor([[0, 2]]), "mse").item() > 0.1


@pytest.fixture(scope="module")
def tokenizer():
    return new_tokenizer(EncoderConfig(vocab_size=120), (r["text"] for r in synthetic_rows(20)))


def _batch(tokenizer):
    texts = [mark_text("Ent1a was born in Ent1b .", (0, 5), (18, 23)),
             mark_text("Ent1a wurde in Ent1b geboren .", (0, 5), (15, 20)),
             mark_text("Ent2a works for Ent2b .", (0, 5), (16, 21))]
    batch = encode_batch(tokenizer, texts, 32)
    batch.update(bag_index=torch.tensor([0, 0, 1]), keys=[("Q1", "Q2"), ("Q3", "Q4")],
                 labels=torch.tensor([[1.0, 0.0], [0.0, 1.0]]),
                 inst_labels=torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), twins=torch.tensor([[0, 1]]))
    return batch


@pytest.mark.parametrize("aggregator", ["instance", "att", "avg", "one"])
def test_aggregators_shapes_and_loss(tokenizer, aggregator):
    cfg = RexConfig(encoder=EncoderConfig(hidden=16, layers=1, heads=2, ffn=32),
                    model=ModelConfig(aggregator=aggregator, consistency_weight=1.0))
    model = build_model(cfg, tokenizer, ["P19", "P108"])
    batch = _batch(tokenizer)
    out = model(batch)
    assert out["inst_logits"].shape == (3, 2) and out["bag_logits"].shape == (2, 2)
    loss, parts = relation_loss(out, batch, cfg.model)
    assert loss.requires_grad and "consistency" in parts
    cfg.model.pos_weight = 10.0  # weighting positives raises the loss of an untrained model
    assert relation_loss(out, batch, cfg.model)[1]["bce"] > parts["bce"]
    loss.backward()
    assert model.classifier.weight.grad is not None


def test_retrieval_fusion_is_applied(tokenizer):
    cfg = RexConfig(encoder=EncoderConfig(hidden=16, layers=1, heads=2, ffn=32),
                    model=ModelConfig(retrieval=RetrievalConfig(index_dir="idx", k=3)))
    cfg.model.retrieval.direct = False
    model = build_model(cfg, tokenizer, ["P19", "P108"], fact_dim=8).eval()
    torch.nn.init.normal_(model.fusion.out.weight)  # the fusion starts as the identity: make it act
    batch = _batch(tokenizer)
    facts, mask = torch.randn(2, 3, 8), torch.tensor([[True, True, False], [True, False, False]])
    with_facts = model(batch, facts, mask)["bag_logits"]
    assert with_facts.shape == (2, 2)
    assert not torch.allclose(with_facts, model(batch, torch.randn(2, 3, 8), mask)["bag_logits"])
    with pytest.raises(ValueError, match="pass facts"):
        model(batch)


@pytest.mark.parametrize("aggregator", ["att", "avg", "one", "instance"])
def test_direct_fact_path_adds_one_bag_term(tokenizer, aggregator):
    cfg = RexConfig(encoder=EncoderConfig(hidden=16, layers=1, heads=2, ffn=32),
                    model=ModelConfig(aggregator=aggregator, retrieval=RetrievalConfig(index_dir="idx", k=3)))
    with pytest.raises(ValueError, match="role_dim"):
        build_model(cfg, tokenizer, ["P19", "P108"], fact_dim=8)
    model = build_model(cfg, tokenizer, ["P19", "P108"], fact_dim=8, role_dim=10).eval()
    batch = _batch(tokenizer)
    facts, mask = torch.randn(2, 3, 8), torch.tensor([[True, True, False], [True, False, False]])
    roles = torch.rand(2, 10)
    before = model(batch, facts, mask, roles)["bag_logits"]  # zero-initialised: no change yet
    with torch.no_grad():
        model.direct.weight.normal_()
        model.direct.bias.normal_()
    after = model(batch, facts, mask, roles)["bag_logits"]
    assert torch.allclose(after - before, model.direct(roles), atol=1e-5)  # exactly once per bag
    with pytest.raises(ValueError, match="fact_roles"):
        model(batch, facts, mask)


def test_model_directory_round_trip(tokenizer, tmp_path):
    cfg = RexConfig(encoder=EncoderConfig(hidden=16, layers=1, heads=2, ffn=32))
    model = build_model(cfg, tokenizer, ["P19", "P108"]).eval()
    save_model_dir(tmp_path / "m", model, tokenizer, cfg, ["P19", "P108"])
    loaded = load_model_dir(tmp_path / "m")
    batch = _batch(tokenizer)
    assert loaded.labels == ["P19", "P108"] and loaded.config == cfg
    assert torch.allclose(model(batch)["bag_logits"], loaded.model(batch)["bag_logits"])
    (tmp_path / "m" / "labels.json").unlink()
    with pytest.raises(FileNotFoundError, match="missing labels.json"):
        load_model_dir(tmp_path / "m")


def _fit_interaction(tokenizer, head_hidden: int) -> float:
    """Train the classifier alone on cached-style ``features`` (N, 2H) whose label needs head AND tail type:
    relation = (head feature 0 > 0) XOR (tail feature H > 0). Returns training accuracy."""
    torch.manual_seed(0)
    cfg = RexConfig(encoder=EncoderConfig(hidden=16, layers=1, heads=2, ffn=32),
                    model=ModelConfig(aggregator="instance", dropout=0.0, head_hidden=head_hidden))
    model = build_model(cfg, tokenizer, ["P108"])
    feats = torch.randn(256, 32)
    gold = ((feats[:, 0] > 0) ^ (feats[:, 16] > 0)).float()[:, None]  # (N, 1)
    batch = {"features": feats, "bag_index": torch.arange(256), "keys": [("a", str(i)) for i in range(256)],
             "labels": gold, "inst_labels": gold, "twins": torch.zeros(0, 2, dtype=torch.long)}
    params = [p for name, p in model.named_parameters() if not name.startswith("encoder.")]
    opt = torch.optim.Adam(params, lr=0.01)
    for _ in range(400):
        opt.zero_grad()
        relation_loss(model(batch), batch, cfg.model)[0].backward()
        opt.step()
    model.eval()
    return float(((model(batch)["inst_logits"] > 0).float() == gold).float().mean())


def test_hidden_head_combines_head_and_tail_where_a_linear_head_cannot(tokenizer):
    assert _fit_interaction(tokenizer, 0) < 0.8  # XOR is not linearly separable
    assert _fit_interaction(tokenizer, 32) > 0.95


def test_hidden_head_round_trips(tokenizer, tmp_path):
    cfg = RexConfig(encoder=EncoderConfig(hidden=16, layers=1, heads=2, ffn=32), model=ModelConfig(head_hidden=8))
    model = build_model(cfg, tokenizer, ["P19", "P108"]).eval()
    assert model.classifier.in_features == 8 and model.query.shape == (2, 8)
    save_model_dir(tmp_path / "m", model, tokenizer, cfg, ["P19", "P108"])
    loaded = load_model_dir(tmp_path / "m")
    batch = _batch(tokenizer)
    assert torch.allclose(model(batch)["bag_logits"], loaded.model(batch)["bag_logits"])


def _lexical_batch(tokenizer, buckets: int):
    batch = _batch(tokenizer)
    texts = [mark_text("Ent1a was born in Ent1b .", (0, 5), (18, 23)),
             mark_text("Ent1a wurde in Ent1b geboren .", (0, 5), (15, 20)),
             mark_text("Ent2a works for Ent2b .", (0, 5), (16, 21))]
    batch.update(lexical_features(texts, buckets))
    return batch


@pytest.mark.parametrize("aggregator", ["instance", "att", "avg", "one"])
def test_lexical_path_starts_as_no_change_then_adds_its_logits(tokenizer, aggregator):
    cfg = RexConfig(encoder=EncoderConfig(hidden=16, layers=1, heads=2, ffn=32),
                    model=ModelConfig(aggregator=aggregator, lexical_buckets=64))
    model = build_model(cfg, tokenizer, ["P19", "P108"]).eval()
    batch = _lexical_batch(tokenizer, 64)
    reps = model.encode(batch)
    plain = model.classify(reps, batch["bag_index"], 2)
    before = model(batch)
    assert torch.allclose(before["inst_logits"], plain["inst_logits"])  # zero-initialised
    with torch.no_grad():
        model.lexical.weight.normal_()
    after = model(batch)
    lexical = model.lexical_logits(batch)  # (N, R)
    assert lexical.shape == (3, 2) and not torch.allclose(lexical, torch.zeros(3, 2))
    assert torch.allclose(after["inst_logits"] - plain["inst_logits"], lexical, atol=1e-5)
    with pytest.raises(ValueError, match="lacks its n-grams"):
        model(_batch(tokenizer))


def test_lexical_path_learns_a_word_the_features_do_not_carry(tokenizer):
    """Every instance has the same cached features; the relation is whether the sentence says 'founded'. Only the
    lexical path can tell."""
    torch.manual_seed(0)
    words = ["founded", "visited", "praised", "left"]
    texts = [mark_text(f"Ent{i}a {words[i % 4]} Ent{i}b .", (0, len(f"Ent{i}a")),
                       (len(f"Ent{i}a {words[i % 4]} "), len(f"Ent{i}a {words[i % 4]} Ent{i}b")))
             for i in range(64)]
    gold = torch.tensor([[1.0] if i % 4 == 0 else [0.0] for i in range(64)])

    def fit(buckets: int) -> float:
        cfg = RexConfig(encoder=EncoderConfig(hidden=16, layers=1, heads=2, ffn=32),
                        model=ModelConfig(aggregator="instance", dropout=0.0, lexical_buckets=buckets))
        model = build_model(cfg, tokenizer, ["P112"])
        batch = {"features": torch.ones(64, 32), "bag_index": torch.arange(64), "labels": gold,
                 "inst_labels": gold, "keys": [("a", str(i)) for i in range(64)],
                 "twins": torch.zeros(0, 2, dtype=torch.long)}
        if buckets:
            batch.update(lexical_features(texts, buckets))
        opt = torch.optim.Adam([p for n, p in model.named_parameters() if not n.startswith("encoder.")], lr=0.05)
        for _ in range(100):
            opt.zero_grad()
            relation_loss(model(batch), batch, cfg.model)[0].backward()
            opt.step()
        model.eval()
        return float(((model(batch)["inst_logits"] > 0).float() == gold).float().mean())

    assert fit(1024) == 1.0
    assert fit(0) == 0.75  # the majority answer


def test_lexical_path_round_trips(tokenizer, tmp_path):
    cfg = RexConfig(encoder=EncoderConfig(hidden=16, layers=1, heads=2, ffn=32), model=ModelConfig(lexical_buckets=64))
    model = build_model(cfg, tokenizer, ["P19", "P108"]).eval()
    with torch.no_grad():
        model.lexical.weight.normal_()
    save_model_dir(tmp_path / "m", model, tokenizer, cfg, ["P19", "P108"])
    loaded = load_model_dir(tmp_path / "m")
    batch = _lexical_batch(tokenizer, 64)
    assert loaded.config.model.lexical_buckets == 64
    assert torch.allclose(model(batch)["bag_logits"], loaded.model(batch)["bag_logits"])


def test_language_sub_bags_train_the_instances_the_max_passes_over(tokenizer):
    """At-least-one over a whole bag sends the gradient to its best instance only; with model.lang_bag_weight each
    language's instances form a bag of their own, so the weaker language's instance learns too."""
    feats = torch.tensor([[3.0] * 32, [0.5] * 32])  # one bag: an English and a German instance
    batch = {"bag_index": torch.tensor([0, 0]), "keys": [("Q1", "Q2")], "langs": ["en", "de"],
             "labels": torch.tensor([[1.0]]), "inst_labels": torch.tensor([[1.0], [1.0]]),
             "twins": torch.zeros(0, 2, dtype=torch.long)}

    def grads(weight: float) -> torch.Tensor:
        torch.manual_seed(0)
        cfg = RexConfig(encoder=EncoderConfig(hidden=16, layers=1, heads=2, ffn=32),
                        model=ModelConfig(aggregator="one", dropout=0.0, lang_bag_weight=weight))
        model = build_model(cfg, tokenizer, ["P108"]).train()
        with torch.no_grad():
            model.classifier.weight.fill_(0.1)
        x = feats.clone().requires_grad_(True)
        out = model(dict(batch, features=x))
        relation_loss(out, batch, cfg.model)[0].backward()
        return x.grad.abs().sum(dim=1)  # (2,) per instance

    plain, views = grads(0.0), grads(1.0)
    assert plain[0] > 0 and plain[1] == 0  # the max passes over the German instance
    assert views[1] > 0
    cfg = RexConfig(encoder=EncoderConfig(hidden=16, layers=1, heads=2, ffn=32), model=ModelConfig(lang_bag_weight=1.0))
    model = build_model(cfg, tokenizer, ["P19", "P108"])
    out = model(_batch(tokenizer) | {"langs": ["en", "de", "en"]})
    assert out["view_logits"].shape == (3, 2) and out["view_bag"].tolist() == [0, 0, 1]
    assert "view_logits" not in model.eval()(_batch(tokenizer) | {"langs": ["en", "de", "en"]})
