"""scipy.sparse input to the k-means estimators and functions: the same answers as dense input
and as scikit-learn, any sparse format, never densified whole, never modified, bad input refused."""
from __future__ import annotations

import tracemalloc
import warnings

import numpy as np
import pytest

sparse = pytest.importorskip("scipy.sparse", reason="SciPy is not installed")

import xpcluster  # noqa: E402
from xpcluster.cluster import BisectingKMeans, KMeans, KMedians, MiniBatchKMeans, k_means, kmeans_plusplus  # noqa: E402


def blobs_csr(n=300, d=40, k=4, density=0.25, seed=0, dtype=np.float64):
    """Sparse data with cluster structure: each cluster uses its own block of columns."""
    rng = np.random.default_rng(seed)
    dense = np.zeros((n, d))
    truth = rng.integers(0, k, size=n)
    width = d // k
    for i, c in enumerate(truth):
        cols = c * width + rng.choice(width, size=max(1, min(width, int(density * d))), replace=False)
        dense[i, cols] = rng.random(cols.size) + 0.5
    return sparse.csr_matrix(dense.astype(dtype)), dense.astype(dtype)


def snapshot(m):
    m = m.tocsr() if m.format in ("dok", "lil") else m
    parts = [getattr(m, name) for name in ("data", "indices", "indptr", "row", "col", "offsets") if hasattr(m, name)]
    return [np.array(p, copy=True) for p in parts]


FORMATS = ["csr_matrix", "csr_array", "csc_matrix", "coo_matrix", "coo_array", "dok_matrix", "lil_matrix", "bsr_matrix"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_kmeans_any_format_equals_dense(fmt):
    X, dense = blobs_csr()
    Xs = getattr(sparse, fmt)(X)
    before = snapshot(Xs)
    a = KMeans(4, random_state=0, n_init=2).fit(Xs)
    b = KMeans(4, random_state=0, n_init=2).fit(dense)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, rtol=1e-12, atol=1e-13)
    assert a.inertia_ == pytest.approx(b.inertia_, rel=1e-12)
    assert a.n_iter_ == b.n_iter_
    for old, new in zip(before, snapshot(Xs)):
        np.testing.assert_array_equal(old, new)  # never modified
    assert isinstance(a.cluster_centers_, np.ndarray) and a.cluster_centers_.dtype == np.float64
    np.testing.assert_array_equal(a.predict(Xs), b.predict(dense))
    np.testing.assert_allclose(a.transform(Xs), b.transform(dense), rtol=1e-10, atol=1e-10)
    assert a.score(Xs) == pytest.approx(b.score(dense), rel=1e-12)


@pytest.mark.parametrize("algorithm", ["lloyd", "elkan"])
@pytest.mark.parametrize("init", ["k-means++", "random"])
def test_kmeans_equals_scikit_learn_on_sparse(init, algorithm):
    sklearn_cluster = pytest.importorskip("sklearn.cluster", reason="scikit-learn is not installed")
    X, _ = blobs_csr(n=400, d=60, k=5, seed=3)
    ours = KMeans(5, init=init, n_init=3, random_state=7, algorithm=algorithm).fit(X)
    theirs = sklearn_cluster.KMeans(5, init=init, n_init=3, random_state=7, algorithm=algorithm).fit(X)
    np.testing.assert_array_equal(ours.labels_, theirs.labels_)
    np.testing.assert_allclose(ours.cluster_centers_, theirs.cluster_centers_, rtol=1e-10, atol=1e-12)
    assert ours.inertia_ == pytest.approx(theirs.inertia_, rel=1e-10)


def test_sample_weight_and_float32():
    X, dense = blobs_csr(dtype=np.float32, seed=5)
    w = np.random.default_rng(1).random(X.shape[0]) * 3
    a = KMeans(4, random_state=1).fit(X, sample_weight=w)
    b = KMeans(4, random_state=1).fit(dense, sample_weight=w)
    assert a.cluster_centers_.dtype == np.float32
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, rtol=1e-5, atol=1e-6)
    assert a.score(X, sample_weight=w) == pytest.approx(b.score(dense, sample_weight=w), rel=1e-5)


