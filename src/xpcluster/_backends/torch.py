"""PyTorch capabilities: segment sums through ``index_add_`` (any device, no host sync);
on CPU, row blocks through NumPy's kernels on the tensors' own memory.

PyTorch's CPU ``argmin`` over short rows is a scalar loop: on W1's (block, 64) score blocks
it takes 8x its ``amin`` and as long as the block's matrix product (measured, 2 cores), and
``index_add_`` costs 3x SciPy's sparse-product segment sum.  A CPU tensor's memory is a
NumPy array already (``Tensor.numpy()`` is a view, no copy), so on CPU the assignment passes
run NumPy's block kernels (threaded row blocks, column-wise nearest index, sparse-product
segment sums) on views of the tensors, and hand back tensors on the same memory.  Tensors
that need autograd, dtypes NumPy lacks (bfloat16), tensors being traced by
``torch.compile`` and every other device keep PyTorch's own operations.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from . import _GENERIC, generic
from . import numpy as _numpy_backend


def _compiling() -> bool:
    return bool(torch.compiler.is_compiling())


def _numpy_view_ok(a: Any) -> bool:
    """Whether ``a`` can be handed to NumPy as a view: a plain CPU tensor, no autograd."""
    return (
        a.device.type == "cpu" and a.layout == torch.strided and not a.requires_grad
        and a.dtype not in (torch.bfloat16, torch.complex32) and not a.is_conj() and not a.is_neg()
    )


def _views(args: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """NumPy views of the tensors among ``args`` (others as they are), None if one has none."""
    out = []
    for a in args:
        if isinstance(a, generic.RowAligned):
            inner = _views((a.array,))
            if inner is None:
                return None
            out.append(generic.RowAligned(inner[0]))
            continue
        if isinstance(a, torch.Tensor):
            if not _numpy_view_ok(a):
                return None
            a = a.numpy()
        out.append(a)
    return tuple(out)


def _as_tensor(a: Any) -> Any:
    return torch.from_numpy(np.ascontiguousarray(a))


def cpu_parallel_map_row_chunks(x: Any, rows: int, fn: Any, *consts: Any):
    """``map_row_chunks`` for CPU tensors: NumPy's threaded row blocks over views of ``x``
    and the constants (``fn`` works in its block's namespace), results as tensors."""
    views = None if _compiling() or not isinstance(x, torch.Tensor) else _views((x, *consts))
    if views is None or x.dtype not in (torch.float32, torch.float64):
        return generic.map_row_chunks(x, rows, fn, *consts)
    per_row, totals = _numpy_backend.parallel_map_row_chunks(views[0], rows, fn, *views[1:])
    return tuple(_as_tensor(a) for a in per_row), tuple(_as_tensor(np.asarray(t)) for t in totals)


def cpu_call_on_views(fn: Any, *arrays: Any) -> Any:
    """``fn`` on NumPy views of CPU tensors (NumPy's kernels on the same memory), its
    outputs as tensors; ``fn(*arrays)`` itself when a view cannot be had."""
    views = None if _compiling() else _views(arrays)
    if views is None or not all(isinstance(a, np.ndarray) for a in views):
        return fn(*arrays)
    out = fn(*views)
    return tuple(_as_tensor(np.asarray(a)) for a in out) if isinstance(out, tuple) else _as_tensor(np.asarray(out))


def cpu_nearest_of_product(a: Any, b: Any, offset: Any = None) -> Any:
    """NumPy's column-wise nearest index of ``a @ b + offset`` on views of CPU tensors."""
    views = None if _compiling() else _views((a, b, offset))
    if views is None or a.dtype not in (torch.float32, torch.float64):
        scores = a @ b if offset is None else a @ b + offset
        return generic.nearest_index(scores)
    return _as_tensor(_numpy_backend.nearest_of_product(*views))


def segment_sums(values: Any, ids: Any, k: int) -> tuple[Any, Any]:
    if values.device.type == "cpu" and values.dtype in (torch.float32, torch.float64) and not _compiling():
        views = _views((values, ids))
        if views is not None:
            sums, counts = _numpy_backend.segment_sums(views[0], views[1], k)
            return _as_tensor(sums), _as_tensor(counts)
    # index_add_ for both: torch.bincount sizes its output from max(ids), a host sync on CUDA.
    sums = torch.zeros((k, values.shape[1]), dtype=values.dtype, device=values.device)
    sums.index_add_(0, ids, values)
    counts = torch.zeros((k,), dtype=torch.int64, device=values.device)
    counts.index_add_(0, ids, torch.ones_like(ids, dtype=torch.int64))
    return sums, counts


def bincount(ids: Any, k: int) -> Any:
    """Occurrences of each of ``0 .. k-1``: NumPy's bincount on a CPU tensor's memory,
    ``index_add_`` elsewhere (``torch.bincount`` sizes its output from ``max(ids)``, a host
    sync on CUDA)."""
    if ids.device.type == "cpu" and not _compiling():
        views = _views((ids,))
        if views is not None:
            return _as_tensor(_numpy_backend.bincount(views[0], k))
    counts = torch.zeros((k,), dtype=torch.int64, device=ids.device)
    return counts.index_add_(0, ids, torch.ones_like(ids, dtype=torch.int64))


def all_finite(a: Any) -> Any:
    """From the largest and smallest entries (NaN propagates through both): two vectorised
    reductions, where ``torch.isfinite`` on CPU is an elementwise pass 40x slower."""
    if not a.dtype.is_floating_point or a.numel() == 0:
        return torch.all(torch.isfinite(a))
    return torch.isfinite(a.amax()) & torch.isfinite(a.amin())


def max_magnitude(a: Any) -> Any:
    """``generic.max_magnitude`` from the largest and smallest entries (NaN propagates
    through both), without ``abs``'s array-sized temporary."""
    if not isinstance(a, torch.Tensor) or a.layout != torch.strided or not a.dtype.is_floating_point or a.numel() == 0:
        return generic.max_magnitude(a)
    return torch.maximum(a.amax(), -a.amin())


def product_epsilon(x: Any) -> float:
    """CUDA float32 products may run in TF32 (``allow_tf32``) or bfloat16 passes
    (``set_float32_matmul_precision``): the coarser eps of what is allowed."""
    if x.device.type != "cuda" or x.dtype != torch.float32:
        return 0.0
    precision = torch.get_float32_matmul_precision()
    if precision == "medium":
        return 2.0**-7
    if precision == "high" or torch.backends.cuda.matmul.allow_tf32:
        return 2.0**-10
    return 0.0


def cholesky(a: Any) -> Any:
    """The lower factor, NaN where the matrix is not positive definite (no host sync)."""
    factor, info = torch.linalg.cholesky_ex(a)
    return torch.where(info == 0, factor, torch.full_like(factor, float("nan")))


CAPABILITIES = _GENERIC.replace(
    name="torch", segment_sums=segment_sums, cholesky=cholesky, all_finite=all_finite, bincount=bincount,
    max_magnitude=max_magnitude,
    compaction=lambda x: None if _compiling() else "exact",  # a traced nonzero breaks the graph
    product_epsilon=product_epsilon,
    put_rows=_numpy_backend.put_rows,  # ``a[index] = values`` is PyTorch's in-place put too
)

#: Passes over CPU tensors: NumPy's threaded blocks, sized as NumPy's are.
CPU_CAPABILITIES = CAPABILITIES.replace(
    parallel_map_row_chunks=cpu_parallel_map_row_chunks,
    nearest_of_product=cpu_nearest_of_product,
    call_on_views=cpu_call_on_views,
    concurrent_blocks=_numpy_backend.thread_count,
    block_bytes=_numpy_backend.CAPABILITIES.block_bytes,
)


def _specialise(x: Any) -> Any:
    if isinstance(x, torch.Tensor) and x.device.type == "cpu" and not _compiling():
        return CPU_CAPABILITIES
    return CAPABILITIES


CAPABILITIES = CAPABILITIES.replace(specialise=_specialise)
CPU_CAPABILITIES = CPU_CAPABILITIES.replace(specialise=_specialise)


# -- sparse tensors (see xpcluster._backends.sparse) --------------------------------------------

from .sparse import CSRKernels, SparseRows, warn_large_integers  # noqa: E402


def _quiet_sparse(fn):
    """PyTorch warns once per process that its CSR support is in beta and that invariant
    checks are off: noise for a user who passed a sparse tensor, said here instead."""
    import functools
    import warnings

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*[Ss]parse.*", category=UserWarning)
            return fn(*args, **kwargs)

    return wrapped


class TorchKernels(CSRKernels):
    """PyTorch's CSR product (``torch.sparse_csr_tensor @ dense``, CPU and CUDA) and
    ``index_add_`` scatters: no host synchronisation in the assignment passes."""

    name = "torch.sparse"

    @_quiet_sparse
    def product(self, rows: SparseRows, m: Any) -> Any:
        indices, data = rows._entries()
        dtype = torch.promote_types(data.dtype, m.dtype)
        local = torch.sparse_csr_tensor(rows.indptr - int(rows._host_indptr[rows.start]), indices,
                                        data.to(dtype), size=rows.shape)
        if rows.shape[0] == 0 or m.shape[1] == 0:
            return torch.zeros((rows.shape[0], m.shape[1]), dtype=dtype, device=m.device)
        return local @ m.to(dtype)

    def scatter_add(self, index: Any, values: Any, size: int, like: Any) -> Any:
        if values is None:
            values = torch.ones(index.shape, dtype=torch.int64, device=index.device)
        out = torch.zeros((size,), dtype=values.dtype, device=values.device)
        return out.index_add_(0, index.to(torch.int64), values)

    def repeat(self, values: Any, counts: Any, total: int) -> Any:
        return torch.repeat_interleave(values, counts, output_size=total)

    @_quiet_sparse
    def native(self, rows: SparseRows) -> Any:
        indices, data = rows._entries()
        return torch.sparse_csr_tensor(rows.indptr - int(rows._host_indptr[rows.start]), indices, data,
                                       size=rows.shape)

    def to_host(self, a: Any) -> Any:
        return a.cpu().numpy()


TORCH_KERNELS = TorchKernels()


@_quiet_sparse
def _canonical_csr(X: Any, name: str) -> Any:
    if X.dense_dim() or X.sparse_dim() != 2 or X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D sparse tensor without batch or dense dimensions, "
                         f"got shape {tuple(X.shape)} with layout {X.layout}")
    # coalesce() sorts and adds duplicate entries, on a new tensor: X is never changed.
    return X.to_sparse_coo().coalesce().to_sparse_csr()


