"""Which float dtype a computation runs in."""
from __future__ import annotations

from typing import Any


def compute_dtype(dtype: Any, xp: Any, device: Any) -> Any:
    """Float dtype to compute in for input of ``dtype``.

    float32 and float64 stay as they are; integers and booleans become the default real
    float of the namespace (float64 where available, as SciPy promotes); other floats
    (float16, bfloat16) compute in float32.  Complex input is refused.
    """
    if xp.isdtype(dtype, "complex floating"):
        raise ValueError(f"Unsupported dtype {dtype}: complex input is not supported")
    if dtype == xp.float32 or dtype == xp.float64:
        return dtype
    if xp.isdtype(dtype, ("integral", "bool")):
        return xp.__array_namespace_info__().default_dtypes(device=device)["real floating"]
    if xp.isdtype(dtype, "real floating"):
        return xp.float32
    raise ValueError(f"Unsupported dtype {dtype}")


def widest_float(xp: Any, device: Any) -> Any:
    """float64 where the device has it (host, CUDA), else float32 (e.g. Apple MPS)."""
    available = xp.__array_namespace_info__().dtypes(device=device, kind="real floating")
    return xp.float64 if "float64" in available else xp.float32
