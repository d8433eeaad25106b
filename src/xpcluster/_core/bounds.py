"""Exact accelerated Lloyd iterations: distance bounds skip the rows whose label cannot change.

Each row keeps an upper bound ``u`` on its distance to its own centre and, for each of ``G``
groups of centres (contiguous index ranges), a lower bound ``l_g`` on its distance to every
centre of the group but its own.  When the centres move by ``delta_j``, ``u`` grows by its
centre's move and ``l_g`` shrinks by the largest move in the group (the triangle
inequality), so a row whose ``u`` stays below every ``l_g`` keeps its label without a single
distance computed.  With one group this is Hamerly's algorithm (2010); with several, the
global filter of Yinyang k-means (Ding et al., ICML 2015).  Rows whose bounds fail are
gathered (``nonzero`` then ``take``) and scored against every centre in row blocks, which
also makes their bounds tight again.

**Exactness.**  The answer is Lloyd's, not an approximation of it:

* a row is skipped only when its bounds prove a gap wider than the rounding error of the
  score expansion that Lloyd's own pass uses (``4 (d + 2) eps (|x - o|^2 + R^2)`` on the
  squared distances, ``o`` the loop's origin and ``R`` the centres' largest distance from
  it), so Lloyd's pass would have chosen the same centre; the bounds themselves start
  widened by that error, so they bound the true distances;
* the centres are updated from segment sums of every row in Lloyd's row blocks and order
  (the same block function, the same capability), so given equal labels the centres, the
  empty-cluster relocation, the shift and the stopping rule are Lloyd's bit for bit.

Rows scored afresh take their label from an argmin of the same expansion (lowest index on
ties), so exact ties (integer data, duplicated centres) go the same way as in Lloyd's pass.

Memory: ``O(n G)`` for the bounds (``G`` is 1 by default, see :func:`group_count`), the gathered rows of one
pass (at most ``n d``, less as the fit settles) and the budgeted score blocks.

The loop runs on eager arrays only (``caps.compacts_rows``): its row count changes with the
data.  Traced and lazy arrays run :func:`xpcluster.cluster._kmeans.lloyd`.
"""
from __future__ import annotations

import functools
import math
from typing import Any

import array_api_compat

from .._backends import capabilities_for
from .._backends.generic import RowAligned
from .assign import even_rows, prepare_rows, rows_per_chunk
from .update import update_centroids

def group_count(k: int, d: int) -> int:
    """Groups of centres: one (Hamerly's single lower bound) for every shape measured.

    On NumPy (2 cores, ``benchmarks/elkan.py`` shapes and W1-like blobs) one group beat
    k/16 and k/4 groups both at k=64 (0.13 s against 0.15 s) and at k=256 (0.29 s
    against 0.37 s and 0.52 s, 100,000 x 32): the few rows that fail a single bound are
    scored against every centre anyway, so finer bounds save no products here, and each
    group costs a pass over the rows per iteration.  Groups stay available
    (``bounded_lloyd(groups=...)``) for backends and shapes where products dominate.
    """
    return 1


