"""CuPy capabilities: segment sums through ``cupyx.scatter_add`` (no host sync)."""
from __future__ import annotations

import os
from typing import Any

import cupy
import cupyx

from . import _GENERIC


def segment_sums(values: Any, ids: Any, k: int) -> tuple[Any, Any]:
    # scatter_add for both: cupy.bincount sizes its output from max(ids), a host sync.
    sums = cupy.zeros((k, values.shape[1]), dtype=values.dtype)
    cupyx.scatter_add(sums, ids, values)
    # float64 counts: CUDA has no signed 64-bit atomic add; integers are exact up to 2**53.
    counts = cupy.zeros((k,), dtype=cupy.float64)
    cupyx.scatter_add(counts, ids, cupy.ones(ids.shape, dtype=cupy.float64))
    return sums, counts


def _put_rows(a: Any, index: Any, values: Any) -> Any:
    a[index] = values
    return a


def _product_epsilon(x: Any) -> float:
    """CuPy runs float32 products in TF32 when CUPY_TF32=1."""
    return 2.0**-10 if x.dtype == cupy.float32 and os.environ.get("CUPY_TF32", "0") != "0" else 0.0


CAPABILITIES = _GENERIC.replace(
    name="cupy", segment_sums=segment_sums,
    put_rows=_put_rows,  # in place, as NumPy's (the bounded loop owns its arrays)
    product_epsilon=_product_epsilon,
)
