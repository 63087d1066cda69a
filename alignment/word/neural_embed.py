"""Batched subword embeddings from a Hugging Face encoder, without truncation.

All sentences of a call are tokenised in one fast-tokenizer call (``word_ids()`` gives the subword -> word map),
cut into windows of at most ``max_length`` subwords (overlapping windows for long sentences, stitched by keeping
each subword from the window where it is most central), sorted by length, padded per batch and encoded with one
forward pass per batch. The result is one flat tensor of subword vectors plus per-sentence offsets.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import AutoConfig, AutoModel, AutoTokenizer

LOG = logging.getLogger(__name__)

# Model families whose position ids start after the padding index, so max_position_embeddings over-counts by 2.
_OFFSET_POSITION_MODELS = {"roberta", "xlm-roberta", "camembert", "longformer", "xlm-roberta-xl"}
# Families whose hidden_states[k] is the plain output of encoder.layer[k - 1] (no final norm), so the layers above
# the one we read can be dropped without changing it.
_TRUNCATABLE_MODELS = {"bert", "roberta", "xlm-roberta", "camembert", "electra"}


@dataclass
class SubwordEmbeddings:
    """Subword vectors of a list of sentences.

    ``vectors[offsets[k]:offsets[k + 1]]`` are the vectors of sentence k (special tokens removed) and
    ``word_ids[k][p]`` is the word index of its subword p.
    """

    vectors: torch.Tensor  # (total_subwords, H)
    offsets: list[int]
    word_ids: list[list[int]]

    def sentence(self, k: int) -> torch.Tensor:
        return self.vectors[self.offsets[k] : self.offsets[k + 1]]  # (n_k, H)


def plan_windows(n: int, width: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """Windows covering ``n`` subwords: (start, end, keep_from, keep_to), absolute positions.

    Consecutive windows overlap by ``overlap`` subwords; each position is kept from exactly one window, the one
    where it is farthest from a cut edge (the overlap is split in the middle).
    """
    if width < 1 or not 0 <= overlap < width:
        raise ValueError(f"need width >= 1 and 0 <= overlap < width, got width={width}, overlap={overlap}")
    if n <= width:
        return [(0, n, 0, n)]
    step = width - overlap
    starts = list(range(0, n - width, step)) + [n - width]
    windows = []
    for w, start in enumerate(starts):
        end = start + width
        keep_from = 0 if w == 0 else (start + windows[-1][1]) // 2
        keep_to = n if w == len(starts) - 1 else (starts[w + 1] + end) // 2
        windows.append((start, end, keep_from, keep_to))
    return windows


class EmbeddingModel:
    """An AutoModel + fast AutoTokenizer pair that embeds pre-tokenised sentences at one hidden layer."""

    def __init__(
        self,
        model_name_or_path: str,
        layer: int = 8,
        device: str | torch.device | None = None,
        max_length: int | None = None,
        overlap: int = 64,
    ) -> None:
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.config = AutoConfig.from_pretrained(model_name_or_path)
        self.tokenizer = AutoTokenizer.from_pretrained(model_name_or_path, use_fast=True)
        if not self.tokenizer.is_fast:
            raise ValueError(f"{model_name_or_path}: a fast tokenizer (word_ids) is needed, got {type(self.tokenizer)}")
        n_layers = int(self.config.num_hidden_layers)
        self.layer = max(0, min(layer, n_layers))
        if self.layer != layer:
            LOG.info("layer %d clamped to %d (model has %d layers)", layer, self.layer, n_layers)
        self.model = AutoModel.from_pretrained(model_name_or_path).to(self.device).eval()
        self._drop_unused_layers()
        template = self.tokenizer([["x"]], is_split_into_words=True, return_special_tokens_mask=True)
        ids, special = template["input_ids"][0], template["special_tokens_mask"][0]
        first = special.index(0)
        self.prefix, self.suffix = ids[:first], ids[first + 1 :]
        self.max_length = max_length or self._model_max_length()
        self.width = self.max_length - len(self.prefix) - len(self.suffix)
        if self.width < 2:
            raise ValueError(f"max_length={self.max_length} leaves no room for subwords")
        self.overlap = min(overlap, self.width // 2)
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0

    def _model_max_length(self) -> int:
        limit = getattr(self.config, "max_position_embeddings", None) or 512
        if self.config.model_type in _OFFSET_POSITION_MODELS:
            limit -= 2
        tokenizer_limit = self.tokenizer.model_max_length
        return min(limit, tokenizer_limit) if tokenizer_limit and tokenizer_limit < 1_000_000 else limit

    def _drop_unused_layers(self) -> None:
        """Layers above the one we read change nothing we use: drop them when the layout is the usual one."""
        if self.config.model_type not in _TRUNCATABLE_MODELS:
            return
        encoder = getattr(self.model, "encoder", None)
        layers = getattr(encoder, "layer", None)
        if isinstance(layers, torch.nn.ModuleList) and len(layers) > self.layer:
            encoder.layer = layers[: self.layer]
            LOG.debug("kept %d of %d encoder layers", self.layer, len(layers))

    def tokenize(self, sentences: Sequence[Sequence[str]]) -> tuple[list[list[int]], list[list[int]]]:
        """Subword ids and their word indices per sentence (no special tokens)."""
        enc = self.tokenizer([list(s) for s in sentences], is_split_into_words=True, add_special_tokens=False)
        return enc["input_ids"], [enc.word_ids(k) for k in range(len(sentences))]

    def embed(self, sentences: Sequence[Sequence[str]], batch_size: int = 64) -> SubwordEmbeddings:
        """Layer-``self.layer`` vectors of every subword of every sentence; long sentences are windowed."""
        ids, word_ids = self.tokenize(sentences)
        offsets = [0]
        for seq in ids:
            offsets.append(offsets[-1] + len(seq))
        segments = []  # (sentence, start, end, keep_from, keep_to)
        for k, seq in enumerate(ids):
            if len(seq) > self.width:
                LOG.debug("sentence %d has %d subwords > %d: windowed", k, len(seq), self.width)
            segments += [(k, *window) for window in plan_windows(len(seq), self.width, self.overlap) if seq]
        segments.sort(key=lambda seg: seg[2] - seg[1])
        out = torch.empty(offsets[-1], self.model.config.hidden_size)  # (total_subwords, H)
        for b in range(0, len(segments), batch_size):
            batch = segments[b : b + batch_size]
            hidden = self._forward([ids[k][start:end] for k, start, end, _, _ in batch]).float().cpu()
            for row, (k, start, _, keep_from, keep_to) in enumerate(batch):
                first = len(self.prefix) + keep_from - start
                out[offsets[k] + keep_from : offsets[k] + keep_to] = hidden[row, first : first + keep_to - keep_from]
        return SubwordEmbeddings(out, offsets, [[w for w in wids if w is not None] for wids in word_ids])

    def _forward(self, chunks: list[list[int]]) -> torch.Tensor:
        """One padded forward pass; returns hidden states of layer ``self.layer``, (B, T, H)."""
        longest = max(len(c) for c in chunks) + len(self.prefix) + len(self.suffix)
        input_ids = torch.full((len(chunks), longest), self.pad_id, dtype=torch.long)  # (B, T)
        mask = torch.zeros((len(chunks), longest), dtype=torch.long)  # (B, T)
        for row, chunk in enumerate(chunks):
            full = self.prefix + chunk + self.suffix
            input_ids[row, : len(full)] = torch.tensor(full)
            mask[row, : len(full)] = 1
        with torch.inference_mode():
            outputs = self.model(
                input_ids=input_ids.to(self.device), attention_mask=mask.to(self.device), output_hidden_states=True
            )
        return outputs.hidden_states[self.layer]
