"""Self-verification rankers: score candidates and tests from a boolean pass matrix (N codes × M tests).

Every ranker takes only the matrix, so rankers are swapped (or re-scored in a benchmark) without
re-running any code. Scores are in [0, 1], one per candidate in input order, higher is better.

- `pagerank`: CodeDPO's mutual reinforcement of codes and tests on the pass graph.
- `codet` / `codet_sqrt`: CodeT's dual execution agreement over consensus sets (identical pass sets),
  scored |codes|·|tests| and √|codes|·|tests|.
- `max_pass`: share of tests passed.
- `bayes`: ours. Each consensus set is a hypothesis "these are the correct tests"; its likelihood asks
  how plausibly every *other* candidate is a wrong program under it: wrong programs often pass correct
  tests but rarely pass wrong ones. A wrong majority with the wrong tests that agree with it explains
  the rest of the candidates badly (they pass "wrong" tests), so it loses even when it is the largest
  cluster. Copies of one behaviour are tempered (counted n^α instead of n; α = 0 by default) so that
  repeats are not evidence. Defaults were chosen on the tuning half of benchmarks/ranking_quality.py.

Plain Python, no numpy: the matrices are small (tens of rows and columns), and `verify` must not pay
numpy's and scipy's import (a third of a small run's start-up). Sums use `math.fsum`, so a score does
not depend on the order of the candidates or tests.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

from tools.verification.ranker_names import RANKER_NAMES


class Ranking(BaseModel):
    """Scores from one ranker: per candidate and per test, in input order, higher is better."""

    code_scores: list[float]
    test_scores: list[float]


class BayesParams(BaseModel):
    """Hyperparameters of the `bayes` ranker (chosen on the tuning half of the ranking benchmark)."""

    pass_correct_test: float = Field(0.5, gt=0, lt=1, description="p: a wrong program passes a correct test")
    pass_wrong_test: float = Field(0.15, gt=0, lt=1, description="q: a wrong program passes a wrong test")
    test_prior: float = Field(0.7, gt=0, lt=1, description="π: prior that a test is correct")
    code_prior: float = Field(0.2, gt=0, lt=1, description="ρ: prior that a candidate is correct")
    # α = 0: a behaviour counts once however often it was sampled (repeats are not evidence); raise it if
    # your sampler repeats correct answers much more often than wrong ones
    duplicate_power: float = Field(0.0, ge=0, le=1, description="α: n identical pass sets count as n^α")
    concentration: float = Field(8.0, gt=0, description="κ: Beta concentration of per-test pass rates")


@dataclass(frozen=True, slots=True)
class PassMatrix:
    """A boolean pass matrix, N candidates × M tests, as rows of bools. The test count is kept apart from
    the rows so that a matrix without candidates still knows its tests (shape (0, M))."""

    rows: tuple[tuple[bool, ...], ...]
    n_tests: int

    def __post_init__(self) -> None:
        if any(len(row) != self.n_tests for row in self.rows):
            lengths = sorted({len(row) for row in self.rows})
            raise ValueError(f"pass matrix must be 2-D (candidates × tests): rows of {lengths} cells, "
                             f"expected {self.n_tests}")

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.rows), self.n_tests


# what a ranker accepts: a PassMatrix, rows of bools, or any 2-D array with a `shape` (a numpy one included)
MatrixLike = PassMatrix | Sequence[Sequence[bool]]
Ranker = Callable[[MatrixLike], Ranking]


def as_pass_matrix(passed: MatrixLike | Any) -> PassMatrix:
    """A 2-D boolean matrix (N × M); an empty candidate or test list gives shape (N, 0) or (0, M).

    Cells count by their truth value. Anything that is not 2-D (a 3-D array, ragged rows, rows of rows)
    is a ValueError. Arrays are read through `shape` and `tolist`, so numpy is never imported here."""
    if isinstance(passed, PassMatrix):
        return passed
    shape = getattr(passed, "shape", None)
    if shape is not None:
        shape = tuple(shape)
        if shape == (0,):  # numpy's reading of [] (no candidates, no tests)
            return PassMatrix((), 0)
        if len(shape) != 2:
            raise ValueError(f"pass matrix must be 2-D (candidates × tests), got shape {shape}")
        rows = passed.tolist() if hasattr(passed, "tolist") else passed
        return PassMatrix(tuple(_row(row) for row in rows), shape[1])
    if isinstance(passed, str | bytes) or not hasattr(passed, "__iter__"):
        raise ValueError(f"pass matrix must be 2-D (candidates × tests), got {type(passed).__name__}")
    rows = tuple(_row(row) for row in passed)
    return PassMatrix(rows, len(rows[0]) if rows else 0)


def _row(row: Any) -> tuple[bool, ...]:
    if isinstance(row, str | bytes) or not hasattr(row, "__iter__"):
        raise ValueError(f"pass matrix must be 2-D (candidates × tests): a row is a {type(row).__name__}")
    cells = tuple(row)
    if any(isinstance(cell, str | bytes) or hasattr(cell, "__iter__") for cell in cells):
        raise ValueError("pass matrix must be 2-D (candidates × tests): a cell is not a truth value")
    return tuple(bool(cell) for cell in cells)


def _normalise(values: list[float]) -> list[float]:
    """Divided by the largest value; all zeros when none is positive."""
    top = max(values, default=0.0)
    return [v / top for v in values] if top > 0 else [0.0] * len(values)


def _consensus_sets(passed: PassMatrix) -> tuple[list[tuple[bool, ...]], list[int], list[int]]:
    """Distinct pass sets (H × M) in lexicographic order (False < True: the order of numpy's `unique`, which
    these rankers once used), each candidate's set index (N), and each set's size (H)."""
    sets = sorted(set(passed.rows))
    index = {row: h for h, row in enumerate(sets)}
    members = [index[row] for row in passed.rows]
    sizes = [0] * len(sets)
    for h in members:
        sizes[h] += 1
    return sets, members, sizes


def _columns(passed: PassMatrix) -> list[tuple[bool, ...]]:
    return list(zip(*passed.rows, strict=True)) if passed.rows else [()] * passed.n_tests


def pagerank(passed: MatrixLike, damping: float = 0.85, iterations: int = 10) -> Ranking:
    """CodeDPO: code and test scores start at 1 and reinforce each other along pass edges."""
    matrix = as_pass_matrix(passed)
    rows, columns = matrix.rows, _columns(matrix)
    code, test = [1.0] * len(rows), [1.0] * matrix.n_tests
    for _ in range(iterations):
        # both updates read the previous iteration's values
        new_code = [(1 - damping) * c + damping * math.fsum(t for t, hit in zip(test, row, strict=True) if hit)
                    for c, row in zip(code, rows, strict=True)]
        new_test = [(1 - damping) * t + damping * math.fsum(c for c, hit in zip(code, column, strict=True) if hit)
                    for t, column in zip(test, columns, strict=True)]
        code, test = _scaled_to_top(new_code), _scaled_to_top(new_test)
    return Ranking(code_scores=code, test_scores=test)


def _scaled_to_top(values: list[float]) -> list[float]:
    """Divided by the largest value; unchanged when none is positive (a PageRank step, unlike `_normalise`)."""
    top = max(values, default=0.0)
    return [v / top for v in values] if top > 0 else values


def _codet(passed: MatrixLike, code_weight: Callable[[float], float]) -> Ranking:
    matrix = as_pass_matrix(passed)
    sets, members, sizes = _consensus_sets(matrix)
    set_scores = [code_weight(float(size)) * sum(row) for size, row in zip(sizes, sets, strict=True)]
    # a test earns the agreement of every consensus set that passes it
    test_scores = [math.fsum(score for score, row in zip(set_scores, sets, strict=True) if row[t])
                   for t in range(matrix.n_tests)]
    return Ranking(code_scores=_normalise([set_scores[h] for h in members]), test_scores=_normalise(test_scores))


def codet(passed: MatrixLike) -> Ranking:
    """CodeT dual execution agreement: a consensus set scores |codes|·|tests|."""
    return _codet(passed, lambda n: n)


def codet_sqrt(passed: MatrixLike) -> Ranking:
    """CodeT variant that damps large clusters of codes: √|codes|·|tests|."""
    return _codet(passed, math.sqrt)


def max_pass(passed: MatrixLike) -> Ranking:
    """Share of tests each candidate passes; a test's score is the share of candidates passing it."""
    matrix = as_pass_matrix(passed)
    n_codes, n_tests = matrix.shape
    code = [sum(row) / n_tests for row in matrix.rows] if n_tests else [0.0] * n_codes
    test = [sum(column) / n_codes for column in _columns(matrix)] if n_codes else [0.0] * n_tests
    return Ranking(code_scores=code, test_scores=test)


