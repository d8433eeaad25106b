"""Initial codebooks: Forgy ('points'), Gaussian ('random'), k-means++ ('++'), k-means|| ('k-means||').

Each method has two halves.  ``draw_*`` makes every random draw the method needs on the
host, with NumPy, in exactly SciPy's order, before any device work.  ``build_*`` turns the
data and those draws (already placed on the data's device) into the codebook, with
standard-only operations that a compiler can trace.
"""
from __future__ import annotations

import math
from typing import Any

import array_api_compat
import array_api_extra as xpx
import numpy as np

from .. import _rng
from .assign import assign_labels
from .chunks import memory_budget_bytes
from .dtypes import widest_float


def draw_points(rng: _rng.RandomSource, n: int, d: int, k: int) -> tuple[np.ndarray, ...]:
    if k > n:
        raise ValueError(
            "Cannot take a larger sample than population when 'replace=False' "
            f"(choosing k={k} distinct observations out of n={n})"
        )
    return (_rng.draw_distinct_indices(rng, n, k),)


def build_points(x: Any, draws: tuple[Any, ...], k: int, *, xp: Any, caps: Any) -> Any:
    """``k`` distinct rows of ``x`` chosen uniformly at random."""
    (index,) = draws
    return caps.take_rows(x, index)


def draw_random(rng: _rng.RandomSource, n: int, d: int, k: int) -> tuple[np.ndarray, ...]:
    if n < 2:
        raise ValueError("minit='random' needs at least 2 observations to estimate a covariance")
    return (_rng.draw_standard_normal(rng, (k, min(n, d))),)


def build_random(x: Any, draws: tuple[Any, ...], k: int, *, xp: Any, caps: Any) -> Any:
    """``k`` draws from a Gaussian with the mean and covariance of ``x``.

    When there are more features than observations the covariance is rank deficient and
    the draws go through the thin SVD of the centred data instead of a Cholesky factor.
    SciPy computes in float64 and so does this where the device has it; the codebook comes
    back in the data's dtype.
    """
    (normals,) = draws
    n, d = x.shape
    mean = xp.mean(x, axis=0)
    if d > n:
        _, s, vh = caps.thin_svd(x - mean)
        factor = s[:, None] * vh / math.sqrt(n - 1)
    else:
        covariance = xpx.atleast_nd(xpx.cov(xp.matrix_transpose(x), xp=xp), ndim=2, xp=xp)
        factor = xp.matrix_transpose(caps.cholesky(covariance))
    normals = xp.astype(normals, factor.dtype)
    return xp.astype(xp.matmul(normals, factor) + xp.astype(mean, factor.dtype), x.dtype)


def draw_kmeans_plusplus(rng: _rng.RandomSource, n: int, d: int, k: int) -> tuple[np.ndarray, ...]:
    if k > n:
        raise ValueError(f"minit='++' cannot choose k={k} distinct centres out of n={n} observations")
    first = np.asarray([_rng.draw_index(rng, n)], dtype=np.int64)
    # thresholds[i] is the uniform that picks centre i (entry 0 is unused).
    thresholds = np.concatenate([[0.0], _rng.draw_uniform(rng, k - 1)])
    return first, thresholds


