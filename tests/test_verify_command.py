"""`run.py verify`: the output contract, bad lines, incremental output and resuming."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from run import main

ROOT = Path(__file__).resolve().parent.parent
GOOD = {"task_id": "double", "prompt": "double x", "candidates": ["def f(x):\n    return 2 * x\n",
                                                              "def f(x):\n    return x + 1\n"],
        "tests": ["assert f(1) == 2", "assert f(3) == 6", "assert f(2) == 3  # wrong", "assert f(0) == 0"]}
OTHER = {"task_id": 7, "candidates": ["def g():\n    return 1\n"], "tests": ["assert g() == 1"]}
CONTRACT = {"task_id", "matrix", "scores", "test_scores", "pairs", "efficiency", "exec_s"}
FAST = ["--workers", "2", "--timeout", "2", "--repeats", "1"]


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_bad_lines_are_named_and_skipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write_lines(tmp_path / "in.jsonl", [
        json.dumps(GOOD), "{not json", json.dumps({"task_id": "x", "candidates": []}), json.dumps(OTHER),
        json.dumps(GOOD),
    ])
    out = tmp_path / "out.jsonl"
    assert main(["verify", str(source), "--out", str(out), *FAST]) == 0
    err = capsys.readouterr().err
    assert f"{source}:2: skipped" in err and "Invalid JSON" in err
    assert f"{source}:3: skipped: tests: Field required" in err
    assert f"{source}:5: skipped: duplicate task_id 'double'" in err
    written = {row["task_id"]: row for row in rows(out)}
    assert set(written) == {"double", "7"}
    double = written["double"]
    assert set(double) >= CONTRACT
    assert double["matrix"] == [["passed", "passed", "failed", "passed"], ["passed", "failed", "passed", "failed"]]
    assert set(double["scores"]) >= {"pagerank", "codet", "max_pass", "bayes"}
    assert all(len(v) == 2 for v in double["scores"].values())
    assert all(len(v) == 4 for v in double["test_scores"].values())
    assert double["pairs"][0]["chosen"] == GOOD["candidates"][0]


def test_rerun_resumes_without_duplicates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write_lines(tmp_path / "in.jsonl", [json.dumps(GOOD)])
    out = tmp_path / "out.jsonl"
    assert main(["verify", str(source), "--out", str(out), *FAST]) == 0
    first = out.read_text()
    assert main(["verify", str(source), "--out", str(out), *FAST]) == 0
    assert out.read_text() == first
    assert "resuming: 1 task(s)" in capsys.readouterr().err
    write_lines(source, [json.dumps(GOOD), json.dumps(OTHER)])
    assert main(["verify", str(source), "--out", str(out), *FAST]) == 0
    assert sorted(row["task_id"] for row in rows(out)) == ["7", "double"]


def test_a_torn_last_line_is_redone(tmp_path: Path) -> None:
    source = write_lines(tmp_path / "in.jsonl", [json.dumps(GOOD), json.dumps(OTHER)])
    out = tmp_path / "out.jsonl"
    assert main(["verify", str(source), "--out", str(out), *FAST]) == 0
    complete = out.read_text().splitlines()
    out.write_text(complete[0] + "\n" + complete[1][:40])  # killed in the middle of the second line
    assert main(["verify", str(source), "--out", str(out), *FAST]) == 0
    assert sorted(row["task_id"] for row in rows(out)) == ["7", "double"]


def test_the_readme_example(tmp_path: Path) -> None:
    out = tmp_path / "verified.jsonl"
    assert main(["verify", str(ROOT / "examples" / "verify.jsonl"), "--out", str(out),
                 "--workers", "2", "--timeout", "1", "--repeats", "3"]) == 0
    written = {row["task_id"]: row for row in rows(out)}
    assert set(written) == {"add", "fib", "is_palindrome", "js/sum"}
    add = written["add"]
    assert add["test_scores"]["bayes"][2] < 0.5 < min(add["test_scores"]["bayes"][:2])  # the wrong test
    fib = written["fib"]
    assert fib["matrix"][3] == ["timeout"] * 3
    assert [p["kind"] for p in fib["pairs"]] == ["correctness", "efficiency"]
    palindrome = written["is_palindrome"]
    assert max(range(5), key=lambda i: palindrome["scores"]["bayes"][i]) == 0


def test_missing_input_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o.jsonl")]) == 1
    assert "error: input not found" in capsys.readouterr().err


def test_a_host_readable_sandbox_is_one_warning_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """Without namespaces the checks could read this machine's files: `verify` says so in one line (printed
    once the first tasks are queued, with the progress bar) and still verifies."""
    from tools.sandbox import isolation

    monkeypatch.setattr(isolation, "namespaces_available", lambda: (False, False, False))
    source = write_lines(tmp_path / "in.jsonl", [json.dumps(GOOD), json.dumps(OTHER)])
    out = tmp_path / "out.jsonl"
    assert main(["verify", str(source), "--out", str(out), *FAST]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "checks can read this machine's files" in warnings[0], warnings
    assert sorted(row["task_id"] for row in rows(out)) == ["7", "double"]


@pytest.mark.parametrize("terminal", [True, False])
def test_the_progress_bar_is_drawn_on_a_terminal_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str], terminal: bool) -> None:
    """A log or pipe gets the summary line alone: a bar there would only be drawn once, finished."""
    from rich.console import Console

    from graphs.app.commands import verify

    monkeypatch.setattr(verify, "on_terminal", lambda: terminal)
    monkeypatch.setattr(verify, "console", lambda: Console(stderr=True, force_terminal=True))
    source = write_lines(tmp_path / "in.jsonl", [json.dumps(GOOD), json.dumps(OTHER)])
    assert main(["verify", str(source), "--out", str(tmp_path / "out.jsonl"), *FAST]) == 0
    err = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", capsys.readouterr().err)  # a terminal's colours
    assert ("━" in err) is terminal and "verified 2 task(s)" in err


def test_the_workers_are_sent_the_first_python_sources_read_with_plain_json(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before validation: garbage, JavaScript and malformed fields are passed over, repeats sent once, and
    the caps end the reading."""
    from graphs.app.commands import verify

    lines = ["not json", "[1, 2]", "[" * 100_000, json.dumps({"language": "javascript", "candidates": ["js"],
                                                               "tests": ["t"]}),
             json.dumps({"candidates": "a string", "tests": [1, None, "assert f(1) == 2"]}),
             json.dumps(GOOD), json.dumps(GOOD), json.dumps({"candidates": ["x = 1"], "tests": ["assert x == 1"]})]
    source = write_lines(tmp_path / "in.jsonl", lines)
    expected = [("test", "assert f(1) == 2"), *(("code", code) for code in GOOD["candidates"]),
                *(("test", test) for test in GOOD["tests"] if test != "assert f(1) == 2"),
                ("code", "x = 1"), ("test", "assert x == 1")]
    assert list(verify.first_python_sources(source)) == expected
    monkeypatch.setattr(verify, "PRECOMPILE_SOURCES", 2)
    assert list(verify.first_python_sources(source)) == expected[:2]
    monkeypatch.setattr(verify, "PRECOMPILE_SOURCES", 512)
    monkeypatch.setattr(verify, "PRECOMPILE_LINES", 5)
    assert list(verify.first_python_sources(source)) == expected[:1]
    assert list(verify.first_python_sources(tmp_path / "missing.jsonl")) == []


