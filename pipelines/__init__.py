"""Beam pipelines: distant supervision, KB verbalisation, alias mining (docs/pipeline.md)."""

from schemas.cli import quiet_beam_import

quiet_beam_import()  # before any module of the package imports Beam
