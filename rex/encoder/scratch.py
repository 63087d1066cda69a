"""The offline default: a sentencepiece unigram vocabulary trained on the shard text of every language, and a
small Transformer encoder (torch.nn.TransformerEncoder) trained from scratch. No pretrained weights."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import sentencepiece as spm
import torch
from torch import nn

from rex.config import EncoderConfig
from rex.encoder.base import MARKERS, RexEncoder

logger = logging.getLogger(__name__)
SPM_FILE = "spm.model"


class SpmTokenizer:
    """sentencepiece model with the markers as user-defined symbols; ids 0..3 = pad, unk, bos, eos."""

    def __init__(self, model_proto: bytes):
        self.proto = model_proto
        self.sp = spm.SentencePieceProcessor(model_proto=model_proto)
        self.pad_id = self.sp.pad_id()
        self.marker_ids = tuple(self.sp.piece_to_id(m) for m in MARKERS)
        self.prefix = [self.sp.bos_id()]
        self.suffix = [self.sp.eos_id()]

    def __len__(self) -> int:
        return self.sp.get_piece_size()

    def encode_body(self, marked_texts: Sequence[str]) -> list[list[int]]:
        return self.sp.encode(list(marked_texts), out_type=int)

    def save(self, directory: str) -> None:
        (Path(directory) / SPM_FILE).write_bytes(self.proto)

    @classmethod
    def load(cls, directory: str) -> SpmTokenizer:
        return cls((Path(directory) / SPM_FILE).read_bytes())

    def __getstate__(self) -> dict:  # DataLoader workers get a copy: ship the bytes, not the C++ object
        return {"proto": self.proto}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["proto"])


def train_spm(sentences: Iterable[str], vocab_size: int, seed_sentencepiece_size: int = 200_000) -> SpmTokenizer:
    """Train a unigram model from an iterator of sentences (every language mixed), in memory.

    ``hard_vocab_limit=False`` lets a small corpus produce a smaller vocabulary instead of failing.
    """
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences),
        model_writer=model,
        model_type="unigram",
        vocab_size=vocab_size,
        hard_vocab_limit=False,
        character_coverage=0.9995,
        user_defined_symbols=list(MARKERS),
        pad_id=0, unk_id=1, bos_id=2, eos_id=3,
        seed_sentencepiece_size=seed_sentencepiece_size,
        num_threads=2,
        minloglevel=2,
    )
    tokenizer = SpmTokenizer(model.getvalue())
    logger.info("sentencepiece vocabulary: %d pieces", len(tokenizer))
    return tokenizer


class ScratchEncoder(RexEncoder):
    """Token + learned position embeddings, a pre-norm TransformerEncoder, entity-start pooling."""

    def __init__(self, cfg: EncoderConfig, vocab_size: int, pad_id: int, max_length: int):
        super().__init__()
        self.hidden_size = cfg.hidden
        self.pooling = cfg.pooling
        self.tokens = nn.Embedding(vocab_size, cfg.hidden, padding_idx=pad_id)
        self.positions = nn.Embedding(max_length, cfg.hidden)
        self.dropout = nn.Dropout(cfg.dropout)
        layer = nn.TransformerEncoderLayer(
            cfg.hidden, cfg.heads, cfg.ffn, cfg.dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.layers = nn.TransformerEncoder(layer, cfg.layers, norm=nn.LayerNorm(cfg.hidden),
                                            enable_nested_tensor=False)
        nn.init.normal_(self.tokens.weight, std=0.02)
        nn.init.normal_(self.positions.weight, std=0.02)

    def hidden_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """input_ids, attention_mask (N, L) -> (N, L, H)."""
        steps = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.dropout(self.tokens(input_ids) + self.positions(steps)[None])  # (N, L, H)
        return self.layers(x, src_key_padding_mask=attention_mask == 0)  # (N, L, H)
