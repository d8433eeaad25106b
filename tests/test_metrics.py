"""xpcluster.metrics: scikit-learn's scores on NumPy, the NumPy answer on every backend, bounded memory."""
import time
import tracemalloc

import numpy as np
import pytest
import sklearn.metrics as skm
from array_api_extra.testing import lazy_xp_function
from sklearn.cluster import KMeans as SkKMeans
from sklearn.datasets import load_iris, load_wine, make_blobs

import xpcluster
from xpcluster import metrics
from backends import raises, settle, to_numpy

SCORES = ("silhouette_score", "calinski_harabasz_score", "davies_bouldin_score")
PUBLIC = (*SCORES, "silhouette_samples", "inertia")

# On "jax_jit" every call of these from this module runs under jax.jit; on "dask" a call
# may compute one thing: the distinct labels (their number decides the shapes).
lazy_xp_modules = [metrics]
for _name in PUBLIC:
    lazy_xp_function(getattr(metrics, _name), allow_dask_compute=1)


def blobs(n=150, d=3, centers=4, seed=0, spread=1.0):
    X, y = make_blobs(n, n_features=d, centers=centers, cluster_std=spread, random_state=seed)
    return X, y


def odd_labels(y):
    """The same partition under arbitrary integer labels (negative, gaps, unsorted)."""
    return np.array([-7, 40, 3, 1000, -1, 12, 8, 99])[y] if y.max() < 8 else y * 13 - 50


def datasets():
    X, y = blobs()
    yield "blobs", X, odd_labels(y)
    X, y = blobs(n=300, d=12, centers=5, seed=1, spread=3.0)  # d > 8: the matrix-product distances
    yield "blobs_d12", X, y
    X, y = blobs(n=400, d=2, centers=90, seed=2)  # k > 64: segment sums over full-width tiles
    yield "blobs_k90", X, y
    iris = load_iris()
    yield "iris", iris.data, iris.target
    wine = load_wine()  # features on very different scales
    yield "wine", wine.data, wine.target
    X = np.random.default_rng(3).normal(size=(200, 4))
    yield "noise", X, np.random.default_rng(4).integers(0, 6, size=200)


DATASETS = list(datasets())


def relative_error(a, b):
    return abs(float(a) - float(b)) / max(abs(float(b)), 1e-300)


# --------------------------------------------------------------------------------------
# scikit-learn parity on NumPy


@pytest.mark.parametrize("score", SCORES)
@pytest.mark.parametrize("name, X, y", DATASETS, ids=[d[0] for d in DATASETS])
def test_scores_equal_sklearn(score, name, X, y):
    ours = getattr(metrics, score)(X, y)
    theirs = getattr(skm, score)(X, y)
    assert isinstance(ours, float)  # numpy.float64 for float64 NumPy input
    assert relative_error(ours, theirs) < 1e-9, (ours, theirs)


@pytest.mark.parametrize("metric", ["euclidean", "sqeuclidean", "manhattan", "cosine", "l2", "l1", "cityblock"])
@pytest.mark.parametrize("name, X, y", DATASETS[:3], ids=[d[0] for d in DATASETS[:3]])
def test_silhouette_samples_equal_sklearn(metric, name, X, y):
    ours = metrics.silhouette_samples(X, y, metric=metric)
    theirs = skm.silhouette_samples(X, y, metric=metric)
    assert ours.dtype == np.float64 and ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)
    assert relative_error(metrics.silhouette_score(X, y, metric=metric), skm.silhouette_score(X, y, metric=metric)) < 1e-9


def test_silhouette_edge_cases_equal_sklearn():
    # Singleton clusters score 0; duplicated points give 0/0, which scikit-learn makes 0.
    X = np.array([[0.0, 0], [0, 0], [0, 0], [5, 5], [5, 6], [9, 9], [2, 2]])
    y = np.array([0, 0, 0, 1, 1, 2, 0])
    np.testing.assert_allclose(metrics.silhouette_samples(X, y), skm.silhouette_samples(X, y), atol=1e-12)
    X = np.array([[1.0], [1.0], [1.0], [1.0]])
    y = np.array([0, 0, 1, 1])
    np.testing.assert_array_equal(metrics.silhouette_samples(X, y), skm.silhouette_samples(X, y))
    assert float(metrics.davies_bouldin_score(X, y)) == skm.davies_bouldin_score(X, y) == 0.0
    assert float(metrics.calinski_harabasz_score(X, y)) == skm.calinski_harabasz_score(X, y) == 1.0


@pytest.mark.parametrize("random_state", [0, 123, "RandomState"])
@pytest.mark.parametrize("sample_size", [40, 149, 500])
def test_silhouette_sample_size_draws_like_sklearn(random_state, sample_size):
    X, y = blobs()

    def source():
        return np.random.RandomState(5) if random_state == "RandomState" else random_state

    ours = metrics.silhouette_score(X, y, sample_size=sample_size, random_state=source())
    theirs = skm.silhouette_score(X, y, sample_size=sample_size, random_state=source())
    assert relative_error(ours, theirs) < 1e-9
    if sample_size < len(X):
        assert relative_error(ours, skm.silhouette_score(X, y)) > 1e-6  # a subset really was scored


def test_float32_stays_float32_and_is_close():
    X, y = blobs(n=400, d=3)
    X32 = (X + 1000.0).astype(np.float32)  # far from the origin: the expansion would cancel
    for score in SCORES:
        ours = getattr(metrics, score)(X32, y)
        assert ours.dtype == np.float32
        assert relative_error(ours, getattr(skm, score)(X32.astype(np.float64), y)) < 1e-4
    samples = metrics.silhouette_samples(X32, y)
    assert samples.dtype == np.float32
    np.testing.assert_allclose(samples, skm.silhouette_samples(X32.astype(np.float64), y), atol=2e-4)


def test_labels_are_any_integers():
    X, y = blobs()
    for score in SCORES:
        reference = getattr(metrics, score)(X, y)
        assert relative_error(getattr(metrics, score)(X, odd_labels(y)), reference) < 1e-12
        assert relative_error(getattr(metrics, score)(X, y.astype(np.int8)), reference) < 1e-12
        assert relative_error(getattr(metrics, score)(X, y.astype(np.float64) + 0.5), reference) < 1e-12
    two = (y > 1)
    assert relative_error(metrics.silhouette_score(X, two), skm.silhouette_score(X, two)) < 1e-12


def test_integer_data_becomes_float64():
    X, y = blobs()
    Xi = np.round(X * 10).astype(np.int64)
    for score in SCORES:
        ours = getattr(metrics, score)(Xi, y)
        assert ours.dtype == np.float64
        assert relative_error(ours, getattr(skm, score)(Xi, y)) < 1e-9


def test_memory_budget_does_not_change_results():
    X, y = blobs(n=300, d=3)
    reference = metrics.silhouette_samples(X, y)
    with xpcluster.memory_budget(4096):  # tiles of a few rows and columns
        np.testing.assert_allclose(metrics.silhouette_samples(X, y), reference, rtol=1e-12)
        for score in SCORES:
            assert relative_error(getattr(metrics, score)(X, y), getattr(skm, score)(X, y)) < 1e-9


