"""KMedoids: same medoids as plain-NumPy references on every backend, FasterPAM-quality
loss against the `kmedoids` package, bounded memory at n = 50,000, clear errors.

The references below work on the full (n, n) matrix from SciPy's ``cdist`` with the
textbook definitions (loss of a medoid set = sum over points of the smallest column
entry), independently of the estimator's chunked, cached code.
"""
import doctest
import time
import tracemalloc
import warnings

import array_api_compat
import numpy as np
import pytest
from array_api_extra.testing import lazy_xp_function
from scipy.spatial.distance import cdist

import xpcluster
import xpcluster.cluster._kmedoids as kmedoids_module
from xpcluster.cluster import KMedoids, NotFittedError
from backends import raises, settle, to_numpy

# fit searches eagerly: on Dask it may compute its input once (and no more), on jax_jit it
# runs eagerly; predict and transform run under jax.jit and must not compute on Dask.
lazy_xp_function((KMedoids, "fit"), allow_dask_compute=1, jax_jit=False)
lazy_xp_function((KMedoids, "fit_predict"), allow_dask_compute=1, jax_jit=False)
lazy_xp_function((KMedoids, "predict"), allow_dask_compute=False)
lazy_xp_function((KMedoids, "transform"), allow_dask_compute=False)

VECTOR_METRICS = ("euclidean", "sqeuclidean", "manhattan", "cosine")
SCIPY_METRIC = {"euclidean": "euclidean", "sqeuclidean": "sqeuclidean", "manhattan": "cityblock", "cosine": "cosine"}


def mixture(n=60, d=3, centres=4, seed=0):
    rng = np.random.default_rng(seed)
    middle = rng.normal(scale=5.0, size=(centres, d)) + 8.0  # away from 0: cosine is defined
    return middle[rng.integers(0, centres, size=n)] + rng.normal(size=(n, d))


def full_matrix(X, metric):
    return cdist(X, X, SCIPY_METRIC[metric])


def loss_of(D, medoids):
    return D[:, medoids].min(axis=1).sum()


def reference_eager_swaps(D, medoids, max_iter=100, rtol=1e-9):
    """FasterPAM's search order, with every swap's loss computed from scratch: candidates
    in cyclic order, each swapped with the medoid whose replacement gives the lowest loss
    if that improves the loss; stop after n - 1 candidates in a row without a swap."""
    n = D.shape[0]
    medoids = list(medoids)
    current = loss_of(D, medoids)
    position, remaining, examined = 0, n, 0
    while remaining > 0 and examined < max_iter * n:
        c = position
        position, remaining, examined = (position + 1) % n, remaining - 1, examined + 1
        if c in medoids:
            continue
        losses = [loss_of(D, medoids[:i] + [c] + medoids[i + 1 :]) for i in range(len(medoids))]
        best = int(np.argmin(losses))
        if losses[best] < current - rtol * current:
            medoids[best], current, remaining = c, losses[best], n - 1
    return np.array(medoids), current


def reference_alternate(D, medoids, max_iter=100):
    medoids = np.array(medoids)
    for _ in range(max_iter):
        labels = D[:, medoids].argmin(axis=1)
        updated = medoids.copy()
        for j in range(len(medoids)):
            members = np.flatnonzero(labels == j)
            if members.size:
                updated[j] = members[np.argmin(D[np.ix_(members, members)].sum(axis=0))]
        if np.array_equal(updated, medoids):
            break
        medoids = updated
    return medoids


def reference_build(D, k):
    nearest = np.full(D.shape[0], np.inf)
    medoids = []
    for _ in range(k):
        totals = np.minimum(D, nearest[:, None]).sum(axis=0)
        totals[medoids] = np.inf
        medoids.append(int(np.argmin(totals)))
        nearest = np.minimum(nearest, D[:, medoids[-1]])
    return np.array(medoids)


def reference_plusplus(D, k, seed):
    """The documented rule: first pick uniform, then D(x)-weighted, with the host draws of
    a RandomState(seed) in xpcluster's order."""
    rng = np.random.RandomState(seed)
    first = int(rng.randint(D.shape[0], dtype=np.int64))
    uniforms = rng.uniform(size=k - 1)
    medoids, nearest = [first], D[:, first].copy()
    for u in uniforms:
        cumulative = np.cumsum(nearest / nearest.sum())
        medoids.append(int(np.count_nonzero(cumulative < u)))
        nearest = np.minimum(nearest, D[:, medoids[-1]])
    return np.array(medoids)


def same_place(result, X):
    assert array_api_compat.array_namespace(result) is array_api_compat.array_namespace(X)
    assert array_api_compat.device(result) == array_api_compat.device(X)


