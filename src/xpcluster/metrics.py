"""Clustering quality scores (scikit-learn's ``sklearn.metrics`` ones, plus inertia), native and memory-bounded.

:func:`silhouette_samples`, :func:`silhouette_score`, :func:`calinski_harabasz_score` and
:func:`davies_bouldin_score` return scikit-learn's values (to rounding) for NumPy input;
:func:`inertia` is the within-cluster sum of squares k-means minimises.  With Array API
dispatch on, every score is computed in the input's own array library and on its device:

* **Results** are 0-d arrays of that library, in the input's float dtype (integers become
  the default float): a NumPy scalar (``numpy.float64`` is a ``float``) for NumPy, a 0-d
  tensor for PyTorch, a lazy 0-d array for Dask (nothing is computed but the label count,
  see below).  ``silhouette_samples`` returns one value per sample.
* **Memory** stays bounded whatever ``n``: the silhouette computes distances tile by tile
  (a block of rows against a block of columns, sized by :func:`xpcluster.memory_budget`)
  and folds each tile into per-cluster sums at once, so it needs O(block * n) memory in
  all and never the n-by-n distance matrix.  The other scores stream over row chunks.
* **Labels** may be any integers (or booleans, or integral floats); they are mapped to
  0..k-1 in sorted order with ``unique_inverse``.  The number of distinct labels decides
  the shapes, so it is read at call time: Dask computes it (one small compute, the labels'
  distinct values) and the result stays lazy otherwise.  Inside ``jax.jit`` the labels
  have no value yet: the labels are ranked by sorting and up to ``n`` clusters are
  provisioned (empty ones are ignored), so the scores work under ``jax.jit`` too, in
  O(n) more memory; value checks there raise when the compiled program runs.
* **Bad input** raises scikit-learn's errors: fewer than 2 or more than ``n - 1``
  distinct labels, inconsistent lengths, NaN or infinity in ``X``.
"""
from __future__ import annotations

import functools
import math
import numbers
from typing import Any, NamedTuple

import array_api_compat
import numpy as np

from . import _rng
from ._backends import capabilities_for
from ._core.chunks import memory_budget, memory_budget_bytes
from ._core.dtypes import to_compute_dtype
from ._core.scale import range_scale, scaled, unscaled_checked
from ._dispatch import resolve
from ._checks import Checks, raise_error

__all__ = [
    "inertia",
    "silhouette_samples",
    "silhouette_score",
    "calinski_harabasz_score",
    "davies_bouldin_score",
]

#: Silhouette distance metrics, with scikit-learn's aliases.
_METRIC_ALIASES = {
    "euclidean": "euclidean",
    "l2": "euclidean",
    "sqeuclidean": "sqeuclidean",
    "manhattan": "manhattan",
    "cityblock": "manhattan",
    "l1": "manhattan",
    "cosine": "cosine",
}

#: Up to this many clusters a distance tile is folded into per-cluster sums by a product
#: with the columns' one-hot matrix (fast matmul); beyond it by segment sums.
_ONE_HOT_MAX_CLUSTERS = 64

#: Up to this many features squared distances are summed feature by feature (exact, and
#: faster than a matrix product with so short an inner dimension).
_DIRECT_MAX_FEATURES = 8

#: Floats hold integers exactly up to 2**mantissa; labels packed into float columns must fit.
_EXACT_INTEGERS = {4: 2**24, 8: 2**53}


# --------------------------------------------------------------------------------------
# Input handling


class _Labelled(NamedTuple):
    xp: Any
    caps: Any
    checks: Any
    X: Any  # (n, d) in its compute float dtype, n known
    ids: Any  # (n,) int32 cluster index in [0, k)
    k: int  # number of cluster slots (distinct labels; n inside a trace)


def _as_matrix(X: Any, xp: Any, caps: Any, checks: Any) -> Any:
    """``X`` as a 2-D float array with a known number of rows, checked for NaN/inf."""
    if X.ndim != 2:
        raise ValueError(
            f"Expected 2D array, got {X.ndim}D array instead; reshape your data with "
            "X.reshape(-1, 1) for a single feature or X.reshape(1, -1) for a single sample"
        )
    dtype = X.dtype
    if not (xp.isdtype(dtype, ("real floating", "integral")) or dtype == xp.bool):
        raise ValueError(f"X must hold real numbers, got an array of dtype {dtype}")
    X = caps.known_rows(to_compute_dtype(X, xp, checks, name="X"))
    n, d = X.shape
    if n < 1:
        raise ValueError(f"Found array with 0 sample(s) (shape={tuple(X.shape)}) while a minimum of 1 is required.")
    if d < 1:
        raise ValueError(f"Found array with 0 feature(s) (shape={tuple(X.shape)}) while a minimum of 1 is required.")
    checks.add(~xp.all(xp.isfinite(X)), raise_error(ValueError("Input X contains NaN or infinity.")))
    return X