# --------------------------------------------------------------------------------------
# inertia


def test_inertia_equals_sklearn_kmeans():
    X, _ = blobs(n=300, d=4, centers=5)
    weights = np.random.default_rng(0).uniform(0.5, 2.0, size=len(X))
    for sample_weight in (None, weights):
        km = SkKMeans(5, n_init=3, random_state=0).fit(X, sample_weight=sample_weight)
        ours = metrics.inertia(X, km.labels_, km.cluster_centers_, sample_weight=sample_weight)
        assert relative_error(ours, km.inertia_) < 1e-9


def test_inertia_without_centers_uses_the_cluster_means():
    X, y = blobs()
    labels = odd_labels(y)
    weights = np.random.default_rng(1).uniform(0.0, 3.0, size=len(X))
    expected = expected_weighted = 0.0
    for value in np.unique(labels):
        members, w = X[labels == value], weights[labels == value]
        expected += ((members - members.mean(axis=0)) ** 2).sum()
        centre = (w[:, None] * members).sum(axis=0) / w.sum()
        expected_weighted += (w * ((members - centre) ** 2).sum(axis=1)).sum()
    assert relative_error(metrics.inertia(X, labels), expected) < 1e-12
    assert relative_error(metrics.inertia(X, labels, sample_weight=weights), expected_weighted) < 1e-12
    # One cluster is fine for inertia (the total sum of squares).
    assert relative_error(metrics.inertia(X, np.zeros(len(X), dtype=int)), ((X - X.mean(axis=0)) ** 2).sum()) < 1e-12


def test_inertia_bad_input():
    X, y = blobs()
    centers = np.zeros((4, 3))
    with pytest.raises(ValueError, match="0 <= label < 4"):
        metrics.inertia(X, y + 1, centers)
    with pytest.raises(ValueError, match="0 <= label < 4"):
        metrics.inertia(X, y - 1, centers)
    with pytest.raises(ValueError, match="centers must have shape"):
        metrics.inertia(X, y, np.zeros((4, 2)))
    with pytest.raises(ValueError, match="integer indices"):
        metrics.inertia(X, y.astype(float), centers)
    with pytest.raises(ValueError, match="sample_weight.shape"):
        metrics.inertia(X, y, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="non-negative"):
        metrics.inertia(X, y, sample_weight=-np.ones(len(X)))


# --------------------------------------------------------------------------------------
# bad input (scikit-learn's errors)


@pytest.mark.parametrize("score", [*SCORES, "silhouette_samples"])
def test_bad_input_numpy(score):
    fn = getattr(metrics, score)
    X, y = blobs()
    with pytest.raises(ValueError, match="Number of labels is 1. Valid values are 2 to n_samples - 1"):
        fn(X, np.zeros(len(X), dtype=int))
    with pytest.raises(ValueError, match="Number of labels is 150. Valid values are 2 to n_samples - 1"):
        fn(X, np.arange(len(X)))
    with pytest.raises(ValueError, match=r"inconsistent numbers of samples: \[150, 149\]"):
        fn(X, y[:-1])
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        fn(X[:, 0], y)
    with pytest.raises(ValueError, match="1d array"):
        fn(X, np.stack([y, y], axis=1))
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN or infinity"):
        fn(bad, y)
    bad[3, 1] = np.inf
    with pytest.raises(ValueError, match="Input X contains NaN or infinity"):
        fn(bad, y)
    with pytest.raises(ValueError, match="labels contain NaN"):
        fn(X, np.where(y == 0, np.nan, y))


def test_bad_arguments():
    X, y = blobs()
    # scikit-learn's InvalidParameterError: a ValueError and a TypeError.
    for bad in ("chebychev", 3, None):
        for fn in (metrics.silhouette_score, metrics.silhouette_samples):
            with pytest.raises(ValueError, match=rf"The 'metric' parameter of {fn.__name__} must be a str among .*'yule'.* or a callable. Got {bad!r} instead") as info:
                fn(X, y, metric=bad)
            assert isinstance(info.value, TypeError)
    for size in (0, -5, 2.5, True):
        with pytest.raises(ValueError, match="sample_size must be a positive integer"):
            metrics.silhouette_score(X, y, sample_size=size)


def test_inputs_are_not_modified():
    X, y = blobs()
    X.flags.writeable = False
    y.flags.writeable = False
    for score in PUBLIC:
        getattr(metrics, score)(X, y)


# --------------------------------------------------------------------------------------
# every backend gives the NumPy answer


def _numpy_answers(X, y, idx, centers, weights):
    return {
        "silhouette_score": metrics.silhouette_score(X, y),
        "silhouette_sample_size": metrics.silhouette_score(X, y, sample_size=60, random_state=0),
        "silhouette_samples": metrics.silhouette_samples(X, y),
        "silhouette_manhattan": metrics.silhouette_samples(X, y, metric="manhattan"),
        "calinski_harabasz_score": metrics.calinski_harabasz_score(X, y),
        "davies_bouldin_score": metrics.davies_bouldin_score(X, y),
        "inertia": metrics.inertia(X, y),
        "inertia_centers": metrics.inertia(X, idx, centers, sample_weight=weights),
    }


def test_every_backend_gives_the_numpy_answer(xp, backend):
    X, y = blobs(n=120, d=3)
    y = odd_labels(y)
    centers = np.random.default_rng(0).normal(size=(4, 3))
    idx = np.unique(y, return_inverse=True)[1]
    weights = np.random.default_rng(1).uniform(size=len(X))
    with xpcluster.array_api_dispatch(False):
        expected = _numpy_answers(X, y, idx, centers, weights)
    Xb, yb = xp.asarray(X), xp.asarray(y)
    got = {
        "silhouette_score": metrics.silhouette_score(Xb, yb),
        "silhouette_sample_size": metrics.silhouette_score(Xb, yb, sample_size=60, random_state=0),
        "silhouette_samples": metrics.silhouette_samples(Xb, yb),
        "silhouette_manhattan": metrics.silhouette_samples(Xb, yb, metric="manhattan"),
        "calinski_harabasz_score": metrics.calinski_harabasz_score(Xb, yb),
        "davies_bouldin_score": metrics.davies_bouldin_score(Xb, yb),
        "inertia": metrics.inertia(Xb, yb),
        "inertia_centers": metrics.inertia(Xb, xp.asarray(idx), xp.asarray(centers), sample_weight=xp.asarray(weights)),
    }
    for name, value in got.items():
        assert type(value).__module__.split(".")[0] == type(Xb).__module__.split(".")[0], name
        np.testing.assert_allclose(to_numpy(value), expected[name], rtol=1e-9, err_msg=name)
    assert got["silhouette_samples"].shape == (120,)


def test_every_backend_float32(xp, backend):
    X, y = blobs(n=90, d=2)
    Xb = xp.asarray(X.astype(np.float32))
    for score in SCORES:
        value = getattr(metrics, score)(Xb, xp.asarray(y))
        assert value.dtype == xp.float32
        assert relative_error(to_numpy(value), getattr(skm, score)(X.astype(np.float32).astype(np.float64), y)) < 1e-4


