"""Link stage: find KB entity mentions on both sides with the alias matchers (see pipelines.alias_matcher).

Adds ``src_mentions`` and ``tgt_mentions`` (SPAN_TYPE dicts) to each record. An ambiguous mention
(no entity dominates, see the ambiguity policy) is skipped and sent to the dead letter as
``link/ambiguous_alias`` with its candidates; the pair itself goes on.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.utils import shared

from pipelines.config import PipelineConfig
from pipelines.deadletter import REJECTS, count, reject
from pipelines.resources import KBResources, acquire_kb

STAGE = "link"


def link_pair(record: dict, resources: KBResources) -> tuple[dict, list[dict]]:
    """(record with mentions, reject rows for ambiguous mentions)."""
    out, rejects = dict(record), []
    for side in ("src", "tgt"):
        lang, tok = record[f"{side}_lang"], record[f"{side}_tok"]
        mentions, ambiguous = resources.matchers[lang].find(record[f"{side}_text"], tok["starts"], tok["ends"])
        out[f"{side}_mentions"] = mentions
        count(f"link.mentions.{side}", len(mentions))
        for amb in ambiguous:
            rejects.append(reject(
                STAGE, "ambiguous_alias", f"{side} '{amb['surface']}' at {amb['char_start']}: "
                f"{len(amb['candidates'])} candidates {amb['candidates'][:5]}",
                origin=record["origin"], pair_id=record["pair_id"]))
    return out, rejects


class _LinkFn(beam.DoFn):
    def __init__(self, config: PipelineConfig, handle: shared.Shared) -> None:
        self.config, self.handle = config, handle

    def setup(self) -> None:
        self.resources = acquire_kb(self.handle, self.config)

    def process(self, record: dict):
        out, rejects = link_pair(record, self.resources)
        yield out
        for row in rejects:
            yield beam.pvalue.TaggedOutput(REJECTS, row)


class LinkMentions(beam.PTransform):
    """Tokenised records -> (records with src_mentions/tgt_mentions, rejects of ambiguous mentions)."""

    def __init__(self, config: PipelineConfig, handle: shared.Shared | None = None) -> None:
        super().__init__()
        self.config, self.handle = config, handle or shared.Shared()

    def expand(self, records):
        out = records | "Link" >> beam.ParDo(_LinkFn(self.config, self.handle)).with_outputs(REJECTS, main="ok")
        return out.ok, out[REJECTS]
