"""K-means clustering and vector quantization: a drop-in for :mod:`scipy.cluster.vq`.

Same functions, signatures, defaults, return types, errors and warnings as SciPy 1.17's
``scipy.cluster.vq``; with Array API dispatch on (``XPCLUSTER_ARRAY_API=1``,
``SCIPY_ARRAY_API=1`` or :func:`xpcluster.array_api_dispatch`) the whole computation runs in
the input's own array library and on its device.  With the same ``rng``, NumPy input gives
SciPy's answer and every other library gives the NumPy answer.

Differences from SciPy, all where SciPy fails: integer input to ``kmeans``/``kmeans2`` is
promoted to float64 (SciPy raises ``TypeError``); a float ``k`` is converted with a warning
for every ``minit``; ``minit='++'`` with ``k`` larger than the number of observations
raises ``ValueError``.  One addition: ``minit='k-means||'`` (k-means|| seeding, for large or
distributed data).
"""
from __future__ import annotations

import math
import numbers
import operator
import warnings
from typing import Any, Callable

import array_api_compat
import numpy as np

from . import _rng
from ._backends import capabilities_for
from ._core.chunks import memory_budget_bytes
from ._checks import Checks, raise_error, warn
from ._core.dtypes import compute_dtype, to_compute_dtype, widest_float
from ._core.scale import is_unit, range_scale, scaled, unscaled, unscaled_checked
from ._core.init import INIT_METHODS, draw_points
from ._core.lloyd import KMEANS2_STATIC, KMEANS_STATIC, VQ_STATIC, kmeans2_core, kmeans_core, vq_core, whiten_core
from ._placement import place_draw
from ._dispatch import resolve

__all__ = ["whiten", "vq", "py_vq", "kmeans", "kmeans2", "ClusterError"]


class ClusterError(Exception):
    """Raised by ``kmeans2(..., missing='raise')`` when a cluster ends up empty."""


_EMPTY_CLUSTER_MESSAGE = "One of the clusters is empty. Re-run kmeans with a different initialization."
_ZERO_STD_MESSAGE = "Some columns have standard deviation zero. The values of these columns will not change."


def _prepare(a: Any, xp: Any, checks: Checks, check_finite: bool, dtype: Any = None) -> Any:
    """``a`` in its compute dtype (or ``dtype``), with the finiteness check SciPy makes."""
    a = to_compute_dtype(a, xp, checks, dtype=dtype)
    if check_finite:
        checks.add(~checks.caps.all_finite(a), raise_error(ValueError("array must not contain infs or NaNs")))
    return a


def _refuse_empty(a: Any, xp: Any, checks: Checks) -> None:
    """SciPy's "Empty input" error; for rows whose number is not known yet (a Dask array a
    boolean mask selected from) a check that fires when the results are computed."""
    message = "Empty input is not supported."
    if a.ndim == 0:
        raise ValueError(message)
    rows = a.shape[0]
    if rows is None or rows != rows:
        checks.add(xp.sum(xp.ones_like(a[:, 0] if a.ndim == 2 else a, dtype=xp.int32)) == 0,
                   raise_error(ValueError(message)))
    elif rows == 0:
        raise ValueError(message)


def _is_number(k: Any) -> bool:
    return isinstance(k, numbers.Number | np.generic)


def _count(value: Any, what: str) -> int:
    """A whole number given for a count (``iter``): an integer, never a bool or a float."""
    if isinstance(value, bool | np.bool_):
        raise TypeError(f"{what} must be an integer, got a bool ({value!r})")
    return operator.index(value)  # TypeError for 2.5, as SciPy


def _threshold(thresh: Any) -> float:
    """``kmeans``' stopping threshold: a finite number >= 0 (SciPy loops forever on a
    negative one and fails on NaN or infinity)."""
    if isinstance(thresh, bool | np.bool_) or not isinstance(thresh, numbers.Real):
        raise TypeError(f"thresh must be a real number, got {thresh!r}")
    if not (math.isfinite(thresh) and thresh >= 0):
        raise ValueError(f"thresh must be a finite number >= 0, got {thresh!r}")
    return float(thresh)


