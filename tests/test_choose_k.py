"""xpcluster.choose_k: each method finds the number of well-separated blobs; the gap statistic
equals a plain NumPy reference for the same reference draws; every backend gives the NumPy answer."""
import math

import numpy as np
import pytest
import sklearn.metrics as skm
from array_api_extra.testing import lazy_xp_function
from sklearn.cluster import KMeans as SkKMeans
from sklearn.datasets import make_blobs

import xpcluster
from xpcluster import choose_k as ck
from xpcluster.cluster import KMeans
from backends import to_numpy

# Choosing k reads scores, so it runs eagerly: on "dask" it computes; on "jax_jit" (where
# these are called under jax.jit) it refuses with a clear error.
lazy_xp_modules = [ck]
for _fn in (ck.choose_k, ck.elbow, ck.silhouette_sweep, ck.gap_statistic):
    lazy_xp_function(_fn, allow_dask_compute=True)


def separated(n_per=25, k=4, d=2, seed=0, min_dist=8.0):
    """k blobs (standard deviation 0.6) at random centres in [-20, 20]^d, no two centres
    closer than ``min_dist``: well separated, unevenly spaced."""
    rng = np.random.default_rng(seed)
    centres = []
    while len(centres) < k:
        c = rng.uniform(-20, 20, size=d)
        if all(np.linalg.norm(c - o) >= min_dist for o in centres):
            centres.append(c)
    X = np.concatenate([rng.normal(c, 0.6, size=(n_per, d)) for c in centres])
    return X, np.repeat(np.arange(k), n_per)


# --------------------------------------------------------------------------------------
# Each method finds the number of blobs (NumPy)


@pytest.mark.parametrize("method", ["elbow", "silhouette", "gap"])
@pytest.mark.parametrize("true_k, d, seed", [(3, 2, 0), (5, 5, 2), (8, 4, 1)])
def test_methods_find_the_number_of_blobs(method, true_k, d, seed):
    X, y = separated(k=true_k, d=d, seed=seed)
    ks = range(1, 11) if method != "silhouette" else range(2, 11)
    kwargs = {"n_refs": 8} if method == "gap" else {}
    result = ck.choose_k(X, ks, method=method, random_state=0, **kwargs)
    assert result.k == true_k, result
    # The labels are those of the data's clustering with the chosen k: the blobs.
    assert skm.adjusted_rand_score(y, result.labels) == 1.0
    assert result.estimator.n_clusters == true_k
    np.testing.assert_array_equal(result.labels, result.estimator.labels_)


@pytest.mark.parametrize("method", ["elbow", "silhouette", "gap"])
def test_make_blobs_recovered_exactly(method):
    X, y = make_blobs(240, n_features=2, centers=4, cluster_std=0.6, center_box=(-20, 20), random_state=3)
    result = ck.choose_k(X, range(2, 9), method=method, random_state=1, **({"n_refs": 6} if method == "gap" else {}))
    assert result.k == 4
    assert skm.adjusted_rand_score(y, result.labels) == 1.0


def test_elbow_on_the_log_scale_is_what_finds_uneven_blobs():
    X, _ = separated(k=6, d=3, seed=0)
    log = ck.elbow(X, range(1, 11), random_state=0)
    linear = ck.elbow(X, range(1, 11), scale="linear", random_state=0)
    np.testing.assert_array_equal(log.inertia, linear.inertia)
    assert log.k == 6 and linear.k < 6  # the linear knee lands early: the first drops dominate
    assert ck.knee_index(log.k_values, np.log(log.inertia))[0] == 5


# --------------------------------------------------------------------------------------
# Gap statistic: a plain NumPy reference with the same draws


