"""The whole per-task pipeline: screening → pass matrix → every ranking → efficiency timing → pairs.

`verify_task` (blocking) and `averify_task` (async) share the pure steps; only the two sandbox calls
differ. The result's `to_record()` is the `verify` command's output line contract.

A candidate that touches a verdict-forging primitive — found by static screening, or refused by the
sandbox while it ran — is `suspect`: it keeps its row and scores, but it is never the top candidate (so
it never defines the trusted tests), never timed, and never the chosen side of a pair (it may be the
rejected side: a reward hack is a fine negative example). When the sandbox loses a check twice (its
infrastructure, not the code), the result carries `error` and no matrix, scores or pairs.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from tools.errors import SandboxError
from tools.sandbox.models import Check, CheckResult, Limits, Status
from tools.verification.efficiency import (
    Clock,
    Efficiency,
    in_given_order,
    planned_checks,
    run_plan,
    summarise,
    timing_checks,
)
from tools.verification.pairs import PreferencePair, correctness_pairs, efficiency_pairs
from tools.verification.ranker_names import DEFAULT_PAIR_RANKER
from tools.verification.rankers import RANKERS, MatrixLike, PassMatrix, as_pass_matrix, rank_all
from tools.verification.screening import screen


class VerifyTask(BaseModel):
    """One input line of `verify`: candidates to check against tests."""

    task_id: str
    prompt: str = ""
    language: Literal["python", "javascript"] = "python"
    candidates: list[str]
    tests: list[str]

    @field_validator("task_id", mode="before")
    @classmethod
    def _task_id_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value


class VerifyConfig(BaseModel):
    """Every knob of the pipeline; defaults are what `verify` uses."""

    ranker: str = DEFAULT_PAIR_RANKER  # which ranker's scores drive pairs and trusted tests
    repeats: int = Field(3, ge=0, description="timing runs per candidate; 0 disables efficiency")
    min_speedup: float = Field(1.3, ge=1.0, description="slow/fast median ratio before 'faster' counts")
    min_time_gap_s: float = Field(1e-4, ge=0, description="and at least this absolute difference")
    clock: Clock = "cpu"  # what a timing run measures: the check's CPU time, or its wall time ("exec"); both
    # are measured by the sandbox from outside the code
    min_score_gap: float = Field(0.5, ge=0, le=1, description="score gap for a correctness pair")
    max_correctness_pairs: int = Field(1, ge=0)
    max_efficiency_pairs: int = Field(1, ge=0)
    limits: Limits | None = None  # None: the sandbox's defaults

    @field_validator("ranker")
    @classmethod
    def _known_ranker(cls, value: str) -> str:
        if value not in RANKERS:
            raise ValueError(f"unknown ranker {value!r}; choose from {', '.join(RANKERS)}")
        return value


class VerifyResult(BaseModel):
    """Everything learned about one task; `to_record()` is one `verify` output line."""

    task_id: str
    prompt: str
    language: str
    candidates: list[str]
    tests: list[str]
    matrix: list[list[str]]  # per candidate, one status per test
    exec_s: list[list[float]]  # per cell, in-child execution time
    errors: list[list[str | None]]  # per cell, exception type or signal where there was one
    scores: dict[str, list[float]]  # ranker → one score per candidate, higher is better
    test_scores: dict[str, list[float]]
    ranker: str
    top_candidate: int | None
    efficiency: Efficiency
    pairs: list[PreferencePair]
    timing_s: dict[str, float]  # wall time of each stage
    suspect: list[str | None] = Field(default_factory=list)  # per candidate: why it may forge, or None
    error: str | None = None  # the sandbox's infrastructure failed: no matrix, scores or pairs

    def to_record(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @property
    def passed(self) -> PassMatrix:
        """Which checks passed, candidates × tests; a ValueError for a record without its matrix (`error`)."""
        n, m = len(self.candidates), len(self.tests)
        cells = [status == Status.PASSED for row in self.matrix for status in row]
        if len(cells) != n * m:
            raise ValueError(f"task {self.task_id!r} has {len(cells)} matrix cells for {n} candidates × {m} tests")
        return PassMatrix(tuple(tuple(cells[i * m:(i + 1) * m]) for i in range(n)), m)


def matrix_checks(task: VerifyTask, limits: Limits | None) -> list[Check]:
    """Row-major: candidate i against test j is check i·M + j."""
    return [Check(code=code, test=test, language=task.language, limits=limits)
            for code in task.candidates for test in task.tests]


def timing_ahead(task: VerifyTask, config: VerifyConfig, static: list[str | None]) -> int:
    """How many timing runs (a warm-up, then `repeats`) a JavaScript candidate's matrix runner makes right
    after its tests, on all of them joined: 0 for Python, or where no efficiency pair is possible. A Node
    runner costs more to start than most code it times, so where the trusted tests are all the tests (the
    usual case), these are the timing runs, and the timing round with its second runner per candidate is
    skipped; otherwise they are dropped and the timing round runs as planned."""
    if (task.language != "javascript" or config.repeats == 0 or config.max_efficiency_pairs == 0
            or len({code for code, why in zip(task.candidates, static, strict=True) if why is None}) < 2):
        return 0
    return 1 + config.repeats


def screened(task: VerifyTask) -> list[str | None]:
    """Static screening of every candidate (before anything runs)."""
    return [screen(code, task.language) for code in task.candidates]


def _suspects(static: list[str | None], rows: list[list[CheckResult]]) -> list[str | None]:
    """Static reasons, else the first primitive the sandbox refused while the candidate ran."""
    found = list(static)
    for index, row in enumerate(rows):
        refused = next((cell.refused for cell in row if cell.refused), None)
        if found[index] is None and refused:
            found[index] = f"refused at run time: {refused}"
    return found


def _failed(task: VerifyTask, config: VerifyConfig, suspect: list[str | None], error: SandboxError) -> VerifyResult:
    return VerifyResult(
        task_id=task.task_id, prompt=task.prompt, language=task.language, candidates=task.candidates,
        tests=task.tests, matrix=[], exec_s=[], errors=[], scores={}, test_scores={}, ranker=config.ranker,
        top_candidate=None, efficiency=Efficiency(), pairs=[], timing_s={}, suspect=suspect, error=str(error))


def _score(task: VerifyTask, cells: list[CheckResult], config: VerifyConfig, matrix_s: float,
           static: list[str | None]) -> VerifyResult:
    n, m = len(task.candidates), len(task.tests)
    rows = [cells[i * m:(i + 1) * m] for i in range(n)]
    rankings = rank_all(PassMatrix(tuple(tuple(c.status is Status.PASSED for c in row) for row in rows), m))
    scores = rankings[config.ranker].code_scores
    suspect = _suspects(static, rows) if m else list(static)
    eligible = [i for i in range(n) if suspect[i] is None]
    top = max(eligible, key=lambda i: (scores[i], -i)) if eligible else None
    return VerifyResult(
        task_id=task.task_id, prompt=task.prompt, language=task.language, candidates=task.candidates,
        tests=task.tests, matrix=[[c.status.value for c in row] for row in rows],
        exec_s=[[round(c.exec_s, 6) for c in row] for row in rows],
        errors=[[c.error_type for c in row] for row in rows],
        scores={name: r.code_scores for name, r in rankings.items()},
        test_scores={name: r.test_scores for name, r in rankings.items()},
        ranker=config.ranker, top_candidate=top, efficiency=Efficiency(), pairs=[],
        timing_s={"matrix": round(matrix_s, 4)}, suspect=suspect,
    )


def _timing_plan(result: VerifyResult, config: VerifyConfig) -> tuple[list[int], list[int], str]:
    """Trusted tests (passed by the top candidate), the unsuspected candidates passing all of them, the
    joined test. Nothing is timed where no efficiency pair is possible (fewer than two such candidates)."""
    if result.top_candidate is None or config.repeats == 0 or config.max_efficiency_pairs == 0 \
            or len({code for code, why in zip(result.candidates, result.suspect, strict=True) if why is None}) < 2:
        return [], [], ""
    passed = result.passed
    trusted = trusted_tests(passed, result.top_candidate)
    if not trusted:
        return [], [], ""
    timed = [i for i, row in enumerate(passed.rows) if all(row[j] for j in trusted) and result.suspect[i] is None]
    if len({result.candidates[i] for i in timed}) < 2:
        return trusted, [], ""
    joined = "\n\n".join(result.tests[j] for j in trusted)
    return trusted, timed, joined


def trusted_tests(passed: MatrixLike, top_candidate: int | None) -> list[int]:
    """The tests the top-ranked candidate passes (self-verification); every test when nothing is ranked."""
    matrix = as_pass_matrix(passed)
    if top_candidate is None:
        return list(range(matrix.n_tests))
    return [j for j, hit in enumerate(matrix.rows[top_candidate]) if hit]


def _finish(result: VerifyResult, trusted: list[int], timed: list[int], runs: list[CheckResult],
            config: VerifyConfig, timing_s: float) -> VerifyResult:
    if timed:
        result.efficiency = summarise(len(result.candidates), timed, runs, config.repeats, trusted,
                                      config.min_speedup, config.clock)
        result.timing_s["efficiency"] = round(timing_s, 4)
    scores = result.scores[config.ranker]
    result.pairs = correctness_pairs(result.prompt, result.candidates, scores, config.ranker,
                                     config.min_score_gap, config.max_correctness_pairs, result.top_candidate,
                                     result.suspect)
    result.pairs += efficiency_pairs(result.prompt, result.candidates, result.efficiency,
                                     config.min_time_gap_s, config.max_efficiency_pairs)
    return result


class TaskRun:
    """One task's pipeline as steps, for any driver: `next_checks()` gives the checks of the next sandbox
    round (the matrix, then the timing runs; None when done), `feed()` takes their results in order, and
    `result` holds the record at the end. Screening happens at construction."""

    def __init__(self, task: VerifyTask, config: VerifyConfig) -> None:
        self.task, self.config = task, config
        self.static = screened(task)
        self.result: VerifyResult | None = None
        self._stage = "matrix"
        self._started = time.perf_counter()
        self._plan: tuple[list[int], list[int], list[int | None]] = ([], [], [])
        self._timing: list[Check] = []
        self._ahead = timing_ahead(task, config, self.static)

    def next_checks(self) -> list[Check] | None:
        if self._stage == "matrix":
            task = self.task
            if not (task.candidates and task.tests):
                return []
            checks = matrix_checks(task, self.config.limits)
            if not self._ahead:
                return checks
            m, joined = len(task.tests), "\n\n".join(task.tests)
            return [check for i, code in enumerate(task.candidates) for check in
                    (*checks[i * m:(i + 1) * m], *[Check(code=code, test=joined, language=task.language,
                                                         limits=self.config.limits)] * self._ahead)]
        if self._stage == "timing":
            return self._timing
        return None

    def feed(self, results: list[CheckResult]) -> None:
        if self._stage == "matrix":
            ahead: list[list[CheckResult]] = []
            if self._ahead:  # each candidate's row, then its timing runs on all the tests (a warm-up first)
                width = len(self.task.tests) + self._ahead
                rows = [results[i * width:(i + 1) * width] for i in range(len(self.task.candidates))]
                results = [cell for row in rows for cell in row[:len(self.task.tests)]]
                ahead = [row[len(self.task.tests):] for row in rows]
            self.result = _score(self.task, results, self.config, time.perf_counter() - self._started,
                                 self.static)
            trusted, timed, joined = _timing_plan(self.result, self.config)
            if ahead and timed and trusted == list(range(len(self.task.tests))):  # what was timed ahead is the plan
                runs = [ahead[index][1 + repeat] for repeat in range(self.config.repeats) for index in timed]
                self.result = _finish(self.result, trusted, timed, runs, self.config,
                                      sum(run.wall_s for row in ahead for run in row))
                self._stage = "done"
                return
            timing = timing_checks(self.task.candidates, timed, joined, self.task.language, self.config.repeats,
                                   self.config.limits)
            plan = run_plan(timing)
            self._plan, self._timing = (trusted, timed, plan), planned_checks(timing, plan) if timed else []
            self._stage, self._started = "timing", time.perf_counter()
        elif self._stage == "timing":
            assert self.result is not None
            trusted, timed, plan = self._plan
            runs = in_given_order(plan, results) if timed else []
            self.result = _finish(self.result, trusted, timed, runs, self.config, time.perf_counter() - self._started)
            self._stage = "done"

    def failed(self, error: SandboxError) -> VerifyResult:
        """The record when the sandbox lost a check twice: no matrix, scores or pairs."""
        self.result, self._stage = _failed(self.task, self.config, self.static, error), "done"
        return self.result


def verify_task(sandbox: Any, task: VerifyTask, config: VerifyConfig | None = None) -> VerifyResult:
    """Screen, run the matrix, score it with every ranker, time the trusted-correct candidates, build pairs."""
    run = TaskRun(task, config or VerifyConfig())
    try:
        while (checks := run.next_checks()) is not None:
            run.feed(sandbox.run(checks) if checks else [])
    except SandboxError as error:
        return run.failed(error)
    assert run.result is not None
    return run.result


async def averify_task(sandbox: Any, task: VerifyTask, config: VerifyConfig | None = None) -> VerifyResult:
    """`verify_task` for an event loop: the sandbox work is awaited, not blocked on."""
    run = TaskRun(task, config or VerifyConfig())
    try:
        while (checks := run.next_checks()) is not None:
            run.feed(await sandbox.arun(checks) if checks else [])
    except SandboxError as error:
        return run.failed(error)
    assert run.result is not None
    return run.result