def test_every_backend_bad_input(xp, backend):
    X, y = blobs(n=60)
    for score in [*SCORES, "silhouette_samples"]:
        fn = getattr(metrics, score)
        with raises(backend, ValueError, match="Valid values are 2 to n_samples - 1"):
            settle(fn(xp.asarray(X), xp.asarray(np.zeros(60, dtype=np.int64))))
        with raises(backend, ValueError, match="Valid values are 2 to n_samples - 1"):
            settle(fn(xp.asarray(X), xp.asarray(np.arange(60))))
        with pytest.raises(ValueError, match="inconsistent numbers of samples"):
            fn(xp.asarray(X), xp.asarray(y[:-1]))
        bad = X.copy()
        bad[5, 0] = np.nan
        with raises(backend, ValueError, match="Input X contains NaN or infinity"):
            settle(fn(xp.asarray(bad), xp.asarray(y)))


# --------------------------------------------------------------------------------------
# memory: never an n-by-n matrix


def test_silhouette_memory_is_bounded_n20000():
    n = 20_000
    X, y = blobs(n=n, d=2, centers=5)
    tracemalloc.start()
    try:
        start = time.perf_counter()
        values = metrics.silhouette_samples(X, y)
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # An n-by-n float64 matrix would be 3.2 GB; the tiles and the outputs take a few MiB.
    assert peak < 16 * 2**20, f"peak {peak / 2**20:.1f} MiB"
    assert peak < n * n * 8 / 100
    assert np.all((values >= -1) & (values <= 1))
    # Spot check against scikit-learn on a slice (its rows against all n samples).
    rows = np.arange(0, n, 997)
    intra_inter = _reference_silhouette_rows(X, y, rows)
    np.testing.assert_allclose(values[rows], intra_inter, rtol=1e-9, atol=1e-12)
    print(f"silhouette n={n}: {elapsed:.2f} s, peak {peak / 2**20:.1f} MiB")


def _reference_silhouette_rows(X, y, rows):
    """Plain NumPy silhouette of the given rows, against every sample."""
    out = []
    for i in rows:
        dist = np.sqrt(((X - X[i]) ** 2).sum(axis=1))
        own = y == y[i]
        a = dist[own].sum() / (own.sum() - 1)
        b = min(dist[y == c].mean() for c in np.unique(y) if c != y[i])
        out.append((b - a) / max(a, b))
    return np.array(out)


@pytest.mark.slow
def test_silhouette_memory_is_bounded_n100000():
    n = 100_000
    X, y = blobs(n=n, d=2, centers=5)
    tracemalloc.start()
    try:
        start = time.perf_counter()
        score = metrics.silhouette_score(X, y)
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 32 * 2**20, f"peak {peak / 2**20:.1f} MiB"  # an n-by-n matrix: 80 GB
    assert -1 <= float(score) <= 1
    print(f"silhouette n={n}: {elapsed:.1f} s, peak {peak / 2**20:.1f} MiB")


