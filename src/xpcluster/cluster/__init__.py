"""Estimators with scikit-learn's contract, running natively on every Array API backend."""
from __future__ import annotations

from ._base import NotFittedError
from ._kmeans import ConvergenceWarning, KMeans
from ._minibatch import MiniBatchKMeans
from ._kmedoids import KMedoids

__all__ = ["ConvergenceWarning", "KMeans", "MiniBatchKMeans", "KMedoids", "NotFittedError"]
