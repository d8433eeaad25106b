"""xpcluster.cluster.MiniBatchKMeans: scikit-learn's contract, its quality, on every backend."""
import doctest
import re
import warnings

import array_api_compat
import numpy as np
import pytest

import xpcluster.cluster._minibatch
from xpcluster.cluster import KMeans, MiniBatchKMeans, NotFittedError
from backends import raises, settle, to_numpy

pytest.importorskip("sklearn", reason="scikit-learn is not installed")
import sklearn.cluster  # noqa: E402
from sklearn.datasets import make_blobs  # noqa: E402
from sklearn.utils import check_random_state, shuffle  # noqa: E402


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


def test_every_backend_draws_the_numpy_batches_and_seeds(xp, backend):
    """init='random' (seeds drawn in NumPy's rounds of choice(replace=False, p)), rows of
    zero weight, reassignments: every backend follows the NumPy fit, and no weights
    draws what unit weights draw."""
    data = blobs()
    w = np.random.default_rng(1).uniform(0.5, 2.0, size=200)
    w[::5] = 0.0
    params = dict(n_clusters=4, init="random", batch_size=40, max_iter=2, random_state=0, reassignment_ratio=0.3)
    x = xp.asarray(data)
    fits = {}
    for name, weights in (("none", None), ("ones", np.ones(200)), ("w", w)):
        expected = MiniBatchKMeans(**params).fit(data, sample_weight=weights)
        mb = MiniBatchKMeans(**params).fit(x, sample_weight=None if weights is None else xp.asarray(weights))
        assert_on_device_of(x, mb.cluster_centers_, mb.labels_)
        np.testing.assert_allclose(to_numpy(mb.cluster_centers_), expected.cluster_centers_, rtol=1e-10)
        np.testing.assert_array_equal(to_numpy(mb.labels_), expected.labels_)
        assert mb.n_steps_ == expected.n_steps_
        fits[name] = mb
    np.testing.assert_array_equal(to_numpy(fits["none"].labels_), to_numpy(fits["ones"].labels_))
    np.testing.assert_allclose(to_numpy(fits["none"].cluster_centers_), to_numpy(fits["ones"].cluster_centers_),
                               rtol=1e-12)


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


@pytest.mark.parametrize("init", ["k-means++", "random"])
def test_weighted_sampling_ignores_zero_weight_rows(init):
    X, y = make_blobs(n_samples=300, centers=[[0, 0], [10, 10], [-10, 10]], cluster_std=0.5, random_state=0)
    weights = (y != 2).astype(float)  # the third blob weighs nothing
    mb = MiniBatchKMeans(2, init=init, batch_size=32, random_state=0).fit(X, sample_weight=weights)
    assert np.linalg.norm(mb.cluster_centers_ - np.array([-10, 10]), axis=1).min() > 5


def test_compute_labels_off():
    X = blobs()
    mb = MiniBatchKMeans(4, batch_size=50, compute_labels=False, random_state=0).fit(X)
    assert not hasattr(mb, "labels_")
    assert mb.inertia_ > 0


def test_zero_weight_rows_are_never_seeds_nor_batch_rows():
    """Four rows of positive weight among 200: choice(replace=False, p) must seed on exactly
    those, and batches drawn by weight only ever hold them, so (no reassignment) each
    centre stays on its row."""
    X = blobs()
    w = np.zeros(200)
    chosen = [3, 50, 120, 199]
    w[chosen] = [1.0, 2.0, 0.5, 3.0]
    mb = MiniBatchKMeans(4, init="random", init_size=200, batch_size=20, max_iter=2, reassignment_ratio=0,
                         random_state=0).fit(X, sample_weight=w)
    order = np.lexsort(mb.cluster_centers_.T)
    np.testing.assert_allclose(mb.cluster_centers_[order], X[chosen][np.lexsort(X[chosen].T)], rtol=1e-12)
    with pytest.raises(ValueError, match="needs at least n_clusters=5 samples of positive weight"):
        MiniBatchKMeans(5, init="random", init_size=200, batch_size=20, random_state=0).fit(X, sample_weight=w)