def test_docstring_examples():
    import doctest

    with xpcluster.array_api_dispatch(False):
        result = doctest.testmod(metrics, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


# --------------------------------------------------------------------------------------
# silhouette: every metric of scikit-learn's pairwise_distances, its keywords, precomputed
# matrices and sparse input

import warnings  # noqa: E402

import scipy.sparse as sp  # noqa: E402
from sklearn.metrics import pairwise_distances  # noqa: E402

SPARSE_FORMATS = (sp.csr_matrix, sp.csr_array, sp.csc_matrix, sp.csc_array, sp.dok_matrix, sp.dok_array, sp.lil_matrix, sp.lil_array, sp.coo_array)
BOOLEAN_METRICS = ("dice", "jaccard", "rogerstanimoto", "russellrao", "sokalsneath", "yule")
HOST_METRICS = ("braycurtis", "canberra", "correlation", "hamming", "matching", "mahalanobis", *BOOLEAN_METRICS)
_W4 = np.array([0.5, 2.0, 0.0, 1.0])

#: (metric, kwds): native on every backend.
NATIVE_CASES = [
    ("euclidean", {}), ("l2", {}), ("nan_euclidean", {}), ("euclidean", {"squared": True}),
    ("sqeuclidean", {}), ("sqeuclidean", {"w": _W4}),
    ("manhattan", {}), ("cityblock", {}), ("l1", {}), ("cosine", {}),
    ("chebyshev", {}), ("chebyshev", {"w": _W4}),
    ("minkowski", {}), ("minkowski", {"p": 1}), ("minkowski", {"p": 3}), ("minkowski", {"p": 0.5}),
    ("minkowski", {"p": 1.5, "w": _W4}), ("minkowski", {"p": np.inf}),
    ("seuclidean", {}), ("seuclidean", {"V": np.array([1.0, 4.0, 0.25, 2.0])}),
]


def _case_id(case):
    metric, kwds = case
    return metric + "".join(f"-{key}" if isinstance(v, np.ndarray) else f"-{key}={v}" for key, v in kwds.items())


def four_feature_data(n=120, seed=0):
    X, y = blobs(n=n, d=4, centers=4, seed=seed, spread=2.0)
    return X, y


def lat_lon(n=90, seed=0):
    """Latitudes and longitudes (radians) around three places."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.8, -1.2], [-0.3, 2.0], [0.1, 0.4]])
    y = rng.integers(0, 3, size=n)
    return centres[y] + rng.normal(scale=0.15, size=(n, 2)), y


def test_metric_names_are_sklearns():
    from sklearn.metrics.pairwise import _VALID_METRICS

    names = {m for m, _ in NATIVE_CASES} | set(HOST_METRICS) | {"haversine"}
    # wminkowski: listed by scikit-learn 1.9, gone from SciPy 1.17 (tested with the errors).
    assert names == set(_VALID_METRICS) - {"wminkowski"}


@pytest.mark.parametrize("case", NATIVE_CASES, ids=[_case_id(c) for c in NATIVE_CASES])
def test_native_metric_equals_sklearn(case):
    metric, kwds = case
    X, y = four_feature_data()
    ours = metrics.silhouette_samples(X, y, metric=metric, **kwds)
    theirs = skm.silhouette_samples(X, y, metric=metric, **kwds)
    assert ours.dtype == np.float64
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)
    assert relative_error(metrics.silhouette_score(X, y, metric=metric, **kwds), skm.silhouette_score(X, y, metric=metric, **kwds)) < 1e-9


@pytest.mark.parametrize("metric", HOST_METRICS)
def test_scipy_metric_equals_sklearn(metric):
    X, y = four_feature_data()
    if metric in BOOLEAN_METRICS:
        X = X > np.median(X, axis=0)
    elif metric in ("hamming", "matching"):  # the share of features that differ
        X = np.round(X / 3)
    else:
        X = X - X.min(axis=0) + 0.5  # braycurtis and canberra are meant for positive data
    ours = metrics.silhouette_samples(X, y, metric=metric)
    np.testing.assert_allclose(ours, skm.silhouette_samples(X, y, metric=metric), rtol=1e-9, atol=1e-12)
    assert np.ptp(ours) > 0.1  # a real distance, not a constant


@pytest.mark.parametrize("metric, kwds", [("manhattan", {}), ("chebyshev", {}), ("minkowski", {"p": 3}), ("minkowski", {"p": 0.7})])
def test_featurewise_metrics_on_wide_data(metric, kwds):
    X, y = blobs(n=200, d=40, centers=3, seed=5, spread=4.0)  # several features per pass
    expected = skm.silhouette_samples(X, y, metric=metric, **kwds)
    np.testing.assert_allclose(metrics.silhouette_samples(X, y, metric=metric, **kwds), expected, rtol=1e-9, atol=1e-12)
    with xpcluster.memory_budget(20_000):  # small tiles: more features per pass
        np.testing.assert_allclose(metrics.silhouette_samples(X, y, metric=metric, **kwds), expected, rtol=1e-9, atol=1e-12)


def test_haversine_equals_sklearn():
    X, y = lat_lon()
    ours = metrics.silhouette_samples(X, y, metric="haversine")
    np.testing.assert_allclose(ours, skm.silhouette_samples(X, y, metric="haversine"), rtol=1e-9, atol=1e-12)
    # Not the Euclidean distance of the angles: longitudes shrink towards the poles.
    assert np.abs(ours - skm.silhouette_samples(X, y)).max() > 1e-3


def test_keywords_pass_through_like_sklearn():
    X, y = four_feature_data()
    p2 = metrics.silhouette_samples(X, y, metric="minkowski")
    p3 = metrics.silhouette_samples(X, y, metric="minkowski", p=3)
    assert np.abs(p3 - p2).max() > 1e-3  # p changes the distance...
    np.testing.assert_allclose(p3, skm.silhouette_samples(X, y, metric="minkowski", p=3), rtol=1e-9)  # ...as in scikit-learn
    np.testing.assert_allclose(p2, skm.silhouette_samples(X, y, metric="euclidean"), rtol=1e-9)
    # SciPy's keywords reach SciPy: mahalanobis' VI, hamming's w.
    VI = np.diag([1.0, 0.5, 2.0, 1.0])
    ours = metrics.silhouette_samples(X, y, metric="mahalanobis", VI=VI)
    np.testing.assert_allclose(ours, skm.silhouette_samples(X, y, metric="mahalanobis", VI=VI), rtol=1e-9)
    assert np.abs(ours - metrics.silhouette_samples(X, y, metric="mahalanobis")).max() > 1e-3
    Xi = np.round(X)
    np.testing.assert_allclose(
        metrics.silhouette_samples(Xi, y, metric="hamming", w=_W4),
        skm.silhouette_samples(Xi, y, metric="hamming", w=_W4), rtol=1e-9, atol=1e-12,
    )
    # A callable gets the rows and the keywords.
    seen = []

    def scaled_manhattan(u, v, scale):
        seen.append(scale)
        return scale * np.abs(u - v).sum()

    ours = metrics.silhouette_samples(X[:40], y[:40], metric=scaled_manhattan, scale=3.0)
    np.testing.assert_allclose(ours, skm.silhouette_samples(X[:40], y[:40], metric="manhattan"), rtol=1e-9)
    assert set(seen) == {3.0} and len(seen) >= 40 * 40
    # scikit-learn's chunking keywords are accepted; working_memory is the budget.
    np.testing.assert_allclose(metrics.silhouette_samples(X, y, working_memory=0.001, n_jobs=2, ensure_all_finite=True),
                               skm.silhouette_samples(X, y), rtol=1e-9)


def test_boolean_metrics_convert_with_sklearns_warning():
    X, y = four_feature_data()
    X = np.round(X - X.mean(axis=0)).clip(0, None)  # zeros and positive integers
    with pytest.warns(UserWarning, match="Data was converted to boolean for metric jaccard"):
        ours = metrics.silhouette_samples(X, y, metric="jaccard")
    np.testing.assert_allclose(ours, metrics.silhouette_samples(X != 0, y, metric="jaccard"), rtol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        metrics.silhouette_samples(X != 0, y, metric="jaccard")  # booleans: nothing to say


@pytest.mark.parametrize("metric", ["euclidean", "cosine", "chebyshev", "canberra"])
def test_precomputed_equals_the_metric(metric):
    X, y = four_feature_data()
    X = X - X.min(axis=0) + 0.5
    D = pairwise_distances(X, metric=metric)
    expected = metrics.silhouette_samples(X, y, metric=metric)
    np.testing.assert_allclose(metrics.silhouette_samples(D, y, metric="precomputed"), expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(skm.silhouette_samples(D, y, metric="precomputed"), expected, rtol=1e-9, atol=1e-12)
    for fmt in SPARSE_FORMATS:
        ours = metrics.silhouette_samples(fmt(D), y, metric="precomputed")
        assert type(ours) is np.ndarray
        np.testing.assert_allclose(ours, expected, rtol=1e-9, atol=1e-12, err_msg=fmt.__name__)
    # A subset: the matrix's rows and columns of the subset, drawn as scikit-learn draws it.
    for data in (D, sp.csr_array(D), sp.lil_matrix(D)):
        ours = metrics.silhouette_score(data, y, metric="precomputed", sample_size=50, random_state=7)
        assert relative_error(ours, skm.silhouette_score(D, y, metric="precomputed", sample_size=50, random_state=7)) < 1e-9


def test_precomputed_sparse_missing_entries_are_zero():
    # Two tight pairs and a far point: the zeros of the pairs are left out of the sparse matrix.
    D = np.array([[0.0, 0.0, 5.0, 5.0, 9.0], [0.0, 0.0, 5.0, 5.0, 9.0], [5.0, 5.0, 0.0, 0.0, 4.0],
                  [5.0, 5.0, 0.0, 0.0, 4.0], [9.0, 9.0, 4.0, 4.0, 0.0]])
    y = np.array([0, 0, 1, 1, 1])
    S = sp.csr_array(D)
    assert S.nnz == 16  # 9 zeros left out: the diagonal and the two pairs
    np.testing.assert_allclose(metrics.silhouette_samples(S, y, metric="precomputed"),
                               skm.silhouette_samples(D, y, metric="precomputed"), rtol=1e-12)


def test_precomputed_integers_and_float32():
    # scikit-learn's non-regression test for integer matrices (#22107).
    assert metrics.silhouette_score([[0, 1, 2], [1, 0, 1], [2, 1, 0]], [0, 0, 1], metric="precomputed") == pytest.approx(1 / 6)
    X, y = four_feature_data()
    D32 = pairwise_distances(X).astype(np.float32)
    ours = metrics.silhouette_samples(D32, y, metric="precomputed")
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, skm.silhouette_samples(D32.astype(np.float64), y, metric="precomputed"), atol=1e-5)


@pytest.mark.parametrize("metric", ["euclidean", "sqeuclidean", "cosine", "manhattan", "minkowski", "seuclidean", "chebyshev", "correlation"])
def test_sparse_features_equal_dense(metric):
    X, y = four_feature_data()
    X = np.where(np.abs(X) < 3, 0.0, X)  # mostly zeros
    expected = skm.silhouette_samples(X, y, metric=metric)
    for fmt in SPARSE_FORMATS:
        ours = metrics.silhouette_samples(fmt(X), y, metric=metric)
        np.testing.assert_allclose(ours, expected, rtol=1e-9, atol=1e-12, err_msg=fmt.__name__)
    S = sp.csc_matrix(X)
    assert relative_error(metrics.silhouette_score(S, y, metric=metric, sample_size=60, random_state=3),
                          skm.silhouette_score(X, y, metric=metric, sample_size=60, random_state=3)) < 1e-9
    # float32 stays float32 and close to the float64 answer.
    ours32 = metrics.silhouette_samples(sp.csr_array(X.astype(np.float32)), y, metric=metric)
    assert ours32.dtype == np.float32
    np.testing.assert_allclose(ours32, expected, atol=1e-5)


def test_sparse_and_precomputed_inputs_are_not_modified():
    X, y = four_feature_data()
    D = pairwise_distances(X)
    S = sp.csr_array(np.where(np.abs(X) < 2, 0.0, X))
    S.has_sorted_indices = False  # tempt anything that would sort the indices in place
    copies = [a.copy() for a in (S.data, S.indices, S.indptr)]
    for array in (S.data, S.indices, S.indptr, D):
        array.flags.writeable = False
    for metric in ("euclidean", "cosine", "manhattan", "seuclidean"):
        metrics.silhouette_samples(S, y, metric=metric)
    metrics.silhouette_samples(D, y, metric="precomputed")
    metrics.silhouette_samples(sp.csr_array(D), y, metric="precomputed")
    for before, after in zip(copies, (S.data, S.indices, S.indptr)):
        np.testing.assert_array_equal(before, after)


def test_precomputed_and_metric_errors():
    X, y = four_feature_data(n=12)
    D = pairwise_distances(X)
    with pytest.raises(ValueError, match=r"Precomputed metric requires shape \(n_queries, n_indexed\). Got \(12, 11\) for 12 indexed"):
        metrics.silhouette_samples(D[:, :11], y, metric="precomputed")
    with pytest.raises(ValueError, match=r"Got \(12, 11\) for 12 indexed"):
        metrics.silhouette_samples(sp.csr_array(D[:, :11]), y, metric="precomputed")
    for dtype in (np.float32, np.float64):
        bad = D.astype(dtype)
        bad[2, 2] = np.finfo(dtype).eps * 10  # within scikit-learn's tolerance
        metrics.silhouette_samples(bad, y, metric="precomputed")
        metrics.silhouette_samples(sp.csr_array(bad), y, metric="precomputed")
        bad[2, 2] = np.finfo(dtype).eps * 1000
        for data in (bad, sp.lil_array(bad)):
            with pytest.raises(ValueError, match="The precomputed distance matrix contains non-zero elements on the diagonal"):
                metrics.silhouette_samples(data, y, metric="precomputed")
    with pytest.raises(ValueError, match="contains non-zero"):  # integers: exactly zero
        metrics.silhouette_score([[1, 1, 2], [1, 0, 1], [2, 1, 0]], [0, 0, 1], metric="precomputed")
    negative = D.copy()
    negative[0, 5] = -1.0
    for data in (negative, sp.csr_array(negative)):
        with pytest.raises(ValueError, match="Negative values in data passed to `pairwise_distances`"):
            metrics.silhouette_samples(data, y, metric="precomputed")
    nan = D.copy()
    nan[0, 5] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        metrics.silhouette_samples(nan, y, metric="precomputed")
    with pytest.raises(ValueError, match="Input X contains NaN"):  # all of X is checked, as scikit-learn does
        metrics.silhouette_score(nan, y, metric="precomputed", sample_size=3, random_state=0)
    with pytest.raises(TypeError, match="unexpected keyword argument 'p'"):
        metrics.silhouette_samples(D, y, metric="precomputed", p=3)
    # metrics' own errors (SciPy's messages where SciPy has one)
    with pytest.raises(TypeError, match=r"silhouette_samples\(\) got an unexpected keyword argument 'foo'"):
        metrics.silhouette_samples(X, y, metric="euclidean", foo=1)
    with pytest.raises(TypeError, match="unexpected keyword argument 'p'"):
        metrics.silhouette_samples(X, y, metric="manhattan", p=3)
    with pytest.raises(TypeError):  # SciPy's own refusal of a keyword it does not know
        metrics.silhouette_samples(X, y, metric="canberra", foo=1)
    with pytest.raises(ValueError, match="Unknown Distance Metric: wminkowski"):
        metrics.silhouette_samples(X, y, metric="wminkowski")
    for p in (0, -1, "3", True):
        with pytest.raises(ValueError, match="p must be a positive number"):
            metrics.silhouette_samples(X, y, metric="minkowski", p=p)
    with pytest.raises(ValueError, match="Weights must have same size as input vector. 3 vs. 4"):
        metrics.silhouette_samples(X, y, metric="minkowski", w=np.ones(3))
    with pytest.raises(ValueError, match="Input weights should be all non-negative"):
        metrics.silhouette_samples(X, y, metric="sqeuclidean", w=np.array([1.0, -1.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="Variance vector V must be of the same dimension"):
        metrics.silhouette_samples(X, y, metric="seuclidean", V=np.ones(3))
    with pytest.raises(ValueError, match="Haversine distance only valid in 2 dimensions"):
        metrics.silhouette_samples(X, y, metric="haversine")
    with pytest.raises(ValueError, match="missing_values=np.nan only"):
        metrics.silhouette_samples(X, y, metric="nan_euclidean", missing_values=0)
    with pytest.raises(ValueError, match="working_memory must be a non-negative number"):
        metrics.silhouette_samples(X, y, working_memory=-1)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        metrics.silhouette_samples(sp.csr_array(np.where(X > 1, np.nan, X)), y)


# --------------------------------------------------------------------------------------
# Calinski-Harabasz, Davies-Bouldin and inertia of sparse X: the dense answer, never densified

ALL_SPARSE_FORMATS = (*SPARSE_FORMATS, sp.coo_matrix, sp.bsr_matrix, sp.bsr_array)
SPARSE_SCORES = ("calinski_harabasz_score", "davies_bouldin_score", "inertia")


def sparse_blobs(n=240, d=7, centers=4, seed=0):
    """Blobs with most entries 0, a column that is always 0 and rows that are all 0."""
    X, y = blobs(n=n, d=d, centers=centers, seed=seed, spread=1.5)
    X = np.where(np.abs(X) < 4, 0.0, X)
    X[:, 2] = 0.0
    X[::17] = 0.0
    return X, y


def _sparse_calls(X, y, centers, weights):
    """Every sparse-aware score but the silhouette, with and without inertia's options."""
    return {
        "calinski_harabasz_score": metrics.calinski_harabasz_score(X, y),
        "davies_bouldin_score": metrics.davies_bouldin_score(X, y),
        "inertia": metrics.inertia(X, y),
        "inertia_weighted": metrics.inertia(X, y, sample_weight=weights),
        "inertia_centers": metrics.inertia(X, y, centers, sample_weight=weights),
    }


def _assert_same(got, expected, rtol=1e-10, dtype=np.float64):
    for name, value in got.items():
        assert type(value) is dtype, (name, type(value))
        assert relative_error(value, expected[name]) < rtol, (name, value, expected[name])


def test_sparse_scores_equal_dense_in_every_format():
    X, y = sparse_blobs()
    y = odd_labels(y)
    ids = np.unique(y, return_inverse=True)[1]
    centers = np.random.default_rng(0).normal(size=(4, X.shape[1]))
    weights = np.random.default_rng(1).uniform(0.0, 2.0, size=len(X))
    expected = {**_sparse_calls(X, ids, centers, weights), "calinski_harabasz_score": skm.calinski_harabasz_score(X, y),
                "davies_bouldin_score": skm.davies_bouldin_score(X, y)}
    for fmt in ALL_SPARSE_FORMATS:
        got = _sparse_calls(fmt(X), ids, centers, weights)
        assert isinstance(got["calinski_harabasz_score"], float)  # numpy.float64, as for dense NumPy input
        _assert_same(got, expected)
    # Any integer labels, as dense X takes them.
    assert relative_error(metrics.davies_bouldin_score(sp.csr_array(X), y), expected["davies_bouldin_score"]) < 1e-10
    # Native dispatch off (NumPy answers) or on: sparse X is SciPy's, scored on the host.
    with xpcluster.array_api_dispatch(False):
        _assert_same(_sparse_calls(sp.csc_array(X), ids, centers, weights), expected)


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.int8, np.bool_, np.float32])
def test_sparse_scores_of_other_dtypes(dtype):
    X, y = sparse_blobs(seed=3)
    if dtype == np.bool_:
        X = X > 0
    elif np.issubdtype(dtype, np.integer):
        X = np.round(np.abs(X) * 10) if dtype == np.uint8 else np.round(X * 10)
    X = X.astype(dtype)
    centers = np.random.default_rng(2).normal(size=(4, X.shape[1]))
    weights = np.random.default_rng(3).uniform(size=len(X))
    expected = _sparse_calls(X, y, centers, weights)  # the dense path: float64, or float32
    result = np.float32 if dtype == np.float32 else np.float64
    for fmt in (sp.csr_array, sp.coo_matrix, sp.lil_array):
        _assert_same(_sparse_calls(fmt(X), y, centers, weights), expected, rtol=1e-5 if dtype == np.float32 else 1e-10,
                     dtype=result)
    if dtype == np.float32:  # close to the float64 answer too
        _assert_same(_sparse_calls(sp.csr_array(X), y, centers, weights),
                     _sparse_calls(X.astype(np.float64), y, centers, weights), rtol=1e-5, dtype=np.float32)


