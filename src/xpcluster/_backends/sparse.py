"""Sparse rows: what the core needs from a sparse data matrix, for each sparse library.

The core never densifies a whole sparse matrix.  It asks a :class:`SparseRows` for the
few operations k-means needs -- a product with dense centroids, the rows' squared norms,
per-cluster sums of rows, some rows as a dense block, consecutive row blocks (views, no
copy) -- and everything else it computes from their dense results.  A ``SparseRows``
reports the dense namespace its results live in (``__array_namespace__``), its shape,
dtype and device, so that the core's shape and dtype logic and the capability layer's
row chunking treat it like a dense array.

The rows are held in canonical CSR form (sorted column indices, no duplicate entries)
as three arrays of the library, on its device.  The CSR bookkeeping is written once,
against the Array API; a library supplies only :class:`CSRKernels` (its sparse-dense
product, a scatter-add, a repeat and its own sparse type): SciPy's here, PyTorch's in
:mod:`xpcluster._backends.torch`.  :func:`as_sparse_rows` recognises the sparse inputs
xpcluster accepts and wraps them; this module is the only one that knows their types.
"""
from __future__ import annotations

import warnings
from typing import Any

import array_api_compat
import numpy as np

__all__ = ["SparseRows", "as_sparse_rows", "is_sparse", "is_sparse_input", "native", "stored_values"]


class CSRKernels:
    """The few sparse operations of one library (the rest is :class:`SparseRows`' own)."""

    name = "generic"

    def product(self, rows: "SparseRows", m: Any) -> Any:  # pragma: no cover - abstract
        """Dense ``rows @ m`` for a dense (d, j) ``m``, in their common float dtype."""
        raise NotImplementedError

    def scatter_add(self, index: Any, values: Any, size: int, like: Any) -> Any:  # pragma: no cover - abstract
        """Dense (size,) ``out[index[e]] += values[e]`` (``values`` None: 1 each), in
        ``values``' dtype or wider (float64 where ``like``'s device has it for counts)."""
        raise NotImplementedError

    def repeat(self, values: Any, counts: Any, total: int) -> Any:  # pragma: no cover - abstract
        """``values[i]`` repeated ``counts[i]`` times, ``total`` entries in all."""
        raise NotImplementedError

    def native(self, rows: "SparseRows") -> Any:  # pragma: no cover - abstract
        """The library's own sparse matrix of these rows (for user code)."""
        raise NotImplementedError

    def to_host(self, a: Any) -> np.ndarray:
        """A small index array on the host (an explicit copy from the device)."""
        return np.asarray(a)

    def is_traced(self, a: Any) -> bool:
        """Whether ``a`` has no value yet (inside a trace): its entries cannot be read."""
        return False


