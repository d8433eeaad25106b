"""Choosing the number of clusters: the elbow, the silhouette sweep and the gap statistic.

Each method clusters the data once per candidate ``k`` (by default with
:class:`xpcluster.cluster.KMeans`, in the data's own array library and on its device),
scores each clustering, and picks one ``k``.  The per-``k`` table comes back as host NumPy
arrays in a small result object, with the chosen ``k``, the labels of its clustering (in
the data's namespace) and the fitted estimator.

Choosing needs the scores' values, so these functions run eagerly: on Dask each fit and
score is computed; inside ``jax.jit`` they refuse to run (call them outside it).  A Dask
array of NumPy blocks of at most 256 MiB clustered with the default estimator is
computed once and the whole choice is made on its values, as for NumPy input (the same
table and choice, bit for bit); the chosen labels and the estimator's array attributes
come back as Dask arrays.  The scores of dozens of small fits are then not each a Dask
compute (the gap statistic's 10 reference sets times 8 candidates times 10 seedings took
minutes so, seconds this way).

Sparse data (``scipy.sparse``, any format) works with :func:`elbow` and
:func:`silhouette_sweep`: each estimator is given one canonical CSR copy (in the compute
dtype; the caller's matrix is never modified) and the silhouette is scored sparsely.
:func:`gap_statistic` refuses it: its reference sets are dense by construction.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import numbers
from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterable

import array_api_compat
import numpy as np

from . import _rng
from . import metrics as _metrics
from ._backends import capabilities_for
from ._backends.sparse import as_sparse_rows, is_sparse_input
from ._checks import Checks, raise_error
from ._core.dtypes import to_compute_dtype
from ._core.scale import is_unit, range_scale, scaled
from ._dispatch import resolve

__all__ = [
    "choose_k",
    "elbow",
    "silhouette_sweep",
    "gap_statistic",
    "knee_index",
    "ElbowResult",
    "SilhouetteResult",
    "GapResult",
]


@dataclass(frozen=True, kw_only=True)
class _Result:
    k: int
    """The chosen number of clusters."""
    k_values: np.ndarray
    """The candidates, ascending (int64)."""
    labels: Any = field(repr=False)
    """Labels of the data's clustering with the chosen ``k``, in the data's namespace."""
    estimator: Any = field(repr=False)
    """The estimator fitted to the data with the chosen ``k``."""

    _columns: ClassVar[tuple[str, ...]] = ()

    @property
    def table(self) -> dict[str, np.ndarray]:
        """The per-``k`` table as columns (``pandas.DataFrame(result.table)`` shows it)."""
        return {"k": self.k_values, **{name: getattr(self, name) for name in self._columns}}


@dataclass(frozen=True, kw_only=True)
class ElbowResult(_Result):
    """Result of :func:`elbow`."""

    inertia: np.ndarray
    """Within-cluster sum of squares of each candidate's clustering (the estimator's ``inertia_``)."""
    knee_gap: np.ndarray
    """How far each point of the normalised curve lies below the chord joining its ends;
    the knee is where this is largest."""
    _columns: ClassVar[tuple[str, ...]] = ("inertia", "knee_gap")


@dataclass(frozen=True, kw_only=True)
class SilhouetteResult(_Result):
    """Result of :func:`silhouette_sweep`."""

    silhouette: np.ndarray
    """Mean silhouette of each candidate's clustering (NaN where undefined: k < 2 or k >= n)."""
    _columns: ClassVar[tuple[str, ...]] = ("silhouette",)


@dataclass(frozen=True, kw_only=True)
class GapResult(_Result):
    """Result of :func:`gap_statistic`."""

    gap: np.ndarray
    """Gap(k) = E*[log W_k] - log W_k."""
    s_k: np.ndarray
    """Standard error of the reference mean: sd_k * sqrt(1 + 1/B)."""
    log_w: np.ndarray
    """log W_k of the data."""
    ref_log_w: np.ndarray
    """E*[log W_k]: the mean of log W_k over the B reference sets."""
    sd_k: np.ndarray
    """Standard deviation (1/B normalisation) of log W_k over the reference sets."""
    ref_log_w_all: np.ndarray = field(repr=False)
    """log W_k of every reference set, shape (B, len(k_values))."""
    found: bool = True
    """Whether some k met the rule; if not, the largest candidate was chosen."""
    _columns: ClassVar[tuple[str, ...]] = ("gap", "s_k", "log_w", "ref_log_w", "sd_k")


