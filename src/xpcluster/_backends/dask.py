"""Dask capabilities: lazy row blocks with tree-reduced partials, checks inside the graph.

A public call on a Dask array builds a graph and computes nothing.  Each Lloyd iteration
maps the assignment over the row blocks of the data (each block handled eagerly, in its
own namespace -- NumPy or CuPy -- with the same chunked code as any eager backend) and
reduces the per-block (k, d) sums and (k,) counts with Dask's tree reduction: only those
small partials travel between workers, and the graph grows linearly with the iterations.
Value checks become graph nodes that the returned arrays depend on, so they fire when the
user computes.  ``kmeans``' threshold loop needs one small value per iteration: the loop
state is persisted each iteration, so each test computes only the newest step.
"""
from __future__ import annotations

from typing import Any, Callable

import array_api_compat
import dask
import dask.array as da
import numpy as np

from . import _GENERIC, generic

_OBJECT_META = np.empty((0,), dtype=object)


def _single_column_block(a: Any) -> Any:
    return a.rechunk({1: -1}) if a.ndim == 2 and a.numblocks[1] != 1 else a


def _whole(a: Any) -> Any:
    return a.rechunk(-1) if isinstance(a, da.Array) else a


def _block_meta(a: Any) -> Any:
    return a._meta if isinstance(a, da.Array) else a


def map_row_chunks(x: Any, rows: int, fn: Callable[..., tuple[tuple[Any, ...], tuple[Any, ...]]], *consts: Any):
    """Run ``fn`` on every row block (eagerly, inside the block's task) without a gather.

    Each block's task returns the pair ``(per_row, totals)`` once; per-row arrays are
    taken out of it block by block, per-block totals are stacked and summed with Dask's
    tree reduction.
    """
    x = _single_column_block(x)
    consts = tuple(_whole(c) for c in consts)
    # The structure of fn's results (how many arrays, their dtypes and trailing shapes),
    # from a run on a one-row block of zeros made like the real blocks.
    xp_meta = array_api_compat.array_namespace(_block_meta(x))
    probe_consts = tuple(
        array_api_compat.array_namespace(_block_meta(c)).zeros(c.shape, dtype=c.dtype)
        if isinstance(c, da.Array) else c
        for c in consts
    )
    probe_rows, probe_totals = fn(xp_meta.zeros((1, *x.shape[1:]), dtype=x.dtype), *probe_consts)

    def run_block(block: Any, *block_consts: Any) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        return generic.map_row_chunks(block, rows, fn, *block_consts)

    const_specs = []
    for i, c in enumerate(consts):
        if isinstance(c, da.Array):
            const_specs += [c, tuple(f"c{i}_{axis}" for axis in range(c.ndim))]
        else:
            const_specs += [c, None]
    pairs = da.blockwise(
        run_block, "i", x, "ij", *const_specs, concatenate=True, dtype=object, meta=_OBJECT_META
    )
    per_row = tuple(
        da.map_blocks(
            _pick_per_row, pairs, j, dtype=probe.dtype, meta=probe[:0],
            chunks=(x.chunks[0], *((s,) for s in probe.shape[1:])),
            new_axis=list(range(1, probe.ndim)) or None,
        )
        for j, probe in enumerate(probe_rows)
    )
    totals = tuple(
        da.map_blocks(
            _pick_total, pairs, j, dtype=probe.dtype, meta=probe[None][:0],
            chunks=((1,) * x.numblocks[0], *((s,) for s in probe.shape)),
            new_axis=list(range(1, probe.ndim + 1)),
        ).sum(axis=0, dtype=probe.dtype)
        for j, probe in enumerate(probe_totals)
    )
    return per_row, totals


def _pick_per_row(pair: Any, j: int) -> Any:
    return pair[0][j]


def _pick_total(pair: Any, j: int) -> Any:
    total = pair[1][j]
    return array_api_compat.array_namespace(total).reshape(total, (1, *total.shape))


def while_loop(cond: Callable[[Any], Any], body: Callable[[Any], Any], state: Any) -> Any:
    state = dask.persist(*state)
    while bool(cond(state)):
        state = dask.persist(*body(state))
    return state


