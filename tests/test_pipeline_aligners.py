"""pipelines.aligners: the input line of a record's origin (precomputed links are looked up by it); eflomal
priors hook."""

import random

import pytest

from alignment.word.core import WordAlignment
from pipelines.aligners import (
    AlignerSpec,
    CorpusContext,
    EflomalCalls,
    build_aligner,
    fit_eflomal_priors,
    line_number,
)
from pipelines.records import BitextPair, LabelledPair, TokenizedPair, Tokens


def test_line_number_of_an_origin():
    assert line_number("gs://b/x.tsv:12") == 12
    with pytest.raises(ValueError):
        line_number("no-line")


# A word-for-word "translation" (30 distinct word pairs) in a shuffled target order: the co-occurrences fix
# every link, so eflomal (seeded from /dev/urandom, no seed option) finds them on every run, while an aligner
# that returns no links or diagonal / shifted links scores far below the thresholds.
DICTIONARY = {f"e{k}": f"g{k}" for k in range(30)}


def dictionary_corpus(n_pairs: int = 300, seed: int = 7):
    """(token pairs, gold links per pair): 4-8 distinct words per sentence, target words shuffled."""
    rng = random.Random(seed)
    pairs, gold = [], []
    for _ in range(n_pairs):
        src = rng.sample(sorted(DICTIONARY), rng.randint(4, 8))
        order = rng.sample(range(len(src)), len(src))  # target position j holds the translation of src[order[j]]
        pairs.append((src, [DICTIONARY[src[i]] for i in order]))
        gold.append({(i, j) for j, i in enumerate(order)})
    return pairs, gold


def test_eflomal_priors_and_aligner():
    assert fit_eflomal_priors([]) is None
    pairs, gold = dictionary_corpus()
    priors = fit_eflomal_priors(pairs)
    aligner = EflomalCalls(priors)
    out = aligner.align(pairs[:60])  # a small call: the priors carry the corpus statistics into it
    assert len(out) == 60 and aligner.name.startswith("eflomal")
    found = {(k, link) for k, a in enumerate(out) for link in a.links}
    expected = {(k, link) for k, links in enumerate(gold[:60]) for link in links}
    precision, recall = len(found & expected) / max(len(found), 1), len(found & expected) / len(expected)
    assert precision >= 0.9 and recall >= 0.9, (precision, recall)


def test_eflomal_config_by_call_size():
    from pipelines.aligners import AUTO_ONE_SAMPLER, EflomalSettings, eflomal_config
    from pipelines.config import parse_config

    assert eflomal_config(100).n_samplers == 3
    assert eflomal_config(AUTO_ONE_SAMPLER).n_samplers == 1
    assert eflomal_config(100, EflomalSettings(samplers=2, rel_iterations=0.5)).n_samplers == 2
    assert eflomal_config(100, EflomalSettings(rel_iterations=0.5, runs=3)).rel_iterations == 0.5
    config, _ = parse_config(["--input", "x", "--src-lang", "en", "--tgt-lang", "de", "--kb", "k", "--output", "o",
                              "--eflomal-runs", "3", "--eflomal-samplers", "1"])
    assert eflomal_config(100, EflomalSettings.of(config)).runs == 3 and EflomalSettings.of(config).samplers == 1
    calls = EflomalCalls()
    assert calls.name == "eflomal-gdfa" and len(calls.align([(["a", "b"], ["x", "y"])])) == 1


def test_corpus_context_function_words_only_from_enough_sentences():
    from pipelines.aligners import MIN_FUNCTION_WORD_SENTENCES, corpus_context

    pairs = [(["the", "house", str(k)], ["los", "Madrid", "es", "alt", "dos", str(k)])
             for k in range(MIN_FUNCTION_WORD_SENTENCES)]
    context = corpus_context(pairs, fit_priors=False, lang="es")
    # stop words written in lower case only: not "Madrid" (capitalised), "alt" (no stop word), "dos" (a number)
    assert context.priors is None and context.function_words == {"los", "es"}
    assert corpus_context(pairs, fit_priors=False).function_words == frozenset()  # no language: no list
    assert corpus_context(pairs[:10], fit_priors=False, lang="es").function_words == frozenset()
    assert corpus_context(pairs[:10], fit_priors=True).priors is not None


def test_corpus_context_has_no_function_words_of_unsegmented_scripts():
    from pipelines.aligners import MIN_FUNCTION_WORD_SENTENCES, corpus_context

    pairs = [(["the", "US"], ["美国", "的", "和", "and"])] * MIN_FUNCTION_WORD_SENTENCES
    assert corpus_context(pairs, fit_priors=False, lang="zh").function_words == frozenset()  # 的 and 和 are stop words
    assert corpus_context(pairs, fit_priors=False, lang="en").function_words == {"and"}


def _record(origin, src, tgt):
    """A labelled pair with these tokens (no offsets, no instances: the aligners read tokens and origin only)."""
    pair = BitextPair("p", "en", "de", " ".join(src), " ".join(tgt), origin)
    return LabelledPair(TokenizedPair(pair, Tokens(tuple(src), (), ()), Tokens(tuple(tgt), (), ())), (), ())


def test_build_aligner_precomputed_answers_by_input_line(tmp_path):
    links = tmp_path / "c.links"
    links.write_text("0-0 1p1\n0-3\n", encoding="utf-8")
    loaded = []
    aligner = build_aligner(AlignerSpec("precomputed", alignments=str(links)), CorpusContext(),
                            lambda key, make: loaded.append(key) or make())
    assert loaded == [("pharaoh", str(links))] and aligner.name == "precomputed"
    first, second, third = aligner.align_records([_record("c.tsv:1", ["a", "b"], ["x", "y"]),
                                                  _record("c.tsv:2", ["a"], ["x"]),
                                                  _record("c.tsv:3", ["a"], ["x"])])
    assert first == WordAlignment(((0, 0), (1, 1)), (1.0, 0.5))
    assert "link 0-3 (0-based) outside 1 source x 1 target tokens" in second
    assert "no line 3" in third


def test_build_aligner_eflomal_uses_the_context_priors():
    pairs = [(["the", "house"], ["das", "haus"]), (["a", "house"], ["ein", "haus"])]
    priors = fit_eflomal_priors(pairs * 5)
    aligner = build_aligner(AlignerSpec("eflomal"), CorpusContext(priors))
    assert aligner.name == "eflomal-gdfa" and aligner.aligner.priors is priors
    out = aligner.align_records([_record("f:1", src, tgt) for src, tgt in pairs])
    assert all((1, 1) in a.links for a in out)


def test_build_aligner_hybrid_loads_its_neural_half_through_load():
    class Neural:
        name = "fake-neural"

        def align(self, pairs):
            return [WordAlignment(((0, 0),)) for _ in pairs]

    keys = []
    aligner = build_aligner(AlignerSpec("hybrid", model="m"), CorpusContext(),
                            lambda key, make: keys.append(key) or Neural())
    assert keys == [("hybrid", "m")] and aligner.name == "eflomal-gdfa+fake-neural"
    assert (0, 0) in aligner.align_records([_record("f:1", ["a", "b"], ["x", "y"])])[0].links


def test_build_aligner_refuses_an_unknown_kind():
    with pytest.raises(ValueError, match="unknown aligner 'fast_align'"):
        build_aligner(AlignerSpec("fast_align"), CorpusContext())
