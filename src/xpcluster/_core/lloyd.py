"""The numeric cores of kmeans2 and kmeans: initial codebook plus the Lloyd loops.

Each core takes arrays already on the data's device (the host draws included) and static
parameters, and contains no host synchronisation: the loops go through the capability
layer's ``fori_loop``/``while_loop`` (compiled loops on JAX), and value checks are returned
as 0-d flags for the caller to deliver.  The face compiles a core with
``caps.compiled(core, STATIC)`` (``jax.jit`` on JAX, nothing elsewhere).
"""
from __future__ import annotations

import math
from typing import Any

from .assign import assign_labels, prepare_rows
from .chunks import memory_budget
from .init import INIT_METHODS
from .update import update_centroids

#: Keyword arguments of the cores that are compile-time constants.
KMEANS2_STATIC = ("init", "k", "n_iter", "xp", "caps", "budget")
KMEANS_STATIC = ("xp", "caps", "budget")
VQ_STATIC = ("xp", "caps", "budget")


def kmeans2_core(x: Any, start: tuple[Any, ...], *, init: str, k: int, n_iter: int, xp: Any, caps: Any, budget: int):
    """``n_iter`` Lloyd iterations from the ``init`` codebook.

    ``start`` is ``(codebook,)`` for ``init='matrix'``, else the method's placed draws.
    Returns ``(centroids, labels, any_empty, bad_start)``: the centroids after the last
    update, the labels of the last assignment (made with the centroids before that update,
    as SciPy's ``kmeans2`` returns them), a 0-d flag, true when some iteration left a
    cluster empty, and one true when the initial codebook is not finite (for
    ``init='random'``: the data's covariance has no Cholesky factor).
    """
    with memory_budget(budget):
        if init == "matrix":
            (centroids,) = start
        else:
            centroids = INIT_METHODS[init][1](x, start, k, xp=xp, caps=caps)
        bad_start = ~xp.all(xp.isfinite(centroids))

        prepared = prepare_rows(x, centroids[0:1, :], xp=xp)

        def step(_: Any, state: tuple[Any, Any, Any]) -> tuple[Any, Any, Any]:
            centroids, _, any_empty = state
            result = assign_labels(x, centroids, xp=xp, caps=caps, with_sums=True, prepared=prepared)
            centroids, has_members = update_centroids(result.sums, result.counts, centroids, xp=xp)
            return centroids, result.labels, any_empty | ~xp.all(has_members)

        labels = xp.zeros_like(x[:, 0], dtype=xp.int32)
        no_empty = xp.zeros_like(centroids[0, 0], dtype=xp.bool)  # (x[0, 0] needs known chunks on Dask)
        return (*caps.fori_loop(0, n_iter, step, (centroids, labels, no_empty)), bad_start)


def _threshold_loop(
    x: Any, centroids: Any, thresh: Any, *, xp: Any, caps: Any, prepared: Any = None
) -> tuple[Any, Any, Any]:
    """SciPy's ``_kmeans``: iterate until the mean distance changes by at most ``thresh``.

    Clusters that lose all their members drop out (``alive`` false) and are never chosen
    again, which is SciPy's removing them from the codebook without changing any shape.
    The loop also stops as soon as an assignment repeats the previous one: SciPy would run
    one more iteration that reproduces the same centroids and distortion exactly (change 0),
    so the result is the same, and the stop no longer hinges on two roundings of one mean
    being equal (a compiler may fuse them differently).
    Returns ``(centroids, alive, distortion)`` with the distortion of the last assignment.
    """
    infinity = xp.full_like(centroids[0, 0], math.inf)

    def keep_going(state: tuple[Any, ...]) -> Any:
        return (state[3] > thresh) & ~state[6]

    def step(state: tuple[Any, ...]) -> tuple[Any, ...]:
        centroids, alive, previous, _, _, previous_labels, _ = state
        result = assign_labels(
            x, centroids, xp=xp, caps=caps, with_sums=True, with_distances=True, alive=alive, prepared=prepared
        )
        distortion = xp.mean(result.distances)
        centroids, has_members = update_centroids(result.sums, result.counts, centroids, xp=xp)
        settled = xp.all(result.labels == previous_labels)
        change = xp.abs(previous - distortion)
        return centroids, alive & has_members, distortion, change, distortion, result.labels, settled

    alive = xp.ones_like(centroids[:, 0], dtype=xp.bool)
    no_labels = xp.zeros_like(x[:, 0], dtype=xp.int32) - 1
    unsettled = xp.zeros_like(alive[0])
    state = (centroids, alive, infinity, infinity, infinity, no_labels, unsettled)
    state = caps.while_loop(keep_going, step, state)
    return state[0], state[1], state[4]


def kmeans_core(x: Any, start: Any, thresh: Any, *, xp: Any, caps: Any, budget: int):
    """SciPy's ``kmeans`` from one guess (``start`` of shape (k, d)) or from restarts.

    With ``start`` an integer array of shape (restarts, k), each restart begins at those
    rows of ``x`` and the lowest-distortion result (the first, on ties) is kept.
    Returns ``(codebook, alive, distortion)``; rows of ``codebook`` with ``alive`` false are
    clusters that emptied, for the caller to drop.
    """
    with memory_budget(budget):
        if xp.isdtype(start.dtype, "real floating"):
            prepared = prepare_rows(x, start[0:1, :], xp=xp)
            return _threshold_loop(x, start, thresh, xp=xp, caps=caps, prepared=prepared)

        first = caps.take_rows(x, start[0, :])
        prepared = prepare_rows(x, first[0:1, :], xp=xp)

        def restart(r: Any, best: tuple[Any, Any, Any]) -> tuple[Any, Any, Any]:
            start_book = caps.take_rows(x, start[r, :])
            book, alive, distortion = _threshold_loop(x, start_book, thresh, xp=xp, caps=caps, prepared=prepared)
            better = distortion < best[2]
            return (
                xp.where(better, book, best[0]),
                xp.where(better, alive, best[1]),
                xp.where(better, distortion, best[2]),
            )

        empty_book = xp.zeros_like(first)
        none_alive = xp.zeros_like(first[:, 0], dtype=xp.bool)
        never = xp.full_like(first[0, 0], math.inf)
        return caps.fori_loop(0, start.shape[0], restart, (empty_book, none_alive, never))


def vq_core(obs: Any, code_book: Any, *, xp: Any, caps: Any, budget: int) -> tuple[Any, Any]:
    """Codes (int32) and Euclidean distances of ``obs`` to their nearest code."""
    with memory_budget(budget):
        result = assign_labels(obs, code_book, xp=xp, caps=caps, with_distances=True)
        return result.labels, result.distances


def whiten_core(obs: Any, *, xp: Any) -> tuple[Any, Any]:
    """``obs`` divided by its column standard deviations (zero ones taken as 1), and the
    0-d flag "some column has zero standard deviation"."""
    std_dev = xp.std(obs, axis=0)
    zero_std = std_dev == xp.zeros_like(std_dev)
    return obs / xp.where(zero_std, xp.ones_like(std_dev), std_dev), xp.any(zero_std)
