"""Initial codebooks: Forgy ('points'), Gaussian ('random') and k-means++ ('++').

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


#: minit name -> (host draws, device build)
INIT_METHODS = {
    "points": (draw_points, build_points),
    "random": (draw_random, build_random),
    "++": (draw_kmeans_plusplus, build_kmeans_plusplus),
}
