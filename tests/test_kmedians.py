"""KMedians: the L1 objective, against a plain NumPy reference written here, on every backend."""
import doctest
import math
import tracemalloc
import warnings

import array_api_compat
import numpy as np
import pytest
from array_api_extra.testing import lazy_xp_function

import xpcluster
from xpcluster.cluster import KMedians, NotFittedError
from xpcluster.cluster import _kmedians
from xpcluster._backends import capabilities_for
from xpcluster._core.assign import rows_per_chunk
from backends import raises, settle, to_numpy

# On "jax_jit" predict and transform run under jax.jit; on "dask" they may not compute anything.
for _method in ("predict", "transform"):
    lazy_xp_function((KMedians, _method), allow_dask_compute=False)
lazy_xp_function((KMedians, "score"), allow_dask_compute=True, jax_jit=False)  # returns a float


def blobs(n=240, d=3, k=4, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=5.0, size=(k, d))
    # Laplace noise: the L1 objective's own model
    return (centres[rng.integers(0, k, size=n)] + rng.laplace(size=(n, d))).astype(dtype)


X = blobs()
START = X[[0, 1, 2, 3]].copy()  # four observations as the initial centres


def reference_kmedians(X, start, *, max_iter=300, tol=1e-4):
    """Plain NumPy k-medians with the estimator's documented rules (no chunking, no sorting tricks)."""
    centres = start.astype(X.dtype, copy=True)
    threshold = tol * np.mean(np.mean(np.abs(X - X.mean(axis=0)), axis=0))
    previous = None
    n_iter = 0
    for _ in range(max_iter):
        labels = np.abs(X[:, None, :] - centres[None, :, :]).sum(axis=2).argmin(axis=1)
        new = centres.copy()
        for j in range(len(centres)):
            members = X[labels == j]
            if len(members):
                new[j] = np.median(members, axis=0)
        n_iter += 1
        repeated = previous is not None and np.array_equal(labels, previous)
        moved = np.abs(new - centres).sum()
        centres, previous = new, labels
        if repeated or moved <= threshold:
            break
    distances = np.abs(X[:, None, :] - centres[None, :, :]).sum(axis=2)
    labels = distances.argmin(axis=1)
    return centres, labels, distances.min(axis=1).sum(), n_iter


def l1_distances(X, centres):
    return np.abs(X[:, None, :] - centres[None, :, :]).sum(axis=2)


def expect_native(result, x, dtype):
    assert array_api_compat.array_namespace(result) is array_api_compat.array_namespace(x)
    assert array_api_compat.device(result) == array_api_compat.device(x)
    assert result.dtype == dtype


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_same_init_same_iterations_as_the_numpy_reference(xp, dtype):
    data = X.astype(dtype)
    expected = reference_kmedians(data, START, tol=0.0)
    x = xp.asarray(data)
    km = KMedians(4, init=xp.asarray(START.astype(dtype)), tol=0.0).fit(x)
    expect_native(km.cluster_centers_, x, getattr(xp, dtype))
    expect_native(km.labels_, x, xp.int32)
    rtol = 1e-12 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(to_numpy(km.cluster_centers_), expected[0], rtol=rtol, atol=rtol)
    np.testing.assert_array_equal(to_numpy(km.labels_), expected[1])
    assert km.inertia_ == pytest.approx(expected[2], rel=rtol)
    assert km.n_iter_ == expected[3] > 2


def test_reference_stops_on_tol_the_same_way():
    for tol in (1e-4, 0.05, 0.5):
        expected = reference_kmedians(X, START, tol=tol)
        km = KMedians(4, init=START, tol=tol).fit(X)
        np.testing.assert_array_equal(km.cluster_centers_, expected[0])
        assert km.n_iter_ == expected[3]


def test_objective_never_increases():
    """Each iteration's assignment and median update can only lower the sum of L1 distances."""
    rng = np.random.default_rng(5)
    data = rng.standard_cauchy(size=(300, 4))  # heavy tails: many iterations
    start = data[rng.choice(300, size=6, replace=False)]
    inertias = [KMedians(6, init=start, max_iter=t, tol=0.0).fit(data).inertia_ for t in range(1, 15)]
    assert all(b <= a * (1 + 1e-12) for a, b in zip(inertias, inertias[1:])), inertias
    assert inertias[-1] < inertias[0]
    # and the reference agrees on every prefix of the run
    for t in (1, 3, 7):
        assert inertias[t - 1] == pytest.approx(reference_kmedians(data, start, max_iter=t, tol=0.0)[2], rel=1e-12)


