"""Static screening of candidate programs for verdict-forging primitives.

The sandbox runs candidate and test in one process (Python: one namespace; JavaScript: one module body),
so a candidate can try to forge its pass instead of earning it: patch the harness or the test's tools
(builtins, `console.assert`, modules), walk frames, read the completion nonce through a raw descriptor,
return an object whose `__eq__` always says yes, or stop the test from running at all. No in-process
harness is airtight, so `screen` reads the code (never runs it) and names the first such primitive it
finds. A flagged candidate is only distrusted (never `chosen`, never defines trusted tests); it still
runs. Screen the whole program that will run (HumanEval-style rows: prompt + completion).

Rules aim at zero flags on real solutions (every canonical benchmark solution is screened in the tests),
so this is a tripwire, not a proof. Known gaps: names computed from data at run time are not followed
(`getattr(obj, name)` on a non-module, `eval` of computed text unless the program also decodes data);
a dunder whose lie depends on state (`return self.ok or other`) looks honest; JavaScript's global object
reached other than through `globalThis`/`global`/`Function`/indirect `eval`/`this` of a plain function is
not traced, and the tokenizer only approximates regex-versus-division (regex text is searched too).
"""

from __future__ import annotations

from typing import Literal

from tools.verification.screening_common import MAX_SOURCE_CHARS, TOO_DEEP
from tools.verification.screening_javascript import screen_javascript
from tools.verification.screening_python import screen_python

__all__ = ["MAX_SOURCE_CHARS", "TOO_DEEP", "screen"]


def screen(code: str | bytes, language: Literal["python", "javascript"]) -> str | None:
    """None when clean; else one short reason naming the primitive and its line, e.g.
    "replaces builtins.exec (line 3)". Never raises on hostile input (syntax errors, deep nesting, odd
    text); a Python syntax error returns None because the same interpreter will refuse to run it."""
    if isinstance(code, bytes):
        code = code.decode("utf-8", "replace")
    if len(code) > MAX_SOURCE_CHARS:
        return f"too large to screen ({len(code)} characters)"
    if language == "python":
        finding = screen_python(code, 0)
    elif language == "javascript":
        finding = screen_javascript(code, 0)
    else:
        raise ValueError(f"cannot screen language {language!r}")
    return None if finding is None else f"{finding[1]} (line {finding[0]})"
