"""pipelines.validate.FastLanguageIdentifier gives py3langid's own scores, bit for bit."""

import functools
import threading

import numpy as np
import pytest
from py3langid import langid

from pipelines.validate import LANGID_PREFIX, _compiled_walk, _identifier, walk_feature_counts
from tests.conftest import shared_path

EDGE_CASES = [
    "",
    " ",
    "\t\n  \u3000 ",
    "a",
    "Die Altstadt von Ulm ist um ein berühmtes Münster herum gebaut.",
    "THE MUSEUM OPENS AT NINE IN THE MORNING",  # all upper case: py3langid lower-cases it first
    "The   museum\t\topens    at nine.\n\nEvery   day.",  # whitespace runs
    "Ich 🙂 liebe 🎉🎉 Berlin 👍🏽 sehr",  # emoji, a skin-tone modifier (4-byte UTF-8)
    "🙂🙂🙂",
    "BBC Scotland 的 Alasdair Lamont 在 Tony Macaroni 球场",  # Latin words inside Chinese
    "威尔士国民议会议员(AM)担心“看起来像笨蛋”",
    "Москва — столица России, a Paris est la capitale de la France, 東京は日本の首都です",  # mixed scripts
    "e\u0301te\u0301 cafe\u0301",  # combining accents: NFC composes them
    "x\ud800y",  # a lone surrogate (py3langid encodes with surrogatepass)
    "1234567890 !!! ??? ... ---",
    "مرحبا بالعالم",
    "नमस्ते दुनिया",
    "a" * 600,
]


@functools.cache
def reference() -> langid.LanguageIdentifier:
    return langid.LanguageIdentifier.from_modelpath(langid.MODEL_DIR / langid.MODEL_FILE, norm_probs=True)


def assert_same(text) -> None:
    ref, fast = reference(), _identifier()
    assert fast._decide(text).tobytes() == ref._decide(text).tobytes(), text
    assert fast.classify(text) == ref.classify(text), text


@pytest.mark.parametrize("text", EDGE_CASES)
def test_scores_are_py3langids_on_edge_cases(text):
    assert_same(text)
    assert_same(text[:LANGID_PREFIX])


def test_bytes_input_including_a_cut_utf8_tail():
    data = "Grüße aus München".encode()
    for text in (data, data[:-1], data[:2] + b"\xc3", b"\xff\xfe broken"):
        assert_same(text)


def test_walk_matches_visit_counts_uncompiled_and_compiled():
    ref, fast = reference(), _identifier()
    scratch = np.zeros(len(ref.nb_ptc), dtype=np.int64)
    for text in EDGE_CASES:
        data = ref._encode(text)
        visits = langid.visit_counts(ref.tk_nextmove, ref._rowbase, ref.tk_output, data) or {}
        want = (list(visits.keys()), [float(v) for v in visits.values()])
        for walk in (walk_feature_counts, _compiled_walk()):
            features, counts = walk(np.frombuffer(data, dtype=np.uint8), *fast._arrays, scratch)
            assert (features.tolist(), counts.tolist()) == want, text
            assert counts.dtype == np.float32
            assert not scratch.any()  # left zeroed for the next call


def test_threads_get_their_own_scratch():
    texts = EDGE_CASES * 20
    want = [reference().classify(t) for t in texts]
    results: dict[int, list] = {}

    def run(k: int) -> None:
        results[k] = [_identifier().classify(t) for t in texts]

    threads = [threading.Thread(target=run, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(results[k] == want for k in range(4))


def test_scores_are_py3langids_on_real_lines():
    lines = []
    for name in ("newstest2019-src.eng.txt", "newstest2019-ref.deu.txt", "newstest2019-ref.fra.txt",
                 "newstest2019-ref.zho-CN.txt"):
        lines += (shared_path("ntrex128") / name).read_text(encoding="utf-8").splitlines()[:150]
    for name in ("generaltest2022.en-ru.ref.A.ru", "generaltest2022.en-ja.ref.A.ja", "generaltest2022.en-cs.ref.B.cs"):
        lines += (shared_path("wmt-news", "wmt22") / name).read_text(encoding="utf-8").splitlines()[:150]
    for line in lines:
        assert_same(line[:LANGID_PREFIX])


def test_walk_compiles_without_a_disk_cache(monkeypatch):
    import numba

    real_njit = numba.njit

    def njit_without_locator(*args, **kwargs):
        if kwargs.get("cache"):
            raise RuntimeError("cannot cache function 'walk_feature_counts': no locator available for file")
        return real_njit(*args, **kwargs)

    monkeypatch.setattr(numba, "njit", njit_without_locator)
    _compiled_walk.cache_clear()
    try:
        walk = _compiled_walk()
        data = np.frombuffer("Grüße aus München".encode(), dtype=np.uint8)
        scratch = np.zeros(len(reference().nb_ptc), dtype=np.int64)
        features, counts = walk(data, *_identifier()._arrays, scratch)
        assert features.tolist() == walk_feature_counts(data, *_identifier()._arrays, scratch)[0].tolist()
    finally:
        _compiled_walk.cache_clear()  # the next caller compiles the cached way again
