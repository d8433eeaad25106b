"""The dispatch flag: native with XPCLUSTER_ARRAY_API=1 / SCIPY_ARRAY_API=1, NumPy otherwise."""
import os
import subprocess
import sys

import numpy as np
import pytest

import xpcluster
from xpcluster import vq

X = np.array([[3.0, 3], [4, 3], [4, 2], [9, 2], [5, 1], [6, 2], [9, 4], [5, 2], [5, 4], [7, 4], [6, 5]])


def test_context_manager_switches_and_restores():
    assert xpcluster.is_array_api_dispatch_enabled()  # conftest sets SCIPY_ARRAY_API=1
    with xpcluster.array_api_dispatch(False):
        assert not xpcluster.is_array_api_dispatch_enabled()
        with xpcluster.array_api_dispatch():
            assert xpcluster.is_array_api_dispatch_enabled()
        assert not xpcluster.is_array_api_dispatch_enabled()
    assert xpcluster.is_array_api_dispatch_enabled()


def test_context_manager_restores_after_error():
    with pytest.raises(RuntimeError), xpcluster.array_api_dispatch(False):
        raise RuntimeError
    assert xpcluster.is_array_api_dispatch_enabled()


def test_flag_off_coerces_torch_to_numpy():
    torch = pytest.importorskip("torch")
    t = torch.asarray(X)
    with xpcluster.array_api_dispatch(False):
        centroids, labels = vq.kmeans2(t, torch.asarray(X[[0, 3, 8]]), minit="matrix")
        white = vq.whiten(t)
        codes, dists = vq.vq(t, t[:2])
    for out in (centroids, labels, white, codes, dists):
        assert isinstance(out, np.ndarray)
    np.testing.assert_allclose(centroids, vq.kmeans2(X, X[[0, 3, 8]], minit="matrix")[0])


def test_flag_on_keeps_torch_native():
    torch = pytest.importorskip("torch")
    with xpcluster.array_api_dispatch(True):
        centroids, labels = vq.kmeans2(torch.asarray(X), 2, minit="points", rng=0)
    assert isinstance(centroids, torch.Tensor) and isinstance(labels, torch.Tensor)


def test_flag_off_coerces_strict_default_device():
    xps = pytest.importorskip("array_api_strict")
    with xpcluster.array_api_dispatch(False):
        out = vq.whiten(xps.asarray(X))
    assert isinstance(out, np.ndarray)


def test_flag_off_error_names_the_flag_when_numpy_cannot_take_the_input():
    xps = pytest.importorskip("array_api_strict")
    elsewhere = xps.asarray(X, device=xps.Device("device1"))
    with xpcluster.array_api_dispatch(False):
        with pytest.raises(TypeError, match="XPCLUSTER_ARRAY_API=1"):
            vq.kmeans2(elsewhere, 2)
        with pytest.raises(TypeError, match="array_api_dispatch"):
            vq.vq(elsewhere, elsewhere)


def test_flag_off_error_for_tensor_requiring_grad():
    torch = pytest.importorskip("torch")
    t = torch.asarray(X).requires_grad_(True)
    with xpcluster.array_api_dispatch(False), pytest.raises(TypeError, match="XPCLUSTER_ARRAY_API=1"):
        vq.whiten(t)


def test_lists_follow_the_array_inputs_namespace():
    torch = pytest.importorskip("torch")
    centroids, _ = vq.kmeans2(torch.asarray(X), [[3.0, 3.0], [9.0, 3.0]], minit="matrix")
    assert isinstance(centroids, torch.Tensor)
    assert isinstance(vq.whiten(X.tolist()), np.ndarray)


_PROBE = (
    "import torch, xpcluster.vq as v; "
    "out = v.whiten(torch.asarray([[1.0, 2.0], [3.0, 5.0]])); "
    "print(type(out).__module__)"
)


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({}, "numpy"),
        ({"XPCLUSTER_ARRAY_API": "1"}, "torch"),
        ({"SCIPY_ARRAY_API": "1"}, "torch"),
        ({"XPCLUSTER_ARRAY_API": "0"}, "numpy"),
    ],
)
def test_environment_variables(variables, expected):
    pytest.importorskip("torch")
    env = {k: v for k, v in os.environ.items() if k not in ("XPCLUSTER_ARRAY_API", "SCIPY_ARRAY_API")}
    env.update(variables)
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == expected
