"""Standard-only defaults of the capability layer: eager execution, Python loops."""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import array_api_compat
import numpy as np

from .sparse import is_sparse, stored_values


def segment_sums(values: Any, ids: Any, k: int) -> tuple[Any, Any]:
    """Per-id sums and counts through a one-hot matrix product.

    The one-hot block is ``(m, k)``; callers bound ``m`` by the memory budget, so this costs
    the same order of memory and work as the distance block of the assignment step.
    """
    xp = array_api_compat.array_namespace(values, ids)
    classes = xp.arange(k, dtype=ids.dtype, device=array_api_compat.device(values))
    one_hot = xp.astype(ids[:, None] == classes[None, :], values.dtype)
    return xp.matmul(xp.matrix_transpose(one_hot), values), xp.sum(one_hot, axis=0)


class RowAligned(NamedTuple):
    """A constant of ``map_row_chunks`` with one entry per row of ``x``: each block gets its
    own rows of it (eager backends: the generic loop, NumPy's threads, PyTorch CPU)."""

    array: Any


def block_args(consts: tuple[Any, ...], start: int, stop: int) -> tuple[Any, ...]:
    """``consts`` for the block of rows ``start:stop`` (:class:`RowAligned` ones sliced)."""
    return tuple(c.array[start:stop, ...] if isinstance(c, RowAligned) else c for c in consts)


def put_rows(a: Any, index: Any, values: Any) -> Any:
    """``a`` with its rows at the sorted ``index`` replaced by the rows of ``values``
    (indices past the end dropped): each row reads its position among them (the standard
    has no scatter)."""
    xp = array_api_compat.array_namespace(a)
    chosen = _mask_of(index, a.shape[0], xp=xp, device=array_api_compat.device(a))
    position = xp.clip(xp.cumulative_sum(xp.astype(chosen, xp.int32)) - 1, min=0)
    taken = xp.take(values, position, axis=0)
    return xp.where(xp.reshape(chosen, (-1,) + (1,) * (a.ndim - 1)), taken, a)


def _mask_of(index: Any, n: int, *, xp: Any, device: Any) -> Any:
    """(n,) boolean: which of ``0 .. n-1`` are in the sorted ``index``."""
    if index.shape[0] == 0:
        return xp.zeros((n,), dtype=xp.bool, device=device)
    at = xp.clip(xp.searchsorted(index, xp.arange(n, dtype=index.dtype, device=device)), max=index.shape[0] - 1)
    return xp.take(index, at) == xp.arange(n, dtype=index.dtype, device=device)


def product_epsilon(x: Any) -> float:
    return 0.0


def compaction(x: Any) -> str | None:
    return "exact"


def compact_index(mask: Any, capacity: int | None = None) -> Any:
    return array_api_compat.array_namespace(mask).nonzero(mask)[0]


def map_row_chunks(x: Any, rows: int, fn: Callable[..., tuple[tuple[Any, ...], tuple[Any, ...]]], *consts: Any):
    xp = array_api_compat.array_namespace(x)
    n = x.shape[0]
    per_row_parts: list[tuple[Any, ...]] = []
    totals: tuple[Any, ...] | None = None
    # An empty input (a Dask block a boolean mask emptied) still goes through ``fn`` once,
    # so that its per-row outputs and totals exist, with zero rows and zero sums.
    for start in range(0, n, rows) if n > 0 else (0,):
        stop = min(start + rows, n)
        per_row, partial = fn(x[start:stop, ...], *block_args(consts, start, stop))
        per_row_parts.append(per_row)
        totals = partial if totals is None else tuple(t + p for t, p in zip(totals, partial))
    joined = tuple(
        parts[0] if len(parts) == 1 else xp.concat(parts) for parts in zip(*per_row_parts)
    )
    return joined, totals if totals is not None else ()


def concurrent_blocks() -> int:
    return 1


def fori_loop(lower: int, upper: int, body: Callable[[int, Any], Any], state: Any) -> Any:
    for i in range(lower, upper):
        state = body(i, state)
    return state