def _as_labels(labels: Any, X: Any, xp: Any, caps: Any, checks: Any) -> Any:
    if labels.ndim != 1:
        raise ValueError(f"labels should be a 1d array, got an array of shape {tuple(labels.shape)} instead.")
    if not (xp.isdtype(labels.dtype, ("real floating", "integral")) or labels.dtype == xp.bool):
        raise ValueError(f"labels must be integers, got an array of dtype {labels.dtype}")
    labels = caps.known_rows(labels)
    if labels.shape[0] != X.shape[0]:
        raise ValueError(
            "Found input variables with inconsistent numbers of samples: "
            f"[{X.shape[0]}, {labels.shape[0]}]"
        )
    if xp.isdtype(labels.dtype, "real floating"):
        checks.add(~xp.all(xp.isfinite(labels)), raise_error(ValueError("Input labels contain NaN or infinity.")))
    return labels


def _check_label_count(n_labels: Any, n: int, checks: Any) -> None:
    """scikit-learn's rule: 2 to n - 1 distinct labels."""
    if isinstance(n_labels, int):
        if not 1 < n_labels < n:
            raise ValueError(f"Number of labels is {n_labels}. Valid values are 2 to n_samples - 1 (inclusive)")
        return
    checks.add(
        (n_labels < 2) | (n_labels > n - 1),
        raise_error(ValueError("Number of labels is outside 2 to n_samples - 1. Valid values are 2 to n_samples - 1 (inclusive)")),
    )


def _dense_ranks(labels: Any, xp: Any) -> tuple[Any, Any]:
    """Labels ranked among their distinct values (0..m-1) and m, for traced labels: by
    sorting, as ``unique_inverse`` cannot run without knowing m."""
    device = array_api_compat.device(labels)
    order = xp.argsort(labels, stable=True)
    ordered = xp.take(labels, order)
    starts = xp.concat([xp.ones((1,), dtype=xp.bool, device=device), ordered[1:] != ordered[:-1]])
    ranks = xp.cumulative_sum(xp.astype(starts, xp.int32)) - 1
    return xp.take(ranks, xp.argsort(order, stable=True)), ranks[-1] + 1


def _cluster_ids(labels: Any, n: int, xp: Any, caps: Any) -> tuple[Any, int, Any]:
    """``(ids, k, n_labels)``: labels as 0..k-1 (sorted order of the distinct labels).

    Concrete labels: ``k`` distinct labels, ``n_labels == k`` (an int).  Traced labels:
    ``k = n`` slots, of which ``n_labels`` (a 0-d array) are used.
    """
    if caps.is_traced(labels):
        ids, n_labels = _dense_ranks(labels, xp)
        return ids, n, n_labels
    values, inverse = xp.unique_inverse(labels)
    k = int(caps.known_rows(values).shape[0])  # Dask: computes the distinct labels
    return xp.astype(xp.reshape(inverse, (-1,)), xp.int32), k, k


def _prepare(X: Any, labels: Any, checks: Any = None) -> _Labelled:
    """Resolve, validate and label-map the inputs of one call (``checks``: those of the
    call so far, when it already made some)."""
    xp, _, (X, labels) = resolve(X, labels)
    caps = capabilities_for(xp)
    checks = Checks(caps) if checks is None else checks
    X = _as_matrix(X, xp, caps, checks)
    # Silhouette, CH and DB are ratios of distances: data scaled into the dtype's safe
    # range by a power of two (exact) gives the same scores without overflow or underflow.
    X = scaled(X, range_scale(X, xp=xp, caps=caps))
    labels = _as_labels(labels, X, xp, caps, checks)
    ids, k, n_labels = _cluster_ids(labels, X.shape[0], xp, caps)
    _check_label_count(n_labels, X.shape[0], checks)
    return _Labelled(xp, caps, checks, X, ids, k)


def _scalar(result: Any, checks: Any) -> Any:
    (result,) = checks.attach(result)
    return result[()]


