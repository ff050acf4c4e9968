"""Shared fixtures. Real model requests are blocked for the whole test session: every client refuses an
endpoint that is not this machine (pydantic-ai's ALLOW_MODEL_REQUESTS idea), and no test inherits the
developer's CODEMILL_* environment or writes the developer's reply cache."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.fakes import ScriptedOpenAIServer
from tools.llm.transport import forbid_remote_requests


@pytest.fixture(autouse=True, scope="session")
def _block_remote_model_requests() -> Iterator[None]:
    forbid_remote_requests(True)
    yield
    forbid_remote_requests(False)


@pytest.fixture(autouse=True)
def _isolated_llm_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    for name in list(os.environ):
        if name.startswith("CODEMILL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CODEMILL_LLM_ALLOW_REMOTE", "false")  # settings built in tests (and subprocesses) agree
    monkeypatch.setenv("CODEMILL_LLM_CACHE_PATH", str(tmp_path_factory.mktemp("llm-cache") / "cache.sqlite"))


@pytest.fixture
def scripted_server() -> Iterator[Callable[..., ScriptedOpenAIServer]]:
    """Factory: `scripted_server(script, latency_s=..., model=...)` starts a server, stopped after the test."""
    started: list[ScriptedOpenAIServer] = []

    def start(script: Any = None, **options: Any) -> ScriptedOpenAIServer:
        server = ScriptedOpenAIServer(script, **options).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
