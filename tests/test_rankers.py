"""Rankers on hand-checkable pass matrices: the formulas of the issue, and who ends up on top; the plain
Python rankers against the numpy/scipy ones they replaced; and a `verify` path that never loads numpy."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tools.verification import (
    RANKERS,
    BayesParams,
    PassMatrix,
    bayes,
    codet,
    codet_sqrt,
    max_pass,
    pagerank,
    rank_all,
)
from tools.verification.rankers import _consensus_sets, _lgamma_step, as_pass_matrix

GOLDEN = Path(__file__).parent / "data" / "ranker_golden.json"

# candidates 0 (correct), 1-3 (one wrong program sampled three times), 4, 5 (other wrong programs);
# tests 0-2 correct, test 3 asserts what the repeated wrong program returns
WRONG_MAJORITY = np.array([
    [1, 1, 1, 0],
    [1, 0, 0, 1],
    [1, 0, 0, 1],
    [1, 0, 0, 1],
    [1, 1, 0, 0],
    [0, 1, 1, 0],
], dtype=bool)


def test_pagerank_follows_the_codedpo_update() -> None:
    passed = np.array([[1, 1], [1, 0], [0, 0]], dtype=bool)
    d = 0.85
    code, test = np.ones(3), np.ones(2)
    for _ in range(10):
        code, test = (1 - d) * code + d * passed @ test, (1 - d) * test + d * passed.T @ code
        code, test = code / code.max(), test / test.max()
    ranking = pagerank(passed)
    assert ranking.code_scores == pytest.approx(code.tolist())
    assert ranking.test_scores == pytest.approx(test.tolist())
    # one iteration by hand: codes (0.15+1.7, 0.15+0.85, 0.15) / 1.85
    one = pagerank(passed, iterations=1)
    assert one.code_scores == pytest.approx([1.0, 1.0 / 1.85, 0.15 / 1.85])
    assert one.test_scores == pytest.approx([1.0, 1.0 / 1.85])


def test_codet_scores_consensus_sets() -> None:
    linear, root = codet(WRONG_MAJORITY).code_scores, codet_sqrt(WRONG_MAJORITY).code_scores
    # sets: {0,1,2}×1 code, {0,3}×3 codes, {0,1}×1, {1,2}×1 → 3, 6, 2, 2 (linear); 3, 2√3, 2, 2 (root)
    assert linear == pytest.approx([3 / 6, 1, 1, 1, 2 / 6, 2 / 6])
    assert root == pytest.approx([3 / (2 * np.sqrt(3)), 1, 1, 1, 2 / (2 * np.sqrt(3)), 2 / (2 * np.sqrt(3))])


def test_max_pass_is_the_share_of_tests_passed() -> None:
    ranking = max_pass(WRONG_MAJORITY)
    assert ranking.code_scores == pytest.approx([0.75, 0.5, 0.5, 0.5, 0.5, 0.5])
    assert ranking.test_scores == pytest.approx([5 / 6, 3 / 6, 2 / 6, 3 / 6])


def test_codet_follows_the_wrong_majority_and_bayes_does_not() -> None:
    assert int(np.argmax(codet(WRONG_MAJORITY).code_scores)) == 1
    ranking = bayes(WRONG_MAJORITY)
    assert int(np.argmax(ranking.code_scores)) == 0
    assert ranking.code_scores[0] > 0.5 > ranking.code_scores[1]
    # the test that only the repeated wrong program passes is the least trusted
    assert int(np.argmin(ranking.test_scores)) == 3


def test_bayes_credits_repeats_only_when_told_to() -> None:
    sceptic = bayes(WRONG_MAJORITY).code_scores
    credulous = bayes(WRONG_MAJORITY, BayesParams(duplicate_power=1.0)).code_scores
    assert credulous[1] > 10 * sceptic[1]


def test_bayes_is_a_posterior() -> None:
    ranking = bayes(WRONG_MAJORITY)
    distinct = {tuple(row) for row in WRONG_MAJORITY.tolist()}
    # one probability per distinct pass set, summing to one
    per_set = {tuple(row): score for row, score in zip(WRONG_MAJORITY.tolist(), ranking.code_scores, strict=True)}
    assert len(per_set) == len(distinct)
    assert sum(per_set.values()) == pytest.approx(1.0)
    assert all(0.0 <= s <= 1.0 for s in ranking.test_scores)


@pytest.mark.parametrize("name", sorted(RANKERS))
def test_rankers_are_equivariant_and_bounded(name: str) -> None:
    rng = np.random.default_rng(7)
    passed = rng.random((7, 5)) < 0.5
    order, test_order = rng.permutation(7), rng.permutation(5)
    base = RANKERS[name](passed)
    moved = RANKERS[name](passed[order][:, test_order])
    assert moved.code_scores == pytest.approx(np.array(base.code_scores)[order].tolist())
    assert moved.test_scores == pytest.approx(np.array(base.test_scores)[test_order].tolist())
    assert all(0.0 <= s <= 1.0 + 1e-9 for s in base.code_scores + base.test_scores)


def test_a_candidate_passing_everything_is_on_top_for_every_ranker() -> None:
    passed = np.array([[1, 0, 1], [1, 1, 1], [0, 0, 1]], dtype=bool)
    for name, ranking in rank_all(passed).items():
        assert int(np.argmax(ranking.code_scores)) == 1, name


@pytest.mark.parametrize("shape", [(0, 0), (0, 3), (3, 0)])
def test_rank_all_handles_empty_matrices(shape: tuple[int, int]) -> None:
    for ranking in rank_all(np.zeros(shape, dtype=bool)).values():
        assert len(ranking.code_scores) == shape[0]
        assert len(ranking.test_scores) == shape[1]


def test_rank_all_rejects_a_non_matrix() -> None:
    with pytest.raises(ValueError, match="2-D"):
        rank_all(np.zeros((2, 2, 2), dtype=bool))


# the verify path end to end without a sandbox: a 3×3 matrix with two distinct pass sets (so `bayes` weighs
# evidence, which once imported scipy), then the timing round of the two candidates that pass the trusted tests
VERIFY_PROBE = """
import json, sys
from tools.sandbox.models import CheckResult, Status
import tools.verification.driver
from tools.verification.task import TaskRun, VerifyConfig, VerifyTask
from tools.verification.rankers import rank_all

