"""Exact accelerated Lloyd iterations: distance bounds skip the rows whose label cannot change.

Each row keeps an upper bound ``u`` on its distance to its own centre and, for each of ``G``
groups of centres (contiguous index ranges), a lower bound ``l_g`` on its distance to every
centre of the group but its own.  When the centres move by ``delta_j``, ``u`` grows by its
centre's move and ``l_g`` shrinks by the largest move in the group (the triangle
inequality), so a row whose ``u`` stays below every ``l_g`` keeps its label without a single
distance computed.  With one group this is Hamerly's algorithm (2010); with several, the
global filter of Yinyang k-means (Ding et al., ICML 2015); with one group per centre,
Elkan's (2003) lower bounds.

**The passes.**  In each block of rows, the bounded pass loosens the bounds by the last
moves, selects the rows whose bounds fail, scores just those against every centre (which
makes their bounds tight again) and writes their labels and bounds.  How a block selects
its rows is the backend's ``compaction``: eager arrays (NumPy, PyTorch, CuPy,
array-api-strict, and each block of a Dask array, in its own task) take exactly the failing
rows; under a trace (JAX, whose cores are all compiled, ``jax.jit`` included) a block
gathers a fixed number of them, 1/32 or 1/4 of the block, and scores the whole block when
more fail, each choice a ``lax.cond``.  A block where most rows fail is scored whole.  The
per-cluster sums then come from a pass over Lloyd's own row blocks.  On eager backends the
bounded pass walks blocks of up to :data:`BOUND_BLOCK_ROWS` rows (it reads only the bounds
and the selected rows, and each block costs a few dozen array calls: Lloyd's 2,000-row
blocks made that overhead most of an iteration); while most rows fail (the first
iterations) one fused pass over Lloyd's blocks scores and sums at once.  Under a trace
there is no per-call overhead and the pass is always the fused one.

**Exactness.**  The answer is Lloyd's, not an approximation of it.  With ``a = |x - o|``
(``o`` the loop's fixed origin), ``R`` the centres' largest distance from it and ``eps``
the precision of the backend's products (the dtype's, or TF32's where a GPU library uses
it for float32 products), every squared distance Lloyd's pass compares, and every one the
bounded pass computes, is within ``T = 4 (d + 3) eps (a + R)^2`` of the exact one (the
rounding of the d-term products, of the centres' half norms and of the shifted vectors
themselves; ``a + 3R`` for ``a + R`` where Lloyd's pass shifts by each iteration's first
centre instead).  So:

* a row is skipped only when its bounds prove ``l > u`` and ``l^2 - u^2 > T``: its own
  centre's squared distance is then smaller than any other's by more than the rounding
  of Lloyd's scores, so Lloyd's pass would choose it too;
* a computed distance ``c`` is widened by ``T / max(c, sqrt(T)) + eps c`` into a bound
  (``|d - c| <= |d^2 - c^2| / (d + c)``), the centres' moves are rounded up and every
  loosening rounded outwards, so the bounds bound the exact distances;
* a row that is scored gets its label from Lloyd's own scores: the same terms
  (:func:`scoring_terms`), the same product in the same layout and the same nearest-index
  rule (:func:`nearest_with_others`), so ties and near-ties go the same way;
* the centres are updated from segment sums of every row in Lloyd's row blocks and order
  (the same partition, the same capability), so given equal labels the centres, the
  empty-cluster relocation, the shift and the stopping rule are Lloyd's bit for bit.

Measured against the ``sqrt(T)`` margin an earlier version kept (a gap in distance, not in
squared distance), this skips about half the rows of Gaussian noise in 20 dimensions
instead of none: the rounding of a squared distance is spread over the two distances'
sum, not its square root.

Memory: ``O(n G)`` for the bounds (``G`` is 1 by default, see :func:`group_count`) and the
budgeted blocks; no ``n x k`` array.
"""
from __future__ import annotations

import functools
from typing import Any, NamedTuple

import array_api_compat