def test_even_counts_take_the_mean_of_the_two_middle_values():
    data = np.array([[0.0, 10.0], [1.0, 30.0], [5.0, 20.0], [9.0, 0.0], [100.0, 100.0], [101.0, 104.0]])
    km = KMedians(2, init=data[[0, 4]], max_iter=1).fit(data)
    np.testing.assert_array_equal(km.cluster_centers_, [np.median(data[:4], axis=0), np.median(data[4:], axis=0)])
    np.testing.assert_array_equal(km.cluster_centers_[0], [3.0, 15.0])


def test_empty_cluster_keeps_its_previous_centre(xp):
    far = np.array([[1e6, 1e6, 1e6]])
    start = np.concatenate([START[:3], far])
    km = KMedians(4, init=xp.asarray(start), tol=0.0).fit(xp.asarray(X))
    np.testing.assert_array_equal(to_numpy(km.cluster_centers_)[3], far[0])
    assert not np.any(to_numpy(km.labels_) == 3)
    np.testing.assert_allclose(to_numpy(km.cluster_centers_), reference_kmedians(X, start, tol=0.0)[0], rtol=1e-12)


@pytest.mark.parametrize("init", ["k-medians++", "random"])
def test_every_backend_gives_the_numpy_answer_for_a_seed(xp, init):
    expected = KMedians(4, init=init, n_init=2, random_state=3).fit(X)
    km = KMedians(4, init=init, n_init=2, random_state=3).fit(xp.asarray(X))
    np.testing.assert_allclose(to_numpy(km.cluster_centers_), expected.cluster_centers_, rtol=1e-12)
    np.testing.assert_array_equal(to_numpy(km.labels_), expected.labels_)
    assert km.inertia_ == pytest.approx(expected.inertia_, rel=1e-12)


def test_seeded_runs_are_refined_by_the_reference_from_their_start():
    """With a seed, a run is k-medians++ seeding followed by the reference's iterations; the
    best of n_init runs is the lowest-inertia one."""
    single = [KMedians(4, random_state=np.random.RandomState(s)).fit(X) for s in range(3)]
    for km in single:
        centres, labels, inertia, _ = reference_kmedians(X, km.cluster_centers_, tol=0.0)
        # a converged run is a fixed point of the reference
        np.testing.assert_array_equal(km.labels_, labels)
        assert inertia == pytest.approx(km.inertia_, rel=1e-12)
    best = KMedians(4, n_init=5, random_state=0).fit(X)
    assert best.inertia_ <= min(KMedians(4, random_state=0).fit(X).inertia_, best.inertia_)


def test_kmedians_plusplus_samples_proportionally_to_l1_distance():
    """Two far groups: D-sampling puts the second centre in the other group almost always."""
    data = np.concatenate([np.zeros((50, 2)), np.full((50, 2), 1000.0)]) + np.random.default_rng(0).uniform(size=(100, 2))
    hits = 0
    for seed in range(40):
        centres = KMedians(2, max_iter=1, random_state=seed).fit(data).cluster_centers_
        hits += (centres[:, 0] > 500).sum() == 1
    assert hits == 40


def test_predict_transform_score(xp):
    fitted = KMedians(4, init=START, tol=0.0).fit(X)
    km = KMedians(4, init=xp.asarray(START), tol=0.0).fit(xp.asarray(X))
    new = blobs(n=130, seed=9)
    x_new = xp.asarray(new)
    distances = km.transform(x_new)
    expect_native(distances, x_new, xp.float64)
    np.testing.assert_allclose(to_numpy(distances), l1_distances(new, fitted.cluster_centers_), rtol=1e-12)
    labels = km.predict(x_new)
    expect_native(labels, x_new, xp.int32)
    np.testing.assert_array_equal(to_numpy(labels), l1_distances(new, fitted.cluster_centers_).argmin(axis=1))
    score = km.score(x_new)
    assert isinstance(score, float)
    assert score == pytest.approx(-l1_distances(new, fitted.cluster_centers_).min(axis=1).sum(), rel=1e-12)
    assert km.score(xp.asarray(X)) == pytest.approx(-km.inertia_, rel=1e-12)


