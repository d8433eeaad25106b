"""Dissimilarities between a block of rows and a few targets, for the k-medoids family.

Every function here works on one block in the block's own namespace and never sees more
than a ``(rows, targets)`` block: callers cut the data into row chunks sized with
:func:`rows_per_block`, so no n-by-n (or n-by-k) temporary ever exists.

Convention: ``D[i, j]`` is the dissimilarity of point ``i`` to (candidate) medoid ``j``.
For a vector metric ``rows`` holds coordinates (b, d) and ``targets`` coordinates (t, d);
for ``metric='precomputed'`` ``rows`` holds rows of the user's (n, n) matrix (b, n) and
``targets`` the integer indices (t,) of the medoid columns.
"""
from __future__ import annotations

from typing import Any

import array_api_compat

from .._core.chunks import memory_budget_bytes

METRICS = ("euclidean", "sqeuclidean", "manhattan", "cosine", "precomputed")


def block_distances(rows: Any, targets: Any, metric: str) -> Any:
    """``D[rows, targets]`` as a (b, t) array in ``rows``' dtype.

    Euclidean distances use the expansion ``|r|^2 + |t|^2 - 2 r.t`` on data shifted by the
    first target (accurate for data far from the origin, rides the fast matmul), clamped
    at 0; :func:`distances_to_labels` recomputes exact values where they are reported.
    """
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


def distances_to_labels(rows: Any, targets: Any, labels: Any, metric: str) -> Any:
    """``D[i, targets[labels[i]]]`` for each row ``i``, computed directly (no expansion)."""
    xp = array_api_compat.array_namespace(rows)
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


def _unit_rows(a: Any) -> Any:
    """Rows scaled to unit length; all-zero rows stay zero (cosine distance 1 to anything),
    as scikit-learn's ``cosine_distances`` treats them."""
    xp = array_api_compat.array_namespace(a)
    norms = xp.sqrt(xp.sum(a * a, axis=1))
    return a / xp.where(norms > 0, norms, xp.ones_like(norms))[:, None]


def rows_per_block(
    targets: int, width: int, itemsize: int, metric: str, *, entries: int = 6, block_bytes: int | None = None
) -> int:
    """Rows whose (rows, targets) temporaries fit the memory budget.

    ``width`` is the row length (features, or n for a precomputed matrix), ``entries`` the
    number of (rows, targets)-shaped temporaries the caller keeps alive at once.  Manhattan
    distances broadcast a (rows, targets, width) block.  ``block_bytes`` is the backend's
    preferred size of one (rows, targets) block (``Capabilities.block_bytes``: cache-sized
    blocks avoid a page fault storm on NumPy), honoured down to 64 rows.
    """
    per_entry = entries * max(itemsize, 8)
    if metric == "manhattan":
        per_entry += 2 * width * itemsize
    per_row = targets * per_entry + 3 * width * itemsize + 64
    rows = memory_budget_bytes() // per_row
    if block_bytes is not None:
        rows = min(rows, max(64, block_bytes // (max(itemsize, 8) * targets)))
    return max(1, rows)
