"""Estimators with scikit-learn's contract, running natively on every Array API backend."""
from __future__ import annotations

from ._base import NotFittedError
from ._bisecting import BisectingKMeans, BisectingSplit
from ._kmedians import KMedians
from ._kmeans import ConvergenceWarning, KMeans, k_means, kmeans_plusplus
from ._minibatch import MiniBatchKMeans
from ._kmedoids import KMedoids
from ._spherical import SphericalKMeans

__all__ = ["BisectingKMeans", "BisectingSplit", "ConvergenceWarning", "KMeans", "MiniBatchKMeans", "KMedians", "KMedoids", "NotFittedError", "SphericalKMeans", "k_means", "kmeans_plusplus"]
