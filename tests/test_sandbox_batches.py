"""Python checks that reach a worker together are forked together, then run one at a time
(`worker.BATCH_MAX`): each still gets its own verdict, clock, CPU account and clean slate, and checks
still waiting when the parent goes away are dropped, not left behind.

The requests are written to a real worker in one write, so that it finds them all waiting."""

from __future__ import annotations

import time

import pytest

from tools.sandbox import Limits, protocol
from tools.sandbox.isolation import plan_slots
from tools.sandbox.slots import WorkerProcess

LIMITS = Limits(timeout_s=2.0, cpu_s=3.0).model_dump()
BURN = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end:\n    pass\n"


@pytest.fixture
def worker() -> WorkerProcess:
    process = WorkerProcess(plan_slots(1)[0])
    process.wait_ready()
    yield process
    process.stop()


def together(worker: WorkerProcess, checks: list[tuple[str, str]]) -> list[dict]:
    """Send every check in one write, then read one reply each, in order."""
    frames = b"".join(protocol.frame({"language": "python", "code": code, "test": test, "limits": LIMITS})
                      for code, test in checks)
    protocol.write_all(worker.requests_pipe.fileno(), frames)
    return [worker.receive(time.monotonic() + 30) for _ in checks]


def test_checks_forked_together_keep_their_own_verdicts_and_cpu(worker: WorkerProcess) -> None:
    burn, trivial, failing, broken = together(worker, [(BURN, "assert True"), ("x = 1", "assert x == 1"),
                                                       ("x = 1", "assert x == 2"), ("def f(:", "pass")])
    assert [reply["status"] for reply in (burn, trivial, failing, broken)] == ["passed", "passed", "failed", "error"]
    assert burn["cpu_s"] >= 0.25  # its own burn, measured outside it
    assert trivial["cpu_s"] < 0.15 and failing["cpu_s"] < 0.15  # none of the burn, though they waited through it
    assert trivial["exec_s"] < 0.15  # its clock starts at its turn, not at its fork


def test_a_check_that_hangs_in_a_batch_marks_only_itself(worker: WorkerProcess) -> None:
    hang, after = together(worker, [("import time\ntime.sleep(30)", "pass"), ("x = 1", "assert x == 1")])
    assert hang["status"] == "timeout"
    assert after["status"] == "passed"


def test_what_a_check_leaves_running_is_gone_before_the_next_one_starts(worker: WorkerProcess) -> None:
    """The first check leaves a detached process that keeps touching /tmp/alive; the second, forked before
    it ran, waits a little and finds nothing there (the private /tmp is cleaned between checks)."""
    leave = ("import subprocess, sys, time\n"
             "subprocess.Popen([sys.executable, '-c', 'import time\\nwhile True:\\n    "
             "open(\"/tmp/alive\", \"w\").close()\\n    time.sleep(0.01)'], start_new_session=True)\n"
             "time.sleep(0.2)\nimport os\nassert os.path.exists('/tmp/alive')")
    look = "import os, time\ntime.sleep(0.2)\nalive = os.path.exists('/tmp/alive')"
    left, seen = together(worker, [(leave, "pass"), (look, "assert not alive")])
    assert left["status"] == "passed", left
    assert seen["status"] == "passed", seen  # nothing the first check started runs when the second does


def test_checks_still_waiting_when_the_parent_goes_away_are_dropped(worker: WorkerProcess) -> None:
    frames = b"".join(protocol.frame({"language": "python", "code": "import time\ntime.sleep(0.3)", "test": "pass",
                                      "limits": LIMITS}) for _ in range(3))
    protocol.write_all(worker.requests_pipe.fileno(), frames)
    worker.ask_to_stop()  # the replies have nowhere to go: the worker stops at the first
    assert worker.process.wait(timeout=20) is not None  # it cleaned up and exited, waiting for nothing
