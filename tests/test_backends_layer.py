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