class SparseRows:
    """A row range ``[start, stop)`` of a canonical CSR matrix (see the module docstring).

    ``indptr``, ``indices`` and ``data`` are the whole matrix's arrays, shared by every
    range; ``host_indptr`` is ``indptr`` on the host, so that a range's entries are known
    without reading the device.  ``row_ids`` (optional) holds each entry's row: a library
    that has them (JAX's BCOO) reads per-entry row values through them instead of
    repeating per-row values.  Inside a trace (``jax.jit`` of a sparse argument) the
    structure is unknown: ``host_indptr`` is None, the rows are one block, padding entries
    (JAX's) hold 0.  Rows may carry weights (:meth:`weighted`), which travel with every
    range.
    """

    ndim = 2

    def __init__(self, kernels: CSRKernels, indptr: Any, indices: Any, data: Any, n_cols: int, *,
                 host_indptr: Any = "read", sq_norms: Any = None, start: int = 0,
                 stop: int | None = None, weights: Any = None, row_ids: Any = None, n_rows: int | None = None) -> None:
        self.kernels = kernels
        self.xp = array_api_compat.array_namespace(data)
        self._indptr, self._indices, self._data, self._row_ids = indptr, indices, data, row_ids
        if isinstance(host_indptr, str):
            host_indptr = kernels.to_host(indptr)
        self._host_indptr = None if host_indptr is None else np.asarray(host_indptr, dtype=np.int64)
        n = int(n_rows) if self._host_indptr is None else self._host_indptr.shape[0] - 1
        self._n_total = n
        self.start, self.stop = start, n if stop is None else stop
        self.shape = (self.stop - self.start, int(n_cols))
        self.dtype = data.dtype
        self.device = array_api_compat.device(data)
        # The squared norms are made on first use (a pass that needs distances) and then
        # shared by every range: the data is scaled into its safe range by then, so they
        # cannot overflow, and passes that need only products never pay for them.
        self._norms = sq_norms if isinstance(sq_norms, list) else [sq_norms]
        self._weights = weights

    @property
    def _sq_norms(self) -> Any:
        if self._norms[0] is None:
            xp, n = self.xp, self._n_total
            if not self.static_rows:  # one block (a trace): every entry at once
                norms = self.kernels.scatter_add(self._row_ids, self._data * self._data, n, self._data)
            else:  # row ranges of about _NORM_ENTRIES entries: their temporaries stay small
                bounds = np.searchsorted(self._host_indptr, np.arange(0, self._host_indptr[-1], _NORM_ENTRIES),
                                         side="right") - 1
                starts = sorted(set(int(b) for b in bounds) | {0})
                whole = self._rebuilt(start=0, stop=n, weights=None)
                parts = []
                for a, b in zip(starts, starts[1:] + [n]):
                    part = whole.row_range(a, b)
                    _, data = part._entries()
                    parts.append(self.kernels.scatter_add(part._local_row_ids(), data * data, b - a, data))
                norms = parts[0] if len(parts) == 1 else xp.concat(parts)
            self._norms[0] = xp.astype(norms, self.dtype, copy=False)
        return self._norms[0]

    def _rebuilt(self, **changes: Any) -> "SparseRows":
        """These rows with some of their parts replaced (the rest shared)."""
        parts = dict(host_indptr=self._host_indptr, sq_norms=self._norms, start=self.start, stop=self.stop,
                     weights=self._weights, row_ids=self._row_ids, n_rows=self._n_total)
        parts.update(changes)
        return SparseRows(self.kernels, self._indptr, self._indices, self._data, self.shape[1], **parts)

    @property
    def static_rows(self) -> bool:
        """Whether row ranges can be taken (the structure is known on the host)."""
        return self._host_indptr is not None

    # -- what the core reads ----------------------------------------------------------------

    def __array_namespace__(self, api_version: Any = None) -> Any:
        return self.xp

    @property
    def nnz(self) -> int:
        lo, hi = self._span()
        return hi - lo

    @property
    def indptr(self) -> Any:
        """This range's ``indptr`` (absolute positions into the shared arrays)."""
        return self._indptr[self.start : self.stop + 1]

    @property
    def sq_norms(self) -> Any:
        """(rows,) squared Euclidean norms of the rows."""
        return self._sq_norms[self.start : self.stop]

    @property
    def values(self) -> Any:
        """The stored entries of this range (value checks and scaling read them)."""
        return self._entries()[1]

    @property
    def row_weights(self) -> Any:
        """The rows' weights given to :meth:`weighted` (None: unweighted)."""
        return None if self._weights is None else self._weights[self.start : self.stop]

    def __getitem__(self, key: Any) -> Any:
        """Row ranges (``x[a:b]``, ``x[a:b, ...]``, ``x[a:b, :]``) are views; a column
        ``x[:, j]`` and an entry ``x[i, j]`` are dense (the core uses them as templates)."""
        if not isinstance(key, tuple):
            key = (key,)
        rows, cols = key[0], key[1:] or (Ellipsis,)
        if isinstance(rows, slice) and len(cols) == 1 and (cols[0] is Ellipsis or cols[0] == slice(None)):
            start, stop, step = rows.indices(self.shape[0])
            if step != 1:
                raise IndexError("sparse rows take contiguous row ranges only")
            return self.row_range(start, max(start, stop))
        if len(cols) == 1 and isinstance(cols[0], int | np.integer):
            if isinstance(rows, int | np.integer):  # one entry: its row alone
                return self.dense_rows(np.asarray([int(rows)]))[0, int(cols[0])]
            return self.column(int(cols[0]))[rows]
        raise IndexError(f"sparse rows do not support the index {key!r}")

    def __mul__(self, s: Any) -> "SparseRows":
        """Every entry times the number ``s`` (the range scale): the pattern is kept."""
        return self.with_values(self.values * self._number(s))

    __rmul__ = __mul__

    def __truediv__(self, s: Any) -> "SparseRows":
        return self.with_values(self.values / self._number(s))

    def _number(self, s: Any) -> Any:
        if isinstance(s, float | int):
            return s
        if getattr(s, "ndim", None) != 0:
            raise TypeError("sparse rows are scaled by a number only (a 0-d array or a Python number)")
        return self.xp.astype(s, self.dtype)

    def astype(self, dtype: Any, copy: bool = True, device: Any = None) -> "SparseRows":
        """These rows in ``dtype`` (``xp.astype`` calls this; the stored pattern is shared)."""
        if dtype == self.dtype:
            return self
        return self.with_values(self.xp.astype(self.values, dtype))

    def row_range(self, start: int, stop: int) -> "SparseRows":
        if (start, stop) == (0, self.shape[0]):
            return self
        if not self.static_rows:
            raise ValueError("the row structure of traced sparse rows is unknown: they are one block")
        return self._rebuilt(start=self.start + start, stop=self.start + stop)

    def weighted(self, weights: Any) -> "SparseRows":
        """These rows carrying (rows,) ``weights``, which travel with every row range."""
        if weights is None:
            full = None
        else:
            xp, n = self.xp, self._n_total
            before = xp.zeros((self.start,), dtype=weights.dtype, device=self.device)
            after = xp.zeros((n - self.stop,), dtype=weights.dtype, device=self.device)
            full = xp.concat([before, weights, after])
        return self._rebuilt(weights=full)

    def product(self, m: Any) -> Any:
        """Dense ``rows @ m`` for a dense (d, j) ``m``."""
        return self.kernels.product(self, m)

    def segment_sums(self, ids: Any, k: int, weights: Any = None) -> tuple[Any, Any]:
        """Dense (k, d) per-id sums of the (weighted) rows and the (k,) counts (total weights)."""
        xp = self.xp
        rows, d = self.shape
        indices, data = self._entries()
        entry_ids = self._per_entry(ids)
        values = data if weights is None else data * self._per_entry(weights)
        # One scatter over (id, column) pairs: O(nnz + k*d).
        wide = _index_dtype(xp, self.device, k * d)
        flat = xp.astype(entry_ids, wide, copy=False) * d + xp.astype(indices, wide, copy=False)
        sums = xp.reshape(self.kernels.scatter_add(flat, values, k * d, data), (k, d))
        counts = self.kernels.scatter_add(ids, weights, k, data)
        return xp.astype(sums, _float_at_least_32(xp, data.dtype), copy=False), counts

    def dense_rows(self, index: Any) -> Any:
        """The rows at ``index`` as a dense (len(index), d) block."""
        xp = self.xp
        index = self._index(index)
        m, d = index.shape[0], self.shape[1]
        if self.kernels.is_traced(index) or not self.static_rows:
            # Indices without a value (inside a trace): one masked scatter per row; m is small.
            indices, data = self._entries()
            rows = self._local_row_ids() + self.start
            picked = [self.kernels.scatter_add(indices, xp.where(rows == index[i], data, xp.zeros_like(data)), d, data)
                      for i in range(m)]
            return xp.astype(xp.stack(picked, axis=0), self.dtype) if m else xp.zeros((0, d), dtype=self.dtype,
                                                                                         device=self.device)
        slots, positions, valid = self._positions(index)
        wide = _index_dtype(xp, self.device, m * d)
        flat = xp.astype(slots, wide, copy=False) * d + xp.astype(xp.take(self._indices, positions), wide, copy=False)
        values = xp.where(valid, xp.take(self._data, positions), xp.zeros_like(positions, dtype=self.dtype))
        dense = self.kernels.scatter_add(flat, values, m * d, self._data)
        return xp.astype(xp.reshape(dense, (m, d)), self.dtype, copy=False)

    def subset(self, index: Any) -> "SparseRows":
        """The rows at ``index`` (repeats allowed) as new sparse rows.  With an index that
        has no value yet (inside a trace) their entries are padded to the most the rows
        could hold (padding: 0), one block."""
        xp = self.xp
        index = self._index(index)
        slots, positions, valid = self._positions(index)
        indices = xp.where(valid, xp.take(self._indices, positions), xp.zeros_like(positions, dtype=self._indices.dtype))
        data = xp.where(valid, xp.take(self._data, positions), xp.zeros_like(positions, dtype=self.dtype))
        sq_norms = xp.take(self._sq_norms, index)
        lengths = xp.take(self._indptr, index + 1) - xp.take(self._indptr, index)
        zero = xp.zeros((1,), dtype=self._indptr.dtype, device=self.device)
        indptr = xp.concat([zero, xp.cumulative_sum(lengths)])
        m = index.shape[0]
        if self.kernels.is_traced(index):
            return SparseRows(self.kernels, indptr, indices, data, self.shape[1], host_indptr=None, sq_norms=sq_norms,
                              row_ids=xp.astype(slots, self._indices.dtype), n_rows=m)
        row_ids = None if self._row_ids is None else xp.astype(slots, self._indices.dtype)
        return SparseRows(self.kernels, indptr, indices, data, self.shape[1], sq_norms=sq_norms, row_ids=row_ids)

    def rows_where(self, mask: Any) -> "SparseRows":
        """The rows where the boolean ``mask`` holds (values read now)."""
        return self.subset(self.xp.nonzero(mask)[0])

    def with_values(self, values: Any) -> "SparseRows":
        """This range's pattern with other stored values (scaled, another dtype)."""
        indices, _ = self._entries()
        if not self.static_rows:
            return SparseRows(self.kernels, self._indptr, indices, values, self.shape[1], host_indptr=None,
                              row_ids=self._row_ids, n_rows=self._n_total)
        lo = int(self._host_indptr[self.start])
        host = self._host_indptr[self.start : self.stop + 1] - lo
        row_ids = None if self._row_ids is None else self._row_ids[lo : lo + values.shape[0]] - self.start
        return SparseRows(self.kernels, self.indptr - lo, indices, values, self.shape[1], host_indptr=host,
                          row_ids=row_ids)

    def rows_scaled(self, factors: Any) -> "SparseRows":
        """Row ``i`` multiplied by ``factors[i]`` (e.g. ``1 / norm``: rows on the unit sphere)."""
        return self.with_values(self.values * self._per_entry(self.xp.astype(factors, self.dtype)))

    def column(self, j: int) -> Any:
        """Dense (rows,) column ``j``."""
        xp = self.xp
        indices, data = self._entries()
        picked = xp.where(indices == j, data, xp.zeros_like(data))
        return xp.astype(self.kernels.scatter_add(self._local_row_ids(), picked, self.shape[0], data), self.dtype,
                         copy=False)

    def column_moments(self) -> tuple[Any, Any]:
        """Dense (d,) column sums and column sums of squares (in float64 where available)."""
        xp = self.xp
        indices, data = self._entries()
        wide = xp.astype(data, _widest(xp, self.device))
        d = self.shape[1]
        return self.kernels.scatter_add(indices, wide, d, wide), self.kernels.scatter_add(indices, wide * wide, d, wide)

    def mean_column_variance(self) -> Any:
        """0-d: the mean over the columns of their (population) variances."""
        xp = self.xp
        n = self.shape[0]
        sums, squares = self.column_moments()
        means = sums / n
        return xp.mean(xp.clip(squares / n - means * means, min=0.0))

    def to_dense(self) -> Any:
        """The whole range dense (for small ranges only)."""
        xp = self.xp
        indices, data = self._entries()
        rows, d = self.shape
        wide = _index_dtype(xp, self.device, rows * d)
        flat = xp.astype(self._local_row_ids(), wide, copy=False) * d + xp.astype(indices, wide, copy=False)
        return xp.astype(xp.reshape(self.kernels.scatter_add(flat, data, rows * d, data), (rows, d)), self.dtype,
                         copy=False)

    def native(self) -> Any:
        """These rows as the library's own sparse matrix (what a user's callable sees)."""
        return self.kernels.native(self)

    def entries(self) -> tuple[Any, Any, Any]:
        """The stored entries as three (nnz,) arrays: their (local) rows, columns, values."""
        indices, data = self._entries()
        return self._local_row_ids(), indices, data

    # -- bookkeeping ------------------------------------------------------------------------

    def _span(self) -> tuple[int, int]:
        if not self.static_rows:
            return 0, int(self._data.shape[0])
        return int(self._host_indptr[self.start]), int(self._host_indptr[self.stop])

    def _entries(self) -> tuple[Any, Any]:
        lo, hi = self._span()
        return self._indices[lo:hi], self._data[lo:hi]

    def _per_entry(self, per_row: Any) -> Any:
        """(nnz,) the value of each stored entry's row."""
        if self._row_ids is not None:
            xp = self.xp
            lo, hi = self._span()
            local = xp.clip(self._row_ids[lo:hi] - self.start, 0, max(0, self.shape[0] - 1))  # (padding: clipped)
            return xp.take(per_row, local, axis=0)
        return self.kernels.repeat(per_row, _diff(self.indptr, self.xp), self.nnz)

    def _local_row_ids(self) -> Any:
        xp = self.xp
        return self._per_entry(xp.arange(self.shape[0], dtype=self._indices.dtype, device=self.device))

    def _index(self, index: Any) -> Any:
        xp = self.xp
        if not (array_api_compat.is_array_api_obj(index) and array_api_compat.array_namespace(index) is xp):
            index = xp.asarray(np.asarray(index), device=self.device)
        return xp.astype(xp.reshape(index, (-1,)), self._indptr.dtype, copy=False) + self.start  # absolute rows

    def _positions(self, index: Any) -> tuple[Any, Any, Any]:
        """For rows ``index`` (absolute, from :meth:`_index`): each of their entries' slot
        (position in ``index``), absolute position in the shared arrays, and whether it is
        one (an index without a value is given room for the most its rows could hold)."""
        xp = self.xp
        starts = xp.take(self._indptr, index)
        lengths = xp.take(self._indptr, index + 1) - starts
        m = index.shape[0]
        counts = self._host_indptr[1:] - self._host_indptr[:-1]
        if self.kernels.is_traced(index):
            total = int(np.sum(np.sort(counts)[::-1][:m])) if m else 0  # the m longest rows
        else:
            host = self.kernels.to_host(index)
            total = int(np.sum(counts[host])) if m else 0
        slots = self.kernels.repeat(xp.arange(m, dtype=index.dtype, device=self.device), lengths, total)
        first = xp.cumulative_sum(lengths) - lengths
        ranks = xp.arange(total, dtype=index.dtype, device=self.device)
        offsets = ranks - self.kernels.repeat(first, lengths, total)
        valid = ranks < xp.sum(lengths)
        positions = xp.clip(self.kernels.repeat(starts, lengths, total) + offsets, 0,
                            max(0, int(self._data.shape[0]) - 1))
        return slots, positions, valid


