"""`run.py chat` for real in a pseudo-terminal (pexpect) against the scripted OpenAI-protocol server started
in the test process: a task streams the instance, tests, pass matrix and verdict; the user steers (N, tests,
regeneration, verdicts), saves, draws the graph; Ctrl-C cancels a slow step; a dead server is one line."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pexpect
import pytest

from tests.coder_model import CoderModel, seed_code
from tests.fakes import ChatRequest, Reply, ScriptedOpenAIServer

ROOT = Path(__file__).resolve().parent.parent
PROMPT = "codemill>"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")


def spawn_chat(base_url: str, tmp_path: Path, *extra: str) -> pexpect.spawn:
    env = {**os.environ, "TERM": "xterm-256color", "PROMPT_TOOLKIT_NO_CPR": "1", "COLUMNS": "160"}
    args = ["run.py", "chat", "--base-url", base_url, "--model", "scripted-model", "--out", str(tmp_path / "out"),
            "--history", str(tmp_path / "history"), "--n-candidates", "4", "--n-tests", "3", "--max-attempts", "2",
            "--exec-timeout", "2", "--workers", "2", "--max-retries", "0", "--timeout", "5", *extra]
    child = pexpect.spawn(sys.executable, args, cwd=str(ROOT), env=env, encoding="utf-8", dimensions=(50, 160),
                          timeout=40)
    child.logfile_read = (tmp_path / "terminal.log").open("w")
    child.expect(PROMPT)
    return child


def say(child: pexpect.spawn, line: str, *expected: str) -> None:
    """Type a line and wait for each expected text in order, then for the prompt."""
    child.sendline(line)
    for text in expected:
        child.expect_exact(text)
    child.expect(PROMPT)


def quit_session(child: pexpect.spawn) -> int:
    child.sendline("/quit")
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus


def terminal_text(tmp_path: Path) -> str:
    """What the terminal showed, without colour and cursor escapes (syntax highlighting splits code)."""
    return ANSI.sub("", (tmp_path / "terminal.log").read_text())


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_a_task_streams_live_and_the_user_steers_judges_and_saves(tmp_path: Path) -> None:
    model = CoderModel()
    with ScriptedOpenAIServer(model) as server:
        child = spawn_chat(server.base_url, tmp_path)
        say(child, "Write a function inc that adds one (scenario-accept)",
            "generator · generation · Increment", "solution", "discriminator · verdict", "ACCEPTED",
            "pass matrix (4 candidates × 3 tests)", "FAIL", "executable checks pass", "your verdict?")
        say(child, "/n 5", "N=5 candidates")
        say(child, "/temp 0.3", "temperature 0.3 (sampling 0.3)")
        say(child, "/regen candidates", "generator · 5 candidates", "pass matrix (5 candidates × 3 tests)",
            "your verdict?")
        assert model.calls[("accept", "CandidateReply")] == 2  # asked again, not replayed from a cache
        sampling = [r.body for r in server.requests if "CandidateReply" in json.dumps(r.response_format or {})]
        assert (sampling[0]["n"], sampling[-1]["n"]) == (4, 5) and sampling[-1]["temperature"] == 0.3
        say(child, "/status", "task generation · N=5", "Increment")
        say(child, "/regen tests", "test_writer · 3 tests", "pass matrix (5 candidates × 3 tests)", "your verdict?")
        assert sum(count for (scenario, schema), count in model.calls.items()
                   if scenario == "accept" and schema.startswith("TestsReply")) == 2  # written again
        say(child, "/edit-test 3 assert inc(10) == 12", "tests (test 3 edited)",
            "pass matrix (5 candidates × 3 tests)", "your verdict?")
        child.sendline("/edit-test 2")  # no code: an editor prompt holding the current test
        child.expect_exact("test 2>")
        child.send("\x15")  # Ctrl-U: clear the line
        child.send("def test_negative():\r    assert inc(-5) == -4\x1b\r")  # two lines, Esc Enter ends the edit
        child.expect_exact("tests (test 2 edited)")
        child.expect_exact("your verdict?")
        child.expect(PROMPT)
        say(child, "/accept clear and tested", "human · verdict", "clear and tested", "status: accepted")
        say(child, "/save", "saved to", "1 new SFT rows")
        say(child, "/graph", "graph TD;", "human_review")
        say(child, "/agents", "test_writer", "codemill")
        say(child, "/accept", "nothing awaits a verdict")
        say(child, "/frobnicate", "unknown command /frobnicate")
        assert quit_session(child) == 0

    screen = terminal_text(tmp_path)
    for shown in ("test_writer · 3 tests", "assert inc(10) == 11", "generator · 4 candidates", "return x + 2",
                  "score (bayes)", "★ top-ranked candidate", "assert inc(10) == 12"):
        assert shown in screen
    assert "/n 5" in (tmp_path / "history").read_text()  # the prompt history is kept on disk
    out = tmp_path / "out"
    [sft] = rows(out / "sft.jsonl")
    assert sft["verdict"]["source"] == "human" and sft["verdict"]["accepted"] is True
    assert sft["output"].startswith("def inc(x)") and sft["messages"][1]["content"] == sft["output"]
    [matrix] = rows(out / "matrix.jsonl")
    assert len(matrix["candidates"]) == 5 and matrix["tests"][2] == "assert inc(10) == 12"
    assert matrix["tests"][1] == "def test_negative():\n    assert inc(-5) == -4"
    assert matrix["verification"]["matrix"][0] == ["passed", "passed", "failed"]  # c1 is right; test 3 is not
    assert [len(row) for row in matrix["verification"]["matrix"]] == [3] * 5
    dpo = rows(out / "dpo.jsonl")
    assert dpo and all(row["chosen"] != row["rejected"] for row in dpo)
    pool = [json.loads(line) for line in (out / "pool" / "generation.jsonl").read_text().splitlines()]
    assert {entry["verdict"]["source"] for entry in pool} == {"model", "human"}
    assert json.loads((out / "manifest.json").read_text())["model"] == "scripted-model"


def test_pasted_code_as_a_summarization_task_and_a_human_rejection(tmp_path: Path) -> None:
    with ScriptedOpenAIServer(CoderModel()) as server:
        child = spawn_chat(server.base_url, tmp_path)
        say(child, "/task summarization", "task summarization")
        # a bracketed paste keeps its newlines in one entry
        child.send("\x1b[200~def add_one(x):\n    # scenario-accept\n    return x + 1\n\x1b[201~")
        say(child, "", "summarization · seed", "Adds a constant to its argument", "ACCEPTED", "your verdict?")
        say(child, "/regen tests", "has no tests or candidates to regenerate")
        say(child, "/reject the summary misses the edge cases", "REJECTED", "status: rejected")
        say(child, "/save", "0 new SFT rows")
        child.sendeof()  # Ctrl-D leaves like /quit
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 0
    pool = [json.loads(line) for line in (tmp_path / "out" / "pool" / "summarization.jsonl").read_text().splitlines()]
    human = [entry for entry in pool if entry["verdict"]["source"] == "human"]
    assert len(human) == 1 and human[0]["verdict"]["accepted"] is False
    assert "edge cases" in human[0]["verdict"]["analysis"]
    [ledger] = rows(tmp_path / "out" / "ledger.jsonl")
    assert ledger["status"] == "rejected" and ledger["task_type"] == "summarization"


def test_ctrl_c_cancels_a_slow_step_and_the_session_goes_on(tmp_path: Path) -> None:
    model = CoderModel()
    slowed: list[int] = []

    def slow_sampling(request: ChatRequest) -> Reply:
        reply = model(request)
        schema = (request.response_format or {}).get("json_schema", {}).get("name", "")
        if "scenario-slow" in str(request.messages) and schema == "CandidateReply" and not slowed:
            slowed.append(request.index)
            reply.delay_s = 30  # only the first time: /resume then goes on at full speed
        return reply

    with ScriptedOpenAIServer(slow_sampling) as server:
        child = spawn_chat(server.base_url, tmp_path)
        child.sendintr()  # at the prompt: clears the line, the session stays
        say(child, "/m 2", "M=2 tests")
        child.sendline("Write inc (scenario-slow)")
        child.expect_exact("discriminator · verdict")
        started = time.monotonic()
        child.sendintr()
        child.expect_exact("cancelled")
        child.expect(PROMPT)
        assert time.monotonic() - started < 10
        say(child, "/accept", "nothing awaits a verdict")
        say(child, "/resume", "pass matrix (4 candidates × 2 tests)", "your verdict?")  # from the last checkpoint
        assert model.calls[("slow", "GenerationReply")] == 1  # the finished steps were not run again
        say(child, "/resume", "nothing to resume")
        say(child, "Write inc (scenario-accept)", "no verdict and will not be saved",
            "pass matrix (4 candidates × 2 tests)", "your verdict?")
        assert quit_session(child) == 0


def test_a_server_that_is_down_gives_one_clear_line(tmp_path: Path) -> None:
    server = ScriptedOpenAIServer().start()
    base_url, port = server.base_url, server.port
    server.stop()  # nothing listens there any more
    child = spawn_chat(base_url, tmp_path)
    say(child, "Write a function inc that adds one", "model server unavailable:")
    say(child, "/help", "/regen tests|candidates|instance")
    with ScriptedOpenAIServer(CoderModel(), port=port):  # the server is back: the same session carries on
        say(child, "/regen instance", "pass matrix (4 candidates × 3 tests)", "your verdict?")
        assert quit_session(child) == 0
    screen = terminal_text(tmp_path)
    assert "Traceback" not in screen
    [line] = [line for line in screen.splitlines() if "model server unavailable" in line]
    assert "generator" not in line  # one line about the server, no pile of per-agent retries
    assert base_url.split("//")[1].split("/")[0] in line  # names the endpoint it could not reach


def test_piped_input_works_without_a_terminal(tmp_path: Path) -> None:
    with ScriptedOpenAIServer(CoderModel()) as server:
        seed = tmp_path / "inc.py"
        seed.write_text(seed_code("accept"))
        script = f"/m 2\n{seed}\n/accept\n/save\n/quit\n"
        result = subprocess.run(
            [sys.executable, "run.py", "chat", "--base-url", server.base_url, "--model", server.model,
             "--out", str(tmp_path / "out"), "--n-candidates", "3", "--workers", "2", "--max-retries", "0"],
            input=script, capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "pass matrix (3 candidates × 2 tests)" in result.stdout and "status: accepted" in result.stdout
    [sft] = rows(tmp_path / "out" / "sft.jsonl")
    assert sft["provenance"]["path"] == str(seed) and sft["provenance"]["language"] == "python"