def torch_sparse_rows(X: Any, name: str = "X") -> SparseRows:
    """A PyTorch sparse tensor (COO, CSR, CSC, BSR, BSC) as canonical CSR rows on its device,
    in its compute dtype."""
    from .._core.dtypes import widest_float

    import array_api_compat

    if X.dtype.is_complex:
        raise ValueError("Complex data not supported")
    csr = _canonical_csr(X, name)
    values = csr.values()
    if values.dtype.is_floating_point:
        dtype = torch.float64 if values.dtype == torch.float64 else torch.float32
    else:
        xp = array_api_compat.array_namespace(values)
        dtype = widest_float(xp, values.device)
        if values.dtype in (torch.int64, torch.uint64) and values.numel():
            limit = 2**53 if dtype == torch.float64 else 2**24
            warn_large_integers(bool(torch.any(values.abs() > limit)), name, str(dtype).rsplit(".", 1)[-1])
    indices = csr.col_indices()
    indptr = csr.crow_indices().to(indices.dtype)
    return SparseRows(TORCH_KERNELS, indptr, indices, values.to(dtype).contiguous(), X.shape[1],
                      host_indptr=indptr.cpu().numpy())


def torch_to_scipy(X: Any) -> Any:
    """A PyTorch sparse tensor as a SciPy CSR matrix on the host (native dispatch off)."""
    from scipy import sparse

    csr = _canonical_csr(X, "X")
    return sparse.csr_matrix((csr.values().cpu().numpy(), csr.col_indices().cpu().numpy(),
                              csr.crow_indices().cpu().numpy()), shape=tuple(X.shape))
