"""Dask: lazy calls, checks inside the graph, unknown chunk sizes, a distributed cluster.

The shared suite (parity, bad input, SciPy's test_vq) already runs on the "dask" backend
with array-api-extra's compute counting (kmeans2, vq and whiten may not compute at all);
these tests cover what is specific to Dask.  Small arrays run each numeric core as one
NumPy task; the ``path`` fixture runs a test both so and with the per-block graph that
larger data gets (``xpcluster.gather-bytes`` 0).
"""
import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array", reason="dask is not installed")
import dask  # noqa: E402

import xpcluster  # noqa: E402
from xpcluster import vq  # noqa: E402
from xpcluster._backends import capabilities_for  # noqa: E402

import array_api_compat  # noqa: E402


def mixture(n=600, d=3, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=6.0, size=(4, d))
    return centres[rng.integers(0, 4, size=n)] + rng.normal(size=(n, d))


class ComputeCounter:
    """A scheduler that counts the computes it is asked for."""

    def __init__(self):
        self.count = 0

    def __call__(self, dsk, keys, **kwargs):
        self.count += 1
        return dask.get(dsk, keys, **kwargs)


@pytest.fixture(params=["one-task", "per-block"])
def path(request):
    """How cores run: one NumPy task (small data, the default) or the per-block graph."""
    settings = {} if request.param == "one-task" else {"xpcluster.gather-bytes": 0}
    with dask.config.set(settings):
        yield request.param


@pytest.fixture
def counter():
    counting = ComputeCounter()
    with dask.config.set(scheduler=counting):
        yield counting


def test_calls_compute_nothing_and_compute_gives_the_numpy_answer(counter, path):
    data = mixture()
    x = da.from_array(data, chunks=100)
    book = da.from_array(data[:4])
    calls = {
        minit: vq.kmeans2(x, book if minit == "matrix" else 4, minit=minit, rng=1)
        for minit in ("matrix", "points", "random", "++")
    }
    codes, dists = vq.vq(x, book)
    white = vq.whiten(x, check_finite=True)
    assert counter.count == 0
    for minit, (centroids, labels) in calls.items():
        expected = vq.kmeans2(data, data[:4] if minit == "matrix" else 4, minit=minit, rng=1)
        assert isinstance(centroids, da.Array) and isinstance(labels, da.Array)
        np.testing.assert_allclose(centroids.compute(), expected[0], rtol=1e-12)
        np.testing.assert_array_equal(labels.compute(), expected[1])
    np.testing.assert_array_equal(codes.compute(), vq.vq(data, data[:4])[0])
    np.testing.assert_allclose(white.compute(), vq.whiten(data), rtol=1e-12)


def test_checks_fire_when_computed_not_before(counter, path):
    data = mixture()
    data[5, 1] = np.nan
    x = da.from_array(data, chunks=100)
    centroids, labels = vq.kmeans2(x, 3, minit="points", rng=0)
    assert counter.count == 0
    with pytest.raises(ValueError, match="must not contain infs or NaNs"), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # NaN also empties clusters; the error is what counts
        labels.compute()

    clean = da.from_array(mixture(), chunks=100)
    far_book = da.from_array(np.array([[0.0, 0.0, 0.0], [1e3, 1e3, 1e3]]))
    centroids, labels = vq.kmeans2(clean, far_book, minit="matrix", missing="raise")
    with pytest.raises(vq.ClusterError, match="One of the clusters is empty"):
        centroids.compute()
    centroids, labels = vq.kmeans2(clean, far_book, minit="matrix")
    with pytest.warns(UserWarning, match="One of the clusters is empty"):
        dask.compute(centroids, labels)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dask.compute(*vq.kmeans2(clean, 3, minit="++", rng=0, missing="raise"))


def test_graph_grows_linearly_with_iterations():
    x = da.from_array(mixture(), chunks=100)
    book = da.from_array(mixture()[:4])
    with dask.config.set({"xpcluster.gather-bytes": 0}):
        sizes = [len(dict(vq.kmeans2(x, book, iter=n, minit="matrix")[0].__dask_graph__())) for n in (2, 4, 6, 8)]
    steps = np.diff(sizes)
    assert (steps == steps[0]).all() and steps[0] > 0, sizes


def test_small_data_runs_the_core_as_one_task_of_any_iteration_count():
    """No graph per iteration: the graph's size does not depend on the iterations, and the
    values are NumPy's bit for bit."""
    data = mixture()
    x = da.from_array(data, chunks=100)
    book = da.from_array(data[:4])
    sizes = []
    for n in (2, 8, 50):
        centroids, labels = vq.kmeans2(x, book, iter=n, minit="matrix")
        sizes.append(len(dict(centroids.__dask_graph__())))
        expected = vq.kmeans2(data, data[:4], iter=n, minit="matrix")
        np.testing.assert_array_equal(centroids.compute(), expected[0])
        np.testing.assert_array_equal(labels.compute(), expected[1])
    assert sizes[0] == sizes[1] == sizes[2], sizes
    assert sizes[0] < 100, sizes  # the input checks, per block, and one task for the core


