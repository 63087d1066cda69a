"""pipelines.validate: normalisation, rejection reasons, the language-id policy and dedupe."""

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from pipelines.read import make_record
from pipelines.records import Reject
from pipelines.validate import ValidateBitext, check_language, first_of_duplicates, validate_pair
from tests.conftest import shared_path
from tests.helpers import stage_pipeline


def rec(src, tgt, tgt_lang="de", origin="f:1"):
    return make_record(src, tgt, "en", tgt_lang, origin)


def test_accepts_and_normalises_chinese():
    record = rec("Hamburg is a port.", "漢堡是德國的港口。", "zh")
    assert validate_pair(record) == record._replace(tgt_text="汉堡是德国的港口。")


@pytest.mark.parametrize("record, reason", [
    (rec("", "Hallo"), "empty_side:src"),
    (rec("Hello", "   "), "empty_side:tgt"),
    (rec("Hello " * 300, "Hallo"), "too_long:src"),
    (rec("The museum opens at nine in the morning.", "The museum opens at nine in the morning every day."),
     "wrong_language:tgt"),
    (rec("Paris is a beautiful city.", "パリはとても美しい街です。", "zh"), "wrong_language:tgt"),
])
def test_rejects_with_reason(record, reason):
    out = validate_pair(record)
    assert isinstance(out, Reject) and (out.stage, out.reason, out.origin) == ("validate", reason, "f:1")


def test_language_policy_spares_short_and_name_only_lines():
    assert check_language("Angela Merkel", "de") is None  # names only: too few letters to judge
    assert check_language("Barack Obama, Washington D.C.", "fr") is None
    assert check_language("Die Altstadt von Ulm ist um ein berühmtes Münster herum gebaut.", "fr")
    assert check_language("安格拉·默克尔 (Angela Merkel)", "zh") is None
    assert check_language("BBC Scotland 的 Alasdair Lamont 在 Tony Macaroni 球场", "zh") is None  # ntrex128 line
    assert check_language("BBC News", "zh") is None  # name-only line without Han: too short to judge
    assert check_language("The museum opens at nine in the morning every day.", "zh")
    assert check_language("東京に住んでいます", "ja") is None
    assert check_language("Tokyo is big and busy", "ja") is None  # 17 Latin letters: too short to judge
    assert check_language("Tokyo is a big and busy city with many old temples.", "ja")  # no kana or Han in 41


def test_rejection_rate_on_ntrex_is_low():
    folder = shared_path("ntrex128")
    files = {"en": "newstest2019-src.eng.txt", "de": "newstest2019-ref.deu.txt", "zh": "newstest2019-ref.zho-CN.txt"}
    for lang, name in files.items():
        lines = (folder / name).read_text(encoding="utf-8").splitlines()[:500]
        rejected = sum(check_language(line, lang) is not None for line in lines)
        assert rejected / len(lines) < 0.01, (lang, rejected)


def test_first_of_duplicates_keeps_lowest_origin():
    a, b = rec("Hi", "Hallo", origin="f:9"), rec("Hi", "Hallo", origin="f:10")
    keep, dupes = first_of_duplicates(a.pair_id, [a, b])
    assert keep.origin == "f:10"  # string order of origins, stable across runs
    assert [d.reason for d in dupes] == ["duplicate_pair"]


def test_validate_stage():
    records = [rec("Berlin is big.", "Berlin ist groß.", origin="f:1"),
               rec("Berlin is big.", "Berlin ist groß.", origin="f:2"),
               rec("", "x", origin="f:3"), rec("Munich", "München", origin="f:4")]
    with stage_pipeline() as p:
        ok, rejects = p | beam.Create(records) | ValidateBitext()
        assert_that(ok, equal_to([records[0], records[3]]), label="ok")
        assert_that(rejects | beam.Map(lambda r: (r.reason, r.origin)),
                    equal_to([("duplicate_pair", "f:2"), ("empty_side:src", "f:3")]), label="rejects")