def build_kmeans_plusplus(x: Any, draws: tuple[Any, ...], k: int, *, xp: Any, caps: Any) -> Any:
    """k-means++ seeding (Arthur & Vassilvitskii, 2007), SciPy's variant.

    The first centre is a uniform pick; each next one is drawn with probability
    proportional to the squared distance to the nearest centre so far.  Distances are kept
    as a running minimum (one O(n*d) pass per centre) in float64 where the device has it, as
    SciPy's ``cdist`` computes them; each pick counts the cumulative probabilities below its
    uniform draw (``searchsorted``, side left) on the device, so the loop never waits on a
    device-to-host copy and stays lazy on Dask.
    """
    first, thresholds = draws
    n = x.shape[0]
    wide = widest_float(xp, array_api_compat.device(x))
    positions = xp.arange(k, dtype=first.dtype, device=array_api_compat.device(x))
    picks = xp.zeros_like(positions) + first  # every entry the first pick until replaced

    def pick_next(i: Any, state: tuple[Any, Any]) -> tuple[Any, Any]:
        picks, nearest_sq = state
        previous = xp.reshape(picks[i - 1], (1,))
        sq = _squared_distances_to(x, caps.take_rows(x, previous), wide, xp=xp, caps=caps)
        nearest_sq = xp.minimum(nearest_sq, sq)
        cumulative = xp.cumulative_sum(nearest_sq / xp.sum(nearest_sq))
        pick = xp.count_nonzero(cumulative < xp.astype(thresholds[i], wide))
        # Rounding can leave the last cumulative value a hair below the uniform draw.
        pick = xp.clip(xp.astype(pick, picks.dtype), 0, n - 1)
        return xp.where(positions == i, pick, picks), nearest_sq

    nearest_sq = xp.full_like(x[:, 0], math.inf, dtype=wide)
    picks, _ = caps.fori_loop(1, k, pick_next, (picks, nearest_sq))
    return caps.take_rows(x, picks)


