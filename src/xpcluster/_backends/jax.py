"""JAX capabilities: compiled loops (``lax``), scanned row chunks, host callbacks for checks.

Every numeric core runs under ``jax.jit`` (eager calls included), so a Lloyd loop is one
compiled ``lax.fori_loop``/``lax.while_loop`` with no Python dispatch per iteration.  Host
random draws are placed with an explicit ``jax.device_put`` before the loop, and eager value
checks read their flag with an explicit ``jax.device_get``: nothing transfers implicitly.
Inside a trace (a user's ``jax.jit``), value checks become ``jax.debug.callback`` calls that
warn or raise when the compiled program runs.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from . import _GENERIC, generic
from .sparse import stored_values


def segment_sums(values: Any, ids: Any, k: int) -> tuple[Any, Any]:
    sums = jax.ops.segment_sum(values, ids, num_segments=k)
    counts = jax.ops.segment_sum(jnp.ones_like(ids), ids, num_segments=k)
    return sums, counts


def bincount(ids: Any, k: int) -> Any:
    return jnp.bincount(ids, length=k)


def map_row_chunks(x: Any, rows: int, fn: Callable[..., tuple[tuple[Any, ...], tuple[Any, ...]]], *consts: Any):
    """Full blocks go through one ``lax.scan`` (compiled once), the remainder separately.

    Sparse rows: blocks of a known structure one after another (their entry counts differ,
    so no scan), rows of an unknown structure (traced) as one block."""
    from .sparse import is_sparse

    if is_sparse(x):
        return generic.map_row_chunks(x, rows, fn, *consts) if x.static_rows else fn(x, *consts)
    n = x.shape[0]
    n_full = n // rows
    if n_full < 3:
        return generic.map_row_chunks(x, rows, fn, *consts)
    # x and the row-aligned constants, cut into the full blocks, scanned together.
    aligned = [i for i, c in enumerate(consts) if isinstance(c, generic.RowAligned)]

    def blocked(a: Any) -> Any:
        return jnp.reshape(a[: n_full * rows], (n_full, rows, *a.shape[1:]))

    def with_block(parts: tuple[Any, ...]) -> tuple[Any, ...]:
        args = list(consts)
        for i, part in zip(aligned, parts):
            args[i] = part
        return tuple(args)

    blocks = (blocked(x), *(blocked(consts[i].array) for i in aligned))
    first_rows, first_totals = fn(blocks[0][0], *with_block(tuple(b[0] for b in blocks[1:])))

    def step(totals, parts):
        per_row, partial = fn(parts[0], *with_block(parts[1:]))
        return tuple(t + p for t, p in zip(totals, partial)), per_row

    totals, stacked = lax.scan(step, first_totals, tuple(b[1:] for b in blocks))
    per_row = tuple(
        jnp.concatenate([first[None], rest]).reshape((n_full * rows, *first.shape[1:]))
        for first, rest in zip(first_rows, stacked)
    )
    if n_full * rows < n:
        tail_rows, tail_totals = fn(x[n_full * rows :], *generic.block_args(consts, n_full * rows, n))
        per_row = tuple(jnp.concatenate([a, b]) for a, b in zip(per_row, tail_rows))
        totals = tuple(t + p for t, p in zip(totals, tail_totals))
    return per_row, totals


def compact_index(mask: Any, capacity: int | None = None) -> Any:
    """The first ``capacity`` true positions of ``mask``, padded past its end."""
    return jnp.nonzero(mask, size=capacity, fill_value=mask.shape[0])[0]


def product_epsilon(x: Any) -> float:
    """float32 products off the CPU run at XLA's default precision: TF32 on recent NVIDIA
    GPUs, bfloat16 passes on TPUs (eps 2**-7, the coarser, taken for both)."""
    if jnp.dtype(x.dtype) != jnp.float32:
        return 0.0
    try:
        platforms = {device.platform for device in x.devices()}
    except Exception:  # a tracer: the platform the program is compiled for
        platforms = {jax.default_backend()}
    return 0.0 if platforms <= {"cpu"} else 2.0**-7


def put_rows(a: Any, index: Any, values: Any) -> Any:
    """Rows at ``index`` replaced; the padding past the end is dropped."""
    return a.at[index].set(values, mode="drop")


def nearest_index(scores: Any) -> Any:
    """Row-wise argmin (lowest index on ties): XLA's for k < 32, else a pairwise tournament
    of elementwise ``where``s.

    XLA on CPU reduces ``argmin`` with a slow scalar loop; from k = 32 on, log2(k) rounds
    of vectorised comparisons are faster (2x at k = 64 and 1024; at k = 8 and 16 the
    tournament's rounds cost more than the loop: 1.6x and 1.2x the CPU time of argmin,
    measured on W1-like blocks).  Neighbours are paired, so the left contender always
    holds the lower indices and a strict ``<`` keeps the lowest index on ties.
    """
    m, k = scores.shape
    if k < 32:
        return jnp.argmin(scores, axis=1).astype(jnp.int32)
    width = 1 << max(k - 1, 0).bit_length()
    if width != k:
        scores = jnp.concatenate([scores, jnp.full((m, width - k), jnp.inf, scores.dtype)], axis=1)
    index = jnp.broadcast_to(jnp.arange(width, dtype=jnp.int32), scores.shape)
    while scores.shape[1] > 1:
        pairs = scores.reshape(m, -1, 2)
        index_pairs = index.reshape(m, -1, 2)
        right_wins = pairs[..., 1] < pairs[..., 0]
        scores = jnp.where(right_wins, pairs[..., 1], pairs[..., 0])
        index = jnp.where(right_wins, index_pairs[..., 1], index_pairs[..., 0])
    return index[:, 0]


@functools.cache
def _jit(fn: Callable[..., Any], static_argnames: tuple[str, ...]) -> Callable[..., Any]:
    return jax.jit(fn, static_argnames=static_argnames)


def compiled(fn: Callable[..., Any], static_argnames: tuple[str, ...] = ()) -> Callable[..., Any]:
    return _jit(fn, tuple(static_argnames))


def is_traced(a: Any) -> bool:
    return isinstance(a, jax.core.Tracer)


def checked(outputs: tuple[Any, ...], flag: Any, action: Callable[[], None]) -> tuple[Any, ...]:
    if is_traced(flag):
        # Runs when the compiled program runs; an exception raised by `action` reaches the
        # caller as a JaxRuntimeError whose message carries the original one.
        jax.debug.callback(lambda value: action() if bool(value) else None, flag)
    elif read_bool(flag):
        action()
    return outputs


def read_bool(flag: Any) -> bool:
    return bool(jax.device_get(flag))  # explicit: allowed under transfer_guard("disallow")


def to_device(host: Any, like: Any, dtype: Any) -> Any:
    host = np.asarray(host, dtype=np.dtype(dtype))
    like = stored_values(like)  # sparse rows are placed where their entries are
    if is_traced(like):
        return jnp.asarray(host)  # a constant of the traced program
    return jax.device_put(host, like.sharding)


def from_host(host: Any, like: Any) -> Any:
    host = np.asarray(host)
    like = stored_values(like)
    if is_traced(like):
        return jnp.asarray(host)  # a constant of the traced program
    return jax.device_put(host, like.sharding)


# array-api-compat caches a namespace per array type; its first lookup for JAX's array type
# creates an empty JAX array (an implicit transfer of its fill value).  Look it up once here,
# with that one transfer allowed explicitly, so a caller's transfer guard never sees it.
import array_api_compat  # noqa: E402

with jax.transfer_guard("allow"):
    array_api_compat.array_namespace(jax.device_put(np.empty(0)))

CAPABILITIES = _GENERIC.replace(
    name="jax",
    segment_sums=segment_sums,
    bincount=bincount,
    map_row_chunks=map_row_chunks,
    compaction=lambda x: "static",  # shapes are known before the values (every core is compiled)
    compact_index=compact_index,
    put_rows=put_rows,
    product_epsilon=product_epsilon,
    fori_loop=lax.fori_loop,
    while_loop=lax.while_loop,
    cond=lax.cond,
    compiled=compiled,
    checked=checked,
    read_bool=read_bool,
    to_device=to_device,
    from_host=from_host,
    is_traced=is_traced,
    nearest_index=nearest_index,
    # Score blocks of about 1 MiB stay in cache; XLA's CPU kernels gain about 2x from it.
    block_bytes=2**20,
)


# -- sparse: jax.experimental.sparse.BCOO (see xpcluster._backends.sparse) -----------------------

from .sparse import CSRKernels, SparseRows, warn_large_integers  # noqa: E402, I001


class JaxKernels(CSRKernels):
    """BCOO products and ``.at[].add`` scatters; everything traceable (``jax.jit``).

    JAX rows keep each entry's row id (BCOO's own row indices), so per-entry values are
    gathers rather than repeats, and rows whose structure is unknown (a BCOO argument of
    the caller's ``jax.jit``) are processed as one block."""

    name = "jax.experimental.sparse"

    def product(self, rows: SparseRows, m: Any) -> Any:
        from jax.experimental import sparse as jsparse

        indices, data = rows._entries()
        local_rows = rows._per_entry(jnp.arange(rows.shape[0], dtype=indices.dtype))
        dtype = jnp.promote_types(data.dtype, m.dtype)
        matrix = jsparse.BCOO((data.astype(dtype), jnp.stack([local_rows, indices], axis=1)), shape=rows.shape,
                              indices_sorted=True, unique_indices=True)
        return matrix @ m.astype(dtype)

    def scatter_add(self, index: Any, values: Any, size: int, like: Any) -> Any:
        if values is None:
            values = jnp.ones(index.shape, dtype=jnp.int32)
        # Out-of-range indices (padding entries) are dropped.
        return jnp.zeros((size,), dtype=values.dtype).at[index].add(values, mode="drop")

    def repeat(self, values: Any, counts: Any, total: int) -> Any:
        return jnp.repeat(values, counts, total_repeat_length=total)

    def native(self, rows: SparseRows) -> Any:
        from jax.experimental import sparse as jsparse

        indices, data = rows._entries()
        local_rows = rows._per_entry(jnp.arange(rows.shape[0], dtype=indices.dtype))
        return jsparse.BCOO((data, jnp.stack([local_rows, indices], axis=1)), shape=rows.shape)

    def to_host(self, a: Any) -> Any:
        return np.asarray(jax.device_get(a))  # explicit: allowed under transfer_guard("disallow")

    def is_traced(self, a: Any) -> bool:
        return is_traced(a)


JAX_KERNELS = JaxKernels()


class _Structure:
    """A sparse matrix's host-side row structure as static pytree data.  Equal structures
    (the same row lengths) compare equal, so a compiled program is reused for every
    matrix of that structure; the hash is computed once per structure."""

    def __init__(self, host_indptr: Any) -> None:
        self.host_indptr = host_indptr
        self._hash = hash(None if host_indptr is None else host_indptr.tobytes())

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Structure) or other._hash != self._hash:
            return False
        a, b = self.host_indptr, other.host_indptr
        return a is b or (a is not None and b is not None and np.array_equal(a, b))


