"""Code and JSON out of free text: fences, language tags, stray prose, truncation."""

from __future__ import annotations

import pytest

from tools.errors import OutputRejected
from tools.llm import extract_code, extract_json

SOLUTION = "def add(a, b):\n    return a + b"


@pytest.mark.parametrize("reply", [
    f"```python\n{SOLUTION}\n```",
    f"Here is the solution:\n\n```py\n{SOLUTION}\n```\n\nIt adds two numbers.",
    f"```\n{SOLUTION}\n```",
    f"~~~python3\n{SOLUTION}\n~~~",
    f"  ```python\n{SOLUTION}\n  ```",
    f"```python\n{SOLUTION}\n",  # cut off before the closing fence
    f"Sure! Here is the code:\n{SOLUTION}\n\nThis function returns the sum.",
    SOLUTION,
])
def test_python_code_from_common_reply_shapes(reply: str) -> None:
    assert extract_code(reply, "python") == SOLUTION


def test_the_requested_language_wins_over_other_blocks() -> None:
    reply = "```bash\npip install nothing\n```\n```javascript\nconst add = (a, b) => a + b;\n```\n" \
            f"```python\n{SOLUTION}\n```"
    assert extract_code(reply, "python") == SOLUTION
    assert extract_code(reply, "js") == "const add = (a, b) => a + b;"


def test_the_solution_beats_a_short_usage_example() -> None:
    reply = f"```python\n{SOLUTION}\n```\nUsage:\n```python\nprint(add(1, 2))\n```"
    assert extract_code(reply, "python") == SOLUTION


def test_fences_inside_the_code_do_not_end_the_block_early() -> None:
    code = 'DOC = """\n```\nnot a fence end\n"""'
    reply = f"````python\n{code}\n````"
    assert extract_code(reply, "python") == code


def test_unfenced_non_python_is_returned_stripped() -> None:
    assert extract_code("\n  const x = 1;\n", "javascript") == "const x = 1;"


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
