"""JAX: native eager calls, calls under jax.jit, compiled loops, no hidden transfers, run-time checks.

The shared suite (parity, bad input, SciPy's test_vq) already runs on the "jax" and
"jax_jit" backends; these tests cover what is specific to JAX.  This process runs JAX with
x64 on; test_x64_off_child_run runs the JAX tests again with JAX's default (x64 off), where
float32 is the float.
"""
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

jax = pytest.importorskip("jax", reason="jax is not installed")
jnp = jax.numpy

import xpcluster  # noqa: E402
import xpcluster._core.lloyd  # noqa: E402
from xpcluster import vq  # noqa: E402
from backends import raises  # noqa: E402

X64 = jax.config.jax_enable_x64
FLOATS = ["float32", "float64"] if X64 else ["float32"]
MINITS = ("random", "points", "++")


def mixture(n=400, d=3, seed=0, dtype="float32"):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=6.0, size=(4, d))
    return (centres[rng.integers(0, 4, size=n)] + rng.normal(size=(n, d))).astype(dtype)


def _tolerance(dtype):
    return 2e-5 if dtype == "float32" else 1e-10


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("minit", MINITS)
def test_eager_and_jit_equal_numpy(dtype, minit):
    data = mixture(dtype=dtype)
    expected_c, expected_l = vq.kmeans2(data, 4, minit=minit, rng=0)
    x = jnp.asarray(data)
    eager_c, eager_l = vq.kmeans2(x, 4, minit=minit, rng=0)
    jit_c, jit_l = jax.jit(lambda x: vq.kmeans2(x, 4, minit=minit, rng=0))(x)
    for c, labels in ((eager_c, eager_l), (jit_c, jit_l)):
        assert isinstance(c, jax.Array) and c.dtype == jnp.dtype(dtype) and labels.dtype == jnp.int32
        assert c.devices() == x.devices()
        np.testing.assert_allclose(np.asarray(c), expected_c, rtol=_tolerance(dtype), atol=_tolerance(dtype))
        np.testing.assert_array_equal(np.asarray(labels), expected_l)


@pytest.mark.parametrize("dtype", FLOATS)
def test_vq_whiten_kmeans_under_jit_equal_eager(dtype):
    data = mixture(dtype=dtype)
    x, book = jnp.asarray(data), jnp.asarray(data[::50])
    tol = _tolerance(dtype)
    for eager, jitted in (
        (vq.vq(x, book), jax.jit(vq.vq)(x, book)),
        ((vq.whiten(x),), (jax.jit(vq.whiten)(x),)),
        (vq.kmeans(x, 4, rng=3), jax.jit(lambda x: vq.kmeans(x, 4, rng=3))(x)),
        (vq.kmeans(x, book), jax.jit(vq.kmeans)(x, book)),
        (vq.kmeans(data, 4, rng=3), vq.kmeans(x, 4, rng=3)),
    ):
        for a, b in zip(eager, jitted):
            np.testing.assert_allclose(_rows_sorted(a), _rows_sorted(b), rtol=tol, atol=tol)


def _rows_sorted(a):
    """Codebook rows in a canonical order: restarts that reach the same clustering can
    differ in the last bits of their distortion, so which of them wins (and in what row
    order it lists the clusters) is not fixed in float32."""
    a = np.asarray(a)
    return a[np.lexsort(a.T[::-1])] if a.ndim == 2 else a


def test_lloyd_loop_is_traced_once_whatever_the_iteration_count(monkeypatch):
    """A compiled loop: the step body runs in Python once (at trace time), not per iteration."""
    calls = []
    original = xpcluster._core.lloyd.update_centroids

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(xpcluster._core.lloyd, "update_centroids", counting)
    data = mixture(n=301)  # a shape no other test compiles for
    x = jnp.asarray(data)
    book = jnp.asarray(data[:5])
    for n_iter in (17, 18):
        calls.clear()
        vq.kmeans2(x, book, iter=n_iter, minit="matrix")
        assert len(calls) == 1
    calls.clear()
    vq.kmeans2(data, data[:5], iter=17, minit="matrix")  # NumPy: a Python loop
    assert len(calls) == 17


def test_integers_beyond_float32_warn_when_x64_is_off():
    """With x64 off JAX has no float64: integers compute in float32, and those float32
    cannot hold exactly get a PrecisionWarning that says how to get float64."""
    if X64:
        pytest.skip("x64 is on in this process: integers compute in float64 (the x64-off child run checks this)")
    x = jnp.asarray(np.array([[2**30, 0], [2**30 + 1, 0], [0, 0]], dtype=np.int32))
    with pytest.warns(xpcluster.PrecisionWarning, match="JAX_ENABLE_X64=1"):
        white = vq.whiten(x)
    assert white.dtype == jnp.float32
    small = jnp.asarray(np.array([[2**20, 0], [1, 0], [0, 3]], dtype=np.int32))
    with warnings.catch_warnings():
        warnings.simplefilter("error", xpcluster.PrecisionWarning)
        vq.whiten(small)


def _host_device(index):
    devices = jax.devices("cpu")
    if index >= len(devices):
        pytest.skip(f"JAX has {len(devices)} host device(s) here (conftest sets XLA_FLAGS for two)")
    return devices[index]