def test_kmeans_fit_on_small_data_is_numpys_fit_with_few_computes(counter):
    """KMeans.fit: a handful of computes whatever the iterations, NumPy's result exactly;
    predict and transform stay lazy."""
    from xpcluster.cluster import KMeans

    data = np.random.default_rng(3).normal(size=(2000, 5))  # no clusters: many iterations
    x = da.from_array(data, chunks=500)
    model = KMeans(6, random_state=0, n_init=1).fit(x)
    fit_computes = counter.count
    expected = KMeans(6, random_state=0, n_init=1).fit(data)
    assert model.n_iter_ == expected.n_iter_ > 10
    assert fit_computes <= 12, fit_computes
    assert isinstance(model.cluster_centers_, da.Array) and isinstance(model.labels_, da.Array)
    np.testing.assert_array_equal(model.cluster_centers_.compute(), expected.cluster_centers_)
    np.testing.assert_array_equal(model.labels_.compute(), expected.labels_)
    assert model.inertia_ == expected.inertia_
    counter.count = 0
    labels, distances = model.predict(x), model.transform(x)
    assert counter.count == 0
    np.testing.assert_array_equal(labels.compute(), expected.predict(data))
    np.testing.assert_array_equal(distances.compute(), expected.transform(data))


@pytest.mark.parametrize("algorithm", ["lloyd", "elkan"])
def test_per_block_fit_reads_the_data_once_an_iteration(algorithm):
    """Data larger than memory (persist-bytes 0: not persisted) on the per-block graph:
    each Lloyd iteration is one pass over the data (its empty-cluster test and its step
    share it; with algorithm='elkan' the bounded pass, its sums and the loop's state too),
    plus a few passes before and after the loop."""
    from xpcluster.cluster import KMeans

    data = np.random.default_rng(4).normal(size=(1200, 3))
    produced = []

    def produce(block):
        produced.append(1)
        return block

    x = da.from_array(data, chunks=(300, 3)).map_blocks(produce, dtype=data.dtype)
    settings = {"xpcluster.gather-bytes": 0, "xpcluster.persist-bytes": 0, "scheduler": "sync"}
    counts = {}
    for max_iter in (2, 6):
        produced.clear()
        with dask.config.set(settings):
            model = KMeans(4, init=data[:4], n_init=1, max_iter=max_iter, tol=0, algorithm=algorithm).fit(x)
        assert model.n_iter_ == max_iter
        counts[max_iter] = len(produced) / x.numblocks[0]
        expected = KMeans(4, init=data[:4], n_init=1, max_iter=max_iter, tol=0).fit(data)
        np.testing.assert_allclose(model.cluster_centers_.compute(), expected.cluster_centers_, rtol=1e-12)
    assert counts[6] - counts[2] == 4, counts  # one pass per iteration
    assert counts[2] <= 2 + 6, counts


def test_persist_keeps_only_what_fits():
    caps = capabilities_for(array_api_compat.array_namespace(da.zeros(1)))
    x = da.from_array(mixture(), chunks=100)
    with dask.config.set({"xpcluster.persist-bytes": x.nbytes - 1}):
        assert caps.persist(x) is x  # too large: read again by each pass
    with dask.config.set({"xpcluster.persist-bytes": x.nbytes}):
        kept = caps.persist(x)
    assert kept is not x and len(dict(kept.__dask_graph__())) == x.numblocks[0]


def test_choose_k_on_small_dask_data_reads_it_once(counter):
    from xpcluster import choose_k as ck

    data = mixture(n=120, d=2)
    x = da.from_array(data, chunks=40)
    result = ck.gap_statistic(x, [2, 3, 4, 5], n_refs=3, random_state=0)
    assert counter.count == 1
    expected = ck.gap_statistic(data, [2, 3, 4, 5], n_refs=3, random_state=0)
    assert result.k == expected.k
    np.testing.assert_array_equal(result.gap, expected.gap)
    assert isinstance(result.labels, da.Array)
    assert isinstance(result.estimator.cluster_centers_, da.Array)
    np.testing.assert_array_equal(result.estimator.predict(x).compute(), expected.labels)


def test_random_inits_read_only_the_blocks_they_pick():
    x = da.from_array(mixture(), chunks=100)  # 6 blocks
    caps = capabilities_for(array_api_compat.array_namespace(x))
    rows = caps.take_rows(x, np.array([3, 7, 250]))  # blocks 0 and 2
    (optimized,) = dask.optimize(rows)
    read = {key for key in dict(optimized.__dask_graph__()) if isinstance(key, tuple) and key[0] == x.name}
    assert read == {(x.name, 0, 0), (x.name, 2, 0)}
    np.testing.assert_array_equal(rows.compute(), mixture()[[3, 7, 250]])


