"""The backends the test suite runs on, as namespaces a test can create arrays with.

``xp.asarray(...)`` on these creates arrays the way the backend under test needs them:
read-only for "numpy_readonly" (so any in-place write by the library fails loudly), on
``Device("device1")`` for "array_api_strict_device1" (where mixing devices raises).
"""
from __future__ import annotations

import importlib
import importlib.util
from typing import Any

import numpy as np

BACKENDS = ("numpy", "numpy_readonly", "array_api_strict", "array_api_strict_device1", "torch", "jax", "jax_jit")
_MODULE_OF = {
    "numpy": "numpy",
    "numpy_readonly": "numpy",
    "array_api_strict": "array_api_strict",
    "array_api_strict_device1": "array_api_strict",
    "torch": "torch",
    "jax": "jax.numpy",
    "jax_jit": "jax.numpy",
}
_CREATION = ("asarray", "zeros", "ones", "empty", "full", "arange", "linspace", "eye")


def is_installed(backend: str) -> bool:
    return importlib.util.find_spec(_MODULE_OF[backend].split(".")[0]) is not None


class _Namespace:
    """A backend module whose creation functions default to one device / read-only output."""

    def __init__(self, module: Any, *, device: Any = None, readonly: bool = False) -> None:
        self._module = module
        self._device = device
        self._readonly = readonly

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._module, name)
        if name not in _CREATION:
            return attr

        def create(*args: Any, **kwargs: Any) -> Any:
            if self._device is not None and kwargs.get("device") is None:
                kwargs["device"] = self._device
            out = attr(*args, **kwargs)
            if self._readonly:
                out = np.array(out, copy=True)
                out.flags.writeable = False
            return out

        return create

    def __repr__(self) -> str:
        return f"<test namespace over {self._module.__name__}>"


def namespace(backend: str) -> Any:
    module = importlib.import_module(_MODULE_OF[backend])
    if backend == "numpy_readonly":
        return _Namespace(module, readonly=True)
    if backend == "array_api_strict_device1":
        return _Namespace(module, device=module.Device("device1"))
    return module


def to_numpy(a: Any) -> np.ndarray:
    """Copy any backend's array to NumPy, for comparisons (tests only)."""
    if hasattr(a, "detach"):
        return a.detach().cpu().numpy()
    module = type(a).__module__
    if module.startswith("array_api_strict"):
        import array_api_strict

        a = array_api_strict.asarray(a, device=array_api_strict.Device("CPU_DEVICE"), copy=True)
        return np.asarray(a)
    return np.asarray(a)


def settle(*results: Any) -> None:
    """Wait for asynchronously dispatched work (JAX), so run-time checks fire here."""
    for result in results:
        if type(result).__module__.startswith("jax"):
            import jax

            jax.block_until_ready(result)


def raises(backend: str, exception: type[BaseException], match: str):
    """``pytest.raises`` for an error found in the data's values.

    Under ``jax.jit`` such an error is raised by a host callback while the compiled program
    runs, and JAX re-raises it as its own runtime error (``JaxRuntimeError``, or on some
    cached calls ``ValueError``) whose message carries the original type and text; that
    is what a user sees, so that is what is asserted.
    """
    import contextlib
    import re

    import pytest

    if backend != "jax_jit":
        return pytest.raises(exception, match=match)

    @contextlib.contextmanager
    def check():
        with pytest.raises(Exception) as info:
            yield info
        text = str(info.value)
        assert f"{exception.__name__}: " in text and re.search(match, text), text

    return check()
