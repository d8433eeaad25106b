"""MiniBatchKMeans: scikit-learn's mini-batch k-means on every Array API backend.

Each step draws a batch of rows (uniforms drawn on the host in scikit-learn's order, located
in the cdf of the sample weights and gathered on the data's device), assigns it, and moves
every centre towards its batch members with a per-centre learning rate ``1 / n_k`` (``n_k``
the weight it has received so far), then gives centres that receive too little a random
batch row.  One step is one compiled function (``minibatch_step_core``), followed by a
second (``reassign_core``) only when a centre is to be moved; the loop over steps and the
early-stopping rule run on the host, reading the batch inertia of each step.
"""
from __future__ import annotations

import math
import warnings
from typing import Any

import array_api_compat
import numpy as np

from .. import _rng
from .._backends import capabilities_for
from .._checks import Checks
from .._core.assign import assign_labels, mean_feature_variance
from .._core.chunks import memory_budget, memory_budget_bytes
from .._core.dtypes import widest_float
from .._core.scale import range_scale, scaled, unscaled_checked
from .._placement import place_draw
from ._base import (
    BaseEstimator,
    check_bool,
    check_int,
    check_real,
    check_sample_weight,
    refuse_non_finite,
    validate_data,
)
from ._kmeans import (
    PREDICT_STATIC,
    SEED_STATIC,
    _as_centers,
    _KMeansMixin,
    _materialise,
    _read_number,
    _scaled_data,
    draw_seeding,
    scale_value,
    score_core,
    seed_core,
    unscaled_number,
)

__all__ = ["MiniBatchKMeans"]

#: Keyword arguments of the compiled step functions that are compile-time constants.
STEP_STATIC = ("reassign", "limit", "xp", "caps", "budget")
REASSIGN_STATIC = ("limit", "xp", "caps", "budget")
CHOICE_STATIC = ("k", "xp", "caps")


def _batch_rows(data: Any, pick: Any, cdf: Any, *, xp: Any, caps: Any, dense: bool = False) -> Any:
    """The rows of ``data`` a batch draw selects: ``pick`` is None (all of ``data``:
    ``partial_fit``), row indices (``cdf`` None), or uniforms located in ``cdf``, the
    cumulative normalised sample weights (NumPy's ``choice(n, m, p=weights / sum)``).
    Rows of sparse data stay sparse unless ``dense`` (centres made of them)."""
    take = caps.take_rows if dense else caps.subset_rows
    if pick is None:
        return data
    if cdf is None:
        return take(data, pick)
    # side="right": a row of weight 0 spans an empty interval of the cdf and is never drawn.
    rows = xp.searchsorted(cdf, pick, side="right")  # >= 0; past the end only at the cdf's rounding edge
    # (a minimum with a bound array: far cheaper per step than array-api-compat's clip)
    return take(data, xp.minimum(rows, xp.full_like(rows[:1], data.shape[0] - 1)))


def _centres_to_reassign(total: Any, ratio: Any, limit: int, *, xp: Any) -> Any:
    """scikit-learn's choice of centres to reassign: those whose weight is below ``ratio``
    times the largest, at most ``limit`` (half the batch) of them, the lightest first."""
    k = total.shape[0]
    light = total < xp.astype(ratio, total.dtype) * xp.max(total)
    # Rank of each centre by weight (ties by index): a k-by-k comparison, k is small.
    ids = xp.arange(k, device=array_api_compat.device(total))
    before = (total[None, :] < total[:, None]) | ((total[None, :] == total[:, None]) & (ids[None, :] < ids[:, None]))
    rank = xp.sum(xp.astype(before, xp.int32), axis=1)
    return light & (rank < limit)