def bounded_lloyd(x: Any, weights: Any, centers: Any, tol: Any, *, max_iter: int, xp: Any, caps: Any,
                  relocate: Any, groups: int | None = None, stats: list | None = None) -> tuple[Any, Any]:
    """Lloyd iterations from ``centers`` with bounds; returns ``(centers, n_iter)`` equal to
    Lloyd's (see the module docstring).  ``relocate`` is the estimator's empty-cluster rule,
    ``relocate(x, weights, centers, labels, sums, mass) -> (sums, mass, labels)``.  When
    ``stats`` is a list, the fraction of rows scored in each iteration is appended to it.
    """
    n, d = x.shape
    k = centers.shape[0]
    caps = caps.for_data(x)
    groups = group_count(k, d) if groups is None else max(1, min(int(groups), k))
    itemsize = xp.finfo(x.dtype).bits // 8
    device = array_api_compat.device(x)
    prepared = prepare_rows(x, centers[0:1, :], xp=xp) if weights is None else None
    origin = centers[0:1, :] if prepared is None else prepared.origin
    map_rows = caps.parallel_map_row_chunks or caps.map_row_chunks
    # Lloyd's row blocks for the sums (assign_labels' partition, so its sums bit for bit).
    sum_rows = even_rows(n, rows_per_chunk(k, d, itemsize, caps.block_bytes, caps.concurrent_blocks()))
    score_rows = rows_per_chunk(k + groups, d, itemsize, caps.block_bytes, caps.concurrent_blocks())
    # Squared rounding error of the expansion's squared distances, per unit of |x-o|^2 + R^2
    # (16x more when Lloyd's pass shifts by each iteration's first centre instead of the
    # fixed origin: |x - o'| <= |x - o| + 2R).  As a distance it is at most
    # sqrt(gamma) |x - o| + sqrt(gamma) R: a fixed part per row and one per iteration.
    gamma = 4.0 * (d + 2) * float(xp.finfo(x.dtype).eps) * (1 if prepared is not None else 16)
    row_slack = math.sqrt(gamma) * xp.sqrt(_row_sq_norms(x, origin, map_rows, sum_rows))

    labels = upper = lower = None
    n_iter = 0
    while n_iter < max_iter:
        shifted = centers - origin
        usable = xp.all(xp.isfinite(centers), axis=1)
        safe = xp.where(usable[:, None], shifted, xp.zeros_like(shifted))
        half_sq = xp.where(usable, 0.5 * xp.sum(safe * safe, axis=1), xp.full((k,), math.inf, dtype=x.dtype, device=device))
        radius_sq = xp.max(xp.where(usable, 2 * half_sq, xp.zeros_like(half_sq)))
        centre_slack = math.sqrt(gamma) * xp.sqrt(radius_sq)
        if labels is None:
            active = None
        else:
            closest = lower[0, :] if groups == 1 else xp.min(lower, axis=0)
            # The rows whose bounds prove no gap beyond the rounding; NaN bounds (a centre
            # went non-finite) are active too.
            active = ~(closest - upper > row_slack + centre_slack)
        labels, upper, lower, scored, changed = _rescore(
            x, origin, safe, half_sq, row_slack, centre_slack, active, labels, upper, lower,
            groups=groups, rows=score_rows, map_rows=map_rows, xp=xp, caps=caps)
        if stats is not None:
            stats.append(scored / max(n, 1))
        sums, counts = _lloyd_sums(x, weights, labels, prepared, origin, k, sum_rows, map_rows, xp=xp)
        mass = xp.astype(counts, sums.dtype)
        sums, mass, labels = relocate(x, weights, centers, labels, sums, mass)
        new_centers, _ = update_centroids(sums, mass, centers, xp=xp)
        shift = xp.sum((new_centers - centers) ** 2)
        n_iter += 1
        drift = xp.sqrt(xp.sum((new_centers - centers) ** 2, axis=1))
        centers = new_centers
        if not caps.read_bool(changed) or caps.read_bool(shift <= tol):
            break
        # Moves of the centres loosen the bounds (rounded outwards: one ulp per step).
        grow = 1 + 2 * float(xp.finfo(x.dtype).eps)
        upper = (upper + xp.take(drift, labels)) * grow
        lower = (lower - _group_max(drift, groups, xp=xp)[:, None]) / grow
    return centers, xp.asarray(n_iter, dtype=xp.int32, device=device)


def _row_sq_norms(x: Any, origin: Any, map_rows: Any, rows: int) -> Any:
    return map_rows(x, rows, _sq_norms_block, origin)[0][0]


def _sq_norms_block(block: Any, origin: Any) -> tuple[tuple[Any], tuple[()]]:
    bxp = array_api_compat.array_namespace(block)
    shifted = block - origin
    return (bxp.sum(shifted * shifted, axis=1),), ()


