"""Same rng, same answer: NumPy input reproduces SciPy, every backend reproduces NumPy."""
import copy

import array_api_compat
import numpy as np
import pytest
import scipy.cluster.vq as scipy_vq

import xpcluster
from xpcluster import vq
from backends import to_numpy

lazy_xp_modules = [vq]  # on "jax_jit", vq's functions run under jax.jit

MINITS = ("random", "points", "++")


def mixture(n=300, d=3, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=6.0, size=(4, d))
    points = centres[rng.integers(0, 4, size=n)] + rng.normal(size=(n, d))
    return points.astype(dtype)


def scipy_numpy(fn, *args, **kwargs):
    """SciPy's answer on NumPy (SciPy runs in array API mode in this suite; NumPy in, NumPy out)."""
    return fn(*args, **kwargs)


@pytest.mark.parametrize("minit", MINITS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kmeans2_numpy_equals_scipy(minit, dtype):
    data = mixture(dtype=dtype)
    with xpcluster.array_api_dispatch(True):
        ours = vq.kmeans2(data, 4, minit=minit, rng=7)
    theirs = scipy_numpy(scipy_vq.kmeans2, data, 4, minit=minit, rng=7)
    assert ours[0].dtype == theirs[0].dtype == dtype
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(ours[0], theirs[0], rtol=rtol, atol=rtol)
    np.testing.assert_array_equal(ours[1], theirs[1])
    assert ours[1].dtype == theirs[1].dtype == np.int32


@pytest.mark.parametrize("minit", MINITS)
def test_kmeans2_1d_numpy_equals_scipy(minit):
    data = mixture(d=1)[:, 0]
    ours = vq.kmeans2(data, 3, minit=minit, rng=11)
    theirs = scipy_vq.kmeans2(data, 3, minit=minit, rng=11)
    assert ours[0].shape == theirs[0].shape == (3,)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-12)
    np.testing.assert_array_equal(ours[1], theirs[1])


@pytest.mark.parametrize("seed", [1234, "RandomState", "Generator"])
def test_legacy_seed_keyword_equals_scipy(seed):
    data = mixture()

    def source():
        if seed == "RandomState":
            return np.random.RandomState(99)
        if seed == "Generator":
            return np.random.default_rng(99)
        return seed

    for minit in MINITS:
        ours = vq.kmeans2(data, 3, minit=minit, seed=source())
        theirs = scipy_vq.kmeans2(data, 3, minit=minit, seed=source())
        np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-12)
    ours = vq.kmeans(data, 3, iter=3, seed=source())
    theirs = scipy_vq.kmeans(data, 3, iter=3, seed=source())
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-12)


def test_no_rng_uses_numpy_global_state_like_scipy():
    data = mixture()
    np.random.seed(2024)
    ours = vq.kmeans2(data, 3, minit="points")
    np.random.seed(2024)
    theirs = scipy_vq.kmeans2(data, 3, minit="points")
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-12)


def test_one_generator_threads_through_calls_like_scipy():
    data = mixture()
    ours_rng, theirs_rng = np.random.default_rng(5), np.random.default_rng(5)
    for minit in MINITS:
        ours = vq.kmeans2(data, 3, minit=minit, rng=ours_rng)
        theirs = scipy_vq.kmeans2(data, 3, minit=minit, rng=theirs_rng)
        np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-12)
    assert ours_rng.random() == theirs_rng.random()


def test_kmeans_float32_stops_where_scipy_does():
    """In float32 a distance tie of SciPy's gh-8727 case breaks the other way than in
    float64; SciPy and xpcluster agree in each precision."""
    obs = np.array([-3, -1, 0, 1, 1, 8])
    guess = np.array([-3.0, 0.99])
    for dtype in (np.float32, np.float64):
        ours = vq.kmeans(obs.astype(dtype), guess.astype(dtype))
        theirs = scipy_vq.kmeans(obs.astype(dtype), guess.astype(dtype))
        np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-6)
        np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-6)


def test_kmeans_numpy_equals_scipy():
    data = mixture()
    ours_book, ours_dist = vq.kmeans(data, 4, rng=3)
    theirs_book, theirs_dist = scipy_vq.kmeans(data, 4, rng=3)
    np.testing.assert_allclose(ours_book, theirs_book, rtol=1e-12)
    np.testing.assert_allclose(ours_dist, theirs_dist, rtol=1e-12)
    assert type(ours_dist) is type(theirs_dist)

    guess = data[:5]
    ours_book, ours_dist = vq.kmeans(data, guess)
    theirs_book, theirs_dist = scipy_vq.kmeans(data, guess)
    np.testing.assert_allclose(ours_book, theirs_book, rtol=1e-12)
    np.testing.assert_allclose(ours_dist, theirs_dist, rtol=1e-12)


def test_vq_and_whiten_numpy_equal_scipy():
    data = mixture(d=5)
    book = data[::37]
    codes, dists = vq.vq(data, book)
    s_codes, s_dists = scipy_vq.vq(data, book)
    np.testing.assert_array_equal(codes, s_codes)
    assert codes.dtype == s_codes.dtype
    # SciPy reads distances off |x|^2 - 2x.c + |c|^2 (1e-7 off for a point on its code);
    # ours are recomputed as |x - c|, hence the absolute tolerance.
    np.testing.assert_allclose(dists, s_dists, rtol=1e-12, atol=1e-6)
    np.testing.assert_allclose(vq.whiten(data), scipy_vq.whiten(data), rtol=1e-12)


