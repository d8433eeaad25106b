"""Bad input gets a clear error (or SciPy's warning), never a wrong answer; inputs stay untouched."""
import math
import warnings

import numpy as np
import pytest

from xpcluster import vq
from backends import raises, settle, to_numpy

lazy_xp_modules = [vq]  # on "jax_jit", vq's functions run under jax.jit

X = np.array([[3.0, 3], [4, 3], [4, 2], [9, 2], [5, 1], [6, 2], [9, 4], [5, 2], [5, 4], [7, 4], [6, 5]])


def test_rank_above_two(xp):
    cube = xp.asarray(np.zeros((4, 3, 2)))
    with pytest.raises(ValueError, match="rank > 2"):
        vq.kmeans2(cube, 2)
    with pytest.raises(ValueError, match="rank > 2"):
        vq.kmeans(cube, 2)
    with pytest.raises(ValueError, match="rank > 2"):
        vq.vq(cube, cube)


def test_empty_data(xp):
    with pytest.raises(ValueError, match="Empty input is not supported."):
        vq.kmeans2(xp.asarray(np.zeros((0, 2))), 2)
    with pytest.raises(ValueError, match="Empty input is not supported."):
        vq.kmeans(xp.asarray(np.zeros((0, 2))), 2)
    with pytest.raises(ValueError, match="Empty input"):
        vq.whiten(xp.asarray(np.zeros((0, 2))))


def test_vq_of_no_observations_is_empty(xp):
    codes, dists = vq.vq(xp.asarray(np.zeros((0, 2))), xp.asarray(X[:2]))
    assert codes.shape == dists.shape == (0,)


@pytest.mark.parametrize("k", [0, -3])
def test_k_below_one(xp, k):
    with pytest.raises(ValueError, match=f"Cannot ask kmeans2 for {k} clusters"):
        vq.kmeans2(xp.asarray(X), k)
    with pytest.raises(ValueError, match=f"Asked for {k} clusters."):
        vq.kmeans(xp.asarray(X), k)


def test_k_above_n(xp):
    with pytest.raises(ValueError, match="larger sample than population"):
        vq.kmeans2(xp.asarray(X), 12, minit="points", rng=0)
    with pytest.raises(ValueError, match="k=12"):
        vq.kmeans2(xp.asarray(X), 12, minit="++", rng=0)
    with pytest.raises(ValueError, match="larger sample than population"):
        vq.kmeans(xp.asarray(X), 12, rng=0)


def test_codebook_shape(xp):
    data = xp.asarray(X)
    with pytest.raises(ValueError, match="k array doesn't match data dimension"):
        vq.kmeans2(data, xp.asarray(np.zeros((3, 3))), minit="matrix")
    with pytest.raises(ValueError, match="k array doesn't match data rank"):
        vq.kmeans2(data, xp.asarray(np.zeros(3)), minit="matrix")
    with pytest.raises(ValueError, match="same number of features"):
        vq.vq(data, xp.asarray(np.zeros((3, 3))))
    with pytest.raises(ValueError, match="same number of dimensions"):
        vq.vq(data, xp.asarray(np.zeros(3)))
    with pytest.raises(ValueError, match="same number of features"):
        vq.kmeans(data, xp.asarray(np.zeros((3, 3))))
    with pytest.raises(ValueError, match="Asked for 0 clusters"):
        vq.kmeans(data, xp.asarray(np.zeros((0, 2))))
    with pytest.raises(ValueError, match="code_book is empty"):
        vq.vq(data, xp.asarray(np.zeros((0, 2))))


# On Dask the check is a node the results depend on; the rest of the graph may run on the
# bad values first, and NumPy notes the invalid arithmetic before the ValueError arrives.
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite(xp, backend, bad):
    data = X.copy()
    data[4, 1] = bad
    x = xp.asarray(data)
    for call in (
        lambda: vq.kmeans2(x, 2, rng=0),
        lambda: vq.kmeans(x, 2, rng=0),
        lambda: vq.vq(x, xp.asarray(X[:2])),
        lambda: vq.vq(xp.asarray(X), x[:2, :] if bad is None else x),
        lambda: vq.whiten(x, check_finite=True),
        lambda: vq.kmeans2(xp.asarray(X), x[3:6, :], minit="matrix"),
    ):
        with raises(backend, ValueError, match="must not contain infs or NaNs"):
            settle(*call())
    # check_finite=False trusts the caller: no error, non-finite values propagate.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's "invalid value" notes
        codes, dists = vq.vq(xp.asarray(X), x, check_finite=False)
    assert codes.shape == (11,)


