"""BisectingKMeans: scikit-learn's quality, an exact hierarchy, the NumPy answer on every backend."""
import doctest
import inspect
import math
import warnings

import array_api_compat
import numpy as np
import pytest
from array_api_extra.testing import lazy_xp_function

import xpcluster
from xpcluster.cluster import BisectingKMeans, BisectingSplit, NotFittedError
from xpcluster.cluster import _bisecting
from xpcluster.cluster._base import InvalidParameterError
from backends import raises, settle, to_numpy

# On "jax_jit" predict and transform run under jax.jit; on "dask" they may not compute anything.
for _method in ("predict", "transform"):
    lazy_xp_function((BisectingKMeans, _method), allow_dask_compute=False)
lazy_xp_function((BisectingKMeans, "score"), allow_dask_compute=True, jax_jit=False)  # returns a float

STRATEGIES = ("biggest_inertia", "largest_cluster")


def blobs(n=300, d=3, k=5, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=6.0, size=(k, d))
    sizes = rng.integers(1, 4, size=k)  # unequal clusters, so the two strategies differ
    members = rng.choice(k, size=n, p=sizes / sizes.sum())
    return (centres[members] + rng.normal(size=(n, d))).astype(dtype)


X = blobs()
#: The model most tests use, fitted once per backend (JAX compiles once, Dask computes once).
PARAMS = {"n_clusters": 5, "n_init": 2, "random_state": 4}
_fitted = {}


def fitted(xp, backend):
    if backend not in _fitted:
        _fitted[backend] = BisectingKMeans(**PARAMS).fit(xp.asarray(X))
    return _fitted[backend]


def numpy_model():
    return BisectingKMeans(**PARAMS).fit(X)


def expect_native(result, x, dtype):
    assert array_api_compat.array_namespace(result) is array_api_compat.array_namespace(x)
    assert array_api_compat.device(result) == array_api_compat.device(x)
    assert result.dtype == dtype


