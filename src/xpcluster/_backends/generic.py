"""Standard-only fallbacks for libraries without a native module (e.g. array-api-strict)."""
from __future__ import annotations

from typing import Any

import array_api_compat


def segment_sums(values: Any, ids: Any, k: int) -> tuple[Any, Any]:
    """Per-id sums and counts through a one-hot matrix product.

    The one-hot block is ``(m, k)``; callers bound ``m`` by the memory budget, so this costs
    the same order of memory and work as the distance block of the assignment step.
    """
    xp = array_api_compat.array_namespace(values, ids)
    device = array_api_compat.device(values)
    classes = xp.arange(k, dtype=ids.dtype, device=device)
    one_hot = xp.astype(ids[:, None] == classes[None, :], values.dtype)
    return xp.matmul(xp.matrix_transpose(one_hot), values), xp.sum(one_hot, axis=0)
