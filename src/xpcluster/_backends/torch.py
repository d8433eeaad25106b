"""PyTorch capabilities: segment sums through ``index_add_`` and ``bincount`` (any device)."""
from __future__ import annotations

from typing import Any

import torch

from . import _GENERIC


def segment_sums(values: Any, ids: Any, k: int) -> tuple[Any, Any]:
    sums = torch.zeros((k, values.shape[1]), dtype=values.dtype, device=values.device)
    sums.index_add_(0, ids, values)
    return sums, torch.bincount(ids, minlength=k)


CAPABILITIES = _GENERIC.replace(name="torch", segment_sums=segment_sums)