def sq_distances(X, centres):
    return ((X[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)


def check_hierarchy(model, X, weights=None, rtol=1e-9):
    """Every structural promise of ``hierarchy_``, recomputed from the data with NumPy."""
    k = model.n_clusters
    weights = np.ones(len(X)) if weights is None else weights
    labels = to_numpy(model.labels_)
    centres = to_numpy(model.cluster_centers_)
    node_centres = to_numpy(model.node_centers_)
    assert centres.shape == (k, X.shape[1]) and node_centres.shape == (2 * k - 1, X.shape[1])
    assert labels.shape == (len(X),) and labels.min() >= 0 and labels.max() < k
    assert len(model.hierarchy_) == k - 1 and all(isinstance(h, BisectingSplit) for h in model.hierarchy_)
    np.testing.assert_allclose(node_centres[0], np.average(X, axis=0, weights=weights), rtol=rtol)

    # Replay the splits: which leaves existed, with what size and SSE, at each step.
    root_sse = (weights * ((X - np.average(X, axis=0, weights=weights)) ** 2).sum(axis=1)).sum()
    if model.hierarchy_:
        root = model.hierarchy_[0]
        assert root.parent == 0 and root.parent_size == len(X)
        assert root.parent_sse == pytest.approx(root_sse, rel=rtol)
        root_sse = root.parent_sse
    leaves = {0: (len(X), root_sse)}
    for s, h in enumerate(model.hierarchy_):
        assert (h.left, h.right) == (2 * s + 1, 2 * s + 2)
        assert h.parent in leaves
        assert (h.parent_size, h.parent_sse) == leaves[h.parent]
        candidates = {node: v for node, v in leaves.items() if v[0] >= 2}
        key = (lambda v: v[1]) if model.bisecting_strategy == "biggest_inertia" else (lambda v: v[0])
        best = max(key(v) for v in candidates.values())
        # the chosen leaf has the largest SSE (or size); ties go to the lowest node number
        assert h.parent == min(node for node, v in candidates.items() if key(v) == best)
        assert h.left_size + h.right_size == h.parent_size
        assert h.left_sse + h.right_sse <= h.parent_sse * (1 + 1e-12)  # a split never adds error
        del leaves[h.parent]
        leaves[h.left] = (h.left_size, h.left_sse)
        leaves[h.right] = (h.right_size, h.right_sse)
    assert model.leaf_nodes_ == tuple(sorted(leaves))
    np.testing.assert_array_equal(node_centres[list(model.leaf_nodes_)], centres)

    # Leaves' sizes and SSEs are those of labels_; inertia_ is their sum.
    sq = sq_distances(X, centres)[np.arange(len(X)), labels]
    for label, node in enumerate(model.leaf_nodes_):
        size, sse = leaves[node]
        assert size == np.sum(labels == label)
        assert sse == pytest.approx((weights * sq)[labels == label].sum(), rel=rtol, abs=1e-9)
    assert model.inertia_ == pytest.approx((weights * sq).sum(), rel=rtol)


def descend(model, X):
    """NumPy reference of predict: at every split, the nearer of the two children."""
    node = np.zeros(len(X), dtype=int)
    node_centres = to_numpy(model.node_centers_)
    for h in model.hierarchy_:
        pair = node_centres[[h.left, h.right]]
        nearer = sq_distances(X, pair).argmin(axis=1)
        node = np.where(node == h.parent, np.where(nearer == 0, h.left, h.right), node)
    label_of = {leaf: label for label, leaf in enumerate(model.leaf_nodes_)}
    return np.array([label_of[v] for v in node])


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("init", ["random", "k-means++"])
def test_hierarchy_is_exact(strategy, init):
    for seed in range(3):
        model = BisectingKMeans(6, init=init, bisecting_strategy=strategy, random_state=seed).fit(X)
        check_hierarchy(model, X)
        np.testing.assert_array_equal(model.predict(X), model.labels_)


def test_the_two_strategies_choose_differently():
    tight = np.random.default_rng(1).normal(size=(200, 2)) * 0.1  # many points, small SSE
    wide = np.random.default_rng(2).normal(size=(50, 2)) * 20 + 100  # few points, large SSE
    data = np.concatenate([tight, wide])
    by_sse = BisectingKMeans(3, bisecting_strategy="biggest_inertia", random_state=0).fit(data).hierarchy_
    by_size = BisectingKMeans(3, bisecting_strategy="largest_cluster", random_state=0).fit(data).hierarchy_
    assert by_sse[0].left_size == 200 or by_sse[0].right_size == 200
    big, wide = (1, 2) if by_sse[0].left_size == 200 else (2, 1)
    assert by_sse[1].parent == wide and by_size[1].parent == big


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_backend_gives_the_numpy_answer(xp, backend, strategy):
    expected = BisectingKMeans(**PARAMS, bisecting_strategy=strategy).fit(X)
    x = xp.asarray(X)
    if strategy == "biggest_inertia":
        model = fitted(xp, backend)
    else:
        model = BisectingKMeans(**PARAMS, bisecting_strategy=strategy).fit(x)
    expect_native(model.cluster_centers_, x, xp.float64)
    expect_native(model.node_centers_, x, xp.float64)
    expect_native(model.labels_, x, xp.int32)
    np.testing.assert_allclose(to_numpy(model.cluster_centers_), expected.cluster_centers_, rtol=1e-10)
    np.testing.assert_array_equal(to_numpy(model.labels_), expected.labels_)
    assert model.inertia_ == pytest.approx(expected.inertia_, rel=1e-10)
    assert [h[:4] + (h.left_size, h.right_size) for h in model.hierarchy_] == [
        h[:4] + (h.left_size, h.right_size) for h in expected.hierarchy_
    ]
    check_hierarchy(model, X)


def test_float32_stays_float32(xp):
    data = X.astype(np.float32)
    x = xp.asarray(data)
    model = BisectingKMeans(2, n_init=2, random_state=4).fit(x)
    expect_native(model.cluster_centers_, x, xp.float32)
    expect_native(model.transform(x), x, xp.float32)
    check_hierarchy(model, data.astype(np.float64), rtol=1e-4)


def test_predict_descends_the_hierarchy(xp, backend):
    reference = numpy_model()
    model = fitted(xp, backend)
    new = np.random.default_rng(7).uniform(-15, 15, size=(400, 3))  # also far from every cluster
    x_new = xp.asarray(new)
    labels = model.predict(x_new)
    expect_native(labels, x_new, xp.int32)
    expected = descend(reference, new)
    np.testing.assert_array_equal(to_numpy(labels), expected)
    # which is not always the nearest leaf centre
    nearest = sq_distances(new, reference.cluster_centers_).argmin(axis=1)
    assert np.any(expected != nearest)
    distances = model.transform(x_new)
    expect_native(distances, x_new, xp.float64)
    np.testing.assert_allclose(to_numpy(distances), np.sqrt(sq_distances(new, reference.cluster_centers_)), rtol=1e-9, atol=1e-9)
    score = model.score(x_new)
    assert isinstance(score, float)
    assert score == pytest.approx(-sq_distances(new, reference.cluster_centers_)[np.arange(400), expected].sum(), rel=1e-10)
    assert model.score(xp.asarray(X)) == pytest.approx(-model.inertia_, rel=1e-10)


def test_fit_predict_and_fit_transform(xp):
    x = xp.asarray(X)
    model = BisectingKMeans(2, n_init=2, random_state=0)  # the root split of PARAMS' fit: compiled once on JAX
    np.testing.assert_array_equal(to_numpy(model.fit_predict(x)), to_numpy(model.labels_))
    np.testing.assert_allclose(
        to_numpy(model.fit_transform(x)), np.sqrt(sq_distances(X, to_numpy(model.cluster_centers_))), rtol=1e-9, atol=1e-9
    )


def test_integer_weights_equal_repeated_observations():
    rng = np.random.default_rng(3)
    counts = rng.integers(1, 4, size=len(X))
    for init in ("random", "k-means++"):
        weighted = BisectingKMeans(5, init=init, random_state=11).fit(X, sample_weight=counts.astype(float))
        repeated = BisectingKMeans(5, init=init, random_state=11).fit(np.repeat(X, counts, axis=0))
        np.testing.assert_allclose(weighted.cluster_centers_, repeated.cluster_centers_, rtol=1e-10)
        np.testing.assert_array_equal(np.repeat(weighted.labels_, counts), repeated.labels_)
        assert weighted.inertia_ == pytest.approx(repeated.inertia_, rel=1e-10)
        check_hierarchy(weighted, X, weights=counts.astype(float))


def test_weights_on_every_backend(xp):
    """... and neither the data nor the weights are modified."""
    w = np.random.default_rng(8).uniform(0.0, 2.0, size=len(X))
    w[:10] = 0.0
    expected = BisectingKMeans(2, n_init=2, random_state=5).fit(X, sample_weight=w)
    x, weights = xp.asarray(X), xp.asarray(w)
    model = BisectingKMeans(2, n_init=2, random_state=5).fit(x, sample_weight=weights)
    np.testing.assert_array_equal(to_numpy(x), X)
    np.testing.assert_array_equal(to_numpy(weights), w)
    np.testing.assert_allclose(to_numpy(model.cluster_centers_), expected.cluster_centers_, rtol=1e-10)
    assert model.inertia_ == pytest.approx(expected.inertia_, rel=1e-10)
    assert model.score(xp.asarray(X), sample_weight=xp.asarray(w)) == pytest.approx(-expected.inertia_, rel=1e-10)
    check_hierarchy(model, X, weights=w)


def test_zero_weight_observations_do_not_move_centres():
    w = np.ones(len(X))
    w[::3] = 0.0
    outliers = X.copy()
    outliers[::3] += 1000.0  # would wreck every centre if they counted
    with_zeros = BisectingKMeans(5, random_state=1).fit(outliers, sample_weight=w)
    kept = w > 0
    np.testing.assert_allclose(
        with_zeros.node_centers_[0], outliers[kept].mean(axis=0), rtol=1e-12
    )
    assert np.all(np.abs(with_zeros.cluster_centers_) < 100)


@pytest.mark.parametrize(
    "name, k",
    [("blobs", 10), ("iris", 3), ("wine", 6), ("digits", 10)],
)
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_inertia_comparable_to_scikit_learn(name, k, strategy):
    sklearn_cluster = pytest.importorskip("sklearn.cluster", reason="scikit-learn is not installed")
    datasets = pytest.importorskip("sklearn.datasets", reason="scikit-learn is not installed")
    if name == "blobs":
        data = datasets.make_blobs(n_samples=1500, centers=10, n_features=5, random_state=0)[0]
    else:
        data = getattr(datasets, f"load_{name}")().data
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    ours = [BisectingKMeans(k, bisecting_strategy=strategy, random_state=s).fit(data) for s in range(5)]
    with threadpool_limits(1):  # OpenMP threads on a busy 2-core machine cost seconds per fit
        theirs = [sklearn_cluster.BisectingKMeans(k, bisecting_strategy=strategy, random_state=s).fit(data) for s in range(5)]
    ratio = np.mean([m.inertia_ for m in ours]) / np.mean([m.inertia_ for m in theirs])
    assert abs(ratio - 1) < 0.10, ratio
    check_hierarchy(ours[0], data)


def test_one_cluster_and_as_many_clusters_as_observations():
    one = BisectingKMeans(1).fit(X)
    assert one.hierarchy_ == [] and one.leaf_nodes_ == (0,)
    np.testing.assert_allclose(one.cluster_centers_, X.mean(axis=0, keepdims=True), rtol=1e-12)
    assert one.inertia_ == pytest.approx(((X - X.mean(axis=0)) ** 2).sum(), rel=1e-12)
    np.testing.assert_array_equal(one.predict(X), np.zeros(len(X)))
    small = X[:7]
    each = BisectingKMeans(7, random_state=0).fit(small)
    assert sorted(each.labels_.tolist()) == list(range(7))
    assert each.inertia_ == pytest.approx(0.0, abs=1e-20)
    check_hierarchy(each, small)


def test_duplicated_observations_never_split_a_single_point():
    data = np.repeat(np.array([[0.0, 0.0], [5.0, 5.0]]), [6, 2], axis=0)
    model = BisectingKMeans(4, random_state=0).fit(data)
    check_hierarchy(model, data)
    assert all(h.parent_size >= 2 for h in model.hierarchy_)
    assert model.inertia_ == 0.0


def test_padding_sizes():
    """Subsets are padded to one of four sizes per power of two, by at most a quarter."""
    import array_api_compat.numpy as anp

    sizes = set()
    for m in range(2, 3000):
        padded, weights = _bisecting._padded(anp.ones((m, 2)), anp.ones(m), anp)
        assert m <= padded.shape[0] < 1.25 * m + 1 and weights.shape == (padded.shape[0],)
        assert np.sum(weights) == m
        sizes.add(padded.shape[0])
    assert len(sizes) <= 4 * 12


# -- bad input --------------------------------------------------------------------------


def test_fewer_samples_than_clusters(xp):
    with pytest.raises(ValueError, match="n_samples=3 should be >= n_clusters=4"):
        BisectingKMeans(4).fit(xp.asarray(X[:3]))


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("bad", [math.nan, -math.inf])
def test_non_finite_fit(xp, bad):
    data = X.copy()
    data[7, 2] = bad
    with pytest.raises(ValueError, match="Input X contains (NaN|infinity)"):
        BisectingKMeans(3, random_state=0).fit(xp.asarray(data))


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_non_finite_predict(xp, backend):
    model = fitted(xp, backend)
    data = X[:20].copy()
    data[3, 0] = math.nan
    for method in ("predict", "transform"):
        with raises(backend, ValueError, "Input X contains NaN"):
            settle(getattr(model, method)(xp.asarray(data)))
    with pytest.raises(ValueError, match="Input X contains NaN"):  # score reads a value: eager everywhere
        model.score(xp.asarray(data))


def test_bad_sample_weight(xp):
    x = xp.asarray(X)
    with pytest.raises(ValueError, match="sample_weight.shape"):
        BisectingKMeans(3).fit(x, sample_weight=xp.asarray(np.ones(5)))
    with pytest.raises(ValueError, match="non-negative"):
        BisectingKMeans(3).fit(x, sample_weight=xp.asarray(-np.ones(len(X))))
    with pytest.raises(ValueError, match="not be all zero"):
        BisectingKMeans(3).fit(x, sample_weight=xp.asarray(np.zeros(len(X))))
    w = np.ones(len(X))
    w[0] = math.nan
    with pytest.raises(ValueError, match="sample_weight contains NaN"):
        BisectingKMeans(3).fit(x, sample_weight=xp.asarray(w))


def test_wrong_feature_count_at_predict(xp, backend):
    model = fitted(xp, backend)
    for method in ("predict", "transform", "score"):
        with pytest.raises(ValueError, match="X has 2 features, but BisectingKMeans is expecting 3 features"):
            getattr(model, method)(xp.asarray(X[:, :2]))


def test_unfitted(xp):
    for method in ("predict", "transform", "score"):
        with pytest.raises(NotFittedError, match="not fitted yet"):
            getattr(BisectingKMeans(2), method)(xp.asarray(X))


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_clusters": 0}, "'n_clusters' parameter"),
        ({"n_clusters": 3.0}, "'n_clusters' parameter"),
        ({"init": "k-medians++"}, "'init' parameter"),
        ({"init": X[:3]}, "'init' parameter"),
        ({"n_init": 0}, "'n_init' parameter"),
        ({"max_iter": -1}, "'max_iter' parameter"),
        ({"tol": -0.1}, "'tol' parameter"),
        ({"bisecting_strategy": "smallest"}, "'bisecting_strategy' parameter"),
        ({"random_state": 1.5}, "cannot be used to seed"),
        ({"init": 5}, "'init' parameter of BisectingKMeans must be a str among .* or a callable"),
        ({"algorithm": "full"}, "'algorithm' parameter of BisectingKMeans must be a str among \\['lloyd', 'elkan'\\]"),
        ({"algorithm": None}, "'algorithm' parameter"),
        ({"copy_x": 1}, "'copy_x' parameter of BisectingKMeans must be an instance of 'bool'"),
        ({"copy_x": "yes"}, "'copy_x' parameter"),
        ({"verbose": -1}, "'verbose' parameter of BisectingKMeans must be an int in the range \\[0, inf\\) or a bool"),
        ({"verbose": 1.5}, "'verbose' parameter"),
        ({"verbose": "yes"}, "'verbose' parameter"),
    ],
)
def test_bad_parameters(params, match):
    with pytest.raises(ValueError, match=match) as error:
        BisectingKMeans(**{"n_clusters": 3, **params}).fit(X)
    if "random_state" not in params:  # a seed is refused by the rng helper, as SciPy and KMeans do
        assert isinstance(error.value, InvalidParameterError)


