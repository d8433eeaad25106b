"""Shared estimator plumbing: parameters, input validation in the caller's namespace, fitted checks.

Estimators keep scikit-learn's contract: parameters are the keyword arguments of
``__init__`` stored unchanged, validation happens in ``fit``, fitted attributes end in ``_``
and live in the namespace and on the device of the data given to ``fit``.  When
scikit-learn is importable the estimators derive from its ``BaseEstimator``,
``ClusterMixin`` and ``TransformerMixin`` (and our warnings and errors from its types);
without it they stand on :class:`_StandaloneEstimator` and plain Python types.
"""
from __future__ import annotations

import functools
import inspect
import math
import numbers
import sys
from typing import Any

import array_api_compat
import numpy as np

from .._backends import capabilities_for
from .._backends.sparse import as_sparse_rows, is_sparse, is_sparse_input, stored_values
from .._checks import Checks, raise_error
from .._core.dtypes import to_compute_dtype
from .._dispatch import resolve

try:  # scikit-learn is optional: with it the estimators are its citizens, without it they stand alone
    import sklearn.base as _sklearn_base
    import sklearn.exceptions as _sklearn_exceptions
except ImportError:
    _sklearn_base = _sklearn_exceptions = None

#: The base of :class:`xpcluster.cluster.ConvergenceWarning`: scikit-learn's, so that
#: ``filterwarnings(category=sklearn.exceptions.ConvergenceWarning)`` catches ours too.
CONVERGENCE_WARNING_BASE: type = UserWarning if _sklearn_exceptions is None else _sklearn_exceptions.ConvergenceWarning


class NotFittedError(ValueError, AttributeError):
    """Raised when a method that needs a fitted estimator is called before ``fit``."""


class _StandaloneEstimator:
    """``get_params``/``set_params``/``repr`` from the ``__init__`` signature: what the
    estimators share when scikit-learn is not installed."""

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


class _ClusterFeatureNames:
    """``get_feature_names_out``: the names of ``transform``'s columns, one per cluster."""

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names of the :meth:`transform` outputs: ``"<classname>0"``, ``"<classname>1"``, ...

        ``input_features``, when given, must name the features seen in ``fit`` (as
        scikit-learn checks); the names out do not depend on it."""
        check_is_fitted(self, "labels_")
        if input_features is not None:
            given = list(input_features)
            if len(given) != self.n_features_in_:
                raise ValueError(f"input_features should have length equal to number of features "
                                 f"({self.n_features_in_}), got {len(given)}")
            seen = getattr(self, "feature_names_in_", None)
            if seen is not None and given != list(seen):
                raise ValueError("input_features is not equal to feature_names_in_")
        fitted = getattr(self, "medoid_indices_", None)
        n = (self.cluster_centers_ if fitted is None else fitted).shape[0]
        prefix = type(self).__name__.lower()
        return np.asarray([f"{prefix}{i}" for i in range(n)], dtype=object)


if _sklearn_base is None:

    class BaseEstimator(_ClusterFeatureNames, _StandaloneEstimator):
        """The estimators' base without scikit-learn: :class:`_StandaloneEstimator`."""

else:

    class BaseEstimator(_ClusterFeatureNames, _sklearn_base.ClusterMixin, _sklearn_base.TransformerMixin,
                        _sklearn_base.BaseEstimator):
        """scikit-learn's ``BaseEstimator`` with ``ClusterMixin`` and ``TransformerMixin``:
        ``get_params``/``set_params``, ``clone``, the notebook HTML repr and ``set_output``
        (``transform`` and ``fit_transform`` honour it for NumPy results) work as for
        scikit-learn's own estimators."""


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    if array_api_compat.is_array_api_obj(a) or array_api_compat.is_array_api_obj(b):
        return False
    try:
        return bool(a == b) or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))
    except Exception:
        return False


