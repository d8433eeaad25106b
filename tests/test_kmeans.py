"""xpcluster.cluster.KMeans: scikit-learn's contract and answers, on every backend."""
import doctest
import os
import pickle
import subprocess
import sys
import textwrap
import warnings

import array_api_compat
import numpy as np
import pytest

import xpcluster
import xpcluster.cluster._kmeans
from xpcluster.cluster import ConvergenceWarning, KMeans, NotFittedError
from backends import raises, settle, to_numpy

sklearn = pytest.importorskip("sklearn", reason="scikit-learn is not installed")
from sklearn.cluster import KMeans as SkKMeans  # noqa: E402
from sklearn.datasets import load_digits, load_iris, load_wine  # noqa: E402


def mixture(n=120, d=3, k=3, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=5.0, size=(k, d))
    return (centres[rng.integers(0, k, size=n)] + rng.normal(size=(n, d))).astype(dtype)


def weights_for(n, seed=1):
    return np.random.default_rng(seed).uniform(0.5, 2.0, size=n)


def reference_distances(X, centres):
    return np.sqrt(((X[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2))


def assert_on_device_of(x, *outputs):
    for out in outputs:
        assert array_api_compat.array_namespace(out) is array_api_compat.array_namespace(x)
        assert array_api_compat.device(out) == array_api_compat.device(x)


# ------------------------------------------------------------------ every backend


def test_every_backend_gives_the_numpy_answer(xp, backend):
    """fit / predict / transform / score / fit_predict: NumPy's answer, in xp, on xp's device."""
    data, w = mixture(), weights_for(120)
    expected = KMeans(3, random_state=0).fit(data, sample_weight=w)
    x = xp.asarray(data)
    km = KMeans(3, random_state=0).fit(x, sample_weight=xp.asarray(w))
    assert_on_device_of(x, km.cluster_centers_, km.labels_)
    assert km.cluster_centers_.dtype == x.dtype and km.labels_.dtype == xp.int32
    np.testing.assert_allclose(to_numpy(km.cluster_centers_), expected.cluster_centers_, rtol=1e-10)
    np.testing.assert_array_equal(to_numpy(km.labels_), expected.labels_)
    assert km.inertia_ == pytest.approx(expected.inertia_, rel=1e-10)
    assert km.n_iter_ == expected.n_iter_
    assert km.n_features_in_ == 3

    new = xp.asarray(data[:17] + 0.25)
    if backend == "jax_jit":  # a fitted estimator's predict/transform inside jax.jit
        import jax

        labels, distances = jax.jit(lambda a: (km.predict(a), km.transform(a)))(new)
    else:
        labels, distances = km.predict(new), km.transform(new)
    assert_on_device_of(x, labels, distances)
    np.testing.assert_array_equal(to_numpy(labels), expected.predict(data[:17] + 0.25))
    np.testing.assert_allclose(
        to_numpy(distances), reference_distances(data[:17] + 0.25, expected.cluster_centers_), rtol=1e-9
    )
    nearest = reference_distances(data, expected.cluster_centers_).min(axis=1)
    assert km.score(x) == pytest.approx(-(nearest**2).sum(), rel=1e-10)
    assert km.score(x, sample_weight=xp.asarray(w)) == pytest.approx(-expected.inertia_, rel=1e-10)
    np.testing.assert_array_equal(
        to_numpy(KMeans(3, random_state=0).fit_predict(x, sample_weight=xp.asarray(w))), expected.labels_
    )
    distances = KMeans(3, random_state=0).fit_transform(x, sample_weight=xp.asarray(w))
    assert_on_device_of(x, distances)
    np.testing.assert_allclose(to_numpy(distances), reference_distances(data, expected.cluster_centers_), rtol=1e-9)


def test_float32_stays_float32(xp):
    data = mixture(dtype=np.float32)
    x = xp.asarray(data)
    km = KMeans(3, init=xp.asarray(data[:3]), max_iter=20).fit(x)
    expected = KMeans(3, init=data[:3], max_iter=20).fit(data)
    assert km.cluster_centers_.dtype == xp.float32
    assert km.transform(x).dtype == xp.float32
    np.testing.assert_allclose(to_numpy(km.cluster_centers_), expected.cluster_centers_, rtol=1e-5)
    np.testing.assert_array_equal(to_numpy(km.labels_), expected.labels_)


def test_empty_cluster_gets_the_farthest_point(xp):
    """A centre nobody is nearest to takes the farthest point, as in scikit-learn."""
    data = mixture()
    start = np.concatenate([data[:2], [[1e3, 1e3, 1e3]]])
    km = KMeans(3, init=xp.asarray(start), max_iter=50).fit(xp.asarray(data))
    expected = SkKMeans(3, init=start, n_init=1, max_iter=50, algorithm="lloyd").fit(data)
    np.testing.assert_array_equal(to_numpy(km.labels_), expected.labels_)
    np.testing.assert_allclose(to_numpy(km.cluster_centers_), expected.cluster_centers_, rtol=1e-10)
    assert np.bincount(to_numpy(km.labels_), minlength=3).min() > 0
    # Two empty clusters, with sample weights: the weighted farthest points, in turn.
    start = np.concatenate([data[:1], [[1e3, 1e3, 1e3], [-1e3, 0.0, 0.0]]])
    w = weights_for(120)
    km = KMeans(3, init=xp.asarray(start), max_iter=50).fit(xp.asarray(data), sample_weight=xp.asarray(w))
    expected = SkKMeans(3, init=start, n_init=1, max_iter=50, algorithm="lloyd").fit(data, sample_weight=w)
    np.testing.assert_array_equal(to_numpy(km.labels_), expected.labels_)
    assert km.inertia_ == pytest.approx(expected.inertia_, rel=1e-10)


def test_one_cluster_and_one_cluster_per_sample(xp):
    data = mixture(n=12)
    x = xp.asarray(data)
    one = KMeans(1, random_state=0).fit(x)
    np.testing.assert_allclose(to_numpy(one.cluster_centers_), data.mean(axis=0, keepdims=True), rtol=1e-12)
    each = KMeans(12, random_state=0).fit(x)
    assert each.inertia_ == 0.0
    np.testing.assert_array_equal(np.sort(to_numpy(each.labels_)), np.arange(12))


def test_verbose_prints_sklearns_lines_and_changes_nothing(xp, backend, capsys):
    """verbose=1: scikit-learn's progress lines, and the very fit a silent run makes."""
    data = mixture(n=300, k=4)
    for tol in (1e-2, 0.0):
        silent = KMeans(4, init="random", n_init=2, tol=tol, random_state=0).fit(xp.asarray(data))
        capsys.readouterr()
        loud = KMeans(4, init="random", n_init=2, tol=tol, random_state=0, verbose=1).fit(xp.asarray(data))
        out = capsys.readouterr().out
        runs = out.split("Initialization complete\n")[1:]
        assert len(runs) == 2
        counts = []
        for run in runs:
            lines = run.splitlines()
            inertias = [float(line.split("inertia ")[1].rstrip(".")) for line in lines if line.startswith("Iteration ")]
            assert [line.split(",")[0] for line in lines[: len(inertias)]] == [f"Iteration {i}" for i in range(len(inertias))]
            assert all(b <= a * (1 + 1e-12) for a, b in zip(inertias, inertias[1:]))  # Lloyd never worsens
            last = lines[len(inertias)]
            assert last.startswith(f"Converged at iteration {len(inertias) - 1}: ")
            assert last.endswith("strict convergence.") or (tol > 0 and "within tolerance" in last)
            counts.append(len(inertias))
        assert silent.n_iter_ in counts
        np.testing.assert_array_equal(to_numpy(loud.cluster_centers_), to_numpy(silent.cluster_centers_))
        np.testing.assert_array_equal(to_numpy(loud.labels_), to_numpy(silent.labels_))
        assert loud.inertia_ == silent.inertia_ and loud.n_iter_ == silent.n_iter_


def test_k_means_and_kmeans_plusplus_functions(xp, backend):
    """scikit-learn's functions: its return values, NumPy's answer on every backend."""
    from sklearn.cluster import k_means as sk_k_means, kmeans_plusplus as sk_kmeans_plusplus

    data, w = mixture(n=200, k=4), weights_for(200)
    x = xp.asarray(data)
    centres, labels, inertia = xpcluster.k_means(x, 4, sample_weight=xp.asarray(w), random_state=3)
    assert_on_device_of(x, centres, labels)
    expected = KMeans(4, random_state=3).fit(data, sample_weight=w)
    np.testing.assert_allclose(to_numpy(centres), expected.cluster_centers_, rtol=1e-10)
    assert inertia == pytest.approx(expected.inertia_, rel=1e-10)
    *_, n_iter = xpcluster.k_means(x, 4, random_state=3, return_n_iter=True)
    assert n_iter == sk_k_means(data, 4, random_state=3, return_n_iter=True)[3]
    seeds, indices = xpcluster.kmeans_plusplus(x, 5, sample_weight=xp.asarray(w), random_state=7)
    assert_on_device_of(x, seeds, indices)
    sk_seeds, sk_indices = sk_kmeans_plusplus(data, 5, sample_weight=w, random_state=7)
    np.testing.assert_array_equal(to_numpy(indices), sk_indices)
    np.testing.assert_array_equal(to_numpy(seeds), sk_seeds)
    _, more = xpcluster.kmeans_plusplus(x, 5, random_state=7, n_local_trials=6)
    np.testing.assert_array_equal(to_numpy(more), sk_kmeans_plusplus(data, 5, random_state=7, n_local_trials=6)[1])


def test_kmeans_plusplus_refuses_bad_input():
    X = mixture(n=20)
    with pytest.raises(ValueError, match="The length of x_squared_norms 2 should be equal to the length of n_samples 20"):
        xpcluster.kmeans_plusplus(X, 3, x_squared_norms=np.ones(2))
    with pytest.raises(ValueError, match="n_samples=20 should be >= n_clusters=21"):
        xpcluster.kmeans_plusplus(X, 21)
    with pytest.raises(ValueError, match="'n_clusters' parameter of kmeans_plusplus"):
        xpcluster.kmeans_plusplus(X, 0)
    with pytest.raises(ValueError, match="'n_local_trials' parameter of kmeans_plusplus"):
        xpcluster.kmeans_plusplus(X, 2, n_local_trials=0)
    with pytest.raises(ValueError, match="NaN"):
        xpcluster.kmeans_plusplus(np.where(X > 3, np.nan, X), 2)
    # zero-weight samples are never picked
    w = np.zeros(20)
    w[[3, 8, 11]] = 1.0
    for seed in range(5):
        _, indices = xpcluster.kmeans_plusplus(X, 3, sample_weight=w, random_state=seed)
        assert sorted(indices.tolist()) == [3, 8, 11]


def test_elkan_with_one_cluster_warns_as_sklearn():
    with pytest.warns(RuntimeWarning, match="algorithm='elkan' doesn't make sense for a single cluster"):
        KMeans(1, algorithm="elkan").fit(mixture())


def test_sklearn_citizen():
    """With scikit-learn installed: its base classes, warnings users filter on, set_output, HTML repr."""
    import sklearn.base
    import sklearn.exceptions

    from xpcluster import BisectingKMeans, KMedians, KMedoids, MiniBatchKMeans

    for cls in (KMeans, MiniBatchKMeans, BisectingKMeans, KMedoids, KMedians):
        est = cls(3)
        assert isinstance(est, sklearn.base.BaseEstimator) and sklearn.base.is_clusterer(est)
        assert isinstance(est, sklearn.base.TransformerMixin)
        assert "<style>" in est._repr_html_()
    assert issubclass(ConvergenceWarning, sklearn.exceptions.ConvergenceWarning)
    with warnings.catch_warnings():
        warnings.filterwarnings("error")
        warnings.filterwarnings("ignore", category=sklearn.exceptions.ConvergenceWarning)
        KMeans(4, n_init=1, random_state=0).fit(np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 1.0], [2.0, 2.0]] * 2))
    pd = pytest.importorskip("pandas", reason="pandas is not installed")
    X = mixture()
    frame = KMeans(3, random_state=0).set_output(transform="pandas").fit(X).transform(X)
    assert isinstance(frame, pd.DataFrame) and list(frame.columns) == ["kmeans0", "kmeans1", "kmeans2"]
    np.testing.assert_allclose(frame.to_numpy(), KMeans(3, random_state=0).fit(X).transform(X))