def _flatten_rows(rows: SparseRows) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    structure = rows.__dict__.get("_structure")
    if structure is None or structure.host_indptr is not rows._host_indptr:
        structure = _Structure(rows._host_indptr)
        rows.__dict__["_structure"] = structure
    children = (rows._indptr, rows._indices, rows._data, rows._sq_norms, rows._weights, rows._row_ids)
    return children, (rows.kernels, rows.shape[1], structure, rows.start, rows.stop, rows._n_total)


def _unflatten_rows(aux: tuple[Any, ...], children: tuple[Any, ...]) -> SparseRows:
    kernels, n_cols, structure, start, stop, n_total = aux
    indptr, indices, data, sq_norms, weights, row_ids = children
    rows = SparseRows(kernels, indptr, indices, data, n_cols, host_indptr=structure.host_indptr, sq_norms=sq_norms,
                      start=start, stop=stop, weights=weights, row_ids=row_ids, n_rows=n_total)
    rows.__dict__["_structure"] = structure
    return rows


# Sparse rows of any library may cross a jax.jit boundary only as JAX arrays; registering the
# class lets the compiled cores take them as arguments like dense arrays.
jax.tree_util.register_pytree_node(SparseRows, _flatten_rows, _unflatten_rows)


def bcoo_sparse_rows(X: Any, name: str = "X") -> SparseRows:
    """A 2-D BCOO as canonical sparse rows (sorted, duplicates added), in its compute dtype.

    Eagerly the row structure is read to the host (one explicit transfer of the row ids),
    so row blocks are static; inside a trace it stays unknown and the rows are one block
    (BCOO's padding entries, which ``sum_duplicates`` gives index ``shape`` and value 0,
    take no part)."""
    from .._core.dtypes import widest_float

    import array_api_compat

    if X.ndim != 2 or X.n_batch or X.n_dense:
        raise ValueError(f"{name} must be a 2-D BCOO without batch or dense dimensions, got shape {X.shape} "
                         f"(n_batch={X.n_batch}, n_dense={X.n_dense})")
    if jnp.issubdtype(X.dtype, jnp.complexfloating):
        raise ValueError("Complex data not supported")
    n, d = X.shape
    traced = is_traced(X.data) or is_traced(X.indices)
    canonical = X.sum_duplicates(nse=X.nse) if traced else X.sum_duplicates()  # sorted row-major
    data = canonical.data
    if jnp.issubdtype(data.dtype, jnp.floating):
        dtype = jnp.float64 if data.dtype == jnp.float64 else jnp.float32
    else:
        xp = array_api_compat.array_namespace(data)
        dtype = widest_float(xp, array_api_compat.device(data))
        if data.dtype in (jnp.int64, jnp.uint64) and data.size and not traced:
            limit = 2**53 if dtype == jnp.float64 else 2**24
            warn_large_integers(bool(jax.device_get(jnp.any(jnp.abs(data) > limit))), name,
                                jnp.dtype(dtype).name)
    data = data.astype(dtype)
    row_ids = canonical.indices[:, 0].astype(jnp.int32)
    indices = canonical.indices[:, 1].astype(jnp.int32)
    if traced:
        indptr = jnp.zeros((n + 1,), dtype=jnp.int32)  # unknown: never read (one block)
        return SparseRows(JAX_KERNELS, indptr, indices, data, d, host_indptr=None, row_ids=row_ids, n_rows=n)
    host_rows = np.asarray(jax.device_get(row_ids))
    host_indptr = np.concatenate([[0], np.cumsum(np.bincount(host_rows, minlength=n))]).astype(np.int64)
    indptr = jax.device_put(host_indptr.astype(np.int32), data.sharding)
    return SparseRows(JAX_KERNELS, indptr, indices, data, d, host_indptr=host_indptr, row_ids=row_ids)
