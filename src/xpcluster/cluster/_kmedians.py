"""K-medians: Lloyd's algorithm for the L1 objective (Manhattan distances, component-wise medians)."""
from __future__ import annotations

import math
import warnings
from typing import Any, Callable

import array_api_compat
import numpy as np

from .. import _rng
from .._backends import capabilities_for
from .._checks import Checks
from .._core.assign import rows_per_chunk
from .._core.chunks import memory_budget, memory_budget_bytes
from .._core.dtypes import to_compute_dtype, widest_float
from .._core.scale import is_unit, range_scale, scaled, unscaled_checked
from .._core.init import draw_kmeans_plusplus, draw_points
from .._dispatch import resolve
from .._placement import place_draw
from ._kmeans import unscaled_number
from ._base import (
    scaled_distances,
    BaseEstimator,
    check_int,
    check_n_init,
    check_real,
    clusterer_tags,
    fitted_input,
    invalid_parameter,
    refuse_non_finite,
    refuse_traced,
    validate_data,
)

__all__ = ["KMedians"]

_INIT_NAMES = ("k-medians++", "random")


class KMedians(BaseEstimator):
    """K-medians clustering: minimise the sum of Manhattan (L1) distances to the centres.

    Lloyd's algorithm with the L1 objective: each observation goes to the centre with the
    least Manhattan distance (the lowest index on ties), then each centre moves to the
    component-wise median of its members.  Neither step can increase the objective
    ``sum_i |x_i - c_{label_i}|_1``.  The whole loop runs in the input's array library,
    on its device, in its compute dtype (float64 and float32 as given, in native byte
    order; integers in the device's widest float; half precision in float32), on the data
    scaled by a power of two into that dtype's safe range, so that float32 data near 1e30,
    1e-30 or its maximum is clustered as float64 data is.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of clusters (centres).
    init : {'k-medians++', 'random'} or array of shape (n_clusters, n_features), default='k-medians++'
        'k-medians++': the first centre is an observation drawn uniformly, each next one an
        observation drawn with probability proportional to its L1 distance to the nearest
        centre chosen so far (D-sampling with the distance the objective uses, not its
        square).  'random': ``n_clusters`` distinct observations drawn uniformly.  An array:
        the initial centres (then a single run is made).
    n_init : 'auto' or int, default='auto'
        Number of runs from different initialisations; the run with the lowest inertia is
        kept.  'auto' is 10 for ``init='random'`` and 1 otherwise (as in scikit-learn).
    max_iter : int, default=300
        Most iterations (assignment + median update) of one run.
    tol : float, default=1e-4
        A run stops when the total L1 movement of the centres, ``sum |C_new - C_old|``,
        is at most ``tol`` times the data's mean absolute deviation (averaged over the
        features), or as soon as an assignment repeats the previous one.  ``tol=0`` stops
        only when nothing moves any more.
    random_state : None, int, numpy.random.RandomState or numpy.random.Generator, default=None
        Source of the random draws, which are made on the host with NumPy (so every
        backend gives the NumPy answer for a given seed).  None uses NumPy's global state.

    Attributes
    ----------
    cluster_centers_ : array of shape (n_clusters, n_features)
        The centres, in the namespace, on the device and in the compute dtype of ``X``.
    labels_ : array of int32, shape (n_samples,)
        Index of each training observation's nearest centre (L1).
    inertia_ : float
        Sum of the L1 distances of the training observations to their centres (a Python
        float, summed in the device's widest float).
    n_iter_ : int
        Iterations of the kept run.
    n_features_in_ : int
        Number of features seen in ``fit``.

    Notes
    -----
    *Medians.* For a cluster with an even number of members the median of a feature is the
    mean of its two middle values, as :func:`numpy.median` computes it.  Medians are found
    by selection, not by sorting every iteration: each feature is sorted once per ``fit``;
    each iteration lays the labels out in that order, counts the members of every cluster
    in blocks of about sqrt(n_samples) consecutive values (one ``bincount``), and finds the
    two middle members of each cluster within the one block that holds them -- O(n_samples
    * n_features) work per iteration.  A cluster left without members keeps its previous
    centre.

    *Memory.* ``fit`` keeps each feature's sorting permutation (n_samples * n_features
    indices, int32 below 2**31 rows).  The assignment processes row blocks whose
    (n_clusters, rows) temporaries fit the memory budget (:func:`xpcluster.memory_budget`),
    and the median update works on groups of features whose O(n_samples) temporaries do.

    *Lazy and compiled backends.* ``fit`` needs one value per iteration to know when to stop:
    on JAX the loop is one compiled ``lax.while_loop`` (``fit`` itself runs eagerly, not
    inside a user's ``jax.jit``); on Dask the loop state is persisted and a small flag is
    computed each iteration, and the features are sorted once, one column at a time in a
    single block.  ``predict`` and ``transform`` compute nothing on Dask and run inside
    ``jax.jit``; ``score`` returns a float, so it computes.

    Examples
    --------
    >>> import numpy as np
    >>> from xpcluster.cluster import KMedians
    >>> X = np.array([[1.0, 2.0], [1.0, 4.0], [1.0, 0.0],
    ...               [10.0, 2.0], [10.0, 4.0], [10.0, 0.0]])
    >>> km = KMedians(n_clusters=2, random_state=0).fit(X)
    >>> np.sort(km.cluster_centers_, axis=0)
    array([[ 1.,  2.],
           [10.,  2.]])
    >>> km.inertia_
    8.0
    >>> km.predict(np.array([[0.0, 0.0], [12.0, 3.0]])).tolist() == km.labels_[[2, 4]].tolist()
    True
    """

    def __init__(self, n_clusters=8, *, init="k-medians++", n_init="auto", max_iter=300, tol=1e-4, random_state=None):
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def __sklearn_tags__(self) -> Any:
        return clusterer_tags()

    # -- fitting ---------------------------------------------------------------------

    def fit(self, X, y=None):
        """Compute k-medians clustering.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
            Training observations (any Array API library; integers become the default float).
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        self : KMedians
            The fitted estimator.
        """
        k = check_int(self, "n_clusters", self.n_clusters, 1)
        max_iter = check_int(self, "max_iter", self.max_iter, 1)
        tol = check_real(self, "tol", self.tol, 0.0)
        init_is_array = not isinstance(self.init, str)
        if not init_is_array and self.init not in _INIT_NAMES:
            raise invalid_parameter(
                f"The 'init' parameter of KMedians must be a str among {list(_INIT_NAMES)} or an "
                f"array of shape (n_clusters, n_features). Got {self.init!r} instead."
            )
        n_init = check_n_init(self, "other" if init_is_array else self.init)
        if init_is_array and n_init != 1:
            warnings.warn(
                "Explicit initial center position passed: performing only one init in "
                f"KMedians instead of n_init={n_init}.",
                RuntimeWarning,
                stacklevel=2,
            )
            n_init = 1
        rng = _rng.random_source(self.random_state)

        xp, device, X = validate_data(self, X, reset=True)
        caps = capabilities_for(xp)
        checks = Checks(caps, now=True)
        refuse_traced(self, X, caps)
        X = caps.persist(caps.known_rows(X))
        n, d = X.shape
        if n < k:
            raise ValueError(f"n_samples={n} should be >= n_clusters={k}.")
        refuse_non_finite(X, xp=xp, caps=caps)

        if init_is_array:
            init = self.init
            if isinstance(init, np.ndarray) and not init.dtype.isnative:
                init = init.astype(init.dtype.newbyteorder("="))  # the same values, in native byte order
            _, _, (_, start) = resolve(X, init)  # a NumPy init is placed like X; other libraries refused
            if start.ndim != 2 or tuple(start.shape) != (k, d):
                raise ValueError(
                    f"The shape of the initial centers {tuple(start.shape)} does not match "
                    f"the number of clusters {k} and features {d}: expected {(k, d)}."
                )
            if not (xp.isdtype(start.dtype, "real floating") or xp.isdtype(start.dtype, "integral")
                    or start.dtype == xp.bool):
                raise ValueError(f"init must hold real numbers, got dtype {start.dtype}")
            start = to_compute_dtype(start, xp, checks, dtype=X.dtype, name="init")
            refuse_non_finite(start, xp=xp, caps=caps, name="init")
        else:
            start = None
        # The runs compute on the data (and given centres) scaled by a power of two into the
        # dtype's safe range -- nothing is multiplied for data inside it; the medians and the
        # relative threshold commute with it -- and the results are unscaled.
        s = range_scale(X, start, xp=xp, caps=caps, now=True)
        if not is_unit(s):
            X = caps.persist(scaled(X, s))
        if start is not None:
            method, draws = "array", (xp.reshape(scaled(start, s), (1, k, d)),)
        else:
            method = self.init
            draw = draw_kmeans_plusplus if method == "k-medians++" else draw_points
            runs = [draw(rng, n, d, k) for _ in range(n_init)]
            draws = tuple(place_draw(np.stack(parts), X, xp, caps) for parts in zip(*runs))

        run = caps.compiled(_kmedians_core, _KMEDIANS_STATIC)
        centres, labels, inertia, n_iter = run(
            X, draws, tol=tol, init=method, k=k, max_iter=max_iter, xp=xp, caps=caps, budget=memory_budget_bytes()
        )
        centres, labels, inertia, n_iter = (caps.persist(a) for a in (centres, labels, inertia, n_iter))
        self.cluster_centers_ = caps.persist(
            unscaled_checked(centres, s, 1, xp=xp, checks=checks, what="a cluster centre")
        )
        self.labels_ = labels
        self.inertia_ = unscaled_number(_read_float(inertia), _scale_value(s), 1, what="inertia_")
        self.n_iter_ = int(n_iter)
        return self

    def fit_predict(self, X, y=None):
        """Fit and return the cluster of every training observation (``labels_``).

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
            Training observations.
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        labels : array of int32, shape (n_samples,)
            Index of each observation's centre.
        """
        return self.fit(X).labels_

    # -- using a fitted model ----------------------------------------------------------

    def predict(self, X):
        """Index of the centre nearest (in L1 distance) to each observation.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
            Observations, in the library and on the device of the fitted centres.

        Returns
        -------
        labels : array of int32, shape (n_samples,)
            Lowest index on ties.
        """
        xp, caps, checks, X, centres = fitted_input(self, X)
        s = range_scale(X, centres, xp=xp, caps=caps)
        labels, _ = caps.compiled(_predict_core, _USE_STATIC)(
            scaled(X, s), scaled(centres, s), xp=xp, caps=caps, budget=memory_budget_bytes()
        )
        (labels,) = checks.attach(labels)
        return labels

    def transform(self, X):
        """L1 (Manhattan) distances of every observation to every centre.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
            Observations.

        Returns
        -------
        distances : array of shape (n_samples, n_clusters)
            ``distances[i, j] = sum |X[i] - cluster_centers_[j]|``, computed in row blocks.
        """
        return scaled_distances(_transform_core, _USE_STATIC, fitted_input(self, X))

    def fit_transform(self, X, y=None):
        """Fit, then return the L1 distances of the training observations to the centres.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
            Training observations.
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        distances : array of shape (n_samples, n_clusters)
            See :meth:`transform`.
        """
        return self.fit(X).transform(X)

    def score(self, X, y=None):
        """Opposite of the L1 objective of ``X`` (larger is better).

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
            Observations.
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        score : float
            ``-sum_i min_j |X[i] - cluster_centers_[j]|_1`` (a value read to the host: a
            compute on Dask).  ``score(X_train) == -inertia_``.
        """
        xp, caps, checks, X, centres = fitted_input(self, X)
        s = range_scale(X, centres, xp=xp, caps=caps, now=True)
        _, distances = caps.compiled(_predict_core, _USE_STATIC)(
            scaled(X, s), scaled(centres, s), xp=xp, caps=caps, budget=memory_budget_bytes()
        )
        wide = widest_float(xp, array_api_compat.device(distances))
        (total,) = checks.attach(xp.sum(xp.astype(distances, wide)))
        return -unscaled_number(_read_float(total), _scale_value(s), 1, what="the score")