def minibatch_step_core(data: Any, pick: Any, batch_weights: Any, cdf: Any, centers: Any, counts: Any, ratio: Any,
                        *, reassign: bool, limit: int, xp: Any, caps: Any, budget: int):
    """One mini-batch step, up to the reassignment of starved centres.

    Returns ``(centers, counts, batch_inertia, squared_shift, any_empty, n_reassign)``.
    The batch is :func:`_batch_rows` of ``data``, weighing ``batch_weights`` (None: 1 each).
    A centre with batch weight ``m`` moves to ``(c * n + sum of its members) / (n + m)``
    and its weight ``n`` grows by ``m``.  ``batch_inertia`` is measured before the move.
    With ``reassign``, ``n_reassign`` counts the centres :func:`reassign_core` is to move
    (0 otherwise): the host reads it to draw that many batch rows, as scikit-learn does.
    """
    with memory_budget(budget):
        batch = _batch_rows(data, pick, cdf, xp=xp, caps=caps)
        result = assign_labels(batch, centers, xp=xp, caps=caps, with_sums=True, with_inertia=True,
                               weights=batch_weights)
        wide = counts.dtype
        mass = xp.astype(result.counts, wide)
        total = counts + mass
        has_members = mass > 0
        denominators = xp.where(has_members, total, xp.ones_like(total))
        # (c * n + sums) / (n + m), as the move c + (sums - m * c) / (n + m): the correction is
        # a small difference, so rounding does not build up over the steps for data far from
        # the origin (where c * n and sums are large and close).
        wide_centers = xp.astype(centers, wide)
        step = (xp.astype(result.sums, wide) - mass[:, None] * wide_centers) / denominators[:, None]
        moved = wide_centers + step
        new_centers = xp.where(has_members[:, None], xp.astype(moved, centers.dtype), centers)
        if reassign:
            chosen = _centres_to_reassign(total, ratio, limit, xp=xp)
            n_reassign = xp.sum(xp.astype(chosen, xp.int32))
        else:
            n_reassign = xp.zeros((), dtype=xp.int32, device=array_api_compat.device(total))
        shift = xp.sum((new_centers - centers) ** 2)
        return new_centers, total, result.inertia, shift, xp.any(total == 0), n_reassign


def reassign_core(data: Any, picks: Any, cdf: Any, before: Any, centers: Any, counts: Any, ratio: Any, *,
                  limit: int, xp: Any, caps: Any, budget: int):
    """The reassignment ending a step.  Returns ``(centers, counts, squared_shift, any_empty)``.

    The centres :func:`_centres_to_reassign` chooses (in index order) jump to the batch rows
    ``picks`` selects (:func:`_batch_rows`; ``limit`` of them, the host's draw padded) and
    take the smallest weight of the others, as scikit-learn does ("don't reset them too
    small, to avoid instant reassignment").  ``squared_shift`` is the whole step's move
    from ``before``, the centres the step started from.
    """
    with memory_budget(budget):
        replacements = _batch_rows(data, picks, cdf, xp=xp, caps=caps, dense=True)
        chosen = _centres_to_reassign(counts, ratio, limit, xp=xp)
        slot = xp.clip(xp.cumulative_sum(xp.astype(chosen, xp.int32)) - 1, 0, limit - 1)
        moved = xp.take(xp.astype(replacements, centers.dtype), slot, axis=0)
        centers = xp.where(chosen[:, None], moved, centers)
        lightest_kept = xp.min(xp.where(chosen, xp.full_like(counts, math.inf), counts))
        counts = xp.where(chosen, lightest_kept, counts)
        shift = xp.sum((centers - before) ** 2)
        return centers, counts, shift, xp.any(counts == 0)


def weighted_choice_round_core(p: Any, found: Any, n_found: Any, uniforms: Any, *, k: int, xp: Any, caps: Any):
    """One round of NumPy's ``choice(n, k, replace=False, p=p)``, on the device.

    NumPy locates ``k - n_found`` uniforms in the cdf of ``p`` (the rows found so far
    weighing 0), keeps the distinct rows in order of first appearance and repeats with
    fresh uniforms until it has ``k``.  ``uniforms`` holds this round's draws in front,
    padded to ``k``.  Returns ``(p, found, n_found)``: chosen rows weigh 0, ``found`` holds
    the rows in the order NumPy returns them."""
    n = p.shape[0]
    device = array_api_compat.device(p)
    cdf = xp.cumulative_sum(p)
    cdf = cdf / cdf[-1]
    new = xp.clip(xp.astype(xp.searchsorted(cdf, uniforms, side="right"), found.dtype), 0, n - 1)
    slots = xp.arange(k, device=device)
    valid = slots < (k - n_found)
    repeated = (new[None, :] == new[:, None]) & valid[None, :] & (slots[None, :] < slots[:, None])
    first = valid & ~xp.any(repeated, axis=1)
    position = n_found + xp.astype(xp.cumulative_sum(xp.astype(first, xp.int32)), n_found.dtype) - 1
    lands = (position[None, :] == xp.astype(slots, position.dtype)[:, None]) & first[None, :]
    landed = xp.sum(xp.where(lands, new[None, :], xp.zeros_like(new)[None, :]), axis=1)
    found = xp.where(xp.any(lands, axis=1), landed, found)
    rows = xp.arange(n, dtype=found.dtype, device=device)

    def drop(j: Any, p: Any) -> Any:  # one row at a time: O(n) memory, k is small
        return xp.where(first[j] & (rows == new[j]), xp.zeros_like(p), p)

    p = caps.fori_loop(0, k, drop, p)
    return p, found, n_found + xp.astype(xp.sum(xp.astype(first, xp.int32)), n_found.dtype)