def test_complex_input(xp):
    if not hasattr(xp, "complex128"):
        pytest.skip("backend has no complex dtype")
    z = xp.asarray(X.astype(np.complex128))
    for call in (lambda: vq.kmeans2(z, 2), lambda: vq.kmeans(z, 2), lambda: vq.vq(z, z), lambda: vq.whiten(z)):
        with pytest.raises(ValueError, match="complex"):
            call()


def test_arrays_from_two_libraries():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="different array libraries"):
        vq.kmeans2(np.asarray(X), torch.asarray(X[:2]), minit="matrix")
    xps = pytest.importorskip("array_api_strict")
    with pytest.raises(TypeError, match="different array libraries"):
        vq.vq(torch.asarray(X), xps.asarray(X[:2]))  # two libraries, neither of them NumPy


def test_arrays_on_two_devices():
    xps = pytest.importorskip("array_api_strict")
    here = xps.asarray(X)
    there = xps.asarray(X[:2], device=xps.Device("device1"))
    with pytest.raises(ValueError, match="different devices"):
        vq.kmeans2(here, there, minit="matrix")
    with pytest.raises(ValueError, match="different devices"):
        vq.vq(there, here[:2, :])


def test_bad_parameters(xp):
    data = xp.asarray(X)
    with pytest.raises(ValueError, match=r"Invalid iter \(0\), must be a positive integer."):
        vq.kmeans2(data, 2, iter=0)
    with pytest.raises(ValueError, match="iter must be at least 1, got 0"):
        vq.kmeans(data, 2, iter=0)
    with pytest.raises(ValueError, match="Unknown init method 'foo'"):
        vq.kmeans2(data, 2, minit="foo")
    with pytest.raises(ValueError, match="Unknown missing method 'foo'"):
        vq.kmeans2(data, 2, missing="foo")
    with pytest.raises(ValueError, match="must be an integer"):
        vq.kmeans(data, 2.5)
    with pytest.raises(TypeError, match="multiple values for argument now known as `rng`"):
        vq.kmeans2(data, 2, rng=0, seed=0)


def test_float_k_warns_and_converts(xp):
    # (A trace-time warning: under jax.jit it fires while tracing, as here.)
    data = xp.asarray(X)
    for minit in ("random", "points", "++"):
        with pytest.warns(UserWarning, match="k was not an integer, was converted."):
            centroids, _ = vq.kmeans2(data, 2.7, minit=minit, rng=0)
        assert centroids.shape == (2, 2)


def test_empty_cluster_warn_and_raise(xp, backend):
    data = xp.asarray(X)
    far_book = xp.asarray(np.array([[5.0, 3.0], [100.0, 100.0]]))
    with pytest.warns(UserWarning, match="One of the clusters is empty. Re-run kmeans with a different initialization."):
        centroids, labels = vq.kmeans2(data, far_book, minit="matrix")
        settle(centroids)
    # The empty cluster keeps its previous centroid; the other is the mean of everything.
    np.testing.assert_allclose(to_numpy(centroids), [X.mean(axis=0), [100.0, 100.0]])
    assert (to_numpy(labels) == 0).all()
    with raises(backend, vq.ClusterError, match="One of the clusters is empty"):
        settle(*vq.kmeans2(data, far_book, minit="matrix", missing="raise"))


def test_no_warning_without_empty_clusters(xp):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        settle(*vq.kmeans2(xp.asarray(X), xp.asarray(X[[0, 3, 8]]), minit="matrix"))


def test_inputs_are_not_mutated(xp):
    data = xp.asarray(X)
    book = xp.asarray(X[[0, 3, 8]])
    before_data, before_book = to_numpy(data).copy(), to_numpy(book).copy()
    vq.kmeans2(data, book, minit="matrix", iter=3)
    vq.kmeans(data, book)
    vq.vq(data, book)
    vq.whiten(data)
    for minit in ("random", "points", "++"):
        vq.kmeans2(data, 3, minit=minit, rng=1)
    np.testing.assert_array_equal(to_numpy(data), before_data)
    np.testing.assert_array_equal(to_numpy(book), before_book)


def test_readonly_numpy_inputs_work():
    data = X.copy()
    data.flags.writeable = False
    book = X[[0, 3, 8]].copy()
    book.flags.writeable = False
    centroids, labels = vq.kmeans2(data, book, minit="matrix")
    assert centroids.flags.writeable  # a new array, not a view of the input
    assert not np.shares_memory(centroids, book)