def while_loop(cond: Callable[[Any], Any], body: Callable[[Any], Any], state: Any) -> Any:
    while bool(cond(state)):
        state = body(state)
    return state


def cond(pred: Any, true_fn: Callable[..., Any], false_fn: Callable[..., Any], *operands: Any) -> Any:
    return true_fn(*operands) if read_bool(pred) else false_fn(*operands)


def compiled(fn: Callable[..., Any], static_argnames: tuple[str, ...] = ()) -> Callable[..., Any]:
    return fn


def checked(outputs: tuple[Any, ...], flag: Any, action: Callable[[], None]) -> tuple[Any, ...]:
    if bool(flag):
        action()
    return outputs


def read_bool(flag: Any) -> bool:
    return bool(flag)


def take_rows(x: Any, index: Any) -> Any:
    """The rows at ``index``, dense (of sparse rows too: a few rows, e.g. seeds)."""
    if is_sparse(x):
        return x.dense_rows(index)
    return array_api_compat.array_namespace(x).take(x, index, axis=0)


def subset_rows(x: Any, index: Any) -> Any:
    """The rows at ``index``, of ``x``'s kind (sparse rows stay sparse: a batch, a subsample)."""
    if is_sparse(x):
        return x.subset(index)
    return array_api_compat.array_namespace(x).take(x, index, axis=0)


def cholesky(a: Any) -> Any:
    """The lower factor, or NaN where there is none (not positive definite): the caller
    reports that as a value check, the same way on every backend (JAX returns NaN itself)."""
    xp = array_api_compat.array_namespace(a)
    try:
        return xp.linalg.cholesky(a)
    except Exception:  # each library raises its own LinAlgError
        return xp.full_like(a, float("nan"))


def thin_svd(a: Any) -> tuple[Any, Any, Any]:
    return array_api_compat.array_namespace(a).linalg.svd(a, full_matrices=False)


def persist(a: Any) -> Any:
    return a


def persist_together(arrays: tuple[Any, ...]) -> tuple[Any, ...]:
    return arrays


def known_rows(a: Any) -> Any:
    return a


def has_numpy_blocks(a: Any) -> bool:
    return isinstance(a, np.ndarray)


def max_magnitude(a: Any) -> Any:
    """0-d: the largest absolute value in ``a`` (0 for an empty array; NaN propagates)."""
    a = stored_values(a)
    xp = array_api_compat.array_namespace(a)
    if any(size == 0 for size in a.shape):
        return xp.zeros((), dtype=a.dtype, device=array_api_compat.device(a))
    return xp.max(xp.abs(a))


def all_finite(a: Any) -> Any:
    """0-d: whether every entry of ``a`` is finite."""
    xp = array_api_compat.array_namespace(a)
    return xp.all(xp.isfinite(a))


def to_device(host: Any, like: Any, dtype: Any) -> Any:
    xp = array_api_compat.array_namespace(like)
    return xp.asarray(host, dtype=dtype, device=array_api_compat.device(like))


def from_host(host: Any, like: Any) -> Any:
    xp = array_api_compat.array_namespace(like)
    return xp.asarray(host, device=array_api_compat.device(like))


def is_traced(a: Any) -> bool:
    return False


def nearest_index(scores: Any) -> Any:
    xp = array_api_compat.array_namespace(scores)
    return xp.astype(xp.argmin(scores, axis=1), xp.int32)


def bincount(ids: Any, k: int) -> Any:
    """Occurrences of each of ``0 .. k-1`` in ``ids``: sorted, then the ends of each run
    found by ``searchsorted`` (O(m log m) work, O(m + k) memory, whatever ``k``)."""
    xp = array_api_compat.array_namespace(ids)
    edges = xp.searchsorted(xp.sort(ids), xp.arange(k + 1, dtype=ids.dtype, device=array_api_compat.device(ids)))
    return edges[1:] - edges[:-1]
