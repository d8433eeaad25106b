"""xpcluster.cluster.MiniBatchKMeans: scikit-learn's contract, its quality, on every backend."""
import doctest
import warnings

import array_api_compat
import numpy as np
import pytest

import xpcluster.cluster._minibatch
from xpcluster.cluster import KMeans, MiniBatchKMeans, NotFittedError
from backends import raises, settle, to_numpy

pytest.importorskip("sklearn", reason="scikit-learn is not installed")
from sklearn.datasets import make_blobs  # noqa: E402


def blobs(n=200, centers=4, seed=0):
    X, _ = make_blobs(n_samples=n, centers=centers, cluster_std=1.0, random_state=seed)
    return X


def assert_on_device_of(x, *outputs):
    for out in outputs:
        assert array_api_compat.array_namespace(out) is array_api_compat.array_namespace(x)
        assert array_api_compat.device(out) == array_api_compat.device(x)


# ------------------------------------------------------------------ every backend


def test_every_backend_gives_the_numpy_answer(xp, backend):
    data = blobs()
    w = np.random.default_rng(0).uniform(0.5, 2.0, size=200)
    params = dict(n_clusters=4, batch_size=50, max_iter=3, random_state=0)
    x = xp.asarray(data)
    for weights in (None, w):
        expected = MiniBatchKMeans(**params).fit(data, sample_weight=weights)
        mb = MiniBatchKMeans(**params).fit(x, sample_weight=None if weights is None else xp.asarray(weights))
        assert_on_device_of(x, mb.cluster_centers_, mb.labels_)
        assert mb.cluster_centers_.dtype == x.dtype
        np.testing.assert_allclose(to_numpy(mb.cluster_centers_), expected.cluster_centers_, rtol=1e-10)
        np.testing.assert_array_equal(to_numpy(mb.labels_), expected.labels_)
        assert mb.inertia_ == pytest.approx(expected.inertia_, rel=1e-10)
        assert (mb.n_steps_, mb.n_iter_) == (expected.n_steps_, expected.n_iter_)

    if backend == "jax_jit":
        import jax

        labels, distances = jax.jit(lambda a: (mb.predict(a), mb.transform(a)))(x)
    else:
        labels, distances = mb.predict(x), mb.transform(x)
    assert_on_device_of(x, labels, distances)
    np.testing.assert_array_equal(to_numpy(labels), expected.predict(data))
    np.testing.assert_allclose(to_numpy(distances), expected.transform(data), rtol=1e-9)
    assert mb.score(x) == pytest.approx(expected.score(data), rel=1e-10)

    # Data arriving in pieces: the first piece seeds, each piece is one step.
    ours, theirs = MiniBatchKMeans(4, random_state=0), MiniBatchKMeans(4, random_state=0)
    for start in range(0, 200, 50):
        ours.partial_fit(x[start : start + 50, :])
        theirs.partial_fit(data[start : start + 50])
    assert_on_device_of(x, ours.cluster_centers_, ours.labels_)
    np.testing.assert_allclose(to_numpy(ours.cluster_centers_), theirs.cluster_centers_, rtol=1e-10)
    assert ours.n_steps_ == 4


def test_non_finite_input(xp, backend):
    data = blobs()
    bad = data.copy()
    bad[3, 0] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        MiniBatchKMeans(4, batch_size=50).fit(xp.asarray(bad))
    with pytest.raises(ValueError, match="Input X contains NaN"):
        MiniBatchKMeans(4).partial_fit(xp.asarray(bad))
    mb = MiniBatchKMeans(4, init=xp.asarray(data[:4]), batch_size=50, max_iter=1).fit(xp.asarray(data))
    with raises(backend, ValueError, "NaN or infinity"):
        if backend == "jax_jit":
            import jax

            settle(jax.jit(mb.predict)(xp.asarray(bad)))
        else:
            settle(mb.predict(xp.asarray(bad)))


# ------------------------------------------------------------------ quality and algorithm (NumPy)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_inertia_within_two_percent_of_kmeans(seed):
    X = blobs(n=2000, centers=5, seed=3)
    full = KMeans(5, random_state=0).fit(X)
    mini = MiniBatchKMeans(5, batch_size=128, n_init=3, random_state=seed).fit(X)
    assert mini.inertia_ <= 1.02 * full.inertia_
    assert mini.n_steps_ < (100 * 2000) // 128  # stopped early: no improvement of the smoothed inertia


def test_partial_fit_over_chunks_converges():
    X = blobs(n=2000, centers=5, seed=3)
    full = KMeans(5, random_state=0).fit(X)
    mb = MiniBatchKMeans(5, random_state=0)
    for _ in range(2):
        for chunk in np.array_split(X, 10):
            mb.partial_fit(chunk)
    assert mb.n_steps_ == 20
    assert -mb.score(X) <= 1.02 * full.inertia_
    np.testing.assert_array_equal(mb.labels_, mb.predict(np.array_split(X, 10)[-1]))


