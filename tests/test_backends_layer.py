"""The capability layer's segment sums agree with a plain loop on every backend."""
import numpy as np
import pytest

from xpcluster._backends import capabilities_for
from backends import to_numpy

import array_api_compat


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_segment_sums(xp, dtype):
    rng = np.random.default_rng(1)
    values = rng.normal(size=(50, 3)).astype(dtype)
    ids = rng.integers(0, 7, size=50).astype(np.int32)
    ids[ids == 4] = 5  # leave id 4 empty
    v, i = xp.asarray(values), xp.asarray(ids)
    caps = capabilities_for(array_api_compat.array_namespace(v))
    sums, counts = caps.segment_sums(v, i, 7)
    assert array_api_compat.device(sums) == array_api_compat.device(v)
    expected_sums = np.stack([values[ids == j].sum(axis=0) for j in range(7)])
    expected_counts = np.bincount(ids, minlength=7)
    rtol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(to_numpy(sums), expected_sums, rtol=rtol, atol=rtol)
    np.testing.assert_array_equal(to_numpy(counts), expected_counts)


APPLICATIONS = ("__main__.py", "cli.py", "_io.py")


def test_only_the_capability_layer_names_a_backend():
    """The core, the SciPy face and the estimators are standard-only: no library besides
    NumPy-on-the-host is named.  The applications on top (the demo, the command line and
    its data loading) pick a backend by name for the user, so they may."""
    import pathlib
    import re

    import xpcluster

    root = pathlib.Path(xpcluster.__file__).parent
    pattern = re.compile(r"\b(import torch|from torch|import cupy|import jax|import dask|is_torch|is_cupy|is_jax|is_dask|is_numpy)")
    offenders = [
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if "_backends" not in path.parts and path.name not in APPLICATIONS and pattern.search(path.read_text())
    ]
    assert offenders == []


@pytest.mark.parametrize("k", [1, 2, 5, 37, 64])
def test_nearest_index_takes_the_lowest_index_on_ties(xp, k):
    scores = np.random.default_rng(k).integers(0, 3, size=(200, k)).astype(np.float64)
    s = xp.asarray(scores)
    caps = capabilities_for(array_api_compat.array_namespace(s))
    got = caps.nearest_index(s)
    assert got.dtype == array_api_compat.array_namespace(s).int32
    np.testing.assert_array_equal(to_numpy(got), scores.argmin(axis=1))


@pytest.mark.parametrize("k", [1, 3, 64, 255, 256, 300])
def test_nearest_of_product(xp, k):
    """Row-wise argmin of a @ b, lowest index on ties (duplicate columns), on every backend."""
    rng = np.random.default_rng(k)
    a = rng.integers(-3, 4, size=(120, 4)).astype(np.float64)  # integer-valued: exact ties
    b = rng.integers(-3, 4, size=(4, k)).astype(np.float64)
    if k > 2:
        b[:, k - 1] = b[:, 1]  # a duplicate column: always loses to column 1
    expected = (a @ b).argmin(axis=1)
    av, bv = xp.asarray(a), xp.asarray(b)
    caps = capabilities_for(array_api_compat.array_namespace(av))
    nxp = array_api_compat.array_namespace(av)
    if caps.nearest_of_product is None:
        labels = caps.nearest_index(nxp.matmul(av, bv))
    else:
        labels = caps.nearest_of_product(av, bv)
    assert labels.dtype == array_api_compat.array_namespace(av).int32
    np.testing.assert_array_equal(to_numpy(labels), expected)


@pytest.mark.parametrize("k", [1, 3, 64, 300])
def test_nearest_of_product_with_an_offset(xp, k):
    """``nearest_of_product(a, b, offset)``: the row-wise argmin of ``a @ b + offset``,
    lowest index on ties, for every backend's record specialised for the data."""
    rng = np.random.default_rng(k)
    a = rng.integers(-3, 4, size=(130, 4)).astype(np.float64)
    b = rng.integers(-3, 4, size=(4, k)).astype(np.float64)
    offset = rng.integers(-2, 3, size=k).astype(np.float64)
    if k > 2:
        b[:, k - 1], offset[k - 1] = b[:, 1], offset[1]  # a duplicate column loses to column 1
    expected = (a @ b + offset).argmin(axis=1)
    av = xp.asarray(a)
    nxp = array_api_compat.array_namespace(av)
    caps = capabilities_for(nxp).for_data(av)
    bv = nxp.asarray(b, device=array_api_compat.device(av))
    ov = nxp.asarray(offset, device=array_api_compat.device(av))
    if caps.nearest_of_product is None:  # what the core does then
        labels = caps.nearest_index(nxp.matmul(av, bv) + ov)
    else:
        labels = caps.nearest_of_product(av, bv, ov)
    assert labels.dtype == nxp.int32
    np.testing.assert_array_equal(to_numpy(labels), expected)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
