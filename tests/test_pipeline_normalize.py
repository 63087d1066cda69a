"""pipelines.normalize: NFC and Traditional -> Simplified Chinese, with the fast path checked against OpenCC."""

from pipelines.normalize import _converter, normalize_text, to_simplified
from tests.conftest import shared_path


def test_nfc_and_t2s():
    assert normalize_text("Cafe\u0301", "fr") == "Café"
    assert normalize_text("漢堡是德國的一個大港口", "zh") == "汉堡是德国的一个大港口"
    assert normalize_text("漢堡", "ja") == "漢堡"  # only Chinese is converted


def test_fast_path_equals_opencc_on_examples():
    for text in ["柏林是德国的首都。", "巴伐利亞", "乾隆皇帝", "头发 頭髮", "English only", ""]:
        assert to_simplified(text) == _converter().convert(text)
        assert len(to_simplified(text)) == len(text)


def test_fast_path_equals_opencc_on_real_aliases():
    path = shared_path("xfactr-kb", "aliases", "zh.txt")
    names = [n for line in path.read_text(encoding="utf-8").splitlines()[:3000] for n in line.split("\t")[1:]]
    assert names
    assert [to_simplified(n) for n in names] == [_converter().convert(n) for n in names]