def test_learning_rate_is_one_over_the_count():
    """Centres are running means of everything they received: one step from a start
    equals the weighted mean of the start (weight 0 at first) and the members."""
    X = np.array([[0.0, 0.0], [1.0, 0.0], [10.0, 10.0], [11.0, 10.0], [12.0, 10.0]])
    start = np.array([[0.5, 0.5], [10.0, 9.0]])
    mb = MiniBatchKMeans(2, init=start, reassignment_ratio=0).partial_fit(X)
    np.testing.assert_allclose(mb.cluster_centers_, [[0.5, 0.0], [11.0, 10.0]])
    mb.partial_fit(np.array([[2.0, 3.0]]))  # cluster 0 has weight 2: moves by 1/3
    np.testing.assert_allclose(mb.cluster_centers_[0], [(0.5 * 2 + 2.0) / 3, (0.0 * 2 + 3.0) / 3])


def test_starved_centre_is_reassigned():
    X = blobs(n=400, centers=3, seed=1)
    start = np.concatenate([X[:2], [[1e3, 1e3]]])  # nobody is near the third centre
    kept = MiniBatchKMeans(3, init=start, batch_size=64, reassignment_ratio=0, random_state=0).fit(X)
    moved = MiniBatchKMeans(3, init=start, batch_size=64, random_state=0).fit(X)
    assert np.bincount(kept.labels_, minlength=3)[2] == 0
    assert np.bincount(moved.labels_, minlength=3).min() > 0
    assert moved.inertia_ < kept.inertia_


def test_stopping_rules():
    X = blobs()
    everything = MiniBatchKMeans(4, batch_size=50, max_iter=2, max_no_improvement=None, random_state=0).fit(X)
    assert everything.n_steps_ == 2 * 200 // 50 and everything.n_iter_ == 2
    early = MiniBatchKMeans(4, batch_size=50, max_iter=50, max_no_improvement=2, random_state=0).fit(X)
    assert early.n_steps_ < 50 * 200 // 50
    moved_little = MiniBatchKMeans(4, batch_size=50, max_iter=50, max_no_improvement=None, tol=1e-2,
                                   random_state=0).fit(X)
    assert moved_little.n_steps_ < 50 * 200 // 50


def test_weighted_sampling_ignores_zero_weight_rows():
    X, y = make_blobs(n_samples=300, centers=[[0, 0], [10, 10], [-10, 10]], cluster_std=0.5, random_state=0)
    weights = (y != 2).astype(float)  # the third blob weighs nothing
    mb = MiniBatchKMeans(2, batch_size=32, random_state=0).fit(X, sample_weight=weights)
    assert np.linalg.norm(mb.cluster_centers_ - np.array([-10, 10]), axis=1).min() > 5


def test_compute_labels_off():
    X = blobs()
    mb = MiniBatchKMeans(4, batch_size=50, compute_labels=False, random_state=0).fit(X)
    assert not hasattr(mb, "labels_")
    assert mb.inertia_ > 0


# ------------------------------------------------------------------ the estimator contract


def test_bad_parameters_raise_in_fit():
    X = blobs()
    for params, match in [
        ({"batch_size": 0}, "batch_size"),
        ({"reassignment_ratio": -0.1}, "reassignment_ratio"),
        ({"max_no_improvement": -1}, "max_no_improvement"),
        ({"init_size": 0}, "init_size"),
        ({"n_clusters": 0}, "n_clusters"),
        ({"init": "nope"}, "init"),
        ({"init": X[:3]}, "does not match the number of clusters 4"),
        ({"tol": -1.0}, "tol"),
    ]:
        mb = MiniBatchKMeans(4).set_params(**params)
        with pytest.raises(ValueError, match=match):
            mb.fit(X)
        with pytest.raises(ValueError, match=match):
            MiniBatchKMeans(4).set_params(**params).partial_fit(X)
    with pytest.raises(ValueError, match="n_samples=3 should be >= n_clusters=4"):
        MiniBatchKMeans(4).fit(X[:3])
    mb = MiniBatchKMeans(4)
    with pytest.raises(NotFittedError):
        mb.predict(X)
    mb.partial_fit(X)
    with pytest.raises(ValueError, match="X has 1 features, but MiniBatchKMeans is expecting 2 features"):
        mb.partial_fit(X[:, :1])


def test_sklearn_check_estimator():
    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(
            MiniBatchKMeans(),
            expected_failed_checks={
                # As for scikit-learn's own MiniBatchKMeans: batches and seeding are random
                # draws over the rows, which the check shuffles.
                "check_sample_weight_equivalence_on_dense_data": "draws depend on the row order",
            },
            on_fail=None,
        )
    failed = [(r["check_name"], r["exception"]) for r in results if r["status"] == "failed"]
    assert not failed
    assert sum(r["status"] == "passed" for r in results) > 40


def test_in_a_sklearn_pipeline():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = blobs()
    pipe = make_pipeline(StandardScaler(), MiniBatchKMeans(4, batch_size=50, random_state=0)).fit(X)
    assert pipe.predict(X).shape == (200,) and pipe.transform(X).shape == (200, 4)


def test_docstring_examples():
    result = doctest.testmod(xpcluster.cluster._minibatch, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