def test_signature_is_scikit_learns():
    names = list(inspect.signature(BisectingKMeans).parameters)
    assert names == ["n_clusters", "init", "n_init", "random_state", "max_iter", "verbose", "tol", "copy_x",
                     "algorithm", "bisecting_strategy"]
    params = BisectingKMeans().get_params()
    assert (params["verbose"], params["copy_x"], params["algorithm"]) == (0, True, "lloyd")


def test_elkan_and_copy_x_false_change_nothing(xp, backend):
    """'elkan' runs the same Lloyd iterations; copy_x=False still never writes to X."""
    x = xp.asarray(X)
    model = BisectingKMeans(**PARAMS, algorithm="elkan", copy_x=False).fit(x)
    np.testing.assert_array_equal(to_numpy(x), X)
    reference = fitted(xp, backend)
    np.testing.assert_array_equal(to_numpy(model.cluster_centers_), to_numpy(reference.cluster_centers_))
    np.testing.assert_array_equal(to_numpy(model.labels_), to_numpy(reference.labels_))
    assert model.hierarchy_ == reference.hierarchy_


def test_verbose_prints_each_split(capsys):
    model = BisectingKMeans(3, random_state=0, verbose=1).fit(X)
    lines = capsys.readouterr().out.splitlines()
    splits = [line for line in lines if line.startswith("Bisection ")]
    assert [line.split(":")[0] for line in splits] == ["Bisection 1/2", "Bisection 2/2"]
    for line, h in zip(splits, model.hierarchy_):
        assert f"node {h.parent} ({h.parent_size} samples" in line
        assert f"nodes {h.left} ({h.left_size} samples" in line and f"{h.right} ({h.right_size} samples" in line
    printed = [line for line in lines if line.startswith("New centroids from bisection: ")]
    assert len(printed) == 2
    # the first split's two centres (one row per line of the printed array)
    first = " ".join(lines[lines.index(printed[0]):lines.index(splits[1])]).split(": ", 1)[1]
    values = np.array([float(v) for v in first.replace("[", " ").replace("]", " ").split()])
    np.testing.assert_allclose(values, model.node_centers_[1:3].ravel(), rtol=1e-6)
    BisectingKMeans(3, random_state=0, verbose=False).fit(X)
    BisectingKMeans(3, random_state=0).fit(X)
    assert capsys.readouterr().out == ""


