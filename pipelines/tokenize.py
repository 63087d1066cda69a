"""Tokenize stage: spaCy blank pipelines per language, keeping character offsets.

Chinese uses spaCy's jieba segmenter (so Latin words stay whole), Japanese spaCy's SudachiPy default,
Thai spaCy's default, pythainlp's ``newmm`` dictionary segmenter (Thai has no spaces between words),
every other language spaCy's rule-based tokenizer. Two languages differ from ``spacy.blank``:

* Vietnamese: spaCy's default needs pyvi (not a dependency) and its ``use_pyvi=False`` fallback only splits
  at spaces, leaving punctuation glued ("Nam,", "2019)."); the generic rule-based tokenizer gives syllables
  with punctuation split off, which is what alias matching and the aligner need.
* Turkish: a proper noun's case suffix follows an apostrophe ("Ankara'ya", "Tesla'nın"); spaCy keeps it in
  the token, so the alias "Ankara" could never end at a token end. An infix rule splits letter-apostrophe-
  letters (``Ankara ' ya``), like English "Tesla 's"; numbers keep theirs ("1923'te").

Whitespace tokens are dropped (they carry no word and would only confuse the aligner); offsets always index
the normalised text.
Rejects: ``too_many_tokens:{src,tgt}`` (over ``max_tokens``), ``no_tokens:{src,tgt}``.
"""

from __future__ import annotations

import functools
import logging
import threading

import apache_beam as beam
from apache_beam.utils import shared

from pipelines.deadletter import REJECTS, pair_reject, route
from pipelines.records import BitextPair, Reject, TokenizedPair, Tokens

STAGE = "tokenize"
_LOCK = threading.Lock()


# Languages whose proper nouns take case suffixes after an apostrophe, split off by load_spacy (projection
# then never ends a span on such a suffix: alignment.projection.scoring.is_suffix_token).
APOSTROPHE_SUFFIX_LANGS = frozenset({"tr"})
# Turkish: letters, an apostrophe, then letters to the end of the token (the suffix of a proper noun).
_TURKISH_SUFFIX_INFIX = r"(?<=[^\W\d_])['’](?=[^\W\d_]+$)"


@functools.cache
def load_spacy(lang: str):
    """A blank spaCy pipeline for ``lang`` (jieba for zh, rule-based for vi, suffix split for tr; module
    docstring). ValueError for unknown codes."""
    import spacy
    from spacy.util import compile_infix_regex

    with _LOCK:  # spaCy's registry and jieba's dictionary load are not thread-safe
        if lang == "zh":
            import jieba  # its dictionary load logs DEBUG lines on its own handler, and again through the root's

            jieba.setLogLevel(logging.WARNING)
            return spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}})
        if lang == "vi":
            return spacy.blank("vi", config={"nlp": {"tokenizer": {"@tokenizers": "spacy.Tokenizer.v1"}}})
        try:
            nlp = spacy.blank(lang)
        except (ImportError, KeyError) as err:
            raise ValueError(f"no spaCy language for {lang!r}") from err
        if lang in APOSTROPHE_SUFFIX_LANGS:
            infixes = [*nlp.Defaults.infixes, _TURKISH_SUFFIX_INFIX]
            nlp.tokenizer.infix_finditer = compile_infix_regex(infixes).finditer
        return nlp


@functools.cache
def stop_words(lang: str) -> frozenset[str]:
    """spaCy's stop-word list of ``lang`` without its number words ("dos", "iki": part of names and dates);
    empty for a language spaCy has none for."""
    import spacy
    from spacy.attrs import LIKE_NUM

    try:
        defaults = spacy.util.get_lang_class(lang).Defaults
    except (ImportError, KeyError):
        return frozenset()
    like_num = defaults.lex_attr_getters.get(LIKE_NUM)
    return frozenset(w for w in defaults.stop_words if not (like_num and like_num(w)))


@functools.lru_cache(maxsize=8)  # per pipeline object (identity-hashed): asked once per Chinese line otherwise
def _jieba_segmenter(nlp):
    """jieba when ``nlp`` is a Chinese pipeline segmenting with it (as :func:`load_spacy` builds), else None."""
    from spacy.lang.zh import ChineseTokenizer

    tokenizer = nlp.tokenizer
    if isinstance(tokenizer, ChineseTokenizer) and tokenizer.segmenter == "jieba":
        return tokenizer.jieba_seg
    return None