#: Stored entries per pass of the squared norms (their temporaries: a few bytes each).
_NORM_ENTRIES = 2**20


def _diff(a: Any, xp: Any) -> Any:
    return a[1:] - a[:-1]


def _index_dtype(xp: Any, device: Any, size: int) -> Any:
    """int64 where the device has it (JAX without x64 has not: int32, for sizes it holds)."""
    available = xp.__array_namespace_info__().dtypes(device=device, kind="signed integer")
    if "int64" in available:
        return xp.int64
    if size >= 2**31:
        raise ValueError(f"{size} positions need 64-bit indices, which this device does not have "
                         "(with JAX, set JAX_ENABLE_X64=1)")
    return xp.int32


def _widest(xp: Any, device: Any) -> Any:
    from .._core.dtypes import widest_float

    return widest_float(xp, device)


def _float_at_least_32(xp: Any, dtype: Any) -> Any:
    return xp.float64 if dtype == xp.float64 else xp.float32


# -- SciPy ------------------------------------------------------------------------------------


class ScipyKernels(CSRKernels):
    """SciPy's CSR kernels, NumPy's bincount and repeat."""

    name = "scipy.sparse"

    def product(self, rows: SparseRows, m: np.ndarray) -> np.ndarray:
        d, j = m.shape
        n_rows = rows.shape[0]
        dtype = np.result_type(rows.dtype, m.dtype)
        out = np.zeros((n_rows, j), dtype=dtype)
        if n_rows == 0 or j == 0:
            return out
        indptr, indices, data = rows.indptr, rows._indices, rows._data
        if _csr_matvecs is not None and dtype in (np.float32, np.float64) and rows.dtype == dtype:
            m = np.ascontiguousarray(m, dtype=dtype)
            if indptr.dtype != indices.dtype:  # pragma: no cover - as_sparse_rows keeps them alike
                indptr = indptr.astype(indices.dtype)
            # Positions in indptr are absolute: the kernel reads this range in place.
            _csr_matvecs(n_rows, d, j, indptr, indices, data, m.ravel(), out.ravel())
            return out
        return np.asarray(rows.native() @ m, dtype=dtype)

    def scatter_add(self, index: Any, values: Any, size: int, like: Any) -> np.ndarray:
        # One bincount: a C pass accumulating in float64.
        return np.bincount(np.asarray(index, dtype=np.intp), weights=values, minlength=size)

    def repeat(self, values: Any, counts: Any, total: int) -> np.ndarray:
        return np.repeat(values, counts)

    def native(self, rows: SparseRows) -> Any:
        indices, data = rows._entries()
        indptr = rows.indptr - int(rows._host_indptr[rows.start])
        return _scipy_sparse().csr_matrix((data, indices, indptr), shape=rows.shape, copy=False)