# -- a callable init ------------------------------------------------------------------------

SQUARE = np.random.default_rng(5).uniform(-1.0, 1.0, size=(200, 2))


@pytest.mark.parametrize("returned", ["native", "host"])
def test_callable_init_gives_the_split_its_centres_imply(xp, returned):
    """One Lloyd step from centres above and below the x axis: the children are the means of
    the points below and above it -- a split no draw chose -- and the callable is called as
    scikit-learn calls it, once per run."""
    calls = []

    def above_and_below(X, n_clusters, random_state):
        calls.append((array_api_compat.array_namespace(X), X.shape, n_clusters, random_state))
        centres = np.array([[0.0, -0.5], [0.0, 0.5]])
        if returned == "host":
            return centres
        xp_x = array_api_compat.array_namespace(X)
        return xp_x.asarray(centres, dtype=X.dtype, device=array_api_compat.device(X))

    x = xp.asarray(SQUARE)
    rng = np.random.RandomState(0)
    model = BisectingKMeans(2, init=above_and_below, n_init=2, max_iter=1, random_state=rng).fit(x)
    assert calls == [(array_api_compat.array_namespace(x), (200, 2), 2, rng)] * 2
    below = SQUARE[:, 1] < 0
    pair = np.stack([SQUARE[below].mean(axis=0), SQUARE[~below].mean(axis=0)])
    expect_native(model.node_centers_, x, xp.float64)
    np.testing.assert_allclose(to_numpy(model.node_centers_)[1:], pair, rtol=1e-12)
    np.testing.assert_array_equal(to_numpy(model.labels_), sq_distances(SQUARE, pair).argmin(axis=1))
    check_hierarchy(model, SQUARE)
    # centres left and right of the y axis split the square the other way
    sideways = BisectingKMeans(2, init=lambda X, n_clusters, random_state: np.array([[-0.5, 0.0], [0.5, 0.0]]),
                               max_iter=1).fit(x)
    left = SQUARE[:, 0] < 0
    np.testing.assert_allclose(to_numpy(sideways.node_centers_)[1:],
                               np.stack([SQUARE[left].mean(axis=0), SQUARE[~left].mean(axis=0)]), rtol=1e-12)