def _awkward_csr(X, rng):
    """``X`` as a CSR array with unsorted indices, explicit zeros and duplicate entries
    (each value split in two that add up to it)."""
    rows, cols = np.nonzero(X)
    values = X[rows, cols]
    part = rng.uniform(-1, 2, size=values.shape) * values
    extra_rows, extra_cols = rng.integers(0, X.shape[0], size=30), rng.integers(0, X.shape[1], size=30)
    keep = X[extra_rows, extra_cols] == 0  # explicit zeros where X is 0
    rows = np.concatenate([rows, rows, extra_rows[keep]])
    cols = np.concatenate([cols, cols, extra_cols[keep]])
    values = np.concatenate([part, values - part, np.zeros(keep.sum())])
    order = rng.permutation(rows.shape[0])
    rows, cols, values = rows[order], cols[order], values[order]
    # CSR by hand: rows in order, the entries of each row in random order, duplicates kept.
    by_row = np.argsort(rows, kind="stable")
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=X.shape[0]))])
    S = sp.csr_array((values[by_row], cols[by_row], indptr), shape=X.shape)
    assert not S.has_canonical_format and not S.has_sorted_indices
    np.testing.assert_allclose(S.toarray(), X, atol=1e-12)
    return S


def test_sparse_scores_of_unsorted_duplicated_entries_and_input_not_modified():
    rng = np.random.default_rng(5)
    X, y = sparse_blobs(seed=4)
    centers = rng.normal(size=(4, X.shape[1]))
    weights = rng.uniform(size=len(X))
    S = _awkward_csr(X, rng)
    expected = _sparse_calls(S.toarray(), y, centers, weights)
    coo = S.tocoo()  # the same duplicates, as COO
    arrays = {"csr": (S.data, S.indices, S.indptr), "coo": (coo.data, coo.row, coo.col)}
    copies = {key: [a.copy() for a in value] for key, value in arrays.items()}
    for value in arrays.values():
        for a in value:
            a.flags.writeable = False  # an in-place change (sorting, summing duplicates) would raise
    for matrix in (S, coo):
        _assert_same(_sparse_calls(matrix, y, centers, weights), expected)
    for key in arrays:
        for before, after in zip(copies[key], arrays[key]):
            np.testing.assert_array_equal(before, after)
    assert not S.has_canonical_format  # not even its flags were changed
    # A float32 CSR input (its arrays used as they are) is not modified either.
    S32 = sp.csr_array(X.astype(np.float32))
    before = [a.copy() for a in (S32.data, S32.indices, S32.indptr)]
    for a in (S32.data, S32.indices, S32.indptr):
        a.flags.writeable = False
    _sparse_calls(S32, y, centers, weights)
    for a, b in zip(before, (S32.data, S32.indices, S32.indptr)):
        np.testing.assert_array_equal(a, b)


