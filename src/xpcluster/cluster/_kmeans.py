"""KMeans: scikit-learn's estimator (Lloyd's algorithm, greedy k-means++) on every Array API backend.

The numeric work of one run -- seeding, the Lloyd loop with its convergence tests and
empty-cluster relocation, the final assignment -- is one function, ``fit_core``, written
against the standard and compiled by the capability layer (``jax.jit`` on JAX, where the
loop is a ``lax.while_loop``).  Random draws are made on the host with NumPy, in
scikit-learn's order, and placed on the data's device before the run.
"""
from __future__ import annotations

import functools
import math
import numbers
import warnings
from typing import Any, Callable, NamedTuple

import array_api_compat
import numpy as np

from .. import _rng
from .._backends import capabilities_for
from .._checks import Checks
from .._backends.sparse import is_sparse, is_sparse_input, native
from .._core.assign import (
    PreparedRows,
    assign_labels, mean_feature_variance, prepare_rows, rows_per_chunk, sparse_rows_per_chunk,
    sparse_squared_distances,
)
from .._core.bounds import bounded_lloyd, bounds_pay_off
from .._core.chunks import memory_budget, memory_budget_bytes
from .._core.dtypes import to_compute_dtype, widest_float
from .._core.scale import is_unit, range_scale, scaled, unscaled_checked
from .._core.init import build_kmeans_parallel, build_points, draw_kmeans_parallel
from .._core.update import update_centroids
from .._placement import place_draw
from ._base import (
    CONVERGENCE_WARNING_BASE,
    scaled_distances,
    BaseEstimator,
    check_bool,
    check_int,
    check_real,
    check_sample_weight,
    check_verbose,
    clusterer_tags,
    fitted_input,
    invalid_parameter,
    refuse_non_finite,
    validate_data,
)

__all__ = ["KMeans", "ConvergenceWarning", "k_means", "kmeans_plusplus"]


class ConvergenceWarning(CONVERGENCE_WARNING_BASE):
    """The clustering found fewer distinct clusters than asked for (as scikit-learn warns).

    A ``sklearn.exceptions.ConvergenceWarning`` when scikit-learn is importable (filters
    and ``pytest.warns`` written for scikit-learn catch it), a ``UserWarning`` otherwise."""


_INIT_NAMES = ("k-means++", "random", "k-means||")

#: Keyword arguments of ``fit_core`` that are compile-time constants.
FIT_STATIC = ("init", "k", "max_iter", "xp", "caps", "budget", "algorithm")
#: Keyword arguments of ``tolerance_core`` that are compile-time constants.
TOLERANCE_STATIC = ("tol", "xp")
PREDICT_STATIC = ("xp", "caps", "budget")


# ---------------------------------------------------------------------------------------
# Numeric cores (standard-only; compiled with caps.compiled)
# ---------------------------------------------------------------------------------------


def tolerance_core(x: Any, *, tol: float, xp: Any) -> Any:
    """0-d: ``tol`` in the data's terms, times the mean variance of the features of ``x``
    (scikit-learn's rule); computed once per fit, not once per run."""
    return mean_feature_variance(x, xp=xp) * tol if tol != 0 else xp.zeros_like(x[0, 0])


def fit_core(x: Any, weights: Any, draws: tuple[Any, ...], tol_scaled: Any, *, init: str, k: int, max_iter: int,
             xp: Any, caps: Any, budget: int, algorithm: str = "lloyd") -> tuple[Any, ...]:
    """One k-means run: seeding from the placed ``draws``, Lloyd iterations, final assignment.

    ``tol_scaled`` (0-d, :func:`tolerance_core`) bounds the squared shift of the centres.
    Returns ``(centers, labels, inertia, n_iter, n_distinct)``: the final centres, the labels
    and the (weighted) inertia of the final assignment to them, the number of Lloyd
    iterations run and the number of clusters with members (weight) in that assignment.
    ``algorithm='elkan'`` (and 'auto' where the bounds pay off) runs :func:`bounded_lloyd`
    (the same result, fewer distances) where the passes may select rows (dense data, not a
    ``torch.compile`` trace), Lloyd's loop elsewhere.
    """
    with memory_budget(budget):
        centers = initial_centers(x, weights, draws, init=init, k=k, xp=xp, caps=caps)
        if algorithm in ("elkan", "auto") and uses_bounds(x, k, caps=caps) and (
                algorithm == "elkan" or bounds_pay_off(k, x.shape[1], lazy=caps.defers_checks)):
            relocate = functools.partial(relocate_empty_clusters, xp=xp, caps=caps)
            prepared = prepare_rows(x, centers[0:1, :], xp=xp) if weights is None else None

            def plain_step(centers: Any, previous: Any) -> tuple[Any, Any, Any, Any]:
                new_centers, labels, _, unchanged, shift = lloyd_step(x, weights, centers, previous, prepared=prepared,
                                                                      xp=xp, caps=caps)
                return new_centers, labels, unchanged, shift

            centers, n_iter = bounded_lloyd(x, weights, centers, tol_scaled, max_iter=max_iter, xp=xp, caps=caps,
                                            relocate=relocate, lloyd_step=plain_step, prepared=prepared)
        else:
            centers, n_iter = lloyd(x, weights, centers, tol_scaled, max_iter=max_iter, xp=xp, caps=caps)
        final = assign_labels(x, centers, xp=xp, caps=caps, with_sums=True, with_inertia=True, weights=weights)
        return centers, final.labels, final.inertia, n_iter, xp.count_nonzero(final.counts > 0)


def uses_bounds(x: Any, k: int, *, caps: Any) -> bool:
    """Whether ``algorithm='elkan'`` runs the bounded loop on ``x``: dense rows whose
    passes may select rows (see ``Capabilities.compaction``; not under ``torch.compile``),
    k > 1."""
    return k > 1 and not is_sparse(x) and caps.for_data(x).compaction(x) is not None


#: Keyword arguments of ``seed_core`` that are compile-time constants.
SEED_STATIC = ("init", "k", "xp", "caps", "budget")


def seed_core(x: Any, weights: Any, draws: tuple[Any, ...], *, init: str, k: int, xp: Any, caps: Any, budget: int) -> Any:
    """:func:`initial_centers` on its own (MiniBatchKMeans seeds from a subsample)."""
    with memory_budget(budget):
        return initial_centers(x, weights, draws, init=init, k=k, xp=xp, caps=caps)


def initial_centers(x: Any, weights: Any, draws: tuple[Any, ...], *, init: str, k: int, xp: Any, caps: Any) -> Any:
    """The ``k`` starting centres of method ``init`` from its placed host draws."""
    if init == "array":
        return draws[0]
    if init == "k-means++":
        return build_greedy_kmeans_plusplus(x, weights, draws, k, xp=xp, caps=caps)
    if init == "random":
        return build_points(x, draws, k, xp=xp, caps=caps)
    if init == "random-weighted":
        return build_weighted_distinct_rows(x, weights, draws, k, xp=xp, caps=caps)
    if init == "k-means||":
        return build_kmeans_parallel(x, draws, k, xp=xp, caps=caps)
    raise ValueError(f"unknown init {init!r}")  # pragma: no cover - fit validates first


def lloyd(x: Any, weights: Any, centers: Any, tol: Any, *, max_iter: int, xp: Any, caps: Any) -> tuple[Any, Any]:
    """Lloyd iterations until the labels repeat, the centres move by at most ``tol`` (squared
    shift summed over centres), or ``max_iter``.  Returns ``(centers, n_iter)``.

    Each iteration assigns every row, gives each empty cluster a far point
    (:func:`relocate_empty_clusters`) and moves the centres to their members' (weighted)
    means, as scikit-learn's ``lloyd`` algorithm does.  The loop is ``caps.while_loop``: a
    compiled ``lax.while_loop`` on JAX, a Python loop reading one flag per iteration
    elsewhere (a small compute per iteration on Dask).
    """
    device = array_api_compat.device(x)
    # The rows laid out once for the loop's passes when they fit the budget (unweighted).
    prepared = prepare_rows(x, centers[0:1, :], xp=xp) if weights is None else None

    def keep_going(state: tuple[Any, ...]) -> Any:
        return (state[2] < max_iter) & ~state[3]

    def step(state: tuple[Any, ...]) -> tuple[Any, ...]:
        centers, previous_labels, i, _, tol = state
        new_centers, labels, _, unchanged, shift = lloyd_step(
            x, weights, centers, previous_labels, prepared=prepared, xp=xp, caps=caps
        )
        return new_centers, labels, i + 1, unchanged | (shift <= tol), tol

    no_labels = xp.zeros_like(x[:, 0], dtype=xp.int32) - 1
    start = xp.zeros((), dtype=xp.int32, device=device)
    not_yet = xp.zeros((), dtype=xp.bool, device=device)
    # tol rides in the state so that Dask computes it once, with the first persisted state.
    centers, _, n_iter, _, _ = caps.while_loop(keep_going, step, (centers, no_labels, start, not_yet, tol))
    return centers, n_iter