_STIRLING_FROM = 100.0  # from here on lgamma's values are large enough that subtracting two of them loses digits


def _lgamma_step(x: float, step: float) -> float:
    """lgamma(x + step) − lgamma(x) for x > 0, step ≥ 0, accurate also where both are huge (a Beta
    concentration of 1e6): for large x the difference of Stirling's series, taken term by term."""
    if x < _STIRLING_FROM:
        return math.lgamma(x + step) - math.lgamma(x)
    end = x + step
    # (x+s−½)·ln(x+s) − (x−½)·ln x − s, regrouped; then the series 1/(12x) − 1/(360x³) + 1/(1260x⁵)
    return ((x - 0.5) * math.log1p(step / x) + step * math.log(end) - step
            + _stirling_tail(end) - _stirling_tail(x))


def _stirling_tail(x: float) -> float:
    inverse_square = 1.0 / (x * x)
    return (1.0 / 12 - inverse_square * (1.0 / 360 - inverse_square / 1260)) / x


def _evidence(correct_tests: tuple[bool, ...], own: float, wrong_total: float, passing: list[float],
              params: BayesParams) -> float:
    """log P(the other candidates' passes | this set's tests are the correct ones), tests independent, each
    test's pass rate for wrong programs integrated out (Beta-Binomial)."""
    p, q, kappa = params.pass_correct_test, params.pass_wrong_test, params.concentration
    terms = []
    for correct, passes in zip(correct_tests, passing, strict=True):
        wrong_passes = passes - own if correct else passes  # this set's own candidates are the correct ones
        a, b = (p * kappa, (1 - p) * kappa) if correct else (q * kappa, (1 - q) * kappa)
        # betaln(a + k, b + n − k) − betaln(a, b), for k = wrong_passes of n = wrong_total
        terms.append(_lgamma_step(a, wrong_passes) + _lgamma_step(b, wrong_total - wrong_passes)
                     - _lgamma_step(a + b, wrong_total))
    return math.fsum(terms)