def test_integer_unsorted_duplicates_explicit_zeros_and_empty_rows():
    rng = np.random.default_rng(2)
    n, d = 120, 15
    rows = rng.integers(0, n - 10, size=600)  # the last 10 rows stay empty
    cols = rng.integers(0, d, size=600)
    vals = rng.integers(-3, 6, size=600)  # some zeros: explicit zeros once stored
    coo = sparse.coo_matrix((vals, (rows, cols)), shape=(n, d))  # duplicates summed by meaning
    dense = coo.toarray().astype(np.float64)
    csr = coo.tocsr()
    csr.sum_duplicates()
    # Reverse the indices within each row: valid CSR with unsorted indices.
    for i in range(n):
        lo, hi = csr.indptr[i], csr.indptr[i + 1]
        csr.indices[lo:hi] = csr.indices[lo:hi][::-1].copy()
        csr.data[lo:hi] = csr.data[lo:hi][::-1].copy()
    csr.has_sorted_indices = False
    for X in (coo, csr):
        before = snapshot(X)
        a = KMeans(3, random_state=0, n_init=1).fit(X)
        b = KMeans(3, random_state=0, n_init=1).fit(dense)
        assert a.cluster_centers_.dtype == np.float64
        np.testing.assert_array_equal(a.labels_, b.labels_)
        np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, rtol=1e-12, atol=1e-12)
        for old, new in zip(before, snapshot(X)):
            np.testing.assert_array_equal(old, new)


def test_minibatch_sparse_equals_dense_and_partial_fit():
    X, dense = blobs_csr(n=500, seed=4)
    a = MiniBatchKMeans(4, random_state=0, batch_size=64, n_init=2).fit(X)
    b = MiniBatchKMeans(4, random_state=0, batch_size=64, n_init=2).fit(dense)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, rtol=1e-10, atol=1e-12)
    assert a.n_steps_ == b.n_steps_
    p = MiniBatchKMeans(4, random_state=0).partial_fit(X[:200]).partial_fit(X[200:])
    q = MiniBatchKMeans(4, random_state=0).partial_fit(dense[:200]).partial_fit(dense[200:])
    np.testing.assert_allclose(p.cluster_centers_, q.cluster_centers_, rtol=1e-10, atol=1e-12)


def test_minibatch_equals_scikit_learn_on_sparse():
    sklearn_cluster = pytest.importorskip("sklearn.cluster", reason="scikit-learn is not installed")
    X, _ = blobs_csr(n=600, seed=6)
    ours = MiniBatchKMeans(4, random_state=3, batch_size=100).fit(X)
    theirs = sklearn_cluster.MiniBatchKMeans(4, random_state=3, batch_size=100).fit(X)
    np.testing.assert_array_equal(ours.labels_, theirs.labels_)
    np.testing.assert_allclose(ours.cluster_centers_, theirs.cluster_centers_, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("strategy", ["biggest_inertia", "largest_cluster"])
def test_bisecting_sparse_equals_dense(strategy):
    X, dense = blobs_csr(n=300, seed=8)
    w = np.random.default_rng(0).random(X.shape[0])
    a = BisectingKMeans(5, random_state=0, bisecting_strategy=strategy).fit(X, sample_weight=w)
    b = BisectingKMeans(5, random_state=0, bisecting_strategy=strategy).fit(dense, sample_weight=w)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, rtol=1e-10, atol=1e-12)
    assert a.inertia_ == pytest.approx(b.inertia_, rel=1e-10)
    np.testing.assert_array_equal(a.predict(X), b.predict(dense))
    np.testing.assert_allclose(a.transform(X), b.transform(dense), rtol=1e-10, atol=1e-10)


def test_functions_on_sparse():
    X, dense = blobs_csr(seed=9)
    centres, indices = kmeans_plusplus(X, 4, random_state=0)
    centres_d, indices_d = kmeans_plusplus(dense, 4, random_state=0)
    np.testing.assert_array_equal(indices, indices_d)
    np.testing.assert_array_equal(centres, dense[indices])
    c, labels, inertia = k_means(X, 4, random_state=0)
    c_d, labels_d, inertia_d = k_means(dense, 4, random_state=0)
    np.testing.assert_array_equal(labels, labels_d)
    assert inertia == pytest.approx(inertia_d, rel=1e-12)