# ------------------------------------------------------------------ scikit-learn's draws (NumPy)


def assert_same_fit(ours, theirs, rtol=1e-9):
    assert (ours.n_steps_, ours.n_iter_) == (theirs.n_steps_, theirs.n_iter_)
    np.testing.assert_allclose(ours.cluster_centers_, theirs.cluster_centers_, rtol=rtol, atol=1e-12)
    if hasattr(theirs, "labels_"):
        np.testing.assert_array_equal(ours.labels_, theirs.labels_)
    assert ours.inertia_ == pytest.approx(theirs.inertia_, rel=rtol)


WEIGHTS = np.random.RandomState(7).uniform(0, 2, size=500) * (np.random.RandomState(8).rand(500) > 0.2)


@pytest.mark.parametrize("params, weighted", [
    (dict(n_clusters=6, batch_size=64), False),
    (dict(n_clusters=6, batch_size=64), True),
    (dict(n_clusters=6, batch_size=64, init="random"), False),
    (dict(n_clusters=6, batch_size=32, init="random", n_init=4, tol=1e-3), True),
    (dict(n_clusters=6, batch_size=100, init_size=50, reassignment_ratio=0.3), True),  # many reassignments
    (dict(n_clusters=6, batch_size=20, init="random", init_size=3, compute_labels=False), False),
    (dict(n_clusters=6, batch_size=50, max_no_improvement=None, max_iter=3), True),
])
@pytest.mark.parametrize("seed", [0, 1])
def test_fit_draws_scikit_learns_batches(params, weighted, seed):
    """Same random_state, same batches, seedings and reassignments as scikit-learn: the
    same fit (float64 NumPy input; only summation order differs)."""
    X, _ = make_blobs(n_samples=500, centers=6, cluster_std=1.5, random_state=seed)
    weights = WEIGHTS if weighted else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # init_size=3 < n_clusters, warned alike
        theirs = sklearn.cluster.MiniBatchKMeans(random_state=seed, **params).fit(X, sample_weight=weights)
        ours = MiniBatchKMeans(random_state=seed, **params).fit(X, sample_weight=weights)
    assert_same_fit(ours, theirs)


def test_float32_fit_follows_scikit_learn():
    X, _ = make_blobs(n_samples=500, centers=6, cluster_std=1.5, random_state=0)
    X = X.astype(np.float32)
    theirs = sklearn.cluster.MiniBatchKMeans(6, batch_size=64, random_state=0).fit(X)
    ours = MiniBatchKMeans(6, batch_size=64, random_state=0).fit(X)
    assert ours.cluster_centers_.dtype == np.float32
    assert_same_fit(ours, theirs, rtol=1e-5)  # scikit-learn keeps its counts in float32


@pytest.mark.parametrize("init", ["k-means++", "random"])
def test_no_weights_draw_what_unit_weights_draw(init):
    X = blobs(n=500, centers=5, seed=2)
    params = dict(n_clusters=5, init=init, batch_size=40, n_init=2, random_state=3)
    none = MiniBatchKMeans(**params).fit(X)
    ones = MiniBatchKMeans(**params).fit(X, sample_weight=np.ones(500))
    np.testing.assert_array_equal(none.labels_, ones.labels_)
    np.testing.assert_allclose(none.cluster_centers_, ones.cluster_centers_, rtol=1e-12)
    assert none.n_steps_ == ones.n_steps_
    chunks = np.array_split(np.arange(500), 5)
    none, ones = MiniBatchKMeans(**params), MiniBatchKMeans(**params)
    for chunk in chunks:
        none.partial_fit(X[chunk])
        ones.partial_fit(X[chunk], sample_weight=np.ones(len(chunk)))
    np.testing.assert_allclose(none.cluster_centers_, ones.cluster_centers_, rtol=1e-12)


