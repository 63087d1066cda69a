"""Link stage: find KB entity mentions on both sides with the alias matchers (see pipelines.alias_matcher).

Each tokenised pair becomes a LinkedPair with its mentions on both sides. An ambiguous mention (no entity
dominates, see the ambiguity policy) is skipped and sent to the dead letter as ``link/ambiguous_alias``
with its candidates; the pair itself goes on.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.utils import shared

from pipelines.deadletter import REJECTS, count, reject
from pipelines.records import LinkedPair, Reject, TokenizedPair
from pipelines.resources import KBResources, KBSpec, acquire_kb

STAGE = "link"


def link_pair(record: TokenizedPair, resources: KBResources) -> tuple[LinkedPair, list[Reject]]:
    """(the pair with its mentions, rejects for ambiguous mentions)."""
    pair, mentions, rejects = record.pair, {}, []
    for side in ("src", "tgt"):
        tok = record.tok(side)
        found, ambiguous = resources.matchers[pair.lang(side)].find(pair.text(side), tok.starts, tok.ends)
        mentions[side] = tuple(found)
        count(f"link.mentions.{side}", len(found))
        for amb in ambiguous:
            rejects.append(reject(
                STAGE, "ambiguous_alias", f"{side} '{amb['surface']}' at {amb['char_start']}: "
                f"{len(amb['candidates'])} candidates {amb['candidates'][:5]}",
                origin=pair.origin, pair_id=pair.pair_id))
    return LinkedPair(record, mentions["src"], mentions["tgt"]), rejects


class _LinkFn(beam.DoFn):
    def __init__(self, kb: KBSpec, handle: shared.Shared) -> None:
        self.kb, self.handle = kb, handle

    def setup(self) -> None:
        self.resources = acquire_kb(self.handle, self.kb)

    def process(self, record: TokenizedPair):
        out, rejects = link_pair(record, self.resources)
        yield out
        for row in rejects:
            yield beam.pvalue.TaggedOutput(REJECTS, row)


class LinkMentions(beam.PTransform):
    """Tokenised pairs -> (linked pairs, rejects of ambiguous mentions)."""

    def __init__(self, kb: KBSpec, handle: shared.Shared | None = None) -> None:
        super().__init__()
        self.kb, self.handle = kb, handle or shared.Shared()

    def expand(self, records):
        out = records | "Link" >> beam.ParDo(_LinkFn(self.kb, self.handle)).with_output_types(
            LinkedPair, **{REJECTS: Reject}).with_outputs(REJECTS, main="ok")
        return out.ok, out[REJECTS]
