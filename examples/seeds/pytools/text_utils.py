"""Small text helpers used as seed code for codemill's examples."""

import re
from collections import Counter


def slugify(title: str, max_length: int = 60) -> str:
    """Turn a title into a lowercase URL slug made of words joined by hyphens."""
    words = re.findall(r"[a-z0-9]+", title.lower())
    slug = "-".join(words)
    return slug[:max_length].rstrip("-")


def word_frequencies(text: str, top: int = 5) -> list[tuple[str, int]]:
    """Return the `top` most common words of `text`, ignoring case and punctuation."""
    counts = Counter(re.findall(r"[a-z']+", text.lower()))
    return counts.most_common(top)


def wrap_lines(text: str, width: int) -> list[str]:
    """Greedy word wrap: pack words into lines no longer than `width` characters."""
    lines, current = [], ""
    for word in text.split():
        candidate = f"{current} {word}".strip()
        if len(candidate) <= width or not current:
            current = candidate
        else:
            lines.append(current)
            current = word
    if current:
        lines.append(current)
    return lines


def is_palindrome(phrase: str) -> bool:
    """True when the letters and digits of `phrase` read the same backwards."""
    cleaned = [ch.lower() for ch in phrase if ch.isalnum()]
    return cleaned == cleaned[::-1]


def caesar_shift(message: str, shift: int) -> str:
    """Shift every ASCII letter of `message` by `shift` places, keeping case."""
    out = []
    for ch in message:
        if ch.isascii() and ch.isalpha():
            base = ord("A") if ch.isupper() else ord("a")
            out.append(chr((ord(ch) - base + shift) % 26 + base))
        else:
            out.append(ch)
    return "".join(out)
