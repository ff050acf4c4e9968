"""Static checks on model-written code: syntax, definitions, references, signatures, identity."""

from __future__ import annotations

import pytest

from agents.validation import defines, normalized, references, signature, syntax_error, unfence


@pytest.mark.parametrize(("code", "language", "expected"), [
    ("def f(x):\n    return x\n", "python", None),
    ("def f(x):\n    return (x\n", "python", "line 2: '(' was never closed"),
    ("function f(x) { return x; }", "javascript", None),
    ("const f = (x) => x * 2;\nclass A { m() { return 1; } }", "javascript", None),
    ("function f(x) {\n  return x +;\n}", "javascript", "line 2"),
])
def test_syntax_errors_are_reported_with_their_line(code: str, language: str, expected: str | None) -> None:
    error = syntax_error(code, language)
    if expected is None:
        assert error is None
    else:
        assert error is not None and error.startswith(expected)


def test_definitions_are_found_at_the_top_level_only() -> None:
    assert defines("import math\ndef area(r):\n    return math.pi * r * r\n", "area", "python")
    assert defines("area = lambda r: r * r\n", "area", "python")
    assert not defines("class C:\n    def area(self):\n        return 1\n", "area", "python")
    assert not defines("def area_of(r):\n    return r\n", "area", "python")
    for js in ("function area(r) { return r; }", "async function area(r) {}", "const area = (r) => r;",
               "let area = function (r) { return r; };"):
        assert defines(js, "area", "javascript"), js
    assert not defines("function areaOf(r) { return r; }", "area", "javascript")


def test_references_ignore_strings_and_attributes() -> None:
    assert references("assert area(2) == 4", "area", "python")
    assert not references("assert 'area' in names", "area", "python")
    assert references("console.assert(area(2) === 4);", "area", "javascript")
    assert not references("console.assert(shape.area === 4);", "area", "javascript")


def test_signatures_show_the_header_never_the_body() -> None:
    code = "def area(r: float, *, unit: str = 'm') -> float:\n    '''Secret doc.'''\n    return 3.14 * r * r\n"
    assert signature(code, "area", "python") == "def area(r: float, *, unit: str='m') -> float:"
    assert signature("function area(r) { return 3.14 * r * r; }", "area", "javascript") == "function area(r)"
    assert signature("const area = (r) => 3.14 * r * r;", "area", "javascript") == "const area = (r) =>"
    assert signature("def other():\n    pass\n", "area", "python") == ""


def test_normalized_ignores_formatting_and_comments_but_not_behaviour() -> None:
    assert normalized("x = a+b  # sum\n", "python") == normalized("x = (a + b)\n", "python")
    assert normalized("x = a+b\n", "python") != normalized("x = a-b\n", "python")
    assert normalized("let x = a + b; // sum", "javascript") == normalized("let x=a+b;", "javascript")


def test_markdown_fences_are_removed_because_they_are_valid_javascript() -> None:
    fenced = "```js\nfunction f() {}\n```"
    assert syntax_error(fenced, "javascript") is None  # template literals: the parser cannot catch it
    assert unfence(fenced) == "function f() {}"
    assert unfence("```python\ndef f():\n    pass\n```\n") == "def f():\n    pass"
    assert unfence("x = '```'") == "x = '```'"