def check_fitted(km, X, D, medoids, xp_in):
    """Attributes in X's namespace and device, agreeing with the reference medoids."""
    np.testing.assert_array_equal(to_numpy(km.medoid_indices_), medoids)
    labels = D[:, medoids].argmin(axis=1)
    np.testing.assert_array_equal(to_numpy(km.labels_), labels)
    np.testing.assert_allclose(float(to_numpy(km.inertia_)), loss_of(D, medoids), rtol=1e-10)
    for attribute in (km.medoid_indices_, km.labels_, km.inertia_):
        same_place(attribute, X)
    assert km.labels_.dtype == xp_in.int32
    assert km.inertia_.shape == ()
    if km.metric != "precomputed":
        same_place(km.cluster_centers_, X)
        np.testing.assert_array_equal(to_numpy(km.cluster_centers_), to_numpy(X)[medoids])


# -- every backend: the search itself ------------------------------------------------------


@pytest.mark.parametrize("metric", VECTOR_METRICS + ("precomputed",))
def test_pam_equals_reference_eager_swaps(xp, metric):
    data = mixture()
    D = full_matrix(data, "euclidean" if metric == "precomputed" else metric)
    start = np.array([0, 1, 2, 3])  # a poor start: several swaps to make
    X = xp.asarray(D if metric == "precomputed" else data)
    km = KMedoids(4, metric=metric, method="pam", init=start).fit(X)
    medoids, loss = reference_eager_swaps(D, start)
    check_fitted(km, X, D, medoids, xp)
    assert km.n_iter_ >= 2


def best_single_swap(D, medoids):
    """Brute force: the lowest loss any one swap (a medoid for a non-medoid) reaches."""
    medoids = list(medoids)
    best = np.inf
    for c in range(D.shape[0]):
        if c in medoids:
            continue
        for i in range(len(medoids)):
            best = min(best, loss_of(D, medoids[:i] + [c] + medoids[i + 1 :]))
    return best


