"""`run.py serve --ray --replicas 2` on a local Ray instance, with the scripted stand-in for vLLM
(`--vllm-module tests.fakes`): two URLs printed, each a server that answers, all stopped by Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from graphs.replicas import ReplicaSpec, vllm_args
from tests.ray_support import require_ray

ray = require_ray()

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


def test_two_replicas_print_their_urls_answer_and_stop_on_ctrl_c() -> None:
    command = [sys.executable, "run.py", "serve", "--ray", "--replicas", "2", "--model", "tiny", "--device", "cpu",
               "--vllm-module", "tests.fakes", "--startup-timeout", "120"]
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as process:
        try:
            urls = [process.stdout.readline().strip() for _ in range(2)]
            assert all(url.startswith("http://") and url.endswith("/v1") for url in urls), urls
            assert len(set(urls)) == 2
            for url in urls:
                models = httpx.get(f"{url}/models", timeout=10).json()
                assert [entry["id"] for entry in models["data"]] == ["tiny"]
            process.send_signal(signal.SIGINT)
            _, errors = process.communicate(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 130, errors[-2000:]
    assert "ready: use --base-url" in errors
    for url in urls:
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{url}/models", timeout=2)


def test_gpus_beyond_one_become_tensor_parallelism_unless_given() -> None:
    assert vllm_args(ReplicaSpec(0, "m", "m", gpus=4)) == ["--tensor-parallel-size", "4"]
    assert vllm_args(ReplicaSpec(0, "m", "m", gpus=4, extra_args=("--tensor-parallel-size", "2"))) == [
        "--tensor-parallel-size", "2"]
    assert vllm_args(ReplicaSpec(0, "m", "m", gpus=1)) == []
