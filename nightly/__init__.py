"""Nightly retraining: new bitext spans in, a gated, versioned rex model out (docs/nightly.md).

One night (``nightly.night.run_night``): discover spans -> build shards for new or stale spans with the
distant-supervision pipeline -> (optional) KB fact index -> train a candidate warm-started from the champion
-> gate it against the champion on the same test bags -> register it -> move the ``champion`` pointer
when the gate passes -> JSON summary + Markdown report. Each step is idempotent and skipped when its output
is complete, so a failed night rerun continues where it stopped. ``xds-nightly`` is the command line.

Depends on ``pipelines``, ``rex`` and ``schemas``; nothing in those packages imports it.
"""

from schemas.cli import quiet_beam_import

quiet_beam_import()  # before nightly.spans imports Beam
