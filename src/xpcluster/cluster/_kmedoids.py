"""KMedoids: k-medoids clustering by alternating updates or FasterPAM swaps, memory-bounded.

Both methods only ever hold O(n) state plus one budget-sized block of dissimilarities:
distances are recomputed on the fly from the data (or read from a user's precomputed
matrix) in row chunks sized by :func:`xpcluster.memory_budget`, so n = 50,000 points need
megabytes, not the 20 GB of an n-by-n float64 matrix.

Execution model.  ``fit`` is an eager, data-dependent search (which medoid to swap, which
points a cluster holds), so it runs eagerly on every backend: a Python loop that reads a
few scalars per step to the host, with the heavy numeric kernels compiled on JAX.  On Dask
the data is computed once, the search runs on the blocks' own library (NumPy or CuPy), and
the fitted attributes come back as Dask arrays.  ``predict`` and ``transform`` are pure
array code: lazy on Dask (they compute nothing) and traceable by ``jax.jit``.

Sparse data (SciPy's sparse matrices and arrays, any format) is searched as sparse rows:
distances to dense medoid or candidate rows come from sparse-dense products (see
:mod:`xpcluster.cluster._pairwise`); where two sets of data points meet (BUILD's
candidates, the alternating update's tiles) one side is densified a budget-sized block at
a time.  The whole matrix is never densified.
"""
from __future__ import annotations

import bisect
import functools
import math
import numbers
import warnings
from typing import Any

import array_api_compat
import numpy as np

from .. import _rng
from .._backends import capabilities_for
from .._backends.sparse import is_sparse, is_sparse_input, stored_values
from .._checks import Checks, raise_error
from .._core.chunks import memory_budget_bytes
from .._core.dtypes import widest_float
from .._core.scale import UNIT, range_scale, scaled, unscaled_checked
from ._base import BaseEstimator, clusterer_tags, fitted_input, invalid_parameter, validate_data
from ._pairwise import (
    METRICS, SPARSE_METRICS, block_distances, dense_rows_within_budget, distances_to_labels, expanded_distances,
    expanded_points, expanded_targets, many_target_distances, rows_per_block,
)

__all__ = ["KMedoids"]

METHODS = ("alternate", "pam")
INITS = ("build", "k-medoids++", "random")

#: Candidate swaps are evaluated in blocks of a power of two between these sizes (see
#: ``_Search.fasterpam``); each block size is one compilation on JAX.
_SWAP_BLOCK_MIN, _SWAP_BLOCK_MAX = 8, 256
#: (rows, candidates)-shaped temporaries the swap kernel holds at once.
_SWAP_ENTRIES = 4


