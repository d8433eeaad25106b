"""Never a silent wrong answer: dtypes, byte order, range, misused arguments, NumPy codebooks.

Every test runs on every backend (the ``xp`` fixture; on "jax_jit" vq's functions run under
jax.jit) and compares with a float64 brute-force reference on the host.  The estimators'
counterparts are in test_estimator_fidelity.py, the CLI's in test_cli.py.
"""
import math
import warnings

import numpy as np
import pytest

import array_api_compat
import xpcluster
from xpcluster import choose_k, metrics, vq
from backends import raises, settle, to_numpy

lazy_xp_modules = [vq]  # on "jax_jit", vq's functions run under jax.jit

F32_MAX = float(np.finfo(np.float32).max)
F64_MAX = float(np.finfo(np.float64).max)


def _separated(n_per=10, k=4, d=2, seed=0):
    """Well-separated blobs (centres 10 apart, spread 1): no point is near a tie."""
    rng = np.random.default_rng(seed)
    centres = 10.0 * np.array([[i % 2, i // 2] for i in range(k)], dtype=np.float64)[:, :d]
    points = np.concatenate([c + rng.uniform(-2, 2, size=(n_per, d)) for c in centres])
    return points, centres


# The reference's float: x86's 80-bit long double holds the squares of float64's extremes.
WIDE = np.longdouble if np.finfo(np.longdouble).maxexp > 1024 else np.float64


def _nearest(points, codes):
    """Brute force in WIDE (or float64), where the squares fit."""
    p, c = np.asarray(points, WIDE), np.asarray(codes, WIDE)
    return np.argmin(((p[:, None, :] - c[None, :, :]) ** 2).sum(axis=2), axis=1)


# Data at the edges of each dtype's range: (name, dtype, transform of unit-scale data).
RANGES = [
    ("1e30", "float32", lambda z: z * 1e30),
    ("1e-30", "float32", lambda z: z * 1e-30),
    ("f32max/4", "float32", lambda z: z * (F32_MAX / 4 / 25.0)),
    ("offset 1e4", "float32", lambda z: z + 1e4),
    ("1e300", "float64", lambda z: z * 1e300),
    ("1e-300", "float64", lambda z: z * 1e-300),
    ("f64max/4", "float64", lambda z: z * (F64_MAX / 4 / 25.0)),
    ("offset 1e12", "float64", lambda z: z + 1e12),
]


def _range_problem(transform, dtype):
    points, centres = _separated()
    return transform(points).astype(dtype), transform(centres).astype(dtype)


def _skip_without(xp, dtype):
    if dtype == "float64" and "float64" not in str(getattr(xp, "float64", "")):
        pytest.skip("backend has no float64")


@pytest.mark.parametrize("name,dtype,transform", RANGES, ids=[r[0] + "-" + r[1] for r in RANGES])
def test_vq_labels_at_the_edges_of_the_range(xp, name, dtype, transform):
    points, codes = _range_problem(transform, dtype)
    code, dist = vq.vq(xp.asarray(points), xp.asarray(codes))
    settle(code, dist)
    np.testing.assert_array_equal(to_numpy(code), _nearest(points, codes))
    if WIDE is np.float64 and dtype == "float64" and not name.startswith("offset"):
        pytest.skip("no long double wider than float64 here for the reference")
    wide_points, wide_codes = points.astype(WIDE), codes.astype(WIDE)
    expected = np.sqrt(((wide_points - wide_codes[_nearest(points, codes)]) ** 2).sum(axis=1)).astype(np.float64)
    got = to_numpy(dist)
    assert got.dtype == np.dtype(dtype)
    assert np.all(np.isfinite(got))
    if not name.startswith("offset"):  # offset: distances are differences of rounded data
        np.testing.assert_allclose(got, expected, rtol=1e-5 if dtype == "float32" else 1e-12)


@pytest.mark.parametrize("name,dtype,transform", RANGES, ids=[r[0] + "-" + r[1] for r in RANGES])
def test_kmeans2_at_the_edges_of_the_range(xp, name, dtype, transform):
    points, centres = _range_problem(transform, dtype)
    start = points[[0, 10, 20, 30]]
    centroids, labels = vq.kmeans2(xp.asarray(points), xp.asarray(start), iter=5, minit="matrix")
    settle(centroids, labels)
    got = to_numpy(centroids)
    assert got.dtype == np.dtype(dtype)
    assert np.all(np.isfinite(got))
    ref_centroids, ref_labels = vq.kmeans2(points.astype(np.float64), start.astype(np.float64), iter=5, minit="matrix")
    np.testing.assert_array_equal(to_numpy(labels), ref_labels)
    np.testing.assert_allclose(got, ref_centroids, rtol=1e-5 if dtype == "float32" else 1e-12)


@pytest.mark.parametrize("name,dtype,transform", RANGES[:3] + RANGES[4:7], ids=[r[0] + "-" + r[1] for r in RANGES[:3] + RANGES[4:7]])
def test_whiten_and_kmeans_at_the_edges_of_the_range(xp, name, dtype, transform):
    points, _ = _range_problem(transform, dtype)
    white = to_numpy(vq.whiten(xp.asarray(points)))
    np.testing.assert_allclose(white, vq.whiten(_separated()[0]), rtol=1e-4 if dtype == "float32" else 1e-10)
    guess = points[[0, 10, 20, 30]]
    book, distortion = vq.kmeans(xp.asarray(points), xp.asarray(guess))
    settle(book, distortion)
    ref_book, ref_distortion = vq.kmeans(points.astype(np.float64), guess.astype(np.float64))
    np.testing.assert_allclose(to_numpy(book), ref_book, rtol=1e-5 if dtype == "float32" else 1e-12)
    np.testing.assert_allclose(float(to_numpy(distortion)), ref_distortion, rtol=1e-4 if dtype == "float32" else 1e-10)


def test_a_result_beyond_the_dtype_is_an_error_naming_it(xp, backend):
    """float32 data near its maximum: the distances themselves exceed float32."""
    points = np.array([[-F32_MAX * 0.75, 0.0], [F32_MAX * 0.75, 0.0]], dtype=np.float32)
    codes = np.array([[F32_MAX * 0.75, 0.0]], dtype=np.float32)  # 1.5 times float32's maximum away
    with raises(backend, ValueError, match="exceeds the range of float32"):
        settle(*vq.vq(xp.asarray(points), xp.asarray(codes)))


# -- dtypes -------------------------------------------------------------------------------


def test_big_endian_data_is_float64(backend):
    """'>f8' is a float64 array whatever its byte order (NumPy, and Dask blocks of it)."""
    if backend not in ("numpy", "dask"):
        pytest.skip("only NumPy and Dask hold non-native byte order")
    rng = np.random.default_rng(0)
    native = np.concatenate([rng.normal(1e8, 1, size=(20, 2)), rng.normal(1e8 + 10, 1, size=(20, 2))])
    big = native.astype(">f8")
    if backend == "dask":
        import dask.array as da

        big = da.from_array(big, chunks=10)
    centroids, labels = vq.kmeans2(big, native[[0, 20]], iter=5, minit="matrix")
    ref_centroids, ref_labels = vq.kmeans2(native, native[[0, 20]], iter=5, minit="matrix")
    assert to_numpy(centroids).dtype == np.float64
    np.testing.assert_array_equal(to_numpy(labels), ref_labels)
    np.testing.assert_allclose(to_numpy(centroids), ref_centroids, rtol=1e-14)
    blobs = np.concatenate([rng.normal(c, 1, size=(30, 2)) for c in (0, 5, 10)]) * 1e6
    y = np.repeat([0, 1, 2], 30)
    big_blobs = blobs.astype(">f8")
    if backend == "dask":
        big_blobs = da.from_array(big_blobs, chunks=25)
    score = metrics.calinski_harabasz_score(big_blobs, y)
    np.testing.assert_allclose(float(to_numpy(score)), float(metrics.calinski_harabasz_score(blobs, y)), rtol=1e-12)


def test_int64_near_2_to_the_40_computes_in_float64(xp):
    """float32 cannot tell these integers apart (its step at 2**40 is 65536)."""
    rng = np.random.default_rng(1)
    codes = 2**40 + np.array([[0, 0], [40_000, 0]], dtype=np.int64)
    points = codes[rng.integers(0, 2, size=24)] + rng.integers(-15_000, 15_000, size=(24, 2))
    code, dist = vq.vq(xp.asarray(points), xp.asarray(codes))
    settle(code, dist)
    np.testing.assert_array_equal(to_numpy(code), _nearest(points - 2**40, codes - 2**40))
    assert to_numpy(dist).dtype == np.float64
    centroids, labels = vq.kmeans2(xp.asarray(points), xp.asarray(codes), iter=3, minit="matrix")
    settle(centroids, labels)
    ref = vq.kmeans2((points - 2**40).astype(np.float64), (codes - 2**40).astype(np.float64), iter=3, minit="matrix")
    np.testing.assert_array_equal(to_numpy(labels), ref[1])
    np.testing.assert_allclose(to_numpy(centroids) - 2**40, ref[0], atol=1e-3)


def test_integers_beyond_exact_float_warn(xp):
    points = np.array([[2**60, 0], [2**60 + 1, 0], [0, 0]], dtype=np.int64)
    with pytest.warns(xpcluster.PrecisionWarning, match="beyond"):
        settle(vq.whiten(xp.asarray(points)))


def test_half_precision_computes_and_returns_float32(backend):
    if backend not in ("numpy", "torch"):
        pytest.skip("float16/bfloat16 input is tested where the library has it: NumPy, PyTorch")
    points, _ = _separated()
    start = points[[0, 10, 20, 30]]
    reference = vq.kmeans2(points.astype(np.float32), start.astype(np.float32), iter=5, minit="matrix")
    halves = [points.astype(np.float16)]
    if backend == "torch":
        import torch

        halves = [torch.asarray(points).to(torch.float16), torch.asarray(points).to(torch.bfloat16)]
    for half in halves:
        half_start = half[[0, 10, 20, 30]]
        centroids, labels = vq.kmeans2(half, half_start, iter=5, minit="matrix")
        assert to_numpy(centroids).dtype == np.float32
        np.testing.assert_array_equal(to_numpy(labels), reference[1])
        np.testing.assert_allclose(to_numpy(centroids), reference[0], rtol=2e-2, atol=2e-2)
        code, dist = vq.vq(half, half_start)
        assert to_numpy(dist).dtype == np.float32


# -- arguments accepted and then misused ------------------------------------------------


@pytest.mark.parametrize("thresh", [math.nan, math.inf, -1.0])
def test_kmeans_refuses_a_threshold_it_cannot_use(xp, thresh):
    with pytest.raises(ValueError, match="thresh must be a finite number >= 0"):
        vq.kmeans(xp.asarray(_separated()[0]), 3, thresh=thresh, rng=0)


def test_bool_k_and_fractional_iter_are_type_errors(xp):
    data = xp.asarray(_separated()[0])
    with pytest.raises(TypeError, match="bool"):
        vq.kmeans2(data, True)
    with pytest.raises(TypeError, match="bool"):
        vq.kmeans(data, True)
    with pytest.raises(TypeError, match="integer"):
        vq.kmeans2(data, 2, iter=2.5)
    with pytest.raises(TypeError, match="integer"):
        vq.kmeans(data, 2, iter=2.5)


def test_random_init_on_constant_data_is_linalg_error_everywhere(xp, backend):
    """SciPy raises LinAlgError (the covariance is singular); so does every backend, JAX
    and jax.jit included, instead of returning NaN centroids."""
    constant = xp.asarray(np.ones((20, 3)))
    with raises(backend, np.linalg.LinAlgError, match="positive definite"):
        settle(*vq.kmeans2(constant, 3, minit="random", rng=0))


def test_vq_never_picks_a_nan_code(xp):
    """With check_finite=False SciPy ignores NaN codes; jitted kmeans pads with NaN rows."""
    points, codes = _separated()
    padded = np.concatenate([codes[:1] * np.nan, codes, codes[:1] * np.inf])
    code, dist = vq.vq(xp.asarray(points), xp.asarray(padded), check_finite=False)
    settle(code, dist)
    np.testing.assert_array_equal(to_numpy(code), _nearest(points, codes) + 1)
    assert np.all(np.isfinite(to_numpy(dist)))


def test_whiten_of_rows_all_masked_out_is_empty_input(backend):
    if backend != "dask":
        pytest.skip("Dask-specific: a boolean mask leaves the row count unknown")
    import dask.array as da

    x = da.from_array(_separated()[0], chunks=10)
    with pytest.raises(ValueError, match="Empty input"):
        settle(vq.whiten(x[x[:, 0] > 1e9]))


def test_cosine_silhouette_of_a_zero_row_is_zero(xp):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 3))
    X[0] = 0.0
    y = np.repeat([0, 1, 2], 4)
    values = to_numpy(metrics.silhouette_samples(xp.asarray(X), xp.asarray(y), metric="cosine"))
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    np.testing.assert_allclose(values, sklearn_metrics.silhouette_samples(X, y, metric="cosine"), atol=1e-10)
    assert values[0] == 0.0


def test_inertia_label_beyond_the_centres_is_a_clear_error(xp):
    """On Dask the check fires at compute, not as an IndexError from inside a block."""
    points, centres = _separated()
    labels = _nearest(points, centres)
    labels[3] = 7
    with pytest.raises(ValueError, match="labels must index the rows of centers"):
        settle(metrics.inertia(xp.asarray(points), xp.asarray(labels), centers=xp.asarray(centres)))


def test_metrics_at_the_edges_of_the_range(xp):
    """Silhouette, CH and DB are ratios: the same scores at 1e30 and 1e-30 in float32."""
    points, centres = _separated()
    y = _nearest(points, centres)
    expected = [metrics.silhouette_score(points, y), metrics.calinski_harabasz_score(points, y),
                metrics.davies_bouldin_score(points, y)]
    for scale in (1e30, 1e-30, F32_MAX / 4 / 25.0):
        Z = xp.asarray((points * scale).astype(np.float32))
        got = [metrics.silhouette_score(Z, xp.asarray(y)), metrics.calinski_harabasz_score(Z, xp.asarray(y)),
               metrics.davies_bouldin_score(Z, xp.asarray(y))]
        np.testing.assert_allclose([float(to_numpy(g)) for g in got], expected, rtol=1e-4)


def test_float32_inertia_beyond_float32_is_an_error(xp):
    points, centres = _separated()
    y = _nearest(points, centres)
    with pytest.raises(ValueError, match="inertia exceeds the range of float32"):
        settle(metrics.inertia(xp.asarray((points * 1e30).astype(np.float32)), xp.asarray(y)))
    with pytest.raises(ValueError, match="inertia is below the range of float32"):
        settle(metrics.inertia(xp.asarray((points * 1e-30).astype(np.float32)), xp.asarray(y)))
    wide = metrics.inertia(xp.asarray(points * 1e30), xp.asarray(y))
    np.testing.assert_allclose(float(to_numpy(wide)), float(metrics.inertia(points, y)) * 1e60, rtol=1e-10)


@pytest.mark.parametrize("method", ["elbow", "silhouette", "gap"])
def test_choose_k_refuses_constant_data(xp, method):
    with pytest.raises(ValueError, match="single distinct point"):
        choose_k.choose_k(xp.asarray(np.full((20, 2), 3.0)), range(2, 5), method=method)


def test_data_frames_with_missing_values_meet_the_nan_error():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"a": pd.array([1, 2, None, 4, 5, 6], dtype="Int64"), "b": np.arange(6.0)})
    for call in (lambda: vq.kmeans2(frame, 2, rng=0), lambda: vq.whiten(frame),
                 lambda: metrics.silhouette_score(frame, [0, 0, 0, 1, 1, 1]),
                 lambda: xpcluster.KMeans(2, n_init=1).fit(frame)):
        with pytest.raises(ValueError, match="NaN"):
            call()
    complete = pd.DataFrame({"a": pd.array([1, 2, 3, 4, 5, 6], dtype="Int64"), "b": np.arange(6.0)})
    np.testing.assert_allclose(vq.whiten(complete), vq.whiten(complete.to_numpy(dtype=np.float64)))


# -- one rule for a NumPy codebook ------------------------------------------------------


def test_a_numpy_codebook_goes_with_data_of_any_library(xp):
    points, centres = _separated()
    x = xp.asarray(points)
    device = array_api_compat.device(x)
    start = points[[0, 10, 20, 30]]
    outputs = [*vq.kmeans2(x, start, iter=3, minit="matrix"), *vq.vq(x, centres), *vq.kmeans(x, start)]
    settle(*outputs)
    ref = [*vq.kmeans2(points, start, iter=3, minit="matrix"), *vq.vq(points, centres), *vq.kmeans(points, start)]
    for got, want in zip(outputs, ref):
        assert type(got).__module__.split(".")[0] == type(x).__module__.split(".")[0]
        if device is not None:
            assert array_api_compat.device(got) == device
        np.testing.assert_allclose(to_numpy(got), want, rtol=1e-12)
    total = metrics.inertia(x, xp.asarray(_nearest(points, centres)), centers=centres)
    np.testing.assert_allclose(float(to_numpy(total)), float(metrics.inertia(points, _nearest(points, centres), centers=centres)))
