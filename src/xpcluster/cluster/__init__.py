"""Estimators with scikit-learn's contract, running natively on every Array API backend."""
from __future__ import annotations

from ._base import NotFittedError

__all__ = ["NotFittedError"]