class KMedoids(BaseEstimator):
    """k-medoids clustering: k representative data points minimising the sum of dissimilarities.

    Each point belongs to its nearest medoid; the loss (``inertia_``) is the sum of the
    dissimilarities of the points to their medoid.  Runs natively on every Array API
    library (NumPy, PyTorch, JAX, Dask, array-api-strict, CuPy) with memory bounded by
    :func:`xpcluster.memory_budget`: no n-by-n matrix is ever formed (unless you pass one
    with ``metric='precomputed'``).

    Parameters
    ----------
    n_clusters : int, default=8
        Number of medoids.
    metric : {'euclidean', 'sqeuclidean', 'manhattan', 'cosine', 'precomputed'}, default='euclidean'
        Dissimilarity.  With ``'precomputed'``, ``X`` in ``fit`` is a square (n, n)
        matrix whose entry ``[i, j]`` is the dissimilarity of point ``i`` to point ``j``
        taken as a medoid (non-negative; it need not be symmetric), dense: a sparse one is
        refused (``TypeError``), since its missing entries could mean 0 or "far apart".
    method : {'alternate', 'pam'}, default='alternate'
        ``'alternate'``: Voronoi iteration -- assign every point to its nearest medoid,
        then make each cluster's medoid the member with the smallest sum of
        dissimilarities to the other members; repeat until the medoids stop changing.
        Each iteration costs the sum of the squared cluster sizes.
        ``'pam'``: FasterPAM (Schubert & Rousseeuw 2021, "Fast and eager k-medoids
        clustering"): candidates are visited in turn and the best swap of a candidate with
        any of the k medoids is evaluated in one O(n) pass from each point's cached nearest
        and second-nearest medoid distances (the O(k) speed-up over PAM); an improving swap
        is made at once (eager swapping).  Stops after a full cycle of candidates without
        an improving swap, so the result is a local optimum: no single swap of a medoid
        for a non-medoid lowers the loss (by more than the tolerance below).  Candidates
        are evaluated in blocks against the same state (the loss change of a block of
        candidates against all k medoids is two elementwise minima over the (points,
        candidates) distances and two products with the one-hot of nearest medoids); the
        first improving candidate of a block is the one the one-at-a-time search would
        swap, so the block sizes change the speed, never the answer, and a given start
        always gives the same medoids.  Each pass over the candidates costs O(n^2)
        dissimilarities (computed on the fly) and O(n) memory.  Swaps that would lower the loss by less
        than a relative ``1e-9`` (``1e-5`` when computing in float32) are not made, so
        rounding noise cannot make the search cycle.
    init : {'build', 'k-medoids++', 'random'} or array of int, default='k-medoids++'
        ``'build'``: PAM's greedy BUILD (first the point with the smallest total
        dissimilarity, then each time the point that lowers the loss most); O(k n^2) time.
        ``'k-medoids++'``: the first medoid uniformly at random, each next one with
        probability proportional to the dissimilarity to the nearest medoid so far (the
        k-median analogue of k-means++); O(k n).  ``'random'``: k distinct points
        uniformly at random.  An array: the k distinct indices of the initial medoids.
    max_iter : int, default=300
        Maximum number of iterations (``'alternate'``) or of passes over the candidates
        (``'pam'``).  0 keeps the initial medoids.
    random_state : None, int, numpy.random.RandomState or numpy.random.Generator, default=None
        Source of the host random draws of ``'k-medoids++'`` and ``'random'``; None is
        NumPy's global random state, an int seeds a ``RandomState`` (scikit-learn's rule).

    Attributes
    ----------
    cluster_centers_ : array of shape (n_clusters, n_features) or None
        Coordinates of the medoids (rows of the training data); None for
        ``metric='precomputed'``.  Dense also for sparse training data (a NumPy array of
        k rows, as scikit-learn's ``KMeans`` gives).
    medoid_indices_ : array of shape (n_clusters,)
        Indices of the medoids in the training data (the namespace's default index dtype).
    labels_ : array of int32, shape (n_samples,)
        Index of each training point's nearest medoid (the lowest index on ties).
    inertia_ : 0-d array
        Sum of the dissimilarities of the training points to their nearest medoid, in the
        data's compute dtype (summed in the device's widest float); ``fit`` raises
        ``ValueError`` when that dtype cannot hold it (float32 data near its maximum
        with ``'sqeuclidean'``, say: convert the data to float64).
    n_iter_ : int
        Iterations (``'alternate'``) or passes over the candidates (``'pam'``) run.
    n_features_in_ : int
        Number of features seen in ``fit`` (n for ``'precomputed'``).

    Notes
    -----
    Fitted attributes live in the namespace and on the device of the data given to
    ``fit``, in its compute dtype (float64 and float32 as given, in native byte order;
    integers in the device's widest float; half precision in float32).  Vector metrics
    compute on the data scaled by a power of two into that dtype's safe range (exact), so
    float32 data near 1e30, 1e-30 or its maximum finds the medoids float64 finds.  ``fit`` is a data-dependent search: on every backend it runs a Python loop
    that reads a few scalars to the host per step (which medoid to swap, where each
    cluster starts), with the numeric kernels compiled on JAX.  So on JAX ``fit`` cannot
    run inside ``jax.jit`` (it raises ``TypeError`` there) and makes implicit transfers
    (not under ``jax.transfer_guard("disallow")``), while ``predict`` and ``transform`` of
    a fitted estimator can be jitted and make none.  On Dask, ``fit`` computes its input
    once, runs on the blocks' library (NumPy or CuPy) and returns Dask arrays;
    ``predict`` and ``transform`` stay lazy (their value checks fire on ``compute()``).

    Time: ``'alternate'`` costs about the sum of the squared cluster sizes per iteration;
    ``'pam'`` O(n^2) per pass (measured on a 2-core x86_64 box under load, NumPy: n =
    50,000, d = 2, k = 32, two alternating iterations 0.9-2.5 s; ``'pam'`` at n = 5,000,
    d = 16, k = 10 about as fast as the ``kmedoids`` package's FasterPAM with its n-by-n
    matrix; see ``benchmarks/kmedoids.py``).  Memory: O(n) plus one block of the budget in
    both (for ``'pam'``, O(n (d + k)) caches where they fit a quarter of the budget).

    With ``metric='precomputed'``, ``predict`` and ``transform`` take the (m, n)
    dissimilarities of m new points to the n training points (only the medoid columns
    are read), as in scikit-learn-extra.

    Sparse ``X`` (``scipy.sparse``, any format, integers included) works with the vector
    metrics in ``fit``, ``predict`` and ``transform``, and finds the medoids the same data
    given densely finds (up to rounding of near ties: sparse distances come from the
    expansion ``|x|^2 - 2 x.m + |m|^2`` unshifted, Manhattan ones from the stored entries);
    it is never densified whole and is not modified.  Results are NumPy arrays.

    Examples
    --------
    >>> import numpy as np
    >>> from xpcluster.cluster import KMedoids
    >>> X = np.array([[1.0, 2.0], [1.0, 4.0], [1.0, 0.0],
    ...               [4.0, 2.0], [4.0, 4.0], [4.0, 0.0]])
    >>> km = KMedoids(n_clusters=2, method="pam", init="build").fit(X)
    >>> km.medoid_indices_.tolist(), km.labels_.tolist()
    ([0, 3], [0, 0, 0, 1, 1, 1])
    >>> float(km.inertia_)
    8.0
    >>> km.predict(np.array([[0.0, 0.0], [5.0, 3.0]])).tolist()
    [0, 1]
    """

    _accepts_sparse = True  # SciPy sparse input (validate_data), for the vector metrics

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        metric: str = "euclidean",
        method: str = "alternate",
        init: Any = "k-medoids++",
        max_iter: int = 300,
        random_state: Any = None,
    ) -> None:
        self.n_clusters = n_clusters
        self.metric = metric
        self.method = method
        self.init = init
        self.max_iter = max_iter
        self.random_state = random_state

    # -- fitting ---------------------------------------------------------------------

    def fit(self, X: Any, y: Any = None) -> "KMedoids":
        """Find the medoids of ``X``.

        Parameters
        ----------
        X : array or sparse matrix of shape (n_samples, n_features), or (n_samples, n_samples) for 'precomputed'
            Training data, in any Array API library, or a ``scipy.sparse`` matrix or
            array (any format) for the vector metrics.
        y : ignored

        Returns
        -------
        self : KMedoids
        """
        k, init = self._checked_params()
        self._refuse_sparse_precomputed(X)
        xp, device, X = validate_data(self, X, reset=True)
        caps = capabilities_for(xp)
        if caps.is_traced(X):
            raise TypeError(
                "KMedoids.fit searches eagerly (it reads values to decide each step) and cannot "
                "run inside jax.jit; fit outside the traced function (predict and transform "
                "of a fitted estimator can be traced)"
            )
        lazy = caps.defers_checks
        data = _materialized(X, caps) if lazy else X
        n = data.shape[0]
        if self.metric == "precomputed" and data.shape[0] != data.shape[1]:
            raise ValueError(
                f"metric='precomputed' needs a square (n_samples, n_samples) matrix, got shape {tuple(data.shape)}"
            )
        if n < k:
            raise ValueError(f"n_samples={n} should be >= n_clusters={k}.")
        # Vector metrics search on the data scaled by a power of two into the dtype's safe range
        # (nothing is multiplied for data inside it): dissimilarities scale by s (euclidean,
        # manhattan), s**2 (sqeuclidean) or not at all (cosine), so every comparison of the
        # search is unchanged, and the medoids are rows of the data itself.
        data_xp = array_api_compat.array_namespace(data)
        data_caps = capabilities_for(data_xp)
        s = UNIT if self.metric == "precomputed" else range_scale(data, xp=data_xp, caps=data_caps, now=True)
        search = _Search(scaled(data, s), self.metric)
        search.check_values()

        medoids = search.initial_medoids(init, k, self.random_state)
        if self.method == "alternate":
            medoids, n_iter = search.alternate(medoids, self.max_iter)
        else:
            medoids, n_iter = search.fasterpam(medoids, self.max_iter)
        labels, inertia = search.final_assignment(medoids)
        inertia = unscaled_checked(inertia, s, _POWER[self.metric], xp=data_xp, checks=Checks(data_caps, now=True),
                                   what="inertia_")

        back = (lambda a: xp.asarray(a)) if lazy else (lambda a: a)
        medoid_index = search.place(medoids)
        self.medoid_indices_ = back(medoid_index)
        self.cluster_centers_ = (
            None if self.metric == "precomputed" else back(search.caps.take_rows(data, medoid_index))
        )
        self.labels_ = back(labels)
        self.inertia_ = back(inertia)
        self.n_iter_ = int(n_iter)
        return self

    def fit_predict(self, X: Any, y: Any = None) -> Any:
        """Fit and return ``labels_``.

        Parameters
        ----------
        X : array of shape (n_samples, n_features), or (n_samples, n_samples) for 'precomputed'
        y : ignored

        Returns
        -------
        labels : array of int32, shape (n_samples,)
        """
        return self.fit(X).labels_

    def fit_transform(self, X: Any, y: Any = None) -> Any:
        """Fit and return the dissimilarities of ``X`` to the medoids.

        Parameters
        ----------
        X : array of shape (n_samples, n_features), or (n_samples, n_samples) for 'precomputed'
        y : ignored

        Returns
        -------
        distances : array of shape (n_samples, n_clusters)
        """
        return self.fit(X).transform(X)

    def __sklearn_tags__(self) -> Any:
        precomputed = self.metric == "precomputed"
        return clusterer_tags(pairwise=precomputed, sparse=not precomputed)

    def _refuse_sparse_precomputed(self, X: Any) -> None:
        """Sparse input is for the vector metrics: a sparse dissimilarity matrix is ambiguous
        (scikit-learn's estimators read its missing entries as "far", a dense reading as 0)."""
        if is_sparse_input(X) and self.metric not in SPARSE_METRICS:
            raise TypeError(
                f"KMedoids(metric={self.metric!r}) does not accept sparse input (got a {type(X).__name__}): "
                f"sparse data works with metric in {SPARSE_METRICS}; for precomputed dissimilarities pass a "
                "dense (n_samples, n_samples) array (e.g. X.toarray())"
            )

    def _checked_params(self) -> tuple[int, Any]:
        k = self.n_clusters
        if isinstance(k, bool | np.bool_) or not isinstance(k, numbers.Integral) or k < 1:
            raise invalid_parameter(f"n_clusters should be a positive integer, got {k!r}")
        if not isinstance(self.metric, str) or self.metric not in METRICS:
            raise invalid_parameter(f"metric should be one of {METRICS}, got {self.metric!r}")
        if not isinstance(self.method, str) or self.method not in METHODS:
            raise invalid_parameter(f"method should be one of {METHODS}, got {self.method!r}")
        m = self.max_iter
        if isinstance(m, bool | np.bool_) or not isinstance(m, numbers.Integral) or m < 0:
            raise invalid_parameter(f"max_iter should be a non-negative integer, got {m!r}")
        init = self.init
        if isinstance(init, str):
            if init not in INITS:
                raise invalid_parameter(f"init should be one of {INITS} or an array of indices, got {init!r}")
        else:
            init = _host_indices(init, int(k))
        return int(k), init

    # -- using a fitted estimator ------------------------------------------------------

    def predict(self, X: Any) -> Any:
        """Index of the nearest medoid of each row of ``X`` (lowest index on ties).

        Parameters
        ----------
        X : array of shape (n_queries, n_features), or (n_queries, n_samples_fit) for 'precomputed'
            New points (for 'precomputed': their dissimilarities to the training points).

        Returns
        -------
        labels : array of int32, shape (n_queries,)
        """
        xp, caps, checks, X, targets, s = self._query(X)
        run = caps.compiled(_predict_core, ("metric", "rows"))
        (labels,) = run(scaled(X, s), scaled(targets, s), metric=self.metric, rows=self._query_rows(X))
        return checks.attach(labels)[0]

    def transform(self, X: Any) -> Any:
        """Dissimilarities of the rows of ``X`` to the medoids.

        Parameters
        ----------
        X : array of shape (n_queries, n_features), or (n_queries, n_samples_fit) for 'precomputed'
            New points (for 'precomputed': their dissimilarities to the training points).

        Returns
        -------
        distances : array of shape (n_queries, n_clusters)
            In the wider of ``X``'s compute dtype and the medoids' dtype; a dissimilarity
            beyond that dtype's maximum raises ``ValueError`` (it cannot be held).
        """
        xp, caps, checks, X, targets, s = self._query(X)
        run = caps.compiled(_transform_core, ("metric", "rows"))
        (distances,) = run(scaled(X, s), scaled(targets, s), metric=self.metric, rows=self._query_rows(X))
        distances = unscaled_checked(distances, s, _POWER[self.metric], xp=xp, checks=checks, what="a dissimilarity")
        return checks.attach(distances)[0]

    def _query(self, X: Any) -> tuple[Any, Any, Any, Any, Any, Any]:
        """``(xp, caps, checks, X, targets, s)``: ``X`` validated against the fitted state, the
        targets (medoid rows, or indices for 'precomputed'), the value checks (NaN or
        infinity, negative dissimilarities for 'precomputed'; eagerly raised at once, else
        attached to the outputs) and the range scale of ``X`` with the medoids (vector
        metrics; lazy-safe and traceable)."""
        precomputed = self.metric == "precomputed"
        self._refuse_sparse_precomputed(X)
        xp, caps, checks, X, targets = fitted_input(
            self, X, targets="medoid_indices_" if precomputed else "cluster_centers_"
        )
        if precomputed:
            checks.add(xp.any(X < 0), raise_error(ValueError(_NEGATIVE)))
            return xp, caps, checks, X, targets, UNIT
        return xp, caps, checks, X, targets, range_scale(X, targets, xp=xp, caps=caps)

    def _query_rows(self, X: Any) -> int:
        itemsize = array_api_compat.array_namespace(X).finfo(X.dtype).bits // 8
        return rows_per_block(int(self.medoid_indices_.shape[0]), X.shape[1], itemsize, self.metric,
                              stored=_stored_per_row(X))