# --------------------------------------------------------------------------------------
# Shared plumbing


def _prepare(X: Any, method: str) -> tuple[Any, Any, Any]:
    if is_sparse_input(X):
        return _prepare_sparse(X, method)
    xp, _, (X,) = resolve(X)
    caps = capabilities_for(xp)
    if caps.is_traced(X):
        raise TypeError(
            f"{method} reads the scores of each clustering to choose k and cannot run inside "
            "jax.jit (or another trace); call it outside the jitted function"
        )
    if X.ndim != 2:
        raise ValueError(
            f"Expected 2D array, got {X.ndim}D array instead; reshape your data with "
            "X.reshape(-1, 1) for a single feature or X.reshape(1, -1) for a single sample"
        )
    checks = Checks(caps, now=True)  # every method reads values anyway
    X = caps.known_rows(to_compute_dtype(X, xp, checks, name="X"))
    if X.shape[0] < 1:
        raise ValueError(f"Found array with 0 sample(s) (shape={tuple(X.shape)}) while a minimum of 1 is required.")
    checks.add(~xp.all(xp.isfinite(X)), raise_error(ValueError("Input X contains NaN or infinity.")))
    # Every row the same point: each clustering has inertia 0 and the methods' scores are
    # undefined (the gap statistic's logs are -inf - -inf = NaN), so no k can be chosen.
    checks.add(
        xp.all(X == X[:1, :]),
        raise_error(ValueError(
            f"X has a single distinct point (all {X.shape[0]} rows are equal): every number of "
            f"clusters fits it perfectly, so {method} cannot choose one"
        )),
    )
    return xp, caps, X


def _prepare_sparse(X: Any, method: str) -> tuple[Any, Any, Any]:
    """Sparse ``X`` as one canonical SciPy CSR copy in its compute dtype (what every fit is
    given: our estimators and scikit-learn's take it), checked as dense data is."""
    rows = as_sparse_rows(X)
    n, d = rows.shape
    if n < 1 or d < 1:
        raise ValueError(f"Found array with shape {tuple(rows.shape)} while at least 1 sample and 1 feature are required.")
    xp = rows.xp
    caps = capabilities_for(xp)
    if not caps.read_bool(xp.all(xp.isfinite(rows.values))):
        raise ValueError("Input X contains NaN or infinity.")
    matrix = rows.native()
    # Every row the same point exactly when each column's largest and smallest values agree
    # (implicit zeros included): O(nnz + d), nothing densified.
    if np.array_equal(matrix.max(axis=0).toarray(), matrix.min(axis=0).toarray()):
        raise ValueError(
            f"X has a single distinct point (all {n} rows are equal): every number of "
            f"clusters fits it perfectly, so {method} cannot choose one"
        )
    return xp, caps, matrix


def _refuse_sparse(X: Any, method: str, why: str) -> None:
    if is_sparse_input(X):
        raise TypeError(
            f"{method} does not accept sparse input (got a {type(X).__name__}): {why}; choose k with "
            "elbow or silhouette_sweep, which take sparse X, or pass X.toarray() if a dense copy fits in memory"
        )


def _inertia_of(X: Any, labels: Any) -> float:
    """The within-cluster sum of squares of ``labels``' clustering (about the cluster means)."""
    if not is_sparse_input(X):
        return _host(_metrics.inertia(X, labels))
    rows = as_sparse_rows(X)
    _, ids = np.unique(np.asarray(labels).reshape(-1), return_inverse=True)
    k = int(ids.max()) + 1 if ids.size else 0
    sums, counts = rows.segment_sums(ids.astype(np.intp), k)
    sums = np.asarray(sums, dtype=np.float64)
    counts = np.asarray(counts, dtype=np.float64)
    # sum over a cluster of |x - mean|^2 = sum |x|^2 - |sum x|^2 / n_k: O(nnz + k*d), no
    # (rows, k) products; clamped, as rounding can leave a perfect fit slightly negative.
    total = float(np.sum(np.asarray(rows.sq_norms, dtype=np.float64)))
    return max(total - float(np.sum(np.sum(sums * sums, axis=1) / counts)), 0.0)


