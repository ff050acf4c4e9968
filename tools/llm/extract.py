"""Getting JSON out of a model's free text (the prompt-only fallback): fenced blocks, stray prose, trailing commas."""

from __future__ import annotations

import json
import re
from typing import Any

from tools.errors import OutputRejected

# An opening fence (``` or ~~~, optional tag), the body, and the matching closing fence or the end of the text
# (a reply cut off by max_tokens has no closing fence).
_FENCE = re.compile(
    r"^[ \t]*(?P<fence>`{3,}|~{3,})[ \t]*(?P<tag>[\w+#.-]*)[^\n]*\n(?P<body>.*?)(?:^[ \t]*(?P=fence)[ \t]*$|\Z)",
    re.MULTILINE | re.DOTALL,
)
_ALIASES = {
    "py": "python", "python3": "python", "py3": "python", "js": "javascript", "node": "javascript",
    "jsx": "javascript", "mjs": "javascript", "ts": "typescript", "c++": "cpp", "cc": "cpp", "cxx": "cpp",
    "rs": "rust", "golang": "go", "sh": "bash", "shell": "bash", "zsh": "bash", "cs": "csharp", "c#": "csharp",
    "kt": "kotlin", "rb": "ruby",
}


def _language(tag: str | None) -> str:
    tag = (tag or "").strip().lower()
    return _ALIASES.get(tag, tag)


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """Every fenced block as (normalised language tag, body)."""
    return [(_language(match["tag"]), match["body"]) for match in _FENCE.finditer(text)]


def _balanced_spans(text: str) -> list[str]:
    """Every top-level balanced {...} or [...] span, in order, respecting JSON strings."""
    spans: list[str] = []
    depth, start, in_string, escaped = 0, -1, False, False
    for index, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"' and depth:
            in_string = True
        elif char in "{[":
            if depth == 0:
                start = index
            depth += 1
        elif char in "}]" and depth:
            depth -= 1
            if depth == 0:
                spans.append(text[start:index + 1])
    return spans


_TRAILING_COMMA = re.compile(r",(\s*[}\]])")


def _loads(candidate: str) -> tuple[bool, Any]:
    for attempt in (candidate, _TRAILING_COMMA.sub(r"\1", candidate)):
        try:
            return True, json.loads(attempt)
        except (json.JSONDecodeError, ValueError):
            continue
    return False, None


def extract_json(text: str) -> Any:
    """The JSON value in a model reply: the whole text, a fenced block, or the first balanced object.

    Tolerates prose before and after, ```json fences and trailing commas; raises OutputRejected (with a
    reason a model can act on) when there is no complete JSON value, e.g. a reply cut off mid-object.
    """
    stripped = text.strip()
    candidates = [stripped] + [body for _, body in fenced_blocks(text)]
    for candidate in candidates:
        ok, value = _loads(candidate.strip())
        if ok and isinstance(value, dict | list):
            return value
    for span in _balanced_spans(text):
        ok, value = _loads(span)
        if ok:
            return value
    ok, value = _loads(stripped)
    if ok:
        return value
    if "{" in text and not _balanced_spans(text):
        raise OutputRejected("the reply's JSON is incomplete (unbalanced braces; was it cut off?)")
    raise OutputRejected("the reply contains no JSON object")
