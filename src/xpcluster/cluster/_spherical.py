"""SphericalKMeans: k-means on the unit sphere with cosine similarity (Dhillon & Modha 2001).

Rows are normalised to unit length, each row joins the centroid of largest cosine, and
each centroid is its members' (weighted) sum normalised to unit length: the "concept
vectors" of Dhillon and Modha, "Concept decompositions for large sparse text data using
clustering", Machine Learning 42 (2001).  For unit rows and unit centroids
``|u - c|^2 = 2 - 2 cos(u, c)``, so the largest cosine is the nearest centroid and the
Lloyd loop reuses the engine's assignment (:func:`xpcluster._core.assign.assign_labels`,
dense and sparse alike), its fused segment sums and KMeans' seeding and empty-cluster
relocation; only the update (normalise the sums) and the objective differ.
"""
from __future__ import annotations

import math
import warnings
from typing import Any

import array_api_compat
import numpy as np

from .. import _rng
from .._backends import capabilities_for
from .._backends.sparse import is_sparse
from .._checks import Checks
from .._core.assign import assign_labels, prepare_rows, rows_per_chunk, sparse_rows_per_chunk
from .._core.chunks import memory_budget, memory_budget_bytes
from .._core.dtypes import widest_float
from .._core.update import update_centroids
from ._base import (
    check_bool,
    check_sample_weight,
    fitted_input,
    refuse_non_finite,
    refuse_traced,
    validate_data,
)
from ._kmeans import (
    ConvergenceWarning,
    _as_centers,
    _KMeansMixin,
    _materialise,
    _read_number,
    draw_seeding,
    initial_centers,
    relocate_empty_clusters,
)

__all__ = ["SphericalKMeans"]

#: Keyword arguments of the compiled cores that are compile-time constants.
FIT_STATIC = ("init", "k", "max_iter", "tol", "xp", "caps", "budget")
COSINE_STATIC = ("what", "xp", "caps", "budget")


# ---------------------------------------------------------------------------------------
# Rows on the unit sphere
# ---------------------------------------------------------------------------------------


def unit_dense_rows(a: Any, *, xp: Any) -> tuple[Any, Any]:
    """``(rows / their norms, zero)`` for a dense (m, d) ``a``; ``zero`` (m,) marks the
    all-zero rows, which stay zero.

    Each row is first divided by its largest magnitude, so that its squares neither
    overflow (float32 data near 1e30) nor underflow (near 1e-30): the norm of the divided
    row lies in [1, sqrt(d)].  Standard operations only, row by row: lazy- and jit-safe,
    and a block of rows gives the same bits as the whole array.
    """
    largest = xp.max(xp.abs(a), axis=1)
    zero = largest == 0
    one = xp.ones_like(largest)
    divided = a / xp.where(zero, one, largest)[:, None]
    norms = xp.sqrt(xp.sum(divided * divided, axis=1))
    return divided / xp.where(zero, one, norms)[:, None], zero


def unit_sparse_rows(x: Any, *, xp: Any, caps: Any) -> tuple[Any, Any]:
    """``(unit rows, zero)`` for sparse rows ``x`` (stored pattern kept, ``x`` untouched).

    The norms come from the rows' squared norms in the device's widest float (float64:
    every float32 value squares to a normal float64).  A row whose squared norm
    overflows (entries beyond ~1e154 in float64) or falls below the smallest normal
    number (entries all below ~1e-154) is first multiplied by a power of two,
    ``2**-(0.6 * max exponent)`` or ``2**(0.6 * -min exponent)``, which is exact and
    brings its squared norm into range: each row is scaled on its own, so rows of any
    magnitudes side by side keep their full precision.  Rows with no non-zero entry are
    the zero rows.
    """
    wide_dtype = widest_float(xp, x.device)
    info = xp.finfo(wide_dtype)
    down = 2.0 ** -round(0.6 * math.log2(float(info.max)))
    up = 2.0 ** round(-0.6 * math.log2(float(info.smallest_normal)))
    with np.errstate(over="ignore", under="ignore"):  # out-of-range squares are rescaled below
        wide = x.astype(wide_dtype)
        sq = wide.sq_norms
        big, tiny = sq > float(info.max), sq < float(info.smallest_normal)
        if caps.read_bool(xp.any(big | tiny)):
            ones = xp.ones_like(sq)
            wide = wide.rows_scaled(xp.where(big, down * ones, xp.where(tiny, up * ones, ones)))
            sq = wide.sq_norms
    zero = sq == 0
    factors = 1.0 / xp.sqrt(xp.where(zero, xp.ones_like(sq), sq))
    return wide.rows_scaled(xp.where(zero, xp.zeros_like(sq), factors)).astype(x.dtype), zero