class InvalidParameterError(ValueError, TypeError):
    """A parameter of the wrong type or outside its range, raised by ``fit`` (scikit-learn's
    ``InvalidParameterError``: both a ``ValueError`` and a ``TypeError``)."""


def _invalid_parameter_error_type() -> type:
    """:class:`InvalidParameterError`, also scikit-learn's when scikit-learn is loaded (so
    its ``except`` clauses catch it); never imports scikit-learn itself."""
    validation = sys.modules.get("sklearn.utils._param_validation")
    sklearn_error = getattr(validation, "InvalidParameterError", None)
    if sklearn_error is None:
        return InvalidParameterError
    return _with_sklearn_parameter_error(sklearn_error)


@functools.cache
def _with_sklearn_parameter_error(sklearn_error: type) -> type:
    return type("InvalidParameterError", (InvalidParameterError, sklearn_error), {"__module__": __name__})


def invalid_parameter(message: str) -> Exception:
    """The error for a parameter that ``fit`` refuses (see :class:`InvalidParameterError`)."""
    return _invalid_parameter_error_type()(message)


def check_is_fitted(estimator: Any, attribute: str = "cluster_centers_") -> None:
    """Raise :class:`NotFittedError` unless ``fit`` has run."""
    if not hasattr(estimator, attribute):
        raise _not_fitted_error_type()(
            f"This {type(estimator).__name__} instance is not fitted yet. Call 'fit' with "
            "appropriate arguments before using this estimator."
        )


def _not_fitted_error_type() -> type:
    """:class:`NotFittedError`, also a ``sklearn.exceptions.NotFittedError`` when scikit-learn
    is loaded (so ``except`` clauses and checks written for scikit-learn catch it); never
    imports scikit-learn itself."""
    sklearn_exceptions = sys.modules.get("sklearn.exceptions")
    if sklearn_exceptions is None:
        return NotFittedError
    return _with_sklearn_error(sklearn_exceptions.NotFittedError)


@functools.cache
def _with_sklearn_error(sklearn_error: type) -> type:
    return type("NotFittedError", (NotFittedError, sklearn_error), {"__module__": __name__})


def validate_data(
    estimator: Any,
    X: Any,
    *,
    reset: bool,
    like: Any = None,
    min_samples: int = 1,
    checks: Any = None,
) -> tuple[Any, Any, Any]:
    """Return ``(xp, device, X)`` with ``X`` a 2-D floating array in the caller's namespace.

    ``reset=True`` (in ``fit``) records ``n_features_in_``; ``reset=False`` (in ``predict``
    and the like) checks the feature count against it.  ``like`` (fitted centres) must share
    ``X``'s library and device.  ``X`` comes back in its compute dtype
    (:func:`xpcluster._core.dtypes.compute_dtype`): float32 and float64 as they are, in
    native byte order; integers and booleans in the widest float of the device; half
    precision in float32.  Integers beyond that float's exact range give a
    ``PrecisionWarning`` through ``checks`` (a :class:`xpcluster._checks.Checks` whose
    pending checks the caller attaches to its outputs).  With ``checks=None`` (``fit``) the
    check is attached to the returned ``X`` itself: eagerly it reports at once, on Dask
    when ``X`` is first computed (``fit`` persists it at once: no extra pass over the data).
    Lists and tuples are converted as NumPy would.  Sparse ``X`` (SciPy's sparse matrices
    and arrays in any format, PyTorch sparse tensors, JAX's BCOO, Dask arrays of SciPy
    blocks) comes back as :class:`xpcluster._backends.sparse.SparseRows` for estimators
    whose class sets ``_accepts_sparse``; others refuse it (``TypeError``).
    """
    if is_sparse_input(X):
        if not getattr(estimator, "_accepts_sparse", False):
            raise TypeError(
                f"{type(estimator).__name__} does not accept sparse input (got a {type(X).__name__}); "
                "convert it to a dense array first, e.g. with X.toarray()"
            )
        xp, device, X = _sparse_data(estimator, X, like)
        names = None
    else:
        xp, device, X, names = _dense_data(estimator, X, like)
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
    if is_sparse(X):
        pass  # already in its compute dtype (as_sparse_rows)
    elif checks is None:
        own = Checks(capabilities_for(xp))
        (X,) = own.attach(to_compute_dtype(X, xp, own, name="X"))
    else:
        X = to_compute_dtype(X, xp, checks, name="X")
    if reset:
        estimator.n_features_in_ = d
        if names is not None:
            estimator.feature_names_in_ = names
        elif hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
    else:
        _check_feature_names(estimator, names)
        if d != estimator.n_features_in_:
            raise ValueError(
                f"X has {d} features, but {type(estimator).__name__} is expecting "
                f"{estimator.n_features_in_} features as input."
            )
    return xp, device, X