@pytest.mark.parametrize("device_index", [0, 1], ids=["first-device", "second-device"])
def test_no_implicit_transfers(device_index):
    """Whole public calls run under transfer_guard('disallow'): host draws are placed with
    explicit device_put, checks read flags with explicit device_get, loops are compiled.
    On the second host device (the CPU proxy for a GPU) every output stays there, and a
    NumPy codebook is placed there explicitly."""
    device = _host_device(device_index)
    data = mixture()
    x, book = jax.device_put(data, device), jax.device_put(data[::100], device)
    outputs = []
    with jax.transfer_guard("disallow"):
        for minit in (*MINITS, "k-means||"):
            outputs += vq.kmeans2(x, 4, minit=minit, rng=1)
        outputs += vq.kmeans2(x, book, minit="matrix")
        outputs += vq.kmeans2(x, data[::100], minit="matrix")  # a NumPy codebook
        outputs += vq.kmeans(x, 4, iter=3, rng=1)
        outputs += vq.kmeans(x, book)
        outputs += vq.vq(x, book)
        outputs += vq.vq(x, data[::100])
        outputs.append(vq.whiten(x))
        jax.block_until_ready(outputs)
    assert {d for out in outputs for d in out.devices()} == {device}


def test_checks_under_jit_reach_the_user():
    data = mixture()
    bad = data.copy()
    bad[3, 1] = np.nan
    x, x_bad = jnp.asarray(data), jnp.asarray(bad)
    far_book = jnp.asarray(np.array([[0.0, 0.0, 0.0], [1e3, 1e3, 1e3]], dtype=data.dtype))

    # check_finite: a run-time error carrying SciPy's ValueError and message.
    with raises("jax_jit", ValueError, "array must not contain infs or NaNs"):
        jax.block_until_ready(jax.jit(lambda x: vq.kmeans2(x, 3, minit="points", rng=0))(x_bad))
    with raises("jax_jit", ValueError, "array must not contain infs or NaNs"):
        jax.block_until_ready(jax.jit(lambda x: vq.whiten(x, check_finite=True))(x_bad))
    # check_finite=False under jit: no check, NaN flows through.
    out = jax.jit(lambda x: vq.whiten(x, check_finite=False))(x_bad)
    assert np.isnan(np.asarray(out)[:, 1]).all()

    # missing='raise': a run-time error carrying ClusterError; 'warn': a UserWarning.
    with raises("jax_jit", vq.ClusterError, "One of the clusters is empty"):
        jax.block_until_ready(jax.jit(lambda x, b: vq.kmeans2(x, b, minit="matrix", missing="raise"))(x, far_book))
    with pytest.warns(UserWarning, match="One of the clusters is empty"):
        jax.block_until_ready(jax.jit(lambda x, b: vq.kmeans2(x, b, minit="matrix"))(x, far_book))
    # No false alarms.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        jax.block_until_ready(jax.jit(lambda x: vq.kmeans2(x, 3, minit="++", rng=0, missing="raise"))(x))


def test_eager_checks_behave_as_on_numpy():
    data = mixture()
    bad = data.copy()
    bad[3, 1] = np.inf
    far_book = jnp.asarray(np.array([[0.0, 0.0, 0.0], [1e3, 1e3, 1e3]], dtype=data.dtype))
    with pytest.raises(ValueError, match="must not contain infs or NaNs"):
        vq.kmeans2(jnp.asarray(bad), 3, minit="points", rng=0)
    with pytest.raises(vq.ClusterError):
        vq.kmeans2(jnp.asarray(data), far_book, minit="matrix", missing="raise")
    with pytest.warns(UserWarning, match="One of the clusters is empty"):
        vq.kmeans2(jnp.asarray(data), far_book, minit="matrix")


def test_kmeans_dropping_clusters_under_jit():
    """Eager kmeans drops emptied clusters; under jit the shape cannot change, so the
    survivors come first and the dropped rows are NaN, with a warning."""
    data = mixture()
    guess = np.concatenate([data[:3], np.full((1, 3), 1e3, dtype=data.dtype)])
    x, g = jnp.asarray(data), jnp.asarray(guess)
    eager_book, eager_dist = vq.kmeans(x, g)
    assert eager_book.shape == (3, 3)
    with pytest.warns(UserWarning, match="dropped empty clusters"):
        jit_book, jit_dist = jax.jit(vq.kmeans)(x, g)
        jax.block_until_ready(jit_book)
    jit_book = np.asarray(jit_book)
    np.testing.assert_allclose(jit_book[:3], np.asarray(eager_book), rtol=1e-5)
    assert np.isnan(jit_book[3]).all()
    np.testing.assert_allclose(float(jit_dist), float(eager_dist), rtol=1e-5)
    with pytest.raises(ValueError, match="must not contain infs or NaNs"):
        vq.vq(x, jnp.asarray(jit_book))


def test_x64_off_child_run():
    """The JAX tests and the shared suite's JAX cases again, with JAX's default x64 off.

    Left out: cases that compare with float64 results (there is no float64 without x64),
    and SciPy's test_kmeans_diff_convergence, whose expected centroids hold in float64
    only: in float32 a distance tie breaks the other way, and SciPy's own float32 run
    stops at the same centroids as ours (checked in test_parity.py).
    """
    if not X64:
        return  # this is the child run
    here = Path(__file__).parent
    env = dict(os.environ, JAX_ENABLE_X64="0")
    selection = [
        str(here / "test_jax.py"),
        str(here / "test_scipy_suite.py"),
        str(here / "test_parity.py"),
        "-k", "jax and not float64 and not kmeans_every and not vq_whiten_every and not diff_convergence",
    ]
    child = subprocess.run(
        [sys.executable, "-m", "pytest", *selection, "-q", "-p", "no:cacheprovider", "-W", "ignore::UserWarning"],
        env=env, capture_output=True, text=True, cwd=here,
    )
    assert child.returncode == 0, child.stdout[-4000:] + child.stderr[-2000:]
    passed = int(child.stdout.strip().splitlines()[-1].split(" passed")[0].split()[-1])
    assert passed >= 40, child.stdout[-2000:]
