"""Shared estimator plumbing: parameters, input validation in the caller's namespace, fitted checks.

Estimators keep scikit-learn's contract without importing scikit-learn: parameters are the
keyword arguments of ``__init__`` stored unchanged, validation happens in ``fit``, fitted
attributes end in ``_`` and live in the namespace and on the device of the data given to
``fit``.  When scikit-learn is installed it recognises them through ``__sklearn_tags__``.
"""
from __future__ import annotations

import inspect
import math
from typing import Any

import array_api_compat

from .._core.dtypes import compute_dtype
from .._dispatch import resolve


class NotFittedError(ValueError, AttributeError):
    """Raised when a method that needs a fitted estimator is called before ``fit``."""


class BaseEstimator:
    """``get_params``/``set_params``/``repr`` from the ``__init__`` signature."""

    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return sorted(
            p.name for p in signature.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        )

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        params = {}
        for name in self._param_names():
            value = getattr(self, name)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                params.update((f"{name}__{key}", v) for key, v in value.get_params().items())
            params[name] = value
        return params

    def set_params(self, **params: Any) -> "BaseEstimator":
        valid = self._param_names()
        nested: dict[str, dict[str, Any]] = {}
        for key, value in params.items():
            name, _, sub = key.partition("__")
            if name not in valid:
                raise ValueError(
                    f"invalid parameter {name!r} for estimator {type(self).__name__}; "
                    f"valid parameters are: {valid}"
                )
            if sub:
                nested.setdefault(name, {})[sub] = value
            else:
                setattr(self, name, value)
        for name, sub_params in nested.items():
            getattr(self, name).set_params(**sub_params)
        return self

    def __repr__(self) -> str:
        defaults = {
            p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()
        }
        shown = []
        for name in self._param_names():
            value = getattr(self, name)
            default = defaults.get(name, inspect.Parameter.empty)
            if default is inspect.Parameter.empty or not _same(value, default):
                shown.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    if array_api_compat.is_array_api_obj(a) or array_api_compat.is_array_api_obj(b):
        return False
    try:
        return bool(a == b) or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))
    except Exception:
        return False


def check_is_fitted(estimator: Any, attribute: str = "cluster_centers_") -> None:
    """Raise :class:`NotFittedError` unless ``fit`` has run."""
    if not hasattr(estimator, attribute):
        raise NotFittedError(
            f"This {type(estimator).__name__} instance is not fitted yet. Call 'fit' with "
            "appropriate arguments before using this estimator."
        )


def validate_data(
    estimator: Any,
    X: Any,
    *,
    reset: bool,
    like: Any = None,
    min_samples: int = 1,
) -> tuple[Any, Any, Any]:
    """Return ``(xp, device, X)`` with ``X`` a 2-D floating array in the caller's namespace.

    ``reset=True`` (in ``fit``) records ``n_features_in_``; ``reset=False`` (in ``predict``
    and the like) checks the feature count against it.  ``like`` (fitted centres) must share
    ``X``'s library and device.  Integer and boolean input becomes the default float;
    float32 stays float32.  Lists and tuples are converted as NumPy would.
    """
    xp, device, (X, *_) = resolve(X, like)
    if X.ndim != 2:
        raise ValueError(
            f"Expected 2D array, got {X.ndim}D array instead; reshape your data with "
            "X.reshape(-1, 1) for a single feature or X.reshape(1, -1) for a single sample"
        )
    n, d = X.shape
    if n is not None and n < min_samples:
        raise ValueError(
            f"Found array with {n} sample(s) (shape={tuple(X.shape)}) while a minimum of "
            f"{min_samples} is required by {type(estimator).__name__}."
        )
    if d == 0:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={tuple(X.shape)}) while a minimum of 1 is "
            f"required by {type(estimator).__name__}."
        )
    if not (xp.isdtype(X.dtype, "real floating") or xp.isdtype(X.dtype, "integral") or X.dtype == xp.bool):
        raise ValueError(f"{type(estimator).__name__} needs real numbers, got an array of dtype {X.dtype}")
    target = compute_dtype(X.dtype, xp, device)
    if X.dtype != target:
        X = xp.astype(X, target)
    if reset:
        estimator.n_features_in_ = d
    elif d != estimator.n_features_in_:
        raise ValueError(
            f"X has {d} features, but {type(estimator).__name__} is expecting "
            f"{estimator.n_features_in_} features as input."
        )
    return xp, device, X