def _k_values(k_range: Iterable[Any], n: int, *, least: int, at_least: int) -> np.ndarray:
    """The candidates as ascending distinct ints in [least, n]."""
    try:
        values = [k for k in k_range]
    except TypeError:
        raise ValueError(f"k_range must be an iterable of integers, got {k_range!r}") from None
    for k in values:
        if not isinstance(k, numbers.Integral | np.integer) or isinstance(k, bool):
            raise ValueError(f"k_range must hold integers, got {k!r}")
    ks = np.asarray(sorted(set(int(k) for k in values)), dtype=np.int64)
    if ks.size < at_least:
        raise ValueError(f"k_range needs at least {at_least} distinct values, got {ks.tolist()}")
    if ks[0] < least:
        raise ValueError(f"k_range values must be at least {least}, got {int(ks[0])}")
    if ks[-1] > n:
        raise ValueError(f"k_range values must be at most n_samples={n}, got {int(ks[-1])}")
    return ks


def _estimator_for(k: int, estimator: Any, n_init: Any, random_state: Any) -> Any:
    """A new, unfitted estimator for ``k`` clusters: ``estimator``'s parameters with
    ``n_clusters=k``, or :class:`xpcluster.cluster.KMeans`."""
    if estimator is None:
        from .cluster import KMeans

        return KMeans(n_clusters=int(k), n_init=n_init, random_state=random_state)
    if not (hasattr(estimator, "get_params") and hasattr(estimator, "fit")):
        raise ValueError(f"estimator must have get_params and fit (an sklearn-style clusterer), got {estimator!r}")
    params = estimator.get_params(deep=False)
    if "n_clusters" not in params:
        raise ValueError(f"estimator must have an n_clusters parameter, got {type(estimator).__name__}")
    params["n_clusters"] = int(k)
    return type(estimator)(**params)


def _fit(X: Any, k: int, estimator: Any, n_init: Any, random_state: Any) -> Any:
    fitted = _estimator_for(k, estimator, n_init, random_state).fit(X)
    if not hasattr(fitted, "labels_"):
        raise ValueError(f"{type(fitted).__name__}.fit did not set labels_")
    return fitted


def _estimator_seed(random_state: Any, rng: Any) -> Any:
    """What the default estimators get: the int itself (every fit starts from the same
    seed), or the shared random source (fits and reference draws take turns from it)."""
    if isinstance(random_state, numbers.Integral | np.integer):
        return int(random_state)
    return rng


def _host(value: Any) -> float:
    """A score's value on the host (a Dask score is computed here)."""
    if hasattr(value, "compute"):
        value = value.compute()
    return float(value)


def _small_lazy_on_host(method: Any) -> Any:
    """``method`` on a small lazy (Dask) array with the default estimator: made on its
    values (computed once), the labels and the estimator's arrays placed back like it."""

    @functools.wraps(method)
    def run(X, *args, **kwargs):
        host = _small_lazy_values(X, kwargs.get("estimator"))
        if host is None:
            return method(X, *args, **kwargs)
        result = method(host, *args, **kwargs)
        return dataclasses.replace(result, labels=_placed_like(result.labels, X),
                                   estimator=_estimator_placed_like(result.estimator, X))

    return run


#: Lazy arrays up to this size are read into host memory once for the whole choice.
_HOST_BYTES = 256 * 2**20


def _small_lazy_values(X: Any, estimator: Any) -> Any:
    """``X``'s values (NumPy) when it is a lazy array (Dask) of NumPy blocks and known
    shape of at most :data:`_HOST_BYTES` and the estimator is the default; else None."""
    if estimator is not None or is_sparse_input(X) or not array_api_compat.is_array_api_obj(X):
        return None
    xp, _, _ = resolve(X)  # (with dispatch off, NumPy: the methods convert X themselves)
    caps = capabilities_for(xp)
    if not caps.defers_checks or caps.is_traced(X) or not caps.has_numpy_blocks(X):
        return None
    if any(s is None or math.isnan(s) for s in X.shape) or math.prod(X.shape) * X.dtype.itemsize > _HOST_BYTES:
        return None
    return np.asarray(X)  # one compute


def _placed_like(a: Any, X: Any) -> Any:
    """A host array placed like ``X`` (one block of a Dask array)."""
    caps = capabilities_for(array_api_compat.array_namespace(X))
    return caps.from_host(np.asarray(a), X)