def test_callable_init_sees_the_leaf_it_splits(xp, backend):
    """Each call gets the observations of the leaf being split (in order, in X's units and
    namespace); with its first two rows as starts every backend gives NumPy's hierarchy."""
    seen = []

    def first_two(X, n_clusters, random_state):
        seen.append(to_numpy(X))
        return X[:n_clusters, :]  # (the standard's indexing: every axis named)

    small = blobs(n=120, d=2, k=3, seed=2)
    # Beyond float64's safe range, so the fit scales the data and must scale the callable's
    # starts with it; by a power of two, so the answer is exactly 2**500 times small's.
    data = small * 2.0**500
    expected = BisectingKMeans(3, init=lambda X, n_clusters, random_state: X[:n_clusters, :]).fit(small)
    model = BisectingKMeans(3, init=first_two).fit(xp.asarray(data))
    assert len(seen) == 2
    np.testing.assert_array_equal(seen[0], data)
    first = model.hierarchy_[0]
    node = np.where(sq_distances(data, to_numpy(model.node_centers_)[[first.left, first.right]]).argmin(axis=1) == 0,
                    first.left, first.right)
    np.testing.assert_array_equal(seen[1], data[node == model.hierarchy_[1].parent])
    np.testing.assert_allclose(to_numpy(model.cluster_centers_), expected.cluster_centers_ * 2.0**500, rtol=1e-12)
    np.testing.assert_array_equal(to_numpy(model.labels_), expected.labels_)
    check_hierarchy(model, data)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize(
    "bad, match",
    [
        (lambda X: X[:3, :], r"The shape of the initial centers \(3, 2\) does not match the number of clusters 2"),
        (lambda X: X[:1, :], r"The shape of the initial centers \(1, 2\) does not match the number of clusters 2"),
        (lambda X: X[:2, :1], r"\(2, 1\) does not match the number of features of the data 2"),
        (lambda X: X[0, :], r"The shape of the initial centers \(2,\) does not match"),
        (lambda X: np.full((2, 2), np.nan), "The centres returned by init contains NaN or infinity"),
        (lambda X: np.array([["a", "b"], ["c", "d"]]), "The centres returned by init must hold real numbers"),
        (lambda X: None, "The centres returned by init must hold real numbers"),
    ],
)
def test_bad_callable_init_returns_are_refused(xp, bad, match):
    x = xp.asarray(SQUARE)
    with pytest.raises(ValueError, match=match):
        BisectingKMeans(2, init=lambda X, n_clusters, random_state: bad(X)).fit(x)
    np.testing.assert_array_equal(to_numpy(x), SQUARE)


