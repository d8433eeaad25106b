"""Initial codebooks: Forgy ('points'), Gaussian ('random') and k-means++ ('++').

Random numbers are drawn on the host by :mod:`xpcluster._rng` in exactly SciPy's order,
all before any device work, and moved to the data's device once.
"""
from __future__ import annotations

from typing import Any

import array_api_extra as xpx

from .. import _rng
from .chunks import row_chunks
from .dtypes import widest_float


def init_points(x: Any, k: int, rng: _rng.RandomSource, *, xp: Any, device: Any) -> Any:
    """``k`` distinct rows of ``x`` chosen uniformly at random."""
    n = x.shape[0]
    if k > n:
        raise ValueError(
            "Cannot take a larger sample than population when 'replace=False' "
            f"(choosing k={k} distinct observations out of n={n})"
        )
    index = _rng.draw_distinct_indices(rng, n, k)
    return xp.take(x, xp.asarray(index, device=device), axis=0)


def init_random(x: Any, k: int, rng: _rng.RandomSource, *, xp: Any, device: Any) -> Any:
    """``k`` draws from a Gaussian with the mean and covariance of ``x``.

    When there are more features than observations the covariance is rank deficient and
    the draws go through the thin SVD of the centred data instead of a Cholesky factor.
    """
    n, d = x.shape
    if n < 2:
        raise ValueError("minit='random' needs at least 2 observations to estimate a covariance")
    mean = xp.mean(x, axis=0)
    if d > n:
        _, s, vh = xp.linalg.svd(x - mean, full_matrices=False)
        draws = _rng.draw_standard_normal(rng, (k, s.shape[0]))
        factor = s[:, None] * vh / (float(n - 1) ** 0.5)
    else:
        covariance = xpx.atleast_nd(xpx.cov(xp.matrix_transpose(x), xp=xp), ndim=2, xp=xp)
        draws = _rng.draw_standard_normal(rng, (k, d))
        factor = xp.matrix_transpose(xp.linalg.cholesky(covariance))
    # SciPy draws in float64 and so does this; the codebook comes back in the data's dtype.
    draws = xp.asarray(draws, dtype=factor.dtype, device=device)
    return xp.astype(xp.matmul(draws, factor) + xp.astype(mean, factor.dtype), x.dtype)


def init_kmeans_plusplus(x: Any, k: int, rng: _rng.RandomSource, *, xp: Any, device: Any) -> Any:
    """k-means++ seeding (Arthur & Vassilvitskii, 2007), SciPy's variant.

    The first centre is a uniform pick; each next one is drawn with probability
    proportional to the squared distance to the nearest centre so far.  Distances are kept
    as a running minimum (one O(n*d) pass per centre) in float64 where the device has it, as
    SciPy's ``cdist`` computes them; the choice is a ``searchsorted`` on the device, so the
    loop never waits on a device-to-host copy.
    """
    n = x.shape[0]
    if k > n:
        raise ValueError(f"minit='++' cannot choose k={k} distinct centres out of n={n} observations")
    first = _rng.draw_index(rng, n)
    uniforms = _rng.draw_uniform(rng, k - 1)
    wide = widest_float(xp, device)
    thresholds = xp.asarray(uniforms, dtype=wide, device=device)
    index_dtype = xp.__array_namespace_info__().default_dtypes(device=device)["indexing"]
    last = xp.asarray(n - 1, dtype=index_dtype, device=device)

    centres = [x[first : first + 1, :]]
    nearest_sq = None
    for i in range(1, k):
        sq = _squared_distances_to(x, centres[-1], wide, xp=xp)
        nearest_sq = sq if nearest_sq is None else xp.minimum(nearest_sq, sq)
        cumulative = xp.cumulative_sum(nearest_sq / xp.sum(nearest_sq))
        pick = xp.searchsorted(cumulative, thresholds[i - 1 : i])
        # Rounding can leave the last cumulative value a hair below the uniform draw.
        pick = xp.minimum(xp.astype(pick, index_dtype), last)
        centres.append(xp.take(x, pick, axis=0))
    return xp.concat(centres, axis=0)


def _squared_distances_to(x: Any, point: Any, dtype: Any, *, xp: Any) -> Any:
    """Squared Euclidean distance of every row of ``x`` to ``point`` (1, d), chunked."""
    n, d = x.shape
    point = xp.astype(point, dtype)
    itemsize = xp.finfo(dtype).bits // 8
    pieces = []
    for start, stop in row_chunks(n, 2 * itemsize * d):
        diff = xp.astype(x[start:stop, :], dtype) - point
        pieces.append(xp.sum(diff * diff, axis=1))
    return pieces[0] if len(pieces) == 1 else xp.concat(pieces)
