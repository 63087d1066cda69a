"""rex: relation extraction from the distant-supervision shards (docs/rex.md).

``rex.load(model_dir)`` gives a :class:`rex.inference.RelationExtractor` (``.predict`` / ``.predict_batch``).
"""

from __future__ import annotations


def load(directory, device=None, retrieval_index=None, batch_size: int = 64):
    """Load a saved model directory for prediction (see rex.inference.RelationExtractor.load)."""
    # imported here so that `import rex.config` and friends do not pull in torch and transformers
    from rex.inference import RelationExtractor

    return RelationExtractor.load(directory, device=device, retrieval_index=retrieval_index, batch_size=batch_size)
