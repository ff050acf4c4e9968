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
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
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


Ranker = Callable[[np.ndarray], Ranking]


def as_pass_matrix(passed: np.ndarray | list[list[bool]]) -> np.ndarray:
    """A 2-D boolean array (N × M); an empty candidate or test list gives shape (N, 0) or (0, M)."""
    matrix = np.asarray(passed, dtype=bool)
    if matrix.ndim == 1 and matrix.size == 0:
        matrix = matrix.reshape(0, 0)
    if matrix.ndim != 2:
        raise ValueError(f"pass matrix must be 2-D (candidates × tests), got shape {matrix.shape}")
    return matrix


def _normalise(values: np.ndarray) -> list[float]:
    top = float(values.max()) if values.size else 0.0
    return [float(v) for v in (values / top if top > 0 else np.zeros_like(values, dtype=float))]


def _consensus_sets(passed: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct pass sets (H × M), each candidate's set index (N), and each set's size (H)."""
    if passed.shape[0] == 0:
        return np.zeros((0, passed.shape[1]), dtype=bool), np.zeros(0, dtype=int), np.zeros(0, dtype=int)
    sets, members, sizes = np.unique(passed, axis=0, return_inverse=True, return_counts=True)
    return sets, members.reshape(-1), sizes


def pagerank(passed: np.ndarray, damping: float = 0.85, iterations: int = 10) -> Ranking:
    """CodeDPO: code and test scores start at 1 and reinforce each other along pass edges."""
    edges = as_pass_matrix(passed).astype(float)
    code = np.ones(edges.shape[0])
    test = np.ones(edges.shape[1])
    for _ in range(iterations):
        # both updates read the previous iteration's values
        new_code = (1 - damping) * code + damping * (edges @ test)
        new_test = (1 - damping) * test + damping * (edges.T @ code)
        code = new_code / new_code.max() if new_code.size and new_code.max() > 0 else new_code
        test = new_test / new_test.max() if new_test.size and new_test.max() > 0 else new_test
    return Ranking(code_scores=[float(v) for v in code], test_scores=[float(v) for v in test])


def _codet(passed: np.ndarray, code_weight: Callable[[np.ndarray], np.ndarray]) -> Ranking:
    passed = as_pass_matrix(passed)
    sets, members, sizes = _consensus_sets(passed)
    set_scores = code_weight(sizes.astype(float)) * sets.sum(axis=1)
    # a test earns the agreement of every consensus set that passes it
    test_scores = sets.T.astype(float) @ set_scores if sets.size else np.zeros(passed.shape[1])
    return Ranking(code_scores=_normalise(set_scores[members]), test_scores=_normalise(test_scores))


def codet(passed: np.ndarray) -> Ranking:
    """CodeT dual execution agreement: a consensus set scores |codes|·|tests|."""
    return _codet(passed, lambda n: n)


def codet_sqrt(passed: np.ndarray) -> Ranking:
    """CodeT variant that damps large clusters of codes: √|codes|·|tests|."""
    return _codet(passed, np.sqrt)


def max_pass(passed: np.ndarray) -> Ranking:
    """Share of tests each candidate passes; a test's score is the share of candidates passing it."""
    passed = as_pass_matrix(passed).astype(float)
    n_codes, n_tests = passed.shape
    code = passed.mean(axis=1) if n_tests else np.zeros(n_codes)
    test = passed.mean(axis=0) if n_codes else np.zeros(n_tests)
    return Ranking(code_scores=[float(v) for v in code], test_scores=[float(v) for v in test])


def bayes(passed: np.ndarray, params: BayesParams | None = None) -> Ranking:
    """Posterior that each candidate is correct, over hypotheses "consensus set h holds the correct tests".

    Under hypothesis h (pass set S): tests in S are correct (prior π), the others wrong; candidates with
    exactly pass set S are correct (prior ρ), all others wrong (1−ρ). Wrong candidates pass a correct
    test with probability p and a wrong test with probability q, per test drawn from a Beta with that mean
    and concentration κ — so passes of one test are correlated (a wrong test that encodes a common
    mistake is passed by several wrong programs), integrated out in closed form (Beta-Binomial).
    A candidate's score is the posterior of its own pass set; a test's is the mass of the sets holding it.
    """
    params = params or BayesParams()
    passed = as_pass_matrix(passed)
    n_codes, n_tests = passed.shape
    if n_codes == 0:
        return Ranking(code_scores=[], test_scores=[0.0] * n_tests)
    sets, members, sizes = _consensus_sets(passed)
    hyp = sets.astype(float)  # H × M; hypothesis h says tests hyp[h] are the correct ones
    weights = sizes.astype(float) ** params.duplicate_power  # n copies of one behaviour weigh n^α
    others = weights[None, :] * (1 - np.eye(len(sets)))  # H × H: weight of set j as a wrong program under h
    wrong_total = others.sum(axis=1, keepdims=True)  # H × 1
    wrong_passes = others @ hyp  # H × M: weighted wrong programs passing each test
    p, q, kappa = params.pass_correct_test, params.pass_wrong_test, params.concentration
    a = np.where(hyp > 0, p * kappa, q * kappa)
    b = np.where(hyp > 0, (1 - p) * kappa, (1 - q) * kappa)
    if len(sets) == 1:  # no wrong program under the one hypothesis: every term is betaln(a, b) - betaln(a, b)
        evidence = np.zeros(1)  # (exactly 0; skips importing scipy, a third of a small run's start-up)
    else:
        from scipy.special import betaln  # here, not at the top: keeps `run.py verify --help` fast

        evidence = (betaln(a + wrong_passes, b + wrong_total - wrong_passes) - betaln(a, b)).sum(axis=1)
    n_correct = hyp.sum(axis=1)
    total = (evidence + n_correct * np.log(params.test_prior) + (n_tests - n_correct) * np.log1p(-params.test_prior)
             + weights * np.log(params.code_prior) + wrong_total[:, 0] * np.log1p(-params.code_prior))
    posterior = np.exp(total - total.max())
    posterior /= posterior.sum()
    test_scores = hyp.T @ posterior if n_tests else np.zeros(0)
    return Ranking(code_scores=[float(v) for v in posterior[members]],
                   test_scores=[float(v) for v in test_scores])


RANKERS: dict[str, Ranker] = {
    "pagerank": pagerank,
    "codet": codet,
    "codet_sqrt": codet_sqrt,
    "max_pass": max_pass,
    "bayes": bayes,
}
assert tuple(sorted(RANKERS)) == RANKER_NAMES, "tools/verification/ranker_names.py must list every ranker"


def rank_all(passed: np.ndarray | list[list[bool]]) -> dict[str, Ranking]:
    """Every registered ranker on one pass matrix. Rankings depend on the matrix alone, and small matrices
    recur (every 1×1 pass, every all-pass 8×6), so they are remembered by shape and bits."""
    matrix = as_pass_matrix(passed)
    cached = _rank_all_cached(matrix.shape, np.packbits(matrix, axis=None).tobytes())
    return {name: Ranking(code_scores=list(r.code_scores), test_scores=list(r.test_scores)) for name, r in cached}


@functools.lru_cache(maxsize=4096)
def _rank_all_cached(shape: tuple[int, ...], bits: bytes) -> tuple[tuple[str, Ranking], ...]:
    count = int(np.prod(shape))
    matrix = np.unpackbits(np.frombuffer(bits, dtype=np.uint8), count=count).astype(bool).reshape(shape)
    return tuple((name, ranker(matrix)) for name, ranker in RANKERS.items())
