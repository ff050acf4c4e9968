"""pass@k: the unbiased estimator, checked against exact combinatorics."""

from __future__ import annotations

from fractions import Fraction
from math import comb

import pytest

from tools.verification import mean_pass_at_k, pass_at_k


@pytest.mark.parametrize("n", [1, 2, 5, 10, 20])
def test_matches_one_minus_a_ratio_of_binomials(n: int) -> None:
    for c in range(n + 1):
        for k in range(1, n + 1):
            exact = 1 - Fraction(comb(n - c, k), comb(n, k))
            assert pass_at_k(n, c, k) == pytest.approx(float(exact), abs=1e-12)


def test_pass_at_1_is_the_share_correct() -> None:
    assert pass_at_k(200, 37, 1) == pytest.approx(37 / 200)


def test_stable_for_large_n() -> None:
    # comb(10000, 100) overflows a float; the product form does not
    exact = 1 - Fraction(comb(10000 - 3, 100), comb(10000, 100))
    assert pass_at_k(10000, 3, 100) == pytest.approx(float(exact), rel=1e-10)


def test_edges() -> None:
    assert pass_at_k(10, 0, 5) == 0.0
    assert pass_at_k(10, 6, 5) == 1.0  # fewer than k wrong samples
    assert mean_pass_at_k([(4, 1), (4, 0)], 1) == pytest.approx(0.125)


@pytest.mark.parametrize(("n", "c", "k"), [(5, 6, 1), (5, 1, 0), (3, 1, 4), (-1, 0, 1)])
def test_rejects_impossible_arguments(n: int, c: int, k: int) -> None:
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)
