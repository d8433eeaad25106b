"""SciPy's own test suite for scipy.cluster.vq, pointed at xpcluster.vq.

The test file is read from the installed SciPy (the `test` extra pins SciPy 1.17) and run
unchanged except for one line: its ``from scipy.cluster.vq import (...)`` becomes
``from xpcluster.vq import (...)``.  Every test then runs on every backend of the ``xp``
fixture in conftest.py.  SciPy's capability marks (which would skip GPU / lazy backends
for SciPy's own implementation) are generated from a full-capability registration of our
functions, and have no effect in this suite.

Under ``jax.jit`` (the "jax_jit" backend) an error found in the data's values is raised by
a host callback while the compiled program runs, and JAX re-raises it as its own runtime
error whose message carries the original exception type and text.  That is what a user
sees, so there SciPy's ``assert_raises`` also accepts such an error for the expected type
(``raises_as_seen_under_jit``); every other backend must raise the exact type.

SciPy's comparison helpers read arrays through NumPy, which array-api-strict refuses for
arrays on ``Device("device1")``; on that backend the helpers first assert that actual and
desired share a device, then compare copies on the default device.
"""
import os
import subprocess
import sys
from pathlib import Path

import array_api_compat

import scipy.cluster
from scipy._lib._array_api import xp_capabilities

import xpcluster.vq

_SOURCE_PATH = Path(scipy.cluster.__file__).parent / "tests" / "test_vq.py"
_IMPORT = "from scipy.cluster.vq import ("


def _register_full_capabilities():
    # make_xp_test_case(f) looks f up in SciPy's capability table.  Every function runs on
    # every backend, under jax.jit, and lazily on Dask (no compute inside the call) except
    # kmeans, whose threshold loop needs one small value per iteration.
    for func in (xpcluster.vq.whiten, xpcluster.vq.vq, xpcluster.vq.kmeans, xpcluster.vq.kmeans2):
        doc = func.__doc__
        xp_capabilities(allow_dask_compute=func is xpcluster.vq.kmeans)(func)
        func.__doc__ = doc


def _load_suite():
    source = _SOURCE_PATH.read_text()
    if source.count(_IMPORT) != 1:
        raise RuntimeError(f"{_SOURCE_PATH} no longer imports vq the way this harness expects")
    source = source.replace(_IMPORT, "from xpcluster.vq import (")
    return compile(source, f"{_SOURCE_PATH} (pointed at xpcluster.vq)", "exec")


def _device_checked(compare):
    def wrapper(actual, desired, *args, **kwargs):
        if array_api_compat.is_array_api_strict_namespace(array_api_compat.array_namespace(desired)):
            import array_api_strict

            assert array_api_compat.device(actual) == array_api_compat.device(desired), (
                f"devices differ: {array_api_compat.device(actual)} vs {array_api_compat.device(desired)}"
            )
            cpu = array_api_strict.Device("CPU_DEVICE")
            actual = array_api_strict.asarray(actual, device=cpu, copy=True)
            desired = array_api_strict.asarray(desired, device=cpu, copy=True)
        return compare(actual, desired, *args, **kwargs)

    return wrapper


def raises_as_seen_under_jit(expected, *args, **kwargs):
    import pytest

    from backends import carries_error, settle

    if not args:
        return pytest.raises(expected, **kwargs)
    func, *rest = args
    try:
        result = func(*rest, **kwargs)
        settle(*(result if isinstance(result, tuple) else (result,)))
    except expected:
        return None
    except Exception as exc:
        if carries_error(exc, expected):
            return None
        raise
    raise AssertionError(f"DID NOT RAISE {expected.__name__}")


_register_full_capabilities()
exec(_load_suite(), globals())
assert_raises = raises_as_seen_under_jit
xp_assert_close = _device_checked(xp_assert_close)  # noqa: F821 -- defined by the suite
xp_assert_equal = _device_checked(xp_assert_equal)  # noqa: F821 -- defined by the suite

if os.environ.get("XPCLUSTER_TEST_LEGACY_MODE") != "1":
    # SciPy skips its np.matrix tests in array API mode; they run (and must pass) in the
    # child run of test_suite_in_scipy_default_mode below instead.
    for _cls in (TestWhiten, TestVq, TestKMeans):  # noqa: F821 -- defined by the suite
        for _name in [n for n in vars(_cls) if n.startswith("test_") and n.endswith("_matrix")]:
            delattr(_cls, _name)


def test_suite_in_scipy_default_mode():
    """Without any flag (SciPy's default): NumPy only, np.matrix inputs included."""
    if os.environ.get("XPCLUSTER_TEST_LEGACY_MODE") == "1":
        return  # this is the child run itself
    env = dict(os.environ, XPCLUSTER_TEST_LEGACY_MODE="1")
    child = subprocess.run(
        [sys.executable, "-m", "pytest", __file__, "-v", "-p", "no:cacheprovider", "-rs"],
        env=env, capture_output=True, text=True, cwd=Path(__file__).parent,
    )
    assert child.returncode == 0, child.stdout[-3000:] + child.stderr[-3000:]
    assert "skipped" not in child.stdout, child.stdout[-3000:]
    matrix_tests = ("test_whiten_not_finite_matrix", "test_py_vq_matrix", "test_vq_matrix",
                    "test_kmeans_simple_matrix", "test_kmeans2_simple_matrix")
    for name in matrix_tests:
        assert f"{name} PASSED" in child.stdout, name
