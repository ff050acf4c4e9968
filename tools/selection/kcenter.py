"""KCenterGreedy core-set selection (Sener & Savarese, 2018) that returns the selected indices.

The textbook loop updates every point's distance to its nearest centre after each pick: one pass over the
whole matrix per pick, which is memory-bound (about 135 s for 10k picks from 100k×384 here). This module
computes the same picks lazily. Points live in fixed blocks; each block remembers the largest
nearest-centre distance among its points and how many centres it has already seen. Distances only shrink
as centres are added, so a stale block's maximum is an upper bound: each pick brings only the blocks whose
bound tops the ranking up to date, and it does so with one matrix product against all the centres the
block has missed (compute-bound, both cores) instead of one pass over all the data per centre.

`mode="exact"` reproduces what a reference loop over float32 embeddings (sklearn `pairwise_distances` +
`np.minimum` + `np.argmax`) compares, so both pick the same points from the same first centre: squared
distances in float64 summed in sklearn's order, rounded to float32, then a float32 square root, ties going
to the lowest index. (Rounding a float64 square root instead is one ulp off for ~10% of values; that made
pick #2,452 of 10k from 100k×384 differ.) Only the float64 dot products' summation order (BLAS kernels)
can still differ from the reference's, which changes a pick only if a squared distance lies within ~1e-16
of a float32 rounding boundary at a near-tie.
`mode="fast"` works in float32 (half the memory traffic and twice the arithmetic rate); with
`fast_variance < 1` it first projects onto the principal components that keep that share of the variance
(faster again, but on clustered data dropping even 1% of the variance loosens the coverage radius by ~6%).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from tools.errors import ConfigError

Mode = Literal["exact", "fast"]


def _as_matrix(embeddings: np.ndarray) -> np.ndarray:
    matrix = np.asarray(embeddings)
    if matrix.ndim != 2:
        raise ConfigError(f"embeddings must be a 2-D array, got shape {matrix.shape}")
    if not np.isfinite(matrix).all():
        raise ConfigError("embeddings contain NaN or infinite values")
    return matrix


def pca_reduce(matrix: np.ndarray, variance: float = 0.95, max_dims: int | None = None,
               chunk_rows: int = 16384) -> np.ndarray:
    """Project onto the top principal components that keep `variance` of the total (float32 result)."""
    n, d = matrix.shape
    mean = matrix.mean(axis=0, dtype=np.float64)
    cov = np.zeros((d, d))
    for start in range(0, n, chunk_rows):  # chunked so no centred float64 copy of the data is made
        block = matrix[start:start + chunk_rows].astype(np.float64) - mean
        cov += block.T @ block
    eigenvalues, eigenvectors = np.linalg.eigh(cov)
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues, eigenvectors = np.clip(eigenvalues[order], 0, None), eigenvectors[:, order]
    total = eigenvalues.sum()
    keep = d if total <= 0 else int(np.searchsorted(np.cumsum(eigenvalues) / total, variance) + 1)
    keep = min(keep, max_dims or d, d)
    basis = eigenvectors[:, :keep].astype(np.float32)
    reduced = np.empty((n, keep), dtype=np.float32)
    mean32 = mean.astype(np.float32)
    for start in range(0, n, chunk_rows):
        reduced[start:start + chunk_rows] = (matrix[start:start + chunk_rows] - mean32) @ basis
    return reduced


def kcenter_greedy(embeddings: np.ndarray, k: int, *, seed: int = 0, first: int | None = None,
                   mode: Mode = "exact", block_size: int = 2048, fast_variance: float = 1.0) -> list[int]:
    """Indices of `k` points chosen greedily so that each new one is farthest from those chosen before.

    The first centre is `first` if given, else drawn with `numpy.random.default_rng(seed)`. `k` larger
    than the number of points selects all of them.
    """
    matrix = _as_matrix(embeddings)
    n = matrix.shape[0]
    if mode not in ("exact", "fast"):
        raise ConfigError(f"unknown selection mode {mode!r}; use 'exact' or 'fast'")
    k = min(int(k), n)
    if k <= 0:
        return []
    if first is None:
        first = int(np.random.default_rng(seed).integers(n))
    if not 0 <= first < n:
        raise ConfigError(f"first centre {first} is out of range for {n} points")
    if mode == "exact":
        points = matrix.astype(np.float64)
    else:
        points = pca_reduce(matrix, fast_variance) if fast_variance < 1.0 else matrix.astype(np.float32)
    return _lazy_greedy(points, k, first, block_size)


def _lazy_greedy(points: np.ndarray, k: int, first: int, block_size: int) -> list[int]:
    n, d = points.shape
    dtype = points.dtype
    norms = np.einsum("ij,ij->i", points, points)
    centres = np.empty((k, d), dtype=dtype)
    centre_norms = np.empty(k, dtype=dtype)
    nearest = np.full(n, np.inf, dtype=dtype)  # squared distance to the nearest centre seen so far
    starts = np.arange(0, n, block_size)
    seen = np.zeros(len(starts), dtype=np.int64)  # how many centres each block has been compared with
    bound = np.full(len(starts), np.inf, dtype=np.float32)  # max float32 distance in the block (upper bound)

    def refresh(b: int, count: int) -> None:
        lo, hi = starts[b], min(starts[b] + block_size, n)
        block = points[lo:hi]
        sq = -2.0 * (block @ centres[seen[b]:count].T)  # sklearn's order: -2·XYᵀ, += ‖x‖², += ‖c‖²
        sq += norms[lo:hi, None]
        sq += centre_norms[None, seen[b]:count]
        np.minimum(nearest[lo:hi], sq.min(axis=1), out=nearest[lo:hi])
        bound[b] = _rounded(nearest[lo:hi]).max()
        seen[b] = count

    selected = [first]
    nearest[first] = -np.inf  # a centre is never picked again, even among exact duplicates
    centres[0], centre_norms[0] = points[first], norms[first]
    while len(selected) < k:
        count = len(selected)
        while True:
            b = int(np.argmax(bound))  # lowest block index among equal bounds, like np.argmax on all
            if seen[b] < count:
                refresh(b, count)
                continue
            lo = starts[b]
            pick = int(lo + np.argmax(_rounded(nearest[lo:lo + block_size])))
            break
        selected.append(pick)
        nearest[pick] = -np.inf
        centres[count], centre_norms[count] = points[pick], norms[pick]
    return selected


def _rounded(squared: np.ndarray) -> np.ndarray:
    """Distances as the float32 values a float32 reference compares: sklearn rounds the squared distance to
    float32, clips it at 0 and takes a float32 square root. Rounding a float64 square root instead differs by
    one ulp for about 10% of values, which flips the pick whenever the top two are that close."""
    rounded = np.sqrt(np.maximum(squared, 0).astype(np.float32))
    rounded[np.isneginf(squared)] = -1.0  # already selected
    return rounded


def coverage_radius(embeddings: np.ndarray, selected: list[int] | np.ndarray, chunk_rows: int = 8192) -> float:
    """Largest distance from any point to its nearest selected point (lower is better coverage)."""
    matrix = _as_matrix(embeddings)
    chosen = np.asarray(selected, dtype=np.int64)
    if chosen.size == 0:
        raise ConfigError("coverage radius needs at least one selected point")
    centres = matrix[chosen].astype(np.float64)
    centre_norms = np.einsum("ij,ij->i", centres, centres)
    rows = max(1, min(chunk_rows, 2**24 // max(1, len(chosen))))  # keep each distance block ≤ 128 MB
    worst = 0.0
    for start in range(0, matrix.shape[0], rows):
        block = matrix[start:start + rows].astype(np.float64)
        sq = np.einsum("ij,ij->i", block, block)[:, None] + centre_norms[None, :] - 2.0 * (block @ centres.T)
        worst = max(worst, float(np.sqrt(max(sq.min(axis=1).max(), 0.0))))
    return worst


def random_selection(n: int, k: int, seed: int = 0) -> list[int]:
    """A uniform random subset of the same size: the baseline the coverage radius is compared with."""
    return sorted(np.random.default_rng(seed).choice(n, size=min(k, n), replace=False).tolist())