def test_callable_init_centres_too_far_for_the_dtype():
    data = SQUARE.astype(np.float32)
    far = np.array([[0.0, 0.0], [1e18, 1e18]], dtype=np.float32)  # |c|^2 still fits float32
    model = BisectingKMeans(2, init=lambda X, n_clusters, random_state: far).fit(data)
    np.testing.assert_array_equal(model.cluster_centers_[1], far[1])  # no members: the centre stays
    assert model.hierarchy_[0].left_size == len(data)
    with pytest.raises(ValueError, match="The centres returned by init lie too far from the data"):
        BisectingKMeans(2, init=lambda X, n_clusters, random_state: far * 100).fit(data)


def test_jax_predict_and_transform_make_no_implicit_transfers():
    """(fit slices the leaf being split with a boolean mask and reads its numbers: eager work.)"""
    jax = pytest.importorskip("jax", reason="jax is not installed")
    with xpcluster.array_api_dispatch(True):
        x = jax.numpy.asarray(X)
        model = BisectingKMeans(**PARAMS).fit(x)
        with jax.transfer_guard("disallow"):
            labels, distances = model.predict(x), model.transform(x)
            jax.block_until_ready((labels, distances))
    np.testing.assert_array_equal(np.asarray(labels), numpy_model().labels_)


