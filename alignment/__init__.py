"""Word and sentence aligners, span projection and alignment evaluation.

Pure Python/numpy (and torch for the neural aligner); never imports Beam or ``pipelines``.
"""

from alignment.core import Aligner, WordAlignment, parse_pharaoh, read_pharaoh, write_pharaoh

__all__ = ["Aligner", "WordAlignment", "parse_pharaoh", "read_pharaoh", "write_pharaoh"]
