"""Sentence alignment of document pairs: splitter, bead scores, the aligner, its evaluation and CLI."""