def _squared_distances_to(x: Any, point: Any, dtype: Any, *, xp: Any, caps: Any) -> Any:
    """Squared Euclidean distance of every row of ``x`` to ``point`` (1, d), chunked."""
    rows = max(1, memory_budget_bytes() // (2 * (xp.finfo(dtype).bits // 8) * x.shape[1]))
    (sq,), _ = caps.map_row_chunks(x, rows, _block_squared_distances, xp.astype(point, dtype))
    return sq


def _block_squared_distances(block: Any, point: Any) -> tuple[tuple[Any], tuple[()]]:
    bxp = array_api_compat.array_namespace(block)
    diff = bxp.astype(block, point.dtype) - point
    return (bxp.sum(diff * diff, axis=1),), ()


#: k-means||: rounds of oversampling, and points drawn per round per requested centre.
PARALLEL_ROUNDS = 5
PARALLEL_OVERSAMPLING = 2
#: Weighted Lloyd iterations that recluster the k-means|| candidates into k centres.
PARALLEL_RECLUSTER_ITERATIONS = 10


def draw_kmeans_parallel(rng: _rng.RandomSource, n: int, d: int, k: int) -> tuple[np.ndarray, ...]:
    if k > n:
        raise ValueError(f"minit='k-means||' cannot choose k={k} distinct centres out of n={n} observations")
    first = np.asarray([_rng.draw_index(rng, n)], dtype=np.int64)
    oversampling = PARALLEL_OVERSAMPLING * k
    round_uniforms = _rng.draw_uniform(rng, PARALLEL_ROUNDS * oversampling).reshape(PARALLEL_ROUNDS, oversampling)
    recluster_uniforms = _rng.draw_uniform(rng, k)
    return first, round_uniforms, recluster_uniforms


def build_kmeans_parallel(x: Any, draws: tuple[Any, ...], k: int, *, xp: Any, caps: Any) -> Any:
    """k-means|| seeding (Bahmani, Moseley, Vattani, Kumar & Vassilvitskii, 2012).

    Instead of k sequential passes over the data (k-means++), a few rounds each add
    ``l = 2k`` candidates drawn with probability proportional to the squared distance to
    the candidates so far; the candidates are then weighted by the number of observations
    nearest to them and reclustered into k centres by weighted k-means++ and a few weighted
    Lloyd iterations.  Each round draws its ``l`` candidates independently (the
    with-replacement variant analysed by Bachem, Lucic & Krause, 2017) rather than keeping
    each observation with its own coin: the candidate set then has the static size
    ``1 + rounds * l`` that compiled and lazy backends need, and the host draws are
    ``rounds * l + k`` uniforms whatever n is.  Passes over the data: ``rounds + 1``.
    """
    first, round_uniforms, recluster_uniforms = draws
    n = x.shape[0]
    wide = widest_float(xp, array_api_compat.device(x))
    candidates = caps.take_rows(x, first)
    nearest_sq = _squared_distances_to_set(x, candidates, wide, xp=xp, caps=caps)
    for r in range(round_uniforms.shape[0]):
        cumulative = xp.cumulative_sum(nearest_sq / xp.sum(nearest_sq))
        picks = xp.searchsorted(cumulative, xp.astype(round_uniforms[r, :], wide))
        picks = xp.clip(xp.astype(picks, first.dtype), 0, n - 1)
        new = caps.take_rows(x, picks)
        nearest_sq = xp.minimum(nearest_sq, _squared_distances_to_set(x, new, wide, xp=xp, caps=caps))
        candidates = xp.concat([candidates, new], axis=0)
    counts = assign_labels(x, candidates, xp=xp, caps=caps, with_sums=True).counts
    return _recluster(candidates, xp.astype(counts, wide), recluster_uniforms, k, xp=xp, caps=caps)


def _squared_distances_to_set(x: Any, points: Any, dtype: Any, *, xp: Any, caps: Any) -> Any:
    """Squared distance of every row of ``x`` to its nearest row of ``points``."""
    distances = assign_labels(x, points, xp=xp, caps=caps, with_distances=True).distances
    distances = xp.astype(distances, dtype)
    return distances * distances


def _recluster(points: Any, weights: Any, uniforms: Any, k: int, *, xp: Any, caps: Any) -> Any:
    """k centres for weighted ``points``: weighted k-means++, then weighted Lloyd steps."""
    m = points.shape[0]
    wide = weights.dtype
    as_wide = xp.astype(points, wide)
    positions = xp.arange(k, device=array_api_compat.device(points))
    first = xp.count_nonzero(xp.cumulative_sum(weights / xp.sum(weights)) < xp.astype(uniforms[0], wide))
    picks = xp.zeros_like(positions) + xp.clip(first, 0, m - 1)

    def pick_next(i: Any, state: tuple[Any, Any]) -> tuple[Any, Any]:
        picks, nearest_sq = state
        previous = xp.take(as_wide, xp.reshape(picks[i - 1], (1,)), axis=0)
        diff = as_wide - previous
        nearest_sq = xp.minimum(nearest_sq, xp.sum(diff * diff, axis=1))
        mass = weights * nearest_sq
        pick = xp.count_nonzero(xp.cumulative_sum(mass / xp.sum(mass)) < xp.astype(uniforms[i], wide))
        return xp.where(positions == i, xp.clip(pick, 0, m - 1), picks), nearest_sq

    picks, _ = caps.fori_loop(1, k, pick_next, (picks, xp.full_like(weights, math.inf)))
    centres = xp.take(as_wide, picks, axis=0)
    classes = xp.arange(k, device=array_api_compat.device(points))

    def lloyd_step(_: Any, centres: Any) -> Any:
        # A small (m by k) problem, one centre at a time: O(m*d) memory, not the O(m*k*d)
        # of broadcasting all pairs (gigabytes for text-sized d).
        sq = xp.stack([xp.sum((as_wide - centres[j : j + 1, :]) ** 2, axis=1) for j in range(k)], axis=1)
        one_hot = xp.astype(xp.argmin(sq, axis=1)[:, None] == classes[None, :], wide) * weights[:, None]
        mass = xp.sum(one_hot, axis=0)
        sums = xp.matmul(xp.matrix_transpose(one_hot), as_wide)
        has_mass = mass > 0
        denominators = mass + xp.astype(~has_mass, wide)
        return xp.where(has_mass[:, None], sums / denominators[:, None], centres)

    centres = caps.fori_loop(0, PARALLEL_RECLUSTER_ITERATIONS, lloyd_step, centres)
    return xp.astype(centres, points.dtype)


#: minit name -> (host draws, device build)
INIT_METHODS = {
    "points": (draw_points, build_points),
    "random": (draw_random, build_random),
    "++": (draw_kmeans_plusplus, build_kmeans_plusplus),
    "k-means||": (draw_kmeans_parallel, build_kmeans_parallel),
}
