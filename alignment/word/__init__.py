"""Word alignments and the word aligners (eflomal, SimAlign-style neural, hybrid, precomputed)."""
