"""A record's pass matrix, its trusted tests and who gets timed, without a sandbox (plain Python, no numpy)."""

from __future__ import annotations

import numpy as np
import pytest

from tools.errors import SandboxError
from tools.sandbox.models import CheckResult, Status
from tools.verification import Efficiency, PassMatrix, VerifyConfig, VerifyResult, VerifyTask
from tools.verification.task import TaskRun, _timing_plan, trusted_tests

P, F = Status.PASSED.value, Status.FAILED.value


def result(matrix: list[list[str]], n: int, m: int, top: int | None, suspect: list[str | None] | None = None,
           candidates: list[str] | None = None) -> VerifyResult:
    return VerifyResult(
        task_id="t", prompt="", language="python", candidates=candidates or [f"c{i}" for i in range(n)],
        tests=[f"t{j}" for j in range(m)], matrix=matrix, exec_s=[], errors=[], scores={}, test_scores={},
        ranker="bayes", top_candidate=top, efficiency=Efficiency(), pairs=[], timing_s={},
        suspect=suspect if suspect is not None else [None] * n)


def test_the_pass_matrix_of_a_record() -> None:
    record = result([[P, F, "timeout"], ["error", P, P]], 2, 3, top=1)
    assert record.passed == PassMatrix(((True, False, False), (False, True, True)), 3)
    assert record.passed.shape == (2, 3)
    assert trusted_tests(record.passed, record.top_candidate) == [1, 2]


def test_a_record_without_candidates_still_knows_its_tests() -> None:
    record = result([], 0, 4, top=None)
    assert record.passed.shape == (0, 4)
    assert trusted_tests(record.passed, None) == [0, 1, 2, 3]


def test_a_record_whose_sandbox_failed_has_no_pass_matrix() -> None:
    run = TaskRun(VerifyTask(task_id="t", candidates=["def f():\n    return 1\n"], tests=["assert f() == 1"]),
                  VerifyConfig())
    failed = run.failed(SandboxError("lost twice"))
    with pytest.raises(ValueError, match="0 matrix cells for 1 candidates × 1 tests"):
        _ = failed.passed


def test_trusted_tests_take_any_matrix() -> None:
    rows = [[True, False, True], [False, True, False]]
    for given in (rows, np.array(rows), PassMatrix(tuple(map(tuple, rows)), 3)):
        assert trusted_tests(given, 0) == [0, 2]
        assert trusted_tests(given, 1) == [1]
        assert trusted_tests(given, None) == [0, 1, 2]
    assert trusted_tests(np.zeros((0, 5), dtype=bool), None) == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="2-D"):
        trusted_tests(np.zeros((2, 2, 2), dtype=bool), 0)


def test_only_unsuspected_candidates_passing_every_trusted_test_are_timed() -> None:
    # top 0 passes tests 0 and 2; 1 passes them too (and more), 2 misses test 2, 3 is suspect, 4 repeats 0's code
    matrix = [[P, F, P], [P, P, P], [P, P, F], [P, F, P], [P, F, P]]
    record = result(matrix, 5, 3, top=0, suspect=[None, None, None, "os._exit", None],
                    candidates=["a", "b", "c", "d", "a"])
    trusted, timed, joined = _timing_plan(record, VerifyConfig())
    assert (trusted, timed, joined) == ([0, 2], [0, 1, 4], "t0\n\nt2")
    assert _timing_plan(record, VerifyConfig(repeats=0)) == ([], [], "")


def test_one_distinct_code_passing_is_not_timed() -> None:
    record = result([[P, P], [P, P], [F, P]], 3, 2, top=0, candidates=["a", "a", "b"])
    assert _timing_plan(record, VerifyConfig()) == ([0, 1], [], "")


def test_a_task_run_scores_its_matrix_in_input_order() -> None:
    task = VerifyTask(task_id="t", candidates=["def f():\n    return 1\n", "def f():\n    return 2\n"],
                      tests=["assert f() == 1", "assert f() == 2", "assert f() in (1, 2)"])
    run = TaskRun(task, VerifyConfig(repeats=0))
    checks = run.next_checks()
    assert checks is not None and len(checks) == 6
    statuses = [Status.PASSED, Status.FAILED, Status.PASSED, Status.FAILED, Status.PASSED, Status.PASSED]
    run.feed([CheckResult(status=status) for status in statuses])
    assert run.next_checks() == []
    run.feed([])
    assert run.result is not None and run.next_checks() is None
    assert run.result.passed == PassMatrix(((True, False, True), (False, True, True)), 3)
    assert run.result.scores["max_pass"] == [2 / 3, 2 / 3]
    assert run.result.top_candidate == 0  # a tie goes to the first
