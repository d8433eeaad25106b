"""Test configuration: the ``xp`` fixture over every installed backend.

SciPy reads SCIPY_ARRAY_API when it is first imported; SciPy's own test_vq (run against
xpcluster by test_scipy_suite.py) needs it on, so it is set before anything imports SciPy.
It also turns xpcluster's native dispatch on for the whole suite: tests of the coercing
(flag off) mode switch it off explicitly.

With XPCLUSTER_TEST_LEGACY_MODE=1 (set by test_scipy_suite.py for a child pytest) both
flags are off instead and only NumPy is a backend: SciPy's suite then also runs its
``np.matrix`` tests, which it skips in array API mode.
"""
import os

LEGACY_MODE = os.environ.get("XPCLUSTER_TEST_LEGACY_MODE") == "1"
if LEGACY_MODE:
    os.environ.pop("SCIPY_ARRAY_API", None)  # SciPy treats any non-empty value as on
    os.environ.pop("XPCLUSTER_ARRAY_API", None)
else:
    os.environ["SCIPY_ARRAY_API"] = "1"

# JAX runs with 64-bit floats in this process (float64 parity at full precision); the JAX
# tests run again in a child process with JAX's default, x64 off (test_jax.py).
os.environ.setdefault("JAX_ENABLE_X64", "1")
# Two host devices for the "jax_device1" backend (data committed to the second device): the
# CPU proxy for placement bugs on a GPU.
if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2").strip()

import pytest  # noqa: E402
from array_api_extra.testing import lazy_xp_function, patch_lazy_xp_functions  # noqa: E402

import xpcluster.vq  # noqa: E402
from backends import BACKENDS, namespace, unavailable_reason  # noqa: E402

# On the "jax_jit" backend, every call of these from a test module (or from a module the
# test module lists in `lazy_xp_modules`) runs under jax.jit, non-array arguments static; on
# "dask", such a call fails if it computes anything (kmeans may: it needs a value per
# iteration to know when to stop).
for _func in (xpcluster.vq.whiten, xpcluster.vq.vq, xpcluster.vq.py_vq, xpcluster.vq.kmeans2):
    lazy_xp_function(_func, allow_dask_compute=False)
lazy_xp_function(xpcluster.vq.kmeans, allow_dask_compute=True)

if LEGACY_MODE:
    BACKENDS = ("numpy",)


def _params():
    for name in BACKENDS:
        reason = unavailable_reason(name)
        marks = () if reason is None else pytest.mark.skip(reason=reason)
        yield pytest.param(name, id=name, marks=marks)


@pytest.fixture(params=list(_params()))
def backend(request):
    """Name of the backend under test."""
    return request.param


@pytest.fixture
def xp(backend, request):
    """Namespace of the backend under test (see tests/backends.py)."""
    namespace_ = namespace(backend)
    if backend in ("jax_jit", "dask", "dask_cupy"):
        with patch_lazy_xp_functions(request, xp=namespace_):
            yield namespace_
    else:
        yield namespace_


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Drop JAX's compiled programs after each test module.

    Every module compiles programs for its own shapes, dtypes and sparse structures, which
    no later module reuses; kept for the whole run they grew one process by gigabytes and
    XLA aborted while compiling late in a full run (2026-12-03)."""
    yield
    import sys

    jax = sys.modules.get("jax")
    if jax is not None:
        jax.clear_caches()