def bayes(passed: MatrixLike, params: BayesParams | None = None) -> Ranking:
    """Posterior that each candidate is correct, over hypotheses "consensus set h holds the correct tests".

    Under hypothesis h (pass set S): tests in S are correct (prior π), the others wrong; candidates with
    exactly pass set S are correct (prior ρ), all others wrong (1−ρ). Wrong candidates pass a correct
    test with probability p and a wrong test with probability q, per test drawn from a Beta with that mean
    and concentration κ — so passes of one test are correlated (a wrong test that encodes a common
    mistake is passed by several wrong programs), integrated out in closed form (Beta-Binomial).
    A candidate's score is the posterior of its own pass set; a test's is the mass of the sets holding it.
    """
    params = params or BayesParams()
    matrix = as_pass_matrix(passed)
    n_codes, n_tests = matrix.shape
    if n_codes == 0:
        return Ranking(code_scores=[], test_scores=[0.0] * n_tests)
    sets, members, sizes = _consensus_sets(matrix)  # hypothesis h says tests sets[h] are the correct ones
    weights = [float(size) ** params.duplicate_power for size in sizes]  # n copies of one behaviour weigh n^α
    # under hypothesis h every other set is a wrong program: their weight, and how much of it passes each test
    everyone = math.fsum(weights)
    wrong_totals = [everyone - own for own in weights]
    passing = [math.fsum(w for w, row in zip(weights, sets, strict=True) if row[t]) for t in range(n_tests)]
    # one set: no wrong program, every step is 0 and the evidence exactly 0, so its members score exactly 1
    evidence = [_evidence(row, own, wrong_total, passing, params)
                for row, own, wrong_total in zip(sets, weights, wrong_totals, strict=True)]
    log_pi, log_not_pi = math.log(params.test_prior), math.log1p(-params.test_prior)
    log_rho, log_not_rho = math.log(params.code_prior), math.log1p(-params.code_prior)
    total = []
    for fit, own, wrong_total, row in zip(evidence, weights, wrong_totals, sets, strict=True):
        n_correct = sum(row)
        total.append(fit + n_correct * log_pi + (n_tests - n_correct) * log_not_pi
                     + own * log_rho + wrong_total * log_not_rho)
    top = max(total)
    unnormalised = [math.exp(value - top) for value in total]
    mass = math.fsum(unnormalised)
    posterior = [value / mass for value in unnormalised]
    test_scores = [math.fsum(share for share, row in zip(posterior, sets, strict=True) if row[t])
                   for t in range(n_tests)]
    return Ranking(code_scores=[posterior[h] for h in members], test_scores=test_scores)


RANKERS: dict[str, Ranker] = {
    "pagerank": pagerank,
    "codet": codet,
    "codet_sqrt": codet_sqrt,
    "max_pass": max_pass,
    "bayes": bayes,
}
assert tuple(sorted(RANKERS)) == RANKER_NAMES, "tools/verification/ranker_names.py must list every ranker"


def rank_all(passed: MatrixLike) -> dict[str, Ranking]:
    """Every registered ranker on one pass matrix. Rankings depend on the matrix alone, and small matrices
    recur (every 1×1 pass, every all-pass 8×6), so they are remembered by matrix (a `PassMatrix` is hashable:
    its rows and its test count)."""
    cached = _rank_all_cached(as_pass_matrix(passed))
    return {name: Ranking(code_scores=list(r.code_scores), test_scores=list(r.test_scores)) for name, r in cached}


@functools.lru_cache(maxsize=4096)
def _rank_all_cached(matrix: PassMatrix) -> tuple[tuple[str, Ranking], ...]:
    return tuple((name, ranker(matrix)) for name, ranker in RANKERS.items())
