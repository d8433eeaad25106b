"""xpcluster.cluster.SphericalKMeans: cosine k-means on the unit sphere, dense and sparse, every backend."""
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
import xpcluster.cluster._spherical
from xpcluster.cluster import ConvergenceWarning, NotFittedError, SphericalKMeans
from backends import raises, settle, to_numpy

sparse = pytest.importorskip("scipy.sparse", reason="scipy is not installed (sparse input)")


# ------------------------------------------------------------------ data and an independent reference


def directions(n=150, d=6, k=3, seed=0, dtype=np.float64):
    """Rows around ``k`` directions of the positive orthant, of very different lengths."""
    rng = np.random.default_rng(seed)
    axes = np.abs(rng.normal(size=(k, d))) + 0.1 * np.eye(k, d) * 5
    labels = rng.integers(0, k, size=n)
    rows = axes[labels] + 0.35 * np.abs(rng.normal(size=(n, d)))
    lengths = 10.0 ** rng.uniform(-2, 3, size=n)
    return (rows * lengths[:, None]).astype(dtype)


def sparsified(data, fraction, seed=9):
    """``data`` with a random ``fraction`` of its entries set to zero."""
    out = data.copy()
    out[np.random.default_rng(seed).random(data.shape) < fraction] = 0.0
    return out


def weights_for(n, seed=1):
    return np.random.default_rng(seed).uniform(0.5, 2.0, size=n)


def first_of_each(X, k=3, seed=0):
    """A start with one non-zero row of each planted direction (no empty cluster in the
    first step)."""
    rng = np.random.default_rng(seed)
    rng.normal(size=(k, X.shape[1]))  # the draws of directions(), to recover its labels
    planted = rng.integers(0, k, size=X.shape[0])
    nonzero = np.abs(X).max(axis=1) > 0
    return X[[int(np.flatnonzero((planted == j) & nonzero)[0]) for j in range(k)]]


def reference(X, start, weights=None, max_iter=300, tol=1e-4):
    """Spherical k-means written out with loops in NumPy (Dhillon & Modha's iteration).

    Returns ``(centroids, labels, inertia, n_iter)``: all-zero rows are left out of the
    iterations, get label 0, and count 1 (times their weight) in the inertia."""
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    norms = np.linalg.norm(X, axis=1)
    nonzero = norms > 0
    U = np.zeros_like(X)
    U[nonzero] = X[nonzero] / norms[nonzero, None]
    C = np.array([c / np.linalg.norm(c) for c in np.asarray(start, dtype=np.float64)])
    previous = None
    for n_iter in range(1, max_iter + 1):
        labels = np.array([int(np.argmax([u @ c for c in C])) for u in U])
        new = C.copy()
        for j in range(len(C)):
            total = np.zeros(d)
            for i in range(n):
                if nonzero[i] and labels[i] == j:
                    total += w[i] * U[i]
            if np.linalg.norm(total) > 0:
                new[j] = total / np.linalg.norm(total)
        shift = ((new - C) ** 2).sum()
        C = new
        stop = (previous is not None and (labels[nonzero] == previous).all()) or shift <= tol
        previous = labels[nonzero]
        if stop:
            break
    cosines = U @ C.T
    labels = np.argmax(cosines, axis=1)
    labels[~nonzero] = 0
    inertia = float(np.sum(w * (1 - cosines[np.arange(n), labels])))
    return C, labels, inertia, n_iter


def cosine_distances(X, C):
    U = X / np.where(np.linalg.norm(X, axis=1, keepdims=True) > 0, np.linalg.norm(X, axis=1, keepdims=True), 1)
    return 1 - U @ C.T


def assert_on_device_of(x, *outputs):
    for out in outputs:
        assert array_api_compat.array_namespace(out) is array_api_compat.array_namespace(x)
        assert array_api_compat.device(out) == array_api_compat.device(x)