def lloyd_step(x: Any, weights: Any, centers: Any, previous_labels: Any, *, xp: Any, caps: Any, prepared: Any = None,
               with_inertia: bool = False) -> tuple[Any, Any, Any, Any, Any]:
    """One Lloyd iteration: ``(new_centers, labels, inertia, unchanged, shift)``.

    ``labels`` is the assignment to ``centers``, ``inertia`` its (weighted) inertia (None
    unless ``with_inertia``), ``unchanged`` whether it equals ``previous_labels``, and
    ``shift`` the squared move of the centres summed over centres."""
    result = assign_labels(x, centers, xp=xp, caps=caps, with_sums=True, with_inertia=with_inertia,
                           weights=weights, prepared=prepared)
    mass = xp.astype(result.counts, result.sums.dtype)
    sums, mass, labels = relocate_empty_clusters(
        x, weights, centers, result.labels, result.sums, mass, xp=xp, caps=caps
    )
    new_centers, _ = update_centroids(sums, mass, centers, xp=xp)
    unchanged = xp.all(labels == previous_labels)
    shift = xp.sum((new_centers - centers) ** 2)
    return new_centers, labels, result.inertia if with_inertia else None, unchanged, shift


#: Keyword arguments of ``verbose_step_core`` that are compile-time constants.
STEP_STATIC = ("prepared_ones", "xp", "caps", "budget")


def verbose_step_core(x: Any, weights: Any, centers: Any, previous_labels: Any, tol: Any, prepared_arrays: Any, *,
                      prepared_ones: bool, xp: Any, caps: Any, budget: int) -> tuple[Any, ...]:
    """:func:`lloyd_step` with the inertia, compiled on its own (``verbose`` fits print each
    iteration, so the loop runs on the host one step at a time), and ``within``: the shift
    compared with ``tol`` on the device, as :func:`lloyd` compares it.  ``prepared_arrays``
    are the arrays of :func:`prepare_rows`' result (or None), its flag ``prepared_ones``
    a compile-time constant."""
    prepared = None if prepared_arrays is None else PreparedRows(*prepared_arrays, ones=prepared_ones)
    with memory_budget(budget):
        new_centers, labels, _, unchanged, shift = lloyd_step(
            x, weights, centers, previous_labels, xp=xp, caps=caps, prepared=prepared)
        # The inertia in a pass of its own: the step's sums stay those of the silent loop
        # (bit for bit), so verbose and silent fits give the same centres.
        inertia = assign_labels(x, centers, xp=xp, caps=caps, with_inertia=True, weights=weights).inertia
        return new_centers, labels, inertia, unchanged, shift, shift <= tol


def final_core(x: Any, weights: Any, centers: Any, *, xp: Any, caps: Any, budget: int) -> tuple[Any, Any, Any]:
    """``(labels, inertia, n_distinct)`` of the final assignment to ``centers``."""
    with memory_budget(budget):
        final = assign_labels(x, centers, xp=xp, caps=caps, with_sums=True, with_inertia=True, weights=weights)
        return final.labels, final.inertia, xp.count_nonzero(final.counts > 0)


def relocate_empty_clusters(x: Any, weights: Any, centers: Any, labels: Any, sums: Any, mass: Any, *,
                            xp: Any, caps: Any) -> tuple[Any, Any, Any]:
    """Give each empty cluster the point farthest from its centre, as scikit-learn does.

    Empty clusters (zero total weight), lowest index first, take the farthest points in
    turn (ties: lowest row first); each point's weight moves out of its own cluster's
    ``sums``/``mass`` into the empty one.  ``labels`` are left as assigned.  When only
    points lying on their centre are left (more clusters than distinct points) the
    remaining empty clusters stay empty and keep their previous centre.

    The loop runs once per empty cluster, so it costs nothing in the usual case; each
    round recomputes the distances (a pass over the data) rather than keeping an (n,)
    vector alive through every iteration.  ``labels`` rides in the loop state so that Dask
    computes the iteration's assignment once.
    """
    k, n = centers.shape[0], x.shape[0]
    device = array_api_compat.device(x)
    clusters = xp.arange(k, dtype=labels.dtype, device=device)

    def any_left(state: tuple[Any, ...]) -> Any:
        return xp.any(state[2])

    def move_one(state: tuple[Any, ...]) -> tuple[Any, ...]:
        sums, mass, remaining, labels, last_sq, last_row = state
        distances = assign_labels(x, centers, xp=xp, caps=caps, with_distances=True).distances
        sq = distances * distances
        rows = xp.arange(n, dtype=last_row.dtype, device=device)
        # The next point in (distance descending, row ascending) order after the last one taken.
        eligible = (sq < last_sq) | ((sq == last_sq) & (rows > last_row))
        candidates = xp.where(eligible, sq, xp.full_like(sq, -1.0))
        far = xp.astype(xp.argmax(candidates), last_row.dtype)
        far_sq = xp.max(candidates)
        at_far = rows == far
        point = caps.take_rows(x, xp.reshape(far, (1,)))[0, :]
        weight = xp.ones_like(far_sq) if weights is None else xp.sum(xp.where(at_far, weights, xp.zeros_like(weights)))
        old = xp.sum(xp.where(at_far, labels, xp.zeros_like(labels)))
        new = xp.argmax(xp.astype(remaining, xp.int32))
        moving = far_sq > 0
        from_old = (clusters == old) & moving
        to_new = (clusters == new) & moving
        mass_moved = xp.astype(weight, mass.dtype)
        point_moved = xp.astype(point, sums.dtype) * xp.astype(weight, sums.dtype)
        sums = xp.where(to_new[:, None], point_moved, sums - xp.where(from_old[:, None], point_moved, xp.zeros_like(sums)))
        mass = xp.where(to_new, mass_moved, mass - xp.where(from_old, mass_moved, xp.zeros_like(mass)))
        remaining = remaining & (clusters != new) & moving
        return sums, mass, remaining, labels, far_sq, far

    first_sq = xp.full((), math.inf, dtype=x.dtype, device=device)
    before_first = xp.full((), -1, dtype=xp.int64 if _has_int64(xp, device) else xp.int32, device=device)

    def relocate(sums: Any, mass: Any, labels: Any) -> tuple[Any, Any, Any]:
        state = (sums, mass, mass == 0, labels, first_sq, before_first)
        sums, mass, _, labels, _, _ = caps.while_loop(any_left, move_one, state)
        return sums, mass, labels

    # Behind a cond: a loop nested in JAX's compiled Lloyd loop, even one that runs no
    # iteration, doubled the time of every Lloyd iteration (measured at W1 size).
    return caps.cond(xp.any(mass == 0), relocate, lambda *state: state, sums, mass, labels)


def _has_int64(xp: Any, device: Any) -> bool:
    return "int64" in xp.__array_namespace_info__().dtypes(device=device, kind="signed integer")


def build_greedy_kmeans_plusplus(x: Any, weights: Any, draws: tuple[Any, Any], k: int, *, xp: Any, caps: Any) -> Any:
    """The rows of ``x`` that :func:`greedy_kmeans_plusplus_indices` picks."""
    return caps.take_rows(x, greedy_kmeans_plusplus_indices(x, weights, draws, k, xp=xp, caps=caps))