def test_non_finite_input(xp, backend):
    data = mixture()
    bad = data.copy()
    bad[5, 1] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        KMeans(3).fit(xp.asarray(bad))
    bad[5, 1] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        KMeans(3).fit(xp.asarray(bad))
    km = KMeans(3, init=xp.asarray(data[:3])).fit(xp.asarray(data))
    for method in (km.predict, km.transform):
        with raises(backend, ValueError, "NaN or infinity"):
            if backend == "jax_jit":
                import jax

                settle(jax.jit(method)(xp.asarray(bad)))
            else:
                settle(method(xp.asarray(bad)))


def test_dask_predict_and_transform_compute_nothing():
    dask = pytest.importorskip("dask", reason="dask is not installed")
    from backends import namespace

    xp = namespace("dask")

    counts = {"computes": 0}

    def counting(dsk, keys, **kwargs):
        counts["computes"] += 1
        return dask.get(dsk, keys, **kwargs)

    x = xp.asarray(mixture())
    km = KMeans(3, random_state=0).fit(x)
    with dask.config.set(scheduler=counting):
        labels, distances = km.predict(x), km.transform(x)
        assert counts["computes"] == 0
        assert labels.compute().shape == (120,) and distances.compute().shape == (120, 3)


# ------------------------------------------------------------------ scikit-learn parity (NumPy)


