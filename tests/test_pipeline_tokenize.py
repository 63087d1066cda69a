"""pipelines.tokenize: spaCy tokenisation with offsets for every supported language, and the stage."""

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from pipelines.read import make_record
from pipelines.records import Reject, TokenizedPair, Tokens
from pipelines.tokenize import TokenizeBitext, Tokenizers, load_spacy, tokenize_pair, tokenize_text
from tests.helpers import stage_pipeline

SAMPLES = {
    "en": "Angela Merkel visited  Beijing.",
    "de": "Angela Merkel besuchte 2019 Peking.",
    "fr": "Hambourg est un grand port d'Allemagne.",
    "es": "Madrid es la capital de España.",
    "it": "Roma è la capitale d'Italia.",
    "zh": "安格拉·默克尔访问了New York和北京。",
    "ja": "アンゲラ・メルケルは東京を訪問した。",
}


def test_chinese_keeps_latin_words_whole():
    tokens = tokenize_text(load_spacy("zh"), SAMPLES["zh"]).tokens
    assert "New" in tokens and "York" in tokens and "北京" in tokens


def test_unknown_language_is_an_error():
    with pytest.raises(ValueError, match="xx-nope"):
        TokenizeBitext(("en", "xx-nope"))


def test_token_limit_rejects():
    tokenizers = Tokenizers(("de", "en"))
    out = tokenize_pair(make_record("a b c d", "a b", "en", "de", "f:1"), tokenizers, max_tokens=3)
    assert isinstance(out, Reject) and out.reason == "too_many_tokens:src"
    out = tokenize_pair(make_record("a b", "a b", "en", "de", "f:1"), tokenizers, max_tokens=3)
    assert out == TokenizedPair(make_record("a b", "a b", "en", "de", "f:1"), Tokens(("a", "b"), (0, 2), (1, 3)),
                                Tokens(("a", "b"), (0, 2), (1, 3)))


def test_tokenize_stage():
    records = [make_record("Berlin is big.", "Berlin ist groß.", "en", "de", "f:1"),
               make_record("a " * 10, "b", "en", "de", "f:2")]
    with stage_pipeline() as p:
        ok, rejects = p | beam.Create(records) | TokenizeBitext(("en", "de"), max_tokens=5)
        src = Tokens(("Berlin", "is", "big", "."), (0, 7, 10, 13), (6, 9, 13, 14))
        tgt = Tokens(("Berlin", "ist", "groß", "."), (0, 7, 11, 15), (6, 10, 15, 16))
        assert_that(ok, equal_to([TokenizedPair(records[0], src, tgt)]), label="ok")
        assert_that(rejects | beam.Map(lambda r: (r.stage, r.reason, r.origin)),
                    equal_to([("tokenize", "too_many_tokens:src", "f:2")]), label="rejects")


# the later XQuAD languages: one literal sentence each
XQUAD_SAMPLES = {
    "ar": "القاهرة هي عاصمة مصر، والإسكندرية مدينة كبيرة.",
    "el": "Η Αθήνα είναι η πρωτεύουσα της Ελλάδας;",
    "hi": "नई दिल्ली भारत की राजधानी है।",
    "ro": "București este capitala României, nu-i așa?",
    "ru": "Москва — столица России (с 1918 года).",
    "th": "กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทย เมื่อปี 1782",
    "tr": "Ankara, 1923'ten beri Türkiye'nin başkentidir.",
    "vi": "Hà Nội là thủ đô của Việt Nam, (từ năm 1976).",
}


@pytest.mark.parametrize("lang", sorted(SAMPLES) + sorted(XQUAD_SAMPLES))
def test_offsets_index_the_text(lang):
    text = {**SAMPLES, **XQUAD_SAMPLES}[lang]
    tok = tokenize_text(load_spacy(lang), text)
    assert tok.tokens and all(t.strip() for t in tok.tokens)
    assert tuple(text[s:e] for s, e in zip(tok.starts, tok.ends, strict=True)) == tok.tokens
    if lang in XQUAD_SAMPLES:  # the later XQuAD languages: real words, not one blob per clause
        assert len(tok.tokens) >= 5


def test_thai_is_segmented_into_words():
    tokens = tokenize_text(load_spacy("th"), XQUAD_SAMPLES["th"]).tokens
    assert tokens == ("กรุงเทพมหานคร", "เป็น", "เมืองหลวง", "ของ", "ประเทศ", "ไทย", "เมื่อ", "ปี", "1782")


def test_vietnamese_splits_punctuation_without_pyvi():
    tokens = tokenize_text(load_spacy("vi"), XQUAD_SAMPLES["vi"]).tokens
    assert tokens == ("Hà", "Nội", "là", "thủ", "đô", "của", "Việt", "Nam", ",", "(", "từ", "năm", "1976", ")", ".")


def test_turkish_case_suffix_after_an_apostrophe_is_its_own_token():
    tokens = tokenize_text(load_spacy("tr"), XQUAD_SAMPLES["tr"]).tokens
    assert tokens == ("Ankara", ",", "1923'ten", "beri", "Türkiye", "'", "nin", "başkentidir", ".")


def test_xquad_languages_pass_the_stage():
    records = [make_record("Bangkok is the capital of Thailand.", XQUAD_SAMPLES["th"], "en", "th", "f:1"),
               make_record("Hanoi is the capital of Vietnam.", XQUAD_SAMPLES["vi"], "en", "vi", "f:2")]
    tokenizers = Tokenizers(("en", "th", "vi"))
    out = [tokenize_pair(r, tokenizers, max_tokens=50) for r in records]
    assert [o.tgt_tok.tokens[0] for o in out] == ["กรุงเทพมหานคร", "Hà"]
