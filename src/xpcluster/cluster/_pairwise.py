"""Dissimilarities between a block of rows and a few targets, for the k-medoids family.

Every function here works on one block in the block's own namespace and never sees more
than a ``(rows, targets)`` block: callers cut the data into row chunks sized with
:func:`rows_per_block`, so no n-by-n (or n-by-k) temporary ever exists.

Convention: ``D[i, j]`` is the dissimilarity of point ``i`` to (candidate) medoid ``j``.
For a vector metric ``rows`` holds coordinates (b, d) and ``targets`` coordinates (t, d);
for ``metric='precomputed'`` ``rows`` holds rows of the user's (n, n) matrix (b, n) and
``targets`` the integer indices (t,) of the medoid columns.

Sparse rows (:class:`xpcluster._backends.sparse.SparseRows`) are measured against dense
targets without densifying them: Euclidean and cosine distances from one sparse-dense
product and the rows' squared norms, Manhattan distances from the stored entries alone
(see :func:`_sparse_block_distances`).  Only :func:`distances_to_labels`, whose values
are reported exactly, densifies a budget-sized slice of rows at a time.
"""
from __future__ import annotations

from typing import Any

import array_api_compat

from .._backends import capabilities_for
from .._backends.sparse import is_sparse
from .._core.chunks import memory_budget_bytes

METRICS = ("euclidean", "sqeuclidean", "manhattan", "cosine", "precomputed")
#: The metrics sparse data can be measured with (a sparse 'precomputed' matrix is ambiguous:
#: its missing entries could mean 0 or "far", so it is refused).
SPARSE_METRICS = ("euclidean", "sqeuclidean", "manhattan", "cosine")


def block_distances(rows: Any, targets: Any, metric: str) -> Any:
    """``D[rows, targets]`` as a (b, t) array in ``rows``' dtype.

    Euclidean distances use the expansion ``|r|^2 + |t|^2 - 2 r.t`` on data shifted by the
    first target (accurate for data far from the origin, rides the fast matmul), clamped
    at 0; :func:`distances_to_labels` recomputes exact values where they are reported.
    Sparse ``rows`` go to :func:`_sparse_block_distances` (``targets`` stay dense).
    """
    if is_sparse(rows):
        return _sparse_block_distances(rows, targets, metric)
    xp = array_api_compat.array_namespace(rows)
    if metric == "precomputed":
        return xp.take(rows, targets, axis=1)
    if metric in ("euclidean", "sqeuclidean"):
        origin = targets[0:1, :]
        r = rows - origin
        t = targets - origin
        sq = xp.matmul(r, xp.matrix_transpose(-2 * t))
        sq += xp.sum(r * r, axis=1)[:, None]  # in place: a fresh temporary, fewer page faults
        sq += xp.sum(t * t, axis=1)[None, :]
        sq = xp.maximum(sq, 0.0)
        return sq if metric == "sqeuclidean" else xp.sqrt(sq)
    if metric == "manhattan":
        return xp.sum(xp.abs(rows[:, None, :] - targets[None, :, :]), axis=2)
    if metric == "cosine":
        similarity = xp.matmul(_unit_rows(rows), xp.matrix_transpose(_unit_rows(targets)))
        return xp.minimum(xp.maximum(1 - similarity, 0.0), 2.0)
    raise ValueError(f"unknown metric {metric!r}")


def many_target_distances(rows: Any, targets: Any, metric: str) -> Any:
    """:func:`block_distances` for many targets at once (a block of swap candidates).

    Dense Euclidean distances come from one matrix product of the rows and targets
    augmented with their squared norms (:func:`expanded_points`), shifted by the first
    target as in :func:`block_distances`: the norms ride the product instead of two passes
    over the (b, t) block, which pays once t is well above the row length.  Everything
    else is :func:`block_distances`.
    """
    if is_sparse(rows) or metric not in ("euclidean", "sqeuclidean"):
        return block_distances(rows, targets, metric)
    origin = targets[0:1, :]
    return expanded_distances(expanded_points(rows, origin), expanded_targets(expanded_points(targets, origin)), metric)


