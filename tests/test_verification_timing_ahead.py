"""JavaScript candidates are timed in the runner of their own tests (`task.timing_ahead`): a Node runner costs
more to start than most code it times, so where the trusted tests are all the tests, the timing round and
its second runner per candidate are skipped; otherwise the runs made ahead are dropped and the round runs."""

from __future__ import annotations

from tools.sandbox.models import CheckResult, Status
from tools.verification.task import TaskRun, VerifyConfig, VerifyTask

FAST, SLOW = "function f(n) { return n; }", "function f(n) { let s = 0; while (s < n) s++; return s; }"
TESTS = ["assert.strictEqual(f(1), 1);", "assert.strictEqual(f(2), 2);"]
CONFIG = VerifyConfig(repeats=3, min_speedup=1.3)


def results(checks: list, passes: list[bool], cpu: dict[str, float]) -> list[CheckResult]:
    """One result per check: matrix cells by `passes` (row-major, in order), timing runs by the code's cpu."""
    cells = iter(passes)
    out = []
    for check in checks:
        timing = check.test == "\n\n".join(TESTS)
        passed = True if timing else next(cells)
        out.append(CheckResult(status=Status.PASSED if passed else Status.FAILED, cpu_s=cpu[check.code] if timing
                               else 0.001, exec_s=0.001, wall_s=0.01))
    return out


def test_javascript_candidates_are_timed_in_their_own_runner_when_every_test_is_trusted() -> None:
    run = TaskRun(VerifyTask(task_id="t", language="javascript", candidates=[SLOW, FAST], tests=TESTS), CONFIG)
    checks = run.next_checks()
    assert checks is not None and len(checks) == 2 * (2 + 1 + 3)  # per candidate: its tests, a warm-up, 3 runs
    assert [c.code for c in checks] == [SLOW] * 6 + [FAST] * 6  # consecutive: one runner each
    run.feed(results(checks, [True] * 4, {SLOW: 0.05, FAST: 0.01}))
    assert run.next_checks() is None  # no timing round
    efficiency = run.result.efficiency
    assert efficiency.trusted_tests == [0, 1] and efficiency.timed_candidates == [0, 1]
    assert efficiency.fastest == 1 and efficiency.slowest == 0 and round(efficiency.speedup, 1) == 5.0
    assert [len(t.runs_s) for t in efficiency.timings] == [3, 3]  # the warm-up is dropped
    assert any(pair.kind == "efficiency" for pair in run.result.pairs)


def test_when_the_trusted_tests_are_not_all_the_tests_the_timing_round_runs_as_planned() -> None:
    third = "function f(n) { return n === 2 ? 2 : n; }"
    tests = [*TESTS, "assert.strictEqual(f(3), 4);"]  # a wrong test: the top candidate fails it
    run = TaskRun(VerifyTask(task_id="t", language="javascript", candidates=[SLOW, FAST, third], tests=tests),
                  CONFIG)
    checks = run.next_checks()
    assert checks is not None and len(checks) == 3 * (3 + 4)
    cells = iter([True, True, False] * 3)
    run.feed([CheckResult(status=Status.PASSED if c.test == "\n\n".join(tests) or next(cells) else Status.FAILED,
                          cpu_s=0.01, wall_s=0.01) for c in checks])
    timing = run.next_checks()
    assert timing and all(c.test == "\n\n".join(TESTS) for c in timing)  # trusted: the first two only
    run.feed([CheckResult(status=Status.PASSED, cpu_s=0.01, wall_s=0.01) for _ in timing])
    assert run.next_checks() is None and run.result.efficiency.trusted_tests == [0, 1]


def test_python_and_untimeable_tasks_get_no_runs_ahead() -> None:
    python = TaskRun(VerifyTask(task_id="p", candidates=["x = 1", "x = 2"], tests=["assert x"]), CONFIG)
    assert len(python.next_checks() or []) == 2
    one = TaskRun(VerifyTask(task_id="j", language="javascript", candidates=[FAST, FAST], tests=TESTS), CONFIG)
    assert len(one.next_checks() or []) == 4  # one distinct candidate: no efficiency pair is possible
    untimed = TaskRun(VerifyTask(task_id="j", language="javascript", candidates=[SLOW, FAST], tests=TESTS),
                      VerifyConfig(repeats=0))
    assert len(untimed.next_checks() or []) == 4