def test_a_log_or_pipe_gets_plain_lines_and_rich_is_never_loaded(tmp_path: Path) -> None:
    """On a pipe the lines are plain text, unwrapped, markup-like text kept as it is, and the command does
    not spend CPU loading rich."""
    bad = {"task_id": "bad", "candidates": "not a list", "tests": []}
    folder = tmp_path / "[bold red]runs"  # named in the line about the bad line: printed, not interpreted
    folder.mkdir()
    source = write_lines(folder / "in.jsonl", [json.dumps(GOOD), json.dumps(bad)])
    probe = ("import sys; from run import main; code = main(sys.argv[1:]); "
             "print(sorted(m for m in sys.modules if m.split('.')[0] == 'rich')); sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", probe, "verify", str(source), "--out", str(tmp_path / "o.jsonl"),
                           *FAST], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    lines = done.stderr.splitlines()
    assert "\x1b" not in done.stderr and lines[-1].startswith("verified 1 task(s)"), lines
    assert any(line.startswith(f"{source}:2: skipped:") for line in lines), lines


def test_verify_runs_with_stderr_closed(tmp_path: Path) -> None:
    """Started with fd 2 closed (`2>&-`; Python's sys.stderr is then None), the command still verifies."""
    source = write_lines(tmp_path / "in.jsonl", [json.dumps(GOOD)])
    out = tmp_path / "out.jsonl"
    done = subprocess.run([sys.executable, "run.py", "verify", str(source), "--out", str(out), *FAST], cwd=ROOT,
                          stdout=subprocess.PIPE, text=True, timeout=300, check=False,
                          preexec_fn=lambda: os.close(2))
    assert done.returncode == 0
    assert [row["task_id"] for row in rows(out)] == ["double"]