def test_dask_input_of_unknown_chunk_sizes():
    da = pytest.importorskip("dask.array", reason="dask is not installed")
    x = da.from_array(X, chunks=70)
    x = x[x[:, 0] > -100]  # every row, in blocks of unknown size
    with xpcluster.array_api_dispatch(True):
        model = BisectingKMeans(**PARAMS).fit(x)
        labels = model.predict(x)
    assert isinstance(labels, da.Array)
    np.testing.assert_allclose(model.cluster_centers_.compute(), numpy_model().cluster_centers_, rtol=1e-10)
    np.testing.assert_array_equal(labels.compute(), numpy_model().labels_)


def test_fit_refuses_to_run_inside_jax_jit():
    jax = pytest.importorskip("jax", reason="jax is not installed")
    with xpcluster.array_api_dispatch(True):
        with pytest.raises(TypeError, match="cannot run inside jax.jit"):
            jax.jit(lambda x: BisectingKMeans(2).fit(x).cluster_centers_)(jax.numpy.asarray(X))


def test_params_and_repr():
    model = BisectingKMeans(3, bisecting_strategy="largest_cluster")
    assert model.get_params()["bisecting_strategy"] == "largest_cluster"
    assert repr(model) == "BisectingKMeans(bisecting_strategy='largest_cluster', n_clusters=3)"


def test_scikit_learn_estimator_checks():
    estimator_checks = pytest.importorskip("sklearn.utils.estimator_checks", reason="scikit-learn is not installed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = estimator_checks.check_estimator(BisectingKMeans(3, random_state=0), on_fail=None)
    failed = {r["check_name"] for r in results if r["status"] == "failed"}
    # scikit-learn marks these checks as expected failures of its own BisectingKMeans: with
    # the rows shuffled, the random 2-means starts differ.  The exact equivalence (same row
    # order) is test_integer_weights_equal_repeated_observations.
    assert results and failed <= {"check_sample_weight_equivalence_on_dense_data",
                                  "check_sample_weight_equivalence_on_sparse_data"}


def test_docstring_examples():
    result = doctest.testmod(_bisecting, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