def test_unknown_chunk_sizes(counter, path):
    data = mixture()
    x = da.from_array(data, chunks=100)
    unknown = x[x[:, 0] > -1e9]  # same rows, chunk sizes unknown
    assert np.isnan(unknown.shape[0])
    book = da.from_array(data[:4])
    centroids, labels = vq.kmeans2(unknown, book, minit="matrix")  # needs no row count
    codes, _ = vq.vq(unknown, book)
    assert counter.count == 0
    np.testing.assert_allclose(centroids.compute(), vq.kmeans2(data, data[:4], minit="matrix")[0], rtol=1e-12)
    np.testing.assert_array_equal(codes.compute(), vq.vq(data, data[:4])[0])
    counter.count = 0
    centroids, _ = vq.kmeans2(unknown, 4, minit="points", rng=2)  # draws need n: one small compute
    assert counter.count == 1
    assert np.isnan(unknown.shape[0])  # the caller's array is left as it was
    np.testing.assert_allclose(centroids.compute(), vq.kmeans2(data, 4, minit="points", rng=2)[0], rtol=1e-12)


def test_kmeans_computes_one_small_value_per_iteration(counter, path):
    data = mixture()
    x = da.from_array(data, chunks=100)
    book, distortion = vq.kmeans(x, da.from_array(data[:4]))
    expected_book, expected_distortion = vq.kmeans(data, data[:4])
    iterations = counter.count
    np.testing.assert_allclose(np.asarray(book), expected_book, rtol=1e-12)
    np.testing.assert_allclose(float(distortion), expected_distortion, rtol=1e-12)
    # One task: the data's persist, the loop and a few reads.  Per-block graph: a persist of
    # the data, then per iteration one compute persisting the step with its test.
    assert iterations <= (8 if path == "one-task" else 4 + 50), iterations


def test_kmeans_reads_the_data_once():
    """kmeans persists its input: each block is produced once, however many iterations."""
    data = mixture()
    produced = []

    def produce(block, block_info=None):
        if block_info is not None:
            produced.append(block_info[None]["chunk-location"])
        return block

    x = da.from_array(data, chunks=100).map_blocks(produce, dtype=data.dtype)
    with dask.config.set(scheduler="sync"):
        book, _ = vq.kmeans(x, 4, iter=3, rng=0)
    assert len(produced) == x.numblocks[0], produced
    np.testing.assert_allclose(np.asarray(book), vq.kmeans(data, 4, iter=3, rng=0)[0], rtol=1e-12)


@pytest.fixture(scope="module")
def cluster_client():
    distributed = pytest.importorskip("distributed", reason="distributed is not installed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            yield client


def test_on_a_distributed_cluster(cluster_client, path):
    data = mixture(n=2000, d=4)
    x = da.from_array(data, chunks=250)
    book = da.from_array(data[:5])
    for minit, k in (("matrix", book), ("++", 5), ("points", 5)):
        centroids, labels = vq.kmeans2(x, k, minit=minit, rng=3)
        expected = vq.kmeans2(data, data[:5] if minit == "matrix" else 5, minit=minit, rng=3)
        got_c, got_l = cluster_client.compute([centroids, labels], sync=True)
        np.testing.assert_allclose(got_c, expected[0], rtol=1e-12)
        np.testing.assert_array_equal(got_l, expected[1])
    bad = data.copy()
    bad[0, 0] = np.inf
    centroids, _ = vq.kmeans2(da.from_array(bad, chunks=250), 3, minit="points", rng=0)
    with pytest.raises(ValueError, match="must not contain infs or NaNs"):
        cluster_client.compute(centroids, sync=True)
    book_k, distortion = vq.kmeans(x, 4, iter=2, rng=5)
    expected_book, expected_distortion = vq.kmeans(data, 4, iter=2, rng=5)
    np.testing.assert_allclose(np.asarray(book_k), expected_book, rtol=1e-12)


@pytest.mark.parametrize("minit", ["matrix", "points", "random", "++", "k-means||"])
def test_blocks_a_mask_emptied(minit, path):
    """A boolean mask that empties whole blocks (zero-row blocks, unknown sizes): every
    minit gives NumPy's answer (zero-row blocks once broke the totals and Dask's cumsum)."""
    data = mixture(n=200)
    data[:100, 0] = -100.0
    keep = data[:, 0] > -50
    x = da.from_array(data, chunks=(20, 3))
    subset = x[x[:, 0] > -50]
    start = data[keep][:4] if minit == "matrix" else 4
    with xpcluster.array_api_dispatch():
        ours = vq.kmeans2(subset, da.from_array(start) if minit == "matrix" else start, minit=minit, rng=1)
        reference = vq.kmeans2(data[keep], start, minit=minit, rng=1)
    np.testing.assert_allclose(np.asarray(ours[0].compute()), reference[0], rtol=1e-12)
    np.testing.assert_array_equal(np.asarray(ours[1].compute()), reference[1])
