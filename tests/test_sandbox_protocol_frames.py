"""The worker's report channel and the pool's shutdown, on input they must survive."""

from __future__ import annotations

import json
import os

import pytest

from tools.errors import SandboxError
from tools.sandbox import Sandbox
from tools.sandbox.protocol import ChannelClosed, FrameReader
from tools.sandbox.slots import Job


@pytest.mark.parametrize("payload", [b"[1, 2]", b'"text"', b"42", b"null"])
def test_a_frame_that_is_not_a_json_object_closes_the_channel(payload: bytes) -> None:
    read, write = os.pipe()
    try:
        os.write(write, len(payload).to_bytes(8, "big") + payload)
        with pytest.raises(ChannelClosed, match="not an object"):
            FrameReader(read).read()
    finally:
        os.close(read)
        os.close(write)


def test_an_object_frame_still_reads() -> None:
    read, write = os.pipe()
    try:
        payload = json.dumps({"ok": 1}).encode()
        os.write(write, len(payload).to_bytes(8, "big") + payload)
        assert FrameReader(read).read() == {"ok": 1}
    finally:
        os.close(read)
        os.close(write)


def test_a_job_still_queued_when_the_sandbox_closes_fails_with_a_sandbox_error() -> None:
    sandbox = Sandbox(workers=1)
    job = Job({"code": "x = 1", "test": "assert x == 1", "language": "python"}, timeout_s=5.0)
    sandbox._jobs.put(None)  # the slot stops at this marker, so the job behind it is never run
    sandbox._jobs.put(job)
    sandbox.close()
    error = job.futures[0].exception(timeout=5)
    assert isinstance(error, SandboxError) and "closed before this check ran" in str(error)


def test_waiting_says_whether_a_frame_has_arrived_without_blocking() -> None:
    read, write = os.pipe()
    try:
        reader = FrameReader(read)
        assert not reader.waiting()
        payload = json.dumps({"first": 1}).encode()
        frame = len(payload).to_bytes(8, "big") + payload
        os.write(write, frame + frame[:5])  # one whole frame and the start of the next
        assert reader.waiting()
        assert reader.read() == {"first": 1}
        assert reader.waiting()  # the start of the second is in the buffer already
    finally:
        os.close(read)
        os.close(write)