SCIPY_KERNELS = ScipyKernels()


def _scipy_sparse() -> Any:
    from scipy import sparse

    return sparse


try:  # the kernel behind `csr @ dense`, called on a row range in place (no slicing copy)
    from scipy.sparse._sparsetools import csr_matvecs as _csr_matvecs
except ImportError:  # pragma: no cover - a SciPy that moved it: the public product
    _csr_matvecs = None


def host_compute_dtype(X: Any, name: str) -> np.dtype:
    """The compute dtype of a 2-D host (NumPy-typed) sparse matrix: float32 and float64 as
    they are, half precision as float32, integers and booleans as float64; complex and
    other kinds refused with a clear ``ValueError``."""
    if X.ndim != 2:
        raise ValueError(f"Expected 2D sparse input, got {X.ndim}D instead")
    kind = X.dtype.kind
    if kind == "c":
        raise ValueError("Complex data not supported")
    if kind not in "biuf":
        raise ValueError(f"{name} needs real numbers, got a sparse matrix of dtype {X.dtype}")
    return np.dtype(np.float32) if kind == "f" and X.dtype.itemsize <= 4 else np.dtype(np.float64)


def _canonical_without_copy(X: Any) -> bool:
    """Whether CSR ``X`` has sorted indices and no duplicates, checked without changing it
    (SciPy's own check caches a flag on the matrix)."""
    indptr, indices = X.indptr, X.indices
    if indices.size < 2:
        return True
    rising = indices[1:] > indices[:-1]
    # Where a row starts, the index may drop: only steps inside a row must rise.
    starts = indptr[1:-1]
    starts = starts[(starts > 0) & (starts < indices.size)]
    rising[starts - 1] = True
    return bool(rising.all())


