"""Scaling data into a safe range by a power of two, so distances neither overflow nor underflow.

Squared distances, their expansion ``|x|^2 - 2 x.c + |c|^2``, segment sums and variances
square or add the data's values: in float32 data near 1e30 (or the float32 maximum) they
overflow to inf, data near 1e-30 underflows to 0, and the labels come out wrong.  Every
entry point therefore scales its data by a power of two ``s`` chosen from the largest
magnitude when that magnitude lies outside the dtype's safe range, computes on ``s * x``
and maps what carries the data's unit back (centroids and distances divided by ``s``,
inertia by ``s**2``).  Multiplying by a power of two is exact, and every operation of the
algorithms commutes with it, so the results are those the unscaled computation would give
with unlimited exponent range; data inside the safe range is not touched at all (``s`` is
the Python float 1.0, and nothing is multiplied).

Eagerly the range is read at once (one reduction over the data and a host read of one
flag).  Inside ``jax.jit`` or on Dask ``s`` is a 0-d array that is 1 for data inside the
range, and the data is always multiplied by it.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._checks import raise_error
from .dtypes import dtype_name

__all__ = ["UNIT", "is_unit", "range_scale", "scaled", "unscaled", "unscaled_checked", "safe_range"]

#: The scale of data already inside the safe range: nothing is multiplied.
UNIT = 1.0

def is_unit(s: Any) -> bool:
    return isinstance(s, float) and s == 1.0

def safe_range(xp: Any, dtype: Any) -> tuple[float, float]:
    """``(low, high)`` magnitudes between which no scaling is needed in ``dtype``.

    High: squared distances over up to 2**24 features, and sums of squares over up to
    2**40 values, stay below the maximum.  Low: the square of a difference as small as
    the data's own rounding step (magnitude times epsilon) stays a normal number (JAX on
    CPU flushes subnormal numbers to zero).
    """
    info = xp.finfo(dtype)
    max_exponent = math.log2(float(info.max))
    min_exponent = math.log2(float(info.smallest_normal))
    mantissa = -math.log2(float(info.eps)) + 1
    return 2.0 ** math.floor(min_exponent / 2 + mantissa), 2.0 ** math.floor(max_exponent / 2 - mantissa)

def range_scale(*arrays: Any, xp: Any, caps: Any, now: bool = False) -> Any:
    """A power of two ``s`` such that ``s * a`` lies in the safe range for every array given
    (all of one float dtype), or :data:`UNIT` when they already do.

    Non-finite values (refused elsewhere, or let through with ``check_finite=False``) and
    all-zero data need no scaling.  Eagerly this reads one flag; under a trace or on a lazy
    backend the result is a 0-d array (1 inside the range).  ``now=True`` (for calls that
    read values anyway, such as ``fit``) reads the flag on lazy backends too.
    """
    arrays = tuple(a for a in arrays if a is not None)
    # One compiled program (jax.jit on JAX): no Python constant is transferred eagerly.
    inside, s = caps.compiled(_scale_core, ("xp", "caps"))(*arrays, xp=xp, caps=caps)
    if (now or not caps.defers_checks) and not caps.is_traced(inside) and caps.read_bool(inside):
        return UNIT
    return s

def _scale_core(*arrays: Any, xp: Any, caps: Any) -> tuple[Any, Any]:
    dtype = arrays[0].dtype
    magnitude = caps.max_magnitude(arrays[0])
    for other in arrays[1:]:
        magnitude = xp.maximum(magnitude, xp.astype(caps.max_magnitude(other), dtype))
    low, high = safe_range(xp, dtype)
    usable = xp.isfinite(magnitude) & (magnitude > 0)
    inside = ((magnitude >= low) & (magnitude <= high)) | ~usable
    info = xp.finfo(dtype)
    # s = 2**-e with magnitude in [2**e, 2**(e + 1)), kept a normal number either way round
    # (JAX flushes subnormal numbers to zero): s * magnitude lies in [0.5, 4).
    limit = math.floor(math.log2(float(info.smallest_normal)))
    one = xp.ones_like(magnitude)
    exponent = xp.floor(xp.log2(xp.where(usable, magnitude, one)))
    exponent = xp.clip(exponent, min=float(limit), max=float(-limit))
    s = xp.pow(2 * one, -exponent)
    return inside, xp.where(inside, one, s)

def scaled(a: Any, s: Any) -> Any:
    """``s * a`` (``a`` itself for :data:`UNIT`)."""
    return a if is_unit(s) else a * s

def unscaled(a: Any, s: Any, power: int = 1) -> Any:
    """``a / s**power`` for a quantity of the data's unit to that power (divided ``power``
    times: ``s**2`` itself may not be representable)."""
    if is_unit(s):
        return a
    for _ in range(power):
        a = a / s
    return a

def unscaled_checked(a: Any, s: Any, power: int, *, xp: Any, checks: Any, what: str) -> Any:
    """:func:`unscaled`, with a check that the value still fits the dtype: a finite value
    whose unscaled size is beyond the dtype's maximum, or a non-zero one that falls below
    its smallest normal number, raises a ``ValueError`` naming it and the dtype."""
    if is_unit(s):
        return a
    with np.errstate(over="ignore"):  # NumPy's overflow warning: the check below says more
        out = unscaled(a, s, power)
    info = xp.finfo(a.dtype)
    checks.add(
        xp.any(xp.isinf(out) & xp.isfinite(a)),
        raise_error(ValueError(
            f"{what} exceeds the range of {dtype_name(a.dtype)} (largest value {float(info.max):.4g}); "
            "compute in float64 (convert the input with astype) to get it"
        )),
    )
    checks.add(
        xp.any((xp.abs(out) < float(info.smallest_normal)) & (a != 0) & xp.isfinite(a)),
        raise_error(ValueError(
            f"{what} is below the range of {dtype_name(a.dtype)} (smallest normal value "
            f"{float(info.smallest_normal):.4g}); compute in float64 (convert the input with astype) to get it"
        )),
    )
    return out

