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
    with pytest.raises(ValueError, match="Unknown metric 'chebyshev'"):
        metrics.silhouette_score(X, y, metric="chebyshev")
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