def _scipy_rows(X: Any, name: str) -> SparseRows:
    sparse = _scipy_sparse()
    dtype = host_compute_dtype(X, name)
    kind = X.dtype.kind
    if kind in "iu" and X.dtype.itemsize * 8 > 53 and X.nnz:
        _warn_large_integers(X.tocoo().data, name)
    if (X.format == "csr" and X.dtype == dtype and X.indptr.dtype == X.indices.dtype
            and _canonical_without_copy(X)):
        # Already canonical CSR in its compute dtype (TfidfVectorizer's output): its arrays
        # are shared, read only -- nothing here ever writes to them.
        return SparseRows(SCIPY_KERNELS, X.indptr, X.indices, np.ascontiguousarray(X.data), X.shape[1],
                          host_indptr=X.indptr)
    # csr_matrix(...) of a CSR shares its arrays: copy before canonicalising, never in place.
    matrix = sparse.csr_matrix(X, dtype=dtype, copy=True)
    if not matrix.has_canonical_format:
        matrix.sum_duplicates()  # sorts indices and adds duplicate entries
    indices = matrix.indices
    indptr = matrix.indptr.astype(indices.dtype, copy=False)
    return SparseRows(SCIPY_KERNELS, indptr, indices, np.ascontiguousarray(matrix.data, dtype=dtype), X.shape[1],
                      host_indptr=indptr)