def unit_rows(x: Any, *, xp: Any, caps: Any) -> tuple[Any, Any]:
    """:func:`unit_sparse_rows` or :func:`unit_dense_rows`, as ``x`` is."""
    if is_sparse(x):
        return unit_sparse_rows(x, xp=xp, caps=caps)
    return unit_dense_rows(x, xp=xp)


# ---------------------------------------------------------------------------------------
# Numeric cores (standard-only; compiled with caps.compiled)
# ---------------------------------------------------------------------------------------


def spherical_fit_core(u: Any, weights: Any, draws: tuple[Any, ...], *, init: str, k: int, max_iter: int, tol: float,
                       xp: Any, caps: Any, budget: int) -> tuple[Any, Any, Any]:
    """One run on unit rows ``u`` (none of them zero): seeding, the spherical Lloyd loop.

    Returns ``(centers, n_iter, n_distinct)``: the unit centroids, the iterations run and
    the number of clusters with members (weight) in the final assignment.
    """
    with memory_budget(budget):
        centers, _ = unit_dense_rows(initial_centers(u, weights, draws, init=init, k=k, xp=xp, caps=caps), xp=xp)
        centers, n_iter = spherical_lloyd(u, weights, centers, tol, max_iter=max_iter, xp=xp, caps=caps)
        final = assign_labels(u, centers, xp=xp, caps=caps, with_sums=True, weights=weights)
        return centers, n_iter, xp.count_nonzero(final.counts > 0)


def spherical_lloyd(u: Any, weights: Any, centers: Any, tol: float, *, max_iter: int, xp: Any,
                    caps: Any) -> tuple[Any, Any]:
    """Iterations until the labels repeat, the centroids move by at most ``tol`` (squared
    shift summed over centroids), or ``max_iter``.  Returns ``(centers, n_iter)``.

    Each iteration assigns every row to its nearest unit centroid (= largest cosine),
    relocates empty clusters as KMeans does (:func:`relocate_empty_clusters`: the rows
    farthest from their centroid) and sets each centroid to its members' (weighted) mean
    normalised to unit length.  A centroid whose members sum to the zero vector (say two
    opposite rows) has no direction and keeps its previous value, as an empty cluster
    that nothing could be moved into does.
    """
    device = array_api_compat.device(u)
    prepared = prepare_rows(u, centers[0:1, :], xp=xp) if weights is None else None

    def keep_going(state: tuple[Any, ...]) -> Any:
        return (state[2] < max_iter) & ~state[3]

    def step(state: tuple[Any, ...]) -> tuple[Any, ...]:
        centers, previous_labels, i, _ = state
        result = assign_labels(u, centers, xp=xp, caps=caps, with_sums=True, weights=weights, prepared=prepared)
        mass = xp.astype(result.counts, result.sums.dtype)
        sums, mass, labels = relocate_empty_clusters(u, weights, centers, result.labels, result.sums, mass,
                                                     xp=xp, caps=caps)
        means, _ = update_centroids(sums, mass, centers, xp=xp)  # empty: the previous centroid
        unit, no_direction = unit_dense_rows(means, xp=xp)
        new_centers = xp.where(no_direction[:, None], centers, unit)
        shift = xp.sum((new_centers - centers) ** 2)
        return new_centers, labels, i + 1, xp.all(labels == previous_labels) | (shift <= tol)

    no_labels = xp.zeros_like(u[:, 0], dtype=xp.int32) - 1
    start = xp.zeros((), dtype=xp.int32, device=device)
    not_yet = xp.zeros((), dtype=xp.bool, device=device)
    centers, _, n_iter, _ = caps.while_loop(keep_going, step, (centers, no_labels, start, not_yet))
    return centers, n_iter