def _refuse_bool_k(k: Any, name: str) -> None:
    if isinstance(k, bool | np.bool_):
        raise TypeError(f"{name} must be a number of clusters or an initial codebook, got a bool ({k!r})")


def _as_2d(a: Any, xp: Any) -> Any:
    return xp.reshape(a, (a.shape[0], 1)) if a.ndim == 1 else a


def _like_obs(book: Any, obs: Any, xp: Any) -> Any:
    return xp.reshape(book, (-1,)) if obs.ndim == 1 else book


def _size(a: Any) -> int:
    return math.prod(a.shape)


def _scalar(a: Any, xp: Any) -> float:
    """The value of a one-element array (a count of clusters)."""
    return float(xp.reshape(a, (-1,))[0])


_place = place_draw  # host draws onto the data's device (shared with the estimators)


def whiten(obs, check_finite=None):
    """Normalize a group of observations on a per feature basis.

    Each feature (column) is divided by its standard deviation across all observations
    so that it has unit variance.  Columns with zero standard deviation are left as they
    are, with a ``RuntimeWarning``.

    Parameters
    ----------
    obs : array_like
        Each row is an observation, each column a feature.
    check_finite : bool, optional
        Whether to check that the input contains only finite numbers (raising
        ``ValueError`` otherwise).  Default: True for eager arrays, False for lazy ones.

    Returns
    -------
    result : array
        ``obs`` scaled by the standard deviation of each column, in ``obs``'s namespace,
        on its device, in its float dtype (integers become float64).

    Examples
    --------
    >>> import numpy as np
    >>> from xpcluster.vq import whiten
    >>> features = np.array([[1.9, 2.3, 1.7],
    ...                      [1.5, 2.5, 2.2],
    ...                      [0.8, 0.6, 1.7]])
    >>> whiten(features)
    array([[4.17944278, 2.69811351, 7.21248917],
           [3.29956009, 2.93273208, 9.33380951],
           [1.75976538, 0.7038557 , 7.21248917]])
    """
    xp, _, (obs,) = resolve(obs)
    caps = capabilities_for(xp)
    checks = Checks(caps)
    if check_finite is None:
        check_finite = not array_api_compat.is_lazy_array(obs)
    obs = _prepare(obs, xp, checks, check_finite)
    _refuse_empty(obs, xp, checks)
    # Column scales are invariant under the power-of-two range scaling: nothing to undo.
    obs = scaled(obs, range_scale(obs, xp=xp, caps=caps))
    white, any_zero_std = caps.compiled(whiten_core, ("xp",))(obs, xp=xp)
    if check_finite:
        checks.add(any_zero_std, warn(_ZERO_STD_MESSAGE, RuntimeWarning, stacklevel=2))
    (white,) = checks.attach(white)
    return white


def _check_codebook_against(obs: Any, code_book: Any) -> None:
    if obs.ndim > 2 or code_book.ndim > 2:
        raise ValueError("Input of rank > 2 is not supported.")
    if obs.ndim != code_book.ndim:
        raise ValueError("observation and code should have same number of dimensions")
    if obs.ndim == 2 and obs.shape[1] != code_book.shape[1]:
        raise ValueError("obs and code should have same number of features (columns)")
    if code_book.shape[0] == 0:
        raise ValueError("code_book is empty: it needs at least one code")


