"""Efficiency: time the trusted-correct candidates on the trusted tests, with repeats, robustly.

A candidate's time is the median of `repeats` runs, measured by default as the child's CPU time
(`CheckResult.cpu_s`): on a busy machine wall-clock time (`exec_s`) mostly measures the other processes
(on our shared 2-core box its spread was 5× that of CPU time; see benchmarks/efficiency_noise.py). CPU
time includes a constant few milliseconds of process start-up, which only makes speed-ups look smaller
(conservative): code that runs for microseconds never yields a pair. A pair only
counts as "faster" when the medians differ by at least `min_speedup` (a ratio), by at least
`min_time_gap_s`, and the runs do not overlap at all (the slow one's fastest run is slower than the fast
one's slowest run), so that scheduling noise cannot make a label.
"""

from __future__ import annotations

import statistics
from typing import Literal, TypeVar

from pydantic import BaseModel, Field

from tools.sandbox.models import Check, CheckResult, Limits, Status

Result = TypeVar("Result")


class Timing(BaseModel):
    """Measured execution times of one candidate on the trusted tests."""

    runs_s: list[float]
    median_s: float
    min_s: float
    max_s: float


Clock = Literal["cpu", "exec"]


class Efficiency(BaseModel):
    """What was timed, how, and what came out; `timings` is per candidate, None where not timed."""

    clock: Clock = "cpu"  # cpu: CheckResult.cpu_s; exec: CheckResult.exec_s (wall time inside the child)
    trusted_tests: list[int] = Field(default_factory=list)
    timed_candidates: list[int] = Field(default_factory=list)
    repeats: int = 0
    min_speedup: float = 0.0
    timings: list[Timing | None] = Field(default_factory=list)
    fastest: int | None = None
    slowest: int | None = None
    speedup: float | None = None  # slowest median / fastest median


def timing_checks(candidates: list[str], timed: list[int], test: str, language: str, repeats: int,
                  limits: Limits | None) -> list[Check]:
    """Repeat-major order, so a burst of load spreads over all candidates instead of hitting one."""
    return [Check(code=candidates[index], test=test, language=language, limits=limits)
            for _ in range(repeats) for index in timed]


def run_plan(checks: list[Check]) -> list[int | None]:
    """The order to run timing checks in, as indices into `checks`: as given (repeat-major) for Python.
    For JavaScript, candidate-major, so that a candidate's runs share one Node runner (a fresh runner per
    run costs more than most code it times), each group led by a warm-up run (None: run `checks` of the
    next index, result dropped) that takes the runner's start-up out of the figures."""
    if not checks or checks[0].language != "javascript":
        return list(range(len(checks)))
    plan: list[int | None] = []
    for index in sorted(range(len(checks)), key=lambda k: (checks[k].code, k)):
        if not plan or plan[-1] is None or checks[plan[-1]].code != checks[index].code:
            plan.append(None)
        plan.append(index)
    return plan


def planned_checks(checks: list[Check], plan: list[int | None]) -> list[Check]:
    """The checks to run for `plan` (a warm-up repeats the check after it)."""
    chosen: list[Check] = []
    for index, after in zip(plan, [*plan[1:], None], strict=True):
        run = after if index is None else index
        if run is None:
            raise ValueError("a warm-up must be followed by the run it warms up")
        chosen.append(checks[run])
    return chosen


def in_given_order(plan: list[int | None], results: list[Result]) -> list[Result]:
    """Results run by `plan`, warm-ups dropped, put back in the checks' given order."""
    kept = {index: result for index, result in zip(plan, results, strict=True) if index is not None}
    return [kept[index] for index in range(len(kept))]


def summarise(n_candidates: int, timed: list[int], results: list[CheckResult], repeats: int,
              trusted_tests: list[int], min_speedup: float, clock: Clock = "cpu") -> Efficiency:
    """Fold the timing runs into per-candidate medians; a candidate with any non-passing run is not timed."""
    runs: dict[int, list[float]] = {index: [] for index in timed}
    broken: set[int] = set()
    for position, result in enumerate(results):
        index = timed[position % len(timed)]
        if result.status is Status.PASSED:
            runs[index].append(result.cpu_s if clock == "cpu" else result.exec_s)
        else:
            broken.add(index)
    timings: list[Timing | None] = [None] * n_candidates
    for index, values in runs.items():
        if index not in broken and values:
            timings[index] = Timing(runs_s=values, median_s=statistics.median(values), min_s=min(values),
                                    max_s=max(values))
    measured = {i: timing for i in timed if (timing := timings[i]) is not None}
    efficiency = Efficiency(clock=clock, trusted_tests=trusted_tests, timed_candidates=timed, repeats=repeats,
                            min_speedup=min_speedup, timings=timings)
    if measured:
        efficiency.fastest = min(measured, key=lambda i: measured[i].median_s)
        efficiency.slowest = max(measured, key=lambda i: measured[i].median_s)
        fast = measured[efficiency.fastest].median_s
        efficiency.speedup = measured[efficiency.slowest].median_s / fast if fast > 0 else None
    return efficiency


def clearly_faster(fast: Timing, slow: Timing, min_speedup: float, min_time_gap_s: float) -> bool:
    """True only when the difference cannot be noise (see the module docstring)."""
    return (slow.median_s >= min_speedup * fast.median_s
            and slow.median_s - fast.median_s >= min_time_gap_s
            and slow.min_s > fast.max_s)
