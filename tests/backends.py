"""The backends the test suite runs on, as namespaces a test can create arrays with.

``xp.asarray(...)`` on these creates arrays the way the backend under test needs them:
read-only for "numpy_readonly" (so any in-place write by the library fails loudly), on
``Device("device1")`` for "array_api_strict_device1" (where mixing devices raises), on
JAX's second host device for "jax_device1" (conftest asks XLA for two): outputs must come
back there, and arrays committed to two devices raise when combined.  (JAX's own eager
creation functions move data between devices internally, so the transfer guard is used
by test_jax.py's whole public calls instead.)
"""
from __future__ import annotations

import importlib
import importlib.util
from typing import Any

import numpy as np

BACKENDS = (
    "numpy", "numpy_readonly", "array_api_strict", "array_api_strict_device1", "torch", "jax", "jax_jit", "jax_device1", "dask",
    "torch_cuda", "cupy", "jax_gpu", "dask_cupy",
)
#: Backends that need a GPU; without one their tests are skipped with that reason.
GPU_BACKENDS = ("torch_cuda", "cupy", "jax_gpu", "dask_cupy")
_MODULE_OF = {
    "numpy": "numpy",
    "numpy_readonly": "numpy",
    "array_api_strict": "array_api_strict",
    "array_api_strict_device1": "array_api_strict",
    "torch": "torch",
    "jax": "jax.numpy",
    "jax_jit": "jax.numpy",
    "jax_device1": "jax.numpy",
    "dask": "array_api_compat.dask.array",
    "torch_cuda": "torch",
    "cupy": "cupy",
    "jax_gpu": "jax.numpy",
    "dask_cupy": "array_api_compat.dask.array",
}
_INSTALLED_AS = {"dask": "dask", "dask_cupy": "cupy"}
#: Rows per block of the Dask arrays the tests make: several blocks even for small data.
DASK_ROWS_PER_BLOCK = 50
_CREATION = ("asarray", "zeros", "ones", "empty", "full", "arange", "linspace", "eye")


def is_installed(backend: str) -> bool:
    module = _INSTALLED_AS.get(backend, _MODULE_OF[backend])
    return importlib.util.find_spec(module.split(".")[0]) is not None


def unavailable_reason(backend: str) -> str | None:
    """Why ``backend`` cannot run here (not installed, no GPU), or None if it can."""
    if not is_installed(backend):
        library = _INSTALLED_AS.get(backend, _MODULE_OF[backend]).split(".")[0]
        if backend in GPU_BACKENDS:
            return f"no GPU on this machine ({library} is not installed)"
        return f"{library} is not installed"
    if backend == "jax_device1":
        import jax

        if len(jax.devices("cpu")) < 2:
            return "JAX has one host device here (XLA_FLAGS=--xla_force_host_platform_device_count=2 gives two)"
        return None
    if backend not in GPU_BACKENDS:
        return None
    try:
        if backend == "torch_cuda":
            import torch

            ok = torch.cuda.is_available()
        elif backend in ("cupy", "dask_cupy"):
            import cupy

            ok = cupy.cuda.runtime.getDeviceCount() > 0
        else:
            import jax

            ok = any(d.platform == "gpu" for d in jax.devices())
    except Exception:  # a library that cannot reach a driver has no device for us
        ok = False
    return None if ok else "no GPU on this machine"


def _gpu_device(backend: str) -> Any:
    if backend == "torch_cuda":
        return "cuda"
    import jax

    return jax.devices("gpu")[0]


