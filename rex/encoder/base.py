"""The encoder interface shared by the from-scratch and the Hugging Face encoders.

An instance is its sentence with entity markers inserted at the character spans of the two mentions
(``[E1] head [/E1]``, ``[E2] tail [/E2]``). A tokenizer turns marked sentences into ids; the encoder returns
the concatenated hidden states at the two start markers ("entity-start pooling", Baldini Soares et al. 2019)
or, with ``pooling='span'``, the mean hidden state of each entity's tokens between its two markers.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import torch

MARKERS = ("[E1]", "[/E1]", "[E2]", "[/E2]")


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

    def save(self, directory: str) -> None: ...


def window(ids: list[int], marker_ids: tuple[int, ...], max_body: int) -> list[int]:
    """A window of at most ``max_body`` ids that keeps both entities (centred on them when it can)."""
    if len(ids) <= max_body:
        return ids
    where = [i for i, t in enumerate(ids) if t in marker_ids]
    lo, hi = (min(where), max(where)) if where else (0, 0)
    if hi - lo + 1 >= max_body:
        start = lo
    else:
        start = max(0, min(lo - (max_body - (hi - lo + 1)) // 2, len(ids) - max_body))
    return ids[start : start + max_body]


def encode_batch(tokenizer: MarkedTokenizer, marked_texts: Sequence[str], max_length: int) -> dict[str, torch.Tensor]:
    """Marked sentences -> padded ids, mask and the head/tail start-marker positions.

    Returns ``input_ids`` (N, L) long, ``attention_mask`` (N, L) long, ``head_pos``/``tail_pos`` (N,) (the start
    markers) and ``head_end``/``tail_end`` (N,) (the end markers). A marker lost to truncation (entities further
    apart than ``max_length``) points at position 0.
    """
    max_body = max_length - len(tokenizer.prefix) - len(tokenizer.suffix)
    seqs = [tokenizer.prefix + window(b, tokenizer.marker_ids, max_body) + tokenizer.suffix
            for b in tokenizer.encode_body(marked_texts)]
    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    mask = np.arange(lengths.max()) < lengths[:, None]  # (N, L)
    ids = np.full(mask.shape, tokenizer.pad_id, dtype=np.int64)
    ids[mask] = np.fromiter(itertools.chain.from_iterable(seqs), dtype=np.int64, count=int(lengths.sum()))
    ids_t = torch.from_numpy(ids)
    e1, e1_end, e2, e2_end = tokenizer.marker_ids
    return {"input_ids": ids_t, "attention_mask": torch.from_numpy(mask.astype(np.int64)),
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


def entity_pool(hidden: torch.Tensor, positions: dict[str, torch.Tensor], pooling: str = "start") -> torch.Tensor:
    """hidden (N, L, H) and the marker positions of :func:`encode_batch` -> (N, 2H) head and tail states."""
    if pooling == "span":
        return torch.cat([span_mean_pool(hidden, positions["head_pos"], positions["head_end"]),
                          span_mean_pool(hidden, positions["tail_pos"], positions["tail_end"])], dim=-1)
    return entity_start_pool(hidden, positions["head_pos"], positions["tail_pos"])


class RexEncoder(torch.nn.Module):
    """Base class: ``forward(input_ids (N, L), attention_mask (N, L), positions) -> (N, 2H)``, ``positions`` the
    marker positions of :func:`encode_batch` (``head_pos``, ``tail_pos``, ``head_end``, ``tail_end``, each (N,))."""

    hidden_size: int
    pooling: str = "start"

    @property
    def output_size(self) -> int:
        return 2 * self.hidden_size