def _read_float(a: Any) -> float:
    """A 0-d array's value on the host (a compute on Dask)."""
    return float(a)


def _scale_value(s: Any) -> float:
    return 1.0 if is_unit(s) else _read_float(s)


# -- numeric cores (standard-only; compiled on backends that compile) ----------------------

_KMEDIANS_STATIC = ("tol", "init", "k", "max_iter", "xp", "caps", "budget")
#: A later run replaces the best one only if its inertia is lower by this fraction, so that
#: runs ending in the same clustering (equal up to rounding) pick the same one on every backend.
_BETTER_BY = 1e-6
_USE_STATIC = ("xp", "caps", "budget")


def _kmedians_core(
    x: Any, draws: tuple[Any, ...], *, tol: float, init: str, k: int, max_iter: int, xp: Any, caps: Any, budget: int
):
    """Every run (one per row of the draws), keeping the lowest inertia (an earlier run wins unless beaten by a relative 1e-6).

    Returns ``(centres, labels, inertia, n_iter)`` of the kept run.
    """
    with memory_budget(budget):
        wide = widest_float(xp, array_api_compat.device(x))
        threshold = tol * xp.mean(xp.mean(xp.abs(x - xp.mean(x, axis=0)), axis=0))
        order = _on_views(_value_order, x, xp=xp, caps=caps)  # the same for every run and iteration

        def start_of(r: Any) -> Any:
            if init == "array":
                return draws[0][r, ...]
            if init == "random":
                return caps.take_rows(x, draws[0][r, :])
            return _build_kmedians_plusplus(x, (draws[0][r, :], draws[1][r, :]), k, xp=xp, caps=caps)

        def run(r: Any, best: tuple[Any, Any, Any, Any]) -> tuple[Any, Any, Any, Any]:
            centres, labels, distances, n_iter = _lloyd_l1(
                x, order, start_of(r), threshold, max_iter=max_iter, xp=xp, caps=caps
            )
            inertia = xp.sum(xp.astype(distances, wide))
            better = inertia < best[2] * (1 - _BETTER_BY)
            return (
                xp.where(better, centres, best[0]),
                xp.where(better, labels, best[1]),
                xp.where(better, inertia, best[2]),
                xp.where(better, n_iter, best[3]),
            )

        # One traced run for all of them (a compiler sees the loop body once).
        nothing = (
            xp.zeros((k, x.shape[1]), dtype=x.dtype, device=array_api_compat.device(x)),
            xp.zeros_like(x[:, 0], dtype=xp.int32),
            xp.asarray(math.inf, dtype=wide, device=array_api_compat.device(x)),
            xp.zeros_like(x[0, 0], dtype=xp.int32),
        )
        return caps.fori_loop(0, draws[0].shape[0], run, nothing)


