"""Framing between the Sandbox and its workers: 8-byte big-endian length, then UTF-8 JSON.

Standard library only: the worker imports this module without the rest of codemill. A `FrameReader`
reads ahead, so a frame usually costs one read() (and a pipelined second one none).
"""

from __future__ import annotations

import json
import os
import select
import time
from collections.abc import Callable

_HEADER = 8
MAX_FRAME = 256 * 1024 * 1024  # a request carries code and tests; nothing legitimate comes close
READ_SIZE = 64 * 1024  # below malloc's mmap threshold: a read costs no mmap/munmap


class ChannelClosed(Exception):
    """The other side of the pipe went away (or sent garbage)."""


def _not_serializable(value: object) -> None:
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# json's C scanner and encoder, called directly: json.loads/dumps add several Python-level calls per
# message, and in a forking worker every page those touch is copied again after each fork. (Both are
# private to json, so the type stubs leave them out.)
_scan: Callable[[str, int], tuple[object, int]] = json.decoder.JSONDecoder().scan_once  # type: ignore[attr-defined]
_make_encoder = json.encoder.c_make_encoder  # type: ignore[attr-defined]
_encode = None if _make_encoder is None else _make_encoder(
    None, _not_serializable, json.encoder.encode_basestring_ascii, None, ": ", ", ", False, False, True)


def dumps(message: dict) -> str:
    return json.dumps(message) if _encode is None else "".join(_encode(message, 0))


def loads(data: bytes | str) -> object:
    """Like json.loads for what we send (no surrounding whitespace); ValueError on anything else."""
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    try:
        value, end = _scan(text, 0)
    except StopIteration as error:
        raise ValueError(f"not JSON at position {error.value}") from None
    if end != len(text):
        raise ValueError(f"extra data at position {end}")
    return value


def frame(message: dict) -> bytes:
    """The message as it travels: its length, then its JSON."""
    payload = dumps(message).encode("utf-8")
    return len(payload).to_bytes(_HEADER, "big") + payload


def frame_within(key: str, items: list, limit: int) -> tuple[bytes, int]:
    """The frame of `{key: items[:n]}` for the largest n whose frame is at most `limit` bytes, and n; (b"", 0)
    when not even the first item fits."""
    total = len(frame({key: []}))
    if total > limit:
        return b"", 0
    count = 0
    for item in items:
        size = len(dumps({"": item})) - 6 + (2 if count else 0)  # the item's JSON ('{"": ' and '}' off), ", "
        if total + size > limit:
            break
        total, count = total + size, count + 1
    data = frame({key: items[:count]})
    return (data, count) if count and len(data) <= limit else (b"", 0)


def write_frame(fd: int, message: dict) -> None:
    write_all(fd, frame(message))


def write_all(fd: int, data: bytes) -> None:
    """Write every byte (ChannelClosed when the reader is gone)."""
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except (BrokenPipeError, OSError) as error:
            raise ChannelClosed(str(error)) from error
        view = view[written:]


class FrameReader:
    """Frames from one pipe, read ahead into a buffer."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = b""

    def read(self, deadline: float | None = None) -> dict:
        """The next message; `deadline` is a time.monotonic() value (None: wait forever)."""
        while True:
            buffer = self.buffer
            if len(buffer) >= _HEADER:
                size = int.from_bytes(buffer[:_HEADER], "big")
                if size > MAX_FRAME:
                    raise ChannelClosed(f"frame of {size} bytes exceeds the limit")
                end = _HEADER + size
                if len(buffer) >= end:
                    payload, self.buffer = buffer[_HEADER:end], buffer[end:]
                    try:
                        message = loads(payload)
                    except ValueError as error:
                        raise ChannelClosed(f"undecodable frame: {error}") from error
                    if not isinstance(message, dict):  # every message is an object; anything else is garbage
                        raise ChannelClosed(f"frame holds a JSON {type(message).__name__}, not an object")
                    return message
            self._fill(deadline)

    def waiting(self) -> bool:
        """Whether a frame (or the start of one) has arrived and not been read yet; never blocks."""
        return bool(self.buffer) or bool(select.select([self.fd], [], [], 0)[0])

    def _fill(self, deadline: float | None) -> None:
        if deadline is not None:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([self.fd], [], [], wait)[0]:
                raise TimeoutError("no answer from the sandbox worker in time")
        try:
            chunk = os.read(self.fd, READ_SIZE)
        except OSError as error:
            raise ChannelClosed(str(error)) from error
        if not chunk:
            raise ChannelClosed("end of stream")
        self.buffer = self.buffer + chunk if self.buffer else chunk