@pytest.mark.parametrize("bad", [None, "nan", "inf", "-inf"])
def test_all_finite(xp, dtype, bad):
    values = np.arange(24, dtype=np.float64).reshape(6, 4) - 10
    if bad is not None:
        if dtype == "int64":
            pytest.skip("integers have no NaN or infinity")
        values[3, 2] = float(bad)
    a = xp.asarray(values.astype(dtype))
    nxp = array_api_compat.array_namespace(a)
    caps = capabilities_for(nxp)
    assert caps.read_bool(caps.all_finite(a)) is (bad is None)
    assert caps.read_bool(caps.all_finite(a[:0, :]))  # no entries: all finite


def test_torch_cpu_passes_match_torch_operations():
    """PyTorch CPU tensors run the assignment's row blocks through NumPy's kernels on views
    of their memory; the labels, sums and counts equal those of PyTorch's own operations
    (which tensors needing autograd keep), and come back as CPU tensors of the same dtypes."""
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    from xpcluster._backends import torch as torch_caps
    from xpcluster._core.assign import assign_labels, prepare_rows

    rng = np.random.default_rng(3)
    x = torch.asarray(rng.integers(-5, 6, size=(3000, 7)).astype(np.float32))  # exact ties
    c = x[:13].clone()
    nxp = array_api_compat.array_namespace(x)
    assert torch_caps.CAPABILITIES.for_data(x) is torch_caps.CPU_CAPABILITIES
    plain = torch_caps.CAPABILITIES.replace(specialise=None)
    for prepared in (None, prepare_rows(x, c[:1], xp=nxp)):
        fast = assign_labels(x, c, xp=nxp, caps=torch_caps.CAPABILITIES, with_sums=True, with_distances=True,
                             prepared=prepared)
        slow = assign_labels(x, c, xp=nxp, caps=plain, with_sums=True, with_distances=True)
        for got, want in zip(fast[:4], slow[:4]):
            assert isinstance(got, torch.Tensor) and got.device.type == "cpu" and got.dtype == want.dtype
            np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)
    graded = x.clone().requires_grad_(True)
    assert torch_caps._views((graded,)) is None  # autograd tensors keep PyTorch's operations
    sums, counts = torch_caps.segment_sums(graded, torch.zeros(3000, dtype=torch.int64), 2)
    assert sums.requires_grad and counts.tolist() == [3000, 0]


def test_numpy_nearest_of_product_with_nan_rows():
    from xpcluster._backends import numpy as numpy_caps

    rng = np.random.default_rng(0)
    a = rng.normal(size=(50, 3)).astype(np.float32)
    a[[4, 9], 1] = np.nan
    b = rng.normal(size=(3, 10)).astype(np.float32)
    np.testing.assert_array_equal(numpy_caps.nearest_of_product(a, b), (a @ b).argmin(axis=1))


def test_cond_picks_the_branch(xp):
    values = xp.asarray(np.arange(6.0))
    nxp = array_api_compat.array_namespace(values)
    caps = capabilities_for(nxp)

    def run(threshold):
        return caps.cond(
            nxp.any(values > threshold), lambda v, s: (v * 2, s + 1), lambda v, s: (v, s), values, nxp.sum(values)
        )

    doubled, total = run(4.0)
    np.testing.assert_array_equal(to_numpy(doubled), np.arange(6.0) * 2)
    assert float(to_numpy(total)) == 16.0
    same, total = run(10.0)
    np.testing.assert_array_equal(to_numpy(same), np.arange(6.0))
    assert float(to_numpy(total)) == 15.0
