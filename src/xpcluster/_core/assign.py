"""Chunked nearest-centroid assignment, optionally fused with the update's segment sums."""
from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import array_api_compat

from .._backends import capabilities_for
from .._backends.sparse import is_sparse
from .chunks import memory_budget_bytes


class Assignment(NamedTuple):
    labels: Any  # (n,) int32, index of the nearest centroid (lowest index on ties)
    distances: Any | None  # (n,) Euclidean distance to that centroid, if asked for
    sums: Any | None  # (k, d) per-centroid sums of the members, if asked for
    counts: Any | None  # (k,) members per centroid (their total weight with ``weights``), if asked for
    inertia: Any | None = None  # 0-d sum of (weighted) squared distances to the nearest centroid, if asked for


class PreparedRows(NamedTuple):
    """The data of a Lloyd loop laid out once for its assignment passes (see prepare_rows)."""

    rows: Any  # (n, d + 1): x - origin, then a column of ones; (n, d): x - origin (``ones`` false)
    origin: Any  # (1, d)
    ones: bool = True


def prepare_rows(x: Any, origin: Any, *, xp: Any) -> PreparedRows | None:
    """The rows shifted by ``origin`` once, when they fit the memory budget, else ``None``.

    A loop that assigns the same rows many times then skips shifting each block on every
    pass.  The rows are ``[x - origin, 1]``, so that a block is scored with a single matrix
    product, ``[x - o, 1] @ [[-(c - o)^T], [0.5|c - o|^2]]``, instead of a product and a
    subtraction (two passes over each block that cost as much as the product on CPU; the
    column of ones costs the product almost nothing).  Building them holds ``x - origin``
    and the result at once, so both count against the budget.  Data too large for that
    but whose ``x - origin`` alone fits gets ``x - origin`` (``ones`` false) on backends
    that add the centres' half norms inside their nearest-index kernel
    (``nearest_of_product`` with an offset); larger data keeps the per-block shift and
    stays within the budget.
    """
    n, d = x.shape
    if n is None or n != n or is_sparse(x):  # unknown row count (Dask), sparse rows: per-block path
        return None
    itemsize = xp.finfo(x.dtype).bits // 8
    if n * (2 * d + 1) * itemsize <= memory_budget_bytes():
        return PreparedRows(xp.concat([x - origin, xp.ones_like(x[:, :1])], axis=1), origin)
    if n * d * itemsize <= memory_budget_bytes() and capabilities_for(xp).for_data(x).nearest_of_product is not None:
        return PreparedRows(x - origin, origin, ones=False)
    return None


def mean_feature_variance(x: Any, *, xp: Any) -> Any:
    """0-d: the mean over the features of their variances (scikit-learn's scale of ``tol``);
    of sparse rows from their column moments, without densifying them."""
    if is_sparse(x):
        return xp.astype(x.mean_column_variance(), x.dtype)
    return xp.mean(xp.var(x, axis=0))


def sparse_squared_distances(block: Any, points_t: Any, point_sq_norms: Any) -> Any:
    """(rows, m) squared Euclidean distances of sparse rows to m dense points given as
    ``points_t`` (d, m) with their squared norms: ``|x|^2 - 2 x.p + |p|^2`` (the rows stay
    sparse, so unshifted), clamped at 0."""
    bxp = array_api_compat.array_namespace(block)
    products = block.product(points_t)
    sq_norms = bxp.astype(block.sq_norms, products.dtype)
    return bxp.clip(sq_norms[:, None] - 2 * products + point_sq_norms[None, :], min=0.0)


