"""Dask: lazy calls, checks inside the graph, unknown chunk sizes, a distributed cluster.

The shared suite (parity, bad input, SciPy's test_vq) already runs on the "dask" backend
with array-api-extra's compute counting (kmeans2, vq and whiten may not compute at all);
these tests cover what is specific to Dask.
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


@pytest.fixture
def counter():
    counting = ComputeCounter()
    with dask.config.set(scheduler=counting):
        yield counting


def test_calls_compute_nothing_and_compute_gives_the_numpy_answer(counter):
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


def test_checks_fire_when_computed_not_before(counter):
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
    sizes = [len(dict(vq.kmeans2(x, book, iter=n, minit="matrix")[0].__dask_graph__())) for n in (2, 4, 6, 8)]
    steps = np.diff(sizes)
    assert (steps == steps[0]).all() and steps[0] > 0, sizes


def test_random_inits_read_only_the_blocks_they_pick():
    x = da.from_array(mixture(), chunks=100)  # 6 blocks
    caps = capabilities_for(array_api_compat.array_namespace(x))
    rows = caps.take_rows(x, np.array([3, 7, 250]))  # blocks 0 and 2
    (optimized,) = dask.optimize(rows)
    read = {key for key in dict(optimized.__dask_graph__()) if isinstance(key, tuple) and key[0] == x.name}
    assert read == {(x.name, 0, 0), (x.name, 2, 0)}
    np.testing.assert_array_equal(rows.compute(), mixture()[[3, 7, 250]])


def test_unknown_chunk_sizes(counter):
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


def test_kmeans_computes_one_small_value_per_iteration(counter):
    data = mixture()
    x = da.from_array(data, chunks=100)
    book, distortion = vq.kmeans(x, da.from_array(data[:4]))
    expected_book, expected_distortion = vq.kmeans(data, data[:4])
    iterations = counter.count
    np.testing.assert_allclose(np.asarray(book), expected_book, rtol=1e-12)
    np.testing.assert_allclose(float(distortion), expected_distortion, rtol=1e-12)
    # one persist of the data, then per iteration a persist of the state and its test
    assert iterations <= 2 + 2 * 50


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


def test_on_a_distributed_cluster(cluster_client):
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
def test_blocks_a_mask_emptied(minit):
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