#: The power of the data's unit each dissimilarity carries (how it scales with the data).
_POWER = {"euclidean": 1, "sqeuclidean": 2, "manhattan": 1, "cosine": 0, "precomputed": 0}
_NOT_FINITE = "Input X contains NaN or infinity."
_NEGATIVE = "Negative values in data passed to precomputed distance matrix."


def _host_indices(init: Any, k: int) -> np.ndarray:
    """``init`` given as medoid indices, as a host int64 array (a parameter, not data)."""
    if array_api_compat.is_array_api_obj(init) and not isinstance(init, np.ndarray):
        ixp = array_api_compat.array_namespace(init)
        if init.ndim != 1 or not ixp.isdtype(init.dtype, "integral"):
            raise ValueError(f"init as an array must be a 1-D array of integer indices, got {init!r}")
        index = np.asarray([int(init[i]) for i in range(init.shape[0])], dtype=np.int64)
    else:
        index = np.asarray(init)
        if index.ndim != 1 or (index.size and index.dtype.kind not in "iu"):
            raise ValueError(f"init as an array must be a 1-D array of integer indices, got {init!r}")
        index = index.astype(np.int64)
    if index.shape[0] != k:
        raise ValueError(f"init has {index.shape[0]} medoid indices, but n_clusters={k}")
    if np.unique(index).shape[0] != k:
        raise ValueError("init has repeated medoid indices; the medoids must be distinct points")
    return index


