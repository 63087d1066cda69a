"""pipelines.deadletter: reject rows fit REJECT_SCHEMA."""

import pyarrow as pa

from pipelines.deadletter import pair_reject, reject
from schemas.rejects import REJECT_SCHEMA


def test_reject_rows_fit_the_schema_and_truncate_raw():
    rows = [
        reject("read", "bad_json", "detail", origin="f:1", raw="x" * 5000),
        reject("project", "head:unaligned", instance_id="i", raw={"head": "Berlin"}),
        pair_reject("validate", "empty_side:tgt", {"origin": "f:2", "pair_id": "p", "src_text": "a", "tgt_text": ""}),
    ]
    table = pa.Table.from_pylist(rows, schema=REJECT_SCHEMA)
    assert table.num_rows == 3
    assert len(rows[0]["raw"]) == 2000
    assert rows[1]["raw"] == '{"head": "Berlin"}'
    assert rows[2]["pair_id"] == "p" and rows[2]["origin"] == "f:2"