def test_sparse_scores_of_rows_far_from_the_origin():
    # Every entry stored, the clusters tight and 1e5 from the origin: |x|^2 - 2 x.c + |c|^2
    # would lose all but a few digits; the stored entries' (x_j - c_j)^2 do not.
    X, y = blobs(n=400, d=12, centers=4, spread=0.01)
    X = X + 1e5
    X[::5, 3] = 0.0  # and some rows where a coordinate of their centre is missing
    centers = X[:4] + 0.5
    weights = np.random.default_rng(0).uniform(size=len(X))
    _assert_same(_sparse_calls(sp.csr_array(X), y, centers, weights), _sparse_calls(X, y, centers, weights))


def test_sparse_degenerate_clusterings_are_scored_as_dense():
    # scikit-learn's own edge cases: identical samples, equal cluster means, all zeros.
    y = np.array([0] * 5 + [1] * 5)
    ones = sp.csr_array(np.ones((10, 2)))
    assert metrics.davies_bouldin_score(ones, y) == 0.0
    assert metrics.calinski_harabasz_score(ones, y) == 1.0
    assert metrics.inertia(ones, y) == 0.0
    same_means = sp.csr_array(np.array([[-1, -1], [1, 1]] * 10))
    assert metrics.davies_bouldin_score(same_means, [0] * 10 + [1] * 10) == pytest.approx(0.0)
    zeros = sp.csr_array((10, 3))
    assert metrics.davies_bouldin_score(zeros, y) == 0.0
    assert metrics.calinski_harabasz_score(zeros, y) == 1.0
    # Data in tiny units is not degenerate (the threshold follows the data, as for dense X).
    X, labels = sparse_blobs(seed=6)
    for scale in (1e-12, 1e-150, 1e150):  # beyond 2**+-458: scaled into float64's safe range
        for score in SPARSE_SCORES:
            power = 2 if score == "inertia" else 0
            got = getattr(metrics, score)(sp.csr_array(X * scale), labels)
            assert relative_error(got / scale**power, getattr(metrics, score)(X, labels)) < 1e-10, (score, scale)


