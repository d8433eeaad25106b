"""Which float dtype a computation runs in: the one dtype decision of every entry point.

The policy (README, "Dtypes"):

* float64 and float32 compute as they are, whatever their byte order (a big-endian float64
  is a float64); results come back in that dtype, in native byte order.
* Integers and booleans compute in the widest float the device has: float64 (NumPy,
  PyTorch on CPU and CUDA, CuPy, Dask, array-api-strict, JAX with ``JAX_ENABLE_X64=1``),
  else float32 (JAX's default, x64 off; Apple MPS).  When the integers hold values that
  float cannot represent exactly (beyond 2**53 in float64, 2**24 in float32) a
  :class:`PrecisionWarning` says so.
* Half precision (float16, bfloat16, and smaller floats) computes in float32 -- distances,
  sums and norms never accumulate in fewer than 24 bits -- and results come back in
  float32.  Wider floats (NumPy's longdouble) compute in float64.
* Complex input is refused.
"""
from __future__ import annotations

import math
from typing import Any

import array_api_compat
import numpy as np

from .._checks import warn

__all__ = ["PrecisionWarning", "compute_dtype", "default_index_dtype", "to_compute_dtype", "widest_float"]


class PrecisionWarning(UserWarning):
    """Integer input holds values its compute float cannot represent exactly."""


def _is(xp: Any, dtype: Any, kind: Any) -> bool:
    try:
        return bool(xp.isdtype(dtype, kind))
    except TypeError:  # a dtype the namespace does not know (NumPy with ml_dtypes' bfloat16)
        return kind == "real floating" and "float" in str(getattr(dtype, "name", dtype))


def _float_bits(xp: Any, dtype: Any) -> int:
    try:
        return int(xp.finfo(dtype).bits)
    except (TypeError, ValueError):
        return 16  # only small extension floats (bfloat16, float8) lack a finfo here


def compute_dtype(dtype: Any, xp: Any, device: Any) -> Any:
    """The float dtype (native byte order) that input of ``dtype`` computes in."""
    if _is(xp, dtype, "complex floating"):
        raise ValueError(f"Unsupported dtype {dtype}: complex input is not supported")
    if _is(xp, dtype, "real floating"):
        bits = _float_bits(xp, dtype)
        if bits >= 64:
            return xp.float64 if bits == 64 else widest_float(xp, device)
        return xp.float32
    if _is(xp, dtype, "integral") or _is(xp, dtype, "bool"):
        return widest_float(xp, device)
    raise ValueError(f"Unsupported dtype {dtype}: expected real numbers")


def widest_float(xp: Any, device: Any) -> Any:
    """float64 where the device has it (host, CUDA), else float32 (JAX with x64 off, Apple MPS)."""
    return _namespace_fact(xp, device, "widest float", _widest_float)


def default_index_dtype(xp: Any, device: Any) -> Any:
    """The namespace's default index dtype on ``device``."""
    return _namespace_fact(xp, device, "index dtype", _index_dtype)


def _widest_float(xp: Any, device: Any) -> Any:
    available = xp.__array_namespace_info__().dtypes(device=device, kind="real floating")
    return xp.float64 if "float64" in available else xp.float32


def _index_dtype(xp: Any, device: Any) -> Any:
    return xp.__array_namespace_info__().default_dtypes(device=device)["indexing"]


#: Answers of the namespace's inspection API, per (namespace, device, JAX's x64 flag): each
#: query builds its dtype tables anew (~0.5 ms on JAX), and estimators ask it per split/batch.
_FACTS: dict[tuple[Any, ...], Any] = {}


def _namespace_fact(xp: Any, device: Any, what: str, find: Any) -> Any:
    try:
        key = (id(xp), xp.__name__, device, what, _x64_flag(xp))
        hash(key)
    except TypeError:  # an unhashable device: ask every time
        return find(xp, device)
    if key not in _FACTS:
        _FACTS[key] = find(xp, device)
    return _FACTS[key]


def _x64_flag(xp: Any) -> Any:
    """JAX's ``jax_enable_x64`` (which changes the dtypes JAX has at run time), else None."""
    if not getattr(xp, "__name__", "").startswith("jax"):
        return None
    import sys

    jax = sys.modules.get("jax")
    return None if jax is None else bool(jax.config.read("jax_enable_x64"))


def exact_integer_limit(xp: Any, dtype: Any) -> int:
    """The largest integer below which every integer is exact in float ``dtype`` (2**24, 2**53)."""
    return 2 ** (round(-math.log2(float(xp.finfo(dtype).eps))) + 1)


def to_compute_dtype(a: Any, xp: Any, checks: Any, *, dtype: Any = None, name: str = "input") -> Any:
    """``a`` in its compute dtype (or in ``dtype``), with a :class:`PrecisionWarning` check
    (delivered through ``checks``) when integers are too large to be exact in that float."""
    target = compute_dtype(a.dtype, xp, array_api_compat.device(a)) if dtype is None else dtype
    if a.dtype == target:
        return a
    if _is(xp, a.dtype, "integral") and not _is(xp, a.dtype, "bool"):
        limit = exact_integer_limit(xp, target)
        info = xp.iinfo(a.dtype)
        if info.max > limit or info.min < -limit:
            beyond = xp.any(a > limit)
            if info.min < -limit:
                beyond = beyond | xp.any(a < -limit)
            hint = ""
            if "float64" not in str(target):
                hint = " (float64 is not available on this device; with JAX, set JAX_ENABLE_X64=1)"
            checks.add(beyond, warn(
                f"{name} holds integers beyond +-2**{limit.bit_length() - 1}, which {_name(target)} cannot "
                f"represent exactly: they are rounded to the nearest {_name(target)}{hint}",
                PrecisionWarning, stacklevel=3,
            ))
    return xp.astype(a, target)


def dtype_name(dtype: Any) -> str:
    """'float32' for NumPy's, JAX's (a scalar type), PyTorch's and array-api-strict's."""
    try:
        return np.dtype(dtype).name
    except TypeError:
        return str(getattr(dtype, "name", dtype)).rsplit(".", 1)[-1]


_name = dtype_name
