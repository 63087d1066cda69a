"""The lexical path's input: hashed character n-grams of an instance's marked sentence.

A frozen encoder gives every instance the representation it learnt in pre-training; the cues a bag-of-words
model picks up from the distant labels themselves (a word of a relation, an entity name in a script the small
encoder reads poorly) it does not expose. ``model.lexical_buckets`` adds a linear path over these n-grams
to the relation logits (wide and deep, Cheng et al. 2016), the features BoW-LR reads (bench/rex_quality.py):
character 1-3-grams within words, the markers spaced off so they are n-grams of their own. They are hashed
(scikit-learn's signed-free murmurhash3, the same on every machine and run) instead of counted into a
vocabulary, so no vocabulary has to be fitted, saved or grown across nights, and unseen n-grams cost nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch
from sklearn.feature_extraction.text import HashingVectorizer


def lexical_text(marked: str) -> str:
    """A marked sentence as the lexical path reads it: the entity markers spaced off."""
    return marked.replace("[", " [").replace("]", "] ")


@lru_cache(maxsize=4)
def _vectorizer(buckets: int) -> HashingVectorizer:
    return HashingVectorizer(analyzer="char_wb", ngram_range=(1, 3), n_features=buckets, alternate_sign=False,
                             norm="l2", dtype=np.float32)


def lexical_rows(marked_texts: Sequence[str], buckets: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each marked sentence's hashed n-grams: (bucket ids int32, their l2-normalised counts float32)."""
    if not marked_texts:
        return []  # scikit-learn's hasher cannot take an empty batch
    matrix = _vectorizer(buckets).transform([lexical_text(t) for t in marked_texts]).tocsr()
    matrix.sort_indices()
    ptr = matrix.indptr
    return [(matrix.indices[ptr[i]:ptr[i + 1]].astype(np.int32), matrix.data[ptr[i]:ptr[i + 1]])
            for i in range(len(marked_texts))]


def pack_lexical(rows: Sequence[tuple[np.ndarray, np.ndarray]]) -> dict[str, torch.Tensor]:
    """N sentences' n-grams (:func:`lexical_rows`) -> the inputs of an ``nn.EmbeddingBag(buckets, R, mode='sum')``:
    ``lex_ids`` (M,) bucket of each n-gram, ``lex_offsets`` (N,) where each sentence's n-grams start,
    ``lex_weights`` (M,) their weights."""
    sizes = np.array([len(ids) for ids, _ in rows], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]) if len(rows) else np.zeros(0, dtype=np.int64)
    ids = np.concatenate([r[0] for r in rows]) if len(rows) else np.zeros(0, dtype=np.int32)
    weights = np.concatenate([r[1] for r in rows]) if len(rows) else np.zeros(0, dtype=np.float32)
    return {"lex_ids": torch.from_numpy(ids.astype(np.int64)),
            "lex_offsets": torch.from_numpy(offsets.astype(np.int64)),
            "lex_weights": torch.from_numpy(weights.astype(np.float32, copy=False))}


def lexical_features(marked_texts: Sequence[str], buckets: int) -> dict[str, torch.Tensor]:
    """N marked sentences -> the lexical path's batch inputs (:func:`pack_lexical`)."""
    return pack_lexical(lexical_rows(marked_texts, buckets))