def _quantize(obs: Any, code_book: Any, check_finite: bool, widest: bool = False) -> tuple[Any, Any, Any]:
    xp, device, (obs, code_book) = resolve(obs, code_book)
    caps = capabilities_for(xp)
    checks = Checks(caps)
    _check_codebook_against(obs, code_book)
    if widest:
        dtype = widest_float(xp, device)
    else:
        dtype = xp.result_type(compute_dtype(obs.dtype, xp, device), compute_dtype(code_book.dtype, xp, device))
    obs = _prepare(obs, xp, checks, check_finite, dtype)
    code_book = _prepare(code_book, xp, checks, check_finite, dtype)
    if obs.shape[0] == 0:
        return xp, xp.zeros((0,), dtype=xp.int32, device=device), xp.zeros((0,), dtype=dtype, device=device)
    s = range_scale(obs, code_book, xp=xp, caps=caps)
    run = caps.compiled(vq_core, VQ_STATIC)
    codes, dists = run(
        _as_2d(scaled(obs, s), xp), _as_2d(scaled(code_book, s), xp), xp=xp, caps=caps, budget=memory_budget_bytes()
    )
    dists = unscaled_checked(dists, s, 1, xp=xp, checks=checks, what="a distance")
    codes, dists = checks.attach(codes, dists)
    return xp, codes, dists


def vq(obs, code_book, check_finite=True):
    """Assign codes from a code book to observations.

    Each observation (row of ``obs``) gets the index of its nearest code (row of
    ``code_book``) in Euclidean distance; ties go to the lowest index.

    Parameters
    ----------
    obs : array_like
        M-by-N observations (or a length-M array of 1-D observations).
    code_book : array_like
        K-by-N codes (length-K for 1-D observations), usually from :func:`kmeans`.
    check_finite : bool, optional
        Whether to check that the inputs contain only finite numbers.  Default: True.

    Returns
    -------
    code : array of int32
        ``code[i]`` is the index of the code nearest to observation ``i``.
    dist : array
        The Euclidean distance between each observation and its nearest code.

    Examples
    --------
    >>> import numpy as np
    >>> from xpcluster.vq import vq
    >>> code_book = np.array([[1., 1., 1.],
    ...                       [2., 2., 2.]])
    >>> features = np.array([[1.9, 2.3, 1.7],
    ...                      [1.5, 2.5, 2.2],
    ...                      [0.8, 0.6, 1.7]])
    >>> vq(features, code_book)
    (array([1, 1, 0], dtype=int32), array([0.43588989, 0.73484692, 0.83066239]))
    """
    _, code, dist = _quantize(obs, code_book, check_finite)
    return code, dist


def py_vq(obs, code_book, check_finite=True):
    """Like :func:`vq`, with SciPy's ``py_vq`` return types.

    SciPy computes this fallback of its C loop with ``cdist``, so distances come back in
    float64 (where the device has it) and codes in int64, whatever the input float dtype;
    here it runs the same native code as :func:`vq`, in that precision.
    """
    xp, code, dist = _quantize(obs, code_book, check_finite, widest=True)
    return xp.astype(code, xp.int64), dist


def _kpoints(data, k, rng, xp=None):
    """Pick ``k`` observations at random (SciPy's ``minit='points'``)."""
    return _init_like_scipy("points", data, k, rng)


def _krandinit(data, k, rng, xp=None):
    """Draw ``k`` samples from a Gaussian fitted to ``data`` (SciPy's ``minit='random'``)."""
    return _init_like_scipy("random", data, k, rng)


def _kpp(data, k, rng, xp=None):
    """Pick ``k`` observations by k-means++ (SciPy's ``minit='++'``)."""
    return _init_like_scipy("++", data, k, rng)


def _init_like_scipy(method: str, data: Any, k: int, rng: Any) -> Any:
    """SciPy's private init helpers (its tests call them): ``xp`` comes from ``data``."""
    xp, _, (data,) = resolve(data)
    caps = capabilities_for(xp)
    points = _as_2d(_prepare(data, xp, Checks(caps), check_finite=False), xp)
    s = range_scale(points, xp=xp, caps=caps)
    book = _initial_codebook(method, scaled(points, s), int(k), rng, xp=xp, caps=caps)
    return _like_obs(unscaled(book, s), data, xp)


