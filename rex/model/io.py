"""Model directories: ``config.json``, ``labels.json``, ``model.safetensors`` and the tokenizer files.

A model directory loads offline and never unpickles anything: weights are safetensors, everything else
JSON or the tokenizer's own files. Directories are written to a temp dir and renamed into place.

An HF encoder that is not fully fine-tuned (``encoder.tune`` frozen / top / lora) is not copied into every model
and checkpoint: ``model.safetensors`` holds only the trained tensors (classifier, attention queries, fact fusion,
the top layers or the LoRA adapters), and ``base_encoder.json`` names the base weights with their sha256, which
must match when the model loads (a few MB instead of the encoder's hundreds).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, load_model, save_file, save_model

from rex.config import RexConfig
from rex.encoder import MarkedTokenizer, build_encoder, load_tokenizer
from rex.model.card import CardFacts, write_model_card
from rex.model.relation import RelationModel

WEIGHTS = "model.safetensors"
BASE_ENCODER = "base_encoder.json"


@dataclass
class LoadedModel:
    model: RelationModel
    tokenizer: MarkedTokenizer
    config: RexConfig
    labels: list[str]
    fact_dim: int | None
    role_dim: int | None = None
    relation_names: dict[str, str] = field(default_factory=dict)  # id -> name, for the labels whose name is known


def build_model(config: RexConfig, tokenizer: MarkedTokenizer, labels: list[str], fact_dim: int | None = None,
                saved_dir: str | None = None, role_dim: int | None = None) -> RelationModel:
    encoder = build_encoder(config.encoder, tokenizer, config.data.max_length, saved_dir=saved_dir)
    return RelationModel(encoder, len(labels), config.model, fact_dim, role_dim)


def save_model_dir(directory: str | Path, model: RelationModel, tokenizer: MarkedTokenizer, config: RexConfig,
                   labels: list[str], fact_dim: int | None = None,
                   extra: Callable[[Path], None] | None = None, role_dim: int | None = None,
                   relation_names: dict[str, str] | None = None, card: CardFacts | None = None) -> None:
    """Write a complete model directory atomically (replacing an older one) with its model card (README.md);
    ``extra(tmp_dir)`` adds files."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    config.save(tmp / "config.json")
    # 'names' sits beside the ids (only known names); directories saved before it load with ids as names
    info = {"relations": labels, "fact_dim": fact_dim, "role_dim": role_dim, "names": relation_names or {}}
    (tmp / "labels.json").write_text(json.dumps(info, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    write_model_card(tmp, config, labels, relation_names or {}, card)
    if config.encoder.tune == "full":
        save_model(model, str(tmp / WEIGHTS))
    else:
        save_file(trained_state(model), str(tmp / WEIGHTS))
        (tmp / BASE_ENCODER).write_text(json.dumps(base_reference_of(config), indent=1) + "\n", encoding="utf-8")
    tokenizer.save(str(tmp))
    if hasattr(model.encoder, "save_arch"):
        model.encoder.save_arch(str(tmp))
    if extra is not None:
        extra(tmp)
    old = None
    if directory.exists():
        old = directory.with_name(f".{directory.name}-old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(directory, old)
    os.replace(tmp, directory)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def trained_state(model: RelationModel) -> dict[str, torch.Tensor]:
    """The state a partly frozen model stores: everything outside the encoder, and the encoder's trained tensors."""
    trained = {name for name, p in model.named_parameters() if p.requires_grad}
    return {name: t.detach().contiguous() for name, t in model.state_dict().items()
            if not name.startswith("encoder.") or name in trained}


_BASE_REFS: dict[tuple, dict] = {}


def base_reference_of(config: RexConfig) -> dict:
    """The base encoder's reference (hashed once per file state in this process)."""
    from rex.encoder.hf import base_reference, weight_file

    path = weight_file(config.encoder.name_or_path)
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _BASE_REFS:
        _BASE_REFS[key] = base_reference(config.encoder.name_or_path)
    return _BASE_REFS[key]


def load_weights(model: RelationModel, directory: str | Path, config: RexConfig, device: str = "cpu") -> None:
    """Load ``directory``'s weights into ``model`` (built from the same config). A partly frozen model must come
    from the same base encoder weights, and its file must hold exactly the tensors it trains."""
    directory = Path(directory)
    if config.encoder.tune == "full":
        load_model(model, str(directory / WEIGHTS), device=str(device))
        return
    base_file = directory / BASE_ENCODER
    if base_file.exists():
        saved = json.loads(base_file.read_text(encoding="utf-8"))
        here = base_reference_of(config)
        if saved.get("sha256") != here["sha256"]:
            raise ValueError(f"{directory}: trained on base encoder {saved.get('name_or_path')} with sha256 "
                             f"{str(saved.get('sha256'))[:12]}..., but {config.encoder.name_or_path} here has "
                             f"{here['sha256'][:12]}...")
    state = load_file(str(directory / WEIGHTS), device=str(device))
    expected = trained_state(model)
    if set(state) != set(expected):
        extra, lacking = sorted(set(state) - set(expected)), sorted(set(expected) - set(state))
        raise ValueError(f"{directory}: weights do not fit the model (unexpected {extra[:3]}, missing {lacking[:3]})")
    model.load_state_dict(state, strict=False)


class ModelDirError(ValueError):
    """A model directory that cannot be loaded as written (garbled, tampered, or from another model); the message
    names the file, on one line."""


def _read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise ModelDirError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(value, dict):
        raise ModelDirError(f"{path}: expected a JSON object")
    return value


def _weights_error(directory: Path, err: Exception) -> ModelDirError:
    """A one-line ModelDirError for weights that failed to load: not safetensors (a pickle is named as such and
    never loaded) or tensors of other shapes than config.json and labels.json give."""
    path = directory / WEIGHTS
    with open(path, "rb") as handle:
        head = handle.read(4)
    if head[:1] == b"\x80" or head == b"PK\x03\x04":
        return ModelDirError(f"{path}: a pickle or torch.save file, not safetensors; rex never unpickles model files")
    from safetensors import SafetensorError

    if isinstance(err, SafetensorError):
        return ModelDirError(f"{path}: not a readable safetensors file ({_first_line(err)})")
    first = next((line.strip() for line in str(err).splitlines() if "size mismatch" in line), _first_line(err))
    return ModelDirError(f"{path}: weights do not fit the model that config.json and labels.json describe ({first})")


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def load_model_dir(directory: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Load a model directory written by :func:`save_model_dir` (offline, no pickle); ModelDirError naming the
    file when one is garbled or does not fit the others."""
    from safetensors import SafetensorError

    directory = Path(directory)
    for name in ("config.json", "labels.json", WEIGHTS):
        if not (directory / name).exists():
            raise FileNotFoundError(f"{directory}: not a rex model directory (missing {name})")
    config = RexConfig.from_dict(_read_json(directory / "config.json"), where=str(directory / "config.json"))
    info = _read_json(directory / "labels.json")
    labels = info.get("relations")
    if not (isinstance(labels, list) and labels and all(isinstance(x, str) for x in labels)):
        raise ModelDirError(f"{directory / 'labels.json'}: 'relations' must be a non-empty list of relation ids")
    try:
        tokenizer = load_tokenizer(config.encoder, str(directory))
    except (OSError, RuntimeError, ValueError) as err:
        raise ModelDirError(f"{directory}: the tokenizer files do not load ({_first_line(err)})") from err
    ret = config.model.retrieval
    if ret is not None and ret.enabled and "role_dim" not in info:
        ret.direct = False  # saved before the direct fact path existed
    model = build_model(config, tokenizer, labels, info.get("fact_dim"), saved_dir=str(directory),
                        role_dim=info.get("role_dim"))
    try:
        load_weights(model, directory, config, device)
    except (SafetensorError, RuntimeError) as err:
        raise _weights_error(directory, err) from err
    model.to(device).eval()
    return LoadedModel(model, tokenizer, config, labels, info.get("fact_dim"), info.get("role_dim"),
                       dict(info.get("names") or {}))