@pytest.mark.parametrize("load", [load_iris, load_wine, load_digits], ids=lambda f: f.__name__)
def test_same_start_same_answer_as_sklearn(load):
    X = load().data
    k = 5
    from sklearn.cluster import kmeans_plusplus

    start, _ = kmeans_plusplus(X, k, random_state=0)
    ours = KMeans(k, init=start, n_init=1).fit(X)
    theirs = SkKMeans(k, init=start, n_init=1, algorithm="lloyd").fit(X)
    np.testing.assert_array_equal(ours.labels_, theirs.labels_)
    np.testing.assert_allclose(ours.cluster_centers_, theirs.cluster_centers_, rtol=1e-6, atol=1e-9)
    assert ours.inertia_ == pytest.approx(theirs.inertia_, rel=1e-6)
    assert ours.n_iter_ == theirs.n_iter_


@pytest.mark.parametrize("init, n_init", [("k-means++", "auto"), ("random", 3)])
@pytest.mark.parametrize("load", [load_iris, load_wine], ids=lambda f: f.__name__)
def test_same_random_state_same_answer_as_sklearn(load, init, n_init):
    """Seeding draws are made in scikit-learn's order: same random_state, same clustering."""
    X = load().data
    ours = KMeans(4, init=init, n_init=n_init, random_state=3).fit(X)
    theirs = SkKMeans(4, init=init, n_init=n_init, random_state=3, algorithm="lloyd").fit(X)
    np.testing.assert_array_equal(ours.labels_, theirs.labels_)
    assert ours.inertia_ == pytest.approx(theirs.inertia_, rel=1e-6)