def _sparse_data(estimator: Any, X: Any, like: Any) -> tuple[Any, Any, Any]:
    """Sparse ``X`` as :class:`xpcluster._backends.sparse.SparseRows` (canonical CSR, its
    compute dtype, a copy: ``X`` is never changed), checked against fitted ``like``."""
    from .._dispatch import is_array_api_dispatch_enabled

    try:
        X = as_sparse_rows(X, native_dispatch=is_array_api_dispatch_enabled())
    except ValueError as exc:
        raise ValueError(f"{type(estimator).__name__}: {exc}") from None
    if like is not None:
        if array_api_compat.array_namespace(like) is not X.xp:
            raise TypeError(f"{type(estimator).__name__} was fitted on arrays of another library than X's "
                            f"(sparse rows of {X.xp.__name__} arrays)")
        if X.device is not None and array_api_compat.device(like) != X.device:
            raise ValueError(f"X is on device {X.device}, the fitted {type(estimator).__name__} on "
                             f"{array_api_compat.device(like)}; move X to that device first")
    return X.xp, X.device, X


def _dense_data(estimator: Any, X: Any, like: Any) -> tuple[Any, Any, Any, Any]:
    names = _feature_names(X)
    if like is not None and _is_placeholder(X):
        # Inside a trace (jax.jit) the data has no device yet: only the library must match.
        xp, device, (X,) = resolve(X)
        if array_api_compat.array_namespace(like) is not xp:
            raise TypeError(f"{type(estimator).__name__} was fitted on arrays of another library than X's")
    else:
        xp, device, (X, *_) = resolve(X, like, place_host=False)
    if getattr(X.dtype, "kind", None) == "O":
        # NumPy object arrays (e.g. from mixed-type data frames): numbers become float64;
        # anything else fails here with NumPy's TypeError, as in scikit-learn.
        X = xp.astype(X, xp.float64)
    if xp.isdtype(X.dtype, "complex floating"):
        raise ValueError(f"Complex data not supported; {type(estimator).__name__} needs real numbers")
    if X.ndim != 2:
        raise ValueError(
            f"Expected 2D array, got {X.ndim}D array instead. Reshape your data with "
            "X.reshape(-1, 1) for a single feature or X.reshape(1, -1) for a single sample"
        )
    if not (xp.isdtype(X.dtype, "real floating") or xp.isdtype(X.dtype, "integral") or X.dtype == xp.bool):
        raise ValueError(f"{type(estimator).__name__} needs real numbers, got an array of dtype {X.dtype}")
    return xp, device, X, names


def _is_placeholder(X: Any) -> bool:
    """An array of a trace, which has no device (``device(X)`` is None)."""
    return array_api_compat.is_array_api_obj(X) and array_api_compat.device(X) is None


def _feature_names(X: Any) -> Any:
    """Column names of a data frame (pandas, polars, ...) when they are all strings, else None."""
    if array_api_compat.is_array_api_obj(X) or not hasattr(X, "columns"):
        return None
    try:
        names = list(X.columns)
    except TypeError:
        return None
    if not names:
        return None
    types = sorted({type(name).__qualname__ for name in names})
    if len(types) > 1 and "str" in types:
        raise TypeError(
            "Feature names are only supported if all input features have string names, but your "
            f"input has {types} as feature name / column name types. Convert them all to strings "
            "(e.g. X.columns = X.columns.astype(str)) or to a non-string type."
        )
    if types != ["str"]:
        return None
    import numpy as np  # feature names are host metadata, as in scikit-learn

    return np.asarray(names, dtype=object)