def _estimator_placed_like(estimator: Any, X: Any) -> Any:
    """The fitted estimator with its fitted arrays (``cluster_centers_``, ``labels_``)
    placed like ``X``, as a fit on ``X`` leaves them (its numbers stay Python numbers)."""
    for name, value in list(vars(estimator).items()):
        if name.endswith("_") and not name.startswith("_") and isinstance(value, np.ndarray) and value.dtype != object:
            setattr(estimator, name, _placed_like(value, X))
    return estimator


# --------------------------------------------------------------------------------------
# Elbow


#: Gaps (on the unit square) this small are rounding: a straight line has no knee.
_NO_KNEE = 1e-9


def knee_index(k_values: Any, inertia: Any) -> tuple[int, np.ndarray]:
    """Index of the knee of a decreasing curve, Kneedle-style, and each point's gap.

    Both axes are scaled to [0, 1]; the knee is the point farthest below the straight
    line joining the curve's first and last points (for a convex decreasing curve,
    the point of maximum curvature in the discrete sense).  With no point below that
    line (a straight or concave curve) there is no knee and the first point is returned.
    """
    x = np.asarray(k_values, dtype=np.float64)
    y = np.asarray(inertia, dtype=np.float64)
    x = (x - x[0]) / (x[-1] - x[0])
    span = y.max() - y.min()
    y = (y - y.min()) / span if span > 0 else np.zeros_like(y)
    chord = y[0] + (y[-1] - y[0]) * x
    gap = chord - y
    best = int(np.argmax(gap))
    return (best if gap[best] > _NO_KNEE else 0), gap


@_small_lazy_on_host
def elbow(X, k_range, *, scale="log", estimator=None, n_init=10, random_state=None):
    """Choose k at the elbow (knee) of the inertia curve.

    Fits a clustering for each candidate k and picks the knee of k -> inertia with the
    Kneedle rule (:func:`knee_index`): on the curve scaled to the unit square, the point
    farthest below the chord joining its first and last points.

    Parameters
    ----------
    X : array_like or sparse matrix of shape (n_samples, n_features)
        The data, in any Array API library (with dispatch on), anything NumPy converts, or
        a ``scipy.sparse`` matrix or array (any format; the estimator must accept it).
    k_range : iterable of int
        Candidate numbers of clusters (at least 3; usually ``range(1, kmax + 1)``).
    scale : {'log', 'linear'}, optional
        The curve whose knee is sought: log(inertia) (default) or inertia.  On the linear
        scale the first few drops dominate, so the knee lands early whenever clusters are
        unevenly spaced (it found the number of well-separated blobs in 8 of 36 test
        layouts); on the log scale each drop counts relative to the inertia left, and the
        collapse to within-cluster scatter at the right k stands out (34 of 36).
    estimator : estimator, optional
        A clusterer with an ``n_clusters`` parameter, ``fit`` and ``inertia_`` (copied with
        ``n_clusters=k`` for each k; without ``inertia_`` the within-cluster sum of squares
        of its ``labels_`` is used).  Default: :class:`xpcluster.cluster.KMeans`.
    n_init : 'auto' or int, optional
        ``n_init`` of the default KMeans.  Default 10: the choice rests on reaching each
        k's best clustering, which a single seeding can miss.
    random_state : None, int, numpy.random.RandomState or numpy.random.Generator, optional
        ``random_state`` of the default KMeans.

    Returns
    -------
    ElbowResult
        ``k``, ``k_values``, ``inertia``, ``knee_gap`` (host NumPy; the gaps of the curve
        on ``scale``), ``labels`` and ``estimator`` of the chosen k; ``table`` gives the
        columns.

    Examples
    --------
    >>> import numpy as np
    >>> from xpcluster.choose_k import elbow
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(c, 0.3, size=(40, 2)) for c in ([0, 0], [5, 5], [0, 5])])
    >>> elbow(X, range(1, 8), random_state=0).k
    3
    """
    if scale not in ("log", "linear"):
        raise ValueError(f"scale must be 'log' or 'linear', got {scale!r}")
    xp, caps, X = _prepare(X, "elbow")
    ks = _k_values(k_range, X.shape[0], least=1, at_least=3)
    rng = _rng.random_source(random_state)
    seed = _estimator_seed(random_state, rng)
    fitted = [_fit(X, int(k), estimator, n_init, seed) for k in ks]
    inertia = np.asarray([_host(f.inertia_) if hasattr(f, "inertia_") else _inertia_of(X, f.labels_) for f in fitted])
    curve = np.log(np.maximum(inertia, np.finfo(np.float64).tiny)) if scale == "log" else inertia
    best, gap = knee_index(ks, curve)
    return ElbowResult(
        k=int(ks[best]), k_values=ks, labels=fitted[best].labels_, estimator=fitted[best],
        inertia=inertia, knee_gap=gap,
    )


