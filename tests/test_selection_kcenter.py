"""KCenterGreedy: same picks as the textbook loop, seeded, returns the selected indices, covers well."""

from __future__ import annotations

import numpy as np
import pytest

from tools.errors import ConfigError
from tools.selection import coverage_radius, kcenter_greedy, random_selection


def unit_vectors(n: int, d: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def reference(x: np.ndarray, k: int, first: int) -> list[int]:
    """The loop of WaveCoder's script (sklearn pairwise_distances per new centre), returning picks."""
    from sklearn.metrics import pairwise_distances

    nearest, picks, index = None, [], first
    for _ in range(k):
        picks.append(index)
        dist = pairwise_distances(x, x[[index]])
        nearest = dist if nearest is None else np.minimum(nearest, dist)
        index = int(np.argmax(nearest))
    return picks


@pytest.mark.parametrize("block_size", [64, 2048])
def test_exact_mode_picks_what_the_reference_loop_picks(block_size: int) -> None:
    x = unit_vectors(3000, 48)
    assert kcenter_greedy(x, 300, first=17, block_size=block_size) == reference(x, 300, 17)


@pytest.mark.parametrize(("near", "far", "reference_pick"), [
    # float32(float64 √d²) separates these two by one ulp, but the reference's float32 √ of float32(d²)
    # ties them, so it keeps the lower index
    (("0x1.0440b2p-1", "0x1.26ce5ep-1"), ("0x1.1b5344p-1", "0x1.10b4eap-1"), 1),
    # and here the other way round: tied when rounded after a float64 √, one ulp apart in the reference
    (("0x1.20694ap-1", "0x1.00abb4p-1"), ("0x1.004fe6p-1", "0x1.20bae6p-1"), 2),
])
def test_exact_mode_rounds_distances_like_the_reference(near: tuple[str, str], far: tuple[str, str],
                                                        reference_pick: int) -> None:
    """The 10k-pick divergence on 100k×384: distances must be float32 √ of float32(d²), as sklearn does."""
    x = np.array([[0.0, 0.0], [float.fromhex(v) for v in near], [float.fromhex(v) for v in far]],
                 dtype=np.float32)
    assert reference(x, 2, 0) == [0, reference_pick]
    assert kcenter_greedy(x, 2, first=0) == [0, reference_pick]
    assert kcenter_greedy(x, 2, first=0, block_size=1) == [0, reference_pick]


def test_exact_mode_matches_reference_on_clustered_data_with_duplicates() -> None:
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((20, 16)).astype(np.float32)
    x = centres[rng.integers(20, size=1500)] + 0.05 * rng.standard_normal((1500, 16)).astype(np.float32)
    x[100:110] = x[5]  # exact duplicates
    assert kcenter_greedy(x, 120, first=5, block_size=128) == reference(x, 120, 5)


def test_first_centre_is_seeded_and_picks_are_distinct() -> None:
    x = unit_vectors(500, 8)
    a, b = kcenter_greedy(x, 50, seed=1), kcenter_greedy(x, 50, seed=1)
    assert a == b
    assert a[0] == int(np.random.default_rng(1).integers(500))
    assert kcenter_greedy(x, 50, seed=2)[0] != a[0] or kcenter_greedy(x, 50, seed=3)[0] != a[0]
    assert len(set(a)) == 50
    assert kcenter_greedy(x, 5, first=42)[0] == 42


def test_selecting_everything_returns_each_index_once_even_with_duplicates() -> None:
    x = np.zeros((30, 4), dtype=np.float32)
    x[:10, 0] = 1.0
    assert sorted(kcenter_greedy(x, 30, first=0)) == list(range(30))
    assert sorted(kcenter_greedy(x, 99, first=0, mode="fast")) == list(range(30))
    assert kcenter_greedy(x, 0) == []


def test_greedy_picks_the_farthest_point_each_time() -> None:
    x = np.array([[0.0], [1.0], [10.0], [4.0], [6.0]], dtype=np.float32)
    assert kcenter_greedy(x, 4, first=0) == [0, 2, 3, 4]


def test_coverage_radius_is_the_largest_distance_to_a_nearest_centre() -> None:
    x = np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0], [6.0, 8.0]])
    assert coverage_radius(x, [0]) == pytest.approx(10.0)
    assert coverage_radius(x, [0, 3]) == pytest.approx(5.0)
    with pytest.raises(ConfigError):
        coverage_radius(x, [])


def test_fast_mode_covers_about_as_well_as_exact_and_both_beat_random() -> None:
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((50, 64))
    weights = 1.0 / np.arange(1, 51) ** 2  # a few big clusters and many small ones, as in real code
    labels = rng.choice(50, size=4000, p=weights / weights.sum())
    x = (centres[labels] + 0.3 * rng.standard_normal((4000, 64))).astype(np.float32)
    exact = coverage_radius(x, kcenter_greedy(x, 200, seed=0))
    fast = coverage_radius(x, kcenter_greedy(x, 200, seed=0, mode="fast"))
    randomly = coverage_radius(x, random_selection(4000, 200, seed=0))
    assert fast <= exact * 1.02
    assert exact < 0.8 * randomly


def test_bad_input_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        kcenter_greedy(np.ones(5), 2)
    with pytest.raises(ConfigError):
        kcenter_greedy(np.full((3, 2), np.nan), 2)
    with pytest.raises(ConfigError):
        kcenter_greedy(np.ones((3, 2)), 2, mode="fastest")  # type: ignore[arg-type]
