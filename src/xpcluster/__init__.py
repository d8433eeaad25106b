"""xpcluster: the k-means family on any Array API library (NumPy, PyTorch, array-api-strict, ...)."""
from __future__ import annotations

from . import vq
from ._core.chunks import memory_budget
from ._dispatch import array_api_dispatch, is_array_api_dispatch_enabled

__version__ = "0.1.0"

__all__ = ["vq", "array_api_dispatch", "is_array_api_dispatch_enabled", "memory_budget", "__version__"]
