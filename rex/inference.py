"""The Python prediction API: ``rex.load(model_dir)`` -> :class:`RelationExtractor`.

    import rex
    model = rex.load("runs/rex/model")                     # CUDA when present, else CPU
    model.predict("Ada Lovelace was born in London.", (0, 12), (25, 31), "en")
    # {'id': None, 'language': 'en', 'scores': {'P19': 0.93, ...}, 'relations': ['P19'],
    #  'predictions': [{'relation': 'P19', 'name': 'place of birth', 'score': 0.93}]}
    model.predict_batch([{"text": ..., "head": [0, 12], "tail": [25, 31], "language": "en"}, ...])

Items are the records ``rex predict`` reads from JSONL (``text`` with ``head``/``tail`` spans, or ``marked_text``;
optional ``id``, ``head_id``/``tail_id``), and the results are the lines it writes: both go through
rex.predict.parse_record and rex.predict.predict_records.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import torch

from rex.model.io import LoadedModel, load_model_dir
from rex.predict import parse_record, predict_records
from rex.relation_names import display_name


class RelationExtractor:
    """A loaded model directory with its device (and fact retriever, for models trained with retrieval)."""

    def __init__(self, loaded: LoadedModel, device: torch.device, retriever=None, batch_size: int = 64):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.loaded, self.device, self.retriever, self.batch_size = loaded, device, retriever, batch_size

    @classmethod
    def load(cls, directory: str | Path, device: str | torch.device | None = None, retrieval_index: str | None = None,
             batch_size: int = 64) -> RelationExtractor:
        """Load a model directory; ``device`` defaults to CUDA when available. ``retrieval_index`` overrides the
        fact index a retrieval model was trained with."""
        from rex.retrieval.policy import build_retriever

        dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        loaded = load_model_dir(directory, dev)
        retriever = build_retriever(loaded.config.model.retrieval, "predict", index_dir=retrieval_index)
        return cls(loaded, dev, retriever, batch_size)

    @property
    def labels(self) -> list[str]:
        """The relation ids, in score order."""
        return list(self.loaded.labels)

    @property
    def relation_names(self) -> dict[str, str]:
        """id -> name for every label (the id itself when the model does not know the name)."""
        return {r: display_name(self.loaded.relation_names, r) for r in self.loaded.labels}

    @property
    def threshold(self) -> float:
        """The global cut (model.threshold): languages without their own cut use it."""
        return self.loaded.config.model.threshold

    @property
    def lang_thresholds(self) -> dict[str, float]:
        """language -> its own cut (model.lang_thresholds, tuned on dev); other languages use ``threshold``."""
        return dict(self.loaded.config.model.lang_thresholds)

    def threshold_for(self, lang: str | None) -> float:
        """The cut predictions in ``lang`` use."""
        return self.loaded.config.model.threshold_for(lang)

    def predict(self, text: str, head: Sequence[int], tail: Sequence[int], lang: str | None = None,
                head_id: str | None = None, tail_id: str | None = None) -> dict:
        """Scores for one sentence; ``head``/``tail`` are half-open character spans ``(start, end)``."""
        item = {"text": text, "head": head, "tail": tail, "language": lang}
        if head_id is not None or tail_id is not None:
            item.update(head_id=head_id, tail_id=tail_id)
        return self.predict_batch([item])[0]

    def predict_batch(self, items: Iterable[dict]) -> list[dict]:
        """Scores for many records (rex predict's input format), in order, ``batch_size`` at a time."""
        parsed = [parse_record(item, f"item {i}") for i, item in enumerate(items)]
        self.loaded.model.eval()
        out: list[dict] = []
        for start in range(0, len(parsed), self.batch_size):
            out += predict_records(self.loaded, parsed[start : start + self.batch_size], self.device, self.retriever)
        return out