def test_sparse_bad_input():
    X, y = sparse_blobs(n=60)
    S = sp.csr_array(X)
    for score in SPARSE_SCORES:
        fn = getattr(metrics, score)
        if score != "inertia":  # inertia takes one cluster (and any number)
            with pytest.raises(ValueError, match="Number of labels is 1. Valid values are 2 to n_samples - 1"):
                fn(S, np.zeros(60, dtype=int))
            with pytest.raises(ValueError, match="Number of labels is 60. Valid values are 2 to n_samples - 1"):
                fn(S, np.arange(60))
        with pytest.raises(ValueError, match=r"inconsistent numbers of samples: \[60, 59\]"):
            fn(S, y[:-1])
        with pytest.raises(ValueError, match="1d array"):
            fn(S, np.stack([y, y], axis=1))
        with pytest.raises(ValueError, match="labels contain NaN"):
            fn(S, np.where(y == 0, np.nan, y))
        with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
            fn(sp.coo_array(X[:, 0]), y)
        with pytest.raises(ValueError, match=r"0 feature\(s\) \(shape=\(60, 0\)\)"):
            fn(sp.csr_array((60, 0)), y)
        with pytest.raises(ValueError, match=r"0 sample\(s\)"):
            fn(sp.csr_array((0, 3)), y[:0])
        for bad in (np.nan, np.inf, -np.inf):
            B = S.copy()
            B.data[4] = bad
            for matrix in (B, B.tocoo(), B.todok()):
                with pytest.raises(ValueError, match="Input X contains NaN or infinity"):
                    fn(matrix, y)
        with pytest.raises(ValueError, match="X must hold real numbers"):
            fn(sp.csr_array(X.astype(complex)), y)
    centers = np.zeros((4, X.shape[1]))
    with pytest.raises(ValueError, match="0 <= label < 4"):
        metrics.inertia(S, y + 1, centers)
    with pytest.raises(ValueError, match="centers must have shape"):
        metrics.inertia(S, y, np.zeros((4, 2)))
    with pytest.raises(ValueError, match="integer indices"):
        metrics.inertia(S, y.astype(float), centers)
    with pytest.raises(ValueError, match="Input centers contains NaN"):
        metrics.inertia(S, y, np.full((4, X.shape[1]), np.nan))
    with pytest.raises(ValueError, match="sample_weight.shape"):
        metrics.inertia(S, y, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="non-negative"):
        metrics.inertia(S, y, sample_weight=-np.ones(60))
    with pytest.raises(ValueError, match="inertia exceeds the range of float32"):
        metrics.inertia(sp.csr_array((X * 1e30).astype(np.float32)), y)


def _other_sparse(X):
    """``X`` as the other libraries' sparse input that are installed."""
    others = []
    torch = pytest.importorskip("torch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTorch: "Sparse CSR tensor support is in beta state"
        others += [torch.asarray(X).to_sparse(), torch.asarray(X).to_sparse_csr()]
    try:
        import jax.numpy as jnp
        from jax.experimental import sparse as jsparse

        others.append(jsparse.BCOO.fromdense(jnp.asarray(X)))
    except ImportError:
        pass
    try:
        import dask.array as da

        others.append(da.from_array(sp.csr_matrix(X), chunks=(15, X.shape[1]), asarray=False))
    except ImportError:
        pass
    return others


def test_sparse_input_of_other_libraries():
    X, y = sparse_blobs(n=40)
    others = _other_sparse(X)
    # Native dispatch on: the scores take SciPy's sparse input only, and say so.
    for other in others:
        for score in PUBLIC:
            with pytest.raises(TypeError, match=f"{score} takes sparse X as a scipy.sparse matrix or array"):
                getattr(metrics, score)(other, y)
    # Off: copied to SciPy (as dense input becomes NumPy), so SciPy's answer.
    with xpcluster.array_api_dispatch(False):
        for other in others:
            for score in PUBLIC:
                expected = getattr(metrics, score)(sp.csr_array(X), y)
                np.testing.assert_allclose(getattr(metrics, score)(other, y), expected, rtol=1e-12,
                                           err_msg=f"{score} of {type(other).__module__}")
    # With SciPy's X, labels (and centres, weights) are NumPy's: others are not moved silently.
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="labels must be NumPy"):
        metrics.calinski_harabasz_score(sp.csr_array(X), torch.asarray(y))
    with pytest.raises(TypeError, match="centers must be NumPy"):
        metrics.inertia(sp.csr_array(X), y, torch.zeros((4, X.shape[1])))


