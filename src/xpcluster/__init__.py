"""xpcluster: the k-means family on any Array API library (NumPy, PyTorch, JAX, Dask, CuPy, array-api-strict)."""
from __future__ import annotations

from . import choose_k, metrics, vq
from ._core.chunks import memory_budget
from ._core.dtypes import PrecisionWarning
from ._dispatch import array_api_dispatch, is_array_api_dispatch_enabled

# The estimators load on first use (``xpcluster.KMeans``, ``from xpcluster import KMeans``):
# with scikit-learn installed they derive from its base classes, an import of about a second
# that ``xpcluster.vq`` users should not pay.
_CLUSTER_NAMES = ("BisectingKMeans", "KMeans", "KMedians", "KMedoids", "MiniBatchKMeans", "NotFittedError",
                  "SphericalKMeans", "k_means", "kmeans_plusplus")


def __getattr__(name: str):
    if name in _CLUSTER_NAMES:
        from . import cluster

        return getattr(cluster, name)
    raise AttributeError(f"module 'xpcluster' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_CLUSTER_NAMES))


__version__ = "0.1.0"

__all__ = [
    "BisectingKMeans",
    "KMeans",
    "KMedians",
    "KMedoids",
    "MiniBatchKMeans",
    "NotFittedError",
    "PrecisionWarning",
    "SphericalKMeans",
    "array_api_dispatch",
    "choose_k",
    "is_array_api_dispatch_enabled",
    "k_means",
    "kmeans_plusplus",
    "memory_budget",
    "metrics",
    "vq",
    "__version__",
]
