"""`run.py synth` against a scripted OpenAI server that fails the way real servers do, one mode each: every
thread ends in a recorded outcome or stays unfinished for the next run, as the error's class says; nothing is
lost and nothing is duplicated; a SIGKILL mid-run and a resume included.

- endpoint failures (401, 404 unknown model, 400 role alternation): nothing recorded, the circuit breaker
  stops the run with one line, the next run (endpoint fixed) does every thread;
- a 400 context length: a recorded failure of that stage, never resent unchanged; the batch goes on;
- transient failures (429 with Retry-After, 500, a connection reset mid-body, a completion without choices):
  retried, and the threads finish;
- the model's bad replies (cut off at the length limit, invalid JSON for the first K attempts, schema-valid but
  deeply nested code): re-asked within the budget, then recorded — and a re-run replays them from the cache
  without crashing.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from run import main
from tests.coder_model import SOLUTION, CoderModel
from tests.fakes import ChatRequest, Reply, ScriptedOpenAIServer, role_order_problem
from tests.test_synth_e2e import ROOT, rows, synth_args, write_seeds

DEEP = "x = " + "-" * 5000 + "1"


def schema_of(request: ChatRequest) -> str:
    return ((request.response_format or {}).get("json_schema") or {}).get("name", "")


def faulty(fault: Callable[[ChatRequest, int], Reply | None]) -> tuple[CoderModel, Callable[[ChatRequest], Reply]]:
    """The coder model, except where `fault(request, index)` answers (index counts chat requests from 0)."""
    model = CoderModel()
    seen = 0
    lock = threading.Lock()

    def handler(request: ChatRequest) -> Reply:
        nonlocal seen
        with lock:
            index, seen = seen, seen + 1
        return fault(request, index) or model(request)

    return model, handler


def assert_nothing_lost_or_duplicated(out: Path, threads: int) -> list[dict]:
    ledger = rows(out / "ledger.jsonl")
    assert len(ledger) == len({row["thread_id"] for row in ledger}) == threads
    for name in ("sft.jsonl", "dpo.jsonl", "matrix.jsonl"):
        ids = [row["id"] for row in rows(out / name)]
        assert len(ids) == len(set(ids)), name
    assert len(rows(out / "sft.jsonl")) == sum(row["status"] == "accepted" for row in ledger)
    return ledger


ENDPOINT_FAULTS = {
    "401": (Reply.error(401, "invalid API key"), "AuthFailed"),
    "404 unknown model": (Reply.error(404, "The model `scripted-model` does not exist."), "UnknownModel"),
    "400 role alternation": (Reply.error(400, "Conversation roles must alternate user/assistant/user/assistant/..."),
                             "RoleOrderRejected"),
}


@pytest.mark.parametrize("mode", list(ENDPOINT_FAULTS))
def test_an_endpoint_failure_records_nothing_and_the_next_run_does_everything(tmp_path: Path, capsys,
                                                                              monkeypatch, mode: str) -> None:
    monkeypatch.setenv("CODEMILL_SYNTH_MAX_ENDPOINT_FAILURES", "3")
    reply, error_type = ENDPOINT_FAULTS[mode]
    seeds = write_seeds(tmp_path / "seeds.jsonl", ["accept"] * 5)
    out = tmp_path / "out"
    _, broken = faulty(lambda request, index: reply)
    with ScriptedOpenAIServer(broken) as server:
        code = main([*synth_args(seeds, out, server, "--no-report"), "--threads", "1"])
    err = capsys.readouterr().err
    [line] = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 1 and "stopped after 3 threads in a row could not use the model" in line and error_type in line
    assert "re-run to resume" in line
    assert rows(out / "ledger.jsonl") == [] and rows(out / "sft.jsonl") == []
    assert json.loads((out / "manifest.json").read_text())["runs"][-1]["stopped"].startswith("stopped after 3")
    with ScriptedOpenAIServer(CoderModel()) as server:  # the endpoint is fixed
        assert main(synth_args(seeds, out, server, "--no-report")) == 0
    assert {row["status"] for row in assert_nothing_lost_or_duplicated(out, 5)} == {"accepted"}


def test_a_context_length_400_is_a_recorded_failure_never_resent_unchanged(tmp_path: Path) -> None:
    seeds = write_seeds(tmp_path / "seeds.jsonl", ["accept", "accept"])
    out = tmp_path / "out"
    # The server does not say its context length; the client believes the default until the 400 tells it.
    with ScriptedOpenAIServer(CoderModel(), max_model_len=300, reports_max_model_len=False) as server:
        assert main([*synth_args(seeds, out, server, "--no-report"), "--max-tokens", "256"]) == 0
        bodies = Counter(json.dumps({"messages": r.messages, "max_tokens": r.body.get("max_tokens")}, sort_keys=True)
                         for r in server.requests)
    ledger = assert_nothing_lost_or_duplicated(out, 2)
    assert {row["status"] for row in ledger} == {"failed"}
    assert {row["failures"][-1]["error_type"] for row in ledger} == {"ContextLengthExceeded"}
    assert max(bodies.values()) == 1  # no request was sent twice unchanged


TRANSIENT_FAULTS = {
    "429 with Retry-After": Reply.error(429, "slow down", retry_after=0.2),
    "500": Reply.error(500, "internal error"),
    "connection reset mid-body": Reply(truncate=True, reset=True),
    "no choices": Reply(no_choices=True),
}


@pytest.mark.parametrize("mode", list(TRANSIENT_FAULTS))
def test_a_transient_failure_is_retried_and_the_threads_finish(tmp_path: Path, mode: str) -> None:
    seeds = write_seeds(tmp_path / "seeds.jsonl", ["accept", "accept"])
    out = tmp_path / "out"
    fault = TRANSIENT_FAULTS[mode]
    _, handler = faulty(lambda request, index: fault if index in (0, 3) else None)
    with ScriptedOpenAIServer(handler) as server:
        assert main([*synth_args(seeds, out, server, "--no-report"), "--max-retries", "3"]) == 0
    assert {row["status"] for row in assert_nothing_lost_or_duplicated(out, 2)} == {"accepted"}
    usage = json.loads((out / "manifest.json").read_text())["usage"]["agents"]
    assert sum(agent["retries"] for agent in usage.values()) == 2


def test_a_reply_cut_off_at_the_length_limit_is_re_asked(tmp_path: Path) -> None:
    seeds = write_seeds(tmp_path / "seeds.jsonl", ["accept"])
    out = tmp_path / "out"
    cut = Reply(contents=['{"task_name": "Increment", "instruction": "Write'], finish_reason="length")
    _, handler = faulty(lambda request, index: cut if index == 0 else None)
    with ScriptedOpenAIServer(handler) as server:
        assert main(synth_args(seeds, out, server, "--no-report")) == 0
        generator_requests = [r for r in server.requests if schema_of(r) == "GenerationReply"]
    (row,) = assert_nothing_lost_or_duplicated(out, 1)
    assert row["status"] == "accepted" and len(generator_requests) == 2
    assert all(role_order_problem(r.messages) is None for r in server.requests)  # the re-ask alternates roles


@pytest.mark.parametrize(("invalid", "status"), [(2, "accepted"), (3, "failed")])
def test_invalid_json_for_the_first_k_attempts(tmp_path: Path, invalid: int, status: str) -> None:
    seeds = write_seeds(tmp_path / "seeds.jsonl", ["accept"])
    out = tmp_path / "out"
    generator_replies = 0

    def fault(request: ChatRequest, index: int) -> Reply | None:
        nonlocal generator_replies
        if schema_of(request) != "GenerationReply":
            return None
        generator_replies += 1
        return Reply(contents=["{not json"]) if generator_replies <= invalid else None

    _, handler = faulty(fault)
    with ScriptedOpenAIServer(handler) as server:  # max_reasks 2: three requests per generator attempt
        assert main([*synth_args(seeds, out, server, "--no-report"), "--max-attempts", "1"]) == 0
    (row,) = assert_nothing_lost_or_duplicated(out, 1)
    assert row["status"] == status and generator_replies == min(invalid + 1, 3)
    if status == "failed":
        assert row["failures"][-1]["error_type"] == "OutputRejected" and "gave up after 3" in \
            row["failures"][-1]["message"]


def test_schema_valid_deep_code_never_crashes_a_batch_or_its_replay(tmp_path: Path) -> None:
    seeds = write_seeds(tmp_path / "seeds.jsonl", ["accept", "accept", "accept"])
    out = tmp_path / "out"

    def fault(request: ChatRequest, index: int) -> Reply | None:
        if schema_of(request) == "GenerationReply" and "def add_0(" in json.dumps(request.messages):
            return Reply(contents=[json.dumps({"task_name": "Deep", "input": "", "entry_point": "inc",
                                               "solution": DEEP + "\n" + SOLUTION,
                                               "instruction": "Write a Python function `inc(x)`."})])
        if schema_of(request) == "CandidateReply":
            return Reply(contents=[json.dumps({"code": DEEP + "\n" + SOLUTION}), json.dumps({"code": SOLUTION})])
        return None

    _, handler = faulty(fault)
    with ScriptedOpenAIServer(handler) as server:
        assert main([*synth_args(seeds, out, server, "--no-report"), "--max-attempts", "1"]) == 0
        calls = server.call_count
        ledger = {row["seed_id"]: row for row in assert_nothing_lost_or_duplicated(out, 3)}
        (out / "ledger.jsonl").unlink()
        (out / "checkpoints.sqlite").unlink()
        assert main([*synth_args(seeds, out, server, "--no-report"), "--max-attempts", "1"]) == 0  # the cache replays
        assert server.call_count == calls
    assert ledger["seed-0-accept"]["status"] == "failed"
    assert "nested too deeply" in ledger["seed-0-accept"]["failures"][-1]["message"]
    assert {seed: row["status"] for seed, row in ledger.items()} == {
        seed: row["status"] for seed, row in ((r["seed_id"], r) for r in rows(out / "ledger.jsonl"))}


@pytest.mark.slow
def test_sigkill_mid_run_against_a_flaky_server_and_resume(tmp_path: Path) -> None:
    scenarios = ["accept", "reject_once", "malformed", "accept"] * 3
    seeds = write_seeds(tmp_path / "seeds.jsonl", scenarios)
    out = tmp_path / "out"
    _, handler = faulty(lambda request, index: Reply.error(503, "overloaded", retry_after=0.05) if index % 5 == 0
                        else Reply(truncate=True, reset=True) if index % 7 == 0 else None)
    with ScriptedOpenAIServer(handler, latency_s=0.1) as server:
        args = [sys.executable, "run.py", *synth_args(seeds, out, server, "--no-report"), "--threads", "2",
                "--max-retries", "4"]
        process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while len(rows(out / "ledger.jsonl")) < 3 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        assert process.poll() is None, "the run finished before it could be killed"
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert 3 <= len(rows(out / "ledger.jsonl")) < len(scenarios)
        done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
    ledger = assert_nothing_lost_or_duplicated(out, len(scenarios))
    assert {row["status"] for row in ledger} <= {"accepted", "rejected", "failed"}
    assert json.loads((out / "manifest.json").read_text())["runs"][0]["stopped"] == "still running, or killed"