def test_callable_init_sees_scipy_sparse():
    X, _ = blobs_csr()
    seen = []

    def init(data, k, random_state):
        seen.append(data)
        return data[:k].toarray()

    KMeans(4, init=init, n_init=1).fit(X)
    assert sparse.issparse(seen[0]) and seen[0].shape == X.shape
    np.testing.assert_array_equal(seen[0].toarray(), X.toarray())


def test_k_means_parallel_seeding_on_sparse():
    X, dense = blobs_csr(seed=10)
    a = KMeans(4, init="k-means||", random_state=0, n_init=1).fit(X)
    b = KMeans(4, init="k-means||", random_state=0, n_init=1).fit(dense)
    np.testing.assert_array_equal(a.labels_, b.labels_)


def test_fit_never_densifies_the_matrix():
    # 2,000 x 200,000 is 3.2 GB dense; its 40,000 entries take under 1 MB.
    n, d = 2000, 200_000
    rng = np.random.default_rng(0)
    rows = np.repeat(np.arange(n), 20)
    cols = (rows % 4) * (d // 4) + rng.integers(0, 500, size=rows.size)
    X = sparse.csr_matrix((rng.random(rows.size) + 0.1, (rows, cols)), shape=(n, d))
    tracemalloc.start()
    try:
        model = KMeans(4, random_state=0, n_init=1, max_iter=10).fit(X)
        model.predict(X)
        model.transform(X[:100])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # O(nnz + block * k + k * d): the centres and their sums (k * d floats) dominate.
    assert peak < 40 * 4 * d * 8, f"peak {peak / 2**20:.1f} MiB"
    assert len(np.unique(model.labels_)) == 4


def test_blocks_and_threads_change_at_most_the_rounding(monkeypatch):
    X, dense = blobs_csr(n=3000, d=50, seed=11)
    reference = KMeans(4, random_state=0, n_init=1).fit(dense)
    for threads in ("1", "2"):
        monkeypatch.setenv("XPCLUSTER_NUM_THREADS", threads)
        with xpcluster.memory_budget(2**16):  # many small blocks, shared between the threads
            model = KMeans(4, random_state=0, n_init=1).fit(X)
        np.testing.assert_array_equal(model.labels_, reference.labels_)
        np.testing.assert_allclose(model.cluster_centers_, reference.cluster_centers_, rtol=1e-12, atol=1e-12)


# -- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize("value, message", [(np.nan, "NaN"), (np.inf, "infinity")])
@pytest.mark.parametrize("estimator", [KMeans, MiniBatchKMeans, BisectingKMeans])
def test_non_finite_stored_values_are_refused(estimator, value, message):
    X, _ = blobs_csr()
    X = X.copy()
    X.data[5] = value
    with pytest.raises(ValueError, match=message):
        estimator(3, random_state=0).fit(X)
    fitted = estimator(3, random_state=0).fit(blobs_csr()[0])
    with pytest.raises(ValueError, match="NaN or infinity"):
        fitted.predict(X)


def test_sparse_init_is_refused():
    X, dense = blobs_csr()
    with pytest.raises(TypeError, match="dense array of centres"):
        KMeans(4, init=sparse.csr_matrix(dense[:4]), n_init=1).fit(X)


def test_width_mismatch_at_predict():
    X, _ = blobs_csr(d=40)
    model = KMeans(3, random_state=0).fit(X)
    other = sparse.random(10, 41, density=0.2, format="csr", random_state=0)
    with pytest.raises(ValueError, match="X has 41 features, but KMeans is expecting 40"):
        model.predict(other)
    with pytest.raises(ValueError, match="X has 41 features"):
        model.transform(other)


@pytest.mark.parametrize("weights, message", [
    ("negative", "non-negative"), ("nan", "NaN"), ("short", "sample_weight.shape"),
])
def test_bad_sample_weight_on_sparse(weights, message):
    X, _ = blobs_csr()
    w = np.ones(X.shape[0])
    if weights == "negative":
        w[3] = -1
    elif weights == "nan":
        w[3] = np.nan
    else:
        w = w[:-1]
    with pytest.raises(ValueError, match=message):
        KMeans(3).fit(X, sample_weight=w)


def test_complex_and_object_sparse_are_refused():
    X, _ = blobs_csr()
    with pytest.raises(ValueError, match="Complex data not supported"):
        KMeans(3).fit(X.astype(np.complex128))


def test_kmedians_refuses_sparse_clearly():
    X, _ = blobs_csr()
    with pytest.raises(TypeError, match="KMedians does not accept sparse input"):
        KMedians(3).fit(X)


def test_sparse_predict_on_a_model_of_another_library():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    X, dense = blobs_csr()
    model = KMeans(3, random_state=0).fit(torch.asarray(dense))
    with pytest.raises(TypeError, match="another library"):
        model.predict(X)


def test_no_warnings_on_clean_sparse_fit():
    X, _ = blobs_csr()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        KMeans(4, random_state=0).fit(X)


# -- PyTorch sparse tensors and JAX's BCOO: the same answers as scipy.sparse ---------------------


def _torch_layouts(torch, dense):
    t = torch.asarray(dense)
    return {"coo": t.to_sparse_coo(), "csr": t.to_sparse_csr(), "csc": t.to_sparse_csc(),
            "bsr": t.to_sparse_bsr((1, 1))}


@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta:UserWarning")
@pytest.mark.parametrize("estimator", [KMeans, MiniBatchKMeans, BisectingKMeans])
def test_torch_sparse_tensors_equal_scipy(estimator):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    X, dense = blobs_csr(n=240, seed=12)
    reference = estimator(4, random_state=0).fit(X)
    params = estimator(4, random_state=0).get_params()
    for layout, T in _torch_layouts(torch, dense).items():
        before = T.to_dense().clone()
        model = estimator(**params).fit(T)
        assert isinstance(model.cluster_centers_, torch.Tensor), layout
        assert model.cluster_centers_.dtype == torch.float64 and model.labels_.dtype == torch.int32
        np.testing.assert_array_equal(model.labels_.numpy(), reference.labels_)
        np.testing.assert_allclose(model.cluster_centers_.numpy(), reference.cluster_centers_, rtol=1e-12,
                                   atol=1e-14)
        np.testing.assert_array_equal(model.predict(T).numpy(), reference.predict(X))
        np.testing.assert_allclose(model.transform(T).numpy(), reference.transform(X), rtol=1e-7, atol=1e-7)
        assert model.score(T) == pytest.approx(reference.score(X), rel=1e-12)
        assert torch.equal(T.to_dense(), before)  # never modified


@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta:UserWarning")
def test_torch_sparse_integers_float32_and_bad_input():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    X, dense = blobs_csr(n=200, seed=13)
    T32 = torch.asarray(dense.astype(np.float32)).to_sparse_csr()
    model = KMeans(3, random_state=0).fit(T32)
    assert model.cluster_centers_.dtype == torch.float32
    counts = torch.asarray(np.rint(dense * 4).astype(np.int64)).to_sparse_coo()
    as_int = KMeans(3, random_state=0).fit(counts)
    as_float = KMeans(3, random_state=0).fit(np.rint(dense * 4))
    assert as_int.cluster_centers_.dtype == torch.float64
    np.testing.assert_array_equal(as_int.labels_.numpy(), as_float.labels_)
    bad = torch.asarray(dense).to_sparse_coo().coalesce()
    values = bad.values().clone()
    values[0] = float("nan")
    bad = torch.sparse_coo_tensor(bad.indices(), values, bad.shape)
    with pytest.raises(ValueError, match="NaN"):
        KMeans(3).fit(bad)
    with pytest.raises(ValueError, match="X has 40 features, but KMeans is expecting 41"):
        KMeans(3, random_state=0).fit(torch.asarray(np.hstack([dense, dense[:, :1]]))).predict(
            torch.asarray(dense).to_sparse_csr())
    with pytest.raises(TypeError, match="another library"):
        KMeans(3, random_state=0).fit(dense).predict(torch.asarray(dense).to_sparse_csr())


def _jax():
    jax = pytest.importorskip("jax", reason="JAX is not installed")
    pytest.importorskip("jax.experimental.sparse", reason="this JAX has no jax.experimental.sparse")
    return jax


@pytest.mark.parametrize("estimator", [KMeans, MiniBatchKMeans, BisectingKMeans])
def test_jax_bcoo_equals_scipy_eagerly_and_under_jit(estimator):
    jax = _jax()
    from jax.experimental import sparse as jsparse

    X, dense = blobs_csr(n=240, seed=14)
    dtype = np.float64 if jax.config.jax_enable_x64 else np.float32
    X, dense = X.astype(dtype), dense.astype(dtype)
    B = jsparse.BCOO.from_scipy_sparse(X)
    reference = estimator(4, random_state=0).fit(X)
    model = estimator(4, random_state=0).fit(B)
    tolerance = 1e-12 if dtype == np.float64 else 1e-5
    assert model.cluster_centers_.dtype == dtype
    np.testing.assert_array_equal(np.asarray(model.labels_), reference.labels_)
    np.testing.assert_allclose(np.asarray(model.cluster_centers_), reference.cluster_centers_, rtol=tolerance,
                               atol=tolerance)
    # predict and transform inside the caller's jax.jit: the BCOO's structure is unknown there.
    labels = jax.jit(model.predict)(B)
    distances = jax.jit(model.transform)(B)
    np.testing.assert_array_equal(np.asarray(labels), reference.predict(X))
    np.testing.assert_allclose(np.asarray(distances), reference.transform(X), rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(np.asarray(model.predict(B)), reference.predict(X))


def test_jax_bcoo_duplicates_and_bad_input():
    jax = _jax()
    import jax.numpy as jnp
    from jax.experimental import sparse as jsparse

    X, dense = blobs_csr(n=120, seed=15)
    coo = X.tocoo()
    # Every entry stored twice, each with half its value: the same matrix.
    rows = np.concatenate([coo.row, coo.row])
    cols = np.concatenate([coo.col, coo.col])
    halves = np.concatenate([coo.data, coo.data]) / 2
    B = jsparse.BCOO((jnp.asarray(halves), jnp.asarray(np.stack([rows, cols], axis=1))), shape=X.shape)
    reference = KMeans(3, random_state=0).fit(X)
    model = KMeans(3, random_state=0).fit(B)
    np.testing.assert_array_equal(np.asarray(model.labels_), reference.labels_)
    bad = jsparse.BCOO((B.data.at[0].set(jnp.nan), B.indices), shape=B.shape)
    with pytest.raises(ValueError, match="NaN"):
        KMeans(3).fit(bad)
    with pytest.raises(Exception, match="NaN or infinity"):
        jax.block_until_ready(jax.jit(model.predict)(bad))


# -- Dask arrays of SciPy sparse blocks ------------------------------------------------------------


def _dask_sparse(X, rows=70):
    da = pytest.importorskip("dask.array", reason="Dask is not installed")
    return da.from_array(X, chunks=(rows, X.shape[1]), asarray=False)


@pytest.mark.parametrize("init", ["k-means++", "random", "k-means||"])
def test_dask_sparse_blocks_equal_scipy(init):
    X, _ = blobs_csr(n=260, seed=16)
    D = _dask_sparse(X)
    w = np.random.default_rng(2).random(X.shape[0])
    for weights in (None, w):
        reference = KMeans(4, init=init, n_init=2, random_state=0).fit(X, sample_weight=weights)
        model = KMeans(4, init=init, n_init=2, random_state=0).fit(D, sample_weight=weights)
        np.testing.assert_array_equal(np.asarray(model.labels_), reference.labels_)
        np.testing.assert_allclose(np.asarray(model.cluster_centers_), reference.cluster_centers_, rtol=1e-12,
                                   atol=1e-14)
        assert model.inertia_ == pytest.approx(reference.inertia_, rel=1e-12)
    c, i = kmeans_plusplus(D, 4, random_state=0)
    c_ref, i_ref = kmeans_plusplus(X, 4, random_state=0)
    np.testing.assert_array_equal(np.asarray(i), i_ref)
    np.testing.assert_array_equal(np.asarray(c), c_ref)


def test_dask_sparse_predict_transform_stay_lazy():
    dask = pytest.importorskip("dask", reason="Dask is not installed")
    from dask.callbacks import Callback

    X, _ = blobs_csr(n=260, seed=17)
    D = _dask_sparse(X)
    model = KMeans(4, random_state=0).fit(D)
    reference = KMeans(4, random_state=0).fit(X)

    class Counter(Callback):
        computes = 0

        def _start(self, dsk):
            Counter.computes += 1

    with Counter():
        labels, distances = model.predict(D), model.transform(D)
    assert Counter.computes == 0
    assert isinstance(labels, dask.array.Array)
    np.testing.assert_array_equal(labels.compute(), reference.predict(X))
    np.testing.assert_allclose(distances.compute(), reference.transform(X), rtol=1e-10, atol=1e-10)
    assert model.score(D) == pytest.approx(reference.score(X), rel=1e-12)
    bad = X.copy()
    bad.data[0] = np.nan
    lazy = model.predict(_dask_sparse(bad))  # refused when computed, as dense Dask input
    with pytest.raises(ValueError, match="NaN or infinity"):
        lazy.compute()


@pytest.mark.parametrize("estimator", [MiniBatchKMeans, BisectingKMeans])
def test_dask_sparse_blocks_minibatch_and_bisecting_equal_scipy(estimator):
    X, _ = blobs_csr(n=300, seed=18)
    D = _dask_sparse(X)
    w = np.random.default_rng(3).random(X.shape[0])
    for weights in (None, w):
        reference = estimator(4, random_state=0).fit(X, sample_weight=weights)
        model = estimator(4, random_state=0).fit(D, sample_weight=weights)
        np.testing.assert_array_equal(np.asarray(model.labels_), reference.labels_)
        np.testing.assert_allclose(np.asarray(model.cluster_centers_), reference.cluster_centers_, rtol=1e-12,
                                   atol=1e-14)
        np.testing.assert_array_equal(model.predict(D).compute(), reference.predict(X))
    if estimator is MiniBatchKMeans:
        p = MiniBatchKMeans(4, random_state=0).partial_fit(D[:150]).partial_fit(D[150:])
        q = MiniBatchKMeans(4, random_state=0).partial_fit(X[:150]).partial_fit(X[150:])
        np.testing.assert_allclose(np.asarray(p.cluster_centers_), q.cluster_centers_, rtol=1e-12, atol=1e-14)


def _sparse_on(backend, X):
    """``X`` (SciPy CSR) as the sparse input of ``backend``."""
    if backend == "torch":
        torch = pytest.importorskip("torch", reason="PyTorch is not installed")
        return torch.asarray(X.toarray()).to_sparse_csr()
    if backend == "jax":
        _jax()
        from jax.experimental import sparse as jsparse

        return jsparse.BCOO.from_scipy_sparse(X)
    return _dask_sparse(X, rows=90)


@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta:UserWarning")
@pytest.mark.parametrize("backend", ["torch", "jax", "dask"])
@pytest.mark.parametrize("make", [
    lambda: xpcluster.cluster.SphericalKMeans(4, random_state=0),
    lambda: xpcluster.cluster.KMedoids(4, random_state=0),
    lambda: xpcluster.cluster.KMedoids(4, metric="manhattan", random_state=0),
    lambda: xpcluster.cluster.KMedoids(4, metric="cosine", method="pam", random_state=0),
], ids=["spherical", "kmedoids-euclidean", "kmedoids-manhattan", "kmedoids-cosine-pam"])
def test_other_estimators_on_every_sparse_backend(backend, make):
    X, _ = blobs_csr(n=240, seed=19)
    if backend == "jax" and not _jax().config.jax_enable_x64:
        X = X.astype(np.float32)
    reference = make().fit(X)
    model = make().fit(_sparse_on(backend, X))
    np.testing.assert_array_equal(np.asarray(model.labels_), reference.labels_)
    np.testing.assert_array_equal(np.asarray(model.predict(_sparse_on(backend, X))), reference.predict(X))


def test_read_only_canonical_input_is_never_written():
    X, dense = blobs_csr(n=200, seed=20)
    for part in (X.data, X.indices, X.indptr):
        part.flags.writeable = False  # any write would raise
    model = KMeans(3, random_state=0, n_init=1).fit(X)
    reference = KMeans(3, random_state=0, n_init=1).fit(dense)
    np.testing.assert_array_equal(model.labels_, reference.labels_)
    np.testing.assert_array_equal(model.predict(X), reference.predict(dense))
    assert X.has_canonical_format