def _initial_codebook(method: str, points: Any, k: int, rng: Any, *, xp: Any, caps: Any) -> Any:
    """Host draws first, then the device build (compiled like the Lloyd loop)."""
    draw, build = INIT_METHODS[method]
    draws = draw(rng, points.shape[0], points.shape[1], k)
    placed = tuple(_place(host, points, xp, caps) for host in draws)
    return caps.compiled(build, ("k", "xp", "caps"))(points, placed, k=k, xp=xp, caps=caps)


_MISSING_METHODS = ("warn", "raise")


@_rng.accepts_legacy_seed
def kmeans(obs, k_or_guess, iter=20, thresh=1e-5, check_finite=True, *, rng=None):
    """Performs k-means on a set of observation vectors forming k clusters.

    Iterates until the mean distance of the observations to their centroids changes by at
    most ``thresh``; clusters that lose all members are dropped.  With an integer
    ``k_or_guess`` this is repeated ``iter`` times from random observations and the codebook
    with the lowest distortion is returned.

    Parameters
    ----------
    obs : array_like
        M-by-N observations (rows), ideally whitened.
    k_or_guess : int or array_like
        Number of centroids, or a k-by-N initial codebook (then ``iter`` is ignored).
    iter : int, optional
        Number of restarts when ``k_or_guess`` is an int.  Default 20.
    thresh : float, optional
        Stop when the change in distortion is at most this.  Default 1e-5.
    check_finite : bool, optional
        Whether to check that the inputs contain only finite numbers.  Default: True.
    rng : {None, int, numpy.random.Generator}, optional
        Source of the host random draws, normalised with ``numpy.random.default_rng``.
        The legacy ``seed`` keyword is also accepted (SPEC-007 rules, as in SciPy); with
        neither, NumPy's global random state is used.

    Returns
    -------
    codebook : array
        The centroids with the lowest distortion seen (possibly fewer than k).
    distortion : scalar or 0-d array
        Mean (non-squared) Euclidean distance of the observations to their centroid.

    Examples
    --------
    >>> import numpy as np
    >>> from xpcluster.vq import kmeans, whiten
    >>> features = np.array([[1.9, 2.3], [1.5, 2.5], [0.8, 0.6], [0.4, 1.8], [1.0, 1.0]])
    >>> book, distortion = kmeans(features, features[[0, 2]])
    >>> book
    array([[1.7       , 2.4       ],
           [0.73333333, 1.13333333]])
    """
    _refuse_bool_k(k_or_guess, "k_or_guess")
    iter = _count(iter, "iter")
    if iter < 1:
        raise ValueError(f"iter must be at least 1, got {iter}")
    thresh = _threshold(thresh)
    if _is_number(k_or_guess):
        xp, device, (obs,) = resolve(obs)
        guess = None
    else:
        xp, device, (obs, guess) = resolve(obs, k_or_guess)
    caps = capabilities_for(xp)
    checks = Checks(caps)
    obs = _prepare(obs, xp, checks, check_finite)
    if obs.ndim > 2:
        raise ValueError("Input of rank > 2 is not supported.")
    # The threshold loop reads the data once per iteration and needs a value each time:
    # lazy backends keep it materialised (read once) and learn its row count now.
    data = caps.known_rows(caps.persist(_as_2d(obs, xp)))
    if _size(data) < 1:
        raise ValueError("Empty input is not supported.")

    if guess is not None and _size(guess) != 1:
        if _size(guess) < 1:
            raise ValueError(f"Asked for 0 clusters. Initial book was {guess}")
        _check_codebook_against(obs, guess)
        start = _as_2d(_prepare(guess, xp, checks, check_finite, dtype=obs.dtype), xp)
        s = range_scale(data, start, xp=xp, caps=caps)
        start = scaled(start, s)
    else:
        k = k_or_guess if guess is None else _scalar(guess, xp)
        if k != int(k):
            raise ValueError("If k_or_guess is a scalar, it must be an integer.")
        k = int(k)
        if k < 1:
            raise ValueError(f"Asked for {k} clusters.")
        rng = _rng.random_source(rng)
        # Every restart's starting rows, drawn up front in SciPy's order.
        starts = np.stack([draw_points(rng, data.shape[0], data.shape[1], k)[0] for _ in range(iter)])
        start = _place(starts, data, xp, caps)
        s = range_scale(data, xp=xp, caps=caps)
    if not is_unit(s):
        # and its scale, and the scaled data, from the materialised blocks
        s = caps.persist(s)
        data = caps.persist(scaled(data, s))

    run = caps.compiled(kmeans_core, KMEANS_STATIC)
    # Placed explicitly (a Python float given to a compiled program would be transferred).
    limit = scaled(caps.to_device(np.asarray(thresh), data, data.dtype), s)
    book, alive, distortion = run(data, start, limit, xp=xp, caps=caps, budget=memory_budget_bytes())
    book, distortion = unscaled(book, s), unscaled(distortion, s)
    if caps.is_traced(book):
        # A traced program cannot drop rows.  Keep k rows, the surviving clusters first in
        # their eager order and the dropped ones last as NaN (so they can never pass for
        # centroids: vq refuses them), and say so when the program runs.
        order = xp.argsort(xp.astype(~alive, xp.int8), stable=True)
        book = xp.take(xp.where(alive[:, None], book, xp.full_like(book, math.nan)), order, axis=0)
        checks.add(~xp.all(alive), warn(_SHRINK_UNDER_TRACE_MESSAGE, UserWarning, stacklevel=3))
    elif not caps.read_bool(xp.all(alive)):
        book = book[alive]
    book, distortion = checks.attach(_like_obs(book, obs, xp), distortion[()])
    return book, distortion