def _check_feature_names(estimator: Any, names: Any) -> None:
    """scikit-learn's rules for column names seen at ``fit`` and at prediction time."""
    import warnings

    fitted = getattr(estimator, "feature_names_in_", None)
    name = type(estimator).__name__
    if fitted is None and names is None:
        return
    if fitted is None:
        warnings.warn(f"X has feature names, but {name} was fitted without feature names", UserWarning, stacklevel=4)
        return
    if names is None:
        warnings.warn(
            f"X does not have valid feature names, but {name} was fitted with feature names", UserWarning, stacklevel=4
        )
        return
    if list(fitted) == list(names):
        return
    unexpected = sorted(set(names) - set(fitted))
    missing = sorted(set(fitted) - set(names))
    message = "The feature names should match those that were passed during fit.\n"
    if unexpected:
        message += "Feature names unseen at fit time:\n" + "".join(f"- {n}\n" for n in unexpected[:5])
    if missing:
        message += "Feature names seen at fit time, yet now missing:\n" + "".join(f"- {n}\n" for n in missing[:5])
    if not unexpected and not missing:
        message += "Feature names must be in the same order as they were in fit.\n"
    raise ValueError(message)


def refuse_non_finite(X: Any, *, xp: Any, caps: Any, name: str = "X") -> None:
    """Raise ``ValueError`` now if ``X`` holds NaN or infinity.

    This reads a value (a compute on Dask): for ``fit``, which needs values anyway.  Calls
    that must stay lazy or traceable add :func:`non_finite_flag` to their ``Checks``.
    Of sparse ``X`` the stored entries are checked.
    """
    X = stored_values(X)
    if caps.read_bool(caps.all_finite(X)):
        return
    if caps.read_bool(xp.any(xp.isnan(X))):
        raise ValueError(f"Input {name} contains NaN.")
    raise ValueError(f"Input {name} contains infinity or a value too large for dtype({X.dtype}).")


def non_finite_flag(X: Any, *, xp: Any, name: str = "X") -> tuple[Any, Any]:
    """``(flag, action)`` for ``Checks.add``: raise ``ValueError`` when ``X`` is not finite."""
    X = stored_values(X)
    return ~xp.all(xp.isfinite(X)), raise_error(ValueError(f"Input {name} contains NaN or infinity."))


