"""xpcluster: the k-means family on any Array API library (NumPy, PyTorch, JAX, Dask, CuPy, array-api-strict)."""
from __future__ import annotations

from . import choose_k, metrics, vq
from ._core.chunks import memory_budget
from ._core.dtypes import PrecisionWarning
from ._dispatch import array_api_dispatch, is_array_api_dispatch_enabled
from .cluster import BisectingKMeans, KMeans, KMedians, KMedoids, MiniBatchKMeans, NotFittedError

__version__ = "0.1.0"

__all__ = [
    "BisectingKMeans",
    "KMeans",
    "KMedians",
    "KMedoids",
    "MiniBatchKMeans",
    "NotFittedError",
    "PrecisionWarning",
    "array_api_dispatch",
    "choose_k",
    "is_array_api_dispatch_enabled",
    "memory_budget",
    "metrics",
    "vq",
    "__version__",
]