def test_partial_fit_follows_scikit_learn():
    X, _ = make_blobs(n_samples=600, centers=5, random_state=4)
    w = np.random.RandomState(4).uniform(0, 2, size=600)
    theirs = sklearn.cluster.MiniBatchKMeans(5, init="random", random_state=4)
    ours = MiniBatchKMeans(5, init="random", random_state=4)
    for chunk in np.array_split(np.arange(600), 12):
        theirs.partial_fit(X[chunk], sample_weight=w[chunk])
        ours.partial_fit(X[chunk], sample_weight=w[chunk])
    np.testing.assert_allclose(ours.cluster_centers_, theirs.cluster_centers_, rtol=1e-9)
    # After fit, partial_fit starts a random source of its own, as scikit-learn does.
    theirs = sklearn.cluster.MiniBatchKMeans(5, batch_size=50, random_state=4).fit(X)
    ours = MiniBatchKMeans(5, batch_size=50, random_state=4).fit(X)
    theirs.partial_fit(X[:7])
    ours.partial_fit(X[:7])
    np.testing.assert_allclose(ours.cluster_centers_, theirs.cluster_centers_, rtol=1e-9)


def _stability_example_data(random_state):
    """``make_data`` of scikit-learn's k-means stability example: a 3x3 grid of gaussians."""
    random_state = check_random_state(random_state)
    centers = np.array([[i, j] for i in range(3) for j in range(3)])
    noise = random_state.normal(scale=0.1, size=(100, centers.shape[1]))
    X = np.concatenate([c + noise for c in centers])
    y = np.concatenate([[i] * 100 for i in range(len(centers))])
    return shuffle(X, y, random_state=random_state)[0]


def _stability_example_inertias(MiniBatch):
    """The inertia of the example's 26 MiniBatchKMeans(init='random') fits: 5 runs of 5
    n_init values (max_no_improvement=3, init_size=500), then Part 2's one fit."""
    inertias = []
    for run_id in range(5):
        X = _stability_example_data(run_id)
        for n_init in (1, 5, 10, 15, 20):
            inertias.append(MiniBatch(n_clusters=9, init="random", random_state=run_id, n_init=n_init,
                                      max_no_improvement=3, init_size=500).fit(X).inertia_)
    random_state = np.random.RandomState(0)
    X = _stability_example_data(random_state)
    inertias.append(MiniBatch(n_clusters=9, init="random", n_init=1, random_state=random_state).fit(X).inertia_)
    return np.array(inertias)


def test_stability_example_matches_scikit_learn():
    """scikit-learn's plot_kmeans_stability_low_dim_dense example: the same 26 fits (mean
    inertia 62.67 in scikit-learn 1.9; this library's used to be 70.34)."""
    theirs = _stability_example_inertias(sklearn.cluster.MiniBatchKMeans)
    ours = _stability_example_inertias(MiniBatchKMeans)
    np.testing.assert_allclose(ours, theirs, rtol=1e-9)
    assert ours.mean() == pytest.approx(62.67, abs=0.01)


def test_init_size_and_n_init_defaults(capsys):
    X = blobs()
    # scikit-learn's rules: 3 batches; 3 * n_clusters when 3 batches are fewer than
    # n_clusters; at most n_samples; a given size below n_clusters is raised with a warning.
    assert MiniBatchKMeans(10, batch_size=5, n_init=1).fit(X)._init_size == 15
    assert MiniBatchKMeans(10, batch_size=1, n_init=1, max_iter=1).fit(X)._init_size == 30
    assert MiniBatchKMeans(10, batch_size=5, init_size=201, n_init=1).fit(X)._init_size == 200
    with pytest.warns(RuntimeWarning, match=re.escape(
            "init_size=3 should be larger than n_clusters=10. Setting it to min(3*n_clusters, n_samples)")):
        assert MiniBatchKMeans(10, batch_size=5, init_size=3, n_init=1).fit(X)._init_size == 30
    # The seeding subsample has that size: the same fit as scikit-learn's for each rule.
    for params in (dict(batch_size=5), dict(batch_size=2, max_iter=5)):
        theirs = sklearn.cluster.MiniBatchKMeans(10, init="random", random_state=0, **params).fit(X)
        assert_same_fit(MiniBatchKMeans(10, init="random", random_state=0, **params).fit(X), theirs)
    # n_init='auto': 3 seedings for 'random' and a callable, 1 for 'k-means++' and an array.
    capsys.readouterr()
    for init, expected in (("random", 3), (lambda x, k, random_state: x[:k], 3), ("k-means++", 1), (X[:4], 1)):
        MiniBatchKMeans(4, init=init, batch_size=50, max_iter=1, verbose=1).fit(X)
        lines = capsys.readouterr().out.splitlines()
        assert sum(line.startswith("Init ") for line in lines) == expected
        assert f"Inertia for init {expected}/{expected}: " in "\n".join(lines)


NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


def assert_same_lines(ours, theirs):
    """Line by line the same text, the numbers equal up to summation order."""
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert NUMBER.sub("#", a) == NUMBER.sub("#", b)
        np.testing.assert_allclose([float(v) for v in NUMBER.findall(a)], [float(v) for v in NUMBER.findall(b)],
                                   rtol=1e-9)


@pytest.mark.parametrize("params, reason", [
    (dict(tol=1e-4, max_no_improvement=None), "Converged (small centers change) at step "),
    (dict(tol=0.0, max_no_improvement=10), "Converged (lack of improvement in inertia) at step "),
])
def test_verbose_prints_scikit_learns_lines(capsys, params, reason):
    X, _, centers = make_blobs(centers=3, random_state=0, return_centers=True)
    common = dict(n_clusters=3, init=centers, batch_size=20, random_state=0, max_iter=10, n_init=1, verbose=1)
    capsys.readouterr()
    sklearn.cluster.MiniBatchKMeans(**common, **params).fit(X)
    theirs = capsys.readouterr().out.splitlines()
    MiniBatchKMeans(**common, **params).fit(X)
    ours = capsys.readouterr().out.splitlines()
    assert ours[0].startswith("Init 1/1 with method [[")  # init, an array, printed as given
    # The lines after the array's.
    ours = ours[[line.startswith("Inertia for init 1/1: ") for line in ours].index(True):]
    theirs = theirs[[line.startswith("Inertia for init 1/1: ") for line in theirs].index(True):]
    assert ours[1].startswith("Minibatch step 1/50: mean batch inertia: ")
    assert ", ewa inertia: " in ours[2]
    assert ours[-1].startswith(reason)
    assert_same_lines(ours, theirs)


def test_verbose_reports_reassignments(capsys):
    X = blobs(n=400, centers=3, seed=1)
    common = dict(n_clusters=5, init="random", batch_size=30, reassignment_ratio=0.3, random_state=0, verbose=1,
                  max_iter=3)
    capsys.readouterr()
    sklearn.cluster.MiniBatchKMeans(**common).fit(X)
    theirs = capsys.readouterr().out.splitlines()
    MiniBatchKMeans(**common).fit(X)
    ours = capsys.readouterr().out.splitlines()
    assert any(re.fullmatch(r"\[MiniBatchKMeans\] Reassigning \d+ cluster centers\.", line) for line in ours)
    assert [line.startswith("Init 3/3 with method random") for line in ours] == \
        [line.startswith("Init 3/3 with method random") for line in theirs]
    assert_same_lines(ours, theirs)
    # partial_fit prints its reassignments only, as scikit-learn's does.
    ours_pf, theirs_pf = MiniBatchKMeans(**common), sklearn.cluster.MiniBatchKMeans(**common)
    for chunk in np.array_split(X, 4):
        ours_pf.partial_fit(chunk)
    ours = capsys.readouterr().out.splitlines()
    for chunk in np.array_split(X, 4):
        theirs_pf.partial_fit(chunk)
    theirs = capsys.readouterr().out.splitlines()
    assert ours == theirs and ours


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
                "check_sample_weight_equivalence_on_sparse_data": "draws depend on the row order",
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
