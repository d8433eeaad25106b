"""Centroid update from segment sums; empty clusters keep their previous centroid."""
from __future__ import annotations

from typing import Any


def update_centroids(sums: Any, counts: Any, previous: Any, *, xp: Any) -> tuple[Any, Any]:
    """Return ``(centroids, has_members)``.

    ``centroids[j]`` is the mean of cluster ``j``'s members, or ``previous[j]`` when the
    cluster is empty; ``has_members`` is the (k,) boolean mask of non-empty clusters.
    """
    has_members = counts > 0
    # An empty cluster divides by 1 instead of 0; its mean is discarded below anyway.
    denominators = xp.astype(counts, sums.dtype) + xp.astype(~has_members, sums.dtype)
    means = xp.astype(sums / denominators[:, None], previous.dtype)
    return xp.where(has_members[:, None], means, previous), has_members
