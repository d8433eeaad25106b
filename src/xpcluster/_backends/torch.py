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