# -- recognising the inputs ---------------------------------------------------------------------


def is_sparse(a: Any) -> bool:
    """Whether ``a`` is sparse rows (already wrapped by :func:`as_sparse_rows`)."""
    return isinstance(a, SparseRows)


def _is_bcoo(X: Any) -> bool:
    return type(X).__module__.startswith("jax.experimental.sparse") and type(X).__name__ == "BCOO"


def _is_torch_sparse(X: Any) -> bool:
    return type(X).__module__.split(".")[0] == "torch" and str(getattr(X, "layout", "")).startswith("torch.sparse")


def _is_dask_sparse(X: Any) -> bool:
    return (type(X).__module__.split(".")[0] == "dask" and hasattr(X, "_meta")
            and type(X._meta).__module__.startswith("scipy.sparse"))


def is_sparse_input(X: Any) -> bool:
    """Whether ``X`` is a sparse matrix or array of a library xpcluster knows (recognised
    without importing it): SciPy's sparse matrices and arrays, PyTorch's sparse tensors,
    JAX's BCOO, Dask arrays of SciPy sparse blocks."""
    return (isinstance(X, SparseRows) or type(X).__module__.startswith("scipy.sparse") or _is_torch_sparse(X)
            or _is_bcoo(X) or _is_dask_sparse(X))


