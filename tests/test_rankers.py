"""Rankers on hand-checkable pass matrices: the formulas of the issue, and who ends up on top."""

from __future__ import annotations

import numpy as np
import pytest

from tools.verification import RANKERS, BayesParams, bayes, codet, codet_sqrt, max_pass, pagerank, rank_all

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


def test_ranking_one_candidate_needs_no_scipy() -> None:
    """The verify command's start-up: with one distinct matrix row, bayes never imports scipy."""
    import subprocess
    import sys

    probe = ("import sys, numpy as np\nfrom tools.verification.rankers import rank_all\n"
             "ranked = rank_all(np.array([[True, False]]))\nassert 'scipy' not in sys.modules, 'scipy loaded'\n"
             "print(sorted(ranked))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "bayes" in done.stdout