# --------------------------------------------------------------------------------------
# Silhouette


@_small_lazy_on_host
def silhouette_sweep(X, k_range, *, metric="euclidean", sample_size=None, estimator=None, n_init=10,
                     random_state=None):
    """Choose the k whose clustering has the largest mean silhouette.

    Parameters
    ----------
    X : array_like or sparse matrix of shape (n_samples, n_features)
        The data; a ``scipy.sparse`` matrix or array (any format) is clustered and scored
        without densifying it (the estimator must accept it).
    k_range : iterable of int
        Candidate numbers of clusters; the silhouette needs 2 <= k <= n_samples - 1 (other
        candidates get NaN and are never chosen).
    metric : str, optional
        Distance of :func:`xpcluster.metrics.silhouette_score`.
    sample_size : int, optional
        Score each clustering on a random subset of this many samples (O(sample_size**2)
        work instead of O(n**2)); the subsets are drawn from ``random_state``.
    estimator : estimator, optional
        A clusterer with an ``n_clusters`` parameter, ``fit`` and ``labels_``.  Default:
        :class:`xpcluster.cluster.KMeans`.
    n_init : 'auto' or int, optional
        ``n_init`` of the default KMeans (default 10).
    random_state : None, int, numpy.random.RandomState or numpy.random.Generator, optional
        ``random_state`` of the default KMeans and of the subsets.

    Returns
    -------
    SilhouetteResult
        ``k``, ``k_values``, ``silhouette`` (host NumPy), ``labels`` and ``estimator`` of
        the chosen k.

    Examples
    --------
    >>> import numpy as np
    >>> from xpcluster.choose_k import silhouette_sweep
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(c, 0.3, size=(40, 2)) for c in ([0, 0], [5, 5], [0, 5])])
    >>> silhouette_sweep(X, range(2, 7), random_state=0).k
    3
    """
    xp, caps, X = _prepare(X, "silhouette_sweep")
    n = X.shape[0]
    ks = _k_values(k_range, n, least=1, at_least=1)
    if not np.any((ks >= 2) & (ks <= n - 1)):
        raise ValueError(f"the silhouette needs 2 <= k <= n_samples - 1 = {n - 1}; k_range gave {ks.tolist()}")
    rng = _rng.random_source(random_state)
    seed = _estimator_seed(random_state, rng)
    scores = np.full(ks.shape, np.nan)
    fitted: dict[int, Any] = {}
    for i, k in enumerate(ks):
        if not 2 <= k <= n - 1:
            continue
        fitted[i] = _fit(X, int(k), estimator, n_init, seed)
        labels = fitted[i].labels_
        subset = seed if sample_size is not None else None
        scores[i] = _host(_metrics.silhouette_score(X, labels, metric=metric, sample_size=sample_size,
                                                    random_state=subset))
    best = int(np.nanargmax(scores))
    return SilhouetteResult(
        k=int(ks[best]), k_values=ks, labels=fitted[best].labels_, estimator=fitted[best], silhouette=scores,
    )


# --------------------------------------------------------------------------------------
# Gap statistic


def _principal_axes(centred: Any, xp: Any, caps: Any) -> Any:
    """(d, d) principal axes (columns) of the centred data, each with its largest
    component positive, so the reference box does not depend on the SVD's signs."""
    scatter = xp.matmul(centred.T, centred)
    _, _, vh = caps.thin_svd(scatter)
    axes = vh.T
    d = axes.shape[0]
    largest = xp.argmax(xp.abs(axes), axis=0)
    rows = xp.arange(d, dtype=largest.dtype, device=array_api_compat.device(axes))
    picked = xp.sum(xp.where(rows[:, None] == largest[None, :], axes, xp.zeros_like(axes)), axis=0)
    return axes * xp.where(picked < 0, -xp.ones_like(picked), xp.ones_like(picked))[None, :]