def expanded_points(x: Any, origin: Any) -> Any:
    """``[x - origin, |x - origin|^2, 1]`` per row: (n, d + 2), the left side of
    :func:`expanded_distances` (``origin`` is one row, (1, d))."""
    xp = array_api_compat.array_namespace(x)
    r = x - origin
    ones = xp.ones((r.shape[0], 1), dtype=r.dtype, device=array_api_compat.device(r))
    return xp.concat([r, xp.sum(r * r, axis=1)[:, None], ones], axis=1)


def expanded_targets(points: Any) -> Any:
    """The right side of :func:`expanded_distances` from rows of :func:`expanded_points`:
    ``[-2 (t - origin), 1, |t - origin|^2]``."""
    xp = array_api_compat.array_namespace(points)
    d = points.shape[1] - 2
    return xp.concat([-2 * points[:, :d], points[:, d + 1 :], points[:, d : d + 1]], axis=1)


def expanded_distances(points: Any, targets: Any, metric: str) -> Any:
    """Euclidean (or squared) distances, (b, t), from :func:`expanded_points` rows and
    :func:`expanded_targets` rows: one matrix product, clamped at 0."""
    xp = array_api_compat.array_namespace(points)
    sq = xp.maximum(xp.matmul(points, xp.matrix_transpose(targets)), 0.0)
    return sq if metric == "sqeuclidean" else xp.sqrt(sq)