def _wide_sparse(n=2000, d=200_000, per_row=20, k=4, seed=0):
    """A wide sparse matrix (3.2 GB dense) whose clusters each use their own 60 columns."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, size=n)
    pools = rng.choice(d, size=(k, 60), replace=False)
    cols = np.stack([rng.choice(pools[c], size=per_row, replace=False) for c in y])
    values = rng.normal(loc=3.0, size=(n, per_row))
    X = sp.csr_array((values.ravel(), cols.ravel(), np.arange(0, n * per_row + 1, per_row)), shape=(n, d))
    return X, y, np.unique(cols)


def test_sparse_scores_are_never_densified_whole():
    X, y, used = _wide_sparse()
    n, d = X.shape
    k = 4
    compact = X[:, used].toarray()  # the columns that are not all 0: the same scores
    centers = np.random.default_rng(1).normal(size=(k, d))
    budget = 2 * 2**20
    for score in (*SPARSE_SCORES, "inertia_centers"):
        fn = getattr(metrics, score.replace("_centers", ""))
        args = (X, y, centers) if score == "inertia_centers" else (X, y)
        with xpcluster.memory_budget(budget):
            tracemalloc.start()
            try:
                value = fn(*args)
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
        # The (k, d) centroids and a few temporaries of their size are dense (as they are
        # for dense X); blocks of rows fit the budget.  Densified, X would be 3.2 GB.
        assert peak < 2 * budget + 6 * k * d * 8, f"{score}: peak {peak / 2**20:.1f} MiB"
        expected = fn(compact, y, centers[:, used]) if score == "inertia_centers" else fn(compact, y)
        if score == "inertia_centers":  # plus the centres' part on the columns X leaves at 0
            unused = np.setdiff1d(np.arange(d), used)
            expected += np.sum(np.sum(centers[:, unused] ** 2, axis=1)[y])
        assert relative_error(value, expected) < 1e-10, score


def _precomputed_peak(D, y, budget):
    with xpcluster.memory_budget(budget):
        tracemalloc.start()
        try:
            values = metrics.silhouette_samples(D, y, metric="precomputed")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    return values, peak


def test_precomputed_memory_stays_within_the_budget():
    n = 3000
    X, y = blobs(n=n, d=2, centers=5)
    D = pairwise_distances(X)  # 72 MB, the user's
    budget = 2**20
    values, peak = _precomputed_peak(D, y, budget)
    # Row blocks of D (copied), tiles and their temporaries fit the budget; a copy of D, or
    # an n-by-n mask of its checks, would be 9-72 MB.
    outputs = 3 * n * 8  # silhouettes, the diagonal, joined from their chunks
    assert peak < 1.25 * budget + 2 * outputs, f"peak {peak / 2**20:.2f} MiB"
    rows = np.arange(0, n, 331)
    np.testing.assert_allclose(values[rows], _reference_silhouette_rows(X, y, rows), rtol=1e-9)
    _, sparse_peak = _precomputed_peak(sp.csr_array(D), y, budget)
    assert sparse_peak < 1.25 * budget + 2 * outputs, f"sparse: peak {sparse_peak / 2**20:.2f} MiB"


@pytest.mark.parametrize("metric", ["euclidean", "manhattan", "jaccard"])
def test_sparse_features_are_never_densified_whole(metric):
    n, d = 600, 2000  # densified: 9.6 MB
    X = sp.random_array((n, d), density=0.01, format="csr", rng=np.random.default_rng(0), dtype=np.float64)
    y = np.random.default_rng(1).integers(0, 4, size=n)
    budget = 2 * 2**20
    with xpcluster.memory_budget(budget), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # jaccard's boolean conversion
        tracemalloc.start()
        try:
            values = metrics.silhouette_samples(X, y, metric=metric)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    # Blocks of rows and of columns (densified, for manhattan and jaccard) and the tiles fit
    # the budget; X itself (with its CSR copy of O(nnz)) and the outputs come on top.
    assert peak < 1.25 * budget + 4 * X.data.nbytes + 4 * n * 8, f"peak {peak / 2**20:.2f} MiB"
    rows = np.arange(0, n, 97)
    dense = X[rows].toarray()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = pairwise_distances(dense, X.toarray(), metric=metric)
    expected = []
    for i, distances in zip(rows, full):
        own = y == y[i]
        a = distances[own].sum() / (own.sum() - 1)
        b = min(distances[y == c].mean() for c in np.unique(y) if c != y[i])
        expected.append((b - a) / max(a, b))
    # atol: the sparse Euclidean distances come from the expansion, as scikit-learn's do.
    np.testing.assert_allclose(values[rows], expected, rtol=1e-9, atol=1e-9)


# every backend: the native metrics and precomputed matrices give the NumPy answer


BACKEND_CASES = [
    ("sqeuclidean", {"w": _W4}), ("cosine", {}), ("chebyshev", {}), ("chebyshev", {"w": _W4}),
    ("minkowski", {"p": 3}), ("minkowski", {"p": 1.5, "w": _W4}), ("seuclidean", {}),
    ("seuclidean", {"V": np.array([1.0, 4.0, 0.25, 2.0])}), ("euclidean", {"squared": True}),
]


def test_every_backend_native_metrics(xp, backend):
    X, y = four_feature_data(n=90)
    Xb, yb = xp.asarray(X), xp.asarray(y)
    for metric, kwds in BACKEND_CASES:
        expected = skm.silhouette_samples(X, y, metric=metric, **kwds)
        placed = {key: xp.asarray(value) for key, value in kwds.items() if isinstance(value, np.ndarray)}
        got = metrics.silhouette_samples(Xb, yb, metric=metric, **{**kwds, **placed})
        assert type(got).__module__.split(".")[0] == type(Xb).__module__.split(".")[0]
        np.testing.assert_allclose(to_numpy(got), expected, rtol=1e-9, atol=1e-12, err_msg=_case_id((metric, kwds)))
    score = metrics.silhouette_score(Xb, yb, metric="minkowski", p=3)
    assert relative_error(to_numpy(score), skm.silhouette_score(X, y, metric="minkowski", p=3)) < 1e-9
    L, z = lat_lon(n=60)
    got = metrics.silhouette_samples(xp.asarray(L), xp.asarray(z), metric="haversine")
    np.testing.assert_allclose(to_numpy(got), skm.silhouette_samples(L, z, metric="haversine"), rtol=1e-9, atol=1e-12)


def test_every_backend_precomputed(xp, backend):
    X, y = four_feature_data(n=90)
    D = pairwise_distances(X, metric="manhattan")
    expected = skm.silhouette_samples(X, y, metric="manhattan")
    got = metrics.silhouette_samples(xp.asarray(D), xp.asarray(y), metric="precomputed")
    assert type(got).__module__.split(".")[0] == type(xp.asarray(D)).__module__.split(".")[0]
    np.testing.assert_allclose(to_numpy(got), expected, rtol=1e-9, atol=1e-12)
    score = metrics.silhouette_score(xp.asarray(D), xp.asarray(y), metric="precomputed", sample_size=40, random_state=1)
    assert relative_error(to_numpy(score), skm.silhouette_score(D, y, metric="precomputed", sample_size=40, random_state=1)) < 1e-9
    got32 = metrics.silhouette_samples(xp.asarray(D.astype(np.float32)), xp.asarray(y), metric="precomputed")
    assert got32.dtype == xp.float32
    np.testing.assert_allclose(to_numpy(got32), expected, atol=1e-5)


def test_every_backend_precomputed_errors(xp, backend):
    X, y = four_feature_data(n=30)
    D = pairwise_distances(X)
    diagonal = D.copy()
    diagonal[3, 3] = 1e-3
    with raises(backend, ValueError, match="non-zero elements on the diagonal"):
        settle(metrics.silhouette_samples(xp.asarray(diagonal), xp.asarray(y), metric="precomputed"))
    negative = D.copy()
    negative[4, 7] = -2.0
    with raises(backend, ValueError, match="Negative values in data"):
        settle(metrics.silhouette_samples(xp.asarray(negative), xp.asarray(y), metric="precomputed"))
    with pytest.raises(ValueError, match="Precomputed metric requires shape"):
        metrics.silhouette_samples(xp.asarray(D[:, :29]), xp.asarray(y), metric="precomputed")


def test_every_backend_scipy_metrics_need_numpy_blocks(xp, backend):
    X, y = four_feature_data(n=60)
    X = X - X.min(axis=0) + 0.5
    Xb, yb = xp.asarray(X), xp.asarray(y)
    for metric in ("canberra", lambda u, v: float(np.abs(u - v).max())):
        reference = "canberra" if isinstance(metric, str) else "chebyshev"
        if backend in ("numpy", "numpy_readonly", "dask"):  # NumPy blocks: SciPy runs on them
            got = metrics.silhouette_samples(Xb, yb, metric=metric)
            np.testing.assert_allclose(to_numpy(got), skm.silhouette_samples(X, y, metric=reference), rtol=1e-9)
        else:
            with pytest.raises(TypeError, match="NumPy blocks"):
                metrics.silhouette_samples(Xb, yb, metric=metric)