def rows_per_chunk(k: int, d: int, itemsize: int, block_bytes: int | None = None, concurrency: int = 1) -> int:
    """Rows whose temporaries (score block, one-hot or gather, shifted rows) fit the budget
    with ``concurrency`` blocks in flight, and whose score block stays near ``block_bytes``
    when the backend prefers that."""
    bytes_per_row = itemsize * (3 * k + 3 * d) + 16
    rows = memory_budget_bytes() // max(1, concurrency) // bytes_per_row
    if block_bytes is not None:
        rows = min(rows, max(256, block_bytes // (itemsize * k)))
    return unaliased_rows(max(1, rows))


def even_rows(n: int, rows: int) -> int:
    """Rows per block that split ``n`` rows into as many blocks as ``rows`` does, of about
    equal size (an odd multiple of 32, so up to 63 rows over ``rows``).

    100,000 rows in blocks of 32,736 made three full blocks and a sliver, so one of two
    threads did twice the other's work; four blocks of 25,056 share evenly.  The split
    depends on ``n`` and the budget only, never on the number of threads, so the results
    do not either.  Where ``n`` is unknown (a Dask array of unknown chunk sizes), ``rows``.
    """
    if not isinstance(n, int) or rows >= n or rows <= 256:  # n unknown (Dask: NaN or None)
        return rows
    blocks = -(-n // rows)
    rows = -(-n // blocks)
    rows += -rows % 32
    return rows + 32 if rows % 64 == 0 else rows


def unaliased_rows(rows: int) -> int:
    """``rows`` (over 256) made an odd multiple of 32.

    A (k, rows) product whose rows start a power-of-two number of bytes apart (k = 64 in
    float32 gives 8,192 rows, 32 KiB) maps every row to the same cache sets: the product and
    the passes over it took 1.3-1.5x longer than at 8,160 rows (measured on NumPy's BLAS).
    """
    if rows <= 256:
        return rows
    rows -= rows % 32
    return rows - 32 if rows % 64 == 0 else rows


def usable_centroids(centroids: Any, alive: Any = None, *, xp: Any) -> Any:
    """(k,) bool: the centroids a row may be assigned to.  Those with a NaN or infinite
    entry are never chosen, as in SciPy's vq (kmeans under jax.jit pads its codebook with
    NaN rows); nor are those ``alive`` rules out."""
    usable = xp.all(xp.isfinite(centroids), axis=1)
    return usable if alive is None else usable & alive


def scoring_terms(centroids: Any, prepared: "PreparedRows | None", *, alive: Any = None, xp: Any) -> tuple[Any, Any, Any]:
    """``(origin, shifted, half_sq_norms)`` of a dense assignment pass: the origin its rows
    are shifted by (``prepared``'s, else the first usable centroid), the centroids less it
    (0 for unusable ones) and half their squared norms (+inf for unusable ones).  Every
    pass that must choose Lloyd's labels (the bounded loop's too) scores with these."""
    usable = usable_centroids(centroids, alive, xp=xp)
    if prepared is None:
        first_usable = xp.argmax(xp.astype(usable, xp.int32))
        origin = xp.take(centroids, xp.reshape(first_usable, (1,)), axis=0)
    else:
        origin = prepared.origin
    shifted = xp.where(usable[:, None], centroids - origin, xp.zeros_like(centroids))
    half_sq_norms = 0.5 * xp.sum(shifted * shifted, axis=1)
    half_sq_norms = xp.where(usable, half_sq_norms, xp.full_like(half_sq_norms, math.inf))
    return origin, shifted, half_sq_norms


def prepared_score_weights(shifted: Any, half_sq_norms: Any, *, xp: Any) -> Any:
    """(d + 1, k): ``[[-(c - o)^T], [0.5|c - o|^2]]``, which scores prepared rows ``[x - o, 1]``
    in one product."""
    return xp.concat([-xp.matrix_transpose(shifted), half_sq_norms[None, :]], axis=0)


def pass_rows(x: Any, k: int, *, xp: Any, caps: Any) -> int:
    """Rows per block of a dense assignment pass over ``x`` against ``k`` centroids: sized
    for the backend's concurrent blocks (so that its threads share them) and split evenly.
    Passes whose per-block sums must equal Lloyd's use this same partition."""
    n, d = x.shape
    return even_rows(n, rows_per_chunk(k, d, xp.finfo(x.dtype).bits // 8, caps.block_bytes, caps.concurrent_blocks()))


def assign_labels(
    x: Any,
    centroids: Any,
    *,
    xp: Any,
    caps: Any,
    with_distances: bool = False,
    with_sums: bool = False,
    alive: Any = None,
    weights: Any = None,
    with_inertia: bool = False,
    prepared: PreparedRows | None = None,
) -> Assignment:
    """Label every row of ``x`` (n, d) with its nearest row of ``centroids`` (k, d).

    Rows are processed in chunks sized by the memory budget, so the (chunk, k) score block
    is the largest temporary.  Scores are ``0.5*|c|^2 - x.c`` on data shifted by the first
    centroid: the shift keeps the expansion accurate for data far from the origin (and
    exact for integer-valued data, so ties go to the lowest index as in SciPy).  Returned
    distances are recomputed directly as ``|x - c_label|``, not read off the expansion.
    Centroids whose ``alive`` entry is false are never chosen.

    ``weights`` (n,) weighs each row in the sums, counts and inertia: ``sums`` are then the
    weighted sums and ``counts`` the total weight per centroid (in the sums' dtype).  The
    rows travel with their weights as one extra column of a copy of ``x``; without
    ``weights`` nothing changes.  ``with_inertia`` adds the (weighted) sum of squared
    distances of the rows to their centroid, computed directly like ``distances``.

    ``prepared`` (from :func:`prepare_rows` on this ``x``) scores each block with one matrix
    product, shifting by its fixed origin instead of the first centroid; the results are
    the same up to rounding.  It is used for unweighted passes without inertia.
    """
    n, d = x.shape
    k = centroids.shape[0]
    caps = caps.for_data(x)
    if weights is not None or with_inertia:
        prepared = None
    if is_sparse(x):
        return _assign_sparse(
            x, centroids, usable_centroids(centroids, alive, xp=xp), weights, xp=xp, caps=caps,
            with_distances=with_distances, with_sums=with_sums, with_inertia=with_inertia,
        )
    origin, shifted, half_sq_norms = scoring_terms(centroids, prepared, alive=alive, xp=xp)
    rows = pass_rows(x, k, xp=xp, caps=caps)
    map_rows = caps.parallel_map_row_chunks or caps.map_row_chunks
    if weights is not None or with_inertia:
        return _assign_weighted(
            x, weights, rows, origin, shifted, half_sq_norms,
            xp=xp, caps=caps, with_distances=with_distances, with_sums=with_sums, with_inertia=with_inertia,
        )
    options = {"with_distances": with_distances, "with_sums": with_sums}
    if prepared is None:
        process = functools.partial(_assign_block, **options)
        per_row, totals = map_rows(x, rows, process, origin, shifted, half_sq_norms)
    else:
        if prepared.ones:
            score_weights = prepared_score_weights(shifted, half_sq_norms, xp=xp)
            process = functools.partial(_assign_prepared_block, **options)
            per_row, totals = map_rows(prepared.rows, rows, process, shifted, score_weights)
        else:
            process = functools.partial(_assign_shifted_block, **options)
            per_row, totals = map_rows(prepared.rows, rows, process, shifted, half_sq_norms)
        if with_sums:
            # Sums of the shifted rows (plus their column of ones), moved back by the origin.
            shifted_sums, counts = totals
            totals = (shifted_sums[:, :d] + xp.astype(counts, shifted_sums.dtype)[:, None] * origin, counts)
    return Assignment(
        labels=per_row[0],
        distances=per_row[1] if with_distances else None,
        sums=totals[0] if with_sums else None,
        counts=totals[1] if with_sums else None,
    )


def sparse_rows_per_chunk(x: Any, k: int, caps: Any) -> int:
    """Rows of sparse ``x`` per block: the (rows, k) score temporaries and the block's
    entries' temporaries (their cluster ids and values, in the segment sums) fit the budget
    with the backend's concurrent blocks in flight, the score block near ``block_bytes``."""
    n = max(1, x.shape[0])
    itemsize = x.xp.finfo(x.dtype).bits // 8
    entries_per_row = -(-(x.nnz or 0) // n)  # (None: unknown, Dask's blocks)
    bytes_per_row = itemsize * 4 * k + 24 * entries_per_row + 16
    concurrency = max(1, caps.concurrent_blocks())
    rows = memory_budget_bytes() // concurrency // bytes_per_row
    if caps.block_bytes is not None:
        rows = min(rows, max(256, caps.block_bytes // (itemsize * max(1, k))))
    # At least one block per thread: a sparse product is one pass, each thread takes a share.
    rows = min(rows, max(256, -(-n // concurrency)))
    return max(1, rows)


def _assign_sparse(
    x: Any, centroids: Any, usable: Any, weights: Any, *,
    xp: Any, caps: Any, with_distances: bool, with_sums: bool, with_inertia: bool,
) -> Assignment:
    """``assign_labels`` for sparse rows: scores ``0.5*|c|^2 - x.c`` from one sparse-dense
    product per block (no shift: shifting would densify the rows), distances from the
    rows' squared norms, sums from the rows' own segment sums."""
    k = centroids.shape[0]
    safe = xp.where(usable[:, None], centroids, xp.zeros_like(centroids))
    sq_norms = xp.sum(safe * safe, axis=1)
    half_sq_norms = xp.where(usable, 0.5 * sq_norms, xp.full_like(sq_norms, math.inf))
    if weights is not None:
        x = x.weighted(xp.astype(weights, x.dtype))
    process = functools.partial(
        _assign_sparse_block, k=k, with_distances=with_distances, with_sums=with_sums, with_inertia=with_inertia,
    )
    rows = sparse_rows_per_chunk(x, k, caps)
    centroids_t = xp.asarray(xp.matrix_transpose(safe), copy=True)  # (d, k), laid out for the product
    per_row, totals = (caps.parallel_map_row_chunks or caps.map_row_chunks)(
        x, rows, process, centroids_t, half_sq_norms, sq_norms)
    return _assignment(per_row, totals, with_distances=with_distances, with_sums=with_sums, with_inertia=with_inertia)


def _assignment(per_row: tuple[Any, ...], totals: tuple[Any, ...], *, with_distances: bool, with_sums: bool,
                with_inertia: bool) -> Assignment:
    """The :class:`Assignment` of a pass's joined per-row outputs and summed totals."""
    return Assignment(
        labels=per_row[0],
        distances=per_row[1] if with_distances else None,
        sums=totals[0] if with_sums else None,
        counts=totals[1] if with_sums else None,
        inertia=totals[-1] if with_inertia else None,
    )


def _assign_sparse_block(
    block: Any, centroids_t: Any, half_sq_norms: Any, sq_norms: Any, *,
    k: int, with_distances: bool, with_sums: bool, with_inertia: bool,
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    bxp = array_api_compat.array_namespace(block)
    bcaps = capabilities_for(bxp)
    products = block.product(centroids_t)
    labels = bcaps.nearest_index(half_sq_norms - products)
    weights = block.row_weights
    per_row, totals = (labels,), ()
    if with_distances or with_inertia:
        index_dtype = bxp.__array_namespace_info__().default_dtypes(device=block.device)["indexing"]
        own = bxp.take_along_axis(products, bxp.astype(labels[:, None], index_dtype), axis=1)[:, 0]
        sq = bxp.clip(block.sq_norms - 2 * own + bxp.take(sq_norms, labels), min=0.0)
        if with_distances:
            per_row += (bxp.sqrt(sq),)
    if with_sums:
        totals += block.segment_sums(labels, k, weights)
    if with_inertia:
        totals += (bxp.sum(sq) if weights is None else bxp.sum(sq * weights),)
    return per_row, totals


def _assign_weighted(
    x: Any, weights: Any, rows: int, origin: Any, shifted: Any, half_sq_norms: Any, *,
    xp: Any, caps: Any, with_distances: bool, with_sums: bool, with_inertia: bool,
) -> Assignment:
    """``assign_labels`` with row weights and/or the inertia (kept off the plain path)."""
    if weights is not None:
        x = xp.concat([x, xp.astype(weights, x.dtype)[:, None]], axis=1)
    process = functools.partial(
        _assign_weighted_block,
        weighted=weights is not None, with_distances=with_distances, with_sums=with_sums, with_inertia=with_inertia,
    )
    per_row, totals = (caps.parallel_map_row_chunks or caps.map_row_chunks)(x, rows, process, origin, shifted, half_sq_norms)
    return _assignment(per_row, totals, with_distances=with_distances, with_sums=with_sums, with_inertia=with_inertia)


def _assign_weighted_block(
    block: Any, origin: Any, shifted: Any, half_sq_norms: Any, *,
    weighted: bool, with_distances: bool, with_sums: bool, with_inertia: bool,
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    bxp = array_api_compat.array_namespace(block)
    bcaps = capabilities_for(bxp)
    d = shifted.shape[1]
    if weighted:
        block, weights = block[:, :d], block[:, d]
    block_shifted = block - origin
    labels = _nearest(block_shifted, shifted, half_sq_norms, bxp, bcaps)
    per_row, totals = (labels,), ()
    if with_distances or with_inertia:
        diff = block_shifted - bxp.take(shifted, labels, axis=0)
        sq = bxp.sum(diff * diff, axis=1)
        if with_distances:
            per_row += (bxp.sqrt(sq),)
    if with_sums:
        if weighted:
            weighted_rows = bxp.concat([block * weights[:, None], weights[:, None]], axis=1)
            sums, _ = bcaps.segment_sums(weighted_rows, labels, shifted.shape[0])
            totals += (sums[:, :d], sums[:, d])
        else:
            totals += bcaps.segment_sums(block, labels, shifted.shape[0])
    if with_inertia:
        totals += (bxp.sum(sq * weights) if weighted else bxp.sum(sq),)
    return per_row, totals


def _assign_block(
    block: Any, origin: Any, shifted: Any, half_sq_norms: Any, *, with_distances: bool, with_sums: bool
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """One row block, in the block's own namespace (a Dask block is a NumPy or CuPy array)."""
    bxp = array_api_compat.array_namespace(block)
    bcaps = capabilities_for(bxp)
    block_shifted = block - origin
    labels = _nearest(block_shifted, shifted, half_sq_norms, bxp, bcaps)
    per_row, totals = (labels,), ()
    if with_distances:
        diff = block_shifted - bxp.take(shifted, labels, axis=0)
        per_row += (bxp.sqrt(bxp.sum(diff * diff, axis=1)),)
    if with_sums:
        totals = bcaps.segment_sums(block, labels, shifted.shape[0])
    return per_row, totals


def _assign_shifted_block(
    block: Any, shifted: Any, half_sq_norms: Any, *, with_distances: bool, with_sums: bool
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """One block of prepared rows ``x - origin`` (``shifted`` are the centres less it)."""
    bxp = array_api_compat.array_namespace(block)
    bcaps = capabilities_for(bxp)
    labels = _nearest(block, shifted, half_sq_norms, bxp, bcaps)
    per_row, totals = (labels,), ()
    if with_distances:
        diff = block - bxp.take(shifted, labels, axis=0)
        per_row += (bxp.sqrt(bxp.sum(diff * diff, axis=1)),)
    if with_sums:
        totals = bcaps.segment_sums(block, labels, shifted.shape[0])
    return per_row, totals


def _nearest(block_shifted: Any, shifted: Any, half_sq_norms: Any, bxp: Any, bcaps: Any) -> Any:
    """Labels of shifted rows: the smallest ``0.5*|c|^2 - x.c`` (lowest index on ties)."""
    if bcaps.nearest_of_product is not None:
        return bcaps.nearest_of_product(block_shifted, -bxp.matrix_transpose(shifted), half_sq_norms)
    return bcaps.nearest_index(half_sq_norms - bxp.matmul(block_shifted, bxp.matrix_transpose(shifted)))


def nearest_with_others(points: Any, shifted: Any, half_sq_norms: Any, groups: int, bxp: Any, bcaps: Any
                        ) -> tuple[Any, Any, Any]:
    """:func:`_nearest`'s labels, from the very scores it computes (so the same labels, ties
    and near-ties included), with each row's own score (m,) and, per group of ``groups``
    contiguous centroids, the smallest score of the others (m, groups): what the bounded
    loop keeps as distance bounds."""
    if bcaps.nearest_with_others is not None:
        return bcaps.nearest_with_others(points, -bxp.matrix_transpose(shifted), half_sq_norms, groups)
    return _scores_with_others(half_sq_norms - bxp.matmul(points, bxp.matrix_transpose(shifted)), groups, bxp, bcaps)


def prepared_nearest_with_others(block: Any, score_weights: Any, groups: int, bxp: Any, bcaps: Any
                                 ) -> tuple[Any, Any, Any]:
    """:func:`nearest_with_others` for prepared rows ``[x - o, 1]``, scored as
    :func:`_assign_prepared_block` scores them."""
    if bcaps.nearest_with_others is not None:
        return bcaps.nearest_with_others(block, score_weights, None, groups)
    return _scores_with_others(bxp.matmul(block, score_weights), groups, bxp, bcaps)


def _scores_with_others(scores: Any, groups: int, bxp: Any, bcaps: Any) -> tuple[Any, Any, Any]:
    m, k = scores.shape
    labels = bcaps.nearest_index(scores)
    own = labels[:, None] == bxp.arange(k, dtype=labels.dtype, device=array_api_compat.device(scores))[None, :]
    others = bxp.where(own, math.inf, scores)
    return labels, bxp.min(scores, axis=1), group_minima(others, groups, bxp)


def group_minima(scores: Any, groups: int, bxp: Any) -> Any:
    """(m, groups): the smallest of each row of ``scores`` (m, k) over each of ``groups``
    contiguous ranges of ``ceil(k / groups)`` columns (the last may be shorter)."""
    m, k = scores.shape
    if groups == 1:
        return bxp.min(scores, axis=1)[:, None]
    width = -(-k // groups)
    if groups * width != k:
        pad = bxp.full((m, groups * width - k), math.inf, dtype=scores.dtype, device=array_api_compat.device(scores))
        scores = bxp.concat([scores, pad], axis=1)
    return bxp.min(bxp.reshape(scores, (m, groups, width)), axis=2)


def _assign_prepared_block(
    block: Any, shifted: Any, score_weights: Any, *, with_distances: bool, with_sums: bool
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """One block of prepared rows ``[x - origin, 1]``: scores are one matrix product."""
    bxp = array_api_compat.array_namespace(block)
    bcaps = capabilities_for(bxp)
    if bcaps.nearest_of_product is not None:
        labels = bcaps.nearest_of_product(block, score_weights)
    else:
        labels = bcaps.nearest_index(bxp.matmul(block, score_weights))
    per_row, totals = (labels,), ()
    if with_distances:
        d = shifted.shape[1]
        diff = block[:, :d] - bxp.take(shifted, labels, axis=0)
        per_row += (bxp.sqrt(bxp.sum(diff * diff, axis=1)),)
    if with_sums:
        totals = bcaps.segment_sums(block, labels, shifted.shape[0])
    return per_row, totals
