"""SIGTERM stops every command as Ctrl-C does: one `interrupted` line, exit 143, no traceback (not even from a
sandbox worker whose parent went away mid-check), no worker left behind, and the rows already written intact."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tools.benchmark_data import load_benchmark

ROOT = Path(__file__).resolve().parent.parent
SLOW_S = 3  # how long the check in flight runs: long enough to be caught running, short enough for a test
FAST = {"task_id": "fast", "candidates": ["def f():\n    return 1\n"], "tests": ["assert f() == 1"]}
SLOW = {"task_id": "slow", "candidates": [f"import time\ndef f():\n    time.sleep({SLOW_S})\n    return 1\n"],
        "tests": ["assert f() == 1"]}


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every process this test can see."""
    table: dict[int, tuple[int, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        table[int(entry.name)] = (int(stat.rsplit(")", 1)[1].split()[1]), command)
    return table


def descendants(pid: int) -> dict[int, str]:
    """Every process below `pid`, with its command line."""
    table = _processes()
    found: dict[int, str] = {}
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for child, (ppid, command) in table.items():
            if ppid == parent and child not in found:
                found[child] = command
                frontier.append(child)
    return found


def _is_worker(command: str) -> bool:
    return "tools/sandbox/start_worker.py" in command and not command.startswith("unshare")


def check_running(pid: int) -> bool:
    """A sandbox worker below `pid` has a check child (the worker forks one per check)."""
    table = _processes()
    below = descendants(pid)
    return any(_is_worker(below.get(table[child][0], "")) for child in below if child in table)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[str], what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert process.poll() is None, f"the command ended before {what}: {process.stderr.read()[-2000:]}"
        assert time.monotonic() < deadline, f"no {what} within {timeout_s:g} s"
        time.sleep(0.05)


def wait_gone(pids: list[int], timeout_s: float = 30) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while (left := [pid for pid in pids if alive(pid)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def start(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "run.py", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def stopped(process: subprocess.Popen[str]) -> str:
    """stderr once the command and everything that inherited its stderr (the sandbox workers) have ended."""
    try:
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    return err


@pytest.fixture
def verify_input(tmp_path: Path) -> tuple[Path, Path]:
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps(FAST) + "\n" + json.dumps(SLOW) + "\n")
    return source, tmp_path / "out.jsonl"


def started_verify(source: Path, out: Path) -> tuple[subprocess.Popen[str], list[int]]:
    """`verify` on one worker, caught with the fast task written and the slow one's check running; and the pids
    of everything it started."""
    process = start(["verify", str(source), "--out", str(out), "--workers", "1", "--timeout", str(SLOW_S * 4),
                     "--repeats", "0"])
    wait_for(lambda: out.exists() and out.read_text().endswith("\n"), process, "row written")
    wait_for(lambda: check_running(process.pid), process, "check running")
    below = descendants(process.pid)
    assert any(_is_worker(command) for command in below.values()), below
    return process, list(below)


def test_sigterm_stops_verify_with_one_line_and_143_and_keeps_the_rows(verify_input: tuple[Path, Path]) -> None:
    source, out = verify_input
    process, started = started_verify(source, out)
    process.send_signal(signal.SIGTERM)
    err = stopped(process)
    assert process.returncode == 143, err[-2000:]
    assert [line for line in err.splitlines() if "interrupted" in line] == ["interrupted (SIGTERM)"], err
    assert "Traceback" not in err and not any(line.startswith("error") for line in err.splitlines()), err
    assert wait_gone(started) == [], "sandbox processes outlived the command"
    rows = [json.loads(line) for line in out.read_text().splitlines()]  # every line whole
    assert [row["task_id"] for row in rows] == ["fast"] and rows[0]["matrix"] == [["passed"]]
    done = subprocess.run([sys.executable, "run.py", "verify", str(source), "--out", str(out), "--workers", "1",
                           "--timeout", str(SLOW_S * 4), "--repeats", "0"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and "resuming: 1 task(s)" in done.stderr, done.stderr[-2000:]
    assert sorted(json.loads(line)["task_id"] for line in out.read_text().splitlines()) == ["fast", "slow"]


def test_a_second_sigterm_stops_at_once_and_the_orphaned_worker_exits_quietly(
        verify_input: tuple[Path, Path]) -> None:
    source, out = verify_input
    process, started = started_verify(source, out)
    process.send_signal(signal.SIGTERM)
    wait_for(lambda: not _sigterm_handled(process.pid), process, "the first SIGTERM handled")
    process.send_signal(signal.SIGTERM)  # the default action now, unless the first one has already finished
    err = stopped(process)  # returns once the orphaned worker (it holds our stderr) has ended too
    # The first SIGTERM cancels the check in flight and closes the sandbox in milliseconds, so the second one
    # may land after the command has exited on its own (143); either way nothing is left and nothing is torn.
    assert process.returncode in (-signal.SIGTERM, 143), err[-2000:]
    assert "Traceback" not in err and "ChannelClosed" not in err and "BrokenPipe" not in err, err
    assert wait_gone(started) == [], "sandbox processes outlived the command"
    assert [json.loads(line)["task_id"] for line in out.read_text().splitlines()] == ["fast"]


def test_a_killed_command_orphans_its_worker_which_exits_quietly(verify_input: tuple[Path, Path]) -> None:
    """SIGKILL gives the command no say: its worker, mid-check, finds its parent gone and ends without a
    word on the stderr it shares, and the rows already written stay whole."""
    source, out = verify_input
    process, started = started_verify(source, out)
    process.kill()
    err = stopped(process)  # returns once the orphaned worker (it holds our stderr) has ended too
    assert process.returncode == -signal.SIGKILL
    assert "Traceback" not in err and "ChannelClosed" not in err and "BrokenPipe" not in err, err
    assert wait_gone(started) == [], "sandbox processes outlived the command"
    assert [json.loads(line)["task_id"] for line in out.read_text().splitlines()] == ["fast"]


def _sigterm_handled(pid: int) -> bool:
    """True while `pid` still catches SIGTERM (bit 15 of SigCgt); the first one resets it to the default."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    for line in status.splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
    return False


def test_sigterm_stops_evaluate_with_one_line_and_143(tmp_path: Path) -> None:
    problem = load_benchmark("humaneval")[0]
    samples = tmp_path / "samples.jsonl"
    slow = f"    import time\n    time.sleep({SLOW_S})\n" + problem.solution
    samples.write_text(json.dumps({"task_id": problem.task_id, "completion": slow}) + "\n")
    results = tmp_path / "results.jsonl"
    process = start(["evaluate", str(samples), "--benchmark", "humaneval", "--k", "1", "--workers", "1",
                     "--timeout", str(SLOW_S), "--results", str(results)])  # (its tests call it often: cut it short)
    wait_for(lambda: check_running(process.pid), process, "check running")
    started = list(descendants(process.pid))
    process.send_signal(signal.SIGTERM)
    err = stopped(process)
    assert process.returncode == 143, err[-2000:]
    assert [line for line in err.splitlines() if "interrupted" in line] == ["interrupted (SIGTERM)"], err
    assert "Traceback" not in err, err
    assert wait_gone(started) == [], "sandbox processes outlived the command"
    assert not results.exists()  # stopped before the end: no partial results file


def test_sigterm_in_process_is_an_interrupt_and_the_handler_is_restored(monkeypatch: pytest.MonkeyPatch,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    import graphs.app.commands.verify as verify
    from run import main

    seen: list[object] = []

    def terminated(args: object) -> int:
        seen.append(signal.getsignal(signal.SIGTERM))
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # (the handler interrupts this sleep: the test never waits for it)
        raise AssertionError("SIGTERM did not interrupt the command")

    def not_handled(signum: int, frame: object) -> None:  # (without it, a regression would kill pytest)
        raise RuntimeError("SIGTERM reached the handler that was there before main()")

    monkeypatch.setattr(verify, "run", terminated)
    before = signal.signal(signal.SIGTERM, not_handled)
    try:
        assert main(["verify", "x", "--out", "y"]) == 143
        assert capsys.readouterr().err.splitlines() == ["interrupted (SIGTERM)"]
        assert signal.getsignal(signal.SIGTERM) is not_handled and seen and seen[0] is not not_handled
    finally:
        signal.signal(signal.SIGTERM, before)

    def ctrl_c(args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(verify, "run", ctrl_c)
    assert main(["verify", "x", "--out", "y"]) == 130
    assert capsys.readouterr().err.splitlines() == ["interrupted"]