def reference_gap(X, ks, n_refs, reference, seed, make_estimator):
    """Tibshirani, Walther & Hastie (2001), written out with NumPy."""

    def log_w(data, k):
        labels = np.asarray(make_estimator(k).fit(data).labels_)
        w = 0.0
        for c in np.unique(labels):
            members = data[labels == c]
            # W_k = sum_r D_r / (2 n_r), D_r the sum of all pairwise squared distances in r
            pairwise = ((members[:, None, :] - members[None, :, :]) ** 2).sum()
            w += pairwise / (2 * len(members))
        return math.log(w)

    observed = np.array([log_w(X, k) for k in ks])
    rng = np.random.RandomState(seed)
    if reference == "box":
        low, high = X.min(axis=0), X.max(axis=0)

        def to_data(u):
            return low + (high - low) * u
    else:
        mean = X.mean(axis=0)
        _, _, vt = np.linalg.svd(X - mean, full_matrices=False)
        axes = vt.T
        axes = axes * np.sign(axes[np.abs(axes).argmax(axis=0), np.arange(axes.shape[1])])
        rotated = (X - mean) @ axes
        low, high = rotated.min(axis=0), rotated.max(axis=0)

        def to_data(u):
            return (low + (high - low) * u) @ axes.T + mean

    ref = np.empty((n_refs, len(ks)))
    for b in range(n_refs):
        Z = to_data(rng.uniform(size=X.shape))  # one draw per reference set
        for i, k in enumerate(ks):
            ref[b, i] = log_w(Z, k)
    gap = ref.mean(axis=0) - observed
    s_k = ref.std(axis=0) * math.sqrt(1 + 1 / n_refs)
    chosen = next((ks[i] for i in range(len(ks) - 1) if gap[i] >= gap[i + 1] - s_k[i + 1]), ks[-1])
    return observed, gap, s_k, chosen