def test_sample_weight_like_sklearn_and_like_repetition():
    X, w = mixture(), weights_for(120)
    ours = KMeans(3, random_state=0).fit(X, sample_weight=w)
    theirs = SkKMeans(3, random_state=0).fit(X, sample_weight=w)
    np.testing.assert_array_equal(ours.labels_, theirs.labels_)
    assert ours.inertia_ == pytest.approx(theirs.inertia_, rel=1e-6)
    assert ours.score(X, sample_weight=w) == pytest.approx(theirs.score(X, sample_weight=w), rel=1e-6)
    # Integer weights are repetitions (from the same start; seeding draws depend on row order).
    counts = np.random.default_rng(2).integers(0, 4, size=120)
    weighted = KMeans(3, init=X[:3]).fit(X, sample_weight=counts)
    repeated = KMeans(3, init=X[:3]).fit(np.repeat(X, counts, axis=0))
    np.testing.assert_allclose(weighted.cluster_centers_, repeated.cluster_centers_, rtol=1e-10)
    assert weighted.inertia_ == pytest.approx(repeated.inertia_, rel=1e-10)


def test_convergence_rules():
    X = load_iris().data
    start = X[[0, 50, 100]]
    one = KMeans(3, init=start, max_iter=1).fit(X)
    assert one.n_iter_ == 1
    # labels_ come from a final assignment to the final centres.
    np.testing.assert_array_equal(one.labels_, one.predict(X))
    strict = KMeans(3, init=start, tol=0).fit(X)
    theirs = SkKMeans(3, init=start, n_init=1, tol=0, algorithm="lloyd").fit(X)
    assert strict.n_iter_ == theirs.n_iter_
    loose = KMeans(3, init=start, tol=1.0).fit(X)
    assert loose.n_iter_ < strict.n_iter_


