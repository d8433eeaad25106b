"""Chunked nearest-centroid assignment, optionally fused with the update's segment sums."""
from __future__ import annotations

from typing import Any, NamedTuple

from .chunks import row_chunks


class Assignment(NamedTuple):
    labels: Any  # (n,) int32, index of the nearest centroid (lowest index on ties)
    distances: Any | None  # (n,) Euclidean distance to that centroid, if asked for
    sums: Any | None  # (k, d) per-centroid sums of the members, if asked for
    counts: Any | None  # (k,) members per centroid, if asked for


def assign_labels(
    x: Any,
    centroids: Any,
    *,
    xp: Any,
    caps: Any,
    with_distances: bool = False,
    with_sums: bool = False,
) -> Assignment:
    """Label every row of ``x`` (n, d) with its nearest row of ``centroids`` (k, d).

    Rows are processed in chunks sized by the memory budget, so the (chunk, k) score block
    is the largest temporary.  Scores are ``0.5*|c|^2 - x.c`` on data shifted by the first
    centroid: the shift keeps the expansion accurate for data far from the origin (and
    exact for integer-valued data, so ties go to the lowest index as in SciPy).  Returned
    distances are recomputed directly as ``|x - c_label|``, not read off the expansion.
    """
    n, d = x.shape
    k = centroids.shape[0]
    origin = centroids[0:1, :]
    shifted = centroids - origin
    half_sq_norms = 0.5 * xp.sum(shifted * shifted, axis=1)
    shifted_t = xp.matrix_transpose(shifted)
    itemsize = xp.finfo(x.dtype).bits // 8
    bytes_per_row = itemsize * (3 * k + 3 * d) + 16

    labels, distances = [], []
    sums = counts = None
    for start, stop in row_chunks(n, bytes_per_row):
        chunk = x[start:stop, :]
        chunk_shifted = chunk - origin
        scores = half_sq_norms - xp.matmul(chunk_shifted, shifted_t)
        chunk_labels = xp.astype(xp.argmin(scores, axis=1), xp.int32)
        labels.append(chunk_labels)
        if with_distances:
            diff = chunk_shifted - xp.take(shifted, chunk_labels, axis=0)
            distances.append(xp.sqrt(xp.sum(diff * diff, axis=1)))
        if with_sums:
            chunk_sums, chunk_counts = caps.segment_sums(chunk, chunk_labels, k)
            sums = chunk_sums if sums is None else sums + chunk_sums
            counts = chunk_counts if counts is None else counts + chunk_counts
    return Assignment(
        labels=_join(labels, xp),
        distances=_join(distances, xp) if with_distances else None,
        sums=sums,
        counts=counts,
    )


def _join(pieces: list[Any], xp: Any) -> Any:
    return pieces[0] if len(pieces) == 1 else xp.concat(pieces)
