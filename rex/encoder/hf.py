"""Any Hugging Face encoder (XLM-R, mBERT, MiniLM, ...) by id or local path, with the markers added as special
tokens. Saved models keep the tokenizer files and the architecture config, so they load offline."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModel, AutoTokenizer

from rex.encoder.base import MARKERS, RexEncoder, entity_start_pool

TOKENIZER_DIR = "tokenizer"
ARCH_DIR = "encoder"


class HFTokenizer:
    """Wraps an AutoTokenizer; the markers are additional special tokens (never split)."""

    def __init__(self, tokenizer):
        self.tok = tokenizer
        if any(tokenizer.convert_tokens_to_ids(m) in (None, tokenizer.unk_token_id) for m in MARKERS):
            tokenizer.add_special_tokens({"additional_special_tokens": list(MARKERS)})
        self.marker_ids = tuple(tokenizer.convert_tokens_to_ids(m) for m in MARKERS)
        specials = tokenizer("", add_special_tokens=True)["input_ids"]
        self.prefix, self.suffix = list(specials[:1]), list(specials[1:])
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def __len__(self) -> int:
        return len(self.tok)

    def encode_body(self, marked_texts: Sequence[str]) -> list[list[int]]:
        return self.tok(list(marked_texts), add_special_tokens=False)["input_ids"]

    def save(self, directory: str) -> None:
        self.tok.save_pretrained(str(Path(directory) / TOKENIZER_DIR))

    @classmethod
    def from_pretrained(cls, name_or_path: str) -> HFTokenizer:
        return cls(AutoTokenizer.from_pretrained(name_or_path))

    @classmethod
    def load(cls, directory: str) -> HFTokenizer:
        return cls(AutoTokenizer.from_pretrained(str(Path(directory) / TOKENIZER_DIR)))


class HFEncoder(RexEncoder):
    """AutoModel body + entity-start pooling over its last hidden states."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.hidden_size = model.config.hidden_size

    @classmethod
    def from_pretrained(cls, name_or_path: str, vocab_size: int) -> HFEncoder:
        model = AutoModel.from_pretrained(name_or_path)
        model.resize_token_embeddings(vocab_size)
        return cls(model)

    @classmethod
    def from_saved(cls, directory: str, vocab_size: int) -> HFEncoder:
        """Architecture from the saved config only; the weights come from the model's safetensors file."""
        model = AutoModel.from_config(AutoConfig.from_pretrained(str(Path(directory) / ARCH_DIR)))
        model.resize_token_embeddings(vocab_size)
        return cls(model)

    def save_arch(self, directory: str) -> None:
        self.model.config.save_pretrained(str(Path(directory) / ARCH_DIR))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, head_pos: torch.Tensor,
                tail_pos: torch.Tensor) -> torch.Tensor:
        """input_ids, attention_mask (N, L); head_pos, tail_pos (N,) -> (N, 2H)."""
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (N, L, H)
        return entity_start_pool(hidden, head_pos, tail_pos)