def greedy_kmeans_plusplus_indices(x: Any, weights: Any, draws: tuple[Any, Any], k: int, *, xp: Any, caps: Any) -> Any:
    """Row indices of greedy k-means++ (Arthur & Vassilvitskii 2007), scikit-learn's variant.

    The first centre is drawn with probability proportional to the sample weight; each
    next one is the best of ``t = draws[1].shape[1]`` candidates drawn with probability
    proportional to weight times squared distance to the nearest centre so far: the one
    that lowers the potential (the weighted sum of those squared distances) most.  The
    uniforms come from the host in scikit-learn's order (one for the first pick, ``t`` per
    next centre), so NumPy input reproduces its choices.  Distances are computed in
    float64 where the device has it; memory is O(n*t) for the candidates' distances.
    """
    first_uniform, trial_uniforms = draws
    n = x.shape[0]
    device = array_api_compat.device(x)
    wide = widest_float(xp, device)
    w = None if weights is None else xp.astype(weights, wide)
    # The first pick as NumPy's choice(n, p=w/w.sum()) makes it: cdf, then side='right'.
    p = xp.full_like(x[:, 0], 1.0 / n, dtype=wide) if w is None else w / xp.sum(w)
    cdf = xp.cumulative_sum(p)
    cdf = cdf / cdf[-1]
    first = xp.searchsorted(cdf, xp.astype(first_uniform, wide), side="right")
    index_dtype = first.dtype
    # Indices past the end (a uniform at the cdf's rounding edge) are the last row.  The
    # bound is an array made once: the loop below uses it every pick (a minimum costs
    # far less per call than array-api-compat's clip).
    last_row = xp.full_like(first, n - 1)
    first = xp.minimum(first, last_row)
    first_row = caps.take_rows(x, first)
    distances_to = _distances_from(x, first_row, wide, xp=xp, caps=caps)
    closest = distances_to(first_row)[:, 0]
    potential = xp.sum(closest if w is None else w * closest)
    positions = xp.arange(k, dtype=index_dtype, device=device)
    picks = xp.zeros_like(positions) + first
    trials = trial_uniforms.shape[1]
    trial_ids = xp.arange(trials, dtype=index_dtype, device=device)
    ones = xp.ones_like(closest)

    def pick_next(c: Any, state: tuple[Any, Any, Any]) -> tuple[Any, Any, Any]:
        picks, closest, potential = state
        targets = xp.astype(trial_uniforms[c - 1, :], wide) * potential
        cumulative = xp.cumulative_sum(closest if w is None else w * closest)
        candidates = xp.minimum(xp.astype(xp.searchsorted(cumulative, targets), index_dtype, copy=False), last_row)
        candidate_sq = xp.minimum(closest[:, None], distances_to(caps.take_rows(x, candidates)))
        potentials = xp.matmul(ones if w is None else w, candidate_sq)  # column sums as one product
        best = trial_ids == xp.astype(xp.argmin(potentials), index_dtype)
        potential = xp.sum(xp.where(best, potentials, xp.zeros_like(potentials)))
        # The chosen column, as a product with the one-hot ``best`` (a row-wise sum over a few
        # columns costs NumPy a call per row).
        closest = xp.matmul(candidate_sq, xp.astype(best, candidate_sq.dtype))
        pick = xp.astype(xp.sum(xp.where(best, candidates, xp.zeros_like(candidates))), index_dtype)
        return xp.where(positions == c, pick, picks), closest, potential

    if k > 1:  # (a compiled loop traces its body even for no iterations)
        picks, _, _ = caps.fori_loop(1, k, pick_next, (picks, closest, potential))
    return picks


def _distances_from(x: Any, origin: Any, dtype: Any, *, xp: Any, caps: Any) -> Callable[[Any], Any]:
    """A function giving the (n, m) squared distances of the rows of ``x`` to m points.

    k-means++ asks this once per centre.  When ``x - origin`` (in ``dtype``) and its row
    norms fit the memory budget they are made once, and each call is one matrix product
    plus O(n*m) elementwise work; otherwise every call goes through
    :func:`squared_distances_to_rows` block by block.
    """
    n, d = x.shape
    itemsize = xp.finfo(dtype).bits // 8
    if (n is None or n != n or n * (2 * d + 1) * itemsize > memory_budget_bytes() or caps.defers_checks
            or is_sparse(x)):
        return lambda points: squared_distances_to_rows(x, points, dtype, xp=xp, caps=caps)
    origin = xp.astype(origin, dtype)
    base = xp.astype(x, dtype, copy=False) - origin
    base_sq = xp.vecdot(base, base)[:, None]
    zero = xp.zeros((), dtype=dtype, device=array_api_compat.device(x))

    parallel = caps.parallel_map_row_chunks
    if parallel is not None and caps.concurrent_blocks() > 1:
        # The backend's threads share row blocks of [x - origin, |x - origin|^2] (its BLAS on
        # one thread meanwhile): a threaded BLAS product of a tall block with a few columns
        # stalled for tens of ms whenever the other core was busy, and the elementwise
        # passes then run on cache-sized blocks in parallel too.  Same values bit for bit:
        # each entry is the same dot product and the same sums in the same order.
        rows_and_norms = xp.concat([base, base_sq], axis=1)
        del base
        block_rows = rows_per_chunk(16, d + 1, itemsize, caps.block_bytes, caps.concurrent_blocks())

        def distances(points: Any) -> Any:
            shifted = xp.astype(points, dtype, copy=False) - origin
            factor = laid_out_transpose(-2 * shifted, xp=xp)
            (sq,), _ = parallel(rows_and_norms, block_rows, _block_squared_distances_prepared, factor,
                                xp.vecdot(shifted, shifted)[None, :], zero)
            return sq

        return distances

    def distances(points: Any) -> Any:
        shifted = xp.astype(points, dtype, copy=False) - origin
        # -2 rides in the (d, m) factor: a product by a power of two is exact, so this is
        # bit for bit |b|^2 - 2 b.p + |p|^2 with one (n, m) pass less.
        products = xp.matmul(base, laid_out_transpose(-2 * shifted, xp=xp))
        sq = base_sq + products + xp.vecdot(shifted, shifted)[None, :]
        return xp.maximum(sq, zero)  # (clamped at 0; NaN stays NaN as with clip)

    return distances


def _block_squared_distances_prepared(block: Any, factor: Any, point_sq: Any, zero: Any) -> tuple[tuple[Any], tuple[()]]:
    """Squared distances of a block of ``[x - o, |x - o|^2]`` rows to points given as
    ``factor = -2 (p - o)^T`` (d, m) and ``point_sq = |p - o|^2`` (1, m), clamped at 0."""
    bxp = array_api_compat.array_namespace(block)
    d = factor.shape[0]
    sq = block[:, d:] + bxp.matmul(block[:, :d], factor) + point_sq
    return (bxp.maximum(sq, zero),), ()


def laid_out_transpose(a: Any, *, xp: Any) -> Any:
    """The transpose of small ``a`` (m, d) as a new (d, m) array in row-major layout.

    ``tall @ matrix_transpose(a)`` hands BLAS a transposed operand; OpenBLAS's threaded
    float64 product of a tall (n, d) block with a transposed (d, m) one, m small, took
    45-65 ms at n=100,000, d=20 on the 2-core machine, 60-100x the same product with a
    row-major (d, m) operand (0.6-0.8 ms).  An elementwise result takes a fresh row-major
    layout (NumPy's; layout does not matter to the other backends' products)."""
    t = xp.matrix_transpose(a)
    return xp.zeros(t.shape, dtype=a.dtype, device=array_api_compat.device(a)) + t


