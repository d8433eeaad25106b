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
from .sparse import stored_values

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
    tree reduction.  Sparse rows (:class:`DaskSparseRows`) run ``fn`` on each block as
    NumPy sparse rows.
    """
    if isinstance(x, DaskSparseRows):
        return _sparse_map_row_chunks(x, rows, fn, *consts)
    x = _single_column_block(x)
    consts = tuple(_whole(c) for c in consts)
    # The structure of fn's results (how many arrays, their dtypes and trailing shapes),
    # from a run on a one-row block of zeros made like the real blocks.
    xp_meta = array_api_compat.array_namespace(_block_meta(x))
    probe_rows, probe_totals = fn(xp_meta.zeros((1, *x.shape[1:]), dtype=x.dtype), *_probe_consts(consts))

    def run_block(block: Any, *block_consts: Any) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        return generic.map_row_chunks(block, rows, fn, *block_consts)

    const_specs = _const_specs(consts)
    pairs = da.blockwise(
        run_block, "i", x, "ij", *const_specs, concatenate=True, dtype=object, meta=_OBJECT_META
    )
    return _unpack_pairs(pairs, x.chunks[0], x.numblocks[0], probe_rows, probe_totals)


def _probe_consts(consts: tuple[Any, ...]) -> tuple[Any, ...]:
    """Zeros like the (whole-block) constants, for a probe run of a block function."""
    return tuple(
        array_api_compat.array_namespace(_block_meta(c)).zeros(c.shape, dtype=c.dtype)
        if isinstance(c, da.Array) else c
        for c in consts
    )


def _const_specs(consts: tuple[Any, ...]) -> list[Any]:
    """``blockwise`` arguments passing each constant whole to every block's task."""
    specs: list[Any] = []
    for i, c in enumerate(consts):
        if isinstance(c, da.Array):
            specs += [c, tuple(f"c{i}_{axis}" for axis in range(c.ndim))]
        else:
            specs += [c, None]
    return specs