def _rows_for(width: int, itemsize: int) -> int:
    """Rows per chunk of a streaming pass whose temporaries are a few rows of ``width``."""
    return max(1, memory_budget_bytes() // (4 * itemsize * (width + 2)))


def _check_packable(k: int, dtype: Any, xp: Any) -> None:
    itemsize = xp.finfo(dtype).bits // 8
    if k > _EXACT_INTEGERS.get(itemsize, 2**24):
        raise ValueError(f"{k} clusters are more than {dtype} can index exactly; use float64 data")


def _budgeted(core: Any) -> Any:
    """``core`` taking the memory budget as a static ``budget`` argument, so a compiled
    core (JAX) is re-made when the budget in force changes."""

    def run(*args: Any, budget: int, **kwargs: Any) -> Any:
        with memory_budget(budget):
            return core(*args, **kwargs)

    # Not functools.wraps: jax.jit reads the signature, which must show ``budget``.
    run.__name__ = run.__qualname__ = core.__name__
    run.__doc__ = core.__doc__
    return run


def _run(core: Any, static: tuple[str, ...], *args: Any, **kwargs: Any) -> Any:
    """``core(*args, **kwargs)``, compiled for the backend of ``kwargs['caps']``."""
    return kwargs["caps"].compiled(core, (*static, "budget"))(*args, budget=memory_budget_bytes(), **kwargs)


# --------------------------------------------------------------------------------------
# Chunked per-cluster passes (each block function runs in its block's own namespace:
# a Dask block is a NumPy or CuPy array)


def _pack(xp: Any, columns: Any, *extra: Any) -> Any:
    """One array to stream over: ``columns`` (n, m) then each 1-D ``extra`` as a column."""
    return xp.concat([columns, *(xp.astype(e, columns.dtype)[:, None] for e in extra)], axis=1)


def _block_cluster_sums(block: Any, *, k: int, weighted: bool) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """Per-cluster sums of the (weighted) rows of one block of ``[X, ids(, w)]``, and the
    clusters' (weighted) sizes."""
    bxp = array_api_compat.array_namespace(block)
    m = block.shape[1] - (2 if weighted else 1)
    ids = bxp.astype(block[:, m], bxp.int32)
    values = block[:, :m]
    if weighted:
        w = block[:, m + 1]
        values = bxp.concat([values * w[:, None], w[:, None]], axis=1)
    sums, counts = capabilities_for(bxp).segment_sums(values, ids, k)
    sums = bxp.astype(sums, block.dtype)
    if weighted:
        return (), (sums[:, :m], sums[:, m])
    return (), (sums, bxp.astype(counts, block.dtype))


def _cluster_means(X: Any, ids: Any, k: int, *, xp: Any, caps: Any, weights: Any = None) -> tuple[Any, Any]:
    """``(means (k, d), sizes (k,))``: (weighted) cluster means; an empty cluster's mean is 0."""
    weighted = weights is not None
    packed = _pack(xp, X, ids, weights) if weighted else _pack(xp, X, ids)
    fn = functools.partial(_block_cluster_sums, k=k, weighted=weighted)
    _, (sums, sizes) = caps.map_row_chunks(packed, _rows_for(X.shape[1] + k, xp.finfo(X.dtype).bits // 8), fn)
    safe = xp.where(sizes > 0, sizes, xp.ones_like(sizes))
    return sums / safe[:, None], sizes


def _block_squared_deviations(block: Any, centers: Any, *, weighted: bool) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """Sum over one block of ``[X, ids(, w)]`` of (w times) |x - centers[id]|^2."""
    bxp = array_api_compat.array_namespace(block)
    m = block.shape[1] - (2 if weighted else 1)
    ids = bxp.astype(block[:, m], bxp.int32)
    diff = block[:, :m] - bxp.take(centers, ids, axis=0)
    squared = bxp.sum(diff * diff, axis=1)
    if weighted:
        squared = squared * block[:, m + 1]
    return (), (bxp.sum(squared),)


def _within_sum_of_squares(X: Any, ids: Any, centers: Any, *, xp: Any, caps: Any, weights: Any = None) -> Any:
    weighted = weights is not None
    packed = _pack(xp, X, ids, weights) if weighted else _pack(xp, X, ids)
    fn = functools.partial(_block_squared_deviations, weighted=weighted)
    _, (total,) = caps.map_row_chunks(packed, _rows_for(2 * X.shape[1], xp.finfo(X.dtype).bits // 8), fn, centers)
    return total


def _block_distance_sums(block: Any, centers: Any, *, k: int) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """Per-cluster sums of the distances |x - centers[id]| over one block of ``[X, ids]``."""
    bxp = array_api_compat.array_namespace(block)
    m = block.shape[1] - 1
    ids = bxp.astype(block[:, m], bxp.int32)
    diff = block[:, :m] - bxp.take(centers, ids, axis=0)
    distances = bxp.sqrt(bxp.sum(diff * diff, axis=1))
    sums, _ = capabilities_for(bxp).segment_sums(distances[:, None], ids, k)
    return (), (bxp.astype(sums[:, 0], block.dtype),)


# --------------------------------------------------------------------------------------
# inertia


@_budgeted
def _inertia_core(X: Any, ids: Any, weights: Any, centers: Any, *, k: int, xp: Any, caps: Any) -> Any:
    shift = xp.mean(X, axis=0)  # distances do not change; sums lose less to rounding
    X = X - shift
    if centers is None:
        centers, _ = _cluster_means(X, ids, k, xp=xp, caps=caps, weights=weights)
    else:
        centers = centers - shift
    return _within_sum_of_squares(X, ids, centers, xp=xp, caps=caps, weights=weights)


_INERTIA_STATIC = ("k", "xp", "caps")


def inertia(X, labels, centers=None, sample_weight=None):
    """Within-cluster sum of squares: what k-means minimises.

    ``sum_i w_i * |x_i - c_{labels_i}|^2`` over the samples, with ``c`` the given
    ``centers`` or, by default, the (weighted) mean of each cluster.

    Parameters
    ----------
    X : array_like of shape (n_samples, n_features)
        The samples.
    labels : array_like of shape (n_samples,)
        Cluster of each sample.  With ``centers``, integer indices into the rows of
        ``centers``; without, any integers (a single cluster is fine).
    centers : array_like of shape (n_clusters, n_features), optional
        Cluster centres, e.g. a fitted k-means' ``cluster_centers_``.  Default: the
        cluster means.
    sample_weight : array_like of shape (n_samples,), optional
        Non-negative weight of each sample (default 1); default centres are then the
        weighted means.

    Returns
    -------
    inertia : 0-d array
        In ``X``'s namespace, on its device, in its float dtype (a NumPy scalar for NumPy).
        For k-means' labels and centres it equals scikit-learn's ``KMeans.inertia_``.

    Examples
    --------
    >>> import numpy as np
    >>> from xpcluster.metrics import inertia
    >>> X = np.array([[0.0, 0.0], [0.0, 2.0], [10.0, 0.0], [10.0, 4.0]])
    >>> float(inertia(X, [0, 0, 1, 1]))
    10.0
    >>> float(inertia(X, [0, 0, 1, 1], centers=np.array([[0.0, 0.0], [10.0, 0.0]])))
    20.0
    """
    xp, _, (X, labels, centers, sample_weight) = resolve(X, labels, centers, sample_weight)
    caps = capabilities_for(xp)
    checks = Checks(caps)
    X = _as_matrix(X, xp, caps, checks)
    labels = _as_labels(labels, X, xp, caps, checks)
    n, d = X.shape
    if sample_weight is not None:
        if sample_weight.ndim != 1 or caps.known_rows(sample_weight).shape[0] != n:
            raise ValueError(
                f"sample_weight.shape == {tuple(sample_weight.shape)}, expected ({n},)!"
            )
        if not (xp.isdtype(sample_weight.dtype, ("real floating", "integral")) or sample_weight.dtype == xp.bool):
            raise ValueError(f"sample_weight must hold real numbers, got dtype {sample_weight.dtype}")
        sample_weight = caps.known_rows(xp.astype(sample_weight, X.dtype))
        checks.add(
            ~xp.all(xp.isfinite(sample_weight) & (sample_weight >= 0)),
            raise_error(ValueError("sample_weight must be finite and non-negative.")),
        )
    if centers is None:
        ids, k, _ = _cluster_ids(labels, n, xp, caps)
    else:
        if centers.ndim != 2 or centers.shape[1] != d:
            raise ValueError(
                f"centers must have shape (n_clusters, {d}) to match X, got {tuple(centers.shape)}"
            )
        if not xp.isdtype(labels.dtype, "integral"):
            raise ValueError(f"with centers, labels must be integer indices into them, got dtype {labels.dtype}")
        centers = caps.known_rows(centers)
        k = centers.shape[0]
        if k < 1:
            raise ValueError("centers is empty: it needs at least one row")
        centers = xp.astype(centers, X.dtype)
        checks.add(~xp.all(xp.isfinite(centers)), raise_error(ValueError("Input centers contains NaN or infinity.")))
        checks.add(
            ~xp.all((labels >= 0) & (labels < k)),
            raise_error(ValueError(f"labels must index the rows of centers: 0 <= label < {k}")),
        )
        # Kept in range for the computation, so that the check above (which on Dask and
        # under jax.jit fires with the result) is what reports a bad label, not an indexing
        # error from inside a block.
        ids = xp.astype(xp.clip(labels, min=0, max=k - 1), xp.int32)
    _check_packable(k, X.dtype, xp)
    s = range_scale(X, centers, xp=xp, caps=caps)
    total = _run(_inertia_core, _INERTIA_STATIC, scaled(X, s), ids, sample_weight, None if centers is None else scaled(centers, s), k=k, xp=xp, caps=caps)
    total = unscaled_checked(total, s, 2, xp=xp, checks=checks, what="inertia")
    return _scalar(total, checks)


# --------------------------------------------------------------------------------------
# Silhouette


def _tile_distances(a: Any, b: Any, a_index: Any, b_index: Any, metric: str, xp: Any) -> Any:
    """Distances between the rows of ``a`` (m, d) and ``b`` (c, d): an (m, c) tile.

    Few features (and manhattan): summed per feature, exact (a point's distance to
    itself is 0).  More: one matrix product of the rows augmented with their squared
    norms, ``[a, |a|^2, 1] . [-2b, 1, |b|^2]``, which gives |a|^2 - 2a.b + |b|^2 in a
    single fast pass; its rounding residue on the diagonal is set to 0 as scikit-learn
    does (``a_index``/``b_index`` are the rows' sample indices).
    """
    d = a.shape[1]
    if metric == "manhattan" or (metric != "cosine" and d <= _DIRECT_MAX_FEATURES):
        total = None
        for j in range(d):
            diff = a[:, j : j + 1] - b[:, j][None, :]
            term = xp.abs(diff) if metric == "manhattan" else diff * diff
            total = term if total is None else total + term
        return xp.sqrt(total) if metric == "euclidean" else total
    if metric == "cosine":  # rows already scaled to unit length (zero rows stay zero)
        # A sample is at distance 0 from itself, a zero row included (as scikit-learn has
        # it: 1 from every other sample, so its silhouette is 0).
        cosine = xp.clip(1 - xp.matmul(a, b.T), min=0, max=2)
        return xp.where(a_index[:, None] == b_index[None, :], xp.zeros_like(cosine), cosine)
    a_sq = xp.sum(a * a, axis=1)[:, None]
    b_sq = xp.sum(b * b, axis=1)[:, None]
    left = xp.concat([a, a_sq, xp.ones_like(a_sq)], axis=1)
    right = xp.concat([-2 * b, xp.ones_like(b_sq), b_sq], axis=1)
    squared = xp.clip(xp.matmul(left, right.T), min=0)
    squared = xp.where(a_index[:, None] == b_index[None, :], xp.zeros_like(squared), squared)
    return squared if metric == "sqeuclidean" else xp.sqrt(squared)


def _silhouette_tile(
    cols: Any, pts: Any, rows: Any, X: Any, ids: Any, *, metric: str, k: int, one_hot: bool
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """Distances from the rows ``rows`` (points ``pts``) to the columns ``cols``, folded
    at once into per-cluster sums (m, k): the tile itself is never kept."""
    bxp = array_api_compat.array_namespace(cols, pts)
    col_ids = bxp.take(ids, cols)
    tile = _tile_distances(pts, bxp.take(X, cols, axis=0), rows, cols, metric, bxp)
    if one_hot:
        classes = bxp.arange(k, dtype=col_ids.dtype, device=array_api_compat.device(col_ids))
        members = bxp.astype(col_ids[:, None] == classes[None, :], tile.dtype)
        return (), (bxp.matmul(tile, members),)
    sums, _ = capabilities_for(bxp).segment_sums(tile.T, col_ids, k)
    return (), (bxp.astype(sums, tile.dtype).T,)


def _silhouette_rows(
    rows: Any, X: Any, ids: Any, sizes: Any, *, metric: str, k: int, one_hot: bool, cols: int
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """Silhouette values of the samples ``rows`` (indices), against all n samples."""
    bxp = array_api_compat.array_namespace(rows, X)
    device = array_api_compat.device(rows)
    rows = bxp.reshape(rows, (-1,))
    pts = bxp.take(X, rows, axis=0)
    own = bxp.take(ids, rows)
    every = bxp.arange(X.shape[0], dtype=rows.dtype, device=device)
    tile = functools.partial(_silhouette_tile, metric=metric, k=k, one_hot=one_hot)
    _, (sums,) = capabilities_for(bxp).map_row_chunks(every, cols, tile, pts, rows, X, ids)

    classes = bxp.arange(k, dtype=own.dtype, device=device)
    in_own = own[:, None] == classes[None, :]
    zeros = bxp.zeros_like(sums)
    own_size = bxp.sum(bxp.where(in_own, sizes[None, :], zeros), axis=1)
    # a: mean distance to the other members of the own cluster.
    intra = bxp.sum(bxp.where(in_own, sums, zeros), axis=1) / bxp.maximum(own_size - 1, bxp.ones_like(own_size))
    # b: smallest mean distance to another (non-empty) cluster.
    means = sums / bxp.where(sizes > 0, sizes, bxp.ones_like(sizes))[None, :]
    excluded = in_own | (sizes == 0)[None, :]
    inter = bxp.min(bxp.where(excluded, bxp.full_like(means, math.inf), means), axis=1)
    scale = bxp.maximum(intra, inter)
    undefined = (own_size <= 1) | (scale == 0)  # scikit-learn: 0 for singletons and 0/0
    values = (inter - intra) / bxp.where(undefined, bxp.ones_like(scale), scale)
    return (bxp.where(undefined, bxp.zeros_like(values), values),), ()


@_budgeted
def _silhouette_core(X: Any, ids: Any, *, metric: str, k: int, one_hot: bool, rows: int, cols: int, xp: Any, caps: Any) -> Any:
    if metric == "cosine":
        norms = xp.sqrt(xp.sum(X * X, axis=1))
        X = X / xp.where(norms > 0, norms, xp.ones_like(norms))[:, None]
    else:  # distances do not change; the expansion loses less to rounding near the origin
        X = X - xp.mean(X, axis=0)
    _, sizes = _cluster_means(X, ids, k, xp=xp, caps=caps)
    n = X.shape[0]
    # Row indices laid out like X's rows (Dask: X's blocks, each its own task), as a
    # column: row chunks are taken from 2-D arrays.
    index = xp.arange(n, dtype=ids.dtype, device=array_api_compat.device(X)) + xp.zeros_like(ids)
    index = xp.reshape(index, (n, 1))
    fn = functools.partial(_silhouette_rows, metric=metric, k=k, one_hot=one_hot, cols=cols)
    (values,), _ = caps.map_row_chunks(index, rows, fn, X, ids, sizes)
    return values


_SILHOUETTE_STATIC = ("metric", "k", "one_hot", "rows", "cols", "xp", "caps")


def _tile_shape(n: int, k: int, itemsize: int, block_bytes: int | None) -> tuple[bool, int, int]:
    """``(one_hot, rows, cols)`` for the silhouette's distance tiles.

    A tile and its few temporaries fit the memory budget.  With few clusters a tile is
    (rows, cols) with ``cols`` about 2 * ``rows``, folded by a product with the columns'
    one-hot matrix; the backend's preferred block size (CPU backends: cache-sized) bounds
    the tile and its temporaries together, which is 4-10x faster than tiles that spill
    out of the cache.  With many clusters the fold is a segment sum whose (k, rows)
    result would be re-made for every tile, so a tile spans all n columns instead.
    """
    elements = max(1, memory_budget_bytes() // (8 * itemsize))
    if k > _ONE_HOT_MAX_CLUSTERS:
        return False, max(1, elements // (n + k)), n
    if block_bytes is not None:
        elements = max(1, min(elements, block_bytes // (4 * itemsize)))
    cols = min(n, max(1, math.isqrt(2 * elements)))
    return True, max(1, elements // cols), cols


def _check_metric(metric: Any) -> str:
    if not isinstance(metric, str) or metric not in _METRIC_ALIASES:
        raise ValueError(f"Unknown metric {metric!r}; choose one of {sorted(_METRIC_ALIASES)}")
    return _METRIC_ALIASES[metric]


def _silhouette_values(problem: _Labelled, metric: str) -> Any:
    xp, caps, X = problem.xp, problem.caps, problem.X
    n, d = X.shape
    one_hot, rows, cols = _tile_shape(n, problem.k, xp.finfo(X.dtype).bits // 8, caps.block_bytes)
    _check_packable(problem.k, X.dtype, xp)
    return _run(
        _silhouette_core, _SILHOUETTE_STATIC, X, problem.ids,
        metric=metric, k=problem.k, one_hot=one_hot, rows=rows, cols=cols, xp=xp, caps=caps,
    )


def silhouette_samples(X, labels, metric="euclidean"):
    """The silhouette coefficient of each sample.

    ``s_i = (b_i - a_i) / max(a_i, b_i)``, with ``a_i`` the mean distance from sample
    ``i`` to the other members of its cluster and ``b_i`` the smallest mean distance to
    the members of another cluster; 0 for samples alone in their cluster.  Exact (every
    pair of samples), in O(block * n) memory: distances are made tile by tile and folded
    into per-cluster sums at once.

    Parameters
    ----------
    X : array_like of shape (n_samples, n_features)
        The samples.
    labels : array_like of shape (n_samples,)
        Cluster of each sample: any integers, 2 to ``n_samples - 1`` distinct ones.
    metric : {'euclidean', 'sqeuclidean', 'manhattan', 'cosine'}, optional
        Distance between samples (scikit-learn's aliases 'l2', 'cityblock', 'l1' work).

    Returns
    -------
    silhouette : array of shape (n_samples,)
        In ``X``'s namespace, on its device, in its float dtype; equal to
        ``sklearn.metrics.silhouette_samples`` up to rounding.

    Examples
    --------
    >>> import numpy as np
    >>> from xpcluster.metrics import silhouette_samples
    >>> X = np.array([[0.0], [1.0], [10.0], [11.0]])
    >>> silhouette_samples(X, [0, 0, 1, 1]).round(3)
    array([0.905, 0.895, 0.895, 0.905])
    """
    metric = _check_metric(metric)
    problem = _prepare(X, labels)
    (values,) = problem.checks.attach(_silhouette_values(problem, metric))
    return values


def silhouette_score(X, labels, metric="euclidean", sample_size=None, random_state=None):
    """Mean silhouette coefficient of all samples (or of a random subset).

    Parameters
    ----------
    X : array_like of shape (n_samples, n_features)
        The samples.
    labels : array_like of shape (n_samples,)
        Cluster of each sample: any integers, 2 to ``n_samples - 1`` distinct ones.
    metric : {'euclidean', 'sqeuclidean', 'manhattan', 'cosine'}, optional
        Distance between samples (scikit-learn's aliases 'l2', 'cityblock', 'l1' work).
    sample_size : int, optional
        Score a random subset of this many samples (drawn without replacement on the
        host, as scikit-learn draws it: ``random_state.permutation(n)[:sample_size]``)
        instead of all: O(sample_size**2) work instead of O(n**2).
    random_state : {None, int, numpy.random.RandomState, numpy.random.Generator}, optional
        Source of the subset's draw, with scikit-learn's meaning (None: NumPy's global
        random state; an int seeds a ``RandomState``).  Ignored without ``sample_size``.

    Returns
    -------
    score : 0-d array
        In ``X``'s namespace, on its device, in its float dtype (a NumPy scalar for NumPy);
        equal to ``sklearn.metrics.silhouette_score`` with the same arguments up to rounding.

    Examples
    --------
    >>> import numpy as np
    >>> from xpcluster.metrics import silhouette_score
    >>> X = np.array([[0.0], [1.0], [10.0], [11.0]])
    >>> round(float(silhouette_score(X, [0, 0, 1, 1])), 4)
    0.8997
    """
    metric = _check_metric(metric)
    checks = None
    if sample_size is not None:
        if not isinstance(sample_size, numbers.Integral | np.integer) or isinstance(sample_size, bool) or sample_size < 1:
            raise ValueError(f"sample_size must be a positive integer, got {sample_size!r}")
        xp, _, (X, labels) = resolve(X, labels)
        caps = capabilities_for(xp)
        checks = Checks(caps)
        X = _as_matrix(X, xp, caps, checks)  # all of X is checked, as scikit-learn does
        labels = _as_labels(labels, X, xp, caps, checks)
        picked = _rng.random_source(random_state).permutation(X.shape[0])[:sample_size]
        index_dtype = xp.__array_namespace_info__().default_dtypes(device=array_api_compat.device(X))["indexing"]
        placed = caps.to_device(picked, X, index_dtype)
        X, labels = caps.take_rows(X, placed), xp.take(labels, placed)
    problem = _prepare(X, labels, checks)
    values = _silhouette_values(problem, metric)
    return _scalar(problem.xp.mean(values), problem.checks)


# --------------------------------------------------------------------------------------
# Calinski-Harabasz and Davies-Bouldin


@_budgeted
def _calinski_harabasz_core(X: Any, ids: Any, *, k: int, xp: Any, caps: Any) -> Any:
    X = X - xp.mean(X, axis=0)  # the overall mean is now 0
    n = X.shape[0]
    centers, sizes = _cluster_means(X, ids, k, xp=xp, caps=caps)
    between = xp.sum(sizes * xp.sum(centers * centers, axis=1))
    within = _within_sum_of_squares(X, ids, centers, xp=xp, caps=caps)
    n_labels = xp.astype(xp.sum(xp.astype(sizes > 0, xp.int32)), X.dtype)
    safe_within = xp.where(within == 0, xp.ones_like(within), within)
    score = between * (n - n_labels) / (safe_within * (n_labels - 1))
    return xp.where(within == 0, xp.ones_like(score), score)


def _block_centroid_ratios(index: Any, centers: Any, spread: Any, used: Any, tiny: Any) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """For the clusters ``index`` (a column): each one's largest (s_i + s_j) / |c_i - c_j|
    over the other used clusters j, and how many pairs of used clusters lie more than
    ``tiny`` apart."""
    bxp = array_api_compat.array_namespace(index, centers)
    index = bxp.reshape(index, (-1,))
    diff = bxp.take(centers, index, axis=0)[:, None, :] - centers[None, :, :]
    distance = bxp.sqrt(bxp.sum(diff * diff, axis=2))
    others = bxp.arange(centers.shape[0], dtype=index.dtype, device=array_api_compat.device(index))
    own_used = bxp.take(used, index)
    pair_used = (own_used[:, None] > 0) & (used[None, :] > 0)
    combined = bxp.take(spread, index)[:, None] + spread[None, :]
    # scikit-learn: a distance of 0 (the cluster itself, or a duplicate centre) counts as
    # infinity, so its ratio is 0; unused slots (traced labels) count as nothing.
    counted = pair_used & (distance > 0) & (index[:, None] != others[None, :])
    ratio = combined / bxp.where(distance > 0, distance, bxp.ones_like(distance))
    ratio = bxp.where(counted, ratio, bxp.zeros_like(ratio))
    far = bxp.sum(bxp.astype(pair_used & (distance > tiny), centers.dtype))
    return (bxp.max(ratio, axis=1),), (far,)


@_budgeted
def _davies_bouldin_core(X: Any, ids: Any, *, k: int, xp: Any, caps: Any) -> Any:
    X = X - xp.mean(X, axis=0)
    itemsize = xp.finfo(X.dtype).bits // 8
    centers, sizes = _cluster_means(X, ids, k, xp=xp, caps=caps)
    fn = functools.partial(_block_distance_sums, k=k)
    _, (spread,) = caps.map_row_chunks(_pack(xp, X, ids), _rows_for(2 * X.shape[1], itemsize), fn, centers)
    used = xp.astype(sizes > 0, X.dtype)
    spread = spread / xp.where(sizes > 0, sizes, xp.ones_like(sizes))  # mean distance to the centre
    # Centroid pairs in blocks of rows: a (rows, k, d) difference block at most.
    rows = max(1, memory_budget_bytes() // (4 * itemsize * k * (X.shape[1] + 2)))
    index = xp.reshape(xp.arange(k, dtype=ids.dtype, device=array_api_compat.device(X)), (k, 1))
    # scikit-learn calls the clustering degenerate (score 0) when every spread, or every
    # centre distance, is within 1e-8 of 0.  The score is a ratio, so for data smaller than
    # 1 the threshold shrinks with the data: 1e-8 in units of the largest |x - mean|, so
    # that data in small units is not called degenerate.
    tiny = 1e-8 * xp.minimum(xp.max(xp.abs(X)), xp.ones((), dtype=X.dtype, device=array_api_compat.device(X)))
    (worst,), (far,) = caps.map_row_chunks(index, rows, _block_centroid_ratios, centers, spread, used, tiny)
    score = xp.sum(worst * used) / xp.sum(used)
    degenerate = xp.all((spread <= tiny) | (used == 0)) | (far == 0)
    return xp.where(degenerate, xp.zeros_like(score), score)


_LABELLED_STATIC = ("k", "xp", "caps")


def calinski_harabasz_score(X, labels):
    """Calinski-Harabasz score: between-cluster over within-cluster dispersion.

    ``(B / (k - 1)) / (W / (n - k))`` with ``B`` the size-weighted squared distances of
    the cluster means to the overall mean, ``W`` the within-cluster sum of squares and
    ``k`` the number of clusters; 1 when ``W`` is 0.  Higher is better.

    Parameters
    ----------
    X : array_like of shape (n_samples, n_features)
        The samples.
    labels : array_like of shape (n_samples,)
        Cluster of each sample: any integers, 2 to ``n_samples - 1`` distinct ones.

    Returns
    -------
    score : 0-d array
        In ``X``'s namespace, on its device, in its float dtype (a NumPy scalar for NumPy);
        equal to ``sklearn.metrics.calinski_harabasz_score`` up to rounding.

    Examples
    --------
    >>> import numpy as np
    >>> from xpcluster.metrics import calinski_harabasz_score
    >>> X = np.array([[0.0], [1.0], [10.0], [11.0]])
    >>> float(calinski_harabasz_score(X, [0, 0, 1, 1]))
    200.0
    """
    problem = _prepare(X, labels)
    xp, caps = problem.xp, problem.caps
    _check_packable(problem.k, problem.X.dtype, xp)
    score = _run(_calinski_harabasz_core, _LABELLED_STATIC, problem.X, problem.ids, k=problem.k, xp=xp, caps=caps)
    return _scalar(score, problem.checks)


def davies_bouldin_score(X, labels):
    """Davies-Bouldin score: the mean over clusters of their worst similarity to another.

    For clusters ``i`` and ``j`` the similarity is ``(s_i + s_j) / d_ij``, with ``s`` the
    mean distance of a cluster's members to its centroid and ``d_ij`` the distance between
    the centroids.  Lower is better; 0 is the minimum.

    Parameters
    ----------
    X : array_like of shape (n_samples, n_features)
        The samples.
    labels : array_like of shape (n_samples,)
        Cluster of each sample: any integers, 2 to ``n_samples - 1`` distinct ones.

    Returns
    -------
    score : 0-d array
        In ``X``'s namespace, on its device, in its float dtype (a NumPy scalar for NumPy);
        equal to ``sklearn.metrics.davies_bouldin_score`` up to rounding.

    Examples
    --------
    >>> import numpy as np
    >>> from xpcluster.metrics import davies_bouldin_score
    >>> X = np.array([[0.0], [1.0], [10.0], [11.0]])
    >>> float(davies_bouldin_score(X, [0, 0, 1, 1]))
    0.1
    """
    problem = _prepare(X, labels)
    xp, caps = problem.xp, problem.caps
    _check_packable(problem.k, problem.X.dtype, xp)
    score = _run(_davies_bouldin_core, _LABELLED_STATIC, problem.X, problem.ids, k=problem.k, xp=xp, caps=caps)
    return _scalar(score, problem.checks)