def test_fit_predict_and_fit_transform(xp):
    x = xp.asarray(X)
    km = KMedians(4, init=xp.asarray(START))
    np.testing.assert_array_equal(to_numpy(km.fit_predict(x)), to_numpy(km.labels_))
    np.testing.assert_allclose(to_numpy(km.fit_transform(x)), l1_distances(X, to_numpy(km.cluster_centers_)), rtol=1e-12)


def test_integer_input_becomes_the_default_float():
    data = np.round(X * 10).astype(np.int64)
    km = KMedians(4, init=data[:4]).fit(data)
    assert km.cluster_centers_.dtype == np.float64
    np.testing.assert_array_equal(km.cluster_centers_, reference_kmedians(data.astype(float), data[:4].astype(float))[0])


def test_input_is_not_modified(xp):
    data = xp.asarray(X)
    start = xp.asarray(START)
    KMedians(4, init=start).fit(data)
    np.testing.assert_array_equal(to_numpy(data), X)
    np.testing.assert_array_equal(to_numpy(start), START)


def test_assignment_blocks_stay_within_the_memory_budget():
    """The (rows, k, d) temporary is bounded by the budget: no n-by-k-by-d array."""
    n, d, k = 40_000, 8, 64  # a full (n, k, d) float64 temporary would be 164 MB
    rng = np.random.default_rng(1)
    data = rng.normal(size=(n, d))
    km = KMedians(k, init=data[:k], max_iter=1).fit(data[: 4 * k])
    budget = 4 * 2**20
    with xpcluster.memory_budget(budget):
        tracemalloc.start()
        try:
            labels = km.predict(data)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    outputs = n * (4 + 8)
    assert peak < 1.25 * budget + 2 * outputs, f"peak {peak / 2**20:.1f} MiB"
    np.testing.assert_array_equal(labels[:2000], l1_distances(data[:2000], km.cluster_centers_).argmin(axis=1))
    with xpcluster.memory_budget(budget):
        # the assignment's (k, rows) temporaries (sum, difference, absolute value)
        assert rows_per_chunk(k, d, 8) * 3 * k * 8 <= budget
        # k-medians++' (rows, d) ones
        assert _kmedians._rows_per_block(1, d, 8) * 2 * d * 8 <= budget


def test_median_update_over_tiny_blocks_is_unchanged():
    expected = KMedians(4, init=START, tol=0.0).fit(X)
    with xpcluster.memory_budget(2000):  # a handful of rows per block
        km = KMedians(4, init=START, tol=0.0).fit(X)
    np.testing.assert_array_equal(km.cluster_centers_, expected.cluster_centers_)
    np.testing.assert_array_equal(km.labels_, expected.labels_)


# -- the median update by selection, the L1 assignment -----------------------------------


def member_medians(data, labels, previous):
    """np.median of each cluster's members; an empty cluster keeps its row of ``previous``."""
    out = previous.copy()
    for j in range(len(previous)):
        if np.any(labels == j):
            out[j] = np.median(data[labels == j], axis=0)
    return out


def run_segment_medians(xp, data, labels, previous):
    """The estimator's median update on a backend, as ``fit`` calls it (views, value order)."""
    x, lab, prev = xp.asarray(data), xp.asarray(labels.astype(np.int32)), xp.asarray(previous)
    caps = capabilities_for(xp)
    counts = caps.bincount(lab, len(previous))
    order = _kmedians._on_views(_kmedians._value_order, x, xp=xp, caps=caps)
    return to_numpy(_kmedians._on_views(_kmedians._segment_medians, x, order, lab, counts, prev, xp=xp, caps=caps))