def test_other_inits():
    from sklearn.datasets import make_blobs

    blobs, _ = make_blobs(n_samples=300, centers=4, cluster_std=0.5, random_state=0)
    parallel = KMeans(4, init="k-means||", random_state=0).fit(blobs)
    assert parallel.inertia_ == pytest.approx(SkKMeans(4, random_state=0).fit(blobs).inertia_, rel=1e-6)

    X = mixture(n=200)

    seen = {}

    def pick_last_rows(data, n_clusters, random_state):
        seen["random_state"] = random_state
        return data[-n_clusters:]

    called = KMeans(3, init=pick_last_rows, n_init=1).fit(X)
    assert isinstance(seen["random_state"], np.random.RandomState)
    np.testing.assert_allclose(called.cluster_centers_, KMeans(3, init=X[-3:]).fit(X).cluster_centers_)
    with pytest.warns(RuntimeWarning, match="performing only one init"):
        KMeans(3, init=X[:3], n_init=4).fit(X)


def test_n_init_keeps_the_lowest_inertia():
    X = mixture(n=200, k=6, seed=4)
    best = KMeans(6, init="random", n_init=5, random_state=7).fit(X)
    rng = np.random.RandomState(7)
    singles = [KMeans(6, init="random", n_init=1, random_state=rng).fit(X).inertia_ for _ in range(5)]
    assert best.inertia_ == pytest.approx(min(singles), rel=1e-12)


def test_duplicate_points_warn():
    X = np.repeat(np.array([[0.0, 0.0], [5.0, 5.0]]), 10, axis=0)
    with pytest.warns(ConvergenceWarning, match="Number of distinct clusters \\(2\\)"):
        km = KMeans(3, random_state=0).fit(X)
    assert np.isfinite(km.cluster_centers_).all()


# ------------------------------------------------------------------ the estimator contract


def test_bad_parameters_raise_in_fit():
    X = mixture()
    for params, match in [
        ({"n_clusters": 0}, "n_clusters"),
        ({"n_clusters": 2.5}, "n_clusters"),
        ({"init": "kmeans"}, "init"),
        ({"init": X[:2]}, "does not match the number of clusters 3"),
        ({"init": X[:3, :2]}, "does not match the number of features"),
        ({"n_init": 0}, "n_init"),
        ({"max_iter": 0}, "max_iter"),
        ({"tol": -1.0}, "tol"),
        ({"algorithm": "full"}, "algorithm"),
        ({"random_state": "seed"}, "random_state"),
    ]:
        km = KMeans(3).set_params(**params)  # no validation before fit
        with pytest.raises(ValueError, match=match):
            km.fit(X)
    with pytest.raises(ValueError, match="n_samples=2 should be >= n_clusters=3"):
        KMeans(3).fit(X[:2])
    with pytest.raises(ValueError, match="Input init contains NaN|init contains NaN"):
        KMeans(3, init=np.full((3, 3), np.nan)).fit(X)


def test_prediction_input_checks():
    X = mixture()
    km = KMeans(3, random_state=0)
    with pytest.raises(NotFittedError):
        km.predict(X)
    from sklearn.exceptions import NotFittedError as SkNotFittedError

    with pytest.raises(SkNotFittedError):  # scikit-learn is loaded: its except clauses work too
        km.transform(X)
    km.fit(X)
    with pytest.raises(ValueError, match="X has 2 features, but KMeans is expecting 3 features as input."):
        km.predict(X[:, :2])
    with pytest.raises(ValueError, match="Expected 2D array"):
        km.predict(X[0])


def test_params_clone_pickle_repr():
    from sklearn.base import clone

    km = KMeans(4, init="random", n_init=2, random_state=1)
    assert km.get_params()["n_clusters"] == 4 and km.get_params()["init"] == "random"
    assert repr(km) == "KMeans(init='random', n_clusters=4, n_init=2, random_state=1)"
    twin = clone(km)
    assert twin.get_params() == km.get_params() and twin is not km
    X = mixture()
    fitted = pickle.loads(pickle.dumps(km.fit(X)))
    np.testing.assert_array_equal(fitted.predict(X), km.labels_)
    np.testing.assert_array_equal(fitted.get_feature_names_out(), ["kmeans0", "kmeans1", "kmeans2", "kmeans3"])


def test_in_a_sklearn_pipeline():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = load_wine().data
    ours = make_pipeline(StandardScaler(), KMeans(3, random_state=0)).fit(X)
    theirs = make_pipeline(StandardScaler(), SkKMeans(3, random_state=0)).fit(X)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    assert ours.score(X) == pytest.approx(theirs.score(X), rel=1e-6)
    np.testing.assert_allclose(ours.transform(X), theirs.transform(X), rtol=1e-6)