@pytest.mark.parametrize("reference", ["box", "pca"])
@pytest.mark.parametrize("clusterer", ["sklearn", "xpcluster"])
def test_gap_equals_numpy_reference(reference, clusterer):
    rng = np.random.default_rng(7)
    # Elongated, rotated blobs: the principal-axes box differs from the feature box.
    X = np.concatenate([rng.normal(c, [2.0, 0.3], size=(25, 2)) for c in ([0, 0], [12, 1], [24, 2])])
    X = X @ np.array([[0.8, 0.6], [-0.6, 0.8]])
    ks = [1, 2, 3, 4]
    if clusterer == "sklearn":
        template = SkKMeans(n_clusters=1, n_init=2, random_state=0)

        def make(k):
            return SkKMeans(n_clusters=k, n_init=2, random_state=0)
        kwargs = {"estimator": template}
    else:
        def make(k):
            return KMeans(n_clusters=k, n_init=10, random_state=11)
        kwargs = {}
    result = ck.gap_statistic(X, ks, n_refs=4, reference=reference, random_state=11, **kwargs)
    log_w, gap, s_k, chosen = reference_gap(X, ks, 4, reference, 11, make)
    np.testing.assert_allclose(result.log_w, log_w, rtol=1e-10)
    np.testing.assert_allclose(result.gap, gap, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(result.s_k, s_k, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(result.ref_log_w - result.log_w, result.gap)
    np.testing.assert_allclose(result.sd_k * math.sqrt(1 + 1 / 4), result.s_k)
    assert result.ref_log_w_all.shape == (4, 4)
    assert result.k == chosen
    if reference == "box":
        assert result.k == 3
    # (With the principal-axes box the rule stops at k=1 on this data, in the reference
    # too: the box hugs the elongated cloud, so 2 clusters gain little more than on the
    # reference sets.)


@pytest.mark.parametrize("true_k, d, seed", [(4, 2, 1), (6, 3, 0)])
def test_gap_with_principal_axes_reference_finds_the_blobs(true_k, d, seed):
    X, y = separated(k=true_k, d=d, seed=seed)
    result = ck.gap_statistic(X, range(1, 11), n_refs=8, reference="pca", random_state=0)
    assert result.k == true_k and result.found
    assert skm.adjusted_rand_score(y, result.labels) == 1.0


def test_gap_rule_and_fallback():
    # Uniform noise has no cluster structure: the rule stops at k=1.
    X = np.random.default_rng(0).uniform(size=(150, 2))
    result = ck.gap_statistic(X, range(1, 6), n_refs=10, random_state=0)
    assert result.k == 1 and result.found
    # A range that never meets the rule falls back to its largest candidate.
    X, _ = separated(n_per=20, k=6)
    result = ck.gap_statistic(X, [1, 2, 3], n_refs=5, random_state=0)
    assert not result.found and result.k == 3


def test_gap_draws_follow_the_random_state():
    X, _ = separated(n_per=20, k=3)
    a = ck.gap_statistic(X, range(1, 5), n_refs=4, random_state=np.random.RandomState(5))
    b = ck.gap_statistic(X, range(1, 5), n_refs=4, random_state=np.random.RandomState(5))
    np.testing.assert_array_equal(a.ref_log_w_all, b.ref_log_w_all)
    c = ck.gap_statistic(X, range(1, 5), n_refs=4, random_state=6)
    assert not np.array_equal(a.ref_log_w_all, c.ref_log_w_all)


# --------------------------------------------------------------------------------------
# Elbow and silhouette tables


def test_knee_index():
    ks = np.arange(1, 9)
    best, gap = ck.knee_index(ks, [100, 40, 10, 8, 7, 6, 5, 4])
    assert ks[best] == 3 and gap[0] == gap[-1] == 0
    assert ck.knee_index(ks, 100 - 10 * ks)[0] == 0  # a straight line has no knee
    assert ck.knee_index(ks, 100 - ks ** 2)[0] == 0  # nor has a concave curve
    assert ck.knee_index(ks, np.full(8, 3.0))[0] == 0


def test_elbow_table_is_the_kmeans_inertia():
    X, _ = separated(n_per=20, k=3)
    result = ck.elbow(X, range(1, 7), random_state=0)
    expected = [KMeans(n_clusters=k, n_init=10, random_state=0).fit(X).inertia_ for k in range(1, 7)]
    np.testing.assert_allclose(result.inertia, expected, rtol=1e-12)
    assert list(result.table) == ["k", "inertia", "knee_gap"]
    assert result.table["k"].tolist() == [1, 2, 3, 4, 5, 6]
    assert isinstance(result.inertia, np.ndarray) and isinstance(result.k, int)


def test_silhouette_sweep_table_is_sklearns_score():
    X, _ = separated(n_per=50, k=3)
    result = ck.silhouette_sweep(X, [1, 2, 3, 4, 150], estimator=SkKMeans(n_init=2, random_state=0))
    assert np.isnan(result.silhouette[0]) and np.isnan(result.silhouette[-1])
    for k, score in zip([2, 3, 4], result.silhouette[1:4]):
        labels = SkKMeans(n_clusters=k, n_init=2, random_state=0).fit(X).labels_
        assert abs(score - skm.silhouette_score(X, labels)) < 1e-12
    assert result.k == 3
    sampled = ck.silhouette_sweep(X, [2, 3, 4], sample_size=60, random_state=0)
    assert sampled.k == 3 and not np.allclose(sampled.silhouette, result.silhouette[1:4])


# --------------------------------------------------------------------------------------
# Bad input


def test_bad_input():
    X, _ = separated(n_per=10, k=3)
    with pytest.raises(ValueError, match="Unknown method 'knee'"):
        ck.choose_k(X, range(1, 5), method="knee")
    with pytest.raises(ValueError, match="at least 3 distinct values"):
        ck.elbow(X, [2, 3])
    with pytest.raises(ValueError, match="at least 2 distinct values"):
        ck.gap_statistic(X, [2])
    with pytest.raises(ValueError, match="must be at least 1"):
        ck.elbow(X, range(0, 5))
    with pytest.raises(ValueError, match="at most n_samples=30"):
        ck.elbow(X, [1, 2, 31])
    with pytest.raises(ValueError, match="must hold integers"):
        ck.elbow(X, [1, 2.5, 3])
    with pytest.raises(ValueError, match="iterable of integers"):
        ck.elbow(X, 5)
    with pytest.raises(ValueError, match="2 <= k <= n_samples - 1"):
        ck.silhouette_sweep(X, [1, 30])
    with pytest.raises(ValueError, match="scale must be 'log' or 'linear'"):
        ck.elbow(X, range(1, 4), scale="sqrt")
    with pytest.raises(ValueError, match="reference must be 'box' or 'pca'"):
        ck.gap_statistic(X, range(1, 4), reference="gaussian")
    for n_refs in (0, 2.5, True):
        with pytest.raises(ValueError, match="n_refs must be a positive integer"):
            ck.gap_statistic(X, range(1, 4), n_refs=n_refs)
    with pytest.raises(ValueError, match="n_clusters parameter"):
        from sklearn.cluster import DBSCAN

        ck.elbow(X, range(1, 4), estimator=DBSCAN())
    with pytest.raises(ValueError, match="Expected 2D array"):
        ck.elbow(X[:, 0], range(1, 4))
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError):
        ck.elbow(bad, range(1, 4))


# --------------------------------------------------------------------------------------
# Sparse input


def topics(n_per=30, k=3, width=10, seed=0):
    """Sparse-looking data: cluster j stores values in its own ``width`` columns (60 % of
    them per row), so the clusters are told apart by their support; one row is empty.
    Values are continuous, so no two fits meet exact ties that rounding would break."""
    rng = np.random.default_rng(seed)
    dense = np.zeros((n_per * k, width * k))
    for j in range(k):
        stored = rng.random((n_per, width)) < 0.6
        dense[j * n_per : (j + 1) * n_per, j * width : (j + 1) * width] = stored * rng.uniform(1.0, 3.0, (n_per, width))
    dense[5] = 0.0
    return dense


def sparse_formats(dense):
    from scipy import sparse

    formats = {
        "csr": sparse.csr_matrix(dense),
        "csc": sparse.csc_matrix(dense),
        "coo": sparse.coo_matrix(dense),
        "csr_array": sparse.csr_array(dense),
    }
    if np.array_equal(dense, np.round(dense)):  # integer data: also as an int64 matrix
        formats["coo_int64"] = sparse.coo_matrix(dense.astype(np.int64))
    return formats


def snapshot(matrix):
    """Copies of a sparse matrix's stored arrays, to show it was not modified."""
    if hasattr(matrix, "indptr"):
        parts = (matrix.data, matrix.indices, matrix.indptr)
    else:
        parts = (matrix.data, matrix.row, matrix.col)
    return [part.copy() for part in parts] + [matrix.dtype, matrix.format]


@pytest.mark.parametrize("method, ks, options", [
    ("elbow", range(1, 7), {}),
    ("silhouette", range(2, 7), {}),
    ("silhouette", range(2, 6), {"metric": "cosine", "sample_size": 60}),
    ("silhouette", range(2, 6), {"metric": "manhattan"}),
])
@pytest.mark.parametrize("integers", [False, True])
def test_sparse_equals_dense(method, ks, options, integers):
    dense = np.round(3 * topics()) if integers else topics()
    expected = ck.choose_k(dense, ks, method=method, random_state=0, n_init=3, **options)
    assert expected.k == 3
    for name, X in sparse_formats(dense).items():
        before = snapshot(X)
        result = ck.choose_k(X, ks, method=method, random_state=0, n_init=3, **options)
        assert result.k == expected.k, name
        assert isinstance(result.labels, np.ndarray)
        np.testing.assert_array_equal(result.labels, expected.labels, err_msg=name)
        for column, values in result.table.items():
            np.testing.assert_allclose(values, expected.table[column], rtol=1e-10, atol=1e-12, err_msg=column)
        after = snapshot(X)
        for old, new in zip(before[:3], after[:3]):
            np.testing.assert_array_equal(old, new)
        assert before[3:] == after[3:]


def test_sparse_with_other_estimators():
    from scipy import sparse

    from xpcluster.cluster import KMedoids

    dense = topics(seed=1)
    X = sparse.csr_matrix(dense)
    # KMedoids (sparse-capable) and scikit-learn's KMeans (which takes SciPy matrices).
    for estimator in (KMedoids(init="build", method="pam"), SkKMeans(n_init=2, random_state=0)):
        got = ck.silhouette_sweep(X, range(2, 6), estimator=estimator)
        want = ck.silhouette_sweep(dense, range(2, 6), estimator=estimator)
        assert got.k == want.k == 3
        np.testing.assert_allclose(got.silhouette, want.silhouette, rtol=1e-10)
    with pytest.raises(TypeError, match="KMedians does not accept sparse input"):
        ck.elbow(X, range(1, 4), estimator=xpcluster.cluster.KMedians(random_state=0))


class LabelsOnly:
    """A clusterer with ``n_clusters`` and ``labels_`` but no ``inertia_`` (as scikit-learn's
    SpectralClustering): the elbow then computes the within-cluster sum of squares itself."""

    def __init__(self, n_clusters=2):
        self.n_clusters = n_clusters

    def get_params(self, deep=True):
        return {"n_clusters": self.n_clusters}

    def fit(self, X):
        self.labels_ = KMeans(self.n_clusters, n_init=3, random_state=0).fit(X).labels_
        return self


def test_sparse_elbow_without_inertia_attribute():
    from scipy import sparse

    dense = topics(seed=2)
    got = ck.elbow(sparse.csc_matrix(dense), range(1, 7), estimator=LabelsOnly())
    want = ck.elbow(dense, range(1, 7), estimator=LabelsOnly())
    by_kmeans = ck.elbow(dense, range(1, 7), n_init=3, random_state=0)
    np.testing.assert_allclose(got.inertia, want.inertia, rtol=1e-10)
    np.testing.assert_allclose(got.inertia, by_kmeans.inertia, rtol=1e-10)
    assert got.k == want.k


def test_sparse_gap_statistic_and_bad_sparse_input_are_refused():
    from scipy import sparse

    X = sparse.csr_matrix(topics())
    for call in (lambda: ck.gap_statistic(X, range(1, 5)), lambda: ck.choose_k(X, range(1, 5), method="gap")):
        with pytest.raises(TypeError, match="gap_statistic does not accept sparse input.*reference.*elbow"):
            call()
    # Rows that are all one point: explicit zeros and duplicates must not hide it.
    same = sparse.coo_matrix(([1.0, 1.0, 0.0, 2.0, -1.0], ([0, 1, 1, 2, 2], [3, 3, 0, 3, 3])), shape=(3, 5))
    np.testing.assert_array_equal(same.toarray(), np.tile([0, 0, 0, 1.0, 0], (3, 1)))
    for matrix in (same, sparse.csr_matrix((4, 3))):
        with pytest.raises(ValueError, match="single distinct point"):
            ck.elbow(matrix, range(1, 4))
    bad = X.copy()
    bad.data[3] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        ck.silhouette_sweep(bad, range(2, 4))


# --------------------------------------------------------------------------------------
# Every backend gives the NumPy answer


def test_every_backend(xp, backend):
    X, _ = separated(n_per=20, k=3, d=2, seed=1)
    Xb = xp.asarray(X)
    if backend == "jax_jit":  # called under jax.jit here: it must refuse, clearly
        for fn in (ck.elbow, ck.silhouette_sweep, ck.gap_statistic):
            with pytest.raises(TypeError, match="cannot run inside jax.jit"):
                fn(Xb, [1, 2, 3, 4])
        return
    # One seeding per fit, two reference sets and three candidates: Dask computes every
    # Lloyd iteration, JAX compiles for every k.
    runs = {
        "elbow": ([2, 3, 4], {}),
        "silhouette": ([2, 3, 4], {}),
        "gap": ([2, 3, 4], {"n_refs": 2, "reference": "pca"}),
    }
    with xpcluster.array_api_dispatch(False):
        expected = {m: ck.choose_k(X, ks, method=m, n_init=1, random_state=0, **kw) for m, (ks, kw) in runs.items()}
    got = {m: ck.choose_k(Xb, ks, method=m, n_init=1, random_state=0, **kw) for m, (ks, kw) in runs.items()}
    for method, result in got.items():
        assert result.k == expected[method].k == 3, method
        assert type(result.labels).__module__.split(".")[0] == type(Xb).__module__.split(".")[0]
        np.testing.assert_array_equal(to_numpy(result.labels), expected[method].labels)
        for column, values in result.table.items():
            assert isinstance(values, np.ndarray)
            np.testing.assert_allclose(values, expected[method].table[column], rtol=1e-7, atol=1e-9, err_msg=column)


def test_docstring_examples():
    import doctest

    with xpcluster.array_api_dispatch(False):
        result = doctest.testmod(ck, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
