"""Device correctness: results stay where the data is, and the Lloyd loop never waits on the host.

On a machine without a GPU the CUDA tests are skipped (they say so); the device proof that
runs everywhere is the whole suite passing on array-api-strict's Device("device1"), which
raises on any mixing of devices.
"""
import numpy as np
import pytest

import array_api_compat
import xpcluster
from xpcluster import vq
from xpcluster._backends import capabilities_for
from xpcluster._core.chunks import memory_budget_bytes
from xpcluster._core.lloyd import kmeans2_core
from backends import to_numpy, unavailable_reason


def mixture(n=5000, d=8, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=6.0, size=(6, d))
    return (centres[rng.integers(0, 6, size=n)] + rng.normal(size=(n, d))).astype(dtype)


def _lloyd_core(x, book, n_iter=5):
    xp = array_api_compat.array_namespace(x)
    caps = capabilities_for(xp)
    return kmeans2_core(
        x, (book,), init="matrix", k=book.shape[0], n_iter=n_iter, xp=xp, caps=caps, budget=memory_budget_bytes()
    )


def test_every_output_on_the_input_device(xp, backend):
    data = mixture(n=400)
    x = xp.asarray(data)
    device = array_api_compat.device(x)
    outputs = [
        *vq.kmeans2(x, 4, minit="++", rng=0),
        *vq.kmeans2(x, 4, minit="k-means||", rng=0),
        *vq.kmeans(x, 4, iter=2, rng=0),
        *vq.vq(x, x[:4, ...]),
        vq.whiten(x),
    ]
    for out in outputs:
        if hasattr(out, "shape"):
            assert array_api_compat.device(out) == device


@pytest.mark.skipif(unavailable_reason("torch_cuda") is not None, reason="no CUDA device on this machine")
def test_torch_cuda_lloyd_loop_never_synchronises():
    import torch

    data = mixture()
    x = torch.asarray(data, device="cuda")
    book = x[:6].clone()
    _lloyd_core(x, book)  # warm-up: kernels, allocator
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        centroids, labels, any_empty = _lloyd_core(x, book, n_iter=10)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    expected = vq.kmeans2(data, data[:6], iter=10, minit="matrix")
    np.testing.assert_allclose(to_numpy(centroids), expected[0], rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(to_numpy(labels), expected[1])


@pytest.mark.skipif(unavailable_reason("cupy") is not None, reason="no CUDA device (or CuPy) on this machine")
def test_cupy_lloyd_loop_never_synchronises():
    import cupy
    import cupyx

    data = mixture()
    x = cupy.asarray(data)
    book = x[:6].copy()
    _lloyd_core(x, book)
    cupy.cuda.Device().synchronize()
    with cupyx.allow_synchronize(False):
        centroids, labels, any_empty = _lloyd_core(x, book, n_iter=10)
    expected = vq.kmeans2(data, data[:6], iter=10, minit="matrix")
    np.testing.assert_allclose(to_numpy(centroids), expected[0], rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(to_numpy(labels), expected[1])


def test_segment_sums_have_no_data_dependent_output_size():
    """The PyTorch counts come from index_add_ (bincount would sync to size its output)."""
    torch = pytest.importorskip("torch")
    caps = capabilities_for(array_api_compat.array_namespace(torch.zeros(1)))
    sums, counts = caps.segment_sums(torch.ones((5, 2)), torch.tensor([0, 0, 2, 2, 2], dtype=torch.int32), 4)
    np.testing.assert_array_equal(counts.numpy(), [2, 0, 3, 0])
    np.testing.assert_array_equal(sums.numpy(), [[2, 2], [0, 0], [3, 3], [0, 0]])