def _materialized(X: Any, caps: Any) -> Any:
    """A lazy array computed once, as an array of its blocks' library."""
    materialize = getattr(caps, "materialize", None)  # a capability, where the layer has it
    return materialize(X) if materialize is not None else X.compute()


def _pow2_at_least(m: int) -> int:
    return 1 << max(m - 1, 0).bit_length()


def _pow2_at_most(m: int) -> int:
    return 1 << max(m, 1).bit_length() - 1


def _stored_per_row(X: Any) -> int | None:
    """The mean number of stored entries per row (rounded up) of sparse rows; None for
    dense arrays.  Sizes the row blocks that stay sparse."""
    if not is_sparse(X):
        return None
    stored = getattr(X, "nnz", None)  # unknown for Dask's blocks until computed: their own sizes rule
    if stored is None:
        return 1
    return max(1, -(-int(stored) // max(1, int(X.shape[0]))))


class _Search:
    """The eager k-medoids search over one concrete data array (or precomputed matrix).

    Medoids are kept on the host as an int64 array of row indices; everything of size n
    (nearest medoid, distances to the nearest and second-nearest medoid) stays on the
    data's device.
    """

    def __init__(self, data: Any, metric: str) -> None:
        self.data = data
        self.metric = metric
        self.xp = array_api_compat.array_namespace(data)
        self.caps = capabilities_for(self.xp).for_data(data)  # PyTorch CPU: NumPy's threaded blocks
        self.device = array_api_compat.device(data)
        self.n = int(data.shape[0])
        self.width = int(data.shape[1])
        self.sparse = is_sparse(data)
        self.stored = _stored_per_row(data)
        self.itemsize = self.xp.finfo(data.dtype).bits // 8
        self.wide = widest_float(self.xp, self.device)
        self.index_dtype = self.xp.__array_namespace_info__().default_dtypes(device=self.device)["indexing"]
        eps = float(self.xp.finfo(self.wide).eps)
        self.swap_rtol = 1e-9 if eps < 1e-10 else 1e-5

    # -- small helpers -------------------------------------------------------------

    def check_values(self) -> None:
        xp, caps = self.xp, self.caps
        if not caps.read_bool(xp.all(xp.isfinite(stored_values(self.data)))):
            raise ValueError(_NOT_FINITE)
        if self.metric == "precomputed" and caps.read_bool(xp.any(self.data < 0)):
            raise ValueError(_NEGATIVE)

    def place(self, index: np.ndarray) -> Any:
        return self.caps.to_device(np.asarray(index, dtype=np.int64), self.data, self.index_dtype)

    def targets(self, index: Any) -> Any:
        """What :func:`block_distances` takes as targets for the points at ``index``."""
        return index if self.metric == "precomputed" else self.caps.take_rows(self.data, index)

    def rows(self, targets: int, entries: int = 6) -> int:
        return min(self.n, self._rows(targets, entries))

    def _rows(self, targets: int, entries: int = 6) -> int:
        return rows_per_block(
            targets, self.width, self.itemsize, self.metric, entries=entries, block_bytes=self.caps.block_bytes,
            stored=self.stored,
        )

    def dense_block(self) -> int:
        """Rows of sparse data densified at once (as targets): within a quarter of the budget."""
        return min(self.n, dense_rows_within_budget(self.width, self.itemsize))

    def _read_int(self, a: Any) -> int:
        return int(a)

    def distances_to(self, index: int) -> Any:
        """(n,) dissimilarities of every point to the point ``index`` (wide dtype)."""
        run = self.caps.compiled(_distances_to_core, ("metric", "rows"))
        (dist,) = run(self.data, self.targets(self.place(np.asarray([index]))), metric=self.metric, rows=self.rows(1))
        return dist

    def nearest_two(self, medoids: np.ndarray) -> tuple[Any, Any, Any, Any, float]:
        """Nearest medoid (slot), distance to it and to the second nearest, per point; the
        loss increase of removing each medoid, and the loss."""
        k = medoids.shape[0]
        run = self.caps.compiled(_nearest_two_core, ("metric", "rows", "k"))
        nearest, dn, ds, removal, loss = run(
            self.data, self.targets(self.place(medoids)), metric=self.metric, rows=self.rows(k), k=k
        )
        return nearest, dn, ds, removal, float(loss[0])

    def final_assignment(self, medoids: np.ndarray) -> tuple[Any, Any]:
        """Labels (int32) and the loss, from directly computed dissimilarities."""
        k = medoids.shape[0]
        run = self.caps.compiled(_final_core, ("metric", "rows"))
        labels, total = run(self.data, self.targets(self.place(medoids)), metric=self.metric, rows=self.rows(k))
        return labels, self.xp.astype(total[0], self.data.dtype)

    # -- initialisation ---------------------------------------------------------------

    def initial_medoids(self, init: Any, k: int, random_state: Any) -> np.ndarray:
        if not isinstance(init, str):
            if init.size and (init.min() < 0 or init.max() >= self.n):
                raise ValueError(f"init has medoid indices outside [0, {self.n})")
            return init.copy()
        if init == "build":
            return self.build(k)
        rng = _rng.random_source(random_state)
        if init == "random":
            return _rng.draw_distinct_indices(rng, self.n, k)
        first = _rng.draw_index(rng, self.n)
        uniforms = _rng.draw_uniform(rng, k - 1)
        return self.kmedoids_plusplus(first, uniforms, k)

    def kmedoids_plusplus(self, first: int, uniforms: np.ndarray, k: int) -> np.ndarray:
        """Each next medoid drawn with probability proportional to the dissimilarity to the
        nearest medoid so far: the uniform ``u`` picks the first point whose cumulative
        share reaches it."""
        xp = self.xp
        medoids = [first]
        nearest = self.distances_to(first)
        for u in uniforms:
            total = float(xp.sum(nearest))
            pick = None
            if total > 0:
                cumulative = xp.cumulative_sum(nearest / total)
                pick = min(self._read_int(xp.count_nonzero(cumulative < float(u))), self.n - 1)
                if pick in medoids:  # rounding at the ends of the cumulative sum
                    pick = self._read_int(xp.argmax(nearest))
            if pick is None or pick in medoids:  # every point coincides with a medoid
                pick = next(i for i in range(self.n) if i not in medoids)
            medoids.append(pick)
            nearest = xp.minimum(nearest, self.distances_to(pick))
        return np.asarray(medoids, dtype=np.int64)

    def build(self, k: int) -> np.ndarray:
        """PAM's BUILD: each step adds the point after which the loss is smallest (the
        lowest index on ties); the first step picks the point of least total dissimilarity."""
        xp = self.xp
        everyone = None if self.metric == "precomputed" else self.data
        rows = self.rows(self.n, entries=4)
        kernel = self.caps.compiled(_build_block, ("metric",))
        positions = xp.arange(self.n, dtype=self.index_dtype, device=self.device)
        nearest = xp.full((self.n,), math.inf, dtype=self.wide, device=self.device)
        is_medoid = xp.zeros((self.n,), dtype=xp.bool, device=self.device)
        medoids: list[int] = []
        for _ in range(k):
            if self.sparse:
                totals = self._sparse_build_totals(nearest, kernel)
            else:
                totals = xp.zeros((self.n,), dtype=self.wide, device=self.device)
                for start in range(0, self.n, rows):
                    stop = min(start + rows, self.n)
                    totals = totals + kernel(self.data[start:stop, :], everyone, nearest[start:stop],
                                             metric=self.metric)
            totals = xp.where(is_medoid, math.inf, totals)
            pick = self._read_int(xp.argmin(totals))
            medoids.append(pick)
            is_medoid = is_medoid | (positions == pick)
            nearest = xp.minimum(nearest, self.distances_to(pick))
        return np.asarray(medoids, dtype=np.int64)

    def _sparse_build_totals(self, nearest: Any, kernel: Any) -> Any:
        """BUILD's per-candidate losses for sparse data: the candidates (every point) are
        densified a block at a time and each block is measured against the sparse row
        chunks, so neither side is ever densified whole."""
        xp = self.xp
        block = self.dense_block()
        rows = self.rows(block, entries=4)
        parts = []
        for first in range(0, self.n, block):
            candidates = self.data[first : first + block].to_dense()
            part = xp.zeros((candidates.shape[0],), dtype=self.wide, device=self.device)
            for start in range(0, self.n, rows):
                stop = min(start + rows, self.n)
                part = part + kernel(self.data[start:stop, :], candidates, nearest[start:stop], metric=self.metric)
            parts.append(part)
        return parts[0] if len(parts) == 1 else xp.concat(parts)

    # -- alternate --------------------------------------------------------------------

    def alternate(self, medoids: np.ndarray, max_iter: int) -> tuple[np.ndarray, int]:
        """Voronoi iteration: assign, then each cluster's member of least total dissimilarity
        to the other members becomes its medoid (the lowest index on ties); stop when no
        medoid changes.

        The points are sorted by cluster, so each cluster is a run of consecutive
        positions; the within-cluster sums are computed over fixed-size square tiles of
        that order, only the tiles that meet a cluster on both sides, with dissimilarities
        across clusters masked out.  Work is about the sum of the squared cluster sizes;
        every tile has the same shape (one compilation on JAX).
        """
        xp, n = self.xp, self.n
        k = medoids.shape[0]
        medoids = medoids.copy()
        tile = self._tile()
        tiles = -(-n // tile)
        pad = tiles * tile - n
        kernel = self.caps.compiled(_within_tile, ("metric",))
        # Vector dissimilarities are symmetric: one tile of each mirrored pair serves both.
        symmetric = self.metric != "precomputed"
        positions = xp.arange(tiles * tile, dtype=self.index_dtype, device=self.device)
        slots = xp.arange(k + 1, dtype=xp.int32, device=self.device)
        n_iter = 0
        for n_iter in range(1, max_iter + 1):
            nearest = self.nearest_two(medoids)[0]
            order = xp.argsort(nearest, stable=True)
            labels = xp.take(nearest, order)
            found = xp.searchsorted(labels, slots)
            bounds = [self._read_int(found[j]) for j in range(k + 1)]
            if pad:  # padding rows: label -1, matched with nothing
                order = xp.concat([order, xp.zeros((pad,), dtype=order.dtype, device=self.device)])
                labels = xp.concat([labels, xp.full((pad,), -1, dtype=labels.dtype, device=self.device)])
            # The data in cluster order (sparse rows stay sparse: a permuted copy of the entries).
            sorted_points = (
                None if self.metric == "precomputed" else _as_wide(self.caps.subset_rows(self.data, order), self.metric)
            )
            costs: list[Any] = [None] * tiles

            def add(at: int, part: Any) -> None:
                costs[at] = part if costs[at] is None else costs[at] + part

            for row_tile in range(tiles):
                start = row_tile * tile
                last = min(start + tile, n) - 1
                first_cluster = bisect.bisect_right(bounds, start) - 1
                last_cluster = bisect.bisect_right(bounds, last) - 1
                columns = range(bounds[first_cluster] // tile, -(-bounds[last_cluster + 1] // tile))
                if sorted_points is None:
                    rows = self.caps.take_rows(self.data, order[start : start + tile])
                else:
                    rows = sorted_points[start : start + tile, :]
                if self.sparse:
                    # Densified once per row tile, it is the dense side of each tile pair.
                    rows = rows.to_dense()
                row_labels = labels[start : start + tile]
                for column_tile in columns:
                    if symmetric and column_tile < row_tile:
                        continue  # tile (row_tile, column_tile) came as the transpose of its mirror
                    at = slice(column_tile * tile, (column_tile + 1) * tile)
                    targets = order[at] if sorted_points is None else sorted_points[at, :]
                    if self.sparse:
                        # The sparse column tile measured against the dense row tile: the
                        # transposed tile (vector metrics are symmetric), outputs swapped.
                        to_rows, to_columns = kernel(targets, rows, labels[at], row_labels, metric=self.metric)
                    else:
                        to_columns, to_rows = kernel(rows, targets, row_labels, labels[at], metric=self.metric)
                    add(column_tile, to_columns)
                    if symmetric and column_tile != row_tile:
                        add(row_tile, to_rows)
            untouched = xp.full((tile,), math.inf, dtype=self.wide, device=self.device)
            costs = xp.concat([untouched if c is None else c for c in costs])
            updated = medoids.copy()
            for j in range(k):
                if bounds[j + 1] == bounds[j]:
                    warnings.warn(
                        f"Cluster {j} is empty (its medoid coincides with another medoid); "
                        "its medoid is kept", UserWarning, stacklevel=3,
                    )
                    continue
                in_cluster = (positions >= bounds[j]) & (positions < bounds[j + 1])
                best = xp.argmin(xp.where(in_cluster, costs, math.inf))
                updated[j] = self._read_int(order[best])
            if np.array_equal(updated, medoids):
                break
            medoids = updated
        return medoids, n_iter

    def _tile(self) -> int:
        """Side of the square tiles of the alternating update: the largest power of two up
        to 512 whose (tile, tile) block fits the budget (and the backend's block size)."""
        tile = 512
        # Sparse data densifies one tile of rows at a time: that copy must fit too.
        dense = dense_rows_within_budget(self.width, self.itemsize) if self.sparse else tile
        while tile > 1 and (self._rows(tile, entries=5) < tile or dense < tile):
            tile //= 2
        return tile

    # -- FasterPAM --------------------------------------------------------------------

    def fasterpam(self, medoids: np.ndarray, max_iter: int) -> tuple[np.ndarray, int]:
        """FasterPAM: visit the candidates cyclically; for each, the loss change of swapping
        it with every medoid comes from one pass over the points and their cached nearest
        medoid (slot, distance) and second-nearest distance; the best swap is made at once
        if it improves the loss.  Stop after n - 1 candidates in a row bring no improvement.

        Candidates are evaluated in blocks against the same state; the first improving
        candidate of a block (in visiting order) is exactly the one the one-at-a-time
        algorithm would swap, and the search resumes right after it, so the block size
        changes the speed, never the answer.  Blocks adapt (powers of two): they double
        while no swap is found (fewer, larger products) and shrink to about twice the
        distance to the last swap after one (less work thrown away while swaps are
        frequent).
        """
        xp, n = self.xp, self.n
        k = medoids.shape[0]
        medoids = medoids.copy()
        # The candidates' rows are copied (densified, for sparse data) as one block: within
        # a quarter of the budget.
        fits = self.n if self.metric == "precomputed" else dense_rows_within_budget(self.width, self.itemsize)
        largest = min(_SWAP_BLOCK_MAX, _pow2_at_least(n), _pow2_at_most(fits))
        block = min(_SWAP_BLOCK_MIN, largest)
        # Within a quarter of the budget each, two O(n) caches save per-block work: dense
        # Euclidean points expanded once about a fixed origin (the norms ride the distance
        # product), and the (n, k) one-hot of nearest medoids, remade after each swap.
        quarter = memory_budget_bytes() // 4
        wide_bytes = self.xp.finfo(self.wide).bits // 8
        points = None
        if (not self.sparse and self.metric in ("euclidean", "sqeuclidean")
                and n * (self.width + 2) * wide_bytes <= quarter):
            wide_data = _as_wide(self.data, self.metric)
            origin = self.caps.take_rows(wide_data, self.place(medoids[:1]))
            points = expanded_points(wide_data, origin)
        cache_one_hot = n * k * wide_bytes <= quarter
        kernel = self.caps.compiled(_swap_sums_block, ("metric", "k", "expanded", "given_one_hot"))
        decide = self.caps.compiled(_first_improving_swap)
        one_hot_of = self.caps.compiled(_one_hot, ("k",))

        # Where the backend runs row blocks on several CPU threads (BLAS held to one thread,
        # which also spares many small BLAS calls the cost of waking its own threads), the
        # expanded points, both distances and the one-hot travel as one (n, d + 4 + k) array
        # remade after each swap, so each block is one slice of it.
        parallel = self.caps.parallel_map_row_chunks
        packed = (parallel is not None and points is not None and cache_one_hot
                  and n * (self.width + 4 + k) * wide_bytes <= quarter)

        def state() -> tuple[Any, Any, Any, Any]:
            nearest, dn, ds, loss = self.swap_state(medoids)
            membership = one_hot_of(nearest, dn, k=k) if cache_one_hot else nearest
            if packed:
                membership = xp.concat([points, dn[:, None], ds[:, None], membership], axis=1)
            return membership, dn, ds, loss

        membership, dn, ds, loss = state()
        position, remaining, examined, limit = 0, n, 0, max_iter * n
        while remaining > 0 and examined < limit:
            count = min(block, remaining, limit - examined)
            candidates = (position + np.arange(block)) % n
            usable = (np.arange(block) < count) & ~np.isin(candidates, medoids)
            found = None
            if usable.any():
                if points is None:
                    targets = self.targets(self.place(candidates))
                else:
                    targets = expanded_targets(self.caps.take_rows(points, self.place(candidates)))
                rows = self.rows(block, entries=_SWAP_ENTRIES)
                stay = move = None
                if packed:
                    _, (stay, move) = parallel(
                        membership, rows, functools.partial(_packed_swap_sums, metric=self.metric, k=k), targets
                    )
                for start in range(0, n, rows) if stay is None else ():
                    stop = min(start + rows, n)
                    part_stay, part_move = kernel(
                        (self.data if points is None else points)[start:stop, :], targets, membership[start:stop, ...],
                        dn[start:stop], ds[start:stop],
                        metric=self.metric, k=k, expanded=points is not None, given_one_hot=cache_one_hot,
                    )
                    stay, move = (part_stay, part_move) if stay is None else (stay + part_stay, move + part_move)
                usable_here = self.caps.to_device(usable, self.data, xp.bool)
                any_found, first, slot = decide(stay, move, usable_here, loss, -self.swap_rtol * float(loss))
                if self.caps.read_bool(any_found):
                    found = self._read_int(first)
            if found is None:
                position = (position + count) % n
                remaining -= count
                examined += count
                block = min(2 * block, largest)
                continue
            medoids[self._read_int(slot)] = candidates[found]
            membership, dn, ds, loss = state()
            examined += found + 1
            position = (position + found + 1) % n
            remaining = n - 1
            block = min(max(_SWAP_BLOCK_MIN, _pow2_at_least(2 * (found + 1))), largest)
        return medoids, -(-examined // n)

    def swap_state(self, medoids: np.ndarray) -> tuple[Any, Any, Any, Any]:
        """What the swap evaluation caches per point: the nearest medoid's slot, the distance
        to it and to the second nearest (infinity with one medoid: its points can only go to
        the candidate), and the loss (a 0-d array on the device)."""
        k = medoids.shape[0]
        run = self.caps.compiled(_nearest_two_core, ("metric", "rows", "k"))
        nearest, dn, ds, _, loss = run(
            self.data, self.targets(self.place(medoids)), metric=self.metric, rows=self.rows(k), k=k
        )
        if k == 1:
            ds = self.xp.full_like(dn, math.inf)
        return nearest, dn, ds, loss[0]


# -- compiled kernels (module level, so a compiler caches them) ---------------------------


def _wide_of(xp: Any, a: Any) -> Any:
    return widest_float(xp, array_api_compat.device(a))


def _distances_to_core(data: Any, targets: Any, *, metric: str, rows: int) -> tuple[Any]:
    caps = capabilities_for(array_api_compat.array_namespace(data))
    per_row, _ = caps.map_row_chunks(data, rows, functools.partial(_distances_to_block, metric=metric), targets)
    return per_row


def _distances_to_block(block: Any, target: Any, *, metric: str) -> tuple[tuple[Any], tuple[()]]:
    bxp = array_api_compat.array_namespace(block)
    dist = block_distances(_as_wide(block, metric), _as_wide(target, metric), metric)
    return (bxp.astype(dist[:, 0], _wide_of(bxp, block)),), ()


def _as_wide(a: Any, metric: str) -> Any:
    """Euclidean expansions are computed in the widest float: a float32 expansion loses
    too many digits for swap decisions that compare sums of n distances."""
    if metric not in ("euclidean", "sqeuclidean"):
        return a
    xp = array_api_compat.array_namespace(a)
    wide = _wide_of(xp, a)
    return a if a.dtype == wide else xp.astype(a, wide)


def _nearest_two_core(data: Any, targets: Any, *, metric: str, rows: int, k: int):
    caps = capabilities_for(array_api_compat.array_namespace(data))
    (nearest, dn, ds), (removal, loss) = caps.map_row_chunks(
        data, rows, functools.partial(_nearest_two_block, metric=metric, k=k), targets
    )
    return nearest, dn, ds, removal, loss


def _nearest_two_block(block: Any, targets: Any, *, metric: str, k: int):
    bxp = array_api_compat.array_namespace(block)
    bcaps = capabilities_for(bxp)
    wide = _wide_of(bxp, block)
    dist = bxp.astype(block_distances(_as_wide(block, metric), _as_wide(targets, metric), metric), wide, copy=False)
    nearest = bcaps.nearest_index(dist)
    slots = bxp.arange(k, dtype=nearest.dtype, device=array_api_compat.device(block))
    is_nearest = nearest[:, None] == slots[None, :]
    dn = bxp.min(dist, axis=1)
    # With one medoid there is no second one: removal gains are unused, keep them 0.
    ds = dn if k == 1 else bxp.min(bxp.where(is_nearest, math.inf, dist), axis=1)
    removal = bxp.sum(bxp.astype(is_nearest, wide) * (ds - dn)[:, None], axis=0)
    return (nearest, dn, ds), (removal, bxp.reshape(bxp.sum(dn), (1,)))


def _swap_sums_block(rows: Any, targets: Any, membership: Any, dn: Any, ds: Any, *, metric: str, k: int,
                     expanded: bool, given_one_hot: bool):
    """One row chunk's share of the two (candidates, medoids) sums that give every swap's
    loss (FastPAM1's decomposition, regrouped so each entry costs two minima).

    With d = d(o, c) for point o and candidate c, a swap of c for medoid i leaves a point
    whose nearest medoid is not i at ``min(d, dn_o)`` and moves one of i's points to
    ``min(d, ds_o)``.  So with ``stay[c, i]`` = the sum of ``min(d, dn_o)`` over i's points
    and ``move[c, i]`` = the sum of ``min(d, ds_o)`` over them, the loss after the swap is
    ``sum_j stay[c, j] - stay[c, i] + move[c, i]``.  Both are per-medoid segment sums:
    (B, rows) @ (rows, k) products with the one-hot of nearest medoids, the product BLAS
    does fast (the transposed (k, rows) @ (rows, B) was 10x slower with OpenBLAS).

    ``expanded``: rows and targets come from :func:`expanded_points` and
    :func:`expanded_targets`.  ``membership`` is the one-hot (``given_one_hot``) or the
    nearest medoid's slot per row.
    """
    xp = array_api_compat.array_namespace(rows)
    if expanded:
        dist = expanded_distances(rows, targets, metric)
    else:
        dist = many_target_distances(_as_wide(rows, metric), _as_wide(targets, metric), metric)
    dist = xp.astype(dist, dn.dtype, copy=False)
    one_hot = membership if given_one_hot else _one_hot(membership, dn, k=k)
    stay = xp.matmul(xp.matrix_transpose(xp.minimum(dist, dn[:, None])), one_hot)
    move = xp.matmul(xp.matrix_transpose(xp.minimum(dist, ds[:, None])), one_hot)
    return stay, move


def _packed_swap_sums(block: Any, targets: Any, *, metric: str, k: int) -> tuple[tuple[()], tuple[Any, Any]]:
    """:func:`_swap_sums_block` on rows packed as ``[expanded points, dn, ds, one-hot]``."""
    d = block.shape[1] - 4 - k
    sums = _swap_sums_block(block[:, : d + 2], targets, block[:, d + 4 :], block[:, d + 2], block[:, d + 3],
                            metric=metric, k=k, expanded=True, given_one_hot=True)
    return (), sums


def _one_hot(nearest: Any, like: Any, *, k: int) -> Any:
    """(n, k) indicator of each row's nearest medoid slot, in ``like``'s dtype."""
    xp = array_api_compat.array_namespace(nearest)
    slots = xp.arange(k, dtype=nearest.dtype, device=array_api_compat.device(nearest))
    return xp.astype(nearest[:, None] == slots[None, :], like.dtype)


def _first_improving_swap(stay: Any, move: Any, usable: Any, loss: Any, threshold: Any):
    """Whether some usable candidate's best swap changes the loss by less than
    ``threshold`` (< 0), the first such candidate, and the medoid slot it replaces."""
    xp = array_api_compat.array_namespace(stay)
    change = (xp.sum(stay, axis=1)[:, None] - loss) + (move - stay)
    improving = usable & (xp.min(change, axis=1) < threshold)
    first = xp.argmax(xp.astype(improving, xp.int8))
    slot = xp.argmin(xp.take(change, xp.reshape(first, (1,)), axis=0)[0, :])
    return xp.any(improving), first, slot


def _within_tile(rows: Any, targets: Any, row_labels: Any, column_labels: Any, *, metric: str) -> Any:
    """A tile of the cluster-sorted points: per column, the sum of its dissimilarities from
    the tile's rows of the same cluster (as their medoid), and per row the same for the
    transposed tile, which is the mirrored tile's answer for symmetric dissimilarities.
    Padding has label -1."""
    xp = array_api_compat.array_namespace(rows)
    wide = _wide_of(xp, rows)
    dist = xp.astype(block_distances(_as_wide(rows, metric), _as_wide(targets, metric), metric), wide, copy=False)
    same = (row_labels[:, None] == column_labels[None, :]) & (row_labels[:, None] >= 0)
    masked = xp.where(same, dist, 0.0)
    return xp.sum(masked, axis=0), xp.sum(masked, axis=1)


def _build_block(rows: Any, everyone: Any, nearest: Any, *, metric: str) -> Any:
    """Per candidate (every point), this row chunk's loss if the candidate were added."""
    xp = array_api_compat.array_namespace(rows)
    if metric == "precomputed":
        dist = rows
    else:
        dist = block_distances(_as_wide(rows, metric), _as_wide(everyone, metric), metric)
    dist = xp.astype(dist, nearest.dtype, copy=False)
    return xp.sum(xp.minimum(dist, nearest[:, None]), axis=0)


def _final_core(data: Any, targets: Any, *, metric: str, rows: int):
    caps = capabilities_for(array_api_compat.array_namespace(data))
    (labels,), (total,) = caps.map_row_chunks(
        data, rows, functools.partial(_final_block, metric=metric), targets
    )
    return labels, total


def _final_block(block: Any, targets: Any, *, metric: str):
    bxp = array_api_compat.array_namespace(block)
    labels = capabilities_for(bxp).nearest_index(
        block_distances(_as_wide(block, metric), _as_wide(targets, metric), metric)
    )
    exact = bxp.astype(distances_to_labels(block, targets, labels, metric), _wide_of(bxp, block))
    return (labels,), (bxp.reshape(bxp.sum(exact), (1,)),)


def _predict_core(X: Any, targets: Any, *, metric: str, rows: int) -> tuple[Any]:
    caps = capabilities_for(array_api_compat.array_namespace(X))
    per_row, _ = caps.map_row_chunks(X, rows, functools.partial(_label_block, metric=metric), targets)
    return per_row


def _label_block(block: Any, targets: Any, *, metric: str) -> tuple[tuple[Any], tuple[()]]:
    bxp = array_api_compat.array_namespace(block)
    return (capabilities_for(bxp).nearest_index(block_distances(block, targets, metric)),), ()


def _transform_core(X: Any, targets: Any, *, metric: str, rows: int) -> tuple[Any]:
    caps = capabilities_for(array_api_compat.array_namespace(X))
    per_row, _ = caps.map_row_chunks(X, rows, functools.partial(_distance_block, metric=metric), targets)
    return per_row


def _distance_block(block: Any, targets: Any, *, metric: str) -> tuple[tuple[Any], tuple[()]]:
    return (block_distances(block, targets, metric),), ()