@pytest.mark.parametrize(
    "n, k, values",
    [
        (1, 1, "normal"),
        (15, 3, "normal"),  # fewer rows than one counting block
        (16, 4, "integers"),  # exactly one block; ties everywhere
        (17, 4, "integers"),
        (1000, 7, "integers"),  # a partial last block
        (4099, 5, "normal"),
        (3000, 130, "integers"),  # labels wider than int8
    ],
)
def test_segment_medians_by_selection_match_numpy_median(xp, n, k, values):
    """Even and odd counts, ties (few distinct values), one-member and empty clusters, and
    members at block boundaries: the update is np.median of each cluster's members."""
    rng = np.random.default_rng(n + k)
    data = rng.normal(size=(n, 3)) if values == "normal" else rng.integers(-3, 4, size=(n, 3)).astype(float)
    labels = rng.integers(0, max(1, k - 1), size=n)  # the last cluster stays empty (k > 1)
    if n > 4:
        labels[: n // 3] = 0  # one big cluster, a long run of one label in every block
        labels[n // 3] = k - 2 if k > 2 else 0
    previous = rng.normal(size=(k, 3)) + 100.0
    np.testing.assert_array_equal(run_segment_medians(xp, data, labels, previous), member_medians(data, labels, previous))


def test_segment_medians_over_feature_groups():
    """A budget of one feature at a time (each feature's selection on its own) changes nothing."""
    rng = np.random.default_rng(4)
    data = rng.integers(-2, 3, size=(500, 5)).astype(float)
    data[:, 2] = rng.normal(size=500)
    labels = rng.integers(0, 4, size=500)
    previous = np.zeros((4, 5))
    expected = member_medians(data, labels, previous)
    for budget in (64 * 2**20, 100):
        with xpcluster.memory_budget(budget):
            np.testing.assert_array_equal(run_segment_medians(np, data, labels, previous), expected)


def test_median_update_ignores_the_row_order(xp):
    """Rows shuffled: the same centres (the medians depend on the members only)."""
    rng = np.random.default_rng(2)
    data = np.round(blobs(n=600, seed=3), 1)  # rounded: many tied values
    shuffled = data[rng.permutation(len(data))]
    start = data[:4]
    a = KMedians(4, init=xp.asarray(start), tol=0.0).fit(xp.asarray(data))
    b = KMedians(4, init=xp.asarray(start), tol=0.0).fit(xp.asarray(shuffled))
    np.testing.assert_array_equal(to_numpy(a.cluster_centers_), to_numpy(b.cluster_centers_))
    np.testing.assert_array_equal(to_numpy(a.cluster_centers_), reference_kmedians(data, start, tol=0.0)[0])


@pytest.mark.parametrize("k", [3, _kmedians._FEW_CENTRES + 3])
def test_l1_ties_go_to_the_lowest_index(xp, k):
    """Integer data equidistant to several centres: the lowest index, with few centres (k
    comparisons with the minimum) and with many (the backend's nearest_index)."""
    centres = np.zeros((k, 2))
    centres[:, 0] = np.arange(k) * 2.0  # 0, 2, 4, ...
    points = np.array([[1.0, 0.0], [3.0, 5.0], [2.0 * k - 3.0, -1.0], [0.0, 0.0]])
    km = KMedians(k, init=xp.asarray(centres), max_iter=1).fit(xp.asarray(np.concatenate([centres, points])))
    km.cluster_centers_ = xp.asarray(centres)  # score the given centres themselves
    labels = to_numpy(km.predict(xp.asarray(points)))
    np.testing.assert_array_equal(labels, [0, 1, k - 2, 0])
    np.testing.assert_array_equal(labels, l1_distances(points, centres).argmin(axis=1))
    np.testing.assert_allclose(to_numpy(km.transform(xp.asarray(points))), l1_distances(points, centres))


def test_bincount_capability(xp):
    """Every backend's bincount (NumPy's, PyTorch's, JAX's, the standard-only default of
    Dask and array-api-strict) counts every id, zeros for absent ones."""
    ids = np.array([3, 0, 3, 3, 7, 0, 1], dtype=np.int64)
    counts = capabilities_for(xp).bincount(xp.asarray(ids), 9)
    np.testing.assert_array_equal(to_numpy(counts), np.bincount(ids, minlength=9))
    from xpcluster._backends import generic

    np.testing.assert_array_equal(to_numpy(generic.bincount(xp.asarray(ids), 9)), np.bincount(ids, minlength=9))


# -- bad input --------------------------------------------------------------------------


def test_fewer_samples_than_clusters(xp):
    with pytest.raises(ValueError, match="n_samples=3 should be >= n_clusters=4"):
        KMedians(4).fit(xp.asarray(X[:3]))


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_fit(xp, bad):
    data = X.copy()
    data[5, 1] = bad
    with pytest.raises(ValueError, match="Input X contains (NaN|infinity)"):
        KMedians(4, random_state=0).fit(xp.asarray(data))


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_non_finite_predict(xp, backend):
    km = KMedians(4, init=xp.asarray(START)).fit(xp.asarray(X))
    data = X[:20].copy()
    data[3, 0] = math.nan
    for method in ("predict", "transform"):
        with raises(backend, ValueError, "Input X contains NaN"):
            settle(getattr(km, method)(xp.asarray(data)))
    with pytest.raises(ValueError, match="Input X contains NaN"):  # score reads a value: eager everywhere
        km.score(xp.asarray(data))


def test_wrong_feature_count_at_predict(xp):
    km = KMedians(4, init=xp.asarray(START)).fit(xp.asarray(X))
    for method in ("predict", "transform", "score"):
        with pytest.raises(ValueError, match="X has 2 features, but KMedians is expecting 3 features"):
            getattr(km, method)(xp.asarray(X[:, :2]))


def test_unfitted(xp):
    for method in ("predict", "transform", "score"):
        with pytest.raises(NotFittedError, match="not fitted yet"):
            getattr(KMedians(2), method)(xp.asarray(X))


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_clusters": 0}, "'n_clusters' parameter"),
        ({"n_clusters": 2.5}, "'n_clusters' parameter"),
        ({"n_clusters": True}, "'n_clusters' parameter"),
        ({"init": "k-means++"}, "'init' parameter"),
        ({"n_init": 0}, "'n_init' parameter"),
        ({"n_init": "many"}, "'n_init' parameter"),
        ({"max_iter": 0}, "'max_iter' parameter"),
        ({"tol": -1.0}, "'tol' parameter"),
        ({"tol": math.nan}, "'tol' parameter"),
        ({"random_state": "seed"}, "cannot be used to seed"),
    ],
)
def test_bad_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        KMedians(**{"n_clusters": 2, **params}).fit(X)


