"""NumPy capabilities: sparse-product segment sums and row blocks spread over CPU threads."""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import numpy as np

from . import _GENERIC, generic
from .sparse import stored_values

try:  # SciPy's sparse product is the fastest segment sum NumPy users have.
    from scipy import sparse as _sparse
except ImportError:  # pragma: no cover - exercised by monkeypatching in the tests
    _sparse = None
try:  # the kernel behind `csc_array @ dense`, without the per-call checks of building one
    from scipy.sparse._sparsetools import csc_matvecs as _csc_matvecs
except ImportError:  # pragma: no cover - a SciPy that moved it: the public path below
    _csc_matvecs = None
try:  # to keep BLAS single-threaded while our own threads share the row blocks
    from threadpoolctl import ThreadpoolController
except ImportError:  # pragma: no cover - then blocks run one after another
    ThreadpoolController = None


def segment_sums(values: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-id sums (in ``values``' dtype) and counts of the rows of ``values``."""
    m, d = values.shape
    # The sparse kernel below trusts its indices: an id outside [0, k) would write out of bounds.
    if m and (ids.min() < 0 or ids.max() >= k):
        raise ValueError(f"segment ids must lie in [0, {k})")
    counts = np.bincount(ids, minlength=k)
    if _sparse is not None and m > 0:
        # A (k, m) matrix whose column j holds a single 1 in row ids[j]: building it needs
        # no sorting, and its product with ``values`` is one C pass that adds each row into
        # its id's row of the result, in row order (~20x faster than bincount).
        index_dtype = np.int32 if m < 2**31 - 1 else np.int64
        indices = ids.astype(index_dtype, copy=False)
        indptr = np.arange(m + 1, dtype=index_dtype)
        ones = np.ones(m, dtype=values.dtype)
        if _csc_matvecs is not None and values.dtype in (np.float32, np.float64):
            sums = np.zeros((k, d), dtype=values.dtype)
            _csc_matvecs(k, m, d, indptr, indices, ones, np.ascontiguousarray(values).ravel(), sums.ravel())
            return sums, counts
        return _sparse.csc_array((ones, indices, indptr), shape=(k, m)) @ values, counts
    # One bincount over (id, column) pairs sums every column in a single C pass.
    flat_ids = (ids.astype(np.intp)[:, None] * d + np.arange(d, dtype=np.intp)).reshape(-1)
    sums = np.bincount(flat_ids, weights=values.reshape(-1), minlength=k * d)
    return sums.reshape(k, d).astype(values.dtype, copy=False), counts


def bincount(ids: np.ndarray, k: int) -> np.ndarray:
    """Occurrences of each of ``0 .. k-1`` in ``ids`` (one C pass)."""
    return np.bincount(ids, minlength=k)


def nearest_of_product(a: np.ndarray, b: np.ndarray, offset: np.ndarray | None = None) -> np.ndarray:
    """Row-wise argmin of ``a @ b + offset`` (lowest index on ties), computed column-wise.

    ``argmin(axis=1)`` over short rows pays a per-row cost; with the product laid out as
    (k, m) the minimum over k is k contiguous vector passes, and the first index reaching
    it is the largest of ``(k - j) * (score_j == min)`` in uint8.  That wins while a row
    of scores is under 512 bytes (k < 128 in float32, k < 64 in float64, measured on
    W1-like blocks); longer rows take ``argmin`` of the (m, k) product with the offset
    added in place (a second m-by-k temporary per block cost page faults: 4x at k=256).
    """
    k = b.shape[1]
    if k * np.result_type(a, b).itemsize >= 512 or a.shape[0] == 0:
        scores = a @ b
        if offset is not None:
            scores += offset
        return scores.argmin(axis=1).astype(np.int32)
    scores = b.T @ a.T
    if offset is not None:
        scores += offset[:, None]
    return _first_minimum(scores, scores.min(axis=0))


def nearest_with_others(a: np.ndarray, b: np.ndarray, offset: np.ndarray | None, groups: int
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``generic`` ``nearest_with_others``: :func:`nearest_of_product`'s labels from the same
    product in the same layout, the row minima, and per group of contiguous centres the
    smallest other score (the own one set to +inf in the product, one write per row)."""
    m, k = a.shape[0], b.shape[1]
    width = -(-k // groups)
    if k * np.result_type(a, b).itemsize >= 512 or m == 0:
        scores = a @ b
        if offset is not None:
            scores += offset
        labels = scores.argmin(axis=1).astype(np.int32)
        best = scores[np.arange(m), labels]
        scores[np.arange(m), labels] = np.inf
        if groups * width != k:
            scores = np.concatenate([scores, np.full((m, groups * width - k), np.inf, dtype=scores.dtype)], axis=1)
        return labels, best, scores.reshape(m, groups, width).min(axis=2)
    scores = b.T @ a.T
    if offset is not None:
        scores += offset[:, None]
    best = scores.min(axis=0)
    labels = _first_minimum(scores, best)
    scores[labels, np.arange(m)] = np.inf
    if groups == 1:
        return labels, best, scores.min(axis=0)[:, None]
    if groups * width != k:
        scores = np.concatenate([scores, np.full((groups * width - k, m), np.inf, dtype=scores.dtype)], axis=0)
    return labels, best, scores.reshape(groups, width, m).min(axis=1).T


def _first_minimum(scores: np.ndarray, best: np.ndarray) -> np.ndarray:
    """The first row of each column of ``scores`` (k <= 255 rows) equal to ``best``."""
    k = scores.shape[0]
    hits = (scores == best).view(np.uint8)
    hits *= _DESCENDING[256 - k :, None]
    first = hits.max(axis=0)
    labels = k - first.astype(np.int32)
    if not first.all():  # columns with a NaN score: NumPy's argmin picks the first NaN
        missing = first == 0
        labels[missing] = scores[:, missing].argmin(axis=0)
    return labels


def put_rows(a: np.ndarray, index: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``generic.put_rows`` in place: ``a[index] = values`` (the caller owns ``a``; the
    exact compaction gives no padding)."""
    a[index] = values
    return a


_DESCENDING = np.arange(256, 0, -1, dtype=np.uint16).astype(np.uint8)  # 0 (=256), 255, ..., 1


def max_magnitude(a: Any) -> Any:
    """``generic.max_magnitude`` from the largest and smallest entries: two vectorised
    reductions without ``abs``'s array-sized temporary (2.6x faster on 100,000 x 512)."""
    a = stored_values(a)
    if not isinstance(a, np.ndarray) or a.dtype.kind != "f" or a.size == 0:
        return generic.max_magnitude(a)
    return np.asarray(np.maximum(a.max(), -a.min()))  # NaN propagates through both


def all_finite(a: Any) -> Any:
    """``generic.all_finite`` as NaN/inf through the largest and smallest entries, without
    ``isfinite``'s array-sized mask."""
    if not isinstance(a, np.ndarray) or a.dtype.kind != "f" or a.size == 0:
        return generic.all_finite(a)
    return np.asarray(np.isfinite(a.max()) & np.isfinite(a.min()))


def thread_count() -> int:
    """Threads for the row blocks: ``XPCLUSTER_NUM_THREADS``, else the CPUs this process may use."""
    configured = os.environ.get("XPCLUSTER_NUM_THREADS", "").strip()
    if configured:
        try:
            return max(1, int(configured))
        except ValueError:
            raise ValueError(
                f"XPCLUSTER_NUM_THREADS must be a whole number of threads, got {configured!r}"
            ) from None
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - platforms without affinity masks
        return os.cpu_count() or 1


class _Workers:
    """A lazily made thread pool (remade after a fork) and the BLAS thread limiter."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pool: ThreadPoolExecutor | None = None
        self.size = 0
        self.controller: Any = None
        self.local = threading.local()

    def get(self, size: int) -> tuple[ThreadPoolExecutor, Any]:
        with self.lock:
            if self.controller is None:
                self.controller = ThreadpoolController()
            if self.pool is None or self.size != size:
                if self.pool is not None:
                    self.pool.shutdown(wait=False)
                self.pool = ThreadPoolExecutor(size, thread_name_prefix="xpcluster", initializer=self._mark)
                self.size = size
            return self.pool, self.controller

    def _mark(self) -> None:
        self.local.inside = True

    def inside(self) -> bool:
        return getattr(self.local, "inside", False)

    def forget(self) -> None:  # after fork: the child has none of the parent's threads
        self.lock = threading.Lock()
        self.pool, self.size = None, 0


_WORKERS = _Workers()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_WORKERS.forget)


def parallel_map_row_chunks(x: Any, rows: int, fn: Callable[..., tuple[tuple[Any, ...], tuple[Any, ...]]], *consts: Any):
    """``generic.map_row_chunks`` with the blocks shared among CPU threads.

    NumPy, BLAS and SciPy's sparse kernels release the GIL, so blocks run in parallel;
    BLAS is held to one thread meanwhile (as scikit-learn does around its own threads).
    Per-block totals are added in block order whatever thread ran them, so the result
    does not depend on the number of threads.
    """
    n = x.shape[0]
    starts = range(0, n, rows)
    threads = min(thread_count(), len(starts))
    if threads < 2 or ThreadpoolController is None or _WORKERS.inside():
        return generic.map_row_chunks(x, rows, fn, *consts)
    pool, controller = _WORKERS.get(thread_count())  # one pool size, however many blocks
    per_row_parts: list[tuple[Any, ...]] = []
    totals: tuple[Any, ...] | None = None
    with controller.limit(limits=1, user_api="blas"):
        # Results arrive in block order; each block's totals are added (and dropped) as
        # it arrives, so only the blocks in flight hold theirs.
        blocks = pool.map(lambda start: fn(x[start : start + rows], *generic.block_args(consts, start, start + rows)), starts)
        for per_row, partial in blocks:
            per_row_parts.append(per_row)
            totals = partial if totals is None else tuple(t + p for t, p in zip(totals, partial))
    joined = tuple(np.concatenate(parts) for parts in zip(*per_row_parts))
    return joined, totals if totals is not None else ()


CAPABILITIES = _GENERIC.replace(
    name="numpy",
    segment_sums=segment_sums,
    bincount=bincount,
    parallel_map_row_chunks=parallel_map_row_chunks,
    concurrent_blocks=thread_count,
    nearest_of_product=nearest_of_product,
    max_magnitude=max_magnitude,
    all_finite=all_finite,
    nearest_with_others=nearest_with_others,
    put_rows=put_rows,
    # ~2 MiB score blocks (measured on W1 against 0.25-8 MiB: 2-4 MiB best). Far larger
    # blocks make every block's temporaries go through mmap/munmap, and the page faults
    # doubled W1's time; far smaller ones pay NumPy's per-call costs too often.
    block_bytes=2**21,
)