def labels_inertia_core(x: Any, weights: Any, centers: Any, *, xp: Any, caps: Any, budget: int) -> tuple[Any, Any]:
    """Labels of ``x`` and their (weighted) inertia, in one pass."""
    with memory_budget(budget):
        result = assign_labels(x, centers, xp=xp, caps=caps, with_inertia=True, weights=weights)
        return result.labels, result.inertia


def _draw_rows(rng: Any, n: int, m: int) -> np.ndarray:
    """``m`` row indices in ``[0, n)``, uniformly with replacement (``randint``)."""
    if isinstance(rng, np.random.Generator):
        return np.asarray(rng.integers(0, n, size=m), dtype=np.int64)
    return np.asarray(rng.randint(0, n, size=m), dtype=np.int64)


def _unit_weights(weights: Any, x: Any, xp: Any) -> Any:
    """``weights``, or 1 for every row of ``x`` (``sample_weight=None``, as scikit-learn
    reads it): the draws that depend on the weights then do not depend on how they came."""
    if weights is not None:
        return weights
    return xp.ones((x.shape[0],), dtype=x.dtype, device=array_api_compat.device(x))


def _normalised(weights: Any, wide: Any, xp: Any) -> Any:
    """``weights / sum`` in their own dtype, then widened: scikit-learn's ``p``, which NumPy
    converts to float64 before its cumulative sum."""
    return xp.astype(weights / xp.sum(weights), wide)