def test_integer_input_promotes_to_float64():
    data = np.round(mixture() * 10).astype(np.int64)
    centroids, labels = vq.kmeans2(data, 3, minit="points", rng=0)
    assert centroids.dtype == np.float64
    expected = vq.kmeans2(data.astype(np.float64), 3, minit="points", rng=0)
    np.testing.assert_array_equal(centroids, expected[0])
    assert vq.whiten(data).dtype == scipy_vq.whiten(data).dtype == np.float64
    assert vq.vq(data, data[:3])[1].dtype == scipy_vq.vq(data, data[:3])[1].dtype == np.float64


# Every backend returns the NumPy answer, in its own namespace, device and dtype.


def _expect_native(result, x, xp_dtype):
    assert array_api_compat.array_namespace(result) is array_api_compat.array_namespace(x)
    assert array_api_compat.device(result) == array_api_compat.device(x)
    assert result.dtype == xp_dtype


@pytest.mark.parametrize("minit", [*MINITS, "k-means||", "matrix"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_kmeans2_every_backend_equals_numpy(xp, minit, dtype):
    data = mixture(dtype=dtype)
    k = data[[0, 100, 200, 299]] if minit == "matrix" else 4
    expected = vq.kmeans2(data, copy.deepcopy(k), minit=minit, rng=7)
    x = xp.asarray(data)
    k_arg = xp.asarray(k) if minit == "matrix" else k
    centroids, labels = vq.kmeans2(x, k_arg, minit=minit, rng=7)
    _expect_native(centroids, x, getattr(xp, dtype))
    _expect_native(labels, x, xp.int32)
    rtol = 1e-10 if dtype == "float64" else 2e-5
    np.testing.assert_allclose(to_numpy(centroids), expected[0], rtol=rtol, atol=rtol)
    np.testing.assert_array_equal(to_numpy(labels), expected[1])


def test_kmeans_parallel_seeds_as_well_as_kmeans_plusplus():
    """k-means|| (Bahmani et al. 2012) in rounds + 1 passes: on well-separated data its
    centres are as good as k-means++'s after the same Lloyd iterations, across seeds."""
    rng = np.random.default_rng(3)
    centres = rng.normal(scale=10.0, size=(12, 5))
    data = centres[rng.integers(0, 12, size=4000)] + rng.normal(size=(4000, 5))

    def inertia(c):
        return ((data[:, None, :] - c[None, :, :]) ** 2).sum(axis=2).min(axis=1).sum()

    parallel = np.mean([inertia(vq.kmeans2(data, 12, iter=3, minit="k-means||", rng=s)[0]) for s in range(5)])
    plusplus = np.mean([inertia(vq.kmeans2(data, 12, iter=3, minit="++", rng=s)[0]) for s in range(5)])
    with pytest.warns(UserWarning, match="empty"):  # random points do leave clusters empty here
        forgy = np.mean([inertia(vq.kmeans2(data, 12, iter=3, minit="points", rng=s)[0]) for s in range(5)])
    assert parallel <= 1.1 * plusplus
    assert parallel < forgy


def test_kmeans_parallel_draws_from_the_rng_in_a_fixed_order():
    data = mixture()
    a = vq.kmeans2(data, 4, minit="k-means||", rng=np.random.default_rng(9))
    b = vq.kmeans2(data, 4, minit="k-means||", rng=9)
    np.testing.assert_array_equal(a[0], b[0])
    with pytest.raises(ValueError, match="k-means"):
        vq.kmeans2(data[:3], 4, minit="k-means||", rng=0)


def test_kmeans_every_backend_equals_numpy(xp):
    data = mixture()
    expected_book, expected_dist = vq.kmeans(data, 4, iter=3, rng=2)
    x = xp.asarray(data)
    book, dist = vq.kmeans(x, 4, iter=3, rng=2)
    _expect_native(book, x, xp.float64)
    np.testing.assert_allclose(to_numpy(book), expected_book, rtol=1e-10)
    np.testing.assert_allclose(float(to_numpy(dist)), expected_dist, rtol=1e-10)


def test_vq_whiten_every_backend_equal_numpy(xp):
    data = mixture(d=4)
    x, book = xp.asarray(data), xp.asarray(data[:6])
    codes, dists = vq.vq(x, book)
    expected_codes, expected_dists = vq.vq(data, data[:6])
    _expect_native(codes, x, xp.int32)
    _expect_native(dists, x, xp.float64)
    np.testing.assert_array_equal(to_numpy(codes), expected_codes)
    np.testing.assert_allclose(to_numpy(dists), expected_dists, rtol=1e-12)
    white = vq.whiten(x)
    _expect_native(white, x, xp.float64)
    np.testing.assert_allclose(to_numpy(white), vq.whiten(data), rtol=1e-12)


def test_results_independent_of_chunking(xp):
    """Many tiny chunks give the same answer as one: chunk boundaries are seamless."""
    data = mixture(n=257)
    x = xp.asarray(data)
    whole = vq.kmeans2(x, 5, minit="++", rng=4)
    with xpcluster.memory_budget(2048):
        chunked = vq.kmeans2(x, 5, minit="++", rng=4)
        chunked_book, chunked_dist = vq.kmeans(x, 5, iter=2, rng=4)
    book, dist = vq.kmeans(x, 5, iter=2, rng=4)
    # Chunked sums add in another order: equal to rounding (JAX without x64 is float32).
    rtol = 1e-12 if to_numpy(whole[0]).dtype == np.float64 else 1e-5
    np.testing.assert_allclose(to_numpy(chunked[0]), to_numpy(whole[0]), rtol=rtol)
    np.testing.assert_array_equal(to_numpy(chunked[1]), to_numpy(whole[1]))
    np.testing.assert_allclose(to_numpy(chunked_book), to_numpy(book), rtol=rtol)
    np.testing.assert_allclose(float(to_numpy(chunked_dist)), float(to_numpy(dist)), rtol=rtol)