def cosine_core(x: Any, centers: Any, *, what: str, xp: Any, caps: Any, budget: int) -> Any:
    """Cosine distances ``1 - cos`` of the rows of ``x`` to unit ``centers``, over row blocks.

    ``x`` is dense data of any scale (each block is normalised here, as
    :func:`unit_dense_rows` normalises it) or sparse unit rows (from
    :func:`unit_sparse_rows`).  ``what='distances'``: the (n, k) distances, clipped to
    [0, 2].  ``what='labels'``: ``(labels, distance)``, the index of the largest cosine
    (the lowest index on ties: an all-zero row, cosine 0 to every centroid, gets 0) and
    its distance.
    """
    with memory_budget(budget):
        k, d = centers.shape
        centers_t = xp.asarray(xp.matrix_transpose(centers), copy=True)  # (d, k), laid out for the products
        if is_sparse(x):
            rows = sparse_rows_per_chunk(x, k, caps)
        else:
            rows = rows_per_chunk(k, d, xp.finfo(x.dtype).bits // 8, caps.block_bytes, caps.concurrent_blocks())
        map_rows = caps.parallel_map_row_chunks or caps.map_row_chunks
        per_row, _ = map_rows(x, rows, _cosine_block, centers_t, what)
        return per_row[0] if what == "distances" else per_row


def _cosine_block(block: Any, centers_t: Any, what: str) -> tuple[tuple[Any, ...], tuple[()]]:
    bxp = array_api_compat.array_namespace(block)
    if is_sparse(block):
        cosines = block.product(centers_t)
    else:
        unit, _ = unit_dense_rows(block, xp=bxp)
        cosines = bxp.matmul(unit, centers_t)
    distances = bxp.clip(1 - cosines, min=0.0, max=2.0)
    if what == "distances":
        return (distances,), ()
    labels = capabilities_for(bxp).nearest_index(-cosines)
    # The chosen centroid's distance: 1 - cos is monotone, so it is the smallest one.
    return (labels, bxp.min(distances, axis=1)), ()


def objective(own: Any, weights: Any, *, xp: Any) -> Any:
    """0-d: ``sum(w_i * (1 - cos_i))`` of the rows' distances to their centroid, summed in
    the device's widest float."""
    wide = widest_float(xp, array_api_compat.device(own))
    own = xp.astype(own, wide)
    return xp.sum(own) if weights is None else xp.sum(own * xp.astype(weights, wide))


# ---------------------------------------------------------------------------------------
# The estimator
# ---------------------------------------------------------------------------------------


class SphericalKMeans(_KMeansMixin):
    """Spherical k-means: clusters of directions, by cosine similarity (Dhillon & Modha 2001).

    Every row is scaled to unit Euclidean length (a copy: the input is never modified), each
    row is assigned to the centroid with the largest cosine similarity, and each centroid
    is the normalised (weighted) sum of its members -- a unit vector, the "concept vector"
    of its cluster.  The length of a row does not matter, only its direction: the usual
    choice for TF-IDF document vectors.  Dense and ``scipy.sparse`` input (never densified);
    dense data in any Array API library, on its device, in its compute dtype, as
    :class:`KMeans`.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of clusters (centroids).
    init : {'k-means++', 'random', 'k-means||'}, callable or array of shape (n_clusters, n_features), default='k-means++'
        Seeding, as :class:`KMeans` does it, on the unit rows: 'k-means++' (greedy
        k-means++; for unit vectors the squared distance is ``2 - 2 cos``, so this is
        cosine-based seeding), 'random' (distinct rows), 'k-means||'.  An array: the
        initial centroids (normalised; an all-zero row is refused).  A callable:
        ``init(U, n_clusters, random_state=random_state)`` given the unit non-zero rows
        ``U`` (a SciPy CSR matrix for sparse input), returning the centroids.
    n_init : 'auto' or int, default='auto'
        Number of runs from different seeds; the run with the lowest ``inertia_`` is
        kept.  'auto': 1 for 'k-means++', 'k-means||' and an array, 10 for 'random' and a
        callable.
    max_iter : int, default=300
        Maximum number of iterations of one run.
    tol : float, default=1e-4
        A run stops when the squared shift of the unit centroids, summed over centroids,
        is at most ``tol`` (an absolute bound: unit vectors have no scale to be relative
        to, unlike KMeans' ``tol``), or when the labels repeat, or after ``max_iter``.
    verbose : int, default=0
        When positive, print each run's iterations and objective.
    random_state : None, int, numpy.random.RandomState or numpy.random.Generator, default=None
        Source of the host random draws (seeding), as :class:`KMeans`.
    copy_x : bool, default=True
        Kept for compatibility (it must be a bool): ``X`` is never modified.

    Attributes
    ----------
    cluster_centers_ : array of shape (n_clusters, n_features)
        The unit-norm centroids, in ``X``'s namespace, device and compute dtype (a NumPy
        array for sparse input).
    labels_ : array of int32, shape (n_samples,)
        Index of each training row's centroid of largest cosine (as :meth:`predict`).
    inertia_ : float
        The cosine-distance objective: ``sum_i w_i * (1 - cos(x_i, c_{label_i}))``, in
        [0, 2 * total weight]; zero rows count ``w_i`` each (cosine 0).
    n_iter_ : int
        Iterations of the kept run.
    n_features_in_ : int
        Number of features seen during ``fit``.
    n_zero_rows_ : int
        Number of all-zero training rows (see Notes).
    feature_names_in_ : ndarray of str
        Column names of ``X``, when it is a data frame with string column names.

    Notes
    -----
    *All-zero rows* (in TF-IDF data: documents made only of stop words) have no direction.
    Their cosine with every centroid is taken as 0, so they get label 0 (the lowest index,
    the tie rule), a transform of 1 to every centroid and count 1 (times their weight) in
    ``inertia_``; they take no part in seeding and contribute nothing to any centroid.
    ``fit`` warns once (``UserWarning``) with their number; data whose rows are all zero,
    or has fewer non-zero rows than ``n_clusters``, is refused (``ValueError``).

    *Empty clusters* are handled as in :class:`KMeans`: each receives the row farthest
    from its centroid (the smallest cosine); clusters that stay empty keep their previous
    centroid and a :class:`ConvergenceWarning` says how many distinct clusters there are.

    *Ties.* :meth:`predict` and ``labels_`` take the largest cosine, the lowest index on
    exact ties.  The iterations assign by Euclidean distance between unit vectors (the
    same order up to rounding).

    *Scale.* Rows are normalised after dividing by their largest magnitude (dense) or
    with norms in float64 (sparse), so data of any magnitude the dtype holds is handled;
    the unit rows need no range scaling.

    *Backends.* As :class:`KMeans`: on JAX each run is one compiled program and
    ``predict``/``transform`` also work inside ``jax.jit``; on Dask ``fit`` computes one
    flag per iteration and ``predict``/``transform`` stay lazy.  Sparse input gives
    results in its dense library (NumPy for SciPy's sparse matrices).

    References
    ----------
    I. S. Dhillon and D. S. Modha, "Concept decompositions for large sparse text data
    using clustering", Machine Learning 42(1), 143-175 (2001).

    Examples
    --------
    >>> import numpy as np
    >>> from xpcluster.cluster import SphericalKMeans
    >>> X = np.array([[1.0, 0.1], [5.0, 0.2], [0.3, 1.0], [0.1, 7.0]])
    >>> skm = SphericalKMeans(n_clusters=2, random_state=0).fit(X)
    >>> skm.labels_
    array([1, 1, 0, 0], dtype=int32)
    >>> np.round(skm.cluster_centers_, 3)
    array([[0.152, 0.988],
           [0.998, 0.07 ]])
    >>> skm.predict(np.array([[100.0, 1.0], [0.0, 0.5]]))
    array([1, 0], dtype=int32)
    >>> round(skm.inertia_, 4)
    0.0201
    """

    def __init__(self, n_clusters: int = 8, *, init: Any = "k-means++", n_init: Any = "auto", max_iter: int = 300,
                 tol: float = 1e-4, verbose: int = 0, random_state: Any = None, copy_x: bool = True) -> None:
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.verbose = verbose
        self.random_state = random_state
        self.copy_x = copy_x

    def _check_params(self) -> None:
        self._check_common_params()
        check_bool(self, "copy_x", self.copy_x)

    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> "SphericalKMeans":
        """Compute spherical k-means clustering.

        Parameters
        ----------
        X : array of shape (n_samples, n_features) or scipy.sparse matrix
            Training data, in any Array API library (or anything NumPy converts), or a
            SciPy sparse matrix or array of any format.
        y : None
            Ignored.
        sample_weight : array of shape (n_samples,) or float, optional
            Weight of each sample, in the sums that make the centroids, in ``inertia_``
            and in the seeding (except 'k-means||', an array and a callable).

        Returns
        -------
        self : SphericalKMeans
            The fitted estimator.
        """
        self._check_params()
        xp, _, X = validate_data(self, X, reset=True)
        caps = capabilities_for(xp)
        refuse_traced(self, X, caps)
        checks = Checks(caps, now=True)
        x = caps.persist(caps.known_rows(X))
        n = x.shape[0]
        k = int(self.n_clusters)
        if n < k:
            raise ValueError(f"n_samples={n} should be >= n_clusters={k}.")
        refuse_non_finite(x, xp=xp, caps=caps)
        weights = check_sample_weight(sample_weight, x, xp=xp, caps=caps, checks=checks)
        weights = None if weights is None else caps.persist(weights)
        u, zero = unit_rows(x, xp=xp, caps=caps)
        u = caps.persist(u)
        n_zero = int(_read_number(xp.count_nonzero(zero)))
        rows, row_weights = self._nonzero_rows(u, weights, zero, n_zero, k, xp=xp, caps=caps)
        n_init = self._resolved_n_init(default=10)
        rng = _rng.random_source(self.random_state)
        given = None
        if not isinstance(self.init, str) and not callable(self.init):
            given = _directions(_as_centers(self.init, rows, k, xp=xp, caps=caps, what="init", checks=checks),
                                "init", xp=xp, caps=caps)
        run = caps.compiled(spherical_fit_core, FIT_STATIC)
        final = caps.compiled(cosine_core, COSINE_STATIC)
        # The final labels: of the data as predict sees it (dense rows are normalised block
        # by block inside the core, exactly as predict normalises them).
        final_rows = u if is_sparse(u) else x
        budget = memory_budget_bytes()
        best = None
        for i in range(n_init):
            if given is not None:
                init, draws = "array", (given,)
            else:
                init, draws = draw_seeding(self.init, rows, row_weights, k, rng, xp=xp, caps=caps, checks=checks)
                if init == "array":  # a callable's centroids
                    draws = (_directions(draws[0], "The centres returned by init", xp=xp, caps=caps),)
            centers, n_iter, n_distinct = _materialise(
                run(rows, row_weights, draws, init=init, k=k, max_iter=int(self.max_iter), tol=float(self.tol),
                    xp=xp, caps=caps, budget=budget), caps, xp)
            labels, own = final(final_rows, centers, what="labels", xp=xp, caps=caps, budget=budget)
            labels, total = _materialise((labels, objective(own, weights, xp=xp)), caps, xp)
            inertia = _read_number(total)
            if self.verbose:
                print(f"Run {i}: {int(_read_number(n_iter))} iterations, inertia {inertia}.")
            if best is None or inertia < best[3]:
                best = (centers, labels, n_iter, inertia, n_distinct)
        assert best is not None
        centers, labels, n_iter, inertia, n_distinct = best
        distinct = int(_read_number(n_distinct))
        if distinct < k:
            warnings.warn(
                f"Number of distinct clusters ({distinct}) found smaller than n_clusters ({k}). "
                "Possibly due to rows of the same direction in X.",
                ConvergenceWarning,
                stacklevel=2,
            )
        self.cluster_centers_ = centers
        self.labels_ = labels
        self.inertia_ = inertia
        self.n_iter_ = int(_read_number(n_iter))
        self.n_zero_rows_ = n_zero
        return self

    def _nonzero_rows(self, u: Any, weights: Any, zero: Any, n_zero: int, k: int, *, xp: Any,
                      caps: Any) -> tuple[Any, Any]:
        """The unit rows (and weights) the runs fit: the non-zero ones (see the Notes)."""
        n = u.shape[0]
        if n_zero == 0:
            return u, weights
        if n_zero == n:
            raise ValueError(f"All {n} rows of X are zero: {type(self).__name__} needs rows with a direction "
                             "(a non-zero entry).")
        if n - n_zero < k:
            raise ValueError(f"X has {n - n_zero} non-zero rows ({n_zero} of its {n} rows are all zero), "
                             f"fewer than n_clusters={k}.")
        warnings.warn(
            f"X has {n_zero} all-zero row(s) out of {n}: they have no direction, so they get label 0, "
            "contribute nothing to the centroids and count 1 each (times their weight) in inertia_.",
            UserWarning,
            stacklevel=3,
        )
        keep = ~zero
        if is_sparse(u):
            rows = caps.subset_rows(u, xp.nonzero(keep)[0])
        else:
            rows = caps.persist(caps.known_rows(u[keep]))
        if weights is not None:
            weights = caps.persist(caps.known_rows(weights[keep]))
        return rows, weights

    def predict(self, X: Any) -> Any:
        """Index of the centroid of largest cosine similarity for each sample.

        Parameters
        ----------
        X : array of shape (n_samples, n_features) or scipy.sparse matrix
            New data, in the namespace and on the device of the fitted centroids.

        Returns
        -------
        labels : array of int32, shape (n_samples,)
            In ``X``'s namespace and on its device; lazy for Dask input.  Ties go to the
            lowest index: an all-zero row gets 0.  NaN or infinity in ``X`` raise
            ``ValueError`` (when computed, on Dask; when the program runs, under
            ``jax.jit``).
        """
        (labels, _), _ = self._cosines(X, "labels")
        return labels

    def transform(self, X: Any) -> Any:
        """Cosine distances ``1 - cos(x, c)`` of each sample to every centroid.

        Parameters
        ----------
        X : array of shape (n_samples, n_features) or scipy.sparse matrix
            New data, in the namespace and on the device of the fitted centroids.

        Returns
        -------
        distances : array of shape (n_samples, n_clusters)
            In [0, 2] (rounding clipped), in ``X``'s namespace and device, in the wider of
            ``X``'s compute dtype and the centroids'; lazy for Dask input.  An all-zero
            row is at distance 1 from every centroid.  For unit rows this is half the
            squared Euclidean distance to the centroids.
        """
        distances, _ = self._cosines(X, "distances")
        return distances

    def score(self, X: Any, y: Any = None, sample_weight: Any = None) -> float:
        """Opposite of the cosine-distance objective of ``X`` with respect to the centroids.

        Parameters
        ----------
        X : array of shape (n_samples, n_features) or scipy.sparse matrix
            New data.
        y : None
            Ignored.
        sample_weight : array of shape (n_samples,), optional
            Weight of each sample.

        Returns
        -------
        score : float
            ``-sum(w_i * (1 - cos(x_i, c_{label_i})))``, larger is better (a value read to
            the host: a compute on Dask).
        """
        (labels, own), (xp, caps, X) = self._cosines(X, "labels", values_now=True)
        weights = check_sample_weight(sample_weight, X, xp=xp, caps=caps)
        return -_read_number(objective(own, weights, xp=xp))

    def _cosines(self, X: Any, what: str, values_now: bool = False) -> tuple[Any, Any]:
        """:func:`cosine_core` of validated ``X`` and the centroids, with the call's checks
        attached; also ``(xp, caps, X)``."""
        xp, caps, checks, X, centers = fitted_input(self, X)
        if values_now:  # score reads a value anyway: refuse NaN now, as KMeans.score does
            refuse_non_finite(X, xp=xp, caps=caps)
        rows = unit_sparse_rows(X, xp=xp, caps=caps)[0] if is_sparse(X) else X
        out = caps.compiled(cosine_core, COSINE_STATIC)(rows, centers, what=what, xp=xp, caps=caps,
                                                         budget=memory_budget_bytes())
        out = checks.attach(*(out if what == "labels" else (out,)))
        return (tuple(out) if what == "labels" else out[0]), (xp, caps, X)


def _directions(centers: Any, what: str, *, xp: Any, caps: Any) -> Any:
    """User centroids (validated by ``_as_centers``) with a direction each: an all-zero
    row is refused (``ValueError``); the run normalises them."""
    if not caps.read_bool(xp.all(xp.max(xp.abs(centers), axis=1) > 0)):
        raise ValueError(f"{what} has an all-zero row: a spherical centroid needs a direction (a non-zero entry).")
    return centers
