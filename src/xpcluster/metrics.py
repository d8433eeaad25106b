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
* **Metrics**: the silhouette takes every metric of scikit-learn's ``pairwise_distances``,
  a callable, and ``metric='precomputed'`` (a square distance matrix, dense of any library
  or ``scipy.sparse``), with their keyword arguments.  Most are native; SciPy's others and
  callables run on NumPy blocks (NumPy data, Dask arrays of NumPy blocks) and refuse
  other arrays with a ``TypeError`` (see :func:`silhouette_samples`).
* **Sparse input** (``scipy.sparse`` matrices and arrays of any format, any real dtype;
  unsorted indices, duplicate entries and explicit zeros included) is scored by every
  function, on the host, without densifying it whole and without modifying it: the
  silhouette a block of rows at a time; inertia, Calinski-Harabasz and Davies-Bouldin
  from per-cluster sums of the rows (sparse products with a one-hot matrix) and each
  row's distance to its centroid from its stored entries, a block of rows at a time in
  float64; only (n_clusters, n_features) arrays are dense.  The result is the dense
  answer (to rounding), a NumPy scalar of the compute dtype.  Other libraries' sparse
  tensors (PyTorch's, JAX's BCOO, Dask arrays of SciPy blocks) are copied to SciPy with
  native dispatch off (as dense input becomes NumPy); with it on they raise a
  ``TypeError``: convert them to ``scipy.sparse``, or pass dense data.
* **Bad input** raises scikit-learn's errors: fewer than 2 or more than ``n - 1``
  distinct labels, inconsistent lengths, NaN or infinity in ``X``, a precomputed matrix
  that is not square, not zero on its diagonal or negative.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import numbers
import warnings
from typing import Any, Iterator, NamedTuple

import array_api_compat
import numpy as np

from . import _rng
from ._backends import capabilities_for
from ._backends.sparse import as_sparse_rows, is_sparse_input
from ._core.chunks import memory_budget, memory_budget_bytes
from ._core.dtypes import compute_dtype, to_compute_dtype
from ._core.scale import is_unit, range_scale, scaled, unscaled_checked
from ._dispatch import is_array_api_dispatch_enabled, resolve
from ._checks import Checks, raise_error

__all__ = [
    "inertia",
    "silhouette_samples",
    "silhouette_score",
    "calinski_harabasz_score",
    "davies_bouldin_score",
]

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
    X : array_like or scipy.sparse matrix of shape (n_samples, n_features)
        The samples: any array library, or a ``scipy.sparse`` matrix or array of any
        format (then ``labels``, ``centers`` and ``sample_weight`` are NumPy arrays or
        lists), which is never densified whole (see the module's notes).
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
        In ``X``'s namespace, on its device, in its float dtype (a NumPy scalar for NumPy
        and for sparse input).  For k-means' labels and centres it equals scikit-learn's
        ``KMeans.inertia_``.

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
    X = _host_sparse(X, "inertia")
    if _is_sparse(X):
        return _sparse_inertia(X, labels, centers, sample_weight)
    xp, _, (X, labels, centers, sample_weight) = resolve(X, labels, centers, sample_weight)
    caps = capabilities_for(xp)
    checks = Checks(caps)
    X = _as_matrix(X, xp, caps, checks)
    ids, k, centers, sample_weight = _inertia_inputs(X, labels, centers, sample_weight, xp=xp, caps=caps, checks=checks)
    _check_packable(k, X.dtype, xp)
    s = range_scale(X, centers, xp=xp, caps=caps)
    total = _run(_inertia_core, _INERTIA_STATIC, scaled(X, s), ids, sample_weight, None if centers is None else scaled(centers, s), k=k, xp=xp, caps=caps)
    total = unscaled_checked(total, s, 2, xp=xp, checks=checks, what="inertia")
    return _scalar(total, checks)


def _inertia_inputs(X: Any, labels: Any, centers: Any, sample_weight: Any, *, xp: Any, caps: Any, checks: Any) -> tuple[Any, int, Any, Any]:
    """``(ids, k, centers, sample_weight)`` of an :func:`inertia` call, validated (``X``:
    checked, in its compute dtype; dense, or a SciPy CSR array)."""
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
        return ids, k, None, sample_weight
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
    return ids, k, centers, sample_weight


# --------------------------------------------------------------------------------------
# Silhouette: the metric and its keyword arguments


#: scikit-learn's metric names computed natively (standard-only, every backend): the
#: distance the tiles compute, and the keyword arguments scikit-learn's (or SciPy's)
#: function for the metric takes.
_NATIVE_METRICS: dict[str, tuple[str, frozenset[str]]] = {
    "euclidean": ("euclidean", frozenset({"squared"})),
    "l2": ("euclidean", frozenset({"squared"})),
    # X may not hold NaN (refused as scikit-learn refuses it), so nothing is missing and
    # the NaN-Euclidean distance is the Euclidean one.
    "nan_euclidean": ("euclidean", frozenset({"missing_values", "copy"})),
    "sqeuclidean": ("sqeuclidean", frozenset({"w"})),
    "manhattan": ("manhattan", frozenset()),
    "cityblock": ("manhattan", frozenset()),
    "l1": ("manhattan", frozenset()),
    "cosine": ("cosine", frozenset()),
    "chebyshev": ("chebyshev", frozenset({"w"})),
    "minkowski": ("minkowski", frozenset({"p", "w"})),
    # The Euclidean distance of the features divided by their standard deviations.
    "seuclidean": ("euclidean", frozenset({"V"})),
    "haversine": ("haversine", frozenset()),
}

#: SciPy's metrics without a native version here: ``scipy.spatial.distance.cdist`` on NumPy
#: blocks ('matching' is SciPy's alias of 'hamming').
_SCIPY_METRICS = frozenset({
    "braycurtis", "canberra", "correlation", "dice", "hamming", "jaccard", "mahalanobis",
    "matching", "rogerstanimoto", "russellrao", "sokalsneath", "yule",
})

#: The SciPy metrics of booleans: scikit-learn converts the data (nonzero is True).
_BOOLEAN_METRICS = frozenset({"dice", "jaccard", "rogerstanimoto", "russellrao", "sokalsneath", "yule"})

#: Listed by scikit-learn 1.9 but gone from SciPy 1.17, which then refuses it.
_REMOVED_METRICS = frozenset({"wminkowski"})

_VALID_METRICS = frozenset(_NATIVE_METRICS) | _SCIPY_METRICS | _REMOVED_METRICS | {"precomputed"}

#: Keyword arguments of scikit-learn's ``pairwise_distances_chunked`` and
#: ``pairwise_distances`` themselves, accepted with any metric.
_CHUNKING_KEYWORDS = ("n_jobs", "working_memory", "ensure_all_finite")

#: Tile distances that do not change (beyond rounding) when the data is shifted, so the
#: data is centred first: the expansion |a|^2 - 2a.b + |b|^2 then loses less to rounding.
_CENTRED = frozenset({"euclidean", "sqeuclidean", "manhattan", "chebyshev", "minkowski"})

#: Tile distances that scale with the data (or do not change), so the data may be scaled
#: by a power of two into the dtype's safe range without changing any silhouette.
_SCALABLE = _CENTRED | {"cosine"}

#: Tile distances that sparse blocks give by a sparse product, without densifying them.
_SPARSE_PRODUCT = frozenset({"euclidean", "sqeuclidean", "cosine"})


class _HostDistance:
    """A SciPy metric (``scipy.spatial.distance.cdist``) or a user's callable, evaluated on
    one NumPy block of pairs at a time.

    Compared and hashed by identity: a compiled core takes it as a constant, and its
    keyword arguments (arrays among them) are never hashed.
    """

    def __init__(self, metric: Any, kwds: dict[str, Any]) -> None:
        self.metric = metric
        self.kwds = kwds
        self.boolean = metric in _BOOLEAN_METRICS if isinstance(metric, str) else False

    @property
    def name(self) -> str:
        return self.metric if isinstance(self.metric, str) else getattr(self.metric, "__name__", repr(self.metric))

    def with_kwds(self, **more: Any) -> "_HostDistance":
        return _HostDistance(self.metric, {**self.kwds, **more})

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if self.boolean:
            a, b = a != 0, b != 0
        if isinstance(self.metric, str):
            from scipy.spatial.distance import cdist

            return cdist(a, b, metric=self.metric, **self.kwds)
        out = np.empty((a.shape[0], b.shape[0]), dtype=np.float64)
        for i in range(a.shape[0]):
            for j in range(b.shape[0]):
                out[i, j] = self.metric(a[i], b[j], **self.kwds)
        return out