def _reference_frame(X: Any, reference: str, xp: Any, caps: Any) -> tuple[Any, Any, Any, Any]:
    """``(low, width, axes, origin)``: a reference set is ``(low + width * U) @ axes.T + origin``
    for U uniform on [0, 1)^d (``axes`` None: the data's own axes, ``origin`` 0)."""
    if reference == "box":
        low = xp.min(X, axis=0)
        return low, xp.max(X, axis=0) - low, None, None
    origin = xp.mean(X, axis=0)
    centred = X - origin
    axes = _principal_axes(centred, xp, caps)
    rotated = xp.matmul(centred, axes)
    low = xp.min(rotated, axis=0)
    return low, xp.max(rotated, axis=0) - low, axes, origin


def _reference_set(uniform: np.ndarray, X: Any, frame: tuple[Any, Any, Any, Any], xp: Any, caps: Any) -> Any:
    low, width, axes, origin = frame
    u = caps.to_device(uniform, X, X.dtype)
    z = low + width * u
    if axes is not None:
        z = xp.matmul(z, axes.T) + origin
    return caps.persist(z)


def _log_dispersion(Z: Any, k: int, estimator: Any, n_init: Any, seed: Any, *, xp: Any, caps: Any) -> tuple[float, Any]:
    """log W_k: the log of the pooled within-cluster sum of squares of ``Z``'s clustering.

    W_k is computed on ``Z`` scaled by a power of two ``s`` into the dtype's safe range
    and its log corrected by ``-2 log s`` (exact): W_k itself may not fit the dtype (float32
    data near 1e30 has W_k near 1e62), its log always does."""
    fitted = _fit(Z, k, estimator, n_init, seed)
    s = range_scale(Z, xp=xp, caps=caps, now=True)
    w = _host(_metrics.inertia(scaled(Z, s), fitted.labels_))
    shift = 0.0 if is_unit(s) else 2.0 * math.log(_host(s))
    return (math.log(w) - shift if w > 0 else -math.inf), fitted