def check_sample_weight(sample_weight: Any, X: Any, *, xp: Any, caps: Any, checks: Any = None) -> Any:
    """``sample_weight`` as an (n,) array like ``X`` (namespace, device, dtype), or None.

    A number weighs every row alike; arrays of another library (or lists) are copied to
    ``X``'s device.  Any real dtype is converted to ``X``'s (native byte order; integers
    beyond its exact range give a ``PrecisionWarning`` through ``checks``).  Weights must
    be finite, non-negative and not all zero (values read now: for ``fit``).
    """
    if sample_weight is None:
        return None
    n = X.shape[0]
    if isinstance(sample_weight, bool | np.bool_):
        raise TypeError(f"sample_weight must be a number or an array of numbers, got a bool ({sample_weight!r})")
    if isinstance(sample_weight, numbers.Real):
        weights = xp.full_like(X[:, 0], float(sample_weight))
    elif array_api_compat.is_array_api_obj(sample_weight) and array_api_compat.array_namespace(sample_weight) is xp:
        if array_api_compat.device(sample_weight) != array_api_compat.device(X):
            raise ValueError("sample_weight is on another device than X; move it to X's device first")
        weights = sample_weight
        if not (xp.isdtype(weights.dtype, "real floating") or xp.isdtype(weights.dtype, "integral")
                or weights.dtype == xp.bool):
            raise ValueError(f"sample_weight must hold real numbers, got dtype {weights.dtype}")
    else:
        host = np.asarray(sample_weight)  # a host container (list, another library's CPU array): copied once
        if host.dtype.kind not in "biuf":
            raise ValueError(f"sample_weight must hold real numbers, got dtype {host.dtype}")
        if not host.dtype.isnative:
            host = host.astype(host.dtype.newbyteorder("="))  # the same values, in native byte order
        weights = caps.from_host(host, X)
    if weights.ndim != 1:
        raise ValueError("Sample weights must be 1D array or scalar")
    if weights.shape[0] != n:
        raise ValueError(f"sample_weight.shape == {tuple(weights.shape)}, expected {(n,)}!")
    weights = to_compute_dtype(weights, xp, Checks(caps, now=True) if checks is None else checks,
                               dtype=X.dtype, name="sample_weight")
    if not caps.read_bool(caps.all_finite(weights)):
        raise ValueError("Input sample_weight contains NaN or infinity.")
    if not caps.read_bool(xp.all(weights >= 0)):
        raise ValueError("sample_weight must be non-negative")
    if not caps.read_bool(xp.any(weights > 0)):
        raise ValueError("sample_weight must not be all zero")
    return weights


# -- parameter checks (the messages follow scikit-learn's parameter validation) -------------


def check_int(estimator: Any, name: str, value: Any, low: int) -> int:
    """``value`` as an int; :class:`InvalidParameterError` unless it is an integer >= ``low``.

    Bools (``True`` is an ``int`` to Python) and integral floats (``2.0``) are refused:
    a count given as either is a mistake, not a number to round."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral) or value < low:
        raise invalid_parameter(
            f"The '{name}' parameter of {type(estimator).__name__} must be an int in the range "
            f"[{low}, inf). Got {value!r} instead."
        )
    return int(value)


def check_real(estimator: Any, name: str, value: Any, low: float, *, finite: bool = True) -> float:
    """``value`` as a float; :class:`InvalidParameterError` unless it is a real number (not a
    bool) >= ``low``, not NaN, and finite unless ``finite=False``."""
    if (
        isinstance(value, bool | np.bool_)
        or not isinstance(value, numbers.Real)
        or not (value >= low)
        or (finite and math.isinf(value))
    ):
        kind = "a finite float" if finite else "a float"
        raise invalid_parameter(
            f"The '{name}' parameter of {type(estimator).__name__} must be {kind} in the "
            f"range [{low}, inf). Got {value!r} instead."
        )
    return float(value)


def check_bool(estimator: Any, name: str, value: Any) -> bool:
    """``value`` as a bool; :class:`InvalidParameterError` unless it is one (as scikit-learn:
    ``1`` or ``"yes"`` for a flag is refused, not read as true)."""
    if not isinstance(value, bool | np.bool_):
        raise invalid_parameter(
            f"The '{name}' parameter of {type(estimator).__name__} must be an instance of 'bool'. "
            f"Got {value!r} instead."
        )
    return bool(value)


def check_verbose(estimator: Any, value: Any) -> int:
    """``verbose``: an int >= 0 or a bool, as scikit-learn accepts it."""
    if isinstance(value, bool | np.bool_):
        return int(value)
    if not isinstance(value, numbers.Integral) or value < 0:
        raise invalid_parameter(
            f"The 'verbose' parameter of {type(estimator).__name__} must be an int in the range "
            f"[0, inf) or a bool. Got {value!r} instead."
        )
    return int(value)


def check_n_init(estimator: Any, init_kind: str) -> int:
    """``estimator.n_init`` resolved: 'auto' is 10 for ``init_kind == 'random'``, else 1."""
    if isinstance(estimator.n_init, str) and estimator.n_init == "auto":
        return 10 if init_kind == "random" else 1
    if isinstance(estimator.n_init, str):
        raise invalid_parameter(
            f"The 'n_init' parameter of {type(estimator).__name__} must be 'auto' or an int in the "
            f"range [1, inf). Got {estimator.n_init!r} instead."
        )
    return check_int(estimator, "n_init", estimator.n_init, 1)


def refuse_traced(estimator: Any, X: Any, caps: Any) -> None:
    """``TypeError`` when ``fit`` (which reads values to stop) is called inside ``jax.jit``."""
    if caps.is_traced(X):
        raise TypeError(
            f"{type(estimator).__name__}.fit cannot run inside jax.jit (it decides when to stop from "
            "values); fit eagerly and use predict/transform/score inside jax.jit"
        )


# -- what fitted estimators share ------------------------------------------------------------


def fitted_input(estimator: Any, X: Any, *, targets: str = "cluster_centers_") -> tuple[Any, Any, Any, Any, Any]:
    """``(xp, caps, checks, X, centres)`` for the methods of a fitted estimator.

    ``X`` is validated against the fitted ``targets`` attribute (library, device, features)
    and converted to its compute dtype; ``X`` and the centres come back in the wider of
    that dtype and the centres' (as scikit-learn computes distances).  ``checks`` (a
    :class:`xpcluster._checks.Checks` that does not read values) already holds the
    refusal of NaN or infinity in ``X`` and the ``PrecisionWarning`` of huge integers:
    eagerly they report at once, before anything is computed; under ``jax.jit`` when the
    program runs; on Dask they must be attached to the outputs (``checks.attach``), which
    keeps the method lazy.  Call this from the public method itself, so that feature-name
    warnings point at the caller's code."""
    check_is_fitted(estimator, targets)
    centres = getattr(estimator, targets)
    caps = capabilities_for(array_api_compat.array_namespace(centres))
    checks = Checks(caps)
    xp, _, X = validate_data(estimator, X, reset=False, like=centres, checks=checks)
    checks.add(*non_finite_flag(X, xp=xp))
    if xp.isdtype(centres.dtype, "real floating"):
        dtype = xp.result_type(X.dtype, centres.dtype)
        X = X.astype(dtype) if is_sparse(X) else xp.astype(X, dtype, copy=False)
        centres = xp.astype(centres, dtype, copy=False)
    return xp, caps, checks, X, centres