@dataclasses.dataclass(frozen=True)
class _Distance:
    """What a silhouette tile computes: a static argument of the compiled core.

    ``name``: 'euclidean', 'sqeuclidean', 'manhattan', 'cosine', 'chebyshev', 'minkowski'
    (with ``p``), 'haversine', 'precomputed' (tiles read from the matrix) or 'host' (tiles
    from ``host``, a :class:`_HostDistance`).  ``step``: features per pass of a
    featurewise tile (set with the tile shape).
    """

    name: str
    p: float = 2.0
    host: Any = None
    step: int = 1


class _Metric(NamedTuple):
    """A validated ``metric`` with its keyword arguments."""

    given: Any  # as the caller passed it, for messages
    distance: _Distance
    arrays: dict[str, Any]  # a native metric's per-feature 'w' or 'V', as given
    working_memory: Any  # MiB for the chunks (scikit-learn's keyword), or None


def _metric_error(metric: Any, caller: str) -> Exception:
    from .cluster._base import invalid_parameter  # imported here: cluster imports much more

    names = ", ".join(repr(name) for name in sorted(_VALID_METRICS))
    return invalid_parameter(
        f"The 'metric' parameter of {caller} must be a str among {{{names}}} or a callable. Got {metric!r} instead."
    )


def _unexpected(caller: str, key: str, metric: Any, allowed: frozenset[str]) -> TypeError:
    takes = ", ".join(sorted(allowed)) or "no keyword arguments"
    return TypeError(f"{caller}() got an unexpected keyword argument {key!r} (metric={metric!r} takes {takes})")


def _check_chunking_keywords(kwds: dict[str, Any]) -> Any:
    """Validate (and take out of ``kwds``) the keywords of scikit-learn's chunking
    functions; return ``working_memory``.  ``n_jobs`` is accepted and has no effect (the
    backend decides the parallelism); ``ensure_all_finite`` too: as in scikit-learn,
    ``X`` is checked for NaN and infinity before any distance is computed."""
    working_memory = kwds.pop("working_memory", None)
    if working_memory is not None and (
        isinstance(working_memory, bool) or not isinstance(working_memory, numbers.Real) or not working_memory >= 0
    ):
        raise ValueError(f"working_memory must be a non-negative number of MiB or None, got {working_memory!r}")
    n_jobs = kwds.pop("n_jobs", None)
    if n_jobs is not None and (isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral)):
        raise ValueError(f"n_jobs must be an int or None, got {n_jobs!r}")
    finite = kwds.pop("ensure_all_finite", True)
    if not (isinstance(finite, bool) or finite == "allow-nan"):
        raise ValueError(f"ensure_all_finite must be a bool or 'allow-nan', got {finite!r}")
    return working_memory


def _silhouette_metric(metric: Any, kwds: dict[str, Any], caller: str) -> _Metric:
    """``metric`` and ``**kwds`` as scikit-learn's ``silhouette_samples`` takes them."""
    kwds = dict(kwds)
    working_memory = _check_chunking_keywords(kwds)
    if callable(metric) and not isinstance(metric, str):
        return _Metric(metric, _Distance("host", host=_HostDistance(metric, kwds)), {}, working_memory)
    if not isinstance(metric, str) or metric not in _VALID_METRICS:
        raise _metric_error(metric, caller)
    if metric in _REMOVED_METRICS:
        raise ValueError(f"Unknown Distance Metric: {metric} (SciPy 1.17 removed it; use metric='minkowski' with w=)")
    if metric == "precomputed":
        if kwds:
            raise _unexpected(caller, sorted(kwds)[0], metric, frozenset())
        return _Metric(metric, _Distance("precomputed"), {}, working_memory)
    if metric in _SCIPY_METRICS:
        return _Metric(metric, _Distance("host", host=_HostDistance(metric, kwds)), {}, working_memory)
    name, allowed = _NATIVE_METRICS[metric]
    for key in sorted(kwds):
        if key not in allowed:
            raise _unexpected(caller, key, metric, allowed)
    p = 2.0
    if metric == "minkowski":
        p = kwds.get("p", 2.0)
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not p > 0:
            raise ValueError(f"p must be a positive number (or inf) for metric='minkowski', got {p!r}")
        p = float(p)
        # Exactly the distances of these names (and their faster tiles).
        name = {1.0: "manhattan", 2.0: "euclidean", math.inf: "chebyshev"}.get(p, "minkowski")
    squared = kwds.get("squared", False)
    if not isinstance(squared, bool | np.bool_):
        raise ValueError(f"squared must be a bool, got {squared!r}")
    if squared:
        name = "sqeuclidean"
    missing = kwds.get("missing_values", np.nan)
    if not (isinstance(missing, numbers.Real) and math.isnan(missing)):
        # NaN is refused in X, so with NaN as the marker nothing is missing; another marker
        # would make real values missing, which this native version does not do.
        raise ValueError(f"metric='nan_euclidean' supports missing_values=np.nan only, got {missing!r}")
    arrays = {key: kwds[key] for key in ("w", "V") if kwds.get(key) is not None}
    return _Metric(metric, _Distance(name, p=p), arrays, working_memory)


@contextlib.contextmanager
def _working_memory(mib: Any) -> Iterator[None]:
    """scikit-learn's ``working_memory`` (MiB) as the memory budget of the call."""
    if mib is None:
        yield
        return
    with memory_budget(max(1, int(mib * 2**20))):
        yield


# --------------------------------------------------------------------------------------
# Silhouette: the inputs


def _is_sparse(X: Any) -> bool:
    """A SciPy sparse matrix or array (recognised without importing SciPy)."""
    return type(X).__module__.startswith("scipy.sparse")


def _host_sparse(X: Any, caller: str) -> Any:
    """``X`` itself, dense or a SciPy sparse matrix or array (which the scores take on the
    host, never densified whole).  Another library's sparse input (a PyTorch sparse tensor,
    JAX's BCOO, a Dask array of SciPy blocks) is copied to SciPy with native dispatch off,
    as dense input becomes NumPy, and refused with a ``TypeError`` with it on."""
    if _is_sparse(X) or not is_sparse_input(X):
        return X
    if not is_array_api_dispatch_enabled():
        return as_sparse_rows(X, native_dispatch=False).native()
    raise TypeError(
        f"{caller} takes sparse X as a scipy.sparse matrix or array, got a sparse "
        f"{type(X).__module__}.{type(X).__qualname__}; convert it to scipy.sparse (or pass dense data)"
    )


class _Silhouette(NamedTuple):
    xp: Any
    caps: Any
    checks: Any
    X: Any  # (n, d) features or (n, n) distances, compute dtype; a CSR array for sparse input
    ids: Any  # (n,) int32 cluster index in [0, k)
    k: int
    factor: Any  # (d,) per-feature factor the metric applies first (w, 1/sqrt(V)), or None
    distance: _Distance
    atol: float  # precomputed: largest |diagonal entry| accepted


def _as_distance_matrix(X: Any, xp: Any, caps: Any, checks: Any) -> tuple[Any, float]:
    """A precomputed ``X`` as a square float matrix, and the tolerance of its diagonal
    (scikit-learn's: 100 epsilons of a float dtype, exact zero for integers)."""
    if X.ndim != 2:
        raise ValueError(
            f"Expected 2D array, got {X.ndim}D array instead; reshape your data with "
            "X.reshape(-1, 1) for a single feature or X.reshape(1, -1) for a single sample"
        )
    if not (xp.isdtype(X.dtype, ("real floating", "integral")) or X.dtype == xp.bool):
        raise ValueError(f"X must hold real numbers, got an array of dtype {X.dtype}")
    X = caps.known_rows(X)
    n, m = X.shape
    if n != m:
        raise ValueError(f"Precomputed metric requires shape (n_queries, n_indexed). Got ({n}, {m}) for {n} indexed.")
    if n < 1:
        raise ValueError(f"Found array with 0 sample(s) (shape={tuple(X.shape)}) while a minimum of 1 is required.")
    atol = float(xp.finfo(X.dtype).eps) * 100 if xp.isdtype(X.dtype, "real floating") else 0.0
    return to_compute_dtype(X, xp, checks, name="X"), atol


def _require_numpy_blocks(X: Any, metric: Any, caps: Any) -> None:
    """SciPy's cdist and Python callables need NumPy blocks: NumPy data, or Dask arrays of
    NumPy blocks (whose tasks run them).  Anything else gets a clear error up front."""
    if not caps.has_numpy_blocks(X):
        what = (
            "a callable metric is called on" if callable(metric)
            else f"metric={metric!r} is computed by scipy.spatial.distance.cdist on"
        )
        raise TypeError(
            f"{what} NumPy blocks, and X is a {type(X).__module__}.{type(X).__qualname__} with other "
            "blocks; pass NumPy data (or a Dask array of NumPy blocks), or use a metric computed "
            f"natively on every backend: {', '.join(sorted(_NATIVE_METRICS))}, 'precomputed'"
        )


