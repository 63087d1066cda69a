"""Word and sentence aligners, span projection and alignment evaluation, one subpackage each.

- ``alignment.word``: word alignments (``WordAlignment``, the ``Aligner`` protocol, the Pharaoh and
  ``src ||| tgt`` formats) and the word aligners (eflomal, SimAlign-style neural, hybrid, precomputed).
- ``alignment.projection``: source entity spans projected onto the target sentence through a word alignment.
- ``alignment.sentence``: sentence alignment of document pairs (splitter, scores, aligner, its evaluation,
  ``python -m alignment.sentence``).
- ``alignment.eval``: metrics (AER, span and sentence-alignment P/R/F1) and gold word-alignment readers.
- ``alignment.text``: character-level helpers the subpackages share (accent folding, script ranges).
- ``alignment.cli``: ``xds-align-eval`` (align, fit priors, score against gold).

Dependencies inside point one way: ``text`` <- ``word`` <- ``projection``, ``eval``; ``sentence`` uses ``eval``'s
metrics for its evaluation; ``cli`` sits on top. Pure Python/numpy (and torch for the neural aligner); never
imports Beam or ``pipelines``.
"""
