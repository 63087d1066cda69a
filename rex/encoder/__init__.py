"""Encoders behind one interface: marked sentence -> (N, 2H) entity representation (start markers or spans)."""

from __future__ import annotations

from collections.abc import Iterable

from rex.config import EncoderConfig
from rex.encoder.base import MARKERS, MarkedTokenizer, RexEncoder, encode_batch, mark_text

__all__ = ["MARKERS", "MarkedTokenizer", "RexEncoder", "encode_batch", "mark_text", "new_tokenizer",
           "load_tokenizer", "build_encoder"]


def new_tokenizer(cfg: EncoderConfig, sentences: Iterable[str]) -> MarkedTokenizer:
    """A fresh tokenizer: HF from ``name_or_path``, or sentencepiece trained on ``sentences``."""
    if cfg.kind == "hf":
        from rex.encoder.hf import HFTokenizer

        return HFTokenizer.from_pretrained(cfg.name_or_path)
    from rex.encoder.scratch import train_spm

    return train_spm(sentences, cfg.vocab_size)


def load_tokenizer(cfg: EncoderConfig, directory: str) -> MarkedTokenizer:
    """The tokenizer saved in a model directory."""
    if cfg.kind == "hf":
        from rex.encoder.hf import HFTokenizer

        return HFTokenizer.load(directory)
    from rex.encoder.scratch import SpmTokenizer

    return SpmTokenizer.load(directory)


def build_encoder(cfg: EncoderConfig, tokenizer: MarkedTokenizer, max_length: int,
                  saved_dir: str | None = None) -> RexEncoder:
    """The encoder module. ``saved_dir`` (tune='full') builds the HF architecture from a saved model, whose
    weights load later; every other HF encoder starts from its base weights (a saved model adds its own)."""
    if cfg.kind == "hf":
        from rex.encoder.hf import HFEncoder

        if saved_dir and cfg.tune == "full":
            return HFEncoder.from_saved(cfg, saved_dir, len(tokenizer))
        return HFEncoder.from_pretrained(cfg, tokenizer)
    from rex.encoder.scratch import ScratchEncoder

    return ScratchEncoder(cfg, len(tokenizer), tokenizer.pad_id, max_length)