def _group_max(values: Any, groups: int, *, xp: Any) -> Any:
    """(groups,) largest of ``values`` (k,) over each contiguous group of centres."""
    k = values.shape[0]
    width = -(-k // groups)
    padded = xp.concat([values, xp.full((groups * width - k,), -math.inf, dtype=values.dtype,
                                        device=array_api_compat.device(values))])
    return xp.max(xp.reshape(padded, (groups, width)), axis=1)


def _rescore(x: Any, origin: Any, shifted: Any, half_sq: Any, row_slack: Any, centre_slack: Any, active: Any,
             labels: Any, upper: Any, lower: Any, *, groups: int, rows: int, map_rows: Any, xp: Any,
             caps: Any) -> tuple[Any, Any, Any, int, Any]:
    """Labels, upper bounds (n,) and lower bounds (groups, n) made tight for the ``active``
    rows (all rows when None), the others kept; the number of rows scored, and whether a
    label changed (0-d; true for the first assignment)."""
    n = x.shape[0]
    process = functools.partial(_score_block, groups=groups)
    if active is None:
        per_row, _ = map_rows(x, rows, process, origin, shifted, half_sq, centre_slack, RowAligned(row_slack))
        return per_row[0], per_row[1], xp.stack(per_row[2:], axis=0), n, True
    index = xp.nonzero(active)[0]
    count = int(index.shape[0])
    if count == 0:
        return labels, upper, lower, 0, False
    picked = caps.take_rows(x, index)
    per_row, _ = map_rows(picked, rows, process, origin, shifted, half_sq, centre_slack,
                          RowAligned(xp.take(row_slack, index)))
    new_lower = xp.stack(per_row[2:], axis=0)
    # Only rescored rows can change label (Lloyd's "labels unchanged" test, on them alone).
    changed = xp.any(per_row[0] != xp.take(labels, index))
    if count == n:
        return per_row[0], per_row[1], new_lower, n, changed
    return (caps.put_rows(labels, index, per_row[0]), caps.put_rows(upper, index, per_row[1]),
            caps.put_rows(lower, index, new_lower), count, changed)


def _score_block(block: Any, origin: Any, shifted: Any, half_sq: Any, centre_slack: Any, row_slack: Any, *,
                 groups: int) -> tuple[tuple[Any, ...], tuple[()]]:
    """Labels (lowest index on ties), the distance to the own centre widened by the slack
    and, for each group, the nearest other distance narrowed by it, for one block of rows.

    The scores ``0.5|c|^2 - x.c`` are laid out (k, rows), so that minima over centres and
    over each group's centres are passes over whole rows of scores (a reduction over a
    short last axis costs a per-row overhead: 30x slower on NumPy for groups of 16), and
    minima are taken on the scores (an increasing function of the distance for each row),
    so only the (groups, rows) results become distances."""
    bxp = array_api_compat.array_namespace(block)
    bcaps = capabilities_for(bxp)
    rows_shifted = block - origin
    k = shifted.shape[0]
    m = block.shape[0]
    scores = half_sq[:, None] - shifted @ bxp.matrix_transpose(rows_shifted)
    labels, own = bcaps.column_nearest(scores)
    device = array_api_compat.device(block)
    centres = bxp.arange(k, dtype=labels.dtype, device=device)
    others = bxp.where(centres[:, None] == labels[None, :], math.inf, scores)
    width = -(-k // groups)
    if groups * width != k:
        others = bxp.concat([others, bxp.full((groups * width - k, m), math.inf, dtype=others.dtype, device=device)],
                            axis=0)
    other = bxp.min(bxp.reshape(others, (groups, width, m)), axis=1)
    sq_norms = bxp.sum(rows_shifted * rows_shifted, axis=1)
    slack = row_slack + centre_slack
    own_distance = bxp.sqrt(bxp.clip(sq_norms + 2 * own, min=0.0)) + slack
    other_distance = bxp.sqrt(bxp.clip(sq_norms[None, :] + 2 * other, min=0.0)) - slack[None, :]
    return (labels, own_distance, *(other_distance[g, :] for g in range(groups))), ()


def _lloyd_sums(x: Any, weights: Any, labels: Any, prepared: Any, origin: Any, k: int, rows: int, map_rows: Any, *,
                xp: Any) -> tuple[Any, Any]:
    """Per-cluster (weighted) sums and counts of the rows under ``labels``, computed as
    ``assign_labels`` computes them in Lloyd's pass (same blocks, same block arithmetic)."""
    d = x.shape[1]
    if weights is not None:
        data = xp.concat([x, xp.astype(weights, x.dtype)[:, None]], axis=1)
        sums, _ = map_rows(data, rows, functools.partial(_weighted_sums_block, k=k), RowAligned(labels))[1]
        return sums[:, :d], sums[:, d]
    data = x if prepared is None else prepared.rows
    sums, counts = map_rows(data, rows, functools.partial(_sums_block, k=k), RowAligned(labels))[1]
    if prepared is None:
        return sums, counts
    return sums[:, :d] + xp.astype(counts, sums.dtype)[:, None] * origin, counts


def _sums_block(block: Any, labels: Any, *, k: int) -> tuple[tuple[()], tuple[Any, Any]]:
    bcaps = capabilities_for(array_api_compat.array_namespace(block))
    return (), bcaps.segment_sums(block, labels, k)


def _weighted_sums_block(block: Any, labels: Any, *, k: int) -> tuple[tuple[()], tuple[Any, Any]]:
    bxp = array_api_compat.array_namespace(block)
    bcaps = capabilities_for(bxp)
    d = block.shape[1] - 1
    rows, weights = block[:, :d], block[:, d]
    weighted_rows = bxp.concat([rows * weights[:, None], weights[:, None]], axis=1)
    return (), bcaps.segment_sums(weighted_rows, labels, k)