@pytest.mark.parametrize("metric", VECTOR_METRICS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pam_ends_where_no_single_swap_improves(metric, seed):
    data = mixture(n=70, d=3, centres=5, seed=seed)
    D = full_matrix(data, metric)
    km = KMedoids(5, metric=metric, method="pam", init="random", random_state=seed).fit(data)
    medoids = np.asarray(km.medoid_indices_)
    loss = loss_of(D, medoids)
    assert best_single_swap(D, medoids) >= loss - 1e-9 * loss
    again = KMedoids(5, metric=metric, method="pam", init="random", random_state=seed).fit(data)
    np.testing.assert_array_equal(np.asarray(again.medoid_indices_), medoids)


@pytest.mark.parametrize("metric", ["euclidean", "manhattan", "precomputed"])
def test_pam_answer_does_not_depend_on_block_sizes_or_caches(metric, monkeypatch):
    """Blocks of candidates (any size) and the O(n) caches change the speed only: the first
    improving candidate of a block is the one the one-at-a-time search swaps."""
    data = mixture(n=300, d=4, centres=6, seed=5)
    X = full_matrix(data, "euclidean") if metric == "precomputed" else data
    start = np.arange(6)  # a poor start: many swaps
    expected = KMedoids(6, metric=metric, method="pam", init=start).fit(X)
    for low, high in [(1, 1), (2, 4), (64, 64)]:
        monkeypatch.setattr(kmedoids_module, "_SWAP_BLOCK_MIN", low)
        monkeypatch.setattr(kmedoids_module, "_SWAP_BLOCK_MAX", high)
        ours = KMedoids(6, metric=metric, method="pam", init=start).fit(X)
        np.testing.assert_array_equal(np.asarray(ours.medoid_indices_), np.asarray(expected.medoid_indices_))
        assert ours.n_iter_ == expected.n_iter_
    monkeypatch.undo()
    with xpcluster.memory_budget(8_000):  # too small for the expanded points and the one-hot
        small = KMedoids(6, metric=metric, method="pam", init=start).fit(X)
    np.testing.assert_array_equal(np.asarray(small.medoid_indices_), np.asarray(expected.medoid_indices_))


@pytest.mark.parametrize("metric", VECTOR_METRICS + ("precomputed",))
def test_alternate_equals_reference(xp, metric):
    data = mixture(seed=1)
    D = full_matrix(data, "manhattan" if metric == "precomputed" else metric)
    start = np.array([5, 6, 7, 8])
    X = xp.asarray(D if metric == "precomputed" else data)
    km = KMedoids(4, metric=metric, method="alternate", init=start).fit(X)
    check_fitted(km, X, D, reference_alternate(D, start), xp)


@pytest.mark.parametrize("init", ["build", "k-medoids++", "random"])
def test_inits_equal_reference(xp, init):
    data = mixture(seed=2)
    D = full_matrix(data, "euclidean")
    X = xp.asarray(data)
    km = KMedoids(4, init=init, max_iter=0, random_state=3).fit(X)
    if init == "build":
        expected = reference_build(D, 4)
    elif init == "k-medoids++":
        expected = reference_plusplus(D, 4, seed=3)
    else:
        expected = np.random.RandomState(3).choice(len(data), size=4, replace=False)
    check_fitted(km, X, D, expected, xp)
    assert km.n_iter_ == 0


def test_one_cluster_is_the_point_of_least_total_distance(xp):
    data = mixture(seed=4)
    D = full_matrix(data, "euclidean")
    best = int(np.argmin(D.sum(axis=0)))
    for method in ("pam", "alternate"):
        km = KMedoids(1, method=method, init=np.array([7])).fit(xp.asarray(data))
        assert to_numpy(km.medoid_indices_).tolist() == [best]


def test_init_indices_as_a_list_or_an_array_of_the_backend(xp, backend):
    data = mixture(seed=15)
    expected = KMedoids(4, method="pam", init=np.array([3, 9, 27, 50])).fit(data).medoid_indices_
    inits = [[3, 9, 27, 50]]
    if backend != "dask":  # a lazy index array would be computed on its own
        inits.append(xp.asarray(np.array([3, 9, 27, 50])))
    for init in inits:
        km = KMedoids(4, method="pam", init=init).fit(xp.asarray(data))
        np.testing.assert_array_equal(to_numpy(km.medoid_indices_), expected)


def test_as_many_clusters_as_points_or_more_than_distinct_points():
    data = mixture(n=8, seed=16)
    for method in ("pam", "alternate"):
        km = KMedoids(8, method=method, init="build").fit(data)
        assert sorted(to_numpy(km.medoid_indices_).tolist()) == list(range(8))
        assert float(to_numpy(km.inertia_)) == 0.0
    repeated = np.repeat(data[:3], 4, axis=0)  # 3 distinct points, 12 rows
    km = KMedoids(4, method="pam", init="k-medoids++", random_state=0).fit(repeated)
    medoids = to_numpy(km.medoid_indices_)
    assert len(set(medoids.tolist())) == 4
    assert float(to_numpy(km.inertia_)) == 0.0


def test_float32_stays_float32_and_integers_become_float(xp):
    data = mixture(seed=5)
    km = KMedoids(4, method="pam", init="build").fit(xp.asarray(data.astype(np.float32)))
    assert km.cluster_centers_.dtype == xp.float32
    assert km.inertia_.dtype == xp.float32
    assert km.transform(xp.asarray(data[:4].astype(np.float32))).dtype == xp.float32
    reference = KMedoids(4, method="pam", init="build").fit(data)
    np.testing.assert_array_equal(to_numpy(km.medoid_indices_), reference.medoid_indices_)

    # Integers compute in the device's widest float (float64 here, also where the library's
    # default float is float32, as PyTorch's is): the dtype policy of every entry point.
    integers = np.round(data * 10).astype(np.int64)
    km = KMedoids(4, method="pam", init="build").fit(xp.asarray(integers))
    nxp = array_api_compat.array_namespace(km.labels_)
    widest = nxp.float64 if "float64" in nxp.__array_namespace_info__().dtypes(
        device=array_api_compat.device(km.labels_), kind="real floating") else nxp.float32
    assert km.cluster_centers_.dtype == widest


def test_input_is_not_modified(xp):
    data = mixture(seed=6)
    X = xp.asarray(data)
    KMedoids(4, method="pam", init="k-medoids++", random_state=0).fit(X)
    KMedoids(4, method="alternate", init="build").fit(X)
    np.testing.assert_array_equal(to_numpy(X), data)


# -- every backend: using a fitted estimator ------------------------------------------------


@pytest.mark.parametrize("metric", VECTOR_METRICS)
def test_predict_and_transform_equal_cdist(xp, metric):
    data = mixture(seed=7)
    queries = mixture(seed=8)
    km = KMedoids(4, metric=metric, init=np.array([3, 17, 29, 41]), max_iter=0).fit(xp.asarray(data))
    medoids = np.array([3, 17, 29, 41])
    Q = xp.asarray(queries)
    distances = km.transform(Q)
    labels = km.predict(Q)
    same_place(distances, Q)
    same_place(labels, Q)
    expected = cdist(queries, data[medoids], SCIPY_METRIC[metric])
    np.testing.assert_allclose(to_numpy(distances), expected, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(to_numpy(labels), expected.argmin(axis=1))
    assert labels.dtype == xp.int32


def test_precomputed_predict_reads_the_medoid_columns(xp):
    data = mixture(seed=9)
    queries = mixture(seed=10)
    D = full_matrix(data, "euclidean")
    km = KMedoids(4, metric="precomputed", method="pam", init="build").fit(xp.asarray(D))
    assert km.cluster_centers_ is None
    assert km.n_features_in_ == len(data)
    on_points = KMedoids(4, method="pam", init="build").fit(data)
    np.testing.assert_array_equal(to_numpy(km.medoid_indices_), on_points.medoid_indices_)
    to_training = cdist(queries, data)
    Q = xp.asarray(to_training)
    np.testing.assert_allclose(to_numpy(km.transform(Q)), to_training[:, to_numpy(km.medoid_indices_)])
    np.testing.assert_array_equal(to_numpy(km.predict(Q)), on_points.predict(queries))


def test_fit_predict_and_fit_transform(xp):
    data = mixture(seed=11)
    X = xp.asarray(data)
    labels = KMedoids(4, init="build").fit_predict(X)
    km = KMedoids(4, init="build").fit(X)
    np.testing.assert_array_equal(to_numpy(labels), to_numpy(km.labels_))
    np.testing.assert_allclose(to_numpy(km.transform(X)), to_numpy(KMedoids(4, init="build").fit_transform(X)))
    np.testing.assert_array_equal(to_numpy(km.predict(X)), to_numpy(km.labels_))


def test_dask_fitted_attributes_are_dask_arrays(xp, backend):
    if backend != "dask":
        pytest.skip("Dask-specific")
    data = mixture(seed=12)
    X = xp.asarray(data)  # several blocks of 50 rows
    km = KMedoids(4, method="pam", init="build").fit(X)  # the fixture allows one compute
    for attribute in (km.medoid_indices_, km.labels_, km.inertia_, km.cluster_centers_):
        assert type(attribute).__module__.startswith("dask")
    expected = KMedoids(4, method="pam", init="build").fit(data)
    np.testing.assert_array_equal(km.labels_.compute(), expected.labels_)
    labels = km.predict(X)  # lazy: the fixture allows no compute
    assert type(labels).__module__.startswith("dask")
    np.testing.assert_array_equal(labels.compute(), expected.labels_)


def test_fit_cannot_be_traced_but_predict_can(backend):
    if backend not in ("jax", "jax_jit"):
        pytest.skip("JAX-specific")
    import jax
    import jax.numpy as jnp

    data = mixture(seed=13)
    X = jnp.asarray(data)
    with pytest.raises(TypeError, match="cannot run inside jax.jit"):
        jax.jit(lambda x: KMedoids(4).fit(x).labels_)(X)
    km = KMedoids(4, init="build").fit(X)
    labels = jax.jit(lambda x: km.predict(x))(X)
    np.testing.assert_array_equal(np.asarray(labels), np.asarray(km.labels_))
    # Using a fitted estimator moves nothing between host and device implicitly.
    with jax.transfer_guard("disallow"):
        labels, distances = km.predict(X), km.transform(X)
        jax.block_until_ready((labels, distances))
    np.testing.assert_array_equal(np.asarray(labels), np.asarray(km.labels_))


# -- quality against the kmedoids package (FasterPAM, Rust) ------------------------------


def _datasets():
    datasets = pytest.importorskip("sklearn.datasets", reason="scikit-learn is not installed")
    digits = datasets.load_digits()
    return {
        "iris": (datasets.load_iris().data, 3),
        "wine": (datasets.load_wine().data, 3),
        "digits[:300]": (digits.data[:300], 10),
    }


@pytest.mark.parametrize("name", ["iris", "wine", "digits[:300]"])
@pytest.mark.parametrize("metric", ["euclidean", "manhattan"])
def test_loss_within_one_percent_of_kmedoids_fasterpam(name, metric):
    kmedoids = pytest.importorskip("kmedoids", reason="the kmedoids package is not installed")
    X, k = _datasets()[name]
    D = full_matrix(X, metric)
    start = np.random.default_rng(0).choice(len(X), size=k, replace=False)
    theirs = kmedoids.fasterpam(D, start.copy(), max_iter=100, n_cpu=1)
    ours = KMedoids(k, metric=metric, method="pam", init=start).fit(X)
    assert float(ours.inertia_) <= 1.01 * theirs.loss
    np.testing.assert_allclose(float(ours.inertia_), loss_of(D, ours.medoid_indices_), rtol=1e-10)
    # Same start, same eager search: the same loss in practice (measured: equal to 1e-15
    # on all six; iris/manhattan reaches it with other medoids, a tie).
    # BUILD and the alternating method agree with the package's too.
    assert sorted(KMedoids(k, metric=metric, init="build", max_iter=0).fit(X).medoid_indices_.tolist()) == sorted(
        np.asarray(kmedoids.pam_build(D, k).medoids).tolist()
    )
    alternating = kmedoids.alternating(D, start.copy(), max_iter=100)
    ours_alt = KMedoids(k, metric=metric, method="alternate", init=start).fit(X)
    np.testing.assert_allclose(float(ours_alt.inertia_), alternating.loss, rtol=1e-9)


# -- memory ---------------------------------------------------------------------------------


def test_alternate_at_50000_points_without_an_n_by_n_matrix():
    n, k = 50_000, 32
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 2)) + rng.integers(0, 8, size=(n, 1)) * 4.0
    budget = 16 * 2**20
    with xpcluster.memory_budget(budget):
        tracemalloc.start()
        try:
            started = time.perf_counter()
            km = KMedoids(k, method="alternate", max_iter=2, random_state=0).fit(X)
            seconds = time.perf_counter() - started
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    print(f"n={n} k={k} alternate, 2 iterations: {seconds:.2f} s, peak {peak / 2**20:.1f} MiB")
    assert km.n_iter_ == 2 and km.labels_.shape == (n,)
    assert np.bincount(km.labels_, minlength=k).min() > 0
    # An n-by-n float64 matrix is 20 GB; the search holds O(n) state plus budget-sized blocks.
    assert peak < 4 * budget, f"peak {peak / 2**20:.1f} MiB"
    assert peak < n * n * 8 / 500