def _lloyd_l1(x: Any, order: Any, start: Any, threshold: Any, *, max_iter: int, xp: Any, caps: Any):
    """One run: iterate until the assignment repeats, the centres move by at most
    ``threshold`` (total L1), or ``max_iter``; then label with the final centres.

    ``order`` is :func:`_value_order` of ``x``.  Returns ``(centres, labels, distances, n_iter)``.
    """

    def keep_going(state: tuple[Any, ...]) -> Any:
        return (state[2] < max_iter) & ~state[3]

    def step(state: tuple[Any, ...]) -> tuple[Any, ...]:
        centres, previous_labels, n_iter, _ = state
        labels, _, counts = _assign_l1(x, centres, xp=xp, caps=caps)
        new = _on_views(_segment_medians, x, order, labels, counts, centres, xp=xp, caps=caps)
        repeated = xp.all(labels == previous_labels)
        moved = xp.sum(xp.abs(new - centres))
        return new, labels, n_iter + 1, repeated | (moved <= threshold)

    no_labels = xp.zeros_like(x[:, 0], dtype=xp.int32) - 1
    zero = xp.zeros_like(start[0, 0], dtype=xp.int32)
    state = (start, no_labels, zero, xp.zeros_like(zero, dtype=xp.bool))
    centres, _, n_iter, _ = caps.while_loop(keep_going, step, state)
    labels, distances, _ = _assign_l1(x, centres, xp=xp, caps=caps)
    return centres, labels, distances, n_iter


