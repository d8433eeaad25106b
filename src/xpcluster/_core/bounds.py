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
from typing import Any, NamedTuple

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


#: Iterations in a row scoring more than FULL_PASS_FRACTION of the rows after which the
#: loop gives the bounds up for Lloyd's iterations.
GIVE_UP_AFTER = 3

#: Past this fraction of rows to score, one pass scores every row and sums them too (as
#: Lloyd's pass does), instead of gathering the rows and summing in a pass of its own.
FULL_PASS_FRACTION = 0.5


class _Rows(NamedTuple):
    """The rows as the loop's passes read them, laid out as Lloyd's pass lays them out.

    ``kind`` "shifted": ``data`` is :func:`prepare_rows`' ``x - o`` (then a column of ones
    when it fits), summed as is and moved back by the origin; "weighted": ``[x, w]``;
    "plain": ``x``."""

    data: Any
    kind: str
    d: int


def bounded_lloyd(x: Any, weights: Any, centers: Any, tol: Any, *, max_iter: int, xp: Any, caps: Any,
                  relocate: Any, lloyd_step: Any, prepared: Any = "compute", groups: int | None = None,
                  stats: list | None = None) -> tuple[Any, Any]:
    """Lloyd iterations from ``centers`` with bounds; returns ``(centers, n_iter)`` equal to
    Lloyd's (see the module docstring).  ``relocate`` is the estimator's empty-cluster rule,
    ``relocate(x, weights, centers, labels, sums, mass) -> (sums, mass, labels)``, and
    ``lloyd_step(centers, previous_labels) -> (centers, labels, unchanged, shift)`` its
    plain Lloyd iteration: when the bounds fail for most rows :data:`GIVE_UP_AFTER`
    iterations in a row (data without clusters), keeping them costs more than they save,
    and the loop finishes with Lloyd's own iterations (the same answer).  When ``stats``
    is a list, the fraction of rows scored in each iteration is appended to it (1.0 for
    Lloyd's iterations).  ``prepared`` is :func:`prepare_rows`' result for ``x`` and
    ``centers[0:1]`` when the caller has it (``lloyd_step``'s), made here otherwise.
    """
    n, d = x.shape
    k = centers.shape[0]
    caps = caps.for_data(x)
    groups = group_count(k, d) if groups is None else max(1, min(int(groups), k))
    itemsize = xp.finfo(x.dtype).bits // 8
    device = array_api_compat.device(x)
    if isinstance(prepared, str):  # the caller's prepare_rows result (or None) when given
        prepared = prepare_rows(x, centers[0:1, :], xp=xp) if weights is None else None
    origin = centers[0:1, :] if prepared is None else prepared.origin
    if weights is not None:
        rows = _Rows(xp.concat([x, xp.astype(weights, x.dtype)[:, None]], axis=1), "weighted", d)
    elif prepared is not None:
        rows = _Rows(prepared.rows, "shifted", d)
    else:
        rows = _Rows(x, "plain", d)
    map_rows = caps.parallel_map_row_chunks or caps.map_row_chunks
    # Lloyd's row blocks for the sums (assign_labels' partition, so its sums bit for bit).
    sum_rows = even_rows(n, rows_per_chunk(k, d, itemsize, caps.block_bytes, caps.concurrent_blocks()))
    score_rows = rows_per_chunk(k + groups, d, itemsize, caps.block_bytes, caps.concurrent_blocks())
    # Squared rounding error of the expansion's squared distances, per unit of |x-o|^2 + R^2
    # (16x more when Lloyd's pass shifts by each iteration's first centre instead of the
    # fixed origin: |x - o'| <= |x - o| + 2R).  As a distance it is at most
    # sqrt(gamma) |x - o| + sqrt(gamma) R: a fixed part per row and one per iteration.
    gamma = 4.0 * (d + 2) * float(xp.finfo(x.dtype).eps) * (1 if prepared is not None else 16)
    row_slack = math.sqrt(gamma) * xp.sqrt(map_rows(rows.data, sum_rows, _sq_norms_block, origin, rows.kind, d)[0][0])
    options = {"groups": groups, "kind": rows.kind, "d": d, "k": k}

    labels = upper = lower = None
    n_iter = 0
    crowded = 0  # iterations in a row that scored most rows
    while n_iter < max_iter:
        if crowded >= GIVE_UP_AFTER:
            centers, labels, unchanged, shift = lloyd_step(centers, labels)
            n_iter += 1
            if stats is not None:
                stats.append(1.0)
            if caps.read_bool(unchanged | (shift <= tol)):
                break
            continue
        shifted = centers - origin
        usable = xp.all(xp.isfinite(centers), axis=1)
        safe = xp.where(usable[:, None], shifted, xp.zeros_like(shifted))
        half_sq = xp.where(usable, 0.5 * xp.sum(safe * safe, axis=1), xp.full((k,), math.inf, dtype=x.dtype, device=device))
        radius_sq = xp.max(xp.where(usable, 2 * half_sq, xp.zeros_like(half_sq)))
        centre_slack = math.sqrt(gamma) * xp.sqrt(radius_sq)
        consts = (origin, safe, half_sq, centre_slack)
        index = count = None
        if labels is not None:
            closest = lower[0, :] if groups == 1 else xp.min(lower, axis=0)
            # The rows whose bounds prove no gap beyond the rounding; NaN bounds (a centre
            # went non-finite) are active too.
            index = xp.nonzero(~(closest - upper > row_slack + centre_slack))[0]
            count = int(index.shape[0])
        if count is None or count > FULL_PASS_FRACTION * n:
            # Every row scored, and summed in the same pass (Lloyd's blocks).
            per_row, totals = map_rows(rows.data, sum_rows, functools.partial(_score_block, with_sums=True, **options),
                                       *consts, RowAligned(row_slack))
            changed = True if labels is None else xp.any(per_row[0] != labels)
            labels, upper, lower = per_row[0], per_row[1], xp.stack(per_row[2:], axis=0)
            scored = n
            crowded += 1
        else:
            crowded = 0
            scored = count
            if count:
                # At least one block per thread, so that they share the rows.
                gathered_rows = min(score_rows, max(256, -(-count // max(1, caps.concurrent_blocks()))))
                per_row, _ = map_rows(caps.take_rows(rows.data, index), gathered_rows,
                                      functools.partial(_score_block, with_sums=False, **options),
                                      *consts, RowAligned(xp.take(row_slack, index)))
                # Only rescored rows can change label (Lloyd's "labels unchanged" test, on them).
                changed = xp.any(per_row[0] != xp.take(labels, index))
                labels = caps.put_rows(labels, index, per_row[0])
                upper = caps.put_rows(upper, index, per_row[1])
                lower = caps.put_rows(lower, index, xp.stack(per_row[2:], axis=0))
            else:
                changed = False
            totals = map_rows(rows.data, sum_rows, functools.partial(_sums_block, kind=rows.kind, d=d, k=k),
                              RowAligned(labels))[1]
        if stats is not None:
            stats.append(scored / max(n, 1))
        sums, counts = _lloyd_totals(totals, rows, origin, xp=xp)
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


def _points(block: Any, origin: Any, kind: str, d: int) -> Any:
    """A block's rows less the origin, as Lloyd's pass computes them."""
    return block if kind == "shifted" and block.shape[1] == d else (
        block[:, :d] if kind == "shifted" else block[:, :d] - origin)


def _sq_norms_block(block: Any, origin: Any, kind: str, d: int) -> tuple[tuple[Any], tuple[()]]:
    bxp = array_api_compat.array_namespace(block)
    points = _points(block, origin, kind, d)
    return (bxp.sum(points * points, axis=1),), ()


def _group_max(values: Any, groups: int, *, xp: Any) -> Any:
    """(groups,) largest of ``values`` (k,) over each contiguous group of centres."""
    k = values.shape[0]
    width = -(-k // groups)
    padded = xp.concat([values, xp.full((groups * width - k,), -math.inf, dtype=values.dtype,
                                        device=array_api_compat.device(values))])
    return xp.max(xp.reshape(padded, (groups, width)), axis=1)


def _score_block(block: Any, origin: Any, shifted: Any, half_sq: Any, centre_slack: Any, row_slack: Any, *,
                 groups: int, kind: str, d: int, k: int, with_sums: bool) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """Labels (lowest index on ties), the distance to the own centre widened by the slack
    and, for each group, the nearest other distance narrowed by it, for one block of rows
    (and its segment sums as Lloyd's pass makes them, ``with_sums``).

    The scores ``0.5|c|^2 - x.c`` are laid out (k, rows), so that minima over centres and
    over each group's centres are passes over whole rows of scores (a reduction over a
    short last axis costs a per-row overhead: 30x slower on NumPy for groups of 16), and
    minima are taken on the scores (an increasing function of the distance for each row),
    so only the (groups, rows) results become distances."""
    bxp = array_api_compat.array_namespace(block)
    bcaps = capabilities_for(bxp)
    points = _points(block, origin, kind, d)
    m = block.shape[0]
    scores = half_sq[:, None] - shifted @ bxp.matrix_transpose(points)
    labels, own = bcaps.column_nearest(scores)
    others = bcaps.exclude_own(scores, labels)
    width = -(-k // groups)
    device = array_api_compat.device(block)
    if groups * width != k:
        others = bxp.concat([others, bxp.full((groups * width - k, m), math.inf, dtype=others.dtype, device=device)],
                            axis=0)
    other = bxp.min(bxp.reshape(others, (groups, width, m)), axis=1) if groups > 1 else bxp.min(others, axis=0)[None, :]
    sq_norms = bxp.sum(points * points, axis=1)
    slack = row_slack + centre_slack
    own_distance = bxp.sqrt(bxp.clip(sq_norms + 2 * own, min=0.0)) + slack
    other_distance = bxp.sqrt(bxp.clip(sq_norms[None, :] + 2 * other, min=0.0)) - slack[None, :]
    per_row = (labels, own_distance, *(other_distance[g, :] for g in range(groups)))
    return per_row, (_sums_block(block, labels, kind=kind, d=d, k=k)[1] if with_sums else ())


def _sums_block(block: Any, labels: Any, *, kind: str, d: int, k: int) -> tuple[tuple[()], tuple[Any, Any]]:
    """A block's segment sums as Lloyd's pass makes them (``_lloyd_totals`` finishes them)."""
    bxp = array_api_compat.array_namespace(block)
    bcaps = capabilities_for(bxp)
    if kind == "weighted":
        rows, weights = block[:, :d], block[:, d]
        return (), bcaps.segment_sums(bxp.concat([rows * weights[:, None], weights[:, None]], axis=1), labels, k)
    return (), bcaps.segment_sums(block, labels, k)


def _lloyd_totals(totals: tuple[Any, Any], rows: _Rows, origin: Any, *, xp: Any) -> tuple[Any, Any]:
    """The per-cluster sums and counts (total weights) from the blocks' segment sums, as
    ``assign_labels`` finishes them."""
    sums, counts = totals
    d = rows.d
    if rows.kind == "weighted":
        return sums[:, :d], sums[:, d]
    if rows.kind == "shifted":
        return sums[:, :d] + xp.astype(counts, sums.dtype)[:, None] * origin, counts
    return sums, counts