from .._backends import capabilities_for
from .._backends import generic
from .._backends.generic import RowAligned
from .assign import (
    even_rows, group_minima, nearest_with_others, pass_rows, prepare_rows, prepared_nearest_with_others,
    prepared_score_weights, scoring_terms,
)
from .chunks import memory_budget_bytes
from .update import update_centroids


def group_count(k: int, d: int) -> int:
    """Groups of centres: one (Hamerly's single lower bound) for every shape measured.

    Measured on NumPy (2 cores, 2026-12-08), to convergence from the same k-means++ start
    on 200,000 x 32 rows of 256 Gaussians (``benchmarks/elkan.py``'s mixture): k=256 took
    1.85 s with one group, 3.39 s with k/16 (Yinyang's rule of thumb), 5.62 s with k/4 and
    15.7 s with k groups (Elkan's bound per centre), against Lloyd's 3.46 s; k=64: 0.67,
    0.70, 0.76 and 1.87 s.  The few rows that fail a single bound are scored against every
    centre anyway, so finer bounds save no products here, while each group is one more
    bound per row to loosen, test and rewrite every iteration.  Groups stay available
    (``bounded_lloyd(groups=...)``, tested) for backends and shapes where products dominate.
    """
    return 1


def bounds_pay_off(k: int, d: int, *, lazy: bool = False) -> bool:
    """Whether ``algorithm='auto'`` runs the bounded loop: from k = 256 centres on, on
    eager and compiled backends (``lazy``: a Dask pass per block, whose scheduling costs
    more per iteration than the bounds save: 11.5 s against Lloyd's 10.2 s on 200,000 x 32
    rows of 256 Gaussians in 8 blocks, k=256, where NumPy takes 1.9 s against 3.4 s).

    A bounded pass still reads every row for the sums and reads and writes each row's
    bounds, so it beats Lloyd's pass only where Lloyd's is dominated by its product; and
    the first iterations, while the centres move far, score most rows anyway.  Measured
    on NumPy, 2 cores, to convergence (tol=1e-4) from k-means++ (2026-12-07), time
    against Lloyd's: k=256 on 100,000 x 32 of 256 Gaussians 0.64x; k=128: 0.96-1.09x
    (200,000 x 8, 81 iterations), 1.02x (Gaussian noise, 20 features), 1.16-1.32x (32 and
    256 features, digits); k=64: 0.83x (8 features) but 1.11-1.17x (32 to 256 features,
    digits); k <= 32: 1.2-1.4x.  ``d`` is kept for rules that would use it.
    """
    return k >= 256 and not lazy


#: Iterations in a row scoring more than FULL_PASS_FRACTION of the rows after which the
#: loop gives the bounds up for Lloyd's iterations (see :func:`patience`).  (Trying them
#: again later, after 4, 8, 16 ... Lloyd iterations, cost more than it saved on every shape
#: measured with k <= 64: a bounded pass that scores a third of the rows is still slower
#: than Lloyd's there.)
GIVE_UP_AFTER = 3