class _Namespace:
    """A backend module whose creation functions default to one device / read-only output."""

    def __init__(
        self, module: Any, *, device: Any = None, readonly: bool = False, rows_per_block: int = 0, blocks_on_gpu: bool = False
    ) -> None:
        self._module = module
        self._device = device
        self._readonly = readonly
        self._rows_per_block = rows_per_block
        self._blocks_on_gpu = blocks_on_gpu

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._module, name)
        if name == "reshape" and self._rows_per_block:
            return self._reshape
        if name not in _CREATION:
            return attr

        def create(*args: Any, **kwargs: Any) -> Any:
            if self._device is not None and kwargs.get("device") is None:
                kwargs["device"] = self._device
            out = attr(*args, **kwargs)
            if self._blocks_on_gpu:
                import cupy

                out = out.map_blocks(cupy.asarray, dtype=out.dtype, meta=cupy.empty((0,) * out.ndim, dtype=out.dtype))
            if self._rows_per_block and out.ndim >= 1:
                out = out.rechunk({0: self._rows_per_block})
            if self._readonly:
                out = np.array(out, copy=True)
                out.flags.writeable = False
            return out

        return create

    def _reshape(self, x: Any, shape: Any, **kwargs: Any) -> Any:
        # Test data preparation (SciPy's tests reshape 200 x 2 into 20 x 20): Dask cannot
        # reshape across uneven blocks, so such a reshape goes through one block.
        try:
            return self._module.reshape(x, shape, **kwargs)
        except NotImplementedError:
            return self._module.reshape(x.rechunk(-1), shape, **kwargs)

    def __repr__(self) -> str:
        return f"<test namespace over {self._module.__name__}>"


def namespace(backend: str) -> Any:
    module = importlib.import_module(_MODULE_OF[backend])
    if backend == "numpy_readonly":
        return _Namespace(module, readonly=True)
    if backend == "array_api_strict_device1":
        return _Namespace(module, device=module.Device("device1"))
    if backend == "dask":
        return _Namespace(module, rows_per_block=DASK_ROWS_PER_BLOCK)
    if backend == "dask_cupy":
        return _Namespace(module, rows_per_block=DASK_ROWS_PER_BLOCK, blocks_on_gpu=True)
    if backend in ("torch_cuda", "jax_gpu"):
        return _Namespace(module, device=_gpu_device(backend))
    if backend == "jax_device1":
        import jax

        return _Namespace(module, device=jax.devices("cpu")[1])
    return module


def to_numpy(a: Any) -> np.ndarray:
    """Copy any backend's array to NumPy, for comparisons (tests only)."""
    if hasattr(a, "compute"):
        a = a.compute()
    if type(a).__module__.startswith("cupy"):
        return a.get()
    if hasattr(a, "detach"):
        return a.detach().cpu().numpy()
    module = type(a).__module__
    if module.startswith("array_api_strict"):
        import array_api_strict

        a = array_api_strict.asarray(a, device=array_api_strict.Device("CPU_DEVICE"), copy=True)
        return np.asarray(a)
    return np.asarray(a)


def settle(*results: Any) -> None:
    """Run what is still pending -- JAX's asynchronous dispatch, Dask's graph -- so that
    checks made at run time fire here."""
    for result in results:
        if hasattr(result, "compute"):
            result.compute()
        elif type(result).__module__.startswith("jax"):
            import jax

            jax.block_until_ready(result)


def carries_error(error: BaseException, exception: type[BaseException], match: str = "") -> bool:
    """Whether ``error`` is JAX's re-raise of ``exception`` from a host callback: JAX gives
    its own runtime error (``JaxRuntimeError``, or ``ValueError`` on some cached calls)
    whose message carries the original type and text."""
    import re

    text = str(error)
    return f"{exception.__name__}: " in text and "callback" in text.lower() and re.search(match, text) is not None


def raises(backend: str, exception: type[BaseException], match: str):
    """``pytest.raises`` for an error found in the data's values.

    Under ``jax.jit`` such an error is raised by a host callback while the compiled program
    runs, and JAX re-raises it as its own runtime error (``JaxRuntimeError``, or on some
    cached calls ``ValueError``) whose message carries the original type and text; that
    is what a user sees, so that is what is asserted.
    """
    import contextlib

    import pytest

    if backend != "jax_jit":
        return pytest.raises(exception, match=match)

    @contextlib.contextmanager
    def check():
        with pytest.raises(Exception) as info:
            yield info
        assert carries_error(info.value, exception, match), str(info.value)

    return check()
