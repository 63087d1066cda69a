"""Human-readable relation names for a model's label set (``P19`` -> ``place of birth``).

Shards carry relation ids only; the names live in the KB folder (X-FACTR's ``TREx_prompts.csv``, or a
``relations.tsv``). At training time the names come from ``data.relation_names`` when it is set (a KB folder or
one such file), else from the KB folders the shards' manifests name, when they are readable here. They are
saved in the model's ``labels.json`` beside the ids; a label without a known name is shown by its id.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence

from schemas.kb import KBFormatError, read_relation_names

logger = logging.getLogger(__name__)


def relation_names_for(labels: Sequence[str], explicit: str | None, lineage: Sequence[dict],
                       saved: Mapping[str, str] | None = None) -> dict[str, str]:
    """{label: name} for the labels whose name is known. ``explicit`` (data.relation_names) must be readable;
    the manifests' KB folders are tried quietly; ``saved`` (a resumed or warm-start model's names) fills gaps."""
    names: dict[str, str] = dict(saved or {})
    if explicit:
        if not os.path.exists(explicit):
            raise FileNotFoundError(f"data.relation_names: {explicit} does not exist")
        names.update(read_relation_names(explicit))
    else:
        for kb in dict.fromkeys(entry.get("kb") for entry in lineage):
            if kb and "://" not in kb and os.path.isdir(kb):
                try:
                    names.update(read_relation_names(kb))
                except (OSError, KBFormatError) as err:
                    logger.warning("relation names not read from %s: %s", kb, err)
    known = {label: names[label] for label in labels if label in names}
    if len(known) < len(labels):
        logger.info("relation names known for %d of %d labels (the others are shown by id)", len(known), len(labels))
    return known


def display_name(names: Mapping[str, str], label: str) -> str:
    """The label's name, or the label itself when unknown."""
    return names.get(label, label)
