"""``rex export-encoder``: a rex model's encoder as a plain Hugging Face model folder.

The folder loads with ``transformers.AutoModel.from_pretrained`` and ``AutoTokenizer.from_pretrained`` and holds the
encoder body only: the trained weights (LoRA adapters merged into the base with peft's ``merge_and_unload``, top
layers or full fine-tuning as trained; a frozen encoder is its base), the marker tokens ``[E1] [/E1] [E2] [/E2]`` as
added special tokens with their embedding rows. The relation classifier, the attention over bags and the pooling
are rex's and are not in it: ``rex.load`` is the way to predict relations.

The scratch Transformer (``encoder.kind='transformer'``) is rex's own module over a sentencepiece vocabulary, not a
Hugging Face architecture, so it has no such export.
"""

from __future__ import annotations

import json
from pathlib import Path

from rex.encoder.base import MARKERS
from rex.model.io import load_model_dir


class NotExportable(ValueError):
    """The model's encoder is not a Hugging Face model."""


def export_encoder(model_dir: str | Path, out_dir: str | Path) -> Path:
    """Write ``model_dir``'s encoder to ``out_dir`` (created; must not hold a model already). Returns ``out_dir``."""
    out = Path(out_dir)
    if (out / "config.json").exists():
        raise FileExistsError(f"{out}: already holds a model (config.json); choose an empty folder")
    loaded = load_model_dir(model_dir, "cpu")
    enc = loaded.config.encoder
    if enc.kind != "hf":
        raise NotExportable(f"{model_dir}: encoder.kind={enc.kind!r} is rex's scratch Transformer (sentencepiece "
                            "vocabulary, rex's own layers), not a Hugging Face model: there is nothing "
                            "AutoModel.from_pretrained could load. Use rex.load() to predict with it.")
    body = loaded.model.encoder.model
    if enc.tune == "lora":
        body = body.merge_and_unload()  # adapters folded into the base weights: a plain model of the base's class
    out.mkdir(parents=True, exist_ok=True)
    body.save_pretrained(str(out))
    loaded.tokenizer.tok.save_pretrained(str(out))
    (out / "rex_export.json").write_text(json.dumps({
        "rex_model": str(Path(model_dir).resolve()), "base": enc.name_or_path, "tune": enc.tune,
        "pooling": enc.pooling, "markers": list(MARKERS),
        "note": "encoder body only; the relation classifier stays in the rex model directory",
    }, indent=1) + "\n", encoding="utf-8")
    return out