def scaled_distances(core: Any, static: tuple[str, ...], fitted: tuple[Any, ...]) -> Any:
    """``transform``'s distances: ``core(X, centres)`` compiled with ``static``, run on
    ``fitted_input``'s ``fitted`` arrays scaled into the dtype's safe range and mapped back
    (a distance beyond the dtype raises), with the call's checks attached."""
    from .._core.chunks import memory_budget_bytes
    from .._core.scale import range_scale, scaled, unscaled_checked

    xp, caps, checks, X, centres = fitted
    s = range_scale(X, centres, xp=xp, caps=caps)
    distances = caps.compiled(core, static)(scaled(X, s), scaled(centres, s), xp=xp, caps=caps, budget=memory_budget_bytes())
    distances = unscaled_checked(distances, s, 1, xp=xp, checks=checks, what="a distance")
    (distances,) = checks.attach(distances)
    return distances


def clusterer_tags(*, pairwise: bool = False, sparse: bool = False) -> Any:
    """scikit-learn's ``Tags`` of a clusterer that transforms 2-D input (dense, and sparse
    with ``sparse``), keeps float32 and float64, and refuses NaN.  Imports scikit-learn: xpcluster does not need
    it, and scikit-learn's tools ask for tags only when it is installed."""
    from sklearn.utils import InputTags, Tags, TargetTags, TransformerTags

    return Tags(
        estimator_type="clusterer",
        target_tags=TargetTags(required=False),
        transformer_tags=TransformerTags(preserves_dtype=["float64", "float32"]),
        input_tags=InputTags(two_d_array=True, sparse=sparse, allow_nan=False, pairwise=pairwise),
    )