def test_feature_names_from_a_data_frame():
    pd = pytest.importorskip("pandas", reason="pandas is not installed")
    frame = pd.DataFrame(mixture(), columns=["a", "b", "c"])
    km = KMeans(3, random_state=0).fit(frame)
    np.testing.assert_array_equal(km.feature_names_in_, ["a", "b", "c"])
    with pytest.raises(ValueError, match="The feature names should match"):
        km.predict(frame.rename(columns={"a": "z"}))
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        km.predict(frame.to_numpy())


def test_sklearn_check_estimator():
    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "does not inherit from sklearn.base.BaseEstimator", test data warnings
        results = check_estimator(
            KMeans(),
            expected_failed_checks={
                # scikit-learn marks this check as an expected failure of its own KMeans, for
                # the same reason: seeding draws depend on the order of the rows, and the check
                # shuffles the weighted rows.  test_sample_weight_like_sklearn_and_like_repetition
                # checks that weights are repetitions from a common start.
                "check_sample_weight_equivalence_on_dense_data": "seeding depends on the row order",
                "check_sample_weight_equivalence_on_sparse_data": "seeding depends on the row order",
            },
            on_fail=None,
        )
    failed = [(r["check_name"], r["exception"]) for r in results if r["status"] == "failed"]
    assert not failed
    assert sum(r["status"] == "passed" for r in results) > 40


def test_works_without_sklearn():
    """No import of scikit-learn anywhere in xpcluster (it is only asked for tags)."""
    script = textwrap.dedent(
        """
        import sys, warnings
        sys.modules["sklearn"] = None  # any import of scikit-learn fails
        import numpy as np
        import xpcluster
        from xpcluster.cluster import (BisectingKMeans, ConvergenceWarning, KMeans, KMedians, KMedoids,
                                       MiniBatchKMeans, NotFittedError)
        X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
        try:
            KMeans(2).predict(X)
        except NotFittedError:
            pass
        km = KMeans(2, random_state=0).fit(X)
        print(km.predict(X).tolist(), km.get_params()["n_clusters"])
        assert ConvergenceWarning.__mro__[1] is UserWarning
        assert repr(KMeans(3, init="random")) == "KMeans(init='random', n_clusters=3)"
        assert km.set_params(n_clusters=3).n_clusters == 3
        far = np.array([[0, 0], [0, 1], [1, 0], [50, 50], [50, 51], [51, 50]])
        for cls in (MiniBatchKMeans, BisectingKMeans, KMedoids, KMedians):
            model = cls(2, random_state=0).fit(far)
            assert sorted(np.asarray(model.labels_).tolist()) == [0, 0, 0, 1, 1, 1], cls
        centres, labels, inertia = xpcluster.k_means(X, 2, random_state=0)
        assert inertia == 16.0
        seeds, indices = xpcluster.kmeans_plusplus(X, 2, random_state=0)
        assert (seeds == X[indices]).all()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            KMeans(3, n_init=1).fit(np.array([[0.0, 0], [0, 0], [1, 1]]))
        assert any(issubclass(w.category, ConvergenceWarning) for w in caught)
        assert "sklearn" not in [name.split(".")[0] for name in sys.modules if sys.modules[name] is not None]
        """
    )
    env = {k: v for k, v in os.environ.items() if k not in ("SCIPY_ARRAY_API", "XPCLUSTER_ARRAY_API")}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[1, 1, 1, 0, 0, 0] 2"


def test_docstring_examples():
    result = doctest.testmod(xpcluster.cluster._kmeans, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_inputs_are_not_modified():
    X = mixture()
    X.flags.writeable = False
    start = X[:3].copy()
    start.flags.writeable = False
    KMeans(3, init=start).fit(X).transform(X)
    KMeans(3, random_state=0, copy_x=False).fit(X, sample_weight=np.ones(120))


def test_dispatch_off_gives_numpy():
    with xpcluster.array_api_dispatch(False):
        km = KMeans(2, random_state=0).fit([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]])
    assert isinstance(km.cluster_centers_, np.ndarray)
    assert sorted(km.labels_.tolist()) == [0, 0, 1, 1]


def test_jax_calls_make_no_implicit_transfers():
    jax = pytest.importorskip("jax", reason="jax is not installed")
    data = mixture()
    x, start = jax.numpy.asarray(data), jax.numpy.asarray(data[:3])
    with jax.transfer_guard("disallow"):
        km = KMeans(3, init=start).fit(x)
        jax.block_until_ready((km.predict(x), km.transform(x)))
    np.testing.assert_array_equal(np.asarray(km.labels_), KMeans(3, init=data[:3]).fit(data).labels_)
