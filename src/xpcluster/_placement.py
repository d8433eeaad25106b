"""Placing host-side random draws (made with NumPy by :mod:`xpcluster._rng`) on the data's device."""
from __future__ import annotations

from typing import Any

import array_api_compat
import numpy as np

from ._core.dtypes import default_index_dtype, widest_float


def place_draw(host: np.ndarray, like: Any, xp: Any, caps: Any) -> Any:
    """A host draw on ``like``'s device: indices in the index dtype, floats in the widest."""
    device = array_api_compat.device(like)
    if host.dtype.kind in "iu":
        dtype = default_index_dtype(xp, device)
    else:
        dtype = widest_float(xp, device)
    return caps.to_device(host, like, dtype)
