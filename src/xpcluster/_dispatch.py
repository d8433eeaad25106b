"""Array API dispatch: the opt-in flag, its context manager, and input resolution.

With dispatch on, every public function runs in the namespace (and on the device) of its
array inputs.  With it off -- the default, as in SciPy -- inputs are coerced to NumPy and
NumPy comes back.
"""
from __future__ import annotations

import contextlib
import os
from contextvars import ContextVar
from typing import Any, Iterator

import array_api_compat
import numpy as np

__all__ = ["array_api_dispatch", "is_array_api_dispatch_enabled"]

#: Environment variables that turn native dispatch on ("1"/"true"/"yes"/"on").
FLAG_VARIABLES = ("XPCLUSTER_ARRAY_API", "SCIPY_ARRAY_API")

_override: ContextVar[bool | None] = ContextVar("xpcluster_array_api_dispatch", default=None)

_FLAG_HINT = (
    "set XPCLUSTER_ARRAY_API=1 (SciPy's SCIPY_ARRAY_API=1 works too) or wrap the call "
    "in `with xpcluster.array_api_dispatch():` to run natively in the input's own library"
)


def _env_flag_set() -> bool:
    return any(
        os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}
        for name in FLAG_VARIABLES
    )


def is_array_api_dispatch_enabled() -> bool:
    """Whether calls made now run natively in their inputs' array library.

    A surrounding :func:`array_api_dispatch` block decides; outside one, the environment
    variables ``XPCLUSTER_ARRAY_API`` or ``SCIPY_ARRAY_API`` (read at call time) do.
    """
    override = _override.get()
    return _env_flag_set() if override is None else override


@contextlib.contextmanager
def array_api_dispatch(enabled: bool = True) -> Iterator[None]:
    """Switch native Array API dispatch on (or off) for the calls inside a block.

    Examples
    --------
    >>> import numpy as np, xpcluster
    >>> from xpcluster.vq import whiten
    >>> with xpcluster.array_api_dispatch(False):
    ...     type(whiten([[1.0, 2.0], [3.0, 5.0]])).__name__
    'ndarray'
    """
    token = _override.set(bool(enabled))
    try:
        yield
    finally:
        _override.reset(token)


def _library_name(obj: Any) -> str:
    return type(obj).__module__.split(".")[0]


def resolve(*objs: Any, place_host: bool = True) -> tuple[Any, Any, list[Any]]:
    """Return ``(xp, device, arrays)`` for the inputs of one public call.

    The first input that is not ``None`` is the data: it decides the namespace and device.
    ``None`` entries are passed through.  Non-array inputs (lists, Python scalars) are
    converted into that namespace (NumPy when there are no arrays).  NumPy arrays among
    the other inputs (a codebook, ``init``, labels: small and on the host) are placed
    explicitly on the data's namespace and device (``place_host=False`` refuses them
    instead, for fitted state).  Arrays of two other libraries, or on two devices, raise a
    clear error rather than being moved silently.
    """
    present = [o for o in objs if o is not None]
    if not is_array_api_dispatch_enabled():
        return _resolve_numpy(objs)

    arrays = [o for o in present if _is_array(o)]
    if not arrays:
        return _resolve_numpy(objs)
    host: set[int] = set()
    if place_host and _is_array(present[0]) and not _is_numpy(present[0]):
        host = {id(a) for a in arrays[1:] if _is_numpy(a)}
        arrays = [a for a in arrays if id(a) not in host]
    from ._backends import prepare_namespaces

    prepare_namespaces(arrays)
    try:
        xp = array_api_compat.array_namespace(*arrays)
    except TypeError as exc:
        libraries = sorted({_library_name(a) for a in arrays})
        raise TypeError(
            f"inputs come from different array libraries ({', '.join(libraries)}); "
            "pass arrays of one library (a NumPy codebook, init or labels is accepted with "
            "data of any library; convert others explicitly, e.g. with xp.asarray)"
        ) from exc
    device = array_api_compat.device(arrays[0])
    for other in arrays[1:]:
        other_device = array_api_compat.device(other)
        if other_device != device:
            raise ValueError(
                f"inputs are on different devices ({device} and {other_device}); "
                "move them to one device first"
            )
    array_ids = {id(a) for a in arrays}
    data = arrays[0]
    converted = []
    for o in objs:
        if o is None or id(o) in array_ids:
            converted.append(o)
        elif id(o) in host:
            from ._backends import capabilities_for  # the data's capability layer places it

            converted.append(capabilities_for(xp).from_host(o, data))
        else:
            converted.append(xp.asarray(o, device=device))
    return xp, device, converted


def _is_array(o: Any) -> bool:
    return array_api_compat.is_array_api_obj(o) and not np.isscalar(o)


def _is_numpy(o: Any) -> bool:
    return isinstance(o, np.ndarray)


def _with_missing_as_nan(obj: Any) -> np.ndarray | None:
    """A data frame or series of numbers with nullable columns (pandas' ``Int64``,
    ``Float64``, ``boolean``) or missing values as float64, with NaN where ``pd.NA`` was, so
    missing values meet the usual "contains NaN" error instead of failing in a bare
    ``float()`` (and complete nullable columns are numbers, not objects).  None for
    anything else (converted as NumPy converts it)."""
    to_numpy = getattr(obj, "to_numpy", None)
    dtypes = getattr(obj, "dtypes", None)
    if to_numpy is None or dtypes is None or not hasattr(obj, "isna"):
        return None
    dtypes = list(dtypes) if hasattr(dtypes, "__iter__") else [dtypes]
    if not all(getattr(t, "kind", "O") in "biuf" for t in dtypes):
        return None
    # NumPy-typed columns without missing values convert as NumPy converts them; nullable
    # (extension) columns would become an object array even when complete.
    if all(isinstance(t, np.dtype) for t in dtypes) and not bool(np.asarray(obj.isna()).any()):
        return None
    try:
        return np.asarray(to_numpy(dtype=np.float64, na_value=np.nan))
    except (TypeError, ValueError):
        return None


def _resolve_numpy(objs: tuple[Any, ...]) -> tuple[Any, Any, list[Any]]:
    xp = array_api_compat.array_namespace(np.empty(0))
    converted = [None if o is None else _to_numpy(o) for o in objs]
    return xp, "cpu", converted


def _to_numpy(obj: Any) -> np.ndarray:
    if isinstance(obj, np.ndarray):
        return np.asarray(obj)  # drops ndarray subclasses such as np.matrix
    missing = _with_missing_as_nan(obj)
    if missing is not None:
        return missing
    try:
        return np.asarray(obj)
    except Exception as exc:  # each library raises its own type here
        raise TypeError(
            f"cannot convert a {type(obj).__module__}.{type(obj).__qualname__} to NumPy "
            f"({exc}); {_FLAG_HINT}"
        ) from exc
