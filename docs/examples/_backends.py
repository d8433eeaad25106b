"""Helpers shared by the examples: put a NumPy array on a backend, and bring results back.

xpcluster never moves your data between libraries: you create arrays in the library you
want (on the device you want) and xpcluster computes there.  These few lines are all it
takes; they are kept here so each example can stay about clustering.
"""
from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np

#: Backends the examples know, in the order they are tried.
KNOWN = ("numpy", "torch", "jax", "dask", "cupy", "array_api_strict")


def installed() -> list[str]:
    """The backends in :data:`KNOWN` that can be imported here (CuPy only with a GPU)."""
    found = []
    for name in KNOWN:
        if importlib.util.find_spec(name) is None:
            continue
        if name == "cupy":
            try:
                import cupy

                if cupy.cuda.runtime.getDeviceCount() == 0:
                    continue
            except Exception:  # CuPy without a driver
                continue
        found.append(name)
    return found


def to_backend(data: np.ndarray, name: str) -> Any:
    """``data`` as an array of backend ``name`` (a GPU when the backend has one)."""
    if name == "numpy":
        return data
    if name == "torch":
        import torch

        return torch.asarray(data, device="cuda" if torch.cuda.is_available() else "cpu")
    if name == "jax":
        import jax

        jax.config.update("jax_enable_x64", True)  # keep float64 data in float64
        return jax.device_put(data)
    if name == "dask":
        import dask.array as da

        return da.from_array(data, chunks=(max(1, data.shape[0] // 4), -1) if data.ndim == 2 else -1)
    if name == "cupy":
        import cupy

        return cupy.asarray(data)
    if name == "array_api_strict":
        import array_api_strict

        return array_api_strict.asarray(data)
    raise SystemExit(f"unknown backend {name!r}; choose from {', '.join(KNOWN)}")


def to_numpy(a: Any) -> np.ndarray:
    """A NumPy copy of a result from any backend (computing Dask, copying from GPUs)."""
    if hasattr(a, "compute"):
        a = a.compute()
    if hasattr(a, "detach"):
        return a.detach().cpu().numpy()
    if hasattr(a, "get") and not isinstance(a, np.ndarray):
        return a.get()
    if type(a).__module__.startswith("array_api_strict"):
        import array_api_strict

        return np.asarray(array_api_strict.asarray(a, device=array_api_strict.Device("CPU_DEVICE"), copy=True))
    return np.asarray(a)


def describe(a: Any) -> str:
    """'torch.Tensor on cpu' and the like."""
    import array_api_compat

    device = str(array_api_compat.device(a)).replace("array_api_strict.", "")
    return f"{type(a).__module__.split('.')[0]}.{type(a).__name__} on {device}"