task = VerifyTask(task_id="probe", candidates=["def f(x):\\n    return 2 * x\\n", "def f(x):\\n    return x + x\\n",
                  "def f(x):\\n    return x\\n"], tests=["assert f(1) == 2", "assert f(2) == 4", "assert f(3) == 3"])
passes = [[True, True, False], [True, True, False], [False, False, True]]
run = TaskRun(task, VerifyConfig(repeats=2))
checks = run.next_checks()
run.feed([CheckResult(status=Status.PASSED if passes[i // 3][i % 3] else Status.FAILED) for i in range(len(checks))])
timing = run.next_checks()
run.feed([CheckResult(status=Status.PASSED, cpu_s=0.01 * (1 + i % 2), exec_s=0.01) for i in range(len(timing))])
assert run.next_checks() is None
record = run.result.to_record()
ranked = rank_all(passes)
print(json.dumps({"loaded": sorted(m for m in ("numpy", "scipy") if m in sys.modules), "checks": len(checks),
                  "timing": len(timing), "top": record["top_candidate"],
                  "trusted": record["efficiency"]["trusted_tests"], "scores": record["scores"],
                  "ranked": {k: v.code_scores for k, v in ranked.items()}}))
"""


def test_the_verify_path_never_loads_numpy_or_scipy() -> None:
    """`run.py verify` imports only what the run needs: scoring, trusted tests and timing plan are plain Python."""
    done = subprocess.run([sys.executable, "-c", VERIFY_PROBE], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).parent.parent)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["loaded"] == []
    assert (found["checks"], found["timing"], found["top"], found["trusted"]) == (9, 4, 0, [0, 1])
    assert found["scores"] == found["ranked"] and set(found["scores"]) == set(RANKERS)
    bayes_scores = found["scores"]["bayes"]
    assert bayes_scores[0] == bayes_scores[1] > 0.5 > bayes_scores[2] > 0.0


def _golden_inputs(case: dict) -> list[object]:
    """The golden matrix as each kind of caller passes it: a numpy array, rows of bools (or a PassMatrix, the
    only plain form that keeps the test count of a matrix without candidates)."""
    n, m = case["shape"]
    rows = [[cell == "1" for cell in row] for row in case["rows"]]
    plain = rows if n else PassMatrix((), m)
    return [np.array(rows, dtype=bool).reshape(n, m), plain]


def test_scores_match_the_numpy_scipy_implementation() -> None:
    """Every ranker, on 267 matrices (those above, 250 random ones up to 8×8, four up to 50×50) and bayes under
    four other settings, scored by the numpy/scipy rankers these replaced (tests/data/ranker_golden.json)."""
    golden = json.loads(GOLDEN.read_text())
    variants = {name: BayesParams(**params) for name, params in golden["variants"].items()}
    rankers = {**RANKERS, "pagerank_1_iteration": lambda m: pagerank(m, iterations=1),
               **{name: lambda m, p=params: bayes(m, p) for name, params in variants.items()}}
    worst, where, compared = 0.0, None, 0
    for case in golden["cases"]:
        for passed in _golden_inputs(case):
            for name, want in case["rankings"].items():
                got = rankers[name](passed)
                assert (len(got.code_scores), len(got.test_scores)) == tuple(case["shape"]), (case, name)
                for ours, theirs in zip(got.code_scores + got.test_scores, want["code"] + want["test"], strict=True):
                    compared += 1
                    if abs(ours - theirs) > worst:
                        worst, where = abs(ours - theirs), (case["shape"], case["rows"], name)
    assert compared > 10_000
    assert worst <= 1e-9, (worst, where)


@pytest.mark.parametrize("name", sorted(RANKERS))
def test_a_tie_is_exact_in_any_order(name: str) -> None:
    """Sums do not depend on the order of candidates or tests, so mirror-image candidates tie exactly (numpy
    split such ties by an ulp, which moved a benchmark's rank correlation)."""
    rankers = [RANKERS[name]]
    if name == "bayes":  # also with weights that are not whole numbers
        rankers.append(lambda m: bayes(m, BayesParams(duplicate_power=0.5)))
    rng = np.random.default_rng(11)
    for _ in range(30):
        n, m = int(rng.integers(2, 12)), int(rng.integers(2, 9))
        passed = (rng.random((4, m)) < 0.5)[rng.integers(0, 4, n)] ^ (rng.random((n, m)) < 0.1)
        order, test_order = rng.permutation(n), rng.permutation(m)
        for rank in rankers:
            base, moved = rank(passed), rank(passed[order][:, test_order])
            assert moved.code_scores == [base.code_scores[i] for i in order]
            assert moved.test_scores == [base.test_scores[j] for j in test_order]
    mirror = RANKERS[name]([[True, False, True], [False, True, True]])
    assert mirror.code_scores[0] == mirror.code_scores[1]
    assert mirror.test_scores[0] == mirror.test_scores[1]
    # the two mirror-image pass sets of sanitized MBPP 90 in benchmarks/ranking_quality.py, which numpy's bayes
    # scored 0.49999999999999956 and 0.50000000000000044 (there, a perfect rank correlation made of rounding)
    rows = [[cell == "1" for cell in row] for row in ["110001", "101010", "110001", "101010"]]
    assert len(set(RANKERS[name](rows).code_scores)) == 1


def test_consensus_sets_come_in_numpys_order() -> None:
    """Sets sorted as numpy's `unique(axis=0)` sorts rows (False < True), so that ties break as they did."""
    rng = np.random.default_rng(3)
    for n, m in [(1, 1), (6, 3), (9, 5), (20, 8), (4, 0)]:
        passed = (rng.random((4, m)) < 0.5)[rng.integers(0, 4, n)]
        sets, members, sizes = _consensus_sets(as_pass_matrix(passed))
        unique, inverse, counts = np.unique(passed, axis=0, return_inverse=True, return_counts=True)
        assert sets == [tuple(row) for row in unique.tolist()]
        assert (members, sizes) == (inverse.reshape(-1).tolist(), counts.tolist())


@pytest.mark.parametrize("params", [BayesParams(), BayesParams(concentration=1e6, duplicate_power=0.5),
                                    BayesParams(duplicate_power=1.0, concentration=0.5)])
@pytest.mark.parametrize("rows", [[[True]], [[False, True, False]] * 4, [[True, True]] * 7, [[]] * 3])
def test_one_consensus_set_is_certain(params: BayesParams, rows: list[list[bool]]) -> None:
    """One pass set: no wrong program to explain, evidence exactly 0, every candidate exactly 1."""
    ranking = bayes(rows, params)
    assert ranking.code_scores == [1.0] * len(rows)
    assert ranking.test_scores == [float(cell) for cell in rows[0]]


@pytest.mark.parametrize("x", [0.6, 1.2, 4.0, 6.8, 99.99, 100.0, 100.01, 2e4, 8.5e5, 1e6 + 0.5, 1e9])
def test_lgamma_steps_keep_their_digits_for_huge_arguments(x: float) -> None:
    """lgamma(x + k) − lgamma(x) is Σ log(x + i) for whole k: no digits lost where lgamma itself is ~1e7
    (a concentration of 1e6), as lgamma(a) + lgamma(b) − lgamma(a + b) loses them."""
    for k in range(0, 60, 3):
        exact = math.fsum(math.log(x + i) for i in range(k))
        assert _lgamma_step(x, float(k)) == pytest.approx(exact, rel=1e-13, abs=1e-13), k
    assert _lgamma_step(x, 0.0) == 0.0


def test_plain_rows_numpy_arrays_and_tuples_are_one_matrix() -> None:
    rows = [[True, False], [False, True], [True, True]]
    expected = PassMatrix(((True, False), (False, True), (True, True)), 2)
    for given in (rows, np.array(rows), tuple(map(tuple, rows)), [[1, 0], [0, 1], [1, 1]], list(np.array(rows))):
        assert as_pass_matrix(given) == expected
    assert as_pass_matrix(expected) is expected
    assert as_pass_matrix(np.zeros((0, 3), dtype=bool)).shape == (0, 3)
    assert as_pass_matrix(np.zeros((3, 0), dtype=bool)).shape == (3, 0)
    assert as_pass_matrix([[], []]).shape == (2, 0)
    assert as_pass_matrix([]).shape == as_pass_matrix(np.array([])).shape == (0, 0)


@pytest.mark.parametrize("bad", [np.zeros((2, 2, 2), dtype=bool), np.array([True, False]), np.array(True),
                                 [[[True]]], [[True], [True, False]], [True, False], ["10", "01"], [b"10"], "10", 3,
                                 [[True, "x"]], None])
def test_anything_but_a_matrix_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="2-D"):
        rank_all(bad)


def test_a_ragged_pass_matrix_cannot_be_built() -> None:
    with pytest.raises(ValueError, match="2-D"):
        PassMatrix(((True,), (True, False)), 1)


def test_the_cache_tells_shapes_with_the_same_cells_apart() -> None:
    """Six passing cells are a 1×6, 2×3, 3×2 or 6×1 matrix; no candidates are 0×3 or 0×4."""
    for shape in [(1, 6), (2, 3), (3, 2), (6, 1), (0, 3), (0, 4)]:
        for name, ranking in rank_all(np.ones(shape, dtype=bool)).items():
            assert (len(ranking.code_scores), len(ranking.test_scores)) == shape, name


def test_a_caller_changing_its_ranking_does_not_change_the_next() -> None:
    passed = [[True, False], [True, True]]
    first = rank_all(passed)
    first["bayes"].code_scores[0] = 99.0
    first["codet"].test_scores.clear()
    again = rank_all(passed)
    assert again["bayes"].code_scores[0] < 1.0 and len(again["codet"].test_scores) == 2