@_small_lazy_on_host
def gap_statistic(X, k_range, n_refs=10, reference="box", *, estimator=None, n_init=10, random_state=None):
    """Choose k with the gap statistic (Tibshirani, Walther & Hastie, 2001).

    ``W_k`` is the pooled within-cluster dispersion of the data clustered into k
    clusters, ``sum_r D_r / (2 n_r)``, which is the within-cluster sum of squares.  Its
    log is compared with its expectation under a null reference, estimated from ``n_refs``
    = B data sets drawn uniformly over a box: ``Gap(k) = E*[log W_k] - log W_k``, with
    ``sd_k`` the standard deviation of the B reference values and
    ``s_k = sd_k * sqrt(1 + 1/B)``.  The chosen k is the smallest candidate with
    ``Gap(k) >= Gap(k') - s_k'``, k' the next candidate (the next integer when
    ``k_range`` is consecutive); if none qualifies, the largest candidate (``found`` is
    then False).

    Parameters
    ----------
    X : array_like of shape (n_samples, n_features)
        The data, dense: sparse ``X`` raises ``TypeError`` (the uniform reference sets over
        its box are dense (n_samples, n_features) arrays, and uniform in every feature is
        no null model for sparse data).
    k_range : iterable of int
        Candidate numbers of clusters, at least 2 of them (usually ``range(1, kmax + 1)``).
    n_refs : int, optional
        B, the number of reference data sets.  Default 10.
    reference : {'box', 'pca'}, optional
        'box': uniform over the range of each feature.  'pca': uniform over the box
        aligned with the data's principal axes (the paper's second method, which follows
        the shape of the data).
    estimator : estimator, optional
        A clusterer with an ``n_clusters`` parameter, ``fit`` and ``labels_`` (copied with
        ``n_clusters=k`` for each fit).  Default: :class:`xpcluster.cluster.KMeans`.
    n_init : 'auto' or int, optional
        ``n_init`` of the default KMeans (default 10: a reference's or the data's
        clustering stuck in a poor local optimum shifts Gap(k) by more than s_k).
    random_state : None, int, numpy.random.RandomState or numpy.random.Generator, optional
        Source of the reference draws and of the default KMeans' seeding.  Reference b is
        made from the b-th draw ``rng.uniform(size=(n_samples, n_features))`` of
        ``rng = numpy.random.RandomState(random_state)`` for an int (then every KMeans
        fit is seeded with that int), of the given RandomState or Generator itself, or of
        NumPy's global random state for None.  Draws are made on the host and placed
        on the data's device; the data is clustered first, then each reference in turn.

    Returns
    -------
    GapResult
        ``k``, ``k_values``, ``gap``, ``s_k``, ``log_w``, ``ref_log_w``, ``sd_k``,
        ``ref_log_w_all`` (host NumPy), ``found``, and ``labels`` and ``estimator`` of the
        data's clustering with the chosen k.

    Examples
    --------
    >>> import numpy as np
    >>> from xpcluster.choose_k import gap_statistic
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(c, 0.3, size=(40, 2)) for c in ([0, 0], [5, 5], [0, 5])])
    >>> gap_statistic(X, range(1, 6), n_refs=5, random_state=0).k
    3
    """
    _refuse_sparse(X, "gap_statistic", "its reference data sets are drawn uniformly over the data's bounding box "
                                       "(or principal axes), which makes them dense (n_samples, n_features) arrays")
    if reference not in ("box", "pca"):
        raise ValueError(f"reference must be 'box' or 'pca', got {reference!r}")
    if not isinstance(n_refs, numbers.Integral | np.integer) or isinstance(n_refs, bool) or n_refs < 1:
        raise ValueError(f"n_refs must be a positive integer, got {n_refs!r}")
    xp, caps, X = _prepare(X, "gap_statistic")
    n, d = X.shape
    ks = _k_values(k_range, n, least=1, at_least=2)
    rng = _rng.random_source(random_state)
    seed = _estimator_seed(random_state, rng)
    X = caps.persist(X)

    data_fits = [_log_dispersion(X, int(k), estimator, n_init, seed, xp=xp, caps=caps) for k in ks]
    log_w = np.asarray([lw for lw, _ in data_fits])
    frame = _reference_frame(X, reference, xp, caps)
    ref = np.empty((int(n_refs), ks.size))
    for b in range(int(n_refs)):
        uniform = np.asarray(rng.uniform(size=(n, d)), dtype=np.float64)
        Z = _reference_set(uniform, X, frame, xp, caps)
        for i, k in enumerate(ks):
            ref[b, i], _ = _log_dispersion(Z, int(k), estimator, n_init, seed, xp=xp, caps=caps)

    ref_mean = ref.mean(axis=0)
    sd = ref.std(axis=0)
    s_k = sd * math.sqrt(1.0 + 1.0 / int(n_refs))
    gap = ref_mean - log_w
    meets = gap[:-1] >= gap[1:] - s_k[1:]
    found = bool(np.any(meets))
    best = int(np.argmax(meets)) if found else ks.size - 1
    chosen = data_fits[best][1]
    return GapResult(
        k=int(ks[best]), k_values=ks, labels=chosen.labels_, estimator=chosen,
        gap=gap, s_k=s_k, log_w=log_w, ref_log_w=ref_mean, sd_k=sd, ref_log_w_all=ref, found=found,
    )


# --------------------------------------------------------------------------------------
# Dispatcher

_METHODS = {"elbow": elbow, "silhouette": silhouette_sweep, "gap": gap_statistic}


def choose_k(X, k_range, method="elbow", **kwargs):
    """Choose the number of clusters with one of the methods of this module.

    Parameters
    ----------
    X : array_like or sparse matrix of shape (n_samples, n_features)
        The data (``scipy.sparse`` for 'elbow' and 'silhouette').
    k_range : iterable of int
        Candidate numbers of clusters.
    method : {'elbow', 'silhouette', 'gap'}, optional
        :func:`elbow`, :func:`silhouette_sweep` or :func:`gap_statistic`.
    **kwargs
        Passed on to that function (``random_state``, ``estimator``, ``n_refs``, ...).

    Returns
    -------
    ElbowResult, SilhouetteResult or GapResult

    Examples
    --------
    >>> import numpy as np
    >>> from xpcluster.choose_k import choose_k
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(c, 0.3, size=(40, 2)) for c in ([0, 0], [5, 5], [0, 5])])
    >>> choose_k(X, range(2, 7), method="silhouette", random_state=0).k
    3
    """
    if method not in _METHODS:
        raise ValueError(f"Unknown method {method!r}; choose one of {sorted(_METHODS)}")
    return _METHODS[method](X, k_range, **kwargs)