class MiniBatchKMeans(_KMeansMixin, BaseEstimator):
    """Mini-batch k-means with scikit-learn's interface, in the data's own array library.

    Follows ``sklearn.cluster.MiniBatchKMeans``: seeding on a subsample (the best of
    ``n_init`` seedings on a validation subsample), then steps on random batches with a
    per-centre learning rate ``1 / n_k``, reassignment of starved centres, and early
    stopping on the smoothed batch inertia.  Data from PyTorch, JAX, CuPy, Dask or any
    Array API library stays in that library and on its device.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of clusters.
    init : {'k-means++', 'random', 'k-means||'}, callable or array of shape (n_clusters, n_features), default='k-means++'
        Seeding method, as :class:`KMeans`; it runs on ``init_size`` random rows.
    max_iter : int, default=100
        Maximum number of passes over the data (``max_iter * n_samples // batch_size`` steps).
    batch_size : int, default=1024
        Rows per batch.
    verbose : int, default=0
        When positive, print scikit-learn's progress lines: each seeding and its inertia,
        the mean batch inertia of each step, reassignments and why the steps stopped.
    compute_labels : bool, default=True
        Compute ``labels_`` and ``inertia_`` on the whole data once fitted.
    random_state : None, int, numpy.random.RandomState or numpy.random.Generator, default=None
        Source of the host random draws (subsamples, batches, reassignments, seeding).
    tol : float, default=0.0
        Stop when the squared move of the centres in one step, summed over centres, is at
        most ``tol`` times the mean variance of the features (0 disables this rule).
    max_no_improvement : int or None, default=10
        Stop after this many steps without improvement of the smoothed batch inertia
        (None disables this rule).
    init_size : int or None, default=None
        Rows drawn (with replacement) for each seeding and for the validation set that
        judges the seedings; default ``3 * batch_size``, or ``3 * n_clusters`` when that
        is fewer than ``n_clusters``; a given value below ``n_clusters`` becomes
        ``3 * n_clusters`` with a ``RuntimeWarning``; at most ``n_samples``.
    n_init : 'auto' or int, default='auto'
        Number of seedings tried; 'auto': 1 for 'k-means++', 'k-means||' and an array, 3
        for 'random' and a callable.
    reassignment_ratio : float, default=0.01
        Centres whose weight is below this fraction of the largest are given a random
        batch row (at every ``10 * n_clusters`` rows seen, and whenever a centre has none).

    Attributes
    ----------
    cluster_centers_ : array of shape (n_clusters, n_features)
        The centres, in ``X``'s namespace and device and its compute dtype (as
        :class:`KMeans`: float64 and float32 as given, integers in the device's widest
        float, half precision in float32).
    labels_ : array of int32, shape (n_samples,)
        Labels of the training data (when ``compute_labels``).
    inertia_ : float
        (Weighted) inertia of the training data (when ``compute_labels``; else the smoothed
        batch inertia scaled to the data): a Python float, finite also where it exceeds
        the range of float32 data.
    n_iter_ : int
        Passes over the data.
    n_steps_ : int
        Batches processed.
    n_features_in_ : int
        Number of features seen during ``fit``.

    Notes
    -----
    The random draws are scikit-learn's, in its order (batches as
    ``choice(n, batch_size, p=sample_weight / sum)``, the batch rows then weighing 1;
    seeding subsamples; ``init='random'`` as ``choice(init_size, n_clusters,
    replace=False, p=...)``; reassignments), so for NumPy input with an int or
    ``RandomState`` seed the fit follows scikit-learn's, and ``sample_weight=None`` draws
    what all-ones weights draw.  Where more than half a batch of centres is starved with
    equal weights, scikit-learn picks among the ties in NumPy's (unstable) ``argsort``
    order, here the lowest index first.
    Every step reads its batch inertia on the host for the early-stopping rule: on JAX one
    compiled step per batch; on Dask each step computes its batch (the rows it gathers
    from the persisted data), so Dask suits ``MiniBatchKMeans`` less than ``KMeans``.
    ``partial_fit`` uses the rows it is given as the batch; its first call seeds.

    Like :class:`KMeans`, every step computes on the data scaled by a power of two into
    the dtype's safe range (``fit`` scales once; each ``partial_fit`` call scales its batch
    with the current centres), so float32 data near 1e30, 1e-30 or its maximum is
    clustered as float64 clusters it.

    Examples
    --------
    >>> import numpy as np
    >>> from xpcluster.cluster import MiniBatchKMeans
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [4, 2], [4, 0], [4, 4],
    ...               [4, 5], [0, 1], [2, 2], [3, 2], [5, 5], [1, -1]])
    >>> km = MiniBatchKMeans(n_clusters=2, random_state=0, batch_size=6, n_init=3).fit(X)
    >>> km.predict(np.array([[0, 0], [4, 4]])).tolist()
    [1, 0]
    >>> km = MiniBatchKMeans(n_clusters=2, random_state=0, batch_size=6)
    >>> km = km.partial_fit(X[:6]).partial_fit(X[6:])
    >>> km.cluster_centers_.shape
    (2, 2)
    """

    def __init__(self, n_clusters: int = 8, *, init: Any = "k-means++", max_iter: int = 100, batch_size: int = 1024,
                 verbose: int = 0, compute_labels: bool = True, random_state: Any = None, tol: float = 0.0,
                 max_no_improvement: int | None = 10, init_size: int | None = None, n_init: Any = "auto",
                 reassignment_ratio: float = 0.01) -> None:
        self.n_clusters = n_clusters
        self.init = init
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.verbose = verbose
        self.compute_labels = compute_labels
        self.random_state = random_state
        self.tol = tol
        self.max_no_improvement = max_no_improvement
        self.init_size = init_size
        self.n_init = n_init
        self.reassignment_ratio = reassignment_ratio

    # ------------------------------------------------------------------ checks and sizes

    def _check_params(self) -> None:
        self._check_common_params()
        check_int(self, "batch_size", self.batch_size, 1)
        check_bool(self, "compute_labels", self.compute_labels)
        if self.max_no_improvement is not None:
            check_int(self, "max_no_improvement", self.max_no_improvement, 0)
        if self.init_size is not None:
            check_int(self, "init_size", self.init_size, 1)
        check_real(self, "reassignment_ratio", self.reassignment_ratio, 0.0)

    def _sizes(self, n: int, k: int) -> tuple[int, int]:
        """(batch size, seeding sample size) for ``n`` rows, by scikit-learn's rules: the
        batch is at most ``n``; ``init_size`` defaults to 3 batches (``3 * n_clusters``
        when that is fewer than ``n_clusters`` rows), a given one below ``n_clusters``
        becomes ``3 * n_clusters`` with scikit-learn's warning, and both are at most ``n``."""
        batch = min(int(self.batch_size), n)
        init_size = self.init_size
        if init_size is None:
            init_size = 3 * batch
            if init_size < k:
                init_size = 3 * k
        elif init_size < k:
            warnings.warn(f"init_size={init_size} should be larger than n_clusters={k}. Setting it to "
                          "min(3*n_clusters, n_samples)", RuntimeWarning, stacklevel=3)
            init_size = 3 * k
        return batch, min(int(init_size), n)

    def _reassign_due(self) -> bool:
        """scikit-learn's rule: every ``10 * n_clusters`` rows seen (counted in batches of
        the batch size fixed at the first fit or partial_fit), or when a centre has none."""
        self._n_since_last_reassign += self._batch_size
        if self._any_empty or self._n_since_last_reassign >= 10 * int(self.n_clusters):
            self._n_since_last_reassign = 0
            return True
        return False

    # ------------------------------------------------------------------ seeding

    def _given_centres(self, x: Any, k: int, *, xp: Any, caps: Any, checks: Any) -> Any:
        """The initial centres given as an array, validated like ``x`` (None for a str or a
        callable ``init``): they are part of the range the data is scaled from."""
        if isinstance(self.init, str) or callable(self.init):
            return None
        return _as_centers(self.init, x, k, xp=xp, caps=caps, what="init", checks=checks)

    def _seed(self, x: Any, weights: Any, k: int, init_size: int, rng: Any, s: Any, given: Any, *, xp: Any,
              caps: Any, checks: Any) -> Any:
        """Seeding as scikit-learn's ``_init_centroids`` does: on ``init_size`` rows drawn
        with ``randint`` when fewer than n (drawn for every ``init``, as there).

        ``x`` is the data in its own unit (a callable ``init`` sees it so); the seeding
        computes on it scaled by ``s`` and the centres come back scaled."""
        n = x.shape[0]
        if init_size < n:
            index = place_draw(_draw_rows(rng, n, init_size), x, xp, caps)
            if isinstance(self.init, str) or callable(self.init):
                x = caps.subset_rows(x, index)
                weights = None if weights is None else xp.take(weights, index, axis=0)
        if given is not None:
            name, draws = "array", (scaled(given, s),)
        elif isinstance(self.init, str) and self.init == "random":
            name, draws = "random", (self._weighted_distinct_rows(x, weights, k, rng, xp=xp, caps=caps),)
        else:
            name, draws = draw_seeding(self.init, x, weights, k, rng, xp=xp, caps=caps, checks=checks)
            if name == "array":
                draws = (scaled(draws[0], s),)
        return caps.compiled(seed_core, SEED_STATIC)(scaled(x, s), weights, draws, init=name, k=k, xp=xp, caps=caps,
                                                      budget=memory_budget_bytes())

    @staticmethod
    def _weighted_distinct_rows(x: Any, weights: Any, k: int, rng: Any, *, xp: Any, caps: Any) -> Any:
        """``init='random'``: scikit-learn's ``choice(n, k, replace=False, p=weights / sum)``
        (unit weights for None), with NumPy's draws, the weights staying on the device.

        NumPy's algorithm draws in rounds whose sizes depend on the rows already found, so
        each round reads one number (how many rows it found) on the host."""
        w = _unit_weights(weights, x, xp)
        if not caps.read_bool(xp.count_nonzero(w > 0) >= k):
            raise ValueError(f"init='random' needs at least n_clusters={k} samples of positive weight among "
                             f"the {x.shape[0]} rows it seeds from (see init_size); got fewer")
        # The widest float, as the uniforms are placed: the cdf is located in their dtype.
        p = _normalised(w, widest_float(xp, array_api_compat.device(x)), xp)
        found = place_draw(np.zeros(k, dtype=np.int64), x, xp, caps)
        n_found = xp.zeros((), dtype=found.dtype, device=array_api_compat.device(found))
        run = caps.compiled(weighted_choice_round_core, CHOICE_STATIC)
        have = 0
        while have < k:  # every round finds at least one row: at most k rounds
            draws = np.zeros(k)
            draws[: k - have] = _rng.draw_uniform(rng, k - have)
            p, found, n_found = _materialise(run(p, found, n_found, place_draw(draws, x, xp, caps), k=k, xp=xp,
                                                 caps=caps), caps, xp)
            have = int(_read_number(n_found))
        return found

    # ------------------------------------------------------------------ one step

    def _step(self, data: Any, pick: Any, batch_weights: Any, cdf: Any, host_pick: Any, rows: int, centers: Any,
              rng: Any, *, xp: Any, caps: Any):
        """One step on ``data`` from ``centers`` (both in one scale), with scikit-learn's
        draws: the reassignment draws ``choice(rows, n_reassign, replace=False)`` batch
        positions only when there is a centre to move.  ``host_pick`` is the host copy of
        the batch draw ``pick`` (None: the batch is ``data``).  Returns the new centres (in
        that scale), the batch inertia and the squared shift."""
        k = int(self.n_clusters)
        limit = min(k, rows // 2)  # scikit-learn moves at most half a batch of centres
        reassign = self._reassign_due() and self.reassignment_ratio > 0 and limit > 0
        device = array_api_compat.device(self._counts)
        ratio = xp.asarray(float(self.reassignment_ratio), dtype=self._counts.dtype, device=device)
        budget = memory_budget_bytes()
        step = caps.compiled(minibatch_step_core, STEP_STATIC)
        new_centers, counts, inertia, shift, any_empty, n_reassign = _materialise(
            step(data, pick, batch_weights, cdf, centers, self._counts, ratio, reassign=reassign, limit=limit,
                 xp=xp, caps=caps, budget=budget),
            caps, xp,
        )
        n_reassign = int(_read_number(n_reassign)) if reassign else 0
        if n_reassign:
            positions = np.asarray(rng.choice(rows, replace=False, size=n_reassign), dtype=np.int64)
            if self.verbose:
                print(f"[MiniBatchKMeans] Reassigning {n_reassign} cluster centers.")
            # Padded to a fixed length (the padding is never used) so that one compiled
            # function serves every count.
            positions = np.concatenate([positions, np.repeat(positions[:1], limit - n_reassign)])
            picks = positions if host_pick is None else host_pick[positions]
            move = caps.compiled(reassign_core, REASSIGN_STATIC)
            new_centers, counts, shift, any_empty = _materialise(
                move(data, place_draw(picks, data, xp, caps), cdf, centers, new_centers, counts, ratio, limit=limit,
                     xp=xp, caps=caps, budget=budget),
                caps, xp,
            )
        self._counts = counts
        self._any_empty = caps.read_bool(any_empty)
        return new_centers, inertia, shift

    def _start_state(self, like: Any, k: int, batch: int, xp: Any) -> None:
        device = array_api_compat.device(like)
        self._counts = xp.zeros((k,), dtype=widest_float(xp, device), device=device)
        self._n_since_last_reassign = 0
        self._batch_size = batch
        self._any_empty = True

    # ------------------------------------------------------------------ fit

    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> "MiniBatchKMeans":
        """Compute the centres on ``X`` by chunking it into mini-batches.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
            Training data, in any Array API library (or anything NumPy converts).
        y : None
            Ignored.
        sample_weight : array of shape (n_samples,) or float, optional
            Weight of each sample: batches are drawn with probability proportional to it
            (None: all weigh 1, with the same draws as all ones).

        Returns
        -------
        self : MiniBatchKMeans
            The fitted estimator.
        """
        self._check_params()
        xp, _, X = validate_data(self, X, reset=True)
        caps = capabilities_for(xp)
        checks = Checks(caps, now=True)
        x = caps.persist(caps.known_rows(X))
        n = x.shape[0]
        k = int(self.n_clusters)
        if n < k:
            raise ValueError(f"n_samples={n} should be >= n_clusters={k}.")
        refuse_non_finite(x, xp=xp, caps=caps)
        weights = check_sample_weight(sample_weight, x, xp=xp, caps=caps, checks=checks)
        batch, init_size = self._sizes(n, k)
        self._init_size = init_size  # scikit-learn's private attribute, which its tests read
        n_init = self._resolved_n_init(default=3)
        given = self._given_centres(x, k, xp=xp, caps=caps, checks=checks)
        # Everything below computes on the data scaled by a power of two into the dtype's safe
        # range (nothing is multiplied for data inside it): tol is relative to the variance
        # of what the steps see, and the centres and inertia are unscaled at the end.
        s = range_scale(x, given, xp=xp, caps=caps, now=True)
        factor = scale_value(s)
        xs = _scaled_data(x, s, caps)
        tol = _read_number(mean_feature_variance(xs, xp=xp)) * float(self.tol) if self.tol > 0 else 0.0
        rng = _rng.random_source(self.random_state)

        # Seedings, each on its own subsample, judged on one validation subsample.
        valid_index = place_draw(_draw_rows(rng, n, init_size), x, xp, caps)
        x_valid = caps.subset_rows(xs, valid_index)
        w_valid = None if weights is None else xp.take(weights, valid_index, axis=0)
        best, best_inertia = None, math.inf
        for i in range(n_init):
            if self.verbose:
                print(f"Init {i + 1}/{n_init} with method {self.init}")
            centers = self._seed(x, weights, k, init_size, rng, s, given, xp=xp, caps=caps, checks=checks)
            inertia = _read_number(caps.compiled(score_core, PREDICT_STATIC)(x_valid, w_valid, centers, xp=xp, caps=caps,
                                                                       budget=memory_budget_bytes()))
            if self.verbose:
                print(f"Inertia for init {i + 1}/{n_init}: {unscaled_number(inertia, factor, 2)}")
            if best is None or inertia < best_inertia:
                best, best_inertia = centers, inertia
        centers = best
        self._start_state(x, k, batch, xp)

        # Batches as scikit-learn draws them, with or without sample_weight:
        # choice(n, batch, p=weights / sum) (uniforms located in the cdf, on the device), the
        # batch rows then weighing 1 each (the weights are in the draw).
        w = _unit_weights(weights, x, xp)
        cdf = xp.cumulative_sum(_normalised(w, self._counts.dtype, xp))
        cdf = caps.persist(cdf / cdf[-1])
        sum_of_weights = float(n) if weights is None else _read_number(xp.sum(weights))
        n_steps = (int(self.max_iter) * n) // batch
        self._ewa_inertia, self._ewa_inertia_min, self._no_improvement = None, None, 0
        step = -1
        for step in range(n_steps):
            host = _rng.draw_uniform(rng, batch)
            centers, inertia, shift = self._step(xs, place_draw(host, x, xp, caps), None, cdf, host, batch, centers,
                                                 rng, xp=xp, caps=caps)
            shift = _read_number(shift) if tol > 0 else 0.0
            if self._converged(step, n_steps, n, batch, shift, tol, _read_number(inertia), factor):
                break
        self.n_steps_ = step + 1
        self.n_iter_ = int(math.ceil((step + 1) * batch / n))
        self.cluster_centers_ = caps.persist(
            unscaled_checked(centers, s, 1, xp=xp, checks=checks, what="a cluster centre")
        )
        if self.compute_labels:
            labels, inertia = caps.compiled(labels_inertia_core, PREDICT_STATIC)(
                xs, weights, centers, xp=xp, caps=caps, budget=memory_budget_bytes()
            )
            self.labels_ = caps.persist(labels)
            self.inertia_ = unscaled_number(_read_number(inertia), factor, 2, what="inertia_")
        else:
            ewa = self._ewa_inertia if self._ewa_inertia is not None else 0.0
            self.inertia_ = unscaled_number(ewa * sum_of_weights, factor, 2, what="inertia_")
        return self

    def _converged(self, step: int, n_steps: int, n: int, batch: int, shift: float, tol: float,
                   batch_inertia: float, factor: float = 1.0) -> bool:
        """scikit-learn's early stopping, and its progress lines with ``verbose``: centre
        moves within ``tol``, or no improvement of the exponentially weighted average of
        the per-row batch inertia for ``max_no_improvement`` steps.  The first step
        (inertia of the seeding) is ignored.  Values are those of the scaled data;
        ``factor`` (the scale) only unscales what ``verbose`` prints."""
        batch_inertia /= batch
        step += 1
        if step == 1:
            if self.verbose:
                print(f"Minibatch step {step}/{n_steps}: mean batch inertia: "
                      f"{unscaled_number(batch_inertia, factor, 2)}")
            return False
        if self._ewa_inertia is None:
            self._ewa_inertia = batch_inertia
        else:
            alpha = min(batch * 2.0 / (n + 1), 1.0)
            self._ewa_inertia = self._ewa_inertia * (1 - alpha) + batch_inertia * alpha
        if self.verbose:
            print(f"Minibatch step {step}/{n_steps}: mean batch inertia: "
                  f"{unscaled_number(batch_inertia, factor, 2)}, "
                  f"ewa inertia: {unscaled_number(self._ewa_inertia, factor, 2)}")
        if tol > 0.0 and shift <= tol:
            if self.verbose:
                print(f"Converged (small centers change) at step {step}/{n_steps}")
            return True
        if self._ewa_inertia_min is None or self._ewa_inertia < self._ewa_inertia_min:
            self._no_improvement = 0
            self._ewa_inertia_min = self._ewa_inertia
        else:
            self._no_improvement += 1
        if self.max_no_improvement is not None and self._no_improvement >= self.max_no_improvement:
            if self.verbose:
                print(f"Converged (lack of improvement in inertia) at step {step}/{n_steps}")
            return True
        return False

    # ------------------------------------------------------------------ partial_fit

    def partial_fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> "MiniBatchKMeans":
        """Update the centres with one batch: the rows of ``X``.

        The first call (on an unfitted estimator) seeds the centres from ``X``; every call
        then makes one mini-batch step with all of ``X``.  As in scikit-learn, the calls
        share one random source of their own (a fresh one from ``random_state``, also
        after ``fit``).

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
            The batch, in the namespace and on the device of the first one.
        y : None
            Ignored.
        sample_weight : array of shape (n_samples,) or float, optional
            Weight of each row of the batch.

        Returns
        -------
        self : MiniBatchKMeans
            The updated estimator.
        """
        fitted = hasattr(self, "cluster_centers_")
        if not fitted:
            self._check_params()
        like = self.cluster_centers_ if fitted else None
        xp, _, X = validate_data(self, X, reset=not fitted, like=like)
        caps = capabilities_for(xp)
        checks = Checks(caps, now=True)
        x = caps.persist(caps.known_rows(X))
        if fitted:
            x = xp.astype(x, self.cluster_centers_.dtype, copy=False)  # the model's dtype (checked next)
        n = x.shape[0]
        k = int(self.n_clusters)
        refuse_non_finite(x, xp=xp, caps=caps)
        weights = check_sample_weight(sample_weight, x, xp=xp, caps=caps, checks=checks)
        if not hasattr(self, "_partial_rng"):
            self._partial_rng = _rng.random_source(self.random_state)
        rng = self._partial_rng
        # Each call computes on its batch (and the current centres) scaled by a power of two
        # into the dtype's safe range; the centres are kept in the data's unit.
        if not fitted:
            if n < k:
                raise ValueError(f"n_samples={n} should be >= n_clusters={k}.")
            batch, init_size = self._sizes(n, k)
            self._init_size = init_size
            self._resolved_n_init(default=3)  # warns as scikit-learn for an array with n_init > 1
            given = self._given_centres(x, k, xp=xp, caps=caps, checks=checks)
            s = range_scale(x, given, xp=xp, caps=caps, now=True)
            centers = self._seed(x, weights, k, init_size, rng, s, given, xp=xp, caps=caps, checks=checks)
            self._start_state(x, k, batch, xp)
            self.n_steps_ = 0
        else:
            s = range_scale(x, self.cluster_centers_, xp=xp, caps=caps, now=True)
            centers = scaled(self.cluster_centers_, s)
        xs = scaled(x, s)
        centers, _, _ = self._step(xs, None, weights, None, None, n, centers, rng, xp=xp, caps=caps)
        self.cluster_centers_ = caps.persist(
            unscaled_checked(centers, s, 1, xp=xp, checks=checks, what="a cluster centre")
        )
        if self.compute_labels:
            labels, inertia = caps.compiled(labels_inertia_core, PREDICT_STATIC)(
                xs, weights, centers, xp=xp, caps=caps, budget=memory_budget_bytes()
            )
            self.labels_ = caps.persist(labels)
            self.inertia_ = unscaled_number(_read_number(inertia), scale_value(s), 2, what="inertia_")
        self.n_steps_ += 1
        return self
