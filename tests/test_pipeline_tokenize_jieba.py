"""pipelines.tokenize.tokenize_jieba gives exactly the tokens and offsets of spaCy's jieba Doc."""

import pytest

from pipelines.tokenize import load_spacy, tokenize_doc, tokenize_jieba, tokenize_text
from tests.conftest import shared_path

EDGE_CASES = [
    "",
    " ",
    "   \t\n ",
    "\u3000",  # ideographic space
    "安格拉·默克尔访问了New York和北京。",
    "BBC Scotland 的 Alasdair Lamont 在 Tony Macaroni 球场",  # Latin words inside Chinese
    "  北京  是   中国的首都  ",  # leading, trailing and inner whitespace runs
    "第一行\r\n第二行\n\n第三行\t\t结束",
    "北京\u3000上海\xa0广州\u2028深圳",  # ideographic, no-break and line-separator spaces
    "我爱🐼🐼和🇨🇳！👍🏽",  # emoji, a flag, a skin-tone modifier
    "Москва和東京都是首都，Paris也是。",  # mixed scripts
    "价格是3.5元，C++和e-mail，#标签 50%的人",  # jieba keeps [a-zA-Z0-9+#&._%-] runs together
    "零宽\u200b空格",  # zero-width space: not whitespace, so a token of its own
    "（括号）【方括号】「引号」——破折号……省略号",
    "only English words here, nothing else",
    "a  b",
]


@pytest.fixture(scope="module")
def nlp():
    return load_spacy("zh")


@pytest.mark.parametrize("text", EDGE_CASES)
def test_same_tokens_and_offsets_as_spacy_doc(nlp, text):
    fast = tokenize_jieba(nlp.tokenizer.jieba_seg, text)
    assert fast == tokenize_doc(nlp, text)
    assert tokenize_text(nlp, text) == fast
    assert all(text[s:e] == t for t, s, e in zip(fast.tokens, fast.starts, fast.ends, strict=True))


def test_other_languages_still_go_through_spacy():
    en = load_spacy("en")
    assert tokenize_text(en, "Angela Merkel visited  Beijing.") == tokenize_doc(en, "Angela Merkel visited  Beijing.")
    assert tokenize_text(en, "Angela Merkel visited Beijing.").tokens[-1] == "."


def test_same_as_spacy_doc_on_real_chinese_lines(nlp):
    lines = (shared_path("ntrex128") / "newstest2019-ref.zho-CN.txt").read_text(encoding="utf-8").splitlines()
    lines += (shared_path("wmt-news", "wmt22") / "generaltest2022.en-zh.ref.A.zh").read_text(
        encoding="utf-8").splitlines()[:1000]
    for line in lines:
        assert tokenize_jieba(nlp.tokenizer.jieba_seg, line) == tokenize_doc(nlp, line), line
