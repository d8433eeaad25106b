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

import pytest  # noqa: E402

from backends import BACKENDS, is_installed, namespace  # noqa: E402

if LEGACY_MODE:
    BACKENDS = ("numpy",)


def _params():
    for name in BACKENDS:
        marks = () if is_installed(name) else pytest.mark.skip(reason=f"{name.split('_')[0]} is not installed")
        yield pytest.param(name, id=name, marks=marks)


@pytest.fixture(params=list(_params()))
def backend(request):
    """Name of the backend under test."""
    return request.param


@pytest.fixture
def xp(backend):
    """Namespace of the backend under test (see tests/backends.py)."""
    return namespace(backend)