def _boolean_conversion_warning(dtype: Any, xp: Any, distance: _Distance) -> None:
    if distance.host is not None and distance.host.boolean and dtype != xp.bool:
        # scikit-learn's DataConversionWarning (a UserWarning) for the same conversion.
        warnings.warn(f"Data was converted to boolean for metric {distance.host.name}", UserWarning, stacklevel=4)


def _with_data_defaults(distance: _Distance, X: Any, xp: Any) -> _Distance:
    """Mahalanobis without ``VI``: scikit-learn's default, the inverse covariance of X."""
    host = distance.host
    if host is None or host.metric != "mahalanobis" or "VI" in host.kwds:
        return distance
    n = X.shape[0]
    if _is_sparse(X):
        mean = np.asarray(X.mean(axis=0)).reshape(1, -1)
        gram = np.asarray((X.T @ X).toarray(), dtype=np.float64)
        covariance = (gram - n * (mean.T @ mean)) / (n - 1)
    else:
        centred = X - xp.mean(X, axis=0)
        # (d, d): small; a Dask array computes here, the inverse is SciPy's on the host.
        covariance = np.asarray(xp.matmul(centred.T, centred) / (n - 1), dtype=np.float64)
    return _Distance("host", host=host.with_kwds(VI=np.linalg.inv(covariance).T))


def _feature_factor(X: Any, w: Any, V: Any, metric: _Metric, xp: Any, checks: Any) -> Any:
    """The per-feature factor that turns a weighted metric into a plain one on ``X * factor``:
    ``sum w |a - b|^p`` is ``sum |w^(1/p) a - w^(1/p) b|^p``; Chebyshev keeps the features
    of positive weight; the standardised Euclidean distance divides by ``sqrt(V)``."""
    d = X.shape[1]
    if metric.given == "seuclidean":
        if V is None:
            if _is_sparse(X):  # column variances without densifying: E[x^2] - E[x]^2
                mean = np.asarray(X.mean(axis=0)).reshape(-1)
                second = np.asarray(X.power(2).mean(axis=0)).reshape(-1)
                V = xp.asarray((second - mean * mean) * (X.shape[0] / (X.shape[0] - 1)), dtype=X.dtype)
            else:
                V = xp.var(X, axis=0, correction=1)
        else:
            if V.ndim != 1 or V.shape[0] != d:
                raise ValueError(
                    "Variance vector V must be of the same dimension as the vectors on which the distances are computed."
                )
            V = xp.astype(V, X.dtype)
        return 1 / xp.sqrt(V)
    if w is None:
        return None
    if w.ndim != 1 or w.shape[0] != d:
        raise ValueError(f"Weights must have same size as input vector. {w.shape[0] if w.ndim else 1} vs. {d}.")
    w = xp.astype(w, X.dtype)
    checks.add(xp.any(w < 0), raise_error(ValueError("Input weights should be all non-negative")))
    name = metric.distance.name
    if name in ("euclidean", "sqeuclidean"):
        return xp.sqrt(xp.abs(w))  # |w|: a negative weight is reported by the check above
    if name == "chebyshev":
        return xp.astype(w > 0, X.dtype)
    if name == "manhattan":
        return w
    return xp.abs(w) ** (1.0 / metric.distance.p)


