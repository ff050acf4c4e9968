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

import hashlib
from typing import Literal

from tools.verification.screening_common import MAX_SOURCE_CHARS, TOO_DEEP

__all__ = ["MAX_SOURCE_CHARS", "TOO_DEEP", "screen"]

CACHE_SIZE = 4096  # findings remembered by the code's digest: candidates recur (samples, copies, timing runs)
_findings: dict[tuple[bytes, str], str | None] = {}


def screen(code: str | bytes, language: Literal["python", "javascript"]) -> str | None:
    """None when clean; else one short reason naming the primitive and its line, e.g.
    "replaces builtins.exec (line 3)". Never raises on hostile input (syntax errors, deep nesting, odd
    text); a Python syntax error returns None because the same interpreter will refuse to run it."""
    if isinstance(code, bytes):
        code = code.decode("utf-8", "replace")
    if len(code) > MAX_SOURCE_CHARS:
        return f"too large to screen ({len(code)} characters)"
    if language not in ("python", "javascript"):
        raise ValueError(f"cannot screen language {language!r}")
    # keyed by a digest, not the text: the cache must not keep thousands of large sources alive
    key = (hashlib.blake2b(code.encode("utf-8", "surrogatepass"), digest_size=16).digest(), language)
    if key not in _findings:
        reason = _screen(code, language)
        if len(_findings) >= CACHE_SIZE:
            _findings.clear()
        _findings[key] = reason
        return reason
    return _findings[key]


def _screen(code: str, language: str) -> str | None:
    # each language's rules are imported on first use: a Python-only run never compiles the JavaScript ones
    if language == "python":
        from tools.verification.screening_python import screen_python as screen_language
    else:
        from tools.verification.screening_javascript import screen_javascript as screen_language
    finding = screen_language(code, 0)
    return None if finding is None else f"{finding[1]} (line {finding[0]})"