def tokenize_jieba(jieba_module, text: str) -> Tokens:
    """The tokens and offsets spaCy's jieba pipeline gives (:func:`tokenize_text`), without its Doc.

    spaCy's ChineseTokenizer takes ``jieba.cut(text, cut_all=False)`` (HMM on), drops empty and whitespace-only
    words, finds each word in the text from the end of the previous one and makes the whitespace between words
    tokens of its own, which tokenize_text then drops. jieba never mixes whitespace and other characters in one
    word and its words cover the text in order, so each kept word sits exactly where ``jieba.tokenize`` (the
    same cut, with offsets) says. Building the Doc was ~70 % of tokenising a Chinese line."""
    tokens, starts, ends = [], [], []
    for word, start, end in jieba_module.tokenize(text):
        if word and not word.isspace():
            tokens.append(word)
            starts.append(start)
            ends.append(end)
    return Tokens(tuple(tokens), tuple(starts), tuple(ends))


def tokenize_text(nlp, text: str) -> Tokens:
    """Non-whitespace tokens and their half-open character spans."""
    if nlp.lang == "zh":
        jieba_module = _jieba_segmenter(nlp)
        if jieba_module is not None:
            return tokenize_jieba(jieba_module, text)
    return tokenize_doc(nlp, text)


def tokenize_doc(nlp, text: str) -> Tokens:
    """Non-whitespace tokens of spaCy's ``nlp.make_doc(text)`` and their half-open character spans."""
    tokens, starts, ends = [], [], []
    for tok in nlp.make_doc(text):
        if tok.is_space or not tok.text.strip():
            continue
        tokens.append(tok.text)
        starts.append(tok.idx)
        ends.append(tok.idx + len(tok.text))
    return Tokens(tuple(tokens), tuple(starts), tuple(ends))


def check_language_supported(lang: str) -> None:
    """ValueError when spaCy has no language class for ``lang`` (cheap: loads no pipeline)."""
    import spacy

    try:
        spacy.util.get_lang_class(lang)
    except (ImportError, KeyError) as err:
        raise ValueError(f"no spaCy language for {lang!r}") from err


class Tokenizers:
    """spaCy pipelines of a language pair, shareable across a worker's threads (apache_beam Shared)."""

    def __init__(self, langs: tuple[str, ...]) -> None:
        self.nlp = {lang: load_spacy(lang) for lang in langs}


def tokenize_pair(pair: BitextPair, tokenizers: Tokenizers, max_tokens: int) -> TokenizedPair | Reject:
    """The pair and its tokens, or a reject."""
    toks = []
    for side in ("src", "tgt"):
        tok = tokenize_text(tokenizers.nlp[pair.lang(side)], pair.text(side))
        if not tok.tokens:
            return pair_reject(STAGE, f"no_tokens:{side}", pair)
        if len(tok.tokens) > max_tokens:
            return pair_reject(STAGE, f"too_many_tokens:{side}", pair, f"{len(tok.tokens)} > {max_tokens}")
        toks.append(tok)
    return TokenizedPair(pair, *toks)


class _TokenizeFn(beam.DoFn):
    def __init__(self, langs: tuple[str, ...], max_tokens: int, handle: shared.Shared) -> None:
        self.langs, self.max_tokens, self.handle = langs, max_tokens, handle

    def setup(self) -> None:
        self.tokenizers = self.handle.acquire(lambda: Tokenizers(self.langs), tag=("tokenizers", self.langs))

    def process(self, pair: BitextPair):
        yield from route(tokenize_pair(pair, self.tokenizers, self.max_tokens), "tokenize.accepted")


class TokenizeBitext(beam.PTransform):
    """Validated pairs -> (tokenised pairs, rejects)."""

    def __init__(self, langs: tuple[str, ...], max_tokens: int = 200) -> None:
        super().__init__()
        self.langs, self.max_tokens = tuple(sorted(langs)), max_tokens
        for lang in self.langs:  # fail at graph construction for an unknown language
            check_language_supported(lang)

    def expand(self, records):
        out = records | "Tokenize" >> beam.ParDo(
            _TokenizeFn(self.langs, self.max_tokens, shared.Shared())).with_output_types(
                TokenizedPair, **{REJECTS: Reject}).with_outputs(REJECTS, main="ok")
        return out.ok, out[REJECTS]