def distances_to_labels(rows: Any, targets: Any, labels: Any, metric: str) -> Any:
    """``D[i, targets[labels[i]]]`` for each row ``i``, computed directly (no expansion).

    Sparse ``rows`` are densified a slice at a time (each slice's dense copy within a
    quarter of the memory budget): the direct difference is what makes these values
    exact (a medoid's distance to itself is 0, not the expansion's rounding), and this
    runs once per fit.
    """
    xp = array_api_compat.array_namespace(rows)
    if is_sparse(rows):
        n, d = rows.shape
        step = dense_rows_within_budget(d, xp.finfo(rows.dtype).bits // 8)
        parts = [
            distances_to_labels(rows[start : start + step].to_dense(), targets, labels[start : start + step], metric)
            for start in range(0, n, step)
        ]
        if not parts:
            return xp.zeros((0,), dtype=rows.dtype)
        return parts[0] if len(parts) == 1 else xp.concat(parts)
    if metric == "precomputed":
        picked = xp.take(targets, labels)
        return xp.take_along_axis(rows, xp.reshape(picked, (-1, 1)), axis=1)[:, 0]
    centres = xp.take(targets, labels, axis=0)
    if metric == "manhattan":
        return xp.sum(xp.abs(rows - centres), axis=1)
    if metric == "cosine":
        return xp.minimum(xp.maximum(1 - xp.sum(_unit_rows(rows) * _unit_rows(centres), axis=1), 0.0), 2.0)
    diff = rows - centres
    sq = xp.sum(diff * diff, axis=1)
    return sq if metric == "sqeuclidean" else xp.sqrt(sq)


def _sparse_block_distances(rows: Any, targets: Any, metric: str) -> Any:
    """(b, t) dissimilarities of sparse ``rows`` to dense ``targets``, the rows kept sparse.

    Euclidean: ``|x|^2 - 2 x.t + |t|^2`` from the rows' stored squared norms and one
    sparse-dense product, clamped at 0 (not shifted towards the targets as dense rows are:
    a shift would densify the rows; sparse data is typically near the origin, where the
    expansion is accurate).  Cosine: the product with the unit targets divided by the
    rows' norms (all-zero rows: similarity 0, distance 1, as for dense rows).  Manhattan:
    ``|x - t|_1 = |t|_1 + sum over x's stored entries s of (|x_s - t_s| - |t_s|)``, so
    only the stored entries are visited: O(nnz * t) work and memory instead of the
    O(b * t * d) of broadcasting a densified block.
    """
    if metric not in SPARSE_METRICS:
        raise ValueError(f"sparse rows cannot be measured with metric {metric!r}; use one of {SPARSE_METRICS}")
    xp = array_api_compat.array_namespace(rows)
    targets_t = xp.matrix_transpose(targets)
    if metric in ("euclidean", "sqeuclidean"):
        products = rows.product(targets_t)
        sq = -2 * products
        sq += xp.astype(rows.sq_norms, products.dtype)[:, None]
        sq += xp.sum(targets * targets, axis=1)[None, :]
        sq = xp.maximum(sq, 0.0)
        return sq if metric == "sqeuclidean" else xp.sqrt(sq)
    if metric == "cosine":
        products = rows.product(xp.matrix_transpose(_unit_rows(targets)))
        norms = xp.sqrt(xp.astype(rows.sq_norms, products.dtype))
        similarity = products / xp.where(norms > 0, norms, xp.ones_like(norms))[:, None]
        return xp.minimum(xp.maximum(1 - similarity, 0.0), 2.0)
    # Manhattan, from the stored entries: their columns, values and owning rows.
    owner, columns, values = rows.entries()
    b = rows.shape[0]
    dtype = xp.result_type(rows.dtype, targets.dtype)
    values = xp.astype(values, dtype)
    at = xp.take(targets_t, columns, axis=0)  # (nnz, t): targets at the stored columns
    correction = xp.abs(values[:, None] - at)
    correction -= xp.abs(at)
    sums, _ = capabilities_for(xp).segment_sums(correction, owner, b)
    out = sums + xp.sum(xp.abs(xp.astype(targets, dtype)), axis=1)[None, :]
    # The corrections cancel against |t|_1 where a row matches a target on its support.
    return xp.maximum(out, 0.0)


def dense_rows_within_budget(width: int, itemsize: int, share: int = 4) -> int:
    """Rows of ``width`` features whose dense copy (and its widened copy) fits
    ``1/share`` of the memory budget: the slice of sparse rows densified at once."""
    per_row = width * (itemsize + 8) + 64
    return max(1, memory_budget_bytes() // share // per_row)


def _unit_rows(a: Any) -> Any:
    """Rows scaled to unit length; all-zero rows stay zero (cosine distance 1 to anything),
    as scikit-learn's ``cosine_distances`` treats them."""
    xp = array_api_compat.array_namespace(a)
    norms = xp.sqrt(xp.sum(a * a, axis=1))
    return a / xp.where(norms > 0, norms, xp.ones_like(norms))[:, None]


def rows_per_block(
    targets: int, width: int, itemsize: int, metric: str, *, entries: int = 6, block_bytes: int | None = None,
    stored: int | None = None,
) -> int:
    """Rows whose (rows, targets) temporaries fit the memory budget.

    ``width`` is the row length (features, or n for a precomputed matrix), ``entries`` the
    number of (rows, targets)-shaped temporaries the caller keeps alive at once.  Manhattan
    distances broadcast a (rows, targets, width) block.  ``block_bytes`` is the backend's
    preferred size of one (rows, targets) block (``Capabilities.block_bytes``: cache-sized
    blocks avoid a page fault storm on NumPy), honoured down to 64 rows.

    ``stored``: the rows are sparse with about this many stored entries each (the mean),
    and stay sparse: their own copies (a widened block) cost their entries, not ``width``,
    and Manhattan distances hold (entries, targets) temporaries instead of the broadcast.
    """
    per_entry = entries * max(itemsize, 8)
    if stored is not None:
        if metric == "manhattan":
            per_entry += 3 * stored * 8
        per_row = targets * per_entry + 3 * stored * (itemsize + 16) + 64
    else:
        if metric == "manhattan":
            per_entry += 2 * width * itemsize
        per_row = targets * per_entry + 3 * width * itemsize + 64
    rows = memory_budget_bytes() // per_row
    if block_bytes is not None:
        rows = min(rows, max(64, block_bytes // (max(itemsize, 8) * targets)))
    return max(1, rows)