# ------------------------------------------------------------------ every backend


def test_every_backend_gives_the_reference_answer(xp, backend):
    """fit / predict / transform / score / fit_predict / fit_transform against the loop
    reference from the same start, in xp, on xp's device, in its dtype."""
    data, w = directions(), weights_for(150)
    start = first_of_each(data)
    C, labels, inertia, n_iter = reference(data, start, w)
    assert n_iter > 1  # the test data needs iterations: the comparison covers the loop
    x = xp.asarray(data)
    skm = SphericalKMeans(3, init=xp.asarray(start)).fit(x, sample_weight=xp.asarray(w))
    assert_on_device_of(x, skm.cluster_centers_, skm.labels_)
    assert skm.cluster_centers_.dtype == x.dtype and skm.labels_.dtype == xp.int32
    np.testing.assert_allclose(to_numpy(skm.cluster_centers_), C, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(to_numpy(skm.labels_), labels)
    assert skm.inertia_ == pytest.approx(inertia, rel=1e-10)
    assert skm.n_iter_ == n_iter and skm.n_features_in_ == 6 and skm.n_zero_rows_ == 0
    np.testing.assert_allclose(np.linalg.norm(to_numpy(skm.cluster_centers_), axis=1), 1.0, rtol=1e-14)

    new_data = directions(n=17, seed=5)
    new = xp.asarray(new_data)
    if backend == "jax_jit":  # a fitted estimator's predict/transform inside jax.jit
        import jax

        predicted, distances = jax.jit(lambda a: (skm.predict(a), skm.transform(a)))(new)
    else:
        predicted, distances = skm.predict(new), skm.transform(new)
    assert_on_device_of(x, predicted, distances)
    assert predicted.dtype == xp.int32 and distances.dtype == x.dtype
    expected = cosine_distances(new_data, C)
    np.testing.assert_allclose(to_numpy(distances), expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(to_numpy(predicted), np.argmin(expected, axis=1))
    assert skm.score(x, sample_weight=xp.asarray(w)) == pytest.approx(-inertia, rel=1e-10)
    assert skm.score(x) == pytest.approx(-np.min(cosine_distances(data, C), axis=1).sum(), rel=1e-10)
    again = SphericalKMeans(3, init=xp.asarray(start))
    np.testing.assert_array_equal(to_numpy(again.fit_predict(x, sample_weight=xp.asarray(w))), labels)
    distances = SphericalKMeans(3, init=xp.asarray(start)).fit_transform(x, sample_weight=xp.asarray(w))
    assert_on_device_of(x, distances)
    np.testing.assert_allclose(to_numpy(distances), cosine_distances(data, C), rtol=1e-9, atol=1e-12)


def test_seeded_runs_give_the_numpy_answer(xp):
    """k-means++ and 'random' seeding (host draws): every backend gives NumPy's clustering."""
    data = directions(n=200, k=4, seed=2)
    for init, n_init in (("k-means++", 1), ("random", 3)):
        expected = SphericalKMeans(4, init=init, n_init=n_init, random_state=0).fit(data)
        got = SphericalKMeans(4, init=init, n_init=n_init, random_state=0).fit(xp.asarray(data))
        np.testing.assert_array_equal(to_numpy(got.labels_), expected.labels_)
        np.testing.assert_allclose(to_numpy(got.cluster_centers_), expected.cluster_centers_, rtol=1e-10, atol=1e-12)
        assert got.inertia_ == pytest.approx(expected.inertia_, rel=1e-10)


def test_float32_stays_float32(xp):
    data = directions(dtype=np.float32)
    start = first_of_each(data)
    skm = SphericalKMeans(3, init=xp.asarray(start)).fit(xp.asarray(data))
    C, labels, inertia, _ = reference(data, start)
    assert skm.cluster_centers_.dtype == xp.float32 and skm.transform(xp.asarray(data)).dtype == xp.float32
    np.testing.assert_array_equal(to_numpy(skm.labels_), labels)
    np.testing.assert_allclose(to_numpy(skm.cluster_centers_), C, rtol=1e-5, atol=1e-6)
    assert skm.inertia_ == pytest.approx(inertia, rel=1e-4)


def test_scale_invariance(xp):
    """Rows multiplied by positive factors (1e-3 to 1e3) are the same directions: same fit."""
    data = directions(seed=3)
    factors = 10.0 ** np.random.default_rng(4).uniform(-3, 3, size=150)
    start = first_of_each(data, seed=3)
    plain = SphericalKMeans(3, init=xp.asarray(start)).fit(xp.asarray(data))
    stretched = SphericalKMeans(3, init=xp.asarray(start * 7.0)).fit(xp.asarray(data * factors[:, None]))
    np.testing.assert_array_equal(to_numpy(stretched.labels_), to_numpy(plain.labels_))
    np.testing.assert_allclose(to_numpy(stretched.cluster_centers_), to_numpy(plain.cluster_centers_), rtol=1e-10)
    assert stretched.inertia_ == pytest.approx(plain.inertia_, rel=1e-9)
    assert stretched.n_iter_ == plain.n_iter_


def test_zero_rows(xp, backend):
    """All-zero rows: label 0, no part in the centroids, 1 each in inertia_, counted, warned."""
    data, w = directions(), weights_for(150)
    start = first_of_each(data)
    with_zeros = data.copy()
    zero_rows = [4, 50, 51, 149]
    with_zeros[zero_rows] = 0.0
    C, labels, inertia, n_iter = reference(with_zeros, start, w)
    with pytest.warns(UserWarning, match="X has 4 all-zero row"):
        skm = SphericalKMeans(3, init=xp.asarray(start)).fit(xp.asarray(with_zeros), sample_weight=xp.asarray(w))
    assert skm.n_zero_rows_ == 4
    np.testing.assert_array_equal(to_numpy(skm.labels_), labels)
    assert (to_numpy(skm.labels_)[zero_rows] == 0).all()
    np.testing.assert_allclose(to_numpy(skm.cluster_centers_), C, rtol=1e-10, atol=1e-12)
    assert skm.inertia_ == pytest.approx(inertia, rel=1e-10) and skm.n_iter_ == n_iter
    # Nothing of the zero rows in the centroids: the fit of the other rows alone.
    keep = np.setdiff1d(np.arange(150), zero_rows)
    alone = SphericalKMeans(3, init=xp.asarray(start)).fit(xp.asarray(data[keep]), sample_weight=xp.asarray(w[keep]))
    np.testing.assert_allclose(to_numpy(skm.cluster_centers_), to_numpy(alone.cluster_centers_), rtol=1e-12)
    assert skm.inertia_ == pytest.approx(alone.inertia_ + w[zero_rows].sum(), rel=1e-12)
    distances = to_numpy(skm.transform(xp.asarray(with_zeros)))
    np.testing.assert_array_equal(distances[zero_rows], np.ones((4, 3)))
    np.testing.assert_array_equal(to_numpy(skm.predict(xp.asarray(np.zeros((2, 6))))), [0, 0])


def test_no_warning_without_zero_rows(xp):
    data = directions()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        skm = SphericalKMeans(3, init=xp.asarray(first_of_each(data))).fit(xp.asarray(data))
    assert skm.n_zero_rows_ == 0


def test_all_zero_or_too_few_directions_refused(xp):
    with pytest.raises(ValueError, match="All 5 rows of X are zero"):
        SphericalKMeans(2).fit(xp.asarray(np.zeros((5, 3))))
    few = np.zeros((6, 3))
    few[0, 0] = few[1, 2] = 1.0
    message = r"X has 2 non-zero rows \(4 of its 6 rows are all zero\), fewer than n_clusters=3"
    with pytest.raises(ValueError, match=message):
        SphericalKMeans(3).fit(xp.asarray(few))


def test_empty_cluster_takes_the_farthest_row(xp):
    """A centroid no row is nearest to (pointing away from the data) takes the row of least
    cosine, as KMeans gives it the farthest point: no cluster ends empty."""
    data = directions()
    start = np.concatenate([first_of_each(data)[:2], -np.ones((1, 6))])
    skm = SphericalKMeans(3, init=xp.asarray(start)).fit(xp.asarray(data))
    counts = np.bincount(to_numpy(skm.labels_), minlength=3)
    assert counts.min() > 0
    centres = to_numpy(skm.cluster_centers_)
    np.testing.assert_allclose(np.linalg.norm(centres, axis=1), 1.0, rtol=1e-14)
    assert (centres >= 0).all()  # the third centroid moved to the data (the positive orthant)


def test_non_finite_input(xp, backend):
    data = directions()
    bad = data.copy()
    bad[5, 1] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        SphericalKMeans(3).fit(xp.asarray(bad))
    bad[5, 1] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        SphericalKMeans(3).fit(xp.asarray(bad))
    skm = SphericalKMeans(3, init=xp.asarray(data[:3])).fit(xp.asarray(data))
    for method in (skm.predict, skm.transform):
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

    data = directions()
    x = xp.asarray(data)
    skm = SphericalKMeans(3, random_state=0).fit(x)
    with dask.config.set(scheduler=counting):
        labels, distances = skm.predict(x), skm.transform(x)
        assert counts["computes"] == 0
    np.testing.assert_array_equal(labels.compute(), to_numpy(skm.labels_))
    assert distances.compute().shape == (150, 3)


# ------------------------------------------------------------------ sparse input (SciPy, NumPy results)


def test_sparse_gives_the_dense_answer():
    data, w = sparsified(directions(), 0.4), weights_for(150)
    data[[7, 90]] = 0.0
    n_zero = int((np.abs(data).max(axis=1) == 0).sum())
    assert n_zero >= 2
    start = first_of_each(data)
    C, labels, inertia, n_iter = reference(data, start, w)
    with pytest.warns(UserWarning, match=f"X has {n_zero} all-zero row"):
        dense = SphericalKMeans(3, init=start).fit(data, sample_weight=w)
    for convert in (sparse.csr_matrix, sparse.csc_matrix, sparse.coo_array, sparse.csr_array):
        X = convert(data)
        with pytest.warns(UserWarning, match=f"X has {n_zero} all-zero row"):
            skm = SphericalKMeans(3, init=start).fit(X, sample_weight=w)
        assert isinstance(skm.cluster_centers_, np.ndarray) and skm.labels_.dtype == np.int32
        np.testing.assert_array_equal(skm.labels_, dense.labels_)
        np.testing.assert_array_equal(skm.labels_, labels)
        np.testing.assert_allclose(skm.cluster_centers_, dense.cluster_centers_, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(skm.cluster_centers_, C, rtol=1e-10, atol=1e-12)
        assert skm.inertia_ == pytest.approx(inertia, rel=1e-10) and skm.n_iter_ == n_iter
        assert skm.n_zero_rows_ == n_zero
        np.testing.assert_array_equal(skm.predict(X), dense.predict(data))
        np.testing.assert_allclose(skm.transform(X), dense.transform(data), rtol=1e-12, atol=1e-14)
        assert skm.score(X, sample_weight=w) == pytest.approx(dense.score(data, sample_weight=w), rel=1e-12)
    # A dense model predicts sparse rows and the other way round.
    np.testing.assert_array_equal(dense.predict(sparse.csr_matrix(data)), labels)


def test_sparse_seeding_gives_the_dense_answer():
    data = sparsified(directions(n=200, k=4, seed=2), 0.3)
    for init, n_init in (("k-means++", 1), ("random", 3), ("k-means||", 1)):
        dense = SphericalKMeans(4, init=init, n_init=n_init, random_state=0).fit(data)
        skm = SphericalKMeans(4, init=init, n_init=n_init, random_state=0).fit(sparse.csr_matrix(data))
        np.testing.assert_array_equal(skm.labels_, dense.labels_)
        np.testing.assert_allclose(skm.cluster_centers_, dense.cluster_centers_, rtol=1e-10, atol=1e-12)


def test_sparse_float32_and_integer_counts():
    counts = np.random.default_rng(0).poisson(0.4, size=(120, 30))
    counts[:40, :10] += np.random.default_rng(1).poisson(3, size=(40, 10))
    counts[40:80, 10:20] += np.random.default_rng(2).poisson(3, size=(40, 10))
    counts[80:, 20:] += np.random.default_rng(3).poisson(3, size=(40, 10))
    start = counts[[0, 40, 80]]
    as64 = SphericalKMeans(3, init=start).fit(sparse.csr_matrix(counts))  # integers: float64
    assert as64.cluster_centers_.dtype == np.float64
    C, labels, inertia, _ = reference(counts, start)
    np.testing.assert_array_equal(as64.labels_, labels)
    np.testing.assert_allclose(as64.cluster_centers_, C, rtol=1e-10, atol=1e-12)
    as32 = SphericalKMeans(3, init=start).fit(sparse.csr_matrix(counts.astype(np.float32)))
    assert as32.cluster_centers_.dtype == np.float32
    assert as32.transform(sparse.csr_matrix(counts.astype(np.float32))).dtype == np.float32
    np.testing.assert_array_equal(as32.labels_, labels)
    np.testing.assert_allclose(as32.cluster_centers_, C, rtol=1e-5, atol=1e-6)


def test_rows_of_any_magnitude():
    """float32 rows near 1e30, 1e-30 (and subnormal) next to ordinary ones: the same
    directions as at scale 1, dense and sparse (the norms neither overflow nor underflow)."""
    data = directions(n=60, dtype=np.float32)
    start = first_of_each(data)
    factors = np.ones(60, dtype=np.float32)
    factors[::3], factors[1::3] = 1e30, 1e-30
    extreme = data * factors[:, None]
    assert np.isfinite(extreme).all() and (np.abs(extreme[1::3]) < 1e-25).all()
    plain = SphericalKMeans(3, init=start).fit(data)
    for X in (extreme, sparse.csr_matrix(extreme)):
        skm = SphericalKMeans(3, init=start).fit(X)
        np.testing.assert_array_equal(skm.labels_, plain.labels_)
        np.testing.assert_allclose(skm.cluster_centers_, plain.cluster_centers_, rtol=1e-5)
    # float64 rows a factor 1e-200 apart: the sparse norms are taken in two stages.
    data64 = directions(n=60)
    factors = np.where(np.arange(60) % 2 == 0, 1e150, 1e-160)
    skm = SphericalKMeans(3, init=first_of_each(data64)).fit(sparse.csr_matrix(data64 * factors[:, None]))
    reference_fit = SphericalKMeans(3, init=first_of_each(data64)).fit(data64)
    np.testing.assert_array_equal(skm.labels_, reference_fit.labels_)
    np.testing.assert_allclose(skm.cluster_centers_, reference_fit.cluster_centers_, rtol=1e-12)


def test_sparse_bad_input():
    data = directions()
    bad = sparse.csr_matrix(data)
    bad.data[3] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        SphericalKMeans(3).fit(bad)
    bad.data[3] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        SphericalKMeans(3).fit(bad)
    with pytest.raises(TypeError, match="init must be a dense array of centres, got a sparse"):
        SphericalKMeans(3, init=sparse.csr_matrix(data[:3])).fit(sparse.csr_matrix(data))
    with pytest.raises(TypeError, match="returned by init must be a dense array"):
        SphericalKMeans(3, init=lambda X, k, random_state: X[:k]).fit(sparse.csr_matrix(data))
    skm = SphericalKMeans(3, init=data[:3]).fit(sparse.csr_matrix(data))
    with pytest.raises(ValueError, match="NaN or infinity"):
        skm.predict(bad)
    with pytest.raises(ValueError, match="X has 5 features, but SphericalKMeans is expecting 6 features"):
        skm.predict(sparse.csr_matrix(data[:, :5]))


def test_sparse_input_is_not_modified():
    X = sparse.csr_matrix(sparsified(directions(), 0.5))
    X.data[:5] = [3.0, 0.0, 2.0, 0.0, 1.0]  # explicit stored zeros, kept as given
    # The same matrix with each row's entries in reverse column order (not canonical).
    order = np.concatenate([np.arange(a, b)[::-1] for a, b in zip(X.indptr[:-1], X.indptr[1:])])
    unsorted = sparse.csr_matrix((X.data[order], X.indices[order], X.indptr.copy()), shape=X.shape)
    assert not unsorted.has_sorted_indices and (unsorted != X).nnz == 0
    for matrix in (X, unsorted, X.tocsc(), X.tocoo()):
        before = matrix.copy()
        arrays = [getattr(matrix, name).copy() for name in ("data", "indices", "indptr", "row", "col")
                  if hasattr(matrix, name)]
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "X has .* all-zero row", UserWarning)  # here: not the point
            skm = SphericalKMeans(3, random_state=0).fit(matrix)
        skm.transform(matrix), skm.predict(matrix), skm.score(matrix)
        after = [getattr(matrix, name) for name in ("data", "indices", "indptr", "row", "col") if hasattr(matrix, name)]
        for a, b in zip(arrays, after):
            np.testing.assert_array_equal(a, b)
        assert (matrix != before).nnz == 0


def test_callable_init_gets_unit_rows():
    data = directions()
    data[[0, 3]] = 0.0
    seen = {}

    def init(X, k, random_state):
        seen["X"] = X
        return X[10 : 10 + k]

    with pytest.warns(UserWarning, match="X has 2 all-zero row"):
        SphericalKMeans(3, init=init, n_init=1).fit(data)
    np.testing.assert_allclose(np.linalg.norm(seen["X"], axis=1), 1.0, rtol=1e-14)
    assert seen["X"].shape == (148, 6)  # the non-zero rows
    with pytest.warns(UserWarning, match="X has 2 all-zero row"):
        SphericalKMeans(3, init=lambda X, k, random_state: X[:k].toarray(), n_init=1).fit(sparse.csr_matrix(data))


# ------------------------------------------------------------------ parameters and the contract (NumPy)


def test_tol_is_an_absolute_bound_on_the_squared_shift():
    data = directions(seed=6)
    start = first_of_each(data, seed=6)
    # Unit centroids move by at most 2 each: the squared shift summed is at most 4k = 12.
    assert SphericalKMeans(3, init=start, tol=12.0).fit(data).n_iter_ == 1
    for tol in (0.0, 1e-3, 1e-6):
        _, labels, _, n_iter = reference(data, start, tol=tol)
        skm = SphericalKMeans(3, init=start, tol=tol).fit(data)
        assert skm.n_iter_ == n_iter
        np.testing.assert_array_equal(skm.labels_, labels)
    assert SphericalKMeans(3, init=start, max_iter=1).fit(data).n_iter_ == 1


def test_n_init_keeps_the_lowest_inertia():
    data = directions(n=200, k=4, seed=7)
    one = SphericalKMeans(4, init="random", n_init=1, random_state=0).fit(data)
    ten = SphericalKMeans(4, init="random", n_init=10, random_state=0).fit(data)  # its first run is `one`
    assert ten.inertia_ <= one.inertia_
    assert ten.inertia_ == pytest.approx(-ten.score(data), rel=1e-12)


def test_sample_weight_is_repetition():
    data = directions(n=60)
    repeats = np.random.default_rng(8).integers(1, 4, size=60)
    start = first_of_each(data)
    weighted = SphericalKMeans(3, init=start).fit(data, sample_weight=repeats)
    repeated = SphericalKMeans(3, init=start).fit(np.repeat(data, repeats, axis=0))
    np.testing.assert_allclose(weighted.cluster_centers_, repeated.cluster_centers_, rtol=1e-12)
    assert weighted.inertia_ == pytest.approx(repeated.inertia_, rel=1e-10)
    np.testing.assert_array_equal(np.repeat(weighted.labels_, repeats), repeated.labels_)


def test_bad_parameters_and_input():
    data = directions()
    for params, match in [
        ({"n_clusters": 0}, "'n_clusters' parameter of SphericalKMeans"),
        ({"max_iter": 0}, "'max_iter' parameter of SphericalKMeans"),
        ({"tol": -1.0}, "'tol' parameter of SphericalKMeans"),
        ({"init": "cosine++"}, "'init' parameter of SphericalKMeans"),
        ({"n_init": 0}, "'n_init' parameter of SphericalKMeans"),
        ({"copy_x": 1}, "'copy_x' parameter of SphericalKMeans"),
    ]:
        with pytest.raises(ValueError, match=match):
            SphericalKMeans(**params).fit(data)
    with pytest.raises(ValueError, match="n_samples=150 should be >= n_clusters=151"):
        SphericalKMeans(151).fit(data)
    with pytest.raises(ValueError, match="sample_weight must be non-negative"):
        SphericalKMeans(3).fit(data, sample_weight=-np.ones(150))
    with pytest.raises(ValueError, match="init has an all-zero row"):
        SphericalKMeans(3, init=np.array([[1.0] * 6, [0.0] * 6, [2.0] * 6])).fit(data)
    with pytest.raises(ValueError, match="The shape of the initial centers"):
        SphericalKMeans(3, init=data[:2]).fit(data)
    with pytest.raises(ValueError, match="complex|Complex"):
        SphericalKMeans(3).fit(data + 1j)
    with pytest.raises(NotFittedError):
        SphericalKMeans(3).predict(data)
    skm = SphericalKMeans(3, init=data[:3]).fit(data)
    with pytest.raises(ValueError, match="X has 5 features, but SphericalKMeans is expecting 6 features"):
        skm.predict(data[:, :5])
    with pytest.raises(ValueError, match="sample_weight must be non-negative"):
        skm.score(data, sample_weight=-np.ones(150))
    with pytest.raises(ValueError, match="NaN"):
        skm.score(np.where(data > 5, np.nan, data))


def test_duplicate_directions_warn():
    X = np.array([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0], [0.0, 1.0]])
    message = r"Number of distinct clusters \(2\) found smaller than n_clusters \(3\)"
    with pytest.warns(ConvergenceWarning, match=message):
        SphericalKMeans(3, random_state=0).fit(X)


def test_inputs_are_not_modified(xp, backend):
    """Dense input and init are left as they were (numpy_readonly makes any write fail)."""
    data = directions()
    start = first_of_each(data)
    x, s = xp.asarray(data), xp.asarray(start)
    skm = SphericalKMeans(3, init=s, copy_x=False).fit(x, sample_weight=xp.asarray(weights_for(150)))
    skm.transform(x), skm.predict(x), skm.score(x)
    np.testing.assert_array_equal(to_numpy(x), data)
    np.testing.assert_array_equal(to_numpy(s), start)


def test_params_clone_pickle_repr_pipeline():
    pytest.importorskip("sklearn", reason="scikit-learn is not installed")
    from sklearn.base import clone
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    skm = SphericalKMeans(4, init="random", n_init=2, random_state=1)
    assert skm.get_params() == {"n_clusters": 4, "init": "random", "n_init": 2, "max_iter": 300, "tol": 1e-4,
                                "verbose": 0, "random_state": 1, "copy_x": True}
    assert repr(skm) == "SphericalKMeans(init='random', n_clusters=4, n_init=2, random_state=1)"
    twin = clone(skm)
    assert twin.get_params() == skm.get_params() and twin is not skm
    X = directions()
    fitted = pickle.loads(pickle.dumps(skm.fit(X)))
    np.testing.assert_array_equal(fitted.predict(X), skm.labels_)
    np.testing.assert_array_equal(fitted.get_feature_names_out(), [f"sphericalkmeans{i}" for i in range(4)])
    pipe = make_pipeline(FunctionTransformer(np.abs), SphericalKMeans(3, random_state=0)).fit(X)
    np.testing.assert_array_equal(pipe.predict(X), SphericalKMeans(3, random_state=0).fit(X).labels_)


def test_sklearn_check_estimator():
    pytest.importorskip("sklearn", reason="scikit-learn is not installed")
    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # test data with zero rows warns, as documented
        results = check_estimator(
            SphericalKMeans(),
            expected_failed_checks={
                # As for scikit-learn's own KMeans: seeding draws depend on the row order,
                # which the check shuffles; test_sample_weight_is_repetition checks that
                # weights are repetitions from a common start.
                "check_sample_weight_equivalence_on_dense_data": "seeding depends on the row order",
                "check_sample_weight_equivalence_on_sparse_data": "seeding depends on the row order",
            },
            on_fail=None,
        )
    failed = [(r["check_name"], r["exception"]) for r in results if r["status"] == "failed"]
    assert not failed
    assert sum(r["status"] == "passed" for r in results) > 40


def test_verbose_prints_each_run(capsys):
    data = directions()
    skm = SphericalKMeans(3, init="random", n_init=3, random_state=0, verbose=1).fit(data)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["Run 0", "Run 1", "Run 2"]
    inertias = [float(line.split("inertia ")[1].rstrip(".")) for line in lines]
    assert skm.inertia_ == min(inertias)


def test_fit_inside_jax_jit_is_refused():
    jax = pytest.importorskip("jax", reason="jax is not installed")
    data = directions()
    with pytest.raises(TypeError, match="SphericalKMeans.fit cannot run inside jax.jit"):
        with xpcluster.array_api_dispatch():
            jax.jit(lambda a: SphericalKMeans(3, random_state=0).fit(a).cluster_centers_)(jax.numpy.asarray(data))


def test_works_without_sklearn():
    script = textwrap.dedent(
        """
        import sys
        sys.modules["sklearn"] = None  # any import of scikit-learn fails
        import numpy as np
        import scipy.sparse
        from xpcluster.cluster import SphericalKMeans
        X = np.array([[1.0, 0.1], [5.0, 0.2], [0.3, 1.0], [0.1, 7.0]])
        skm = SphericalKMeans(2, random_state=0).fit(X)
        sparse = SphericalKMeans(2, random_state=0).fit(scipy.sparse.csr_matrix(X))
        print(skm.labels_.tolist(), sparse.labels_.tolist(), skm.get_params()["n_clusters"], repr(skm))
        assert "sklearn" not in [name.split(".")[0] for name in sys.modules if sys.modules[name] is not None]
        """
    )
    env = {k: v for k, v in os.environ.items() if k not in ("SCIPY_ARRAY_API", "XPCLUSTER_ARRAY_API")}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[1, 1, 0, 0] [1, 1, 0, 0] 2 SphericalKMeans(n_clusters=2, random_state=0)"


def test_public_names_and_docstring_example():
    assert xpcluster.SphericalKMeans is SphericalKMeans
    assert "SphericalKMeans" in xpcluster.__all__ and "SphericalKMeans" in dir(xpcluster)
    result = doctest.testmod(xpcluster.cluster._spherical, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
