"""The encoder interface shared by the from-scratch and the Hugging Face encoders.

An instance is its sentence with entity markers inserted at the character spans of the two mentions
(``[E1] head [/E1]``, ``[E2] tail [/E2]``). A tokenizer turns marked sentences into ids; the encoder returns
the concatenated hidden states at the two start markers ("entity-start pooling", Baldini Soares et al. 2019)
or, with ``pooling='span'``, the mean hidden state of each entity's tokens between its two markers. With
``pooling='entity'`` the encoder reads the sentence *without* markers and each entity is the mean state of the
tokens that overlap its character span: the sentence's encoding no longer depends on the pair, so a frozen
encoder encodes each distinct sentence once for all of its pairs (rex.encoder.features). ``pooling='entity_context'``
reads the same unmarked sentence and adds two context vectors to the two entities: the mean state of the tokens
between them (where relation words mostly are) and the mean state of the whole sentence (what an e5-style encoder
is trained to put its meaning in), (N, 4H).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import torch

from rex.config import PLAIN_POOLINGS

MARKERS = ("[E1]", "[/E1]", "[E2]", "[/E2]")


def pooled_size(pooling: str, hidden: int) -> int:
    """The width D of a pooled instance: 2H (head, tail), 4H for entity_context (+ between, sentence)."""
    return (4 if pooling == "entity_context" else 2) * hidden


def mark_text(text: str, head: tuple[int, int], tail: tuple[int, int]) -> str:
    """Insert the four markers at the half-open character spans ``head`` and ``tail`` (non-overlapping)."""
    inserts = sorted(
        [(head[0], 1, MARKERS[0]), (head[1], 0, MARKERS[1]), (tail[0], 1, MARKERS[2]), (tail[1], 0, MARKERS[3])]
    )
    out, last = [], 0
    for pos, _, marker in inserts:
        out.append(text[last:pos])
        out.append(marker)
        last = pos
    out.append(text[last:])
    return "".join(out)


class MarkedTokenizer(Protocol):
    """Subword tokenizer that knows the four markers as single tokens."""

    pad_id: int
    marker_ids: tuple[int, int, int, int]
    prefix: list[int]  # special ids before the body ([CLS], <s>, ...)
    suffix: list[int]  # special ids after it

    def __len__(self) -> int: ...

    def encode_body(self, marked_texts: Sequence[str]) -> list[list[int]]: ...

    def encode_plain(self, texts: Sequence[str]) -> list[tuple[list[int], list[tuple[int, int]]]]:
        """Ids and character offsets of each unmarked text (needed by ``pooling='entity'`` only)."""
        ...

    def save(self, directory: str) -> None: ...


def window_start(length: int, lo: int, hi: int, max_body: int) -> int:
    """Start of a window of ``max_body`` of ``length`` positions that holds ``lo..hi`` (centred when it can)."""
    if length <= max_body:
        return 0
    if hi - lo + 1 >= max_body:
        return lo
    return max(0, min(lo - (max_body - (hi - lo + 1)) // 2, length - max_body))


def window(ids: list[int], marker_ids: tuple[int, ...], max_body: int) -> list[int]:
    """A window of at most ``max_body`` ids that keeps both entities (centred on them when it can)."""
    if len(ids) <= max_body:
        return ids
    where = [i for i, t in enumerate(ids) if t in marker_ids]
    lo, hi = (min(where), max(where)) if where else (0, 0)
    start = window_start(len(ids), lo, hi, max_body)
    return ids[start : start + max_body]


def unmark(marked: str) -> tuple[str, tuple[int, int], tuple[int, int]]:
    """Inverse of :func:`mark_text`: the text and the head and tail character spans (each marker once)."""
    found = sorted((marked.index(m), m) for m in MARKERS)
    text, at, last = [], {}, 0
    removed = 0
    for pos, marker in found:
        text.append(marked[last:pos])
        at[marker] = pos - removed
        removed += len(marker)
        last = pos + len(marker)
    text.append(marked[last:])
    return "".join(text), (at[MARKERS[0]], at[MARKERS[1]]), (at[MARKERS[2]], at[MARKERS[3]])


def token_range(offsets: list[tuple[int, int]], span: tuple[int, int]) -> tuple[int, int]:
    """[first, last + 1) of the tokens overlapping the character span (an empty range at the span's place if none)."""
    hits = [i for i, (s, e) in enumerate(offsets) if s < span[1] and e > span[0] and e > s]
    if hits:
        return hits[0], hits[-1] + 1
    before = sum(1 for s, _ in offsets if s < span[0])
    return before, before


def _pad(tokenizer: MarkedTokenizer, seqs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    mask = np.arange(lengths.max()) < lengths[:, None]  # (N, L)
    ids = np.full(mask.shape, tokenizer.pad_id, dtype=np.int64)
    ids[mask] = np.fromiter(itertools.chain.from_iterable(seqs), dtype=np.int64, count=int(lengths.sum()))
    return torch.from_numpy(ids), torch.from_numpy(mask.astype(np.int64))


def encode_plain_batch(tokenizer: MarkedTokenizer, marked_texts: Sequence[str], max_length: int) -> dict:
    """``pooling='entity'``: the sentences without markers, windowed to keep both entities. Same keys as
    :func:`encode_batch`; the positions bound each entity's tokens exclusively (``head_pos`` is one before its
    first token, ``head_end`` one after its last), as the span pooling reads them."""
    items = [unmark(m) for m in marked_texts]
    encoded = tokenizer.encode_plain([text for text, _, _ in items])
    max_body = max_length - len(tokenizer.prefix) - len(tokenizer.suffix)
    seqs, bounds = [], []
    for (_, head, tail), (ids, offsets) in zip(items, encoded, strict=True):
        (hs, he), (ts, te) = token_range(offsets, head), token_range(offsets, tail)
        start = window_start(len(ids), min(hs, ts), max(he, te) - 1, max_body)
        body = ids[start : start + max_body]
        shift = len(tokenizer.prefix) - start
        lo, hi = len(tokenizer.prefix) - 1, len(tokenizer.prefix) + len(body)  # clipped to the window
        bounds.append([min(max(hs + shift - 1, lo), hi), min(max(he + shift, lo), hi),
                       min(max(ts + shift - 1, lo), hi), min(max(te + shift, lo), hi)])
        seqs.append(tokenizer.prefix + body + tokenizer.suffix)
    ids_t, mask_t = _pad(tokenizer, seqs)
    b = torch.tensor(bounds, dtype=torch.long).reshape(-1, 4)
    return {"input_ids": ids_t, "attention_mask": mask_t, "head_pos": b[:, 0], "head_end": b[:, 1],
            "tail_pos": b[:, 2], "tail_end": b[:, 3]}


def encode_batch(tokenizer: MarkedTokenizer, marked_texts: Sequence[str], max_length: int,
                 pooling: str = "start") -> dict[str, torch.Tensor]:
    """Marked sentences -> padded ids, mask and the head/tail start-marker positions.

    Returns ``input_ids`` (N, L) long, ``attention_mask`` (N, L) long, ``head_pos``/``tail_pos`` (N,) (the start
    markers) and ``head_end``/``tail_end`` (N,) (the end markers). A marker lost to truncation (entities further
    apart than ``max_length``) points at position 0. ``pooling='entity'``: :func:`encode_plain_batch`.
    """
    if pooling in PLAIN_POOLINGS:
        return encode_plain_batch(tokenizer, marked_texts, max_length)
    max_body = max_length - len(tokenizer.prefix) - len(tokenizer.suffix)
    seqs = [tokenizer.prefix + window(b, tokenizer.marker_ids, max_body) + tokenizer.suffix
            for b in tokenizer.encode_body(marked_texts)]
    ids_t, mask_t = _pad(tokenizer, seqs)
    e1, e1_end, e2, e2_end = tokenizer.marker_ids
    return {"input_ids": ids_t, "attention_mask": mask_t,
            "head_pos": _first(ids_t, e1), "tail_pos": _first(ids_t, e2),
            "head_end": _first(ids_t, e1_end), "tail_end": _first(ids_t, e2_end)}


def _first(ids: torch.Tensor, token: int) -> torch.Tensor:
    """(N,) index of the first ``token`` in each row of ``ids`` (N, L); 0 when absent."""
    hit = ids == token
    return torch.where(hit.any(dim=1), hit.float().argmax(dim=1), torch.zeros(ids.shape[0], dtype=torch.long))


def entity_start_pool(hidden: torch.Tensor, head_pos: torch.Tensor, tail_pos: torch.Tensor) -> torch.Tensor:
    """hidden (N, L, H), head_pos/tail_pos (N,) -> (N, 2H): the states at [E1] and [E2], concatenated."""
    rows = torch.arange(hidden.shape[0], device=hidden.device)
    return torch.cat([hidden[rows, head_pos], hidden[rows, tail_pos]], dim=-1)


def span_mean_pool(hidden: torch.Tensor, start: torch.Tensor, end: torch.Tensor) -> torch.Tensor:
    """hidden (N, L, H), start/end (N,) marker positions -> (N, H): the mean state strictly between the markers;
    the start marker's state where the span is empty or its end marker was truncated away."""
    pos = torch.arange(hidden.shape[1], device=hidden.device)[None]  # (1, L)
    inside = ((pos > start[:, None]) & (pos < end[:, None])).to(hidden.dtype)  # (N, L)
    count = inside.sum(dim=1, keepdim=True)  # (N, 1)
    mean = (hidden * inside[..., None]).sum(dim=1) / count.clamp(min=1)
    rows = torch.arange(hidden.shape[0], device=hidden.device)
    return torch.where(count > 0, mean, hidden[rows, start])


def context_pool(hidden: torch.Tensor, positions: dict[str, torch.Tensor]) -> torch.Tensor:
    """hidden (N, L, H), the bounds of :func:`encode_plain_batch` and its ``attention_mask`` (N, L) -> (N, 2H): the
    mean state of the tokens between the two entities (zeros when they touch or overlap), then the masked mean of
    every token (special tokens included, as e5-style encoders pool)."""
    pos = torch.arange(hidden.shape[1], device=hidden.device)[None]  # (1, L)
    first_end = torch.minimum(positions["head_end"], positions["tail_end"])  # one after the first entity's last token
    second_start = torch.maximum(positions["head_pos"], positions["tail_pos"])  # one before the second's first token
    between = ((pos >= first_end[:, None]) & (pos <= second_start[:, None])).to(hidden.dtype)  # (N, L)
    mask = positions["attention_mask"].to(hidden.dtype)  # (N, L)

    def masked_mean(weights: torch.Tensor) -> torch.Tensor:
        return (hidden * weights[..., None]).sum(dim=1) / weights.sum(dim=1, keepdim=True).clamp(min=1)

    return torch.cat([masked_mean(between * mask), masked_mean(mask)], dim=-1)


def entity_pool(hidden: torch.Tensor, positions: dict[str, torch.Tensor], pooling: str = "start") -> torch.Tensor:
    """hidden (N, L, H) and the positions of :func:`encode_batch` -> (N, D): head and tail states (D = 2H), and with
    ``entity_context`` the between and sentence means after them (D = 4H, :func:`context_pool`)."""
    if pooling in ("span", *PLAIN_POOLINGS):
        pair = torch.cat([span_mean_pool(hidden, positions["head_pos"], positions["head_end"]),
                          span_mean_pool(hidden, positions["tail_pos"], positions["tail_end"])], dim=-1)
        return torch.cat([pair, context_pool(hidden, positions)], dim=-1) if pooling == "entity_context" else pair
    return entity_start_pool(hidden, positions["head_pos"], positions["tail_pos"])


class RexEncoder(torch.nn.Module):
    """Base class: ``forward(input_ids (N, L), attention_mask (N, L), positions) -> (N, 2H)``, ``positions`` the
    marker positions of :func:`encode_batch` (``head_pos``, ``tail_pos``, ``head_end``, ``tail_end``, each (N,))."""

    hidden_size: int
    pooling: str = "start"

    def hidden_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(N, L) ids and mask -> (N, L, H) last hidden states."""
        raise NotImplementedError

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                positions: dict[str, torch.Tensor]) -> torch.Tensor:
        """input_ids, attention_mask (N, L); positions: marker positions, each (N,) -> (N, 2H)."""
        return entity_pool(self.hidden_states(input_ids, attention_mask), positions, self.pooling)

    @property
    def output_size(self) -> int:
        return pooled_size(self.pooling, self.hidden_size)
