"""pipelines.deadletter: rejects fit REJECT_SCHEMA; routing by type."""

import pyarrow as pa
from apache_beam import pvalue

from pipelines.deadletter import REJECTS, pair_reject, reject, route
from pipelines.records import BitextPair, Reject
from schemas.rejects import REJECT_SCHEMA


def test_reject_rows_fit_the_schema_and_truncate_raw():
    rows = [
        reject("read", "bad_json", "detail", origin="f:1", raw="x" * 5000),
        reject("project", "head:unaligned", instance_id="i", raw={"head": "Berlin"}),
        pair_reject("validate", "empty_side:tgt", BitextPair("p", "en", "de", "a", "", "f:2")),
    ]
    table = pa.Table.from_pylist([r.to_dict() for r in rows], schema=REJECT_SCHEMA)
    assert table.num_rows == 3
    assert len(rows[0].raw) == 2000
    assert rows[1].raw == '{"head": "Berlin"}'
    assert rows[2] == Reject("validate", "empty_side:tgt", None, "f:2", "p", None, '{"src_text": "a", "tgt_text": ""}')


def test_route_by_type():
    good = BitextPair("p", "en", "de", "a", "b", "f:1")
    bad = reject("validate", "empty_side:src", origin="f:1")
    assert list(route(good)) == [good]
    (tagged,) = route(bad)
    assert isinstance(tagged, pvalue.TaggedOutput) and (tagged.tag, tagged.value) == (REJECTS, bad)
