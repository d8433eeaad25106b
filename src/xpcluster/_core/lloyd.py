"""The Lloyd loops: a fixed number of iterations (kmeans2) and a distortion threshold (kmeans)."""
from __future__ import annotations

import math
from typing import Any

from .assign import assign_labels
from .update import update_centroids


def lloyd_fixed(x: Any, centroids: Any, n_iter: int, *, xp: Any, caps: Any) -> tuple[Any, Any, Any]:
    """Run ``n_iter`` Lloyd iterations from ``centroids``.

    Returns ``(centroids, labels, any_empty)``: the centroids after the last update, the
    labels of the last assignment (made with the centroids before that update, as SciPy's
    ``kmeans2`` returns them) and a 0-d boolean array, true when some iteration left a
    cluster empty.  Nothing in the loop turns a device value into a Python value: the empty
    flag is read once, by the caller, after the loop.
    """
    any_empty = None
    labels = None
    for _ in range(n_iter):
        step = assign_labels(x, centroids, xp=xp, caps=caps, with_sums=True)
        centroids, has_members = update_centroids(step.sums, step.counts, centroids, xp=xp)
        empty_now = ~xp.all(has_members)
        any_empty = empty_now if any_empty is None else any_empty | empty_now
        labels = step.labels
    return centroids, labels, any_empty


def lloyd_threshold(x: Any, centroids: Any, thresh: float, *, xp: Any, caps: Any) -> tuple[Any, Any]:
    """Iterate until the mean distance changes by at most ``thresh`` (SciPy's ``_kmeans``).

    Clusters that lose all their members are dropped from the codebook.  Returns
    ``(codebook, distortion)`` where ``distortion`` is the mean Euclidean distance of the
    observations to their nearest centroid at the last assignment.
    """
    previous = math.inf
    distortion = None
    change = math.inf
    while change > thresh:
        step = assign_labels(x, centroids, xp=xp, caps=caps, with_sums=True, with_distances=True)
        distortion = xp.mean(step.distances, axis=-1)
        means, has_members = update_centroids(step.sums, step.counts, centroids, xp=xp)
        centroids = means[has_members]
        change = abs(previous - distortion)
        previous = distortion
    return centroids, distortion