def build_weighted_distinct_rows(x: Any, weights: Any, draws: tuple[Any], k: int, *, xp: Any, caps: Any) -> Any:
    """``k`` distinct rows drawn one after the other with probability proportional to weight."""
    (uniforms,) = draws
    n = x.shape[0]
    device = array_api_compat.device(x)
    w = xp.astype(weights, uniforms.dtype)
    positions = xp.arange(k, device=device)
    first = xp.zeros_like(positions)
    rows = xp.arange(n, dtype=first.dtype, device=device)

    def pick_next(c: Any, state: tuple[Any, Any]) -> tuple[Any, Any]:
        picks, w = state
        cdf = xp.cumulative_sum(w)
        cdf = cdf / cdf[-1]
        pick = xp.searchsorted(cdf, xp.reshape(uniforms[c], (1,)), side="right")
        pick = xp.clip(xp.astype(pick, picks.dtype), 0, n - 1)
        return xp.where(positions == c, pick, picks), xp.where(rows == pick, xp.zeros_like(w), w)

    picks, _ = caps.fori_loop(0, k, pick_next, (first, w))
    return caps.take_rows(x, picks)


def squared_distances_to_rows(x: Any, points: Any, dtype: Any, *, xp: Any, caps: Any) -> Any:
    """(n, m) squared Euclidean distances of the rows of ``x`` to the ``m`` rows of ``points``
    (m small), in ``dtype`` over row chunks.

    The expansion ``|b|^2 - 2 b.p + |p|^2`` rides the matrix product; both sides are first
    shifted by ``points[0]``, which keeps it accurate near the points (where k-means++
    probabilities are small anyway), and it is clamped at 0.
    """
    m, d = points.shape
    points = xp.astype(points, dtype)
    if is_sparse(x):
        x = x.astype(dtype)
        point_sq_norms = xp.sum(points * points, axis=1)
        points_t = xp.asarray(xp.matrix_transpose(points), copy=True)
        rows = sparse_rows_per_chunk(x, m, caps)
        (sq,), _ = caps.map_row_chunks(x, rows, _sparse_block_squared_distances, points_t, point_sq_norms)
        return sq
    origin = points[0:1, :]
    shifted = points - origin
    sq_norms = xp.sum(shifted * shifted, axis=1)
    itemsize = xp.finfo(dtype).bits // 8
    rows = max(1, memory_budget_bytes() // (itemsize * (2 * d + 3 * m + 2)))
    if caps.block_bytes is not None:  # blocks the backend keeps in cache
        rows = min(rows, max(256, caps.block_bytes // (itemsize * (d + m))))
    (sq,), _ = caps.map_row_chunks(x, rows, _block_squared_distances, origin, laid_out_transpose(shifted, xp=xp),
                                   sq_norms)
    return sq


def _sparse_block_squared_distances(block: Any, points_t: Any, point_sq_norms: Any) -> tuple[tuple[Any], tuple[()]]:
    return (sparse_squared_distances(block, points_t, point_sq_norms),), ()


def _sparse_block_distances(block: Any, points_t: Any, point_sq_norms: Any) -> tuple[tuple[Any], tuple[()]]:
    bxp = array_api_compat.array_namespace(block)
    return (bxp.sqrt(sparse_squared_distances(block, points_t, point_sq_norms)),), ()


def _block_squared_distances(block: Any, origin: Any, shifted_t: Any, sq_norms: Any) -> tuple[tuple[Any], tuple[()]]:
    bxp = array_api_compat.array_namespace(block)
    b = bxp.astype(block, origin.dtype) - origin
    sq = bxp.vecdot(b, b)[:, None] - 2 * bxp.matmul(b, shifted_t) + sq_norms[None, :]
    return (bxp.clip(sq, min=0.0),), ()


def predict_core(x: Any, centers: Any, *, xp: Any, caps: Any, budget: int) -> Any:
    """Labels (int32) of the rows of ``x``: the index of the nearest centre."""
    with memory_budget(budget):
        return assign_labels(x, centers, xp=xp, caps=caps).labels


def score_core(x: Any, weights: Any, centers: Any, *, xp: Any, caps: Any, budget: int) -> Any:
    """The (weighted) inertia of ``x`` with respect to ``centers``."""
    with memory_budget(budget):
        return assign_labels(x, centers, xp=xp, caps=caps, with_inertia=True, weights=weights).inertia


def transform_core(x: Any, centers: Any, *, xp: Any, caps: Any, budget: int) -> Any:
    """(n, k) Euclidean distances of the rows of ``x`` to the centres, over row chunks.

    The output is n by k by definition; the temporaries are bounded by the chunk size.
    Both sides are shifted by the first centre before the expansion
    ``|x|^2 - 2 x.c + |c|^2``, which keeps it accurate for data far from the origin.
    """
    with memory_budget(budget):
        k, d = centers.shape
        if is_sparse(x):  # unshifted: the rows stay sparse
            points_t = xp.asarray(xp.matrix_transpose(centers), copy=True)
            rows = sparse_rows_per_chunk(x, k, caps)
            (distances,), _ = caps.map_row_chunks(x, rows, _sparse_block_distances, points_t,
                                                  xp.sum(centers * centers, axis=1))
            return distances
        origin = centers[0:1, :]
        shifted = centers - origin
        sq_norms = xp.sum(shifted * shifted, axis=1)
        rows = rows_per_chunk(k, d, xp.finfo(x.dtype).bits // 8, caps.block_bytes, caps.concurrent_blocks())
        (distances,), _ = caps.map_row_chunks(x, rows, _block_distances, origin, laid_out_transpose(shifted, xp=xp),
                                              sq_norms)
        return distances


def _block_distances(block: Any, origin: Any, shifted_t: Any, sq_norms: Any) -> tuple[tuple[Any], tuple[()]]:
    bxp = array_api_compat.array_namespace(block)
    b = block - origin
    sq = bxp.vecdot(b, b)[:, None] - 2 * bxp.matmul(b, shifted_t) + sq_norms[None, :]
    return (bxp.sqrt(bxp.clip(sq, min=0.0)),), ()


def same_clustering_core(a: Any, b: Any, *, k: int, xp: Any, caps: Any, budget: int) -> Any:
    """0-d flag: every cluster of labelling ``a`` lies inside one cluster of labelling ``b``.

    scikit-learn's test for two runs that found the same partition (possibly with permuted
    labels).  Within each cluster of ``a`` the labels ``b`` are all equal exactly when
    ``count * sum(b^2) == sum(b)^2``; the sums are segment sums over row chunks.
    """
    with memory_budget(budget):
        wide = widest_float(xp, array_api_compat.device(a))
        pairs = xp.stack([xp.astype(a, wide), xp.astype(b, wide)], axis=1)
        rows = max(1, memory_budget_bytes() // (8 * (k + 4)))
        _, (sums, counts) = caps.map_row_chunks(pairs, rows, _block_label_moments, k)
        counts = xp.astype(counts, wide)
        return xp.all(counts * sums[:, 1] == sums[:, 0] * sums[:, 0])


def _block_label_moments(block: Any, k: int) -> tuple[tuple[()], tuple[Any, Any]]:
    bxp = array_api_compat.array_namespace(block)
    ids = bxp.astype(block[:, 0], bxp.int32)
    other = block[:, 1]
    sums, counts = capabilities_for(bxp).segment_sums(bxp.stack([other, other * other], axis=1), ids, k)
    return (), (sums, counts)


# ---------------------------------------------------------------------------------------
# Host-side helpers
# ---------------------------------------------------------------------------------------


def _host_dtype(dtype: Any, xp: Any) -> np.dtype:
    return np.dtype(np.float32) if xp.finfo(dtype).bits == 32 else np.dtype(np.float64)


def _is_array_like(obj: Any) -> bool:
    return (array_api_compat.is_array_api_obj(obj) or isinstance(obj, (list, tuple)) or hasattr(obj, "__array__")
            or is_sparse_input(obj))  # (refused with its own message by _as_centers)


def _as_centers(centers: Any, x: Any, k: int, *, xp: Any, caps: Any, what: str, checks: Any = None) -> Any:
    """Centres given by the user (an array or what a callable init returned), validated and
    placed like ``x`` (namespace, device, and ``x``'s compute dtype, native byte order;
    integers beyond its exact range give a ``PrecisionWarning``)."""
    checks = Checks(caps, now=True) if checks is None else checks
    if is_sparse_input(centers):  # centres are dense by nature: converting silently would hide a mix-up
        raise TypeError(f"{what} must be a dense array of centres, got a sparse {type(centers).__name__}; "
                        "pass centres.toarray()")
    if array_api_compat.is_array_api_obj(centers) and array_api_compat.array_namespace(centers) is xp:
        if array_api_compat.device(centers) != array_api_compat.device(x):
            raise ValueError(f"{what} is on device {array_api_compat.device(centers)}, X on "
                             f"{array_api_compat.device(x)}; move it to X's device first")
        if not (xp.isdtype(centers.dtype, "real floating") or xp.isdtype(centers.dtype, "integral")
                or centers.dtype == xp.bool):
            raise ValueError(f"{what} must hold real numbers, got dtype {centers.dtype}")
        placed = centers
    else:
        try:
            host = np.asarray(centers)
        except Exception as exc:
            raise ValueError(f"{what} cannot be read as an array of centres: {exc}") from exc
        if host.dtype.kind not in "biuf":
            raise ValueError(f"{what} must hold real numbers, got dtype {host.dtype}")
        if not host.dtype.isnative:  # the same values in native byte order (PyTorch takes no other)
            host = host.astype(host.dtype.newbyteorder("="))
        if host.ndim != 2:
            placed = None
        elif host.dtype.kind == "f":  # converted on the host (any width)
            placed = caps.to_device(host, x, x.dtype)
        else:  # integers: converted on the device, with the check of their exact range
            placed = caps.from_host(host, x)
        centers = host
    if centers.ndim != 2 or centers.shape[0] != k:
        raise ValueError(
            f"The shape of the initial centers {tuple(centers.shape)} does not match the number of clusters {k}."
        )
    if centers.shape[1] != x.shape[1]:
        raise ValueError(
            f"The shape of the initial centers {tuple(centers.shape)} does not match the number of "
            f"features of the data {x.shape[1]}."
        )
    placed = to_compute_dtype(placed, xp, checks, dtype=x.dtype, name=what)
    if not caps.read_bool(xp.all(xp.isfinite(placed))):
        raise ValueError(f"{what} contains NaN or infinity.")
    return placed


class _Run(NamedTuple):
    centers: Any
    labels: Any
    inertia: Any
    n_iter: Any
    n_distinct: Any


def _read_number(a: Any) -> float:
    """The value of a 0-d array on the host (a scalar attribute such as ``inertia_``).

    ``float(a)``: the capability layer has no explicit read of a number (``read_bool``
    reads flags); on JAX this is an implicit device-to-host copy (allowed on CPU)."""
    return float(a)


def scale_value(s: Any) -> float:
    """The range scale ``s`` (:func:`xpcluster._core.scale.range_scale`) as a Python float."""
    return 1.0 if is_unit(s) else _read_number(s)


def unscaled_number(value: float, s: float, power: int, *, what: str | None = None) -> float:
    """A host number of the data's unit to ``power`` (an inertia: 2), computed on scaled
    data, in the data's unit: divided by ``s`` ``power`` times in float64, so that neither
    the input's float32 range nor ``s**power`` (which may not be representable) limits it.

    With ``what`` (a result given to the user), a value float64 cannot hold -- beyond its
    maximum, or a non-zero one below its smallest normal number (data near 1e300 or
    1e-300, squared) -- raises ``ValueError`` naming it, rather than coming back as inf or 0.
    """
    scaled_value = value
    for _ in range(power):
        value = value / s
    if what is not None and math.isfinite(scaled_value):
        if math.isinf(value):
            raise ValueError(
                f"{what} exceeds the range of float64 (largest value {_FLOAT64.max:.4g}); scale the "
                "data towards 1 (e.g. divide it by a power of two) to get it"
            )
        if scaled_value != 0 and abs(value) < _FLOAT64.smallest_normal:
            raise ValueError(
                f"{what} is below the range of float64 (smallest normal value {_FLOAT64.smallest_normal:.4g}); "
                "scale the data towards 1 (e.g. multiply it by a power of two) to get it"
            )
    return value


_FLOAT64 = np.finfo(np.float64)


def _materialise(arrays: tuple[Any, ...], caps: Any, xp: Any) -> tuple[Any, ...]:
    """The arrays with their values computed once, together.

    On lazy backends a ``while_loop`` whose condition is false from the start: Dask's
    persists the whole state in one compute, so results sharing one pass over the data
    are not each recomputed when read.  Other backends hand the arrays back as they are.
    """
    if not caps.defers_checks:  # eager and traced backends: values exist (or will) as they are
        return tuple(arrays)
    return caps.while_loop(lambda state: False, lambda state: state, tuple(arrays))


def draw_seeding(init: Any, x: Any, weights: Any, k: int, rng: Any, *, xp: Any, caps: Any,
                 checks: Any = None) -> tuple[str, tuple[Any, ...]]:
    """The name of seeding method ``init`` for :func:`initial_centers` and its draws, made on
    the host (in scikit-learn's order) and placed on ``x``'s device; user centres (an array,
    or what a callable returns, given ``x``) validated and placed like ``x``, in ``x``'s
    units (a caller computing on scaled data scales them)."""
    n, d = x.shape
    if isinstance(init, str):
        if init == "k-means++":
            trials = 2 + int(np.log(k))
            first = _rng.draw_uniform(rng, 1)
            rest = _rng.draw_uniform(rng, (k - 1) * trials).reshape(k - 1, trials)
            host: tuple[np.ndarray, ...] = (first, rest)
        elif init == "random" and weights is None:
            # NumPy's choice with scikit-learn's uniform p, for its exact draws.
            dtype = _host_dtype(x.dtype, xp)
            p = np.ones(n, dtype=dtype) / dtype.type(n)
            host = (np.asarray(rng.choice(n, size=k, replace=False, p=p), dtype=np.int64),)
        elif init == "random":
            if not caps.read_bool(xp.count_nonzero(weights > 0) >= k):
                raise ValueError(f"init='random' needs at least n_clusters={k} samples of positive weight")
            init, host = "random-weighted", (_rng.draw_uniform(rng, k),)
        else:
            host = draw_kmeans_parallel(rng, n, d, k)
        return init, tuple(place_draw(h, x, xp, caps) for h in host)
    if callable(init):
        centers = init(native(x), k, random_state=rng)
        return "array", (_as_centers(centers, x, k, xp=xp, caps=caps, what="The centres returned by init",
                                     checks=checks),)
    return "array", (_as_centers(init, x, k, xp=xp, caps=caps, what="init", checks=checks),)


# ---------------------------------------------------------------------------------------
# Estimators
# ---------------------------------------------------------------------------------------


class _KMeansMixin(BaseEstimator):
    """What KMeans and MiniBatchKMeans share once fitted: predict, transform, score, tags.

    A subclass of the estimators' base, so that scikit-learn's ``set_output`` wraps the
    ``transform`` and ``fit_transform`` defined here (it wraps methods where a class defines them)."""

    cluster_centers_: Any
    _accepts_sparse = True  # SciPy sparse input (validate_data)

    def _check_common_params(self) -> None:
        owner = type(self).__name__
        check_int(self, "n_clusters", self.n_clusters, 1)
        check_int(self, "max_iter", self.max_iter, 1)
        check_real(self, "tol", self.tol, 0.0)  # NaN and infinity refused, as scikit-learn
        check_verbose(self, self.verbose)
        init = self.init
        if isinstance(init, str):
            if init not in _INIT_NAMES:
                raise invalid_parameter(f"The 'init' parameter of {owner} must be one of {list(_INIT_NAMES)}, "
                                        f"a callable or an array of shape (n_clusters, n_features). Got {init!r} instead.")
        elif not (callable(init) or _is_array_like(init)):
            raise invalid_parameter(f"The 'init' parameter of {owner} must be a str among {list(_INIT_NAMES)}, a "
                                    f"callable or an array-like. Got {init!r} instead.")
        n_init = self.n_init
        if not (isinstance(n_init, str) and n_init == "auto"):
            check_int(self, "n_init", n_init, 1)
        if isinstance(self.random_state, bool | np.bool_) or (self.random_state is not None and not isinstance(
            self.random_state, (numbers.Integral, np.random.RandomState, np.random.Generator)
        )):
            raise invalid_parameter(f"The 'random_state' parameter of {owner} must be None, an int, a "
                                    f"numpy.random.RandomState or a numpy.random.Generator. Got {self.random_state!r}.")

    def _resolved_n_init(self, default: int) -> int:
        init, n_init = self.init, self.n_init
        if isinstance(n_init, str):  # 'auto', as scikit-learn
            return default if (isinstance(init, str) and init == "random") or callable(init) else 1
        if not isinstance(init, str) and not callable(init) and n_init != 1:
            warnings.warn(
                f"Explicit initial center position passed: performing only one init in "
                f"{type(self).__name__} instead of n_init={n_init}.",
                RuntimeWarning,
                stacklevel=3,
            )
            return 1
        return int(n_init)

    def predict(self, X: Any) -> Any:
        """Index of the closest cluster centre for each sample.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
            New data, in the namespace and on the device of the fitted centres.

        Returns
        -------
        labels : array of int32, shape (n_samples,)
            In ``X``'s namespace and on its device; lazy for Dask input.  NaN or infinity in
            ``X`` raise ``ValueError`` (when computed, on Dask; when the program runs,
            under ``jax.jit``).  Data of any magnitude the dtype holds (up to its maximum,
            down to its smallest normal numbers) is compared exactly as if squares could
            not overflow or underflow: it is scaled by a power of two first.
        """
        xp, caps, checks, X, centers = fitted_input(self, X)
        s = range_scale(X, centers, xp=xp, caps=caps)
        labels = caps.compiled(predict_core, PREDICT_STATIC)(
            scaled(X, s), scaled(centers, s), xp=xp, caps=caps, budget=memory_budget_bytes()
        )
        (labels,) = checks.attach(labels)
        return labels

    def transform(self, X: Any) -> Any:
        """Euclidean distances of each sample to every cluster centre.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
            New data, in the namespace and on the device of the fitted centres.

        Returns
        -------
        distances : array of shape (n_samples, n_clusters)
            In ``X``'s namespace and device, in the wider of ``X``'s compute dtype and the
            centres' dtype; lazy for Dask input.  A distance beyond that dtype's maximum
            raises ``ValueError`` (it cannot be held).
        """
        return scaled_distances(transform_core, PREDICT_STATIC, fitted_input(self, X))

    def score(self, X: Any, y: Any = None, sample_weight: Any = None) -> float:
        """Opposite of the (weighted) inertia of ``X`` with respect to the fitted centres.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
            New data.
        y : None
            Ignored.
        sample_weight : array of shape (n_samples,), optional
            Weight of each sample.

        Returns
        -------
        score : float
            ``-sum(w_i * |x_i - c_{label_i}|^2)``, larger is better (a value read to the
            host: a compute on Dask).  A Python float: computed on data scaled by a power
            of two and unscaled in float64, it is finite even where the squares would
            overflow the data's dtype (float32 data near its maximum).
        """
        xp, caps, checks, X, centers = fitted_input(self, X)
        refuse_non_finite(X, xp=xp, caps=caps)
        weights = check_sample_weight(sample_weight, X, xp=xp, caps=caps)
        s = range_scale(X, centers, xp=xp, caps=caps, now=True)
        inertia = caps.compiled(score_core, PREDICT_STATIC)(
            scaled(X, s), weights, scaled(centers, s), xp=xp, caps=caps, budget=memory_budget_bytes()
        )
        (inertia,) = checks.attach(inertia)
        return -unscaled_number(_read_number(inertia), scale_value(s), 2, what="the score")

    def fit_predict(self, X: Any, y: Any = None, sample_weight: Any = None) -> Any:
        """Fit, then return ``labels_`` (the labels of the final assignment of ``X``)."""
        return self.fit(X, sample_weight=sample_weight).labels_

    def fit_transform(self, X: Any, y: Any = None, sample_weight: Any = None) -> Any:
        """Fit, then return the distances of ``X`` to the centres (see :meth:`transform`)."""
        return self.fit(X, sample_weight=sample_weight).transform(X)

    def __sklearn_tags__(self) -> Any:
        return clusterer_tags(sparse=True)


class KMeans(_KMeansMixin):
    """K-means clustering with scikit-learn's interface, in the data's own array library.

    Lloyd's algorithm from greedy k-means++ seeding, as ``sklearn.cluster.KMeans``
    (``algorithm='lloyd'``): same parameters, attributes, convergence rule and, for NumPy
    input, the same random draws.  Data from PyTorch, JAX, CuPy, Dask or any Array API
    library stays in that library and on its device; the fitted centres and labels come
    back there, the centres in the data's compute dtype: float64 and float32 as given (in
    native byte order), integers and booleans in the device's widest float (float64, or
    float32 on JAX without x64), half precision in float32.  Data of any magnitude the
    dtype holds (float32 near 1e30, 1e-30 or its maximum) is clustered as if squares could
    not overflow or underflow: the computation runs on the data scaled by a power of two
    (exact) and the results are scaled back.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of clusters (centres) to form.
    init : {'k-means++', 'random', 'k-means||'}, callable or array of shape (n_clusters, n_features), default='k-means++'
        'k-means++': greedy k-means++ (``2 + int(log(n_clusters))`` candidates per centre,
        keeping the one that lowers the potential most) with sample weights, as
        scikit-learn.  'random': ``n_clusters`` distinct rows drawn with probability
        proportional to their weight.  'k-means||': k-means|| seeding (Bahmani et al.
        2012; a few passes over the data instead of ``n_clusters``, for large or
        distributed data; it ignores sample weights).  An array: the initial centres.  A
        callable: ``init(X, n_clusters, random_state=random_state)`` returning them.
    n_init : 'auto' or int, default='auto'
        Number of runs from different seeds; the run with the lowest inertia is kept.
        'auto': 1 for 'k-means++', 'k-means||' and an array, 10 for 'random' and a callable.
    max_iter : int, default=300
        Maximum number of Lloyd iterations of one run.
    tol : float, default=1e-4
        Convergence tolerance, relative to the data: a run stops when the squared shift of
        the centres, summed over centres, is at most ``tol`` times the mean variance of
        the features of ``X``.  It also stops when the labels repeat.
    verbose : int, default=0
        Print each run's inertia and iteration count when positive.
    random_state : None, int, numpy.random.RandomState or numpy.random.Generator, default=None
        Source of the host random draws (seeding).  None: NumPy's global random state;
        an int: ``numpy.random.RandomState(random_state)``, as scikit-learn.
    copy_x : bool, default=True
        Kept for compatibility (it must be a bool): ``X`` is never modified, whatever its value.
    algorithm : {'lloyd', 'elkan', 'auto'}, default='lloyd'
        'elkan' runs an exact accelerated Lloyd: each sample keeps an upper bound on its
        distance to its own centre and a lower bound on the distance to every other
        (Hamerly's bounds, loosened by the centres' moves each iteration), and only the
        samples whose bounds fail are scored (about 5 % of them once the centres settle,
        in ``benchmarks/elkan.py``).  Skipping needs a proven gap wider than the rounding
        of Lloyd's own scores, scored samples take their label from Lloyd's own scores,
        and the centres come from the same sums in the same order, so labels, centres,
        ``inertia_`` and ``n_iter_`` equal 'lloyd''s from the same start, ties included.
        Memory: O(n) for the bounds.  It runs on every backend: eager arrays select the
        failing samples exactly; JAX (every core is compiled, ``jax.jit`` included)
        gathers them in fixed-size rounds inside the compiled loop (the first call
        compiles about twice as long as 'lloyd''s); Dask runs the bounded pass block by
        block; sparse input and ``torch.compile`` traces run Lloyd's iterations (the
        same answer).  Where most samples keep failing their bounds (data without
        clusters) the loop finishes with Lloyd's own iterations.  The bounds pay off
        where the distance products dominate an iteration, many centres: 0.64x Lloyd's
        time at k=256 on 100,000 x 32, but 1.1-1.4x at k <= 128 on most shapes measured.
        'auto' runs 'elkan' from k=256 on and 'lloyd' below (the same answer either way);
        on Dask data too large to run as one task it runs 'lloyd': there each iteration's
        fixed scheduling cost outweighs the products the bounds save (11.5 s against 10.2 s
        on 200,000 x 32 in 8 blocks, k=256).
        'lloyd' is the default, as in scikit-learn.

    Attributes
    ----------
    cluster_centers_ : array of shape (n_clusters, n_features)
        The centres, in ``X``'s namespace and device and its compute dtype (see above).
    labels_ : array of int32, shape (n_samples,)
        Label of each training sample: its nearest final centre.
    inertia_ : float
        Sum of (weighted) squared distances of the samples to their centre: a Python
        float (float64), finite also where it exceeds the range of float32 data.
    n_iter_ : int
        Lloyd iterations of the kept run.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of str
        Column names of ``X``, when it is a data frame with string column names.

    Notes
    -----
    Empty clusters are handled as in scikit-learn: at each iteration every empty cluster
    receives the sample farthest from its centre (the farthest first, lowest cluster index
    first), that sample's weight moving out of its own cluster; clusters that stay empty
    (more clusters than distinct points) keep their previous centre and a
    :class:`ConvergenceWarning` says so.

    On JAX the whole run (seeding, the ``lax.while_loop`` of Lloyd iterations, the final
    assignment) is one compiled program; ``fit`` itself runs eagerly (it reads the inertia
    of each run to keep the best), while ``predict`` and ``transform`` also work inside
    ``jax.jit``.  On Dask, data of NumPy blocks up to ``xpcluster.gather-bytes`` (Dask
    config, 256 MiB by default) runs each numeric core as one task on the gathered
    blocks; larger data keeps X persisted when it fits in memory and computes each Lloyd
    step together with its small convergence flag (one pass over the data per
    iteration).  ``predict`` and ``transform`` compute nothing.

    Examples
    --------
    >>> import numpy as np
    >>> from xpcluster.cluster import KMeans
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
    >>> kmeans = KMeans(n_clusters=2, random_state=0).fit(X)
    >>> kmeans.labels_
    array([1, 1, 1, 0, 0, 0], dtype=int32)
    >>> kmeans.predict(np.array([[0, 0], [12, 3]]))
    array([1, 0], dtype=int32)
    >>> kmeans.cluster_centers_
    array([[10.,  2.],
           [ 1.,  2.]])
    """

    def __init__(self, n_clusters: int = 8, *, init: Any = "k-means++", n_init: Any = "auto", max_iter: int = 300,
                 tol: float = 1e-4, verbose: int = 0, random_state: Any = None, copy_x: bool = True,
                 algorithm: str = "lloyd") -> None:
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.verbose = verbose
        self.random_state = random_state
        self.copy_x = copy_x
        self.algorithm = algorithm

    def _check_params(self) -> None:
        self._check_common_params()
        check_bool(self, "copy_x", self.copy_x)
        if not isinstance(self.algorithm, str) or self.algorithm not in ("lloyd", "elkan", "auto"):
            raise invalid_parameter(f"The 'algorithm' parameter of KMeans must be a str among ['auto', 'elkan', "
                                    f"'lloyd']. Got {self.algorithm!r} instead.")

    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> "KMeans":
        """Compute k-means clustering.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
            Training data, in any Array API library (or anything NumPy converts).
        y : None
            Ignored.
        sample_weight : array of shape (n_samples,) or float, optional
            Weight of each sample (used by the seeding too, except 'k-means||', an array
            and a callable).

        Returns
        -------
        self : KMeans
            The fitted estimator.
        """
        self._check_params()
        xp, _, X = validate_data(self, X, reset=True)
        caps = capabilities_for(xp)
        checks = Checks(caps, now=True)
        x = caps.persist(caps.known_rows(X))  # read once per iteration: kept materialised on Dask
        n, d = x.shape
        k = int(self.n_clusters)
        if self.algorithm == "elkan" and k == 1:
            warnings.warn("algorithm='elkan' doesn't make sense for a single cluster. Using 'lloyd' instead.",
                          RuntimeWarning, stacklevel=2)
        if n < k:
            raise ValueError(f"n_samples={n} should be >= n_clusters={k}.")
        refuse_non_finite(x, xp=xp, caps=caps)
        weights = check_sample_weight(sample_weight, x, xp=xp, caps=caps, checks=checks)
        n_init = self._resolved_n_init(default=10)
        weights = None if weights is None else caps.persist(weights)
        rng = _rng.random_source(self.random_state)
        given = None  # centres given as an array: validated once, part of the range
        if not isinstance(self.init, str) and not callable(self.init):
            given = _as_centers(self.init, x, k, xp=xp, caps=caps, what="init", checks=checks)
        # Every run computes on the data scaled by a power of two into the dtype's safe range
        # (nothing is multiplied for data already inside it); results are unscaled after.
        s = range_scale(x, given, xp=xp, caps=caps, now=True)
        xs = _scaled_data(x, s, caps)
        run = caps.compiled(fit_core, FIT_STATIC)
        tolerance = caps.compiled(tolerance_core, TOLERANCE_STATIC)
        tolerances: dict[int, tuple[Any, Any]] = {}  # per data the runs see (a callable's centres may rescale it)
        best: _Run | None = None
        best_scale, best_inertia, best_factor = 1.0, math.inf, 1.0
        for i in range(n_init):
            if given is not None:
                init, draws = "array", (given,)
            else:
                init, draws = draw_seeding(self.init, x, weights, k, rng, xp=xp, caps=caps, checks=checks)
            run_s, run_x = s, xs
            if init == "array" and given is None:  # a callable's centres: part of this run's range
                run_s = range_scale(x, draws[0], xp=xp, caps=caps, now=True)
                run_x = xs if is_unit(run_s) and is_unit(s) else _scaled_data(x, run_s, caps)
            if init == "array":
                draws = (scaled(draws[0], run_s),)
            factor = scale_value(run_s)
            if self.verbose:
                result = self._verbose_run(run_x, weights, draws, init, k, factor, xp=xp, caps=caps)
            else:
                if id(run_x) not in tolerances:
                    tolerances[id(run_x)] = (run_x, caps.persist(tolerance(run_x, tol=float(self.tol), xp=xp)))
                result = _Run(*_materialise(
                    run(run_x, weights, draws, tolerances[id(run_x)][1], init=init, k=k, max_iter=int(self.max_iter),
                        xp=xp, caps=caps, budget=memory_budget_bytes(), algorithm=self.algorithm),
                    caps, xp,
                ))
            inertia = _read_number(result.inertia)
            if best is None or (
                _lower(inertia, factor, best_inertia, best_factor) and not caps.read_bool(
                    caps.compiled(same_clustering_core, ("k", "xp", "caps", "budget"))(
                        result.labels, best.labels, k=k, xp=xp, caps=caps, budget=memory_budget_bytes()
                    )
                )
            ):
                best, best_scale, best_inertia, best_factor = result, run_s, inertia, factor
        assert best is not None
        distinct = int(_read_number(best.n_distinct))
        if distinct < k:
            warnings.warn(
                f"Number of distinct clusters ({distinct}) found smaller than n_clusters ({k}). "
                "Possibly due to duplicate points in X.",
                ConvergenceWarning,
                stacklevel=2,
            )
        self.cluster_centers_ = unscaled_checked(best.centers, best_scale, 1, xp=xp, checks=checks,
                                                 what="a cluster centre")
        self.labels_ = best.labels
        self.inertia_ = unscaled_number(best_inertia, best_factor, 2, what="inertia_")
        self.n_iter_ = int(_read_number(best.n_iter))
        return self


    def _verbose_run(self, x: Any, weights: Any, draws: tuple[Any, ...], init: str, k: int, factor: float, *,
                     xp: Any, caps: Any) -> _Run:
        """One run as ``fit_core`` makes it, stepped on the host to print scikit-learn's
        progress lines (inertias in the data's unit; ``x`` is scaled by ``factor``)."""
        budget = memory_budget_bytes()
        centers = caps.compiled(seed_core, SEED_STATIC)(x, weights, draws, init=init, k=k, xp=xp, caps=caps,
                                                         budget=budget)
        print("Initialization complete")
        tol = float(self.tol)
        tol_scaled = mean_feature_variance(x, xp=xp) * tol if tol != 0 else xp.zeros_like(x[0, 0])
        step = caps.compiled(verbose_step_core, STEP_STATIC)
        with memory_budget(budget):  # the rows laid out once, as lloyd lays them out
            prepared = prepare_rows(x, centers[0:1, :], xp=xp) if weights is None else None
        labels = xp.zeros_like(x[:, 0], dtype=xp.int32) - 1
        n_iter = 0
        arrays = None if prepared is None else (prepared.rows, prepared.origin)
        ones = True if prepared is None else bool(prepared.ones)
        for i in range(int(self.max_iter)):
            centers, labels, inertia, unchanged, shift, within = _materialise(
                step(x, weights, centers, labels, tol_scaled, arrays, prepared_ones=ones, xp=xp, caps=caps,
                     budget=budget), caps, xp)
            n_iter = i + 1
            print(f"Iteration {i}, inertia {unscaled_number(_read_number(inertia), factor, 2)}.")
            if caps.read_bool(unchanged):
                print(f"Converged at iteration {i}: strict convergence.")
                break
            if caps.read_bool(within):
                print(f"Converged at iteration {i}: center shift {unscaled_number(_read_number(shift), factor, 2)} "
                      f"within tolerance {unscaled_number(_read_number(tol_scaled), factor, 2)}.")
                break
        labels, inertia, n_distinct = _materialise(
            caps.compiled(final_core, PREDICT_STATIC)(x, weights, centers, xp=xp, caps=caps, budget=budget), caps, xp)
        return _Run(centers, labels, inertia, xp.asarray(n_iter), n_distinct)


def _lower(a: float, a_scale: float, b: float, b_scale: float) -> bool:
    """Whether inertia ``a`` (computed at scale ``a_scale``) is below ``b`` (at ``b_scale``):
    compared as computed when the scales agree, else in the data's unit."""
    if a_scale == b_scale:
        return a < b
    return unscaled_number(a, a_scale, 2) < unscaled_number(b, b_scale, 2)


def _scaled_data(x: Any, s: Any, caps: Any) -> Any:
    """``x`` scaled by ``s`` for the passes of a fit (kept materialised on lazy backends)."""
    return x if is_unit(s) else caps.persist(scaled(x, s))


# ---------------------------------------------------------------------------------------
# scikit-learn's functions
# ---------------------------------------------------------------------------------------

#: Keyword arguments of ``plusplus_core`` that are compile-time constants.
PLUSPLUS_STATIC = ("k", "xp", "caps", "budget")


def plusplus_core(x: Any, weights: Any, draws: tuple[Any, Any], *, k: int, xp: Any, caps: Any, budget: int) -> Any:
    """Row indices of the greedy k-means++ seeds of ``x`` (for :func:`kmeans_plusplus`)."""
    with memory_budget(budget):
        return greedy_kmeans_plusplus_indices(x, weights, draws, k, xp=xp, caps=caps)


class _FunctionName:
    """Names a public function in the messages of the shared validation helpers."""

    _accepts_sparse = True

    def __init__(self, name: str) -> None:
        self._name = name


def _caller(name: str) -> Any:
    return type(name, (_FunctionName,), {})(name)


def kmeans_plusplus(X, n_clusters, *, sample_weight=None, x_squared_norms=None, random_state=None,
                    n_local_trials=None):
    """Greedy k-means++ seeds of ``X``, as ``sklearn.cluster.kmeans_plusplus``, on any backend.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        The data, in any Array API library (or anything NumPy converts).
    n_clusters : int
        Number of seeds to pick.
    sample_weight : array of shape (n_samples,) or float, optional
        Weight of each sample: picks are drawn with probability proportional to it (a
        zero-weight sample is never picked).
    x_squared_norms : array of shape (n_samples,), optional
        Accepted for scikit-learn's signature and checked for its length; not used: the
        distances are computed from ``X`` itself (shifted and range-scaled, so that they
        are exact also far from the origin and near the dtype's limits).
    random_state : None, int, numpy.random.RandomState or numpy.random.Generator
        Source of the host random draws (scikit-learn's order: NumPy input picks the rows
        scikit-learn picks).
    n_local_trials : int, optional
        Candidates tried per seed; default ``2 + int(log(n_clusters))``.

    Returns
    -------
    centers : array of shape (n_clusters, n_features)
        The picked rows of ``X``, in its namespace, device and compute dtype.
    indices : array of shape (n_clusters,)
        Their row indices (the namespace's default index dtype, on ``X``'s device).

    Examples
    --------
    >>> import numpy as np
    >>> from xpcluster import kmeans_plusplus
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
    >>> centers, indices = kmeans_plusplus(X, n_clusters=2, random_state=0)
    >>> centers
    array([[10.,  2.],
           [ 1.,  0.]])
    >>> indices
    array([3, 2])
    """
    caller = _caller("kmeans_plusplus")
    k = check_int(caller, "n_clusters", n_clusters, 1)
    if n_local_trials is not None:
        check_int(caller, "n_local_trials", n_local_trials, 1)
    xp, _, X = validate_data(caller, X, reset=True)
    caps = capabilities_for(xp)
    n = X.shape[0]
    if n < k:
        raise ValueError(f"n_samples={n} should be >= n_clusters={k}.")
    refuse_non_finite(X, xp=xp, caps=caps)
    weights = check_sample_weight(sample_weight, X, xp=xp, caps=caps)
    if x_squared_norms is not None:
        length = np.shape(x_squared_norms)[0] if np.ndim(x_squared_norms) else 0
        if np.ndim(x_squared_norms) != 1 or length != n:
            raise ValueError(f"The length of x_squared_norms {length} should be equal to the length of "
                             f"n_samples {n}.")
    rng = _rng.random_source(random_state)
    trials = 2 + int(np.log(k)) if n_local_trials is None else int(n_local_trials)
    host = (_rng.draw_uniform(rng, 1), _rng.draw_uniform(rng, (k - 1) * trials).reshape(k - 1, trials))
    draws = tuple(place_draw(h, X, xp, caps) for h in host)
    s = range_scale(X, xp=xp, caps=caps, now=True)  # picks are the same at any scale; exact ones
    indices = caps.compiled(plusplus_core, PLUSPLUS_STATIC)(
        scaled(X, s), weights, draws, k=k, xp=xp, caps=caps, budget=memory_budget_bytes()
    )
    return caps.take_rows(X, indices), indices


def k_means(X, n_clusters, *, sample_weight=None, init="k-means++", n_init="auto", max_iter=300, verbose=False,
            tol=1e-4, random_state=None, copy_x=True, algorithm="lloyd", return_n_iter=False):
    """K-means clustering as a function, as ``sklearn.cluster.k_means``: :class:`KMeans` fitted
    with these parameters (see it for each), on any backend.

    Returns
    -------
    centroid : array of shape (n_clusters, n_features)
        ``cluster_centers_``, in ``X``'s namespace, device and compute dtype.
    label : array of int32, shape (n_samples,)
        ``labels_``.
    inertia : float
        ``inertia_``.
    best_n_iter : int
        ``n_iter_``; returned only with ``return_n_iter=True``.

    Examples
    --------
    >>> import numpy as np
    >>> from xpcluster import k_means
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
    >>> centers, labels, inertia = k_means(X, n_clusters=2, random_state=0)
    >>> labels
    array([1, 1, 1, 0, 0, 0], dtype=int32)
    >>> inertia
    16.0
    """
    if not isinstance(return_n_iter, bool | np.bool_):
        raise invalid_parameter(f"The 'return_n_iter' parameter of k_means must be an instance of 'bool'. "
                                f"Got {return_n_iter!r} instead.")
    est = KMeans(n_clusters=n_clusters, init=init, n_init=n_init, max_iter=max_iter, verbose=verbose, tol=tol,
                 random_state=random_state, copy_x=copy_x, algorithm=algorithm).fit(X, sample_weight=sample_weight)
    if return_n_iter:
        return est.cluster_centers_, est.labels_, est.inertia_, est.n_iter_
    return est.cluster_centers_, est.labels_, est.inertia_
