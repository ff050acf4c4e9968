"""Framing between the Sandbox and its workers: 8-byte big-endian length, then UTF-8 JSON.

Standard library only: the worker imports this module without the rest of codemill.
"""

from __future__ import annotations

import json
import os
import select
import time

_HEADER = 8
MAX_FRAME = 256 * 1024 * 1024  # a request carries code and tests; nothing legitimate comes close


class ChannelClosed(Exception):
    """The other side of the pipe went away (or sent garbage)."""


def write_frame(fd: int, message: dict) -> None:
    payload = json.dumps(message).encode("utf-8")
    data = len(payload).to_bytes(_HEADER, "big") + payload
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except (BrokenPipeError, OSError) as error:
            raise ChannelClosed(str(error)) from error
        view = view[written:]


def _read_exact(fd: int, size: int, deadline: float | None) -> bytes:
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        if deadline is not None:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([fd], [], [], wait)[0]:
                raise TimeoutError("no answer from the sandbox worker in time")
        try:
            chunk = os.read(fd, min(remaining, 1 << 20))
        except OSError as error:
            raise ChannelClosed(str(error)) from error
        if not chunk:
            raise ChannelClosed("end of stream")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int, deadline: float | None = None) -> dict:
    """The next message; `deadline` is a time.monotonic() value (None: wait forever)."""
    size = int.from_bytes(_read_exact(fd, _HEADER, deadline), "big")
    if size > MAX_FRAME:
        raise ChannelClosed(f"frame of {size} bytes exceeds the limit")
    try:
        return json.loads(_read_exact(fd, size, deadline).decode("utf-8"))
    except ValueError as error:
        raise ChannelClosed(f"undecodable frame: {error}") from error
