"""Preflight against a server that accepts the connection and never answers: the command stops with one line
well within the README's 10 s."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from run import main
from tools.llm.preflight import PREFLIGHT_TIMEOUT_S


@pytest.fixture
def silent_url() -> Iterator[str]:
    """An endpoint whose kernel completes every connection (the listen backlog) but nobody ever reads or answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    finally:
        listener.close()


def test_a_silent_server_stops_the_command_with_one_line_within_10_s(silent_url: str, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text('{"id": "s", "code": "def f():\\n    return 1\\n"}\n')
    started = time.monotonic()
    code = main(["synth", str(seeds), "--out", str(tmp_path / "out"), "--base-url", silent_url])
    elapsed = time.monotonic() - started
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(lines) == 1
    assert lines[0].startswith(f"error: {silent_url} did not answer /models within {PREFLIGHT_TIMEOUT_S:g} s")
    assert elapsed < 10.0  # loose: the probe's own bound is PREFLIGHT_TIMEOUT_S
