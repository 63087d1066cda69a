"""rex.predict: input parsing and clear errors (the full round trip is in test_rex_cli.py)."""

from __future__ import annotations

import pytest

from rex.predict import InputError, parse_line


def test_spans_as_dicts_or_lists_and_marked_text():
    a = parse_line('{"id": 3, "text": "Ada saw Bob", "head": {"start": 0, "end": 3}, "tail": [8, 11], '
                   '"language": "en", "head_id": "Q1", "tail_id": "Q2"}', "f:1")
    assert a == {"id": 3, "language": "en", "marked": "[E1]Ada[/E1] saw [E2]Bob[/E2]", "pair": ("Q1", "Q2")}
    b = parse_line('{"marked_text": "[E2]Bob[/E2] und [E1]Ada[/E1]"}', "f:2")
    assert b["marked"] == "[E2]Bob[/E2] und [E1]Ada[/E1]" and b["language"] is None


@pytest.mark.parametrize("line,message", [
    ("not json", "f:7: not JSON"),
    ("[1, 2]", "f:7: expected a JSON object"),
    ('{"language": "en"}', "f:7: needs 'text'"),
    ('{"marked_text": "[E1]a[/E1] b"}', "f:7: marked_text must contain"),
    ('{"text": "abc", "head": [0, 2], "tail": [1, 3]}', "f:7: head .* overlap"),
    ('{"text": "abc", "head": "0-1", "tail": [1, 3]}', "f:7: 'head' must be"),
])
def test_bad_lines_name_the_line(line, message):
    with pytest.raises(InputError, match=message):
        parse_line(line, "f:7")