@pytest.mark.parametrize("metric", ["euclidean", "manhattan"])
def test_pam_memory_is_bounded(metric):
    n = 3_000  # an n-by-n float64 matrix would be 72 MB
    X = mixture(n=n, d=4, centres=6, seed=14)
    budget = 4 * 2**20
    with xpcluster.memory_budget(budget):
        tracemalloc.start()
        try:
            km = KMedoids(6, metric=metric, method="pam", init="k-medoids++", max_iter=1, random_state=0).fit(X)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert km.n_iter_ == 1
    assert peak < 3 * budget, f"peak {peak / 2**20:.1f} MiB"


# -- sparse input ---------------------------------------------------------------------------


def sparse_data(n=60, d=14, seed=0, dtype=np.float64, empty=3):
    """Non-negative data in three clusters that differ in their support (clumps of columns),
    a little noise everywhere and ``empty`` (up to 3) empty rows (n >= 10)."""
    rng = np.random.default_rng(seed)
    dense = np.zeros((n, d))
    group = rng.integers(0, 3, size=n)
    for g in range(3):
        members = np.flatnonzero(group == g)
        columns = np.arange(g * (d // 3), (g + 1) * (d // 3) + 2) % d
        mask = rng.random((members.size, columns.size)) < 0.5
        dense[np.ix_(members, columns)] = mask * rng.uniform(1.0, 9.0, size=mask.shape)
    mask = rng.random((n, d)) < 0.05  # a little noise everywhere
    dense[mask] += rng.uniform(0.5, 2.0, size=mask.sum())
    dense[[4, n // 2, n - 5][:empty]] = 0.0  # empty rows
    return dense.astype(dtype)


def messy_csr(dense):
    """``dense`` as a CSR matrix with unsorted column indices, duplicate entries and explicit
    zeros within its rows (SciPy keeps them until ``sum_duplicates``)."""
    coo = messy_coo(dense)
    order = np.argsort(coo.row, kind="stable")  # rows in order; within a row, as messy as before
    indptr = np.concatenate([[0], np.cumsum(np.bincount(coo.row, minlength=dense.shape[0]))])
    csr = scipy_sparse().csr_matrix((coo.data[order], coo.col[order], indptr), shape=dense.shape)
    assert not csr.has_canonical_format
    np.testing.assert_array_equal(csr.toarray(), dense)
    return csr


def messy_coo(dense):
    """``dense`` as a COO matrix with unsorted entries, duplicates that add up to the stored
    value and explicit zeros: what canonicalisation has to undo."""
    rows, cols = np.nonzero(dense)
    values = dense[rows, cols]
    order = np.random.default_rng(1).permutation(rows.size)  # unsorted
    rows, cols, values = rows[order], cols[order], values[order]
    half = np.floor(values / 2)  # integers for integer data: the int64 matrix holds the same data
    rows = np.concatenate([rows, rows[:10], [0, 4, 21]])  # duplicates; explicit zeros, two in empty rows
    cols = np.concatenate([cols, cols[:10], [0, 3, 5]])
    values = np.concatenate([values[:10] - half[:10], values[10:], half[:10], [0.0, 0.0, 0.0]])
    coo = scipy_sparse().coo_matrix((values, (rows, cols)), shape=dense.shape)
    np.testing.assert_array_equal(coo.toarray(), dense)
    return coo


def sparse_reference_matrix(A, B, metric):
    """``cdist``, except that the cosine distance of an all-zero row is 1 (similarity 0), as
    KMedoids and scikit-learn's ``cosine_distances`` define it (``cdist`` gives NaN)."""
    if metric != "cosine":
        return cdist(A, B, SCIPY_METRIC[metric])
    def unit(a):
        norms = np.linalg.norm(a, axis=1, keepdims=True)
        return a / np.where(norms > 0, norms, 1.0)
    return np.clip(1.0 - unit(A) @ unit(B).T, 0.0, 2.0)


def scipy_sparse():
    return pytest.importorskip("scipy.sparse", reason="SciPy is not installed")


def same_medoids(found, expected, X_dense):
    """The same medoids: the same indices, except that identical rows (the empty ones) are
    interchangeable -- a medoid among them is an exact tie, which rounding breaks."""
    found, expected = np.asarray(found), np.asarray(expected)
    np.testing.assert_array_equal(X_dense[found], X_dense[expected])
    distinct = np.any(X_dense[expected] != 0, axis=1)
    np.testing.assert_array_equal(found[distinct], expected[distinct])


def check_same_fit(sparse_fit, dense_fit, X_dense):
    same_medoids(sparse_fit.medoid_indices_, dense_fit.medoid_indices_, X_dense)
    np.testing.assert_array_equal(sparse_fit.labels_, dense_fit.labels_)
    np.testing.assert_allclose(float(sparse_fit.inertia_), float(dense_fit.inertia_), rtol=1e-12)
    if np.unique(X_dense, axis=0).shape[0] == X_dense.shape[0]:
        assert sparse_fit.n_iter_ == dense_fit.n_iter_
    else:  # trading a medoid for an identical row (a tie) may take one more iteration
        assert abs(sparse_fit.n_iter_ - dense_fit.n_iter_) <= 1
    assert isinstance(sparse_fit.cluster_centers_, np.ndarray)
    np.testing.assert_array_equal(sparse_fit.cluster_centers_, X_dense[sparse_fit.medoid_indices_])
    assert sparse_fit.labels_.dtype == np.int32 and sparse_fit.n_features_in_ == X_dense.shape[1]


@pytest.mark.parametrize("metric", VECTOR_METRICS)
@pytest.mark.parametrize("method", ["pam", "alternate"])
@pytest.mark.parametrize("init", ["build", "k-medoids++", "start"])
def test_sparse_fit_equals_dense_fit(metric, method, init):
    dense = sparse_data(seed=2, empty=1)  # no identical rows: every step must agree
    X = scipy_sparse().csr_matrix(dense)
    start = np.array([0, 1, 2, 3])  # a poor start: several swaps or updates to make
    params = dict(n_clusters=4, metric=metric, method=method, init=start if init == "start" else init, random_state=7)
    ours = KMedoids(**params).fit(X)
    reference = KMedoids(**params).fit(dense)
    check_same_fit(ours, reference, dense)
    # ... and the textbook search on the full matrix agrees with both.
    D = sparse_reference_matrix(dense, dense, metric)
    if init == "start":
        expected = reference_eager_swaps(D, start)[0] if method == "pam" else reference_alternate(D, start)
        same_medoids(ours.medoid_indices_, expected, dense)
    np.testing.assert_allclose(float(ours.inertia_), loss_of(D, ours.medoid_indices_), rtol=1e-10)
    queries = sparse_data(n=25, seed=3)
    Q = scipy_sparse().csr_matrix(queries)
    expected_distances = sparse_reference_matrix(queries, dense[ours.medoid_indices_], metric)
    # Expansions near 0 (a point at its medoid): ~sqrt(eps) * |x| for euclidean.
    np.testing.assert_allclose(ours.transform(Q), expected_distances, rtol=1e-9, atol=1e-6)
    np.testing.assert_array_equal(ours.predict(Q), expected_distances.argmin(axis=1))
    np.testing.assert_array_equal(ours.predict(Q), reference.predict(queries))
    np.testing.assert_array_equal(ours.predict(X), ours.labels_)
    np.testing.assert_allclose(ours.transform(Q), reference.transform(queries), rtol=1e-9, atol=1e-6)


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo", "lil", "dok", "bsr"])
@pytest.mark.parametrize("metric", VECTOR_METRICS)
def test_sparse_formats_integers_duplicates_and_explicit_zeros(fmt, metric):
    dense = np.round(sparse_data(seed=4))  # integer-valued, so the int64 matrix is the same data
    coo = messy_coo(dense)
    reference = KMedoids(3, metric=metric, method="pam", init="build").fit(dense)
    for matrix in (coo.asformat(fmt), coo.astype(np.int64).asformat(fmt)):
        ours = KMedoids(3, metric=metric, method="pam", init="build").fit(matrix)
        check_same_fit(ours, reference, dense)
        assert ours.cluster_centers_.dtype == np.float64
        np.testing.assert_array_equal(ours.predict(matrix), reference.labels_)


def test_sparse_csr_with_unsorted_indices_and_sparse_arrays():
    sparse = scipy_sparse()
    dense = sparse_data(seed=5)
    csr = sparse.csr_matrix(dense)
    # Reverse the column order within each row: same matrix, unsorted indices.
    for i in range(csr.shape[0]):
        lo, hi = csr.indptr[i], csr.indptr[i + 1]
        csr.indices[lo:hi] = csr.indices[lo:hi][::-1].copy()
        csr.data[lo:hi] = csr.data[lo:hi][::-1].copy()
    csr.has_sorted_indices = False
    assert not csr.has_sorted_indices
    np.testing.assert_array_equal(csr.toarray(), dense)
    reference = KMedoids(4, method="alternate", init="build").fit(dense)
    for X in (csr, sparse.csr_array(dense), sparse.coo_array(dense)):
        check_same_fit(KMedoids(4, method="alternate", init="build").fit(X), reference, dense)


@pytest.mark.parametrize("method", ["pam", "alternate"])
def test_sparse_input_is_not_modified(method):
    sparse = scipy_sparse()
    dense = sparse_data(seed=6)
    csr = messy_csr(dense)
    csr.data = csr.data.astype(np.float32)
    csc = sparse.csc_matrix(dense)
    saved = [(m, m.data.copy(), m.indices.copy(), m.indptr.copy(), m.dtype) for m in (csr, csc)]
    for X in (csr, csc):
        km = KMedoids(4, method=method, init="k-medoids++", random_state=0).fit(X)
        km.predict(X)
        km.transform(X)
        KMedoids(4, method=method, metric="manhattan", init="build").fit_transform(X)
    for m, data, indices, indptr, dtype in saved:
        assert m.dtype == dtype
        np.testing.assert_array_equal(m.data, data)
        np.testing.assert_array_equal(m.indices, indices)
        np.testing.assert_array_equal(m.indptr, indptr)
    assert not csr.has_canonical_format


def test_sparse_float32_stays_float32():
    dense = sparse_data(seed=7, dtype=np.float32)
    X = scipy_sparse().csr_matrix(dense)
    km = KMedoids(4, method="pam", init="build").fit(X)
    assert km.cluster_centers_.dtype == np.float32 and km.inertia_.dtype == np.float32
    assert km.transform(X).dtype == np.float32
    reference = KMedoids(4, method="pam", init="build").fit(dense)
    np.testing.assert_array_equal(km.medoid_indices_, reference.medoid_indices_)
    np.testing.assert_allclose(float(km.inertia_), float(reference.inertia_), rtol=1e-6)


@pytest.mark.parametrize("metric", ["euclidean", "manhattan", "cosine"])
def test_sparse_equals_dense_over_many_blocks_and_tiles(metric):
    """A budget small enough that every pass is cut into many row blocks, the alternating
    update into many tiles and BUILD's candidates into many densified blocks."""
    sparse = scipy_sparse()
    dense = sparse_data(n=400, d=120, seed=8)
    X = sparse.csr_matrix(dense)
    with xpcluster.memory_budget(60_000):
        search = kmedoids_module._Search(kmedoids_module.validate_data(KMedoids(), X, reset=True)[2], metric)
        assert search._tile() < 64 and search.dense_block() < 100 and search.rows(32) < 400
        for method in ("alternate", "pam"):
            ours = KMedoids(5, metric=metric, method=method, init="build").fit(X)
            reference = KMedoids(5, metric=metric, method=method, init="build").fit(dense)
            check_same_fit(ours, reference, dense)


def test_sparse_fit_never_densifies_the_matrix():
    sparse = scipy_sparse()
    n, d = 2_000, 5_000  # dense float64: 76 MiB
    X = sparse.random(n, d, density=0.002, format="csr", random_state=0)
    budget = 4 * 2**20
    for metric, method, init in [("euclidean", "pam", "k-medoids++"), ("manhattan", "alternate", "k-medoids++"),
                                 ("cosine", "alternate", "build")]:
        with xpcluster.memory_budget(budget):
            tracemalloc.start()
            try:
                km = KMedoids(4, metric=metric, method=method, init=init, max_iter=1, random_state=0).fit(X)
                km.transform(X)
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
        assert km.labels_.shape == (n,)
        assert peak < 3 * budget, f"{metric}/{method}: peak {peak / 2**20:.1f} MiB"


def test_sparse_precomputed_and_other_estimators_are_refused():
    sparse = scipy_sparse()
    D = full_matrix(sparse_data(n=12), "euclidean")
    with pytest.raises(TypeError, match=r"metric='precomputed'\) does not accept sparse input.*euclidean"):
        KMedoids(2, metric="precomputed").fit(sparse.csr_matrix(D))
    km = KMedoids(2, metric="precomputed").fit(D)
    with pytest.raises(TypeError, match="does not accept sparse input"):
        km.predict(sparse.csr_matrix(D[:3]))
    with pytest.raises(TypeError, match="does not accept sparse input"):
        km.transform(sparse.csr_matrix(D[:3]))
    X = sparse.csr_matrix(sparse_data())
    with pytest.raises(TypeError, match=r"KMedians does not accept sparse input \(got a csr_matrix\).*toarray"):
        xpcluster.cluster.KMedians(3).fit(X)
    fitted = xpcluster.cluster.KMedians(3, random_state=0).fit(X.toarray())
    with pytest.raises(TypeError, match="KMedians does not accept sparse input"):
        fitted.predict(X)


def test_sparse_wrong_features_and_non_finite_entries():
    sparse = scipy_sparse()
    dense = sparse_data()
    km = KMedoids(3, init="build").fit(sparse.csr_matrix(dense))
    with pytest.raises(ValueError, match="X has 5 features, but KMedoids is expecting 14 features"):
        km.predict(sparse.csr_matrix(dense[:, :5]))
    bad = dense.copy()
    bad[2, np.flatnonzero(bad[2])[0]] = np.nan
    with pytest.raises(ValueError, match="contains NaN or infinity"):
        KMedoids(3).fit(sparse.csr_matrix(bad))
    with pytest.raises(ValueError, match="contains NaN or infinity"):
        km.predict(sparse.csr_matrix(bad))


def test_sparse_tags():
    pytest.importorskip("sklearn", reason="scikit-learn is not installed")
    assert KMedoids().__sklearn_tags__().input_tags.sparse
    assert KMedoids(metric="cosine").__sklearn_tags__().input_tags.sparse
    tags = KMedoids(metric="precomputed").__sklearn_tags__().input_tags
    assert tags.pairwise and not tags.sparse


# -- bad input ------------------------------------------------------------------------------


def test_fewer_samples_than_clusters(xp):
    with pytest.raises(ValueError, match="n_samples=3 should be >= n_clusters=4"):
        KMedoids(4).fit(xp.asarray(mixture(n=3)))


@pytest.mark.parametrize(
    "params, match",
    [
        ({"metric": "chebyshev"}, "metric should be one of"),
        ({"method": "clara"}, "method should be one of"),
        ({"init": "heuristic"}, "init should be one of"),
        ({"n_clusters": 0}, "n_clusters should be a positive integer"),
        ({"n_clusters": 2.5}, "n_clusters should be a positive integer"),
        ({"max_iter": -1}, "max_iter should be a non-negative integer"),
        ({"init": np.array([0, 1])}, "init has 2 medoid indices, but n_clusters=3"),
        ({"init": np.array([0, 1, 1])}, "repeated medoid indices"),
        ({"init": np.array([0, 1, 99])}, r"outside \[0, 20\)"),
        ({"init": np.array([0.0, 1.0, 2.0])}, "1-D array of integer indices"),
    ],
)
def test_bad_parameters(xp, params, match):
    with pytest.raises(ValueError, match=match):
        KMedoids(**{"n_clusters": 3, **params}).fit(xp.asarray(mixture(n=20)))


def test_precomputed_must_be_a_square_nonnegative_matrix(xp):
    with pytest.raises(ValueError, match="square"):
        KMedoids(2, metric="precomputed").fit(xp.asarray(np.ones((5, 4))))
    D = full_matrix(mixture(n=10), "euclidean")
    D[2, 3] = -1.0
    with pytest.raises(ValueError, match="Negative values"):
        KMedoids(2, metric="precomputed").fit(xp.asarray(D))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_data(xp, backend, bad):
    data = mixture()
    data[4, 1] = bad
    with pytest.raises(ValueError, match="contains NaN or infinity"):
        KMedoids(4).fit(xp.asarray(data))
    km = KMedoids(4, init="build").fit(xp.asarray(mixture()))
    with raises(backend, ValueError, "contains NaN or infinity"), warnings.catch_warnings():
        # Lazy backends compute with the bad value before the check fires: the error counts.
        warnings.simplefilter("ignore", RuntimeWarning)
        settle(km.predict(xp.asarray(data)))


def test_wrong_feature_count_and_unfitted(xp):
    X = xp.asarray(mixture())
    with pytest.raises(NotFittedError, match="not fitted yet"):
        KMedoids(4).predict(X)
    with pytest.raises(NotFittedError):
        KMedoids(4).transform(X)
    km = KMedoids(4, init="build").fit(X)
    with pytest.raises(ValueError, match="X has 2 features, but KMedoids is expecting 3 features"):
        km.predict(xp.asarray(mixture(n=5, d=2)))
    with pytest.raises(ValueError, match="Expected 2D array"):
        km.fit(xp.asarray(mixture()[:, 0]))


def test_empty_cluster_keeps_its_medoid_with_a_warning():
    data = np.array([[0.0, 0.0], [0.0, 0.0], [5.0, 5.0], [5.1, 5.0], [9.0, 9.0]])
    with pytest.warns(UserWarning, match="Cluster 1 is empty"):
        km = KMedoids(3, method="alternate", init=np.array([0, 1, 4])).fit(data)
    assert 1 in km.medoid_indices_.tolist()


# -- estimator contract --------------------------------------------------------------------


def test_params_repr_and_clone():
    km = KMedoids(3, metric="manhattan", method="pam", init=np.array([0, 1, 2]))
    assert km.get_params()["metric"] == "manhattan"
    assert repr(KMedoids(5, method="pam")) == "KMedoids(method='pam', n_clusters=5)"
    sklearn_base = pytest.importorskip("sklearn.base", reason="scikit-learn is not installed")
    clone = sklearn_base.clone(km)
    assert clone.get_params()["method"] == "pam" and not hasattr(clone, "labels_")


@pytest.mark.parametrize("method", ["alternate", "pam"])
def test_scikit_learn_estimator_checks(method):
    estimator_checks = pytest.importorskip("sklearn.utils.estimator_checks", reason="scikit-learn is not installed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = estimator_checks.check_estimator(KMedoids(3, method=method, random_state=0), on_fail=None)
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results if r["status"] == "failed"]
    assert results and failed == []


def test_docstring_examples():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = doctest.testmod(kmedoids_module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