def _as_sparse_matrix(X: Any, xp: Any, metric: _Metric) -> tuple[Any, float]:
    """Sparse ``X`` (any SciPy format) as a CSR array in its compute dtype, checked; and
    the diagonal tolerance when it is a precomputed matrix."""
    from scipy import sparse

    if X.ndim != 2:
        raise ValueError(f"Expected 2D array, got {X.ndim}D array instead")
    target = compute_dtype(X.dtype, xp, "cpu")
    # CSR: its row blocks are what the tiles take.  Other formats are converted once
    # (O(nnz)); a CSR input's arrays are shared, and never written to.
    X = sparse.csr_array(X)
    atol = float(np.finfo(X.dtype).eps) * 100 if X.dtype.kind == "f" else 0.0
    if X.dtype != target:
        X = X.astype(target)
    n, d = X.shape
    if metric.distance.name == "precomputed" and n != d:
        raise ValueError(f"Precomputed metric requires shape (n_queries, n_indexed). Got ({n}, {d}) for {n} indexed.")
    if n < 1:
        raise ValueError(f"Found array with 0 sample(s) (shape={(n, d)}) while a minimum of 1 is required.")
    if d < 1:
        raise ValueError(f"Found array with 0 feature(s) (shape={(n, d)}) while a minimum of 1 is required.")
    # In chunks: a mask of all the stored entries would be an eighth of X again.
    step = max(1, memory_budget_bytes() // 4)
    if not all(np.isfinite(X.data[i : i + step]).all() for i in range(0, X.nnz, step)):
        raise ValueError("Input X contains NaN or infinity.")
    return X, atol


def _numpy_array(a: Any, what: str) -> Any:
    """``labels`` (or ``w``, ``V``) given with sparse ``X``, which is SciPy's: as NumPy."""
    _, _, (a,) = resolve(a)
    if not isinstance(a, np.ndarray):
        raise TypeError(
            f"X is a scipy.sparse matrix, so {what} must be NumPy (or a list), got a {type(a).__module__}."
            f"{type(a).__qualname__}"
        )
    return a


def _sparse_problem(X: Any, labels: Any, metric: _Metric, checks: Any) -> _Silhouette:
    from scipy import sparse

    xp = array_api_compat.array_namespace(np.empty(0))
    caps = capabilities_for(xp)
    checks = Checks(caps) if checks is None else checks
    dtype = X.dtype
    X, atol = _as_sparse_matrix(X, xp, metric)
    distance = metric.distance
    _boolean_conversion_warning(dtype, np, distance)
    if distance.name in _SCALABLE and X.nnz:  # as for dense X: exact, and no overflow
        s = range_scale(xp.reshape(X.data, (1, -1)), xp=xp, caps=caps)
        if not is_unit(s):
            X = X * s
    labels = _as_labels(_numpy_array(labels, "labels"), X, xp, caps, checks)
    ids, k, n_labels = _cluster_ids(labels, X.shape[0], xp, caps)
    _check_label_count(n_labels, X.shape[0], checks)
    if distance.name == "haversine" and X.shape[1] != 2:
        raise ValueError("Haversine distance only valid in 2 dimensions")
    w, V = (_numpy_array(metric.arrays[key], key) if key in metric.arrays else None for key in ("w", "V"))
    factor = _feature_factor(X, w, V, metric, xp, checks)
    distance = _with_data_defaults(distance, X, xp)
    # What the dense core does first, done here so that X stays sparse (O(nnz) each).
    if factor is not None:
        X = (X @ sparse.diags_array(np.asarray(factor, dtype=X.dtype))).tocsr()
    if distance.name == "cosine":
        norms = np.sqrt(np.asarray(X.power(2).sum(axis=1)).reshape(-1))
        X = (sparse.diags_array(1 / np.where(norms > 0, norms, 1).astype(X.dtype)) @ X).tocsr()
    return _Silhouette(xp, caps, checks, X, ids, k, None, distance, atol)


def _silhouette_problem(X: Any, labels: Any, metric: _Metric, checks: Any = None) -> _Silhouette:
    """Resolve, validate and label-map the inputs of one silhouette call."""
    if _is_sparse(X):
        return _sparse_problem(X, labels, metric, checks)
    xp, _, (X, labels, w, V) = resolve(X, labels, metric.arrays.get("w"), metric.arrays.get("V"))
    caps = capabilities_for(xp)
    checks = Checks(caps) if checks is None else checks
    distance = metric.distance
    atol = 0.0
    if distance.name == "precomputed":
        X, atol = _as_distance_matrix(X, xp, caps, checks)
    else:
        dtype = X.dtype
        X = _as_matrix(X, xp, caps, checks)
        if distance.host is not None:
            _require_numpy_blocks(X, metric.given, caps)
            _boolean_conversion_warning(dtype, xp, distance)
        if distance.name in _SCALABLE:
            # Ratios of distances: data scaled into the dtype's safe range by a power of
            # two (exact) gives the same silhouettes without overflow or underflow.
            X = scaled(X, range_scale(X, xp=xp, caps=caps))
    labels = _as_labels(labels, X, xp, caps, checks)
    ids, k, n_labels = _cluster_ids(labels, X.shape[0], xp, caps)
    _check_label_count(n_labels, X.shape[0], checks)
    if distance.name == "haversine" and X.shape[1] != 2:
        raise ValueError("Haversine distance only valid in 2 dimensions")
    factor = None if distance.name == "precomputed" else _feature_factor(X, w, V, metric, xp, checks)
    distance = _with_data_defaults(distance, X, xp)
    return _Silhouette(xp, caps, checks, X, ids, k, factor, distance, atol)


# --------------------------------------------------------------------------------------
# Silhouette: tiles of distances, folded into per-cluster sums at once


def _featurewise_tile(a: Any, b: Any, distance: _Distance, xp: Any) -> Any:
    """Distances summed (or maximised) over the features, ``step`` features at a time (an
    (m, c, step) block): exact, a point's distance to itself is 0, and never an (m, c, d)
    block.  One feature at a time (few features, or tiles that fill the budget alone)
    keeps to 2-D tiles; several at a time saves passes where tiles are small (wide data)."""
    name, p, step = distance.name, distance.p, distance.step
    total = None
    for j in range(0, a.shape[1], step):
        if step == 1:
            diff = a[:, j : j + 1] - b[:, j][None, :]
        else:
            diff = a[:, None, j : j + step] - b[None, :, j : j + step]
        if name in ("euclidean", "sqeuclidean"):
            term = diff * diff
        else:
            term = xp.abs(diff)
            if name == "minkowski":
                term = term**p
        if step > 1:
            term = xp.max(term, axis=2) if name == "chebyshev" else xp.sum(term, axis=2)
        if total is None:
            total = term
        elif name == "chebyshev":
            total = xp.maximum(total, term)
        else:
            total = total + term
    if name == "euclidean":
        return xp.sqrt(total)
    if name == "minkowski":
        return total ** (1.0 / p)
    return total


def _haversine_tile(a: Any, b: Any, xp: Any) -> Any:
    """Great-circle distances (radians) between rows of (latitude, longitude) in radians."""
    lat_a, lat_b = a[:, 0:1], b[:, 0][None, :]
    half_lat = xp.sin(0.5 * (lat_a - lat_b))
    half_lon = xp.sin(0.5 * (a[:, 1:2] - b[:, 1][None, :]))
    h = half_lat * half_lat + xp.cos(lat_a) * xp.cos(lat_b) * (half_lon * half_lon)
    return 2 * xp.asin(xp.sqrt(xp.clip(h, min=0, max=1)))  # rounding may step past 1


def _on_diagonal(a_index: Any, b_index: Any) -> Any:
    return a_index[:, None] == b_index[None, :]


def _sparse_product_tile(a: Any, b: Any, a_index: Any, b_index: Any, name: str) -> np.ndarray:
    """Euclidean, squared Euclidean or cosine distances of sparse rows by one sparse product
    (the blocks stay sparse); a sample's distance to itself is set to 0 as scikit-learn does."""
    dtype = a.dtype
    # In float64 (this block's copy): the expansion cancels in float32, where scikit-learn
    # also computes Euclidean distances in float64 blocks.
    a, b = a.astype(np.float64, copy=False), b.astype(np.float64, copy=False)
    gram = np.asarray((a @ b.T).toarray())
    if name == "cosine":  # rows already scaled to unit length (zero rows stay zero)
        distances = np.clip(1 - gram, 0, 2)
    else:
        a_sq = np.asarray(a.power(2).sum(axis=1)).reshape(-1, 1)
        b_sq = np.asarray(b.power(2).sum(axis=1)).reshape(1, -1)
        distances = np.clip(a_sq - 2 * gram + b_sq, 0, None)
    distances = np.where(_on_diagonal(a_index, b_index), 0, distances)
    return (np.sqrt(distances) if name == "euclidean" else distances).astype(dtype, copy=False)


def _tile_distances(a: Any, b: Any, a_index: Any, b_index: Any, distance: _Distance, xp: Any) -> Any:
    """Distances between the rows of ``a`` (m, d) and ``b`` (c, d): an (m, c) tile.

    Few features, or a featurewise metric: summed per feature, exact.  Euclidean with more:
    one matrix product of the rows augmented with their squared norms, ``[a, |a|^2, 1] .
    [-2b, 1, |b|^2]``, which gives |a|^2 - 2a.b + |b|^2 in a single fast pass; its rounding
    residue on the diagonal is set to 0 as scikit-learn does (``a_index``/``b_index`` are
    the rows' sample indices).  SciPy metrics and callables: on the host (NumPy blocks).
    """
    name = distance.name
    if name == "host":
        tile = xp.astype(xp.asarray(distance.host(a, b)), a.dtype)
        if callable(distance.host.metric):  # scikit-learn calls it for the diagonal too
            return tile
        # SciPy's distance of a sample to itself is 0 in scikit-learn (``squareform`` of
        # ``pdist``), even where cdist's is not (Russell-Rao: the features both lack).
        return xp.where(_on_diagonal(a_index, b_index), xp.zeros_like(tile), tile)
    if _is_sparse(a):
        return _sparse_product_tile(a, b, a_index, b_index, name)
    if name == "haversine":
        return _haversine_tile(a, b, xp)
    if name in ("manhattan", "chebyshev", "minkowski") or (name != "cosine" and a.shape[1] <= _DIRECT_MAX_FEATURES):
        return _featurewise_tile(a, b, distance, xp)
    if name == "cosine":  # rows already scaled to unit length (zero rows stay zero)
        # A sample is at distance 0 from itself, a zero row included (as scikit-learn has
        # it: 1 from every other sample, so its silhouette is 0).
        cosine = xp.clip(1 - xp.matmul(a, b.T), min=0, max=2)
        return xp.where(_on_diagonal(a_index, b_index), xp.zeros_like(cosine), cosine)
    a_sq = xp.sum(a * a, axis=1)[:, None]
    b_sq = xp.sum(b * b, axis=1)[:, None]
    left = xp.concat([a, a_sq, xp.ones_like(a_sq)], axis=1)
    right = xp.concat([-2 * b, xp.ones_like(b_sq), b_sq], axis=1)
    squared = xp.clip(xp.matmul(left, right.T), min=0)
    squared = xp.where(_on_diagonal(a_index, b_index), xp.zeros_like(squared), squared)
    return squared if name == "sqeuclidean" else xp.sqrt(squared)


def _block_rows(X: Any, index: Any, distance: _Distance, xp: Any) -> Any:
    """The rows ``index`` (consecutive) of ``X`` as one block.  Sparse ``X``: a CSR slice,
    densified (this block only) unless a sparse product gives the distances."""
    if not _is_sparse(X):
        return xp.take(X, index, axis=0)
    start = int(index[0]) if index.shape[0] else 0
    block = X[start : start + index.shape[0]]
    return block if distance.name in _SPARSE_PRODUCT else block.toarray()


def _fold(tile: Any, col_ids: Any, k: int, one_hot: bool, xp: Any) -> Any:
    """Per-cluster sums (m, k) of a tile's rows."""
    if one_hot:
        classes = xp.arange(k, dtype=col_ids.dtype, device=array_api_compat.device(col_ids))
        members = xp.astype(col_ids[:, None] == classes[None, :], tile.dtype)
        return xp.matmul(tile, members)
    sums, _ = capabilities_for(xp).segment_sums(tile.T, col_ids, k)
    return xp.astype(sums, tile.dtype).T


def _precomputed_tallies(tile: Any, rows: Any, cols: Any, xp: Any) -> tuple[Any, Any]:
    """What the precomputed matrix is checked for, tile by tile (never an n-by-n mask):
    each row's |diagonal entry| (0 if not in this tile), and the numbers of negative and
    of non-finite entries."""
    diagonal = xp.sum(xp.where(_on_diagonal(rows, cols), xp.abs(tile), xp.zeros_like(tile)), axis=1)
    negative = xp.sum(xp.astype(tile < 0, tile.dtype))
    nonfinite = xp.sum(xp.astype(~xp.isfinite(tile), tile.dtype))
    return diagonal, xp.stack([negative, nonfinite])


def _silhouette_tile(
    cols: Any, pts: Any, rows: Any, X: Any, ids: Any, *, distance: _Distance, k: int, one_hot: bool
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """Distances from the rows ``rows`` (their block ``pts``) to the columns ``cols``,
    folded at once into per-cluster sums (m, k): the tile itself is never kept."""
    bxp = array_api_compat.array_namespace(cols, ids)
    col_ids = bxp.take(ids, cols)
    if distance.name == "precomputed":  # pts: the rows of the distance matrix
        tile = bxp.take(pts, cols, axis=1)
        return (), (_fold(tile, col_ids, k, one_hot, bxp), *_precomputed_tallies(tile, rows, cols, bxp))
    tile = _tile_distances(pts, _block_rows(X, cols, distance, bxp), rows, cols, distance, bxp)
    return (), (_fold(tile, col_ids, k, one_hot, bxp),)


def _silhouette_of(sums: Any, own: Any, sizes: Any, k: int, xp: Any) -> Any:
    """Silhouettes from each sample's per-cluster distance sums (m, k)."""
    classes = xp.arange(k, dtype=own.dtype, device=array_api_compat.device(own))
    in_own = own[:, None] == classes[None, :]
    zeros = xp.zeros_like(sums)
    own_size = xp.sum(xp.where(in_own, sizes[None, :], zeros), axis=1)
    # a: mean distance to the other members of the own cluster.
    intra = xp.sum(xp.where(in_own, sums, zeros), axis=1) / xp.maximum(own_size - 1, xp.ones_like(own_size))
    # b: smallest mean distance to another (non-empty) cluster.
    means = sums / xp.where(sizes > 0, sizes, xp.ones_like(sizes))[None, :]
    excluded = in_own | (sizes == 0)[None, :]
    inter = xp.min(xp.where(excluded, xp.full_like(means, math.inf), means), axis=1)
    scale = xp.maximum(intra, inter)
    undefined = (own_size <= 1) | (scale == 0)  # scikit-learn: 0 for singletons and 0/0
    values = (inter - intra) / xp.where(undefined, xp.ones_like(scale), scale)
    values = xp.where(undefined, xp.zeros_like(values), values)
    # scikit-learn's nan_to_num: a metric's NaN distances (0/0 in SciPy's) give 0.
    return xp.where(xp.isnan(values), xp.zeros_like(values), values)


def _silhouette_rows(
    rows: Any, X: Any, ids: Any, sizes: Any, *, distance: _Distance, k: int, one_hot: bool, cols: int
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """Silhouette values of the samples ``rows`` (indices), against all n samples (and,
    for a precomputed matrix, what it is checked for)."""
    bxp = array_api_compat.array_namespace(rows, ids)
    device = array_api_compat.device(rows)
    rows = bxp.reshape(rows, (-1,))
    pts = _block_rows(X, rows, distance, bxp)
    every = bxp.arange(X.shape[0], dtype=rows.dtype, device=device)
    tile = functools.partial(_silhouette_tile, distance=distance, k=k, one_hot=one_hot)
    _, totals = capabilities_for(bxp).map_row_chunks(every, cols, tile, pts, rows, X, ids)
    values = _silhouette_of(totals[0], bxp.take(ids, rows), sizes, k, bxp)
    if distance.name == "precomputed":
        return (values, totals[1]), (totals[2],)
    return (values,), ()


def _cluster_sizes(ids: Any, k: int, dtype: Any, *, xp: Any, caps: Any) -> Any:
    ones = xp.astype(xp.zeros_like(ids), dtype)[:, None] + 1  # laid out like ids (Dask: its blocks)
    return _cluster_means(ones, ids, k, xp=xp, caps=caps)[1]


def _silhouette_pass(
    X: Any, ids: Any, *, distance: _Distance, k: int, one_hot: bool, rows: int, cols: int, xp: Any, caps: Any
) -> Any:
    """Per-row silhouettes (and, precomputed, the diagonal and the bad-entry counts)."""
    sizes = _cluster_sizes(ids, k, X.dtype, xp=xp, caps=caps)
    n = X.shape[0]
    # Row indices laid out like ids (Dask: X's blocks, each its own task), as a column:
    # row chunks are taken from 2-D arrays.
    index = xp.arange(n, dtype=ids.dtype, device=array_api_compat.device(ids)) + xp.zeros_like(ids)
    index = xp.reshape(index, (n, 1))
    fn = functools.partial(_silhouette_rows, distance=distance, k=k, one_hot=one_hot, cols=cols)
    per_row, totals = caps.map_row_chunks(index, rows, fn, X, ids, sizes)
    if distance.name == "precomputed":
        return per_row[0], per_row[1], totals[0]
    return per_row[0]


@_budgeted
def _silhouette_core(
    X: Any, ids: Any, factor: Any, *, distance: _Distance, k: int, one_hot: bool, rows: int, cols: int, xp: Any, caps: Any
) -> Any:
    if factor is not None:
        X = X * factor[None, :]
    if distance.name == "cosine":
        norms = xp.sqrt(xp.sum(X * X, axis=1))
        X = X / xp.where(norms > 0, norms, xp.ones_like(norms))[:, None]
    elif distance.name in _CENTRED:  # distances do not change; the expansion loses less to rounding
        X = X - xp.mean(X, axis=0)
    return _silhouette_pass(X, ids, distance=distance, k=k, one_hot=one_hot, rows=rows, cols=cols, xp=xp, caps=caps)


_SILHOUETTE_STATIC = ("distance", "k", "one_hot", "rows", "cols", "xp", "caps")


def _tile_shape(
    n: int, k: int, itemsize: int, block_bytes: int | None, width: int, column_blocks: bool
) -> tuple[bool, int, int]:
    """``(one_hot, rows, cols)`` for the silhouette's distance tiles.

    A tile and its few temporaries fit the memory budget.  So do the blocks the tiles are
    made from, when they are ``width`` wide (0: none counts): a block of rows of X and one
    of columns (``column_blocks``) for featurewise tiles (densified, for sparse X), a
    block of rows of the matrix for a precomputed one (whose tiles are taken out of it);
    then the blocks get half the budget and the tiles the other half.  With few clusters
    a tile is (rows, cols) with ``cols`` about 2 * ``rows``, folded by a product with the
    columns' one-hot matrix; the backend's preferred block size (CPU backends:
    cache-sized) bounds the tile and its temporaries together, which is 4-10x faster than
    tiles that spill out of the cache.  With many clusters the fold is a segment sum whose
    (k, rows) result would be re-made for every tile, so a tile spans all n columns
    instead (as many as the column blocks allow).
    """
    budget_bytes = memory_budget_bytes()
    if width:
        budget_bytes //= 2
        block_rows = max(1, budget_bytes // ((2 if column_blocks else 1) * width * itemsize))
    else:
        block_rows = n
    budget = max(1, budget_bytes // (8 * itemsize))  # elements of one tile-sized temporary
    max_rows, max_cols = block_rows, block_rows if column_blocks else n
    if k > _ONE_HOT_MAX_CLUSTERS:
        cols = min(n, max_cols)
        return False, min(max(1, budget // (cols + k)), max_rows), cols
    elements = budget if block_bytes is None else max(1, min(budget, block_bytes // (4 * itemsize)))
    cols = min(n, max(1, math.isqrt(2 * elements)), max_cols)
    rows = min(max(1, elements // cols), max_rows)
    # Rows held back by their blocks: wider tiles instead, as many elements in all.
    return True, rows, min(n, max(cols, elements // rows), max_cols)


#: Tiles of at least this many pairs take one feature per pass: on 2-D tiles that large
#: the passes cost little, and (rows, cols, step) blocks reduced over a short axis cost
#: about twice as much.
_FEATURE_PASS_MIN_PAIRS = 2048


def _feature_step(d: int, rows: int, cols: int, itemsize: int, block_bytes: int | None) -> int:
    """Features per pass of a featurewise tile.  Small tiles (wide data, whose blocks of
    rows and columns hold the tiles small): as many as keep the (rows, cols, step)
    difference and term within three tile-sized temporaries of the budget (and of the
    preferred block size), so that they take few passes, each worth its overhead."""
    if rows * cols >= _FEATURE_PASS_MIN_PAIRS:
        return 1
    budget = max(1, memory_budget_bytes() // (8 * itemsize))
    elements = budget if block_bytes is None else max(1, min(budget, block_bytes // (4 * itemsize)))
    return max(1, min(d, 3 * elements // (rows * cols)))


def _silhouette_values(problem: _Silhouette) -> Any:
    """Per-sample silhouettes of a prepared problem; a precomputed matrix's checks added."""
    xp, caps, X, distance = problem.xp, problem.caps, problem.X, problem.distance
    n, d = X.shape
    itemsize = xp.finfo(X.dtype).bits // 8
    if distance.name == "host":
        itemsize = max(itemsize, 8)  # cdist works (and answers) in float64
    sparse_product = _is_sparse(X) and distance.name in _SPARSE_PRODUCT
    width = 0 if sparse_product else n if distance.name == "precomputed" else d
    if _is_sparse(X) and not sparse_product:
        width *= 3  # a block is densified from its CSR slice: values and indices, up to 2x more
    one_hot, rows, cols = _tile_shape(n, problem.k, itemsize, caps.block_bytes, width, distance.name != "precomputed")
    if distance.name in ("manhattan", "chebyshev", "minkowski") and d > _DIRECT_MAX_FEATURES:
        distance = dataclasses.replace(distance, step=_feature_step(d, rows, cols, itemsize, caps.block_bytes))
    _check_packable(problem.k, X.dtype, xp)
    static = dict(distance=distance, k=problem.k, one_hot=one_hot, rows=rows, cols=cols, xp=xp, caps=caps)
    if _is_sparse(X):  # SciPy's, on the host: nothing to compile
        result = _silhouette_pass(X, problem.ids, **static)
    else:
        result = _run(_silhouette_core, _SILHOUETTE_STATIC, X, problem.ids, problem.factor, **static)
    if distance.name != "precomputed":
        return result
    values, diagonal, bad = result
    checks = problem.checks
    checks.add(bad[1] > 0, raise_error(ValueError("Input X contains NaN or infinity.")))
    checks.add(xp.any(diagonal > problem.atol), raise_error(ValueError(
        "The precomputed distance matrix contains non-zero elements on the diagonal. Use np.fill_diagonal(X, 0)."
    )))
    checks.add(bad[0] > 0, raise_error(ValueError(
        "Negative values in data passed to `pairwise_distances`. Precomputed distance  need to have non-negative values.."
    )))
    return values


def _nonfinite_rows(block: Any) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    bxp = array_api_compat.array_namespace(block)
    return (), (bxp.sum(bxp.astype(~bxp.isfinite(block), bxp.float32)),)


def _sampled(X: Any, labels: Any, metric: _Metric, sample_size: int, random_state: Any) -> tuple[Any, Any, Any]:
    """A random subset of the samples, drawn on the host as scikit-learn draws it (all of X
    checked for NaN and infinity first, as scikit-learn checks it); for a precomputed
    matrix, its rows and columns of the subset."""
    precomputed = metric.distance.name == "precomputed"
    rng = _rng.random_source(random_state)
    if _is_sparse(X):
        xp = array_api_compat.array_namespace(np.empty(0))
        X, _ = _as_sparse_matrix(X, xp, metric)
        caps = capabilities_for(xp)
        labels = _as_labels(_numpy_array(labels, "labels"), X, xp, caps, Checks(caps))
        picked = rng.permutation(X.shape[0])[:sample_size]
        X = X[picked]
        return X[:, picked] if precomputed else X, labels[picked], None
    xp, _, (X, labels) = resolve(X, labels)
    caps = capabilities_for(xp)
    checks = Checks(caps)
    if precomputed:
        X, _ = _as_distance_matrix(X, xp, caps, checks)
        # Checked in row chunks: an n-by-n mask would be as large as the matrix.
        _, (nonfinite,) = caps.map_row_chunks(X, _rows_for(X.shape[1], 4), _nonfinite_rows)
        checks.add(nonfinite > 0, raise_error(ValueError("Input X contains NaN or infinity.")))
    else:
        X = _as_matrix(X, xp, caps, checks)
    labels = _as_labels(labels, X, xp, caps, checks)
    picked = rng.permutation(X.shape[0])[:sample_size]
    index_dtype = xp.__array_namespace_info__().default_dtypes(device=array_api_compat.device(X))["indexing"]
    placed = caps.to_device(picked, X, index_dtype)
    X, labels = caps.take_rows(X, placed), xp.take(labels, placed)
    if precomputed:
        X = xp.take(X, placed, axis=1)
    return X, labels, checks


# --------------------------------------------------------------------------------------
# Silhouette: public functions


def silhouette_samples(X, labels, *, metric="euclidean", **kwds):
    """The silhouette coefficient of each sample (scikit-learn's ``silhouette_samples``).

    ``s_i = (b_i - a_i) / max(a_i, b_i)``, with ``a_i`` the mean distance from sample
    ``i`` to the other members of its cluster and ``b_i`` the smallest mean distance to
    the members of another cluster; 0 for samples alone in their cluster.  Exact (every
    pair of samples), in O(block * n) memory: distances are made tile by tile (a block of
    rows against a block of columns, sized by :func:`xpcluster.memory_budget`) and folded
    into per-cluster sums at once; the n-by-n matrix is never made.

    Parameters
    ----------
    X : array_like of shape (n_samples, n_features), or (n_samples, n_samples) for 'precomputed'
        The samples, or with ``metric='precomputed'`` their distances: a square matrix
        with zeros on its diagonal (within 100 epsilons of its float dtype; exactly, for
        integers) and no negative entries.  Any array library, or a ``scipy.sparse``
        matrix or array of any format (its missing entries are distance 0 when
        precomputed); sparse features are read a block of rows at a time (kept sparse for
        'euclidean', 'sqeuclidean' and 'cosine', densified one block at a time for the
        others), never densified whole.
    labels : array_like of shape (n_samples,)
        Cluster of each sample: any integers, 2 to ``n_samples - 1`` distinct ones.
    metric : str or callable, default='euclidean'
        Any metric of ``sklearn.metrics.pairwise_distances``, or 'precomputed'.

        * Native (every backend, in the input's namespace and on its device, jit- and
          lazy-safe): 'euclidean' ('l2', and 'nan_euclidean': X holds no NaN), 'sqeuclidean',
          'manhattan' ('cityblock', 'l1'), 'cosine', 'chebyshev', 'minkowski',
          'seuclidean', 'haversine', and 'precomputed'.
        * SciPy's others ('braycurtis', 'canberra', 'correlation', 'dice', 'hamming',
          'jaccard', 'mahalanobis', 'matching', 'rogerstanimoto', 'russellrao',
          'sokalsneath', 'yule') and a callable ``metric(u, v, **kwds) -> float`` (called
          on rows of X in its float dtype): computed by ``scipy.spatial.distance.cdist``
          (or by calling it) one NumPy block of pairs at a time, so for NumPy data and
          Dask arrays of NumPy blocks only; other arrays get a ``TypeError`` naming the
          metric (convert the data to NumPy first).  The boolean ones see nonzero entries
          as True (with scikit-learn's warning).
    **kwds : optional
        Passed to the metric as scikit-learn passes them: ``p`` and ``w`` ('minkowski'),
        ``w`` ('sqeuclidean', 'chebyshev'), ``V`` ('seuclidean'; default: the features'
        variances), ``squared`` ('euclidean'), any of a SciPy metric's or a callable's own
        (``VI`` for 'mahalanobis'; default: the inverse covariance of X).
        ``working_memory`` (MiB) sets the memory budget of the call; ``n_jobs`` and
        ``ensure_all_finite`` are accepted and change nothing (X is always checked for NaN
        and infinity, as scikit-learn checks it).  Others raise ``TypeError``.

    Returns
    -------
    silhouette : array of shape (n_samples,)
        In ``X``'s namespace, on its device, in its float dtype (NumPy for sparse input);
        equal to ``sklearn.metrics.silhouette_samples`` up to rounding.

    Raises
    ------
    ValueError
        scikit-learn's errors: fewer than 2 or more than ``n - 1`` distinct labels,
        inconsistent lengths, NaN or infinity in ``X``; for 'precomputed' a matrix that is
        not square, has non-zero diagonal entries or negative entries; an unknown metric
        (scikit-learn's ``InvalidParameterError``, also a ``TypeError``).
    TypeError
        Sparse input of another library than SciPy with native dispatch on (convert it to
        ``scipy.sparse``); a
        SciPy metric or a callable on arrays without NumPy blocks; unknown keywords.

    Examples
    --------
    >>> import numpy as np
    >>> from xpcluster.metrics import silhouette_samples
    >>> X = np.array([[0.0], [1.0], [10.0], [11.0]])
    >>> silhouette_samples(X, [0, 0, 1, 1]).round(3)
    array([0.905, 0.895, 0.895, 0.905])
    >>> D = np.abs(X - X.T)  # the same samples' distances
    >>> silhouette_samples(D, [0, 0, 1, 1], metric="precomputed").round(3)
    array([0.905, 0.895, 0.895, 0.905])
    >>> silhouette_samples(X, [0, 0, 1, 1], metric="minkowski", p=3).round(3)
    array([0.905, 0.895, 0.895, 0.905])
    """
    X = _host_sparse(X, "silhouette_samples")
    spec = _silhouette_metric(metric, kwds, "silhouette_samples")
    with _working_memory(spec.working_memory):
        problem = _silhouette_problem(X, labels, spec)
        (values,) = problem.checks.attach(_silhouette_values(problem))
    return values


def silhouette_score(X, labels, *, metric="euclidean", sample_size=None, random_state=None, **kwds):
    """Mean silhouette coefficient of all samples, or of a random subset (scikit-learn's
    ``silhouette_score``).

    Parameters
    ----------
    X : array_like of shape (n_samples, n_features), or (n_samples, n_samples) for 'precomputed'
        The samples, or their distances; as :func:`silhouette_samples` takes them (any
        array library, or a ``scipy.sparse`` matrix or array).
    labels : array_like of shape (n_samples,)
        Cluster of each sample: any integers, 2 to ``n_samples - 1`` distinct ones.
    metric : str or callable, default='euclidean'
        As for :func:`silhouette_samples`.
    sample_size : int, optional
        Score a random subset of this many samples (drawn without replacement on the
        host, as scikit-learn draws it: ``random_state.permutation(n)[:sample_size]``;
        a precomputed matrix's rows and columns of the subset) instead of all:
        O(sample_size**2) work instead of O(n**2).
    random_state : {None, int, numpy.random.RandomState, numpy.random.Generator}, optional
        Source of the subset's draw, with scikit-learn's meaning (None: NumPy's global
        random state; an int seeds a ``RandomState``).  Ignored without ``sample_size``.
    **kwds : optional
        Passed to the metric, as for :func:`silhouette_samples`.

    Returns
    -------
    score : 0-d array
        In ``X``'s namespace, on its device, in its float dtype (a NumPy scalar for NumPy
        and for sparse input); equal to ``sklearn.metrics.silhouette_score`` with the same
        arguments up to rounding.

    Examples
    --------
    >>> import numpy as np
    >>> from xpcluster.metrics import silhouette_score
    >>> X = np.array([[0.0], [1.0], [10.0], [11.0]])
    >>> round(float(silhouette_score(X, [0, 0, 1, 1])), 4)
    0.8997
    >>> round(float(silhouette_score(np.abs(X - X.T), [0, 0, 1, 1], metric="precomputed")), 4)
    0.8997
    """
    X = _host_sparse(X, "silhouette_score")
    spec = _silhouette_metric(metric, kwds, "silhouette_score")
    checks = None
    if sample_size is not None:
        if not isinstance(sample_size, numbers.Integral | np.integer) or isinstance(sample_size, bool) or sample_size < 1:
            raise ValueError(f"sample_size must be a positive integer, got {sample_size!r}")
        X, labels, checks = _sampled(X, labels, spec, int(sample_size), random_state)
    with _working_memory(spec.working_memory):
        problem = _silhouette_problem(X, labels, spec, checks)
        values = _silhouette_values(problem)
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
    return _calinski_harabasz_of(between, within, sizes, n, xp=xp)


def _calinski_harabasz_of(between: Any, within: Any, sizes: Any, n: int, *, xp: Any) -> Any:
    """The score from the between- and within-cluster dispersions (0-d arrays) and the
    cluster sizes; 1 when the within-cluster dispersion is 0."""
    n_labels = xp.astype(xp.sum(xp.astype(sizes > 0, xp.int32)), within.dtype)
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
    # scikit-learn calls the clustering degenerate (score 0) when every spread, or every
    # centre distance, is within 1e-8 of 0.  The score is a ratio, so for data smaller than
    # 1 the threshold shrinks with the data: 1e-8 in units of the largest |x - mean|, so
    # that data in small units is not called degenerate.
    tiny = 1e-8 * xp.minimum(xp.max(xp.abs(X)), xp.ones((), dtype=X.dtype, device=array_api_compat.device(X)))
    return _davies_bouldin_of(centers, sizes, spread, tiny, k=k, xp=xp, caps=caps)


def _davies_bouldin_of(centers: Any, sizes: Any, spread: Any, tiny: Any, *, k: int, xp: Any, caps: Any) -> Any:
    """The score from the centres (k, d), the cluster sizes, the clusters' sums of the
    distances of their members to the centre, and the degeneracy threshold ``tiny``."""
    itemsize = xp.finfo(centers.dtype).bits // 8
    used = xp.astype(sizes > 0, centers.dtype)
    spread = spread / xp.where(sizes > 0, sizes, xp.ones_like(sizes))  # mean distance to the centre
    # Centroid pairs in blocks of rows: a (rows, k, d) difference block at most.
    rows = max(1, memory_budget_bytes() // (4 * itemsize * k * (centers.shape[1] + 2)))
    index = xp.reshape(xp.arange(k, dtype=xp.int32, device=array_api_compat.device(centers)), (k, 1))
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
    X : array_like or scipy.sparse matrix of shape (n_samples, n_features)
        The samples: any array library, or a ``scipy.sparse`` matrix or array of any
        format (then ``labels`` is a NumPy array or a list), which is never densified
        whole (see the module's notes).
    labels : array_like of shape (n_samples,)
        Cluster of each sample: any integers, 2 to ``n_samples - 1`` distinct ones.

    Returns
    -------
    score : 0-d array
        In ``X``'s namespace, on its device, in its float dtype (a NumPy scalar for NumPy
        and for sparse input); equal to ``sklearn.metrics.calinski_harabasz_score`` (of
        the dense data) up to rounding.

    Examples
    --------
    >>> import numpy as np
    >>> from xpcluster.metrics import calinski_harabasz_score
    >>> X = np.array([[0.0], [1.0], [10.0], [11.0]])
    >>> float(calinski_harabasz_score(X, [0, 0, 1, 1]))
    200.0
    """
    X = _host_sparse(X, "calinski_harabasz_score")
    if _is_sparse(X):
        return _sparse_score(X, labels, _sparse_calinski_harabasz)
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
    X : array_like or scipy.sparse matrix of shape (n_samples, n_features)
        The samples: any array library, or a ``scipy.sparse`` matrix or array of any
        format (then ``labels`` is a NumPy array or a list), which is never densified
        whole (see the module's notes).
    labels : array_like of shape (n_samples,)
        Cluster of each sample: any integers, 2 to ``n_samples - 1`` distinct ones.

    Returns
    -------
    score : 0-d array
        In ``X``'s namespace, on its device, in its float dtype (a NumPy scalar for NumPy
        and for sparse input); equal to ``sklearn.metrics.davies_bouldin_score`` (of the
        dense data) up to rounding.

    Examples
    --------
    >>> import numpy as np
    >>> from xpcluster.metrics import davies_bouldin_score
    >>> X = np.array([[0.0], [1.0], [10.0], [11.0]])
    >>> float(davies_bouldin_score(X, [0, 0, 1, 1]))
    0.1
    """
    X = _host_sparse(X, "davies_bouldin_score")
    if _is_sparse(X):
        return _sparse_score(X, labels, _sparse_davies_bouldin)
    problem = _prepare(X, labels)
    xp, caps = problem.xp, problem.caps
    _check_packable(problem.k, problem.X.dtype, xp)
    score = _run(_davies_bouldin_core, _LABELLED_STATIC, problem.X, problem.ids, k=problem.k, xp=xp, caps=caps)
    return _scalar(score, problem.checks)


# --------------------------------------------------------------------------------------
# Sparse features (SciPy): inertia, Calinski-Harabasz and Davies-Bouldin, never densified
#
# Everything these scores need of X is per-cluster sums of its rows (the centroids) and
# each row's distance to its own centroid.  The sums are products of a sparse one-hot
# (clusters by rows) matrix with X; the distances come from the stored entries alone:
# |x - c|^2 is the sum over the row's stored columns of (x_j - c_j)^2, plus |c|^2 less the
# c_j^2 of those columns (the centroid's part where the row is 0).  Both are made a block
# of rows at a time (sized by the memory budget), in float64 whatever X's dtype, from X's
# canonical CSR form; only (k, d) arrays are dense.


class _RowBlock(NamedTuple):
    start: int  # rows [start, stop) of X
    stop: int
    values: np.ndarray  # their stored values, float64, scaled
    columns: np.ndarray  # the values' columns
    indptr: np.ndarray  # where each row's values start (from 0), and their end


#: Bytes of temporaries per stored entry of a block: the distance pass's entry-sized
#: arrays (rows, the centre's values, differences, squares, masks) with room to spare.
_BYTES_PER_ENTRY = 96


def _as_sparse_features(X: Any, xp: Any, checks: Any) -> Any:
    """Sparse ``X`` (any SciPy format) checked as dense ``X`` is, as a canonical CSR array
    (no duplicate entries) in its compute dtype.  ``X`` itself is never modified: a CSR
    input's arrays are shared when they can be used as they are (and are only read), and
    copied otherwise."""
    from scipy import sparse

    if X.ndim != 2:
        raise ValueError(
            f"Expected 2D array, got {X.ndim}D array instead; reshape your data with "
            "X.reshape(-1, 1) for a single feature or X.reshape(1, -1) for a single sample"
        )
    if X.dtype.kind not in "biuf":
        raise ValueError(f"X must hold real numbers, got an array of dtype {X.dtype}")
    shared = X.format == "csr"  # csr_array(X) shares a CSR input's arrays; others are converted
    X = sparse.csr_array(X)
    n, d = X.shape
    if n < 1:
        raise ValueError(f"Found array with 0 sample(s) (shape={(n, d)}) while a minimum of 1 is required.")
    if d < 1:
        raise ValueError(f"Found array with 0 feature(s) (shape={(n, d)}) while a minimum of 1 is required.")
    # Integers and booleans as floats (a PrecisionWarning for integers beyond their range).
    data = to_compute_dtype(np.asarray(X.data), xp, checks, name="X")
    step = max(1, memory_budget_bytes() // 4)  # in chunks: a mask of every entry is X's size again
    if not all(np.isfinite(data[i : i + step]).all() for i in range(0, data.shape[0], step)):
        raise ValueError("Input X contains NaN or infinity.")
    converted = data is not X.data
    if not X.has_canonical_format:  # duplicates are added up (on a copy) for the squared norms
        copy = shared
        X = sparse.csr_array(
            (data.copy() if copy and not converted else data,
             X.indices.copy() if copy else X.indices, X.indptr.copy() if copy else X.indptr),
            shape=(n, d),
        )
        X.sum_duplicates()
    elif converted:
        X = sparse.csr_array((data, X.indices, X.indptr), shape=(n, d))
    return X


def _sparse_scale(X: Any, centers: Any, *, xp: Any, caps: Any) -> float:
    """As for dense X: the power of two (exact) that brings the stored values (and
    ``centers``) into the safe range of their dtype; 1.0 when they are inside it.  It is
    applied as the blocks are read."""
    stored = xp.reshape(X.data, (1, -1)) if X.nnz else xp.zeros((1, 1), dtype=X.dtype)
    s = range_scale(stored, centers, xp=xp, caps=caps)
    return 1.0 if is_unit(s) else float(s)


def _row_blocks(X: Any, scale: float) -> Iterator[_RowBlock]:
    """Consecutive blocks of the rows of CSR ``X``, each with about as many stored entries
    (and rows) as the memory budget allows temporaries for; at least one row each."""
    indptr = X.indptr
    n = X.shape[0]
    limit = max(1, memory_budget_bytes() // _BYTES_PER_ENTRY)
    start = 0
    while start < n:
        first = int(indptr[start])
        stop = int(np.searchsorted(indptr, first + limit, side="right")) - 1
        stop = min(max(stop, start + 1), start + limit, n)
        last = int(indptr[stop])
        values = np.asarray(X.data[first:last], dtype=np.float64)  # a view of float64 data
        if scale != 1.0:
            values = values * scale
        yield _RowBlock(start, stop, values, X.indices[first:last], indptr[start : stop + 1] - first)
        start = stop


def _sparse_cluster_sums(X: Any, ids: np.ndarray, k: int, scale: float, weights: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """``(sums (k, d), sizes (k,))``: the clusters' (weighted) sums of rows and their
    (weighted) sizes, float64, by one sparse product of a one-hot matrix per row block."""
    from scipy import sparse

    d = X.shape[1]
    sums = np.zeros((k, d))
    for block in _row_blocks(X, scale):
        m = block.stop - block.start
        w = np.ones(m) if weights is None else np.asarray(weights[block.start : block.stop], dtype=np.float64)
        members = sparse.csr_array((w, (ids[block.start : block.stop], np.arange(m))), shape=(k, m))
        rows = sparse.csr_array((block.values, block.columns, block.indptr), shape=(m, d))
        part = (members @ rows).tocoo()  # (k, d): the block's sums, as sparse
        np.add.at(sums.reshape(-1), part.row.astype(np.intp) * d + part.col, part.data)
    sizes = np.bincount(ids, weights=None if weights is None else np.asarray(weights, dtype=np.float64), minlength=k)
    return sums, sizes.astype(np.float64)


def _sparse_distances(X: Any, ids: np.ndarray, centers: np.ndarray, scale: float) -> Iterator[tuple[_RowBlock, np.ndarray, np.ndarray]]:
    """For each row block: the block, its rows' clusters and their squared Euclidean
    distances to their centres ``centers[ids]`` (float64), from the stored entries only."""
    norms = np.einsum("ij,ij->i", centers, centers)
    support = np.count_nonzero(centers, axis=1)
    for block in _row_blocks(X, scale):
        m = block.stop - block.start
        own = ids[block.start : block.stop]
        rows = np.repeat(np.arange(m), np.diff(block.indptr))
        at = centers[own[rows], block.columns]  # the centre's value at each stored entry
        diff = block.values - at
        stored = np.bincount(rows, weights=diff * diff, minlength=m)
        # Where the row is 0 the distance is the centre's own: |c|^2 less its part on the
        # stored columns; exactly 0 when those hold all of the centre's nonzero values.
        covered = np.bincount(rows[at != 0], minlength=m) == support[own]
        rest = norms[own] - np.bincount(rows, weights=at * at, minlength=m)
        yield block, own, stored + np.where(covered, 0.0, np.maximum(rest, 0.0))


def _sparse_score(X: Any, labels: Any, score: Any) -> Any:
    """``score(X, scale, ids, k, xp)`` (float64) of sparse ``X`` (checked, in canonical CSR
    form) with its labels validated and mapped to 0..k-1 as :func:`_prepare` does dense
    ones; a NumPy scalar of X's compute dtype."""
    xp = array_api_compat.array_namespace(np.empty(0))
    caps = capabilities_for(xp)
    checks = Checks(caps)
    X = _as_sparse_features(X, xp, checks)
    scale = _sparse_scale(X, None, xp=xp, caps=caps)
    labels = _as_labels(_numpy_array(labels, "labels"), X, xp, caps, checks)
    ids, k, n_labels = _cluster_ids(labels, X.shape[0], xp, caps)
    _check_label_count(n_labels, X.shape[0], checks)
    result = score(X, scale, np.asarray(ids), k, xp)
    return _scalar(xp.asarray(result, dtype=X.dtype), checks)


def _sparse_calinski_harabasz(X: Any, scale: float, ids: np.ndarray, k: int, xp: Any) -> Any:
    n = X.shape[0]
    sums, sizes = _sparse_cluster_sums(X, ids, k, scale)
    centers = sums / np.where(sizes > 0, sizes, 1.0)[:, None]
    offsets = centers - sums.sum(axis=0) / n  # from the overall mean
    between = np.sum(sizes * np.einsum("ij,ij->i", offsets, offsets))
    within = math.fsum(float(np.sum(squared)) for _, _, squared in _sparse_distances(X, ids, centers, scale))
    return _calinski_harabasz_of(xp.asarray(between), xp.asarray(within), xp.asarray(sizes), n, xp=xp)


def _sparse_davies_bouldin(X: Any, scale: float, ids: np.ndarray, k: int, xp: Any) -> Any:
    n, d = X.shape
    sums, sizes = _sparse_cluster_sums(X, ids, k, scale)
    centers = sums / np.where(sizes > 0, sizes, 1.0)[:, None]
    mean = sums.sum(axis=0) / n
    spread = np.zeros(k)
    deviation = 0.0  # the largest |x - mean| over every entry, implicit zeros included
    entries = np.zeros(d, dtype=np.int64)  # stored entries per column
    for block, own, squared in _sparse_distances(X, ids, centers, scale):
        spread += np.bincount(own, weights=np.sqrt(squared), minlength=k)
        if block.values.shape[0]:
            deviation = max(deviation, float(np.max(np.abs(block.values - mean[block.columns]))))
            np.add.at(entries, block.columns, 1)
    implicit = entries < n  # columns holding a zero that is not stored
    if implicit.any():
        deviation = max(deviation, float(np.max(np.abs(mean[implicit]))))
    tiny = xp.asarray(1e-8 * min(deviation, 1.0))  # as the dense score's threshold
    return _davies_bouldin_of(xp.asarray(centers), xp.asarray(sizes), xp.asarray(spread), tiny, k=k, xp=xp,
                              caps=capabilities_for(xp))


def _sparse_inertia(X: Any, labels: Any, centers: Any, sample_weight: Any) -> Any:
    """:func:`inertia` of sparse ``X``: NumPy labels, centres and weights."""
    xp = array_api_compat.array_namespace(np.empty(0))
    caps = capabilities_for(xp)
    checks = Checks(caps)
    X = _as_sparse_features(X, xp, checks)
    labels, centers, sample_weight = (
        None if a is None else _numpy_array(a, what)
        for a, what in ((labels, "labels"), (centers, "centers"), (sample_weight, "sample_weight"))
    )
    ids, k, centers, sample_weight = _inertia_inputs(X, labels, centers, sample_weight, xp=xp, caps=caps, checks=checks)
    ids = np.asarray(ids)
    scale = _sparse_scale(X, centers, xp=xp, caps=caps)  # of the data and the given centres together
    if centers is None:
        sums, sizes = _sparse_cluster_sums(X, ids, k, scale, sample_weight)
        centers = sums / np.where(sizes > 0, sizes, 1.0)[:, None]
    else:
        centers = np.asarray(centers, dtype=np.float64) * scale
    weights = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    total = math.fsum(
        float(np.sum(squared if weights is None else squared * weights[block.start : block.stop]))
        for block, _, squared in _sparse_distances(X, ids, centers, scale)
    )
    # In X's dtype first, still scaled (as the dense inertia is made): what does not fit
    # the dtype once unscaled is reported as it is for dense X.
    total = unscaled_checked(xp.asarray(total, dtype=X.dtype), scale, 2, xp=xp, checks=checks, what="inertia")
    return _scalar(total, checks)
