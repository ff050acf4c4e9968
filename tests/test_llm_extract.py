"""JSON out of free text: fences, stray prose, trailing commas, truncation."""

from __future__ import annotations

import pytest

from tools.errors import OutputRejected
from tools.llm import extract_json


@pytest.mark.parametrize(("reply", "expected"), [
    ('{"a": 1}', {"a": 1}),
    ('```json\n{"a": [1, 2]}\n```', {"a": [1, 2]}),
    ('Sure, here it is: {"a": "b}"} -- hope that helps {"not": "this"}', {"a": "b}"}),
    ('{"a": 1, "b": [2, 3,],}', {"a": 1, "b": [2, 3]}),
    ('Result:\n[{"x": 1}, {"x": 2}]\nDone.', [{"x": 1}, {"x": 2}]),
    ('{"s": "escaped \\" quote and { brace"} trailing', {"s": 'escaped " quote and { brace'}),
])
def test_json_from_common_reply_shapes(reply: str, expected: object) -> None:
    assert extract_json(reply) == expected


@pytest.mark.parametrize(("reply", "reason"), [
    ('{"a": 1, "b": "cut', "incomplete"),
    ("I cannot answer that.", "no JSON"),
    ("", "no JSON"),
])
def test_no_json_is_output_rejected_with_a_reason(reply: str, reason: str) -> None:
    with pytest.raises(OutputRejected, match=reason):
        extract_json(reply)