def test_bad_initial_centres(xp):
    with pytest.raises(ValueError, match="does not match the number of clusters 4 and features 3"):
        KMedians(4, init=xp.asarray(START[:3])).fit(xp.asarray(X))
    with pytest.raises(ValueError, match="does not match"):
        KMedians(4, init=xp.asarray(START[:, :2])).fit(xp.asarray(X))
    bad = START.copy()
    bad[0, 0] = math.nan
    with pytest.raises(ValueError, match="Input init contains NaN"):
        KMedians(4, init=xp.asarray(bad)).fit(xp.asarray(X))
    with pytest.warns(RuntimeWarning, match="performing only one init"):
        KMedians(4, init=xp.asarray(START), n_init=3).fit(xp.asarray(X))


def test_jax_calls_make_no_implicit_transfers():
    jax = pytest.importorskip("jax", reason="jax is not installed")
    with xpcluster.array_api_dispatch(True):
        x, start = jax.numpy.asarray(X), jax.numpy.asarray(START)
        KMedians(2).fit(x)  # first use of the namespace outside the guard
        with jax.transfer_guard("disallow"):
            for km in (KMedians(4, init=start), KMedians(4, n_init=2, random_state=0)):
                km.fit(x)
                jax.block_until_ready((km.predict(x), km.transform(x)))
    np.testing.assert_array_equal(np.asarray(km.labels_), KMedians(4, n_init=2, random_state=0).fit(X).labels_)


def test_dask_input_of_unknown_chunk_sizes():
    da = pytest.importorskip("dask.array", reason="dask is not installed")
    x = da.from_array(X, chunks=70)
    x = x[x[:, 0] > -100]  # every row, in blocks of unknown size
    with xpcluster.array_api_dispatch(True):
        km = KMedians(4, random_state=0).fit(x)
        labels = km.predict(x)
    assert isinstance(labels, da.Array)
    expected = KMedians(4, random_state=0).fit(X)
    np.testing.assert_array_equal(km.cluster_centers_.compute(), expected.cluster_centers_)
    np.testing.assert_array_equal(labels.compute(), expected.labels_)


def test_fit_refuses_to_run_inside_jax_jit():
    jax = pytest.importorskip("jax", reason="jax is not installed")
    with xpcluster.array_api_dispatch(True):
        with pytest.raises(TypeError, match="cannot run inside jax.jit"):
            jax.jit(lambda x: KMedians(2).fit(x).cluster_centers_)(jax.numpy.asarray(X))


def test_params_and_repr():
    km = KMedians(3, tol=0.5)
    assert km.get_params()["n_clusters"] == 3
    assert repr(km) == "KMedians(n_clusters=3, tol=0.5)"
    assert km.set_params(n_init=4).n_init == 4


def test_scikit_learn_estimator_checks():
    estimator_checks = pytest.importorskip("sklearn.utils.estimator_checks", reason="scikit-learn is not installed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = estimator_checks.check_estimator(KMedians(3, random_state=0), on_fail=None)
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results if r["status"] == "failed"]
    assert results and failed == []


def test_docstring_examples():
    result = doctest.testmod(_kmedians, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