def _rows_per_block(k: int, d: int, itemsize: int) -> int:
    """Rows whose (rows, k, d) difference and absolute-value temporaries would fit the budget:
    a conservative block for ``transform`` and k-medians++ (distances to one point, ``k=1``)."""
    return max(1, memory_budget_bytes() // (itemsize * (2 * k * d + 2 * k + d) + 16))


def _assign_l1(x: Any, centres: Any, *, xp: Any, caps: Any) -> tuple[Any, Any, Any]:
    """``(labels int32, L1 distance to the chosen centre, members per centre)``, in row blocks."""
    caps = caps.for_data(x)
    k, d = centres.shape
    # About four (k, rows) temporaries live at once (sum, difference, absolute value, the
    # comparisons), where a product pass holds one score block: a quarter of the backend's
    # preferred block size keeps them together in cache.
    preferred = None if caps.block_bytes is None else max(1, caps.block_bytes // _L1_BLOCK_SHARE)
    rows = rows_per_chunk(k, d, xp.finfo(x.dtype).bits // 8, preferred, caps.concurrent_blocks())
    map_rows = caps.parallel_map_row_chunks or caps.map_row_chunks
    (labels, distances), (counts,) = map_rows(x, rows, _l1_assign_block, centres)
    return labels, distances, counts


def _l1_distances_by_centre(block: Any, centres: Any) -> Any:
    """``(k, rows)``: the L1 distance of every row of ``block`` to every centre.

    One feature at a time, so the largest temporaries are (k, rows): each term is a
    contiguous column against k numbers, where a (rows, k, d) broadcast would go through
    memory several times and end in a reduction over a short axis.
    """
    bxp = array_api_compat.array_namespace(block)
    total = None
    for j in range(block.shape[1]):
        column = bxp.asarray(block[:, j], copy=True)  # contiguous, for the k passes over it
        if total is None:
            total = bxp.abs(column[None, :] - centres[:, j : j + 1])
        else:  # an unnamed term: NumPy adds into it in place
            total = total + bxp.abs(column[None, :] - centres[:, j : j + 1])
    return total


def _l1_assign_block(block: Any, centres: Any) -> tuple[tuple[Any, Any], tuple[Any]]:
    bxp = array_api_compat.array_namespace(block)
    bcaps = capabilities_for(bxp)
    by_centre = _l1_distances_by_centre(block, centres)
    k = centres.shape[0]
    nearest = bxp.min(by_centre, axis=0)
    if k > _FEW_CENTRES:
        labels = bcaps.nearest_index(bxp.permute_dims(by_centre, (1, 0)))
    else:
        # The lowest index reaching the minimum, from k contiguous comparisons (an argmin
        # over the leading axis walks the (k, rows) block column by column).
        labels = bxp.full(nearest.shape, k - 1, dtype=bxp.int32, device=array_api_compat.device(block))
        for j in range(k - 2, -1, -1):
            at_j = bxp.asarray(j, dtype=bxp.int32, device=array_api_compat.device(block))
            labels = bxp.where(by_centre[j, :] == nearest, at_j, labels)
    counts = bcaps.bincount(labels, k)
    return (labels, nearest), (counts,)


#: The assignment's (k, rows) temporaries take this share of the backend's block size.
_L1_BLOCK_SHARE = 4

#: Up to this many centres the assignment finds the nearest one by k comparisons with the
#: minimum; beyond it by the backend's ``nearest_index``.
_FEW_CENTRES = 32


def _l1_transform_block(block: Any, centres: Any) -> tuple[tuple[Any], tuple[()]]:
    bxp = array_api_compat.array_namespace(block)
    return (bxp.permute_dims(_l1_distances_by_centre(block, centres), (1, 0)),), ()


def _on_views(fn: Callable[..., Any], *arrays: Any, xp: Any, caps: Any) -> Any:
    """``fn(*arrays, xp=, caps=)``, through the backend's faster library for these arrays
    where it has one (``call_on_views``)."""
    call = caps.for_data(arrays[0]).call_on_views
    if call is None:
        return fn(*arrays, xp=xp, caps=caps)

    def in_own_namespace(*views: Any) -> Any:
        own = array_api_compat.array_namespace(*views)
        return fn(*views, xp=own, caps=capabilities_for(own))

    return call(in_own_namespace, *arrays)


def _value_order(x: Any, *, xp: Any, caps: Any) -> Any:
    """``(d * n,)``: for each feature in turn, the rows in ascending order of its values
    (int32 when the row count allows).  One sort per feature column, once per fit."""
    n, d = x.shape
    index = xp.int32 if n < 2**31 else xp.int64
    return xp.concat([xp.astype(xp.argsort(x[:, j], stable=False), index) for j in range(d)])


def _median_block(n: int) -> int:
    """Values per counting block: the power of two nearest sqrt(n) (at least 16), which
    balances the (features, n / block, k) block counts against the (features, 2k, block)
    windows searched in them."""
    return 1 << max(4, round(math.log2(max(n, 1)) / 2))


def _segment_medians(x: Any, order: Any, labels: Any, counts: Any, previous: Any, *, xp: Any, caps: Any) -> Any:
    """Component-wise median of each cluster's members; empty clusters keep ``previous``.

    Cluster ``j``'s median of a feature is the mean of its members' values of ranks
    ``(counts[j] - 1) // 2`` and ``counts[j] // 2`` (the same one for odd counts) among
    themselves.  In the feature's value order (``order``) the members of ``j`` are the
    positions holding label ``j``; the member of rank ``r`` is found by selection: counts of
    each label in consecutive blocks of positions (one ``bincount``) locate the block that
    holds it, and a cumulative count inside that one block its position.
    """
    n, d = x.shape
    k = previous.shape[0]
    device = array_api_compat.device(x)
    index = xp.__array_namespace_info__().default_dtypes(device=device)["indexing"]
    counts = xp.astype(counts, index)
    ranks = xp.concat([(counts - 1) // 2, counts // 2])  # (2k,): lower, then upper middle
    targets = xp.concat([xp.arange(k, dtype=index, device=device)] * 2)
    label_dtype = xp.int8 if k <= 127 else xp.int16 if k <= 2**15 - 1 else xp.int32
    small_labels = xp.astype(labels, label_dtype)
    size = _median_block(n)
    n_blocks = -(-n // size)
    block_base = xp.astype((xp.arange(n, dtype=index, device=device) // size) * k, index)
    # Features go in groups whose (group, n) temporaries (labels in value order, their
    # block ids: about 4 index-sized arrays) fit the memory budget.
    group = max(1, min(d, memory_budget_bytes() // (4 * n * (xp.iinfo(index).bits // 8) + 1)))
    parts = []
    for first in range(0, d, group):
        g = min(group, d - first)
        parts.append(
            _group_middles(
                x, order[first * n : (first + g) * n], small_labels, ranks, targets, block_base,
                first=first, g=g, k=k, size=size, n_blocks=n_blocks, index=index, xp=xp, caps=caps,
            )
        )
    middles = parts[0] if len(parts) == 1 else xp.concat(parts, axis=1)  # (2k, d)
    medians = (middles[:k, :] + middles[k:, :]) / 2
    return xp.where((counts > 0)[:, None], medians, previous)


def _group_middles(
    x: Any, order: Any, labels: Any, ranks: Any, targets: Any, block_base: Any, *,
    first: int, g: int, k: int, size: int, n_blocks: int, index: Any, xp: Any, caps: Any,
) -> Any:
    """``(2k, g)``: for features ``first .. first + g - 1``, the value of the member of
    cluster ``targets[t]`` of rank ``ranks[t]`` among its members (any value where the
    cluster is empty)."""
    n = x.shape[0]
    device = array_api_compat.device(x)
    t = targets.shape[0]
    features = xp.arange(g, dtype=index, device=device)[:, None]  # (g, 1)
    in_order = xp.reshape(xp.take(labels, order), (g, n))  # labels, by ascending value per feature
    block_ids = (features * (n_blocks * k) + block_base[None, :]) + in_order  # promoted to the index dtype
    per_block = xp.reshape(xp.astype(caps.bincount(xp.reshape(block_ids, (-1,)), g * n_blocks * k), index), (g, n_blocks, k))
    # Block of each target: the number of blocks before the one where its cluster's
    # cumulative count first exceeds its rank.
    through = xp.take(xp.cumulative_sum(per_block, axis=1), targets, axis=2)  # (g, n_blocks, t)
    block = xp.clip(xp.sum(xp.astype(through <= ranks, index), axis=1), 0, n_blocks - 1)  # (g, t)
    before = through - xp.take(per_block, targets, axis=2)  # members in earlier blocks
    cell = (features * n_blocks + block) * t + xp.arange(t, dtype=index, device=device)[None, :]
    rest = ranks[None, :] - xp.reshape(xp.take(xp.reshape(before, (-1,)), xp.reshape(cell, (-1,))), (g, t))
    # Inside that block: the position of the member of rank ``rest``.
    window = (block * size)[:, :, None] + xp.arange(size, dtype=index, device=device)  # (g, t, size)
    inside = window < n
    window = xp.where(inside, window, n - 1)
    window_labels = xp.take(xp.reshape(in_order, (-1,)), xp.reshape(features[:, :, None] * n + window, (-1,)))
    hits = (xp.reshape(window_labels, (g, t, size)) == xp.astype(targets, labels.dtype)[None, :, None]) & inside
    seen = xp.cumulative_sum(xp.astype(hits, index), axis=2)
    position = xp.clip(block * size + xp.sum(xp.astype(seen <= rest[:, :, None], index), axis=2), 0, n - 1)
    rows = xp.take(order, xp.reshape(features * n + position, (-1,)))  # (g * t,) observation of each target
    picked = xp.reshape(xp.take(x, xp.astype(rows, index), axis=0), (-1,))  # those (g * t) rows, flat
    own = xp.reshape(xp.arange(g * t, dtype=index, device=device), (g, t)) * x.shape[1] + (first + features)
    own = xp.reshape(own, (-1,))  # row a * t + i's entry of feature first + a
    return xp.permute_dims(xp.reshape(xp.take(picked, own), (g, t)), (1, 0))


def _build_kmedians_plusplus(x: Any, draws: tuple[Any, Any], k: int, *, xp: Any, caps: Any) -> Any:
    """k-medians++: D-sampling with L1 distances (one O(n*d) pass per centre).

    ``draws`` are the first pick (1,) and ``k`` uniforms (entry 0 unused); each next centre
    is the first observation whose cumulative share of the L1 distances to the nearest
    centre so far reaches its uniform.
    """
    first, thresholds = draws
    n, d = x.shape
    wide = widest_float(xp, array_api_compat.device(x))
    positions = xp.arange(k, dtype=first.dtype, device=array_api_compat.device(x))
    picks = xp.zeros_like(positions) + first
    rows = _rows_per_block(1, d, xp.finfo(wide).bits // 8)

    def pick_next(i: Any, state: tuple[Any, Any]) -> tuple[Any, Any]:
        picks, nearest = state
        previous = xp.astype(caps.take_rows(x, xp.reshape(picks[i - 1], (1,))), wide)
        (distances,), _ = caps.map_row_chunks(x, rows, _l1_to_point_block, previous)
        nearest = xp.minimum(nearest, distances)
        cumulative = xp.cumulative_sum(nearest / xp.sum(nearest))
        pick = xp.count_nonzero(cumulative < xp.astype(thresholds[i], wide))
        # Rounding can leave the last cumulative value a hair below the uniform draw.
        pick = xp.clip(xp.astype(pick, picks.dtype), 0, n - 1)
        return xp.where(positions == i, pick, picks), nearest

    nearest = xp.full_like(x[:, 0], math.inf, dtype=wide)
    picks, _ = caps.fori_loop(1, k, pick_next, (picks, nearest))
    return caps.take_rows(x, picks)


def _l1_to_point_block(block: Any, point: Any) -> tuple[tuple[Any], tuple[()]]:
    bxp = array_api_compat.array_namespace(block)
    return (bxp.sum(bxp.abs(bxp.astype(block, point.dtype) - point), axis=1),), ()


def _predict_core(x: Any, centres: Any, *, xp: Any, caps: Any, budget: int) -> tuple[Any, Any]:
    with memory_budget(budget):
        labels, distances, _ = _assign_l1(x, centres, xp=xp, caps=caps)
        return labels, distances


def _transform_core(x: Any, centres: Any, *, xp: Any, caps: Any, budget: int) -> Any:
    with memory_budget(budget):
        k, d = centres.shape
        rows = _rows_per_block(k, d, xp.finfo(x.dtype).bits // 8)
        (distances,), _ = caps.map_row_chunks(x, rows, _l1_transform_block, centres)
        return distances