_SHRINK_UNDER_TRACE_MESSAGE = (
    "kmeans dropped empty clusters; inside a traced (jitted) program the codebook cannot "
    "shrink, so it keeps its k rows with the dropped clusters last, filled with NaN"
)


@_rng.accepts_legacy_seed
def kmeans2(data, k, iter=10, thresh=1e-5, minit="random", missing="warn", check_finite=True, *, rng=None):
    """Classify a set of observations into k clusters using the k-means algorithm.

    Runs exactly ``iter`` Lloyd iterations (assign every observation to its nearest
    centroid, move each centroid to the mean of its members) from the chosen
    initialisation.  The loop runs in ``data``'s array library, on its device.

    Parameters
    ----------
    data : array_like
        M-by-N observations, or a length-M array of 1-D observations.
    k : int or array_like
        Number of clusters, or (with ``minit='matrix'`` or any array of more than one
        element) the k-by-N initial centroids.  A non-integer number is converted with a
        warning.
    iter : int, optional
        Number of k-means iterations.  Default 10.
    thresh : float, optional
        Not used (kept for SciPy compatibility).
    minit : {'random', 'points', '++', 'k-means||', 'matrix'}, optional
        'random': Gaussian draws with the data's mean and covariance; 'points': k distinct
        observations at random; '++': k-means++ seeding (k passes over the data);
        'k-means||': k-means|| seeding (Bahmani et al. 2012; 6 passes over the data, for
        large or distributed data; an xpcluster addition); 'matrix': ``k`` is the initial
        codebook.
    missing : {'warn', 'raise'}, optional
        What to do when a cluster ends up empty (it keeps its previous centroid):
        ``UserWarning`` or :class:`ClusterError`.
    check_finite : bool, optional
        Whether to check that the inputs contain only finite numbers.  Default: True.
    rng : {None, int, numpy.random.Generator}, optional
        Source of the host random draws, normalised with ``numpy.random.default_rng``.
        The legacy ``seed`` keyword is also accepted (SPEC-007 rules, as in SciPy); with
        neither, NumPy's global random state is used.

    Returns
    -------
    centroid : array
        k-by-N centroids after the last iteration, in ``data``'s namespace, device and
        float dtype.
    label : array of int32
        ``label[i]`` is the index of the centroid observation ``i`` was assigned to in the
        last iteration.

    Examples
    --------
    >>> import numpy as np
    >>> from xpcluster.vq import kmeans2
    >>> rng = np.random.default_rng(0)
    >>> z = np.concatenate([rng.normal([0, 6], 1, size=(45, 2)),
    ...                     rng.normal([6, 0], 1, size=(55, 2))])
    >>> centroid, label = kmeans2(z, 2, minit='++', rng=1)
    >>> np.bincount(label).tolist()
    [45, 55]
    """
    _refuse_bool_k(k, "k")
    n_iter = _count(iter, "iter")
    if n_iter < 1:
        raise ValueError(f"Invalid iter ({iter}), must be a positive integer.")
    if missing not in _MISSING_METHODS:
        raise ValueError(f"Unknown missing method {missing!r}")

    if _is_number(k):
        xp, device, (data,) = resolve(data)
        code_book = None
    else:
        xp, device, (data, code_book) = resolve(data, k)
    caps = capabilities_for(xp)
    checks = Checks(caps)
    data = _prepare(data, xp, checks, check_finite)
    if data.ndim == 1:
        d = 1
    elif data.ndim == 2:
        d = data.shape[1]
    else:
        raise ValueError("Input of rank > 2 is not supported.")
    if _size(data) < 1 or (code_book is not None and _size(code_book) < 1):
        raise ValueError("Empty input is not supported.")

    points = _as_2d(data, xp)
    if minit == "matrix" or (code_book is not None and _size(code_book) > 1):
        if code_book is None or data.ndim != code_book.ndim:
            raise ValueError("k array doesn't match data rank")
        if data.ndim > 1 and code_book.shape[1] != d:
            raise ValueError("k array doesn't match data dimension")
        _refuse_empty(points, xp, checks)  # rows not known yet (Dask): checked at compute
        init, nc = "matrix", code_book.shape[0]
        book = _as_2d(_prepare(code_book, xp, checks, check_finite, dtype=data.dtype), xp)
        s = range_scale(points, book, xp=xp, caps=caps)
        start = (scaled(book, s),)
    else:
        requested = k if code_book is None else _scalar(code_book, xp)
        nc = int(requested)
        if nc < 1:
            raise ValueError(f"Cannot ask kmeans2 for {nc} clusters (k was {requested})")
        if nc != requested:
            warnings.warn("k was not an integer, was converted.", stacklevel=3)
        if not isinstance(minit, str) or minit not in INIT_METHODS:
            raise ValueError(f"Unknown init method {minit!r}")
        init = minit
        points = caps.known_rows(points)  # the draws need the number of observations
        if points.shape[0] == 0:
            raise ValueError("Empty input is not supported.")
        draws = INIT_METHODS[minit][0](_rng.random_source(rng), points.shape[0], d, nc)
        start = tuple(_place(host, points, xp, caps) for host in draws)
        s = range_scale(points, xp=xp, caps=caps)

    run = caps.compiled(kmeans2_core, KMEANS2_STATIC)
    centroids, labels, any_empty, bad_start = run(
        scaled(points, s), start, init=init, k=nc, n_iter=n_iter, xp=xp, caps=caps, budget=memory_budget_bytes()
    )
    if init == "random":
        checks.add(bad_start, raise_error(np.linalg.LinAlgError(_NOT_POSITIVE_DEFINITE_MESSAGE)))
    if missing == "raise":
        checks.add(any_empty, raise_error(ClusterError(_EMPTY_CLUSTER_MESSAGE)))
    else:
        checks.add(any_empty, warn(_EMPTY_CLUSTER_MESSAGE, UserWarning, stacklevel=3))
    return checks.attach(_like_obs(unscaled(centroids, s), data, xp), labels)


_NOT_POSITIVE_DEFINITE_MESSAGE = (
    "Matrix is not positive definite: minit='random' draws from a Gaussian with the data's "
    "covariance, and this data's covariance is singular (a constant feature, or features that "
    "are exact combinations of others); use minit='points' or '++'"
)