def native(a: Any) -> Any:
    """What user code (a callable ``init``) is given: the library's own sparse matrix for
    sparse rows, ``a`` itself otherwise."""
    return a.native() if isinstance(a, SparseRows) else a


def stored_values(a: Any) -> Any:
    """The array whose entries decide value checks: the stored entries of sparse rows,
    ``a`` itself otherwise."""
    return a.values if isinstance(a, SparseRows) else a


def as_sparse_rows(X: Any, *, name: str = "X", native_dispatch: bool = True) -> SparseRows:
    """``X`` as canonical CSR rows in its compute dtype: float32 and float64 kept, integers
    and booleans in the device's widest float, half precision in float32.

    SciPy's sparse matrices and arrays (any format) and PyTorch's sparse tensors (COO, CSR,
    CSC, BSR, BSC; on their device) are accepted; with ``native_dispatch`` false a PyTorch
    tensor is copied to SciPy (as dense PyTorch input becomes NumPy).  ``X`` itself is never
    modified (a copy is made wherever a library would change it in place)."""
    if isinstance(X, SparseRows):
        return X
    if _is_torch_sparse(X):
        from .torch import torch_sparse_rows, torch_to_scipy

        if not native_dispatch:
            return _scipy_rows(torch_to_scipy(X), name)
        return torch_sparse_rows(X, name)
    if _is_dask_sparse(X):
        if not native_dispatch:
            return _scipy_rows(X.compute(), name)
        from .dask import dask_sparse_rows

        return dask_sparse_rows(X, name)
    if _is_bcoo(X):
        if not native_dispatch:
            return _scipy_rows(_bcoo_to_scipy(X), name)
        from .jax import bcoo_sparse_rows

        return bcoo_sparse_rows(X, name)
    if type(X).__module__.startswith("scipy.sparse") and _scipy_sparse().issparse(X):
        return _scipy_rows(X, name)
    raise TypeError(f"{name} is not a sparse matrix xpcluster knows (got a {type(X).__name__})")


def _bcoo_to_scipy(X: Any) -> Any:
    """A BCOO as a SciPy COO matrix on the host (native dispatch off)."""
    import jax

    data, indices = (np.asarray(a) for a in jax.device_get((X.data, X.indices)))
    return _scipy_sparse().coo_matrix((data, (indices[:, 0], indices[:, 1])), shape=X.shape)


def warn_large_integers(beyond: bool, name: str, target: str = "float64") -> None:
    """The :class:`~xpcluster.PrecisionWarning` for stored integers beyond ``target``'s exact range."""
    if beyond:
        from .._core.dtypes import PrecisionWarning

        warnings.warn(
            f"{name} holds integers beyond the exact range of {target}: they are rounded to the nearest {target}",
            PrecisionWarning, stacklevel=5,
        )


def _warn_large_integers(data: np.ndarray, name: str) -> None:
    limit = 2**53
    warn_large_integers(bool(data.size and (int(data.max()) > limit or int(data.min()) < -limit)), name)