def _unpack_pairs(pairs: Any, row_chunks: Any, n_blocks: int, probe_rows: Any, probe_totals: Any):
    """The per-row arrays (block by block) and the tree-summed totals of the blocks' pairs."""
    per_row = tuple(
        da.map_blocks(
            _pick_per_row, pairs, j, dtype=probe.dtype, meta=probe[:0],
            chunks=(row_chunks, *((s,) for s in probe.shape[1:])),
            new_axis=list(range(1, probe.ndim)) or None,
        )
        for j, probe in enumerate(probe_rows)
    )
    totals = tuple(
        da.map_blocks(
            _pick_total, pairs, j, dtype=probe.dtype, meta=probe[None][:0],
            chunks=((1,) * n_blocks, *((s,) for s in probe.shape)),
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
    if isinstance(x, DaskSparseRows):
        return x.dense_rows(index)
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
    a = stored_values(a)
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
    return isinstance(a._meta, np.ndarray) and not isinstance(a, DaskSparseRows)  # every block is of its meta's type


def known_rows(a: Any) -> Any:
    if isinstance(a, DaskSparseRows):
        return DaskSparseRows(known_rows(a.blocks), a.row_weights)
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


# -- sparse: Dask arrays of SciPy sparse blocks (see xpcluster._backends.sparse) -----------------

from .sparse import SCIPY_KERNELS, SparseRows, _scipy_rows, host_compute_dtype  # noqa: E402


def _block_rows(block: Any, weights: Any = None) -> SparseRows:
    """One block (canonical CSR, as :func:`dask_sparse_rows` made it) as sparse rows."""
    rows = SparseRows(SCIPY_KERNELS, block.indptr, block.indices, block.data, block.shape[1], host_indptr=block.indptr)
    return rows if weights is None else rows.weighted(weights)


def _canonical_block(block: Any) -> Any:
    rows = _scipy_rows(block, "X")
    return rows.native()


class DaskSparseRows(SparseRows):
    """Sparse rows on Dask: a Dask array whose row blocks (one column block) are canonical
    SciPy CSR matrices.  Passes over the data map the NumPy sparse code over the blocks
    (:func:`map_row_chunks`); everything else the core asks of sparse rows is a small
    lazy graph here.  Results are Dask arrays of NumPy blocks."""

    def __init__(self, blocks: Any, weights: Any = None) -> None:
        self.blocks = blocks
        self.kernels = SCIPY_KERNELS
        self.xp = array_api_compat.array_namespace(da.empty((0,)))
        self.shape = blocks.shape
        self.dtype = blocks.dtype
        self.chunks = blocks.chunks
        self.numblocks = blocks.numblocks
        self.device = "cpu"
        self._meta = np.empty((0, 0), dtype=blocks.dtype)  # what results' blocks are
        self._weights = weights
        self._host_indptr = None

    static_rows = False
    nnz = None  # unknown until the blocks are computed (block sizing then follows the blocks)

    @property
    def row_weights(self) -> Any:
        return self._weights

    def weighted(self, weights: Any) -> "DaskSparseRows":
        return DaskSparseRows(self.blocks, None if weights is None else weights.rechunk((self.chunks[0],)))

    def persist(self) -> "DaskSparseRows":
        return DaskSparseRows(self.blocks.persist(), None if self._weights is None else self._weights.persist())

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, tuple) and len(key) == 2 and key[0] == slice(None) and isinstance(key[1], int):
            return self.blocks.map_blocks(_block_column, key[1], drop_axis=1, dtype=self.dtype,
                                          meta=np.empty((0,), dtype=self.dtype))
        if isinstance(key, tuple) and len(key) == 2 and isinstance(key[0], int) and isinstance(key[1], int):
            return self[:, key[1]][key[0]]
        raise IndexError(f"sparse Dask rows do not support the index {key!r}")

    @property
    def values(self) -> Any:
        """The stored entries, block by block (their counts unknown until computed)."""
        return self.blocks.map_blocks(_block_values, drop_axis=1, chunks=((np.nan,) * self.numblocks[0],),
                                      dtype=self.dtype, meta=np.empty((0,), dtype=self.dtype))

    def with_values(self, values: Any) -> "DaskSparseRows":  # pragma: no cover - scaling goes through _mapped
        raise NotImplementedError

    def _mapped(self, fn: Any, *args: Any, dtype: Any = None) -> "DaskSparseRows":
        blocks = self.blocks.map_blocks(fn, *args, dtype=dtype or self.dtype, meta=self.blocks._meta)
        return DaskSparseRows(blocks, self._weights)

    def __mul__(self, s: Any) -> "DaskSparseRows":
        return self._mapped(_block_times, self._number(s))

    __rmul__ = __mul__

    def __truediv__(self, s: Any) -> "DaskSparseRows":
        return self._mapped(_block_over, self._number(s))

    def _number(self, s: Any) -> Any:
        if isinstance(s, float | int):
            return s
        if getattr(s, "ndim", None) != 0:
            raise TypeError("sparse rows are scaled by a number only (a 0-d array or a Python number)")
        return s.astype(self.dtype)

    def astype(self, dtype: Any, copy: bool = True, device: Any = None) -> "DaskSparseRows":
        if dtype == self.dtype:
            return self
        return self._mapped(_block_astype, np.dtype(dtype), dtype=dtype)

    @property
    def sq_norms(self) -> Any:
        return self.blocks.map_blocks(_block_sq_norms, drop_axis=1, dtype=self.dtype,
                                      meta=np.empty((0,), dtype=self.dtype))

    def rows_scaled(self, factors: Any) -> "DaskSparseRows":
        factors = factors.rechunk((self.chunks[0],))[:, None]
        return DaskSparseRows(da.map_blocks(_block_rows_scaled, self.blocks, factors, dtype=self.dtype,
                                            meta=self.blocks._meta), self._weights)

    def column_moments(self) -> tuple[Any, Any]:
        d, nb = self.shape[1], self.numblocks[0]
        per_block = self.blocks.map_blocks(_block_moments, chunks=((2,) * nb, (d,)), dtype=np.float64,
                                           meta=np.empty((0, 0)))
        moments = per_block.reshape((nb, 2, d)).sum(axis=0)
        return moments[0], moments[1]

    def native(self) -> Any:
        return self.blocks

    def compute(self) -> SparseRows:
        """The rows computed once, as NumPy sparse rows (for searches that read them often)."""
        from scipy import sparse

        blocks = [b for b in dask.compute(*self.blocks.to_delayed().ravel())]
        rows = _scipy_rows(sparse.vstack(blocks, format="csr") if blocks else self.blocks._meta, "X")
        return rows if self._weights is None else rows.weighted(np.asarray(self._weights.compute()))

    def dense_rows(self, index: Any) -> Any:
        """The rows at ``index`` (host or lazy) as a dense (m, d) Dask array: each block
        contributes the rows it holds, summed (no block is densified)."""
        m, d = int(index.shape[0]), self.shape[1]
        nb = self.numblocks[0]
        # Each block learns where it starts from its piece of the row positions.
        starts = da.arange(self.shape[0], chunks=(self.chunks[0],), dtype=np.int64)
        if not isinstance(index, da.Array):
            index = da.from_array(np.asarray(index), chunks=-1)
        parts = da.blockwise(_block_pick, "ij", self.blocks, "ij", starts, "i", index.rechunk(-1), "k",
                             concatenate=True, adjust_chunks={"i": m}, dtype=self.dtype,
                             meta=np.empty((0, 0), dtype=self.dtype))
        return parts.reshape((nb, m, d)).sum(axis=0)

    def subset(self, index: Any) -> "DaskSparseRows":
        """The rows at ``index`` (host or lazy integers; repeats allowed), in ``index``'s
        order, as one sparse block: each block contributes the rows it holds (the others
        empty) and the partial matrices are added."""
        from scipy import sparse

        m, d = int(index.shape[0]), self.shape[1]
        if not isinstance(index, da.Array):
            index = da.from_array(np.asarray(index), chunks=-1)
        starts = da.arange(self.shape[0], chunks=(self.chunks[0],), dtype=np.int64)
        meta = sparse.csr_matrix((0, 0), dtype=self.dtype)
        parts = da.blockwise(_block_subset, "ij", self.blocks, "ij", starts, "i", index.rechunk(-1), "k",
                             concatenate=True, adjust_chunks={"i": m}, dtype=self.dtype, meta=meta)
        total = dask.delayed(_add_matrices)(parts.to_delayed().ravel().tolist())
        return DaskSparseRows(da.from_delayed(total, shape=(m, d), dtype=self.dtype, meta=meta))

    def rows_where(self, mask: Any) -> "DaskSparseRows":
        """The rows where the lazy boolean ``mask`` holds, block by block (row counts
        unknown until ``known_rows``)."""
        from scipy import sparse

        mask = mask.rechunk((self.chunks[0],))[:, None]
        blocks = da.map_blocks(_block_where, self.blocks, mask, dtype=self.dtype,
                               chunks=((np.nan,) * self.numblocks[0], (self.shape[1],)),
                               meta=sparse.csr_matrix((0, 0), dtype=self.dtype))
        return DaskSparseRows(blocks)


def _block_subset(block: Any, start: Any, index: Any) -> Any:
    from scipy import sparse

    index = np.asarray(index).reshape(-1).astype(np.int64) - (int(start[0]) if len(start) else 0)
    inside = (index >= 0) & (index < block.shape[0])
    # Row j of the result is row index[j] of this block where it holds it, else empty.
    picked = np.where(inside, index, 0)
    selector = sparse.csr_matrix((inside.astype(block.dtype), (np.arange(index.shape[0]), picked)),
                                 shape=(index.shape[0], block.shape[0]))
    return _canonical_block(selector @ block)


def _add_matrices(parts: list) -> Any:
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return _canonical_block(total)


def _block_where(block: Any, mask: Any) -> Any:
    return block[np.asarray(mask).reshape(-1)]


def _block_column(block: Any, j: int) -> np.ndarray:
    return np.asarray(block[:, [j]].toarray()[:, 0])


def _block_values(block: Any) -> np.ndarray:
    return np.asarray(block.data)


def _block_times(block: Any, s: Any) -> Any:
    return _with_data(block, block.data * np.asarray(s, dtype=block.dtype))


def _block_over(block: Any, s: Any) -> Any:
    return _with_data(block, block.data / np.asarray(s, dtype=block.dtype))


def _block_astype(block: Any, dtype: Any) -> Any:
    return _with_data(block, block.data.astype(dtype))


def _with_data(block: Any, data: Any) -> Any:
    from scipy import sparse

    return sparse.csr_matrix((data, block.indices, block.indptr), shape=block.shape, copy=False)


def _block_sq_norms(block: Any) -> np.ndarray:
    return np.asarray(_block_rows(block).sq_norms)


def _block_rows_scaled(block: Any, factors: Any) -> Any:
    return _block_rows(block).rows_scaled(np.asarray(factors).reshape(-1)).native()


def _block_moments(block: Any) -> np.ndarray:
    return np.stack(_block_rows(block).column_moments())


def _block_pick(block: Any, start: Any, index: Any) -> np.ndarray:
    index = np.asarray(index).reshape(-1).astype(np.int64) - (int(start[0]) if len(start) else 0)
    inside = (index >= 0) & (index < block.shape[0])
    out = np.zeros((index.shape[0], block.shape[1]), dtype=block.dtype)
    if inside.any():
        out[inside] = _block_rows(block).dense_rows(index[inside])
    return out


def is_dask_sparse(X: Any) -> bool:
    return isinstance(X, da.Array) and type(X._meta).__module__.startswith("scipy.sparse")


def dask_sparse_rows(X: Any, name: str = "X") -> DaskSparseRows:
    """A Dask array of SciPy sparse blocks as sparse rows: one column block, each row block
    canonical CSR in the compute dtype (lazily: a map over the blocks, nothing computed)."""
    from scipy import sparse

    dtype = host_compute_dtype(X, name)

    blocks = _single_column_block(X).map_blocks(_canonical_block, dtype=dtype,
                                                meta=sparse.csr_matrix((0, 0), dtype=dtype))
    return DaskSparseRows(blocks)


def _sparse_map_row_chunks(x: DaskSparseRows, rows: int, fn: Callable[..., Any], *consts: Any):
    """:func:`map_row_chunks` for sparse rows: each block's task runs ``fn`` on the block as
    NumPy sparse rows (with its rows' weights), in row chunks."""
    from scipy import sparse

    consts = tuple(_whole(c) for c in consts)
    probe = _block_rows(sparse.csr_matrix((1, x.shape[1]), dtype=x.dtype),
                        None if x.row_weights is None else np.zeros((1,), dtype=x.row_weights.dtype))
    probe_rows, probe_totals = fn(probe, *_probe_consts(consts))

    def run_block(block: Any, weights: Any, *block_consts: Any) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        return generic.map_row_chunks(_block_rows(block, weights), rows, fn, *block_consts)

    const_specs = _const_specs(consts)
    weight_spec = [None, None] if x.row_weights is None else [x.row_weights, "i"]
    pairs = da.blockwise(
        run_block, "i", x.blocks, "ij", *weight_spec, *const_specs, concatenate=True, dtype=object,
        meta=_OBJECT_META,
    )
    return _unpack_pairs(pairs, x.chunks[0], x.numblocks[0], probe_rows, probe_totals)
