"""Shared fixtures. Tests that need ../shared/data skip with a reason when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("XDS_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared_path(*parts: str) -> Path:
    """Path under ../shared/data; skips the calling test when it does not exist."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path} (the project's shared data folder); absent in this clone")
    return path


@pytest.fixture
def shared_data() -> Path:
    return shared_path()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> str:
    """A seeded 2-layer random BertModel + WordPiece tokenizer saved to a folder both aligners load."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    from tests.helpers import LITERAL_PAIRS, build_vocab, real_pairs

    try:
        pairs = LITERAL_PAIRS + real_pairs()
    except pytest.skip.Exception:
        pairs = LITERAL_PAIRS
    vocab = build_vocab(pairs)
    tokenizer = BertTokenizer(vocab=vocab)
    assert tokenizer.vocab_size == len(vocab)  # transformers 5 ignores vocab_file=; make sure ours was used
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=512)
    folder = tmp_path_factory.mktemp("tiny-bert")
    BertModel(config).eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    """A 2-layer 16-wide BERT whose word-level vocabulary covers the synthetic templates (names become [UNK])."""
    import re

    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    from rex.synthetic import NA_TEMPLATES, TEMPLATES

    words = {w.lower() for lang in [*TEMPLATES.values(), NA_TEMPLATES] for text in
             (lang.values() if isinstance(lang, dict) and "en" in lang else [lang]) for w in re.findall(r"\w+", text)}
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[", "]", "/", "e", "1", "2", ".", *sorted(words)]
    path = tmp_path_factory.mktemp("bert")
    BertTokenizer(vocab={w: i for i, w in enumerate(vocab)}).save_pretrained(str(path))
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=32, max_position_embeddings=64)).save_pretrained(str(path))
    return str(path)