def patience(k: int) -> int:
    """Crowded iterations in a row before the bounds are given up: :data:`GIVE_UP_AFTER`,
    and k / 16 for many centres.  A crowded pass costs Lloyd's product plus O(n) for the
    bounds, which many centres make small beside it, while the first iterations (centres
    moving far, a relocated centre) score most rows before the bounds start to prune: on
    500,000 x 32 rows of 256 Gaussians, k=256, the passes scored 100 %, 50 %, 96 %, then
    6 % and below, and giving up after three took 13.3 s instead of 5.5 s."""
    return max(GIVE_UP_AFTER, k // 16)

#: Past this fraction of a block's rows to score, the whole block is scored.
FULL_PASS_FRACTION = 0.5

#: Under a trace, a block gathers its failing rows this fraction of its rows at a time.
STATIC_ROUND = 1 / 16

#: Most rows per block of the eager bounded pass (fewer when a thread would be idle or the
#: selected rows would outgrow the memory budget).  On 100,000 x 32, k=256 (NumPy, 2
#: cores) blocks 16x Lloyd's (32,768 rows) made a fit 0.35 s against 0.95 s in Lloyd's.
BOUND_BLOCK_ROWS = 65_536


class _Layout(NamedTuple):
    """The rows as Lloyd's pass reads them.

    ``kind`` "ones": :func:`prepare_rows`' ``[x - o, 1]``; "shifted": its ``x - o``;
    "plain": ``x`` (each pass shifts by the first usable centre); "weighted": ``[x, w]``
    (as Lloyd's weighted pass lays them out)."""

    data: Any
    kind: str
    d: int


def bounded_lloyd(x: Any, weights: Any, centers: Any, tol: Any, *, max_iter: int, xp: Any, caps: Any,
                  relocate: Any, lloyd_step: Any, prepared: Any = "compute", groups: int | None = None,
                  stats: list | None = None) -> tuple[Any, Any]:
    """Lloyd iterations from ``centers`` with bounds; returns ``(centers, n_iter)`` equal to
    Lloyd's (see the module docstring).

    ``relocate`` is the estimator's empty-cluster rule, ``relocate(x, weights, centers,
    labels, sums, mass) -> (sums, mass, labels)``, and ``lloyd_step(centers,
    previous_labels) -> (centers, labels, unchanged, shift)`` its plain Lloyd iteration:
    when most rows fail their bounds :func:`patience` iterations in a row (data
    without clusters), keeping them costs more than they save, and the loop finishes with
    Lloyd's own iterations (the same answer).  ``prepared`` is :func:`prepare_rows`' result
    for ``x`` and ``centers[0:1]`` when the caller has it (``lloyd_step``'s), made here
    otherwise.  When ``stats`` is a list (eager arrays), the fraction of rows scored in
    each iteration is appended to it (1.0 for Lloyd's iterations).

    The loop is ``caps.while_loop`` and its branch ``caps.cond``: compiled on JAX, one
    host read per iteration on eager backends, one persisted step per iteration on Dask.
    """
    n, d = x.shape
    k = centers.shape[0]
    caps = caps.for_data(x)
    groups = group_count(k, d) if groups is None else max(1, min(int(groups), k))
    device = array_api_compat.device(x)
    if isinstance(prepared, str):  # the caller's prepare_rows result (or None) when given
        prepared = prepare_rows(x, centers[0:1, :], xp=xp) if weights is None else None
    if weights is not None:
        layout = _Layout(xp.concat([x, xp.astype(weights, x.dtype)[:, None]], axis=1), "weighted", d)
    elif prepared is not None:
        layout = _Layout(prepared.rows, "ones" if prepared.ones else "shifted", d)
    else:
        layout = _Layout(x, "plain", d)
    # The origin the rounding is measured from: the prepared rows' (fixed), else the first
    # starting centre (Lloyd's passes then shift by each iteration's first centre o', and
    # |x - o'| + |c - o'| <= |x - o| + 3R).
    origin = centers[0:1, :] if prepared is None else prepared.origin
    reach_factor = 1.0 if prepared is not None else 3.0
    map_rows = caps.parallel_map_row_chunks or caps.map_row_chunks
    rows = pass_rows(x, k, xp=xp, caps=caps)  # Lloyd's partition: its sums, bit for bit
    bound_rows = _bound_block_rows(x, rows, groups, xp.finfo(x.dtype).bits // 8, caps=caps)
    eps = max(float(xp.finfo(x.dtype).eps), caps.product_epsilon(x))
    tau = 4.0 * (d + 3) * eps  # T = tau (a + R)^2, see the module docstring
    row_norm = xp.sqrt(map_rows(layout.data, rows, _sq_norms_block, origin, layout.kind, d)[0][0])
    block_options = {"kind": layout.kind, "d": d, "k": k, "groups": groups, "score_rows": rows, "tau": tau, "eps": eps}
    fused_fn = functools.partial(_bounded_block, with_sums=True, **block_options)
    bound_fn = functools.partial(_bounded_block, with_sums=False, **block_options)
    sums_fn = functools.partial(_sums_block, kind=layout.kind, d=d, k=k)
    give_up_after = patience(k)
    counter = x.dtype  # counts ride as floats: exact far beyond any "> 0" and ratio they feed

    # The loop's state: (centers, labels, upper, lower, drift, n_iter, go, crowded, fused,
    # plain, history, tol); ``crowded`` counts bounded passes in a row that scored most
    # rows, ``fused`` and ``plain`` are the next iteration's branches, kept in the state so
    # that Dask persists them with it (a branch on a value derived afresh would cost a
    # compute of its own each iteration).
    def bounded_iteration(state: tuple[Any, ...]) -> tuple[Any, ...]:
        centers, labels, upper, lower, drift, n_iter, _, crowded, fused_next, plain, history, tol = state
        centre_origin, shifted, half_sq = scoring_terms(centers, prepared, xp=xp)
        if layout.kind == "ones":
            score_consts = (prepared_score_weights(shifted, half_sq, xp=xp),)
        else:
            score_consts = (centre_origin, shifted, half_sq)
        radius = xp.sqrt(xp.max(xp.where(xp.isfinite(half_sq), xp.sum((centers - origin) ** 2, axis=1),
                                         xp.zeros_like(half_sq))))
        reach = reach_factor * radius * (1 + (d + 3) * eps)  # rounded up
        bound_args = (RowAligned(labels), RowAligned(upper), RowAligned(lower), RowAligned(row_norm), drift,
                      group_max(drift, groups, xp=xp), reach, *score_consts)

        def fused(*args: Any) -> tuple[Any, ...]:  # scored and summed in Lloyd's blocks
            per_row, totals = map_rows(layout.data, rows, fused_fn, *args)
            return (*per_row, *totals)

        def split(*args: Any) -> tuple[Any, ...]:  # bounds in large blocks, then Lloyd's sums
            per_row, totals = map_rows(layout.data, bound_rows, bound_fn, *args)
            _, sums = map_rows(layout.data, rows, sums_fn, RowAligned(per_row[0]))
            return (*per_row, *sums, *totals)

        if bound_rows == rows:
            outputs = fused(*bound_args)
        else:  # fused while most rows fail (the first pass, crowded passes)
            outputs = caps.cond(fused_next, fused, split, *bound_args)
        # One materialised pass (Dask): the relocation's test and the loop's state both read it.
        labels, upper, lower, sums, counts, scored, changed, seen = caps.persist_together(outputs)
        sums, counts = _lloyd_totals(sums, counts, layout, origin if prepared is not None else None, xp=xp)
        mass = xp.astype(counts, sums.dtype)
        sums, mass, labels = relocate(x, weights, centers, labels, sums, mass)
        new_centers, _ = update_centroids(sums, mass, centers, xp=xp)
        shift = xp.sum((new_centers - centers) ** 2)  # Lloyd's, as Lloyd computes it
        drift = xp.sqrt(xp.sum((new_centers - centers) ** 2, axis=1)) * (1 + (d + 3) * eps)  # rounded up
        crowded = xp.where(scored > FULL_PASS_FRACTION * seen, crowded + 1, xp.zeros_like(crowded))
        fused_next, plain = crowded > 0, crowded >= give_up_after
        history = _recorded(history, n_iter, scored / seen, xp=xp)
        go = (changed > 0) & (shift > tol) & (n_iter + 1 < max_iter)
        return new_centers, labels, upper, lower, drift, n_iter + 1, go, crowded, fused_next, plain, history, tol

    def lloyd_iteration(state: tuple[Any, ...]) -> tuple[Any, ...]:
        centers, labels, upper, lower, drift, n_iter, _, crowded, fused_next, plain, history, tol = state
        new_centers, labels, unchanged, shift = lloyd_step(centers, labels)
        history = _recorded(history, n_iter, xp.ones_like(history[0]), xp=xp)
        go = ~(unchanged | (shift <= tol)) & (n_iter + 1 < max_iter)
        return new_centers, labels, upper, lower, drift, n_iter + 1, go, crowded, fused_next, plain, history, tol

    def step(state: tuple[Any, ...]) -> tuple[Any, ...]:
        return caps.cond(state[9], lloyd_iteration, bounded_iteration, state)

    # No labels yet (Lloyd's first pass compares with -1 too) and bounds that fail (an
    # upper bound of 0 above a lower bound of -1): the first pass scores every row.
    zero = xp.zeros_like(row_norm)
    int_zero = xp.zeros((), dtype=xp.int32, device=device)
    state = (
        centers,
        xp.astype(zero, xp.int32) - 1,
        zero,
        zero[:, None] + xp.full((1, groups), -1.0, dtype=x.dtype, device=device),
        xp.zeros((k,), dtype=x.dtype, device=device),
        int_zero,
        xp.asarray(max_iter > 0, device=device),
        int_zero,
        xp.asarray(True, device=device),
        xp.asarray(False, device=device),
        xp.zeros((max(max_iter, 1),), dtype=counter, device=device),
        tol,
    )
    state = caps.while_loop(lambda s: s[6], step, state)
    centers, n_iter, history = state[0], state[5], state[10]
    if stats is not None and not caps.is_traced(n_iter):
        stats.extend(float(history[i]) for i in range(int(n_iter)))
    return centers, n_iter


def _recorded(history: Any, at: Any, value: Any, *, xp: Any) -> Any:
    """``history`` with entry ``at`` (a 0-d index) set to ``value`` (no scatter in the standard)."""
    positions = xp.arange(history.shape[0], dtype=at.dtype, device=array_api_compat.device(history))
    return xp.where(positions == at, xp.astype(value, history.dtype), history)


def group_max(values: Any, groups: int, *, xp: Any) -> Any:
    """(groups,) largest of ``values`` (k,) over each contiguous group of centres."""
    return -group_minima(-values[None, :], groups, xp)[0, :]


def _sq_norms_block(block: Any, origin: Any, kind: str, d: int) -> tuple[tuple[Any], tuple[()]]:
    """Each row's squared distance from the fixed origin (the rounding's scale)."""
    bxp = array_api_compat.array_namespace(block)
    points = block[:, :d] if kind in ("ones", "shifted") else block[:, :d] - origin
    return (bxp.sum(points * points, axis=1),), ()


def _bound_block_rows(x: Any, rows: int, groups: int, itemsize: int, *, caps: Any) -> int:
    """Rows per block of the bounded pass: Lloyd's ``rows`` under a trace (no per-call
    overhead to spread) and on Dask (the fused pass reads each block once an iteration,
    which matters for data read from storage every pass), else up to
    :data:`BOUND_BLOCK_ROWS`, at least one block per thread, and the selected rows (at most
    the block, with their bounds) within the budget."""
    n, d = x.shape
    if caps.compaction(x) != "exact" or caps.defers_checks or not isinstance(n, int):
        return rows  # traced; or Dask, whose blocks then read the data once an iteration
    threads = max(1, caps.concurrent_blocks())
    per_row = (d + groups + 4) * itemsize
    limit = min(BOUND_BLOCK_ROWS, -(-n // threads), memory_budget_bytes() // threads // per_row)
    return rows if limit <= rows else even_rows(n, limit)


def _bounded_block(block: Any, labels: Any, upper: Any, lower: Any, row_norm: Any, drift: Any, group_drift: Any,
                   reach: Any, *score_consts: Any, kind: str, d: int, k: int, groups: int, score_rows: int,
                   tau: float, eps: float, with_sums: bool) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """One block of the bounded pass: loosen the bounds by the last moves, score the rows
    whose bounds fail (all of them when most do; at most ``score_rows`` at a time) and,
    ``with_sums`` (a block of Lloyd's partition), add the block into Lloyd's sums.

    Returns per row the labels, upper bounds and (m, groups) lower bounds; as totals the
    block's segment sums and counts (Lloyd's, ``with_sums``), and how many rows it scored,
    how many changed label and how many it holds."""
    bxp = array_api_compat.array_namespace(block)
    bcaps = capabilities_for(bxp)
    m = block.shape[0]
    device = array_api_compat.device(block)
    grow = 1 + 2 * float(bxp.finfo(block.dtype).eps)  # each loosening rounded outwards
    upper = (upper + bxp.take(drift, bxp.clip(labels, min=0))) * grow
    lower = (lower - group_drift[None, :]) / grow
    span = row_norm + reach
    rounding = tau * span * span  # T: the rounding of any squared distance of the row
    nearest_other = bxp.min(lower, axis=1)
    # The rows whose bounds prove no gap beyond the rounding; NaN bounds are active too.
    active = ~((nearest_other > upper) & (nearest_other * nearest_other - upper * upper > rounding))
    count = bxp.sum(bxp.astype(active, block.dtype))

    def score(rows: Any, rows_rounding: Any) -> tuple[Any, Any, Any]:
        fn = functools.partial(_score_rows, score_consts=score_consts, kind=kind, d=d, groups=groups, eps=eps)
        if rows.shape[0] <= score_rows:
            return fn(rows, rows_rounding)[0]
        return generic.map_row_chunks(rows, score_rows, fn, RowAligned(rows_rounding))[0]

    def whole(labels: Any, upper: Any, lower: Any) -> tuple[Any, ...]:
        return (*score(block, rounding), bxp.asarray(float(m), dtype=block.dtype, device=device))

    def gathered(labels: Any, upper: Any, lower: Any) -> tuple[Any, ...]:
        index = bcaps.compact_index(active, None)
        new = score(bcaps.take_rows(block, index), bxp.take(rounding, index))
        # Owned copies: the block's labels may be a view of the loop's state.
        labels = bcaps.put_rows(bxp.asarray(labels, copy=True), index, new[0])
        upper = bcaps.put_rows(upper, index, new[1])
        lower = bcaps.put_rows(lower, index, new[2])
        return labels, upper, lower, bxp.asarray(float(index.shape[0]), dtype=block.dtype, device=device)

    def untouched(labels: Any, upper: Any, lower: Any) -> tuple[Any, ...]:
        return labels, upper, lower, bxp.zeros((), dtype=block.dtype, device=device)

    if bcaps.compaction(block) == "exact":
        if m == 0 or not bcaps.read_bool(count > 0):
            new_labels, new_upper, new_lower, scored = untouched(labels, upper, lower)
        elif bcaps.read_bool(count > FULL_PASS_FRACTION * m):
            new_labels, new_upper, new_lower, scored = whole(labels, upper, lower)
        else:
            new_labels, new_upper, new_lower, scored = gathered(labels, upper, lower)
    else:  # static shapes: the failing rows in rounds of a fixed number, or the whole block
        capacity = max(1, int(m * STATIC_ROUND))
        in_rounds = functools.partial(_in_rounds, active=active, count=count, capacity=capacity, score=score,
                                      block=block, rounding=rounding, bxp=bxp, bcaps=bcaps)
        new_labels, new_upper, new_lower, scored = bcaps.cond(
            count > FULL_PASS_FRACTION * m, whole, in_rounds, labels, upper, lower)
    changed = bxp.sum(bxp.astype(new_labels != labels, block.dtype))
    seen = bxp.asarray(float(m), dtype=block.dtype, device=device)
    sums = _sums_block(block, new_labels, kind=kind, d=d, k=k)[1] if with_sums else ()
    return (new_labels, new_upper, new_lower), (*sums, scored, changed, seen)


def _in_rounds(labels: Any, upper: Any, lower: Any, *, active: Any, count: Any, capacity: int, score: Any, block: Any,
               rounding: Any, bxp: Any, bcaps: Any) -> tuple[Any, ...]:
    """Under a trace: the ``count`` rows that ``active`` selects, ``capacity`` at a time
    (``ceil(count / capacity)`` rounds of a ``while_loop``), scored and written back."""
    m = block.shape[0]
    device = array_api_compat.device(block)
    index = bcaps.compact_index(active, m)  # every selected row first, then padding past the end
    offsets = bxp.arange(capacity, dtype=index.dtype, device=device)
    rounds = bxp.astype(bxp.ceil(count / capacity), index.dtype)
    # Owned copies: the block's labels may be a view of the loop's state.
    labels = bxp.asarray(labels, copy=True)

    def one_round(state: tuple[Any, ...]) -> tuple[Any, ...]:
        r, labels, upper, lower = state
        at = r * capacity + offsets
        rows = bxp.where(at < m, bxp.take(index, bxp.clip(at, max=m - 1)), bxp.full_like(at, m))  # m: dropped
        safe = bxp.clip(rows, max=m - 1)
        new = score(bcaps.take_rows(block, safe), bxp.take(rounding, safe))
        return (r + 1, bcaps.put_rows(labels, rows, new[0]), bcaps.put_rows(upper, rows, new[1]),
                bcaps.put_rows(lower, rows, new[2]))

    start = bxp.zeros((), dtype=index.dtype, device=device)
    _, labels, upper, lower = bcaps.while_loop(lambda state: state[0] < rounds, one_round, (start, labels, upper, lower))
    return labels, upper, lower, bxp.astype(rounds * capacity, block.dtype)


def _score_rows(rows: Any, rounding: Any, *, score_consts: tuple[Any, ...], kind: str, d: int, groups: int,
                eps: float) -> tuple[tuple[Any, Any, Any], tuple[()]]:
    """Labels from Lloyd's scores of ``rows`` (laid out as ``kind``), and the distances to
    the own centre and, per group, to the nearest other, widened into an upper and lower
    bounds by their rounding (``rounding``: each row's bound on the error of its squared
    distances), as a ``map_row_chunks`` block function."""
    bxp = array_api_compat.array_namespace(rows)
    bcaps = capabilities_for(bxp)
    if kind == "ones":
        points = rows[:, :d]
        labels, best, others = prepared_nearest_with_others(rows, score_consts[0], groups, bxp, bcaps)
    else:
        centre_origin, shifted, half_sq = score_consts
        points = rows if kind == "shifted" else rows[:, :d] - centre_origin
        labels, best, others = nearest_with_others(points, shifted, half_sq, groups, bxp, bcaps)
    sq_norms = bxp.sum(points * points, axis=1)
    # sqrt(T), kept above 0 (T is 0 for a row and every centre at the origin: 0 / tiny is 0).
    floor = bxp.clip(bxp.sqrt(rounding), min=float(bxp.finfo(rows.dtype).smallest_normal))
    own = bxp.sqrt(bxp.clip(sq_norms + 2 * best, min=0.0))
    other = bxp.sqrt(bxp.clip(sq_norms[:, None] + 2 * others, min=0.0))
    # |d - c| <= |d^2 - c^2| / (d + c) <= T / max(c, sqrt(T)), plus the square root's rounding.
    # (Written so that an infinite distance, to a centre no row may take, stays infinite.)
    upper = own * (1 + eps) + rounding / bxp.maximum(own, floor)
    lower = other * (1 - eps) - rounding[:, None] / bxp.maximum(other, floor[:, None])
    return (labels, upper, lower), ()


def _sums_block(block: Any, labels: Any, *, kind: str, d: int, k: int) -> tuple[tuple[()], tuple[Any, Any]]:
    """A block's segment sums as Lloyd's pass makes them (``_lloyd_totals`` finishes them)."""
    bxp = array_api_compat.array_namespace(block)
    bcaps = capabilities_for(bxp)
    if kind == "weighted":
        rows, weights = block[:, :d], block[:, d]
        return (), bcaps.segment_sums(bxp.concat([rows * weights[:, None], weights[:, None]], axis=1), labels, k)
    return (), bcaps.segment_sums(block, labels, k)


def _lloyd_totals(sums: Any, counts: Any, layout: _Layout, origin: Any, *, xp: Any) -> tuple[Any, Any]:
    """The per-cluster sums and counts (total weights) from the blocks' segment sums, as
    ``assign_labels`` finishes them (``origin``: the prepared rows', or None)."""
    d = layout.d
    if layout.kind == "weighted":
        return sums[:, :d], sums[:, d]
    if origin is not None:
        return sums[:, :d] + xp.astype(counts, sums.dtype)[:, None] * origin, counts
    return sums, counts
