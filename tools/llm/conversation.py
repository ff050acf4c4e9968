"""Conversations a strict chat template accepts (Gemma's, Mistral's: "Conversation roles must alternate").

A re-ask adds two turns, never one: the rejected reply, shortened, as the model's own turn, then what was
wrong with it as the user's. `alternating` merges any consecutive turns of one role, so a conversation built
elsewhere cannot put two user turns in a row either. When a prompt outgrows the context, `trim_reasks` cuts
the longest re-ask turns (the history after the first prompt), never the task itself.
"""

from __future__ import annotations

from collections.abc import Sequence

from tools.llm.backend import Message

REPLY_SHOWN_CHARS = 1200  # a rejected reply shown back to the model: its start and end, the middle cut
PROBLEM_CHARS = 1500  # what was wrong with it
MIN_TURN_CHARS = 160  # trimming never cuts a re-ask turn below this


def shorten(text: str, limit: int) -> str:
    """`text`, or at most `limit` characters of it: its head and tail around a marker saying how much was cut."""
    if len(text) <= limit:
        return text
    room = limit - 32  # the marker takes at most 32 characters
    if room < 16:
        return text[:limit]
    head = room * 2 // 3
    return f"{text[:head]}\n…[{len(text) - room} characters cut]…\n{text[len(text) - (room - head):]}"


def reask_turns(reply: str | None, reask: str) -> list[Message]:
    """The rejected reply as the model's turn, then the re-ask as the user's."""
    shown = shorten(reply, REPLY_SHOWN_CHARS) if reply else "(no usable reply)"
    return [{"role": "assistant", "content": shown}, {"role": "user", "content": shorten(reask, PROBLEM_CHARS)}]


def alternating(messages: Sequence[Message]) -> list[Message]:
    """The conversation with consecutive turns of the same role merged into one."""
    merged: list[Message] = []
    for message in messages:
        if merged and merged[-1].get("role") == message.get("role"):
            merged[-1] = {**merged[-1], "content": f"{merged[-1].get('content', '')}\n\n{message.get('content', '')}"}
        else:
            merged.append(dict(message))
    return merged


def reask_start(messages: Sequence[Message]) -> int:
    """Where the re-ask history begins: the first assistant turn (the end when there is none)."""
    return next((i for i, message in enumerate(messages) if message.get("role") == "assistant"), len(messages))


def trim_reasks(messages: Sequence[Message], chars: int) -> list[Message] | None:
    """The conversation with about `chars` characters cut from its longest re-ask turns (each kept at
    `MIN_TURN_CHARS` or more), or None when there is nothing left to cut."""
    trimmed = [dict(message) for message in messages]
    open_turns = set(range(reask_start(trimmed), len(trimmed)))
    cut = 0
    while cut < chars and open_turns:
        longest = max(open_turns, key=lambda i: len(trimmed[i]["content"]))
        content = trimmed[longest]["content"]
        # Halve the turn or cut what is still needed, whichever is less, so several turns share the cut.
        keep = max(MIN_TURN_CHARS, len(content) - min(chars - cut, max(len(content) // 2, 1)))
        shortened = shorten(content, keep)
        if len(shortened) >= len(content):
            open_turns.discard(longest)  # at its minimum
            continue
        trimmed[longest]["content"] = shortened
        cut += len(content) - len(shortened)
    return trimmed if cut else None
