"""PyTorch capabilities: segment sums through ``index_add_`` (any device, no host sync)."""
from __future__ import annotations

from typing import Any

import torch

from . import _GENERIC


def segment_sums(values: Any, ids: Any, k: int) -> tuple[Any, Any]:
    # index_add_ for both: torch.bincount sizes its output from max(ids), a host sync on CUDA.
    sums = torch.zeros((k, values.shape[1]), dtype=values.dtype, device=values.device)
    sums.index_add_(0, ids, values)
    counts = torch.zeros((k,), dtype=torch.int64, device=values.device)
    counts.index_add_(0, ids, torch.ones_like(ids, dtype=torch.int64))
    return sums, counts


def cholesky(a: Any) -> Any:
    """The lower factor, NaN where the matrix is not positive definite (no host sync)."""
    factor, info = torch.linalg.cholesky_ex(a)
    return torch.where(info == 0, factor, torch.full_like(factor, float("nan")))


CAPABILITIES = _GENERIC.replace(name="torch", segment_sums=segment_sums, cholesky=cholesky)


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