def checked(outputs: tuple[Any, ...], flag: Any, action: Callable[[], None]) -> tuple[Any, ...]:
    """Make every output depend on one graph node that runs ``action`` if ``flag`` is true.

    Exceptions raised there reach the user's ``compute()`` with their own type; warnings
    are emitted while computing.
    """
    gate = da.map_blocks(_run_check, flag, action, dtype=bool, meta=np.empty((), dtype=bool))
    return tuple(
        da.map_blocks(_after_check, out, gate, dtype=out.dtype, meta=out._meta) if isinstance(out, da.Array) else out
        for out in outputs
    )


def _run_check(flag: Any, action: Callable[[], None]) -> Any:
    if bool(flag):
        action()
    return flag


def _after_check(block: Any, gate: Any) -> Any:
    return block


def from_host(host: Any, like: Any) -> Any:
    """One block of ``like``'s block type (NumPy or CuPy)."""
    host = np.asarray(host)
    block_xp = array_api_compat.array_namespace(like._meta)
    return da.from_array(block_xp.asarray(host), chunks=host.shape or (), asarray=False)


def read_bool(flag: Any) -> bool:
    return bool(flag.compute())


def to_device(host: Any, like: Any, dtype: Any) -> Any:
    """Integer draws (row indices) stay NumPy, so picking rows touches only their blocks;
    float draws become a one-block Dask array of ``like``'s block type (NumPy or CuPy)."""
    host = np.asarray(host, dtype=np.dtype(dtype))
    if host.dtype.kind in "iu":
        return host
    block_xp = array_api_compat.array_namespace(like._meta)
    return da.from_array(block_xp.asarray(host), chunks=host.shape or (), asarray=False)


def take_rows(x: Any, index: Any) -> Any:
    if not isinstance(index, da.Array):
        return x[index, :]  # a fancy index reads only the blocks holding those rows
    # A lazy index (k-means++ picks): a one-hot product keeps shapes known and the graph lazy.
    positions = da.arange(x.shape[0], chunks=(x.chunks[0],), dtype=index.dtype)
    one_hot = (index[:, None] == positions[None, :]).astype(x.dtype)
    return one_hot @ x


def cholesky(a: Any) -> Any:
    return da.map_blocks(_block_cholesky, a.rechunk(-1), dtype=a.dtype, meta=a._meta)


def _block_cholesky(block: Any) -> Any:
    return generic.cholesky(block)


def thin_svd(a: Any) -> tuple[Any, Any, Any]:
    """Dask's SVD wants a tall matrix in one column block: a wide one is done transposed."""
    if a.shape[0] >= a.shape[1]:
        return da.linalg.svd(_single_column_block(a))
    u, s, vh = da.linalg.svd(_single_column_block(a.T))
    return vh.T, s, u.T


def persist(a: Any) -> Any:
    return a.persist()


def max_magnitude(a: Any) -> Any:
    """Per-block maxima (0 for a block a boolean mask emptied), then their maximum."""
    per_block = a.map_blocks(
        _block_max_magnitude, dtype=a.dtype, meta=a._meta,
        chunks=tuple((1,) * blocks for blocks in a.numblocks),
    )
    return per_block.max()


def _block_max_magnitude(block: Any) -> Any:
    bxp = array_api_compat.array_namespace(block)
    ones = (1,) * block.ndim
    if block.size == 0:
        return bxp.zeros(ones, dtype=block.dtype)
    return bxp.reshape(bxp.max(bxp.abs(block)), ones)


def has_numpy_blocks(a: Any) -> bool:
    return isinstance(a._meta, np.ndarray)  # every block is of its meta's type


def known_rows(a: Any) -> Any:
    if any(np.isnan(c) for c in a.chunks[0]):
        # compute_chunk_sizes() updates the array object in place: work on a new one.
        a = da.Array(a.dask, a.name, a.chunks, meta=a._meta).compute_chunk_sizes()
    if 0 in a.chunks[0] and a.shape[0] > 0:
        # Blocks a boolean mask emptied: Dask's cumulative sums fail on zero-row blocks.
        a = a.rechunk({0: tuple(c for c in a.chunks[0] if c)})
    return a


CAPABILITIES = _GENERIC.replace(
    name="dask",
    map_row_chunks=map_row_chunks,
    while_loop=while_loop,
    checked=checked,
    defers_checks=True,
    read_bool=read_bool,
    to_device=to_device,
    from_host=from_host,
    take_rows=take_rows,
    cholesky=cholesky,
    thin_svd=thin_svd,
    persist=persist,
    known_rows=known_rows,
    has_numpy_blocks=has_numpy_blocks,
    max_magnitude=max_magnitude,
)
