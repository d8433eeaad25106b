"""KMeans(algorithm='elkan'): the bounded loop gives Lloyd's answer exactly, on every backend."""
import functools
import warnings

import array_api_compat
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xpcluster
import xpcluster._core.bounds as bounds
import xpcluster.cluster._kmeans as kmeans_module
from xpcluster._backends import capabilities_for, generic
from xpcluster.cluster import KMeans
from xpcluster.cluster._kmeans import ConvergenceWarning
from backends import to_numpy


def blobs(n=600, d=4, k=6, seed=0, dtype=np.float64, spread=1.0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=6.0, size=(k, d))
    return (centres[rng.integers(0, k, size=n)] + spread * rng.normal(size=(n, d))).astype(dtype)


@pytest.fixture
def scored():
    """The fraction of rows the bounded loop scored in each iteration of the fits in a test."""
    fractions = []
    original = bounds.bounded_lloyd

    def recording(*args, **kwargs):
        return original(*args, **{**kwargs, "stats": fractions})

    kmeans_module.bounded_lloyd = recording
    try:
        yield fractions
    finally:
        kmeans_module.bounded_lloyd = original


def assert_same_fit(a, b):
    np.testing.assert_array_equal(to_numpy(a.labels_), to_numpy(b.labels_))
    np.testing.assert_array_equal(to_numpy(a.cluster_centers_), to_numpy(b.cluster_centers_))
    assert a.n_iter_ == b.n_iter_
    assert a.inertia_ == b.inertia_


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_elkan_is_lloyd_bit_for_bit_on_every_backend(xp, backend, dtype, scored):
    data = blobs(dtype=dtype, k=12, spread=1.5)
    w = np.random.default_rng(3).uniform(0.5, 2.0, size=data.shape[0])
    x = xp.asarray(data)
    for weights in (None, xp.asarray(w)):
        lloyd = KMeans(12, random_state=0, n_init=2, algorithm="lloyd").fit(x, sample_weight=weights)
        elkan = KMeans(12, random_state=0, n_init=2, algorithm="elkan").fit(x, sample_weight=weights)
        assert_same_fit(elkan, lloyd)
        assert elkan.n_iter_ > 2
    if backend.startswith("jax"):
        assert scored == []  # traced arrays run Lloyd's loop
    elif backend.startswith("dask"):
        pass  # small data runs the NumPy core in one task (bounded); larger, Lloyd's lazy loop
    else:
        # The bounds really prune: after the first iterations most rows are not scored.
        assert scored[0] == 1.0 and min(scored) < 0.5


def test_bounds_prune_most_rows_once_settled(scored):
    data = blobs(n=3000, d=8, k=20, spread=1.5)
    lloyd = KMeans(20, random_state=1, n_init=1, tol=0).fit(data)
    elkan = KMeans(20, random_state=1, n_init=1, tol=0, algorithm="elkan").fit(data)
    assert_same_fit(elkan, lloyd)
    assert len(scored) == elkan.n_iter_ > 4
    assert np.median(scored[2:]) < 0.1


@pytest.mark.parametrize("groups", [1, 2, 3, 7, 20])
def test_every_group_count_gives_lloyds_answer(groups):
    data = blobs(n=800, d=5, k=20, seed=4, spread=2.0)
    lloyd = KMeans(20, random_state=2, n_init=1).fit(data)
    original = bounds.bounded_lloyd
    kmeans_module.bounded_lloyd = functools.partial(original, groups=groups)
    try:
        elkan = KMeans(20, random_state=2, n_init=1, algorithm="elkan").fit(data)
    finally:
        kmeans_module.bounded_lloyd = original
    assert_same_fit(elkan, lloyd)


def test_empty_clusters_and_far_starts(xp):
    """Relocated centres jump far: their drift loosens every bound, and the answer holds."""
    data = blobs(n=300, d=3, k=4, seed=5)
    start = np.concatenate([data[:2], [[1e3, 1e3, 1e3], [-1e3, 0.0, 0.0], [0.0, 5e2, 0.0]]])
    x = xp.asarray(data)
    lloyd = KMeans(5, init=xp.asarray(start), max_iter=60).fit(x)
    elkan = KMeans(5, init=xp.asarray(start), max_iter=60, algorithm="elkan").fit(x)
    assert_same_fit(elkan, lloyd)
    assert np.bincount(to_numpy(elkan.labels_), minlength=5).min() > 0


def test_exact_ties_go_to_the_lowest_index():
    """Integer data with duplicated points and centres equidistant from them."""
    rng = np.random.default_rng(6)
    data = rng.integers(-3, 4, size=(400, 2)).astype(np.float64)
    start = np.array([[-1.0, 0.0], [1.0, 0.0], [0.0, 2.0], [0.0, -2.0], [3.0, 3.0]])
    lloyd = KMeans(5, init=start, max_iter=100).fit(data)
    elkan = KMeans(5, init=start, max_iter=100, algorithm="elkan").fit(data)
    assert_same_fit(elkan, lloyd)


def test_far_from_the_origin_in_float32():
    """Rows far from the origin: the expansion's rounding is large, the slack covers it."""
    data = blobs(n=2000, d=16, k=10, seed=7, dtype=np.float32, spread=3.0) + np.float32(3e3)
    lloyd = KMeans(10, random_state=0, n_init=1).fit(data)
    elkan = KMeans(10, random_state=0, n_init=1, algorithm="elkan").fit(data)
    assert_same_fit(elkan, lloyd)


def test_data_larger_than_the_budget_takes_the_unprepared_path():
    data = blobs(n=2000, d=6, k=8, seed=8, spread=2.0)
    with xpcluster.memory_budget(20_000):  # too small to lay the rows out once
        lloyd = KMeans(8, random_state=0, n_init=1).fit(data)
        elkan = KMeans(8, random_state=0, n_init=1, algorithm="elkan").fit(data)
    assert_same_fit(elkan, lloyd)


def test_input_is_not_mutated(xp, backend):
    data = blobs(n=200, k=5)
    x = xp.asarray(data)
    KMeans(5, random_state=0, n_init=1, algorithm="elkan").fit(x)
    np.testing.assert_array_equal(to_numpy(x), data)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(10, 200),
    d=st.integers(1, 6),
    k=st.integers(2, 12),
    rounded=st.booleans(),
    weighted=st.booleans(),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_property_elkan_equals_lloyd(seed, n, d, k, rounded, weighted, dtype):
    rng = np.random.default_rng(seed)
    k = min(k, n)
    data = rng.normal(scale=rng.uniform(0.1, 10.0), size=(n, d)) + rng.normal(size=(max(1, k // 2), d))[
        rng.integers(0, max(1, k // 2), size=n)] * 5
    if rounded:  # many exact ties and duplicate points
        data = np.round(data)
    data = data.astype(dtype)
    w = rng.uniform(0.1, 3.0, size=n) if weighted else None
    lloyd = KMeans(k, random_state=seed, n_init=1).fit(data, sample_weight=w)
    elkan = KMeans(k, random_state=seed, n_init=1, algorithm="elkan").fit(data, sample_weight=w)
    assert_same_fit(elkan, lloyd)


def test_put_rows_agrees_with_the_standard_version(xp):
    """Rows (first axis) at sorted indices replaced; padding past the end dropped."""
    caps = capabilities_for(xp)
    rng = np.random.default_rng(9)
    base = rng.normal(size=(50, 3))
    index = np.sort(rng.choice(50, 17, replace=False))
    values = rng.normal(size=(17, 3))
    expected = base.copy()
    expected[index] = values
    for put in (caps.put_rows, generic.put_rows):
        for a, v, want in ((base, values, expected), (base[:, 0], values[:, 0], expected[:, 0])):
            owned = xp.zeros(a.shape, dtype=xp.float64) + xp.asarray(a)  # an array the caller owns
            np.testing.assert_array_equal(to_numpy(put(owned, xp.asarray(index), xp.asarray(v))), want)
    # The static compaction's padding (indices == n, at the end) is dropped.
    padded = np.concatenate([index, [50, 50]])
    values_padded = np.concatenate([values, rng.normal(size=(2, 3))])
    puts = (caps.put_rows, generic.put_rows) if caps.compaction(xp.zeros(1)) == "static" else (generic.put_rows,)
    for put in puts:
        got = put(xp.zeros((50, 3), dtype=xp.float64) + xp.asarray(base), xp.asarray(padded), xp.asarray(values_padded))
        np.testing.assert_array_equal(to_numpy(got), expected)


def test_compact_index(xp):
    caps = capabilities_for(xp)
    mask = np.zeros(40, dtype=bool)
    mask[[3, 7, 8, 30]] = True
    got = to_numpy(caps.compact_index(xp.asarray(mask), 6))
    if caps.compaction(xp.asarray(mask)) == "static":
        np.testing.assert_array_equal(got, [3, 7, 8, 30, 40, 40])
        np.testing.assert_array_equal(to_numpy(caps.compact_index(xp.asarray(mask), 2)), [3, 7])
    else:
        np.testing.assert_array_equal(got, [3, 7, 8, 30])


@pytest.mark.parametrize("k", [5, 40, 200])
@pytest.mark.parametrize("groups", [1, 3])
def test_nearest_with_others_is_the_nearest_index_of_the_same_scores(xp, k, groups):
    """Labels equal the assignment's (ties to the lowest index); the best score is the
    row's minimum; each group's value is the smallest score of that group but the own."""
    from xpcluster._core import assign

    rng = np.random.default_rng(k)
    points = np.round(rng.normal(size=(300, 6)) * 2)  # integer data: exact ties
    centres = np.round(rng.normal(size=(k, 6)) * 2)
    shifted = xp.asarray(centres)
    half = xp.asarray(0.5 * (centres ** 2).sum(axis=1))
    ns = array_api_compat.array_namespace(shifted)
    caps = capabilities_for(ns)
    labels, best, others = assign.nearest_with_others(xp.asarray(points), shifted, half, groups, ns, caps)
    want = assign._nearest(xp.asarray(points), shifted, half, ns, caps)
    np.testing.assert_array_equal(to_numpy(labels), to_numpy(want))
    scores = 0.5 * (centres ** 2).sum(axis=1)[None, :] - points @ centres.T
    np.testing.assert_array_equal(to_numpy(labels), scores.argmin(axis=1))
    np.testing.assert_allclose(to_numpy(best), scores.min(axis=1), rtol=1e-12, atol=1e-12)
    scores[np.arange(300), scores.argmin(axis=1)] = np.inf
    width = -(-k // groups)
    for g in range(groups):
        np.testing.assert_allclose(to_numpy(others)[:, g], scores[:, g * width:(g + 1) * width].min(axis=1),
                                   rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_near_ties_between_centres_go_as_in_lloyd(xp, backend, dtype):
    """Rows at the midpoints of pairs of centres (ties up to the rounding of each score):
    the bounded loop scores them with Lloyd's own products, so each goes where Lloyd's
    pass sends it, on every backend."""
    import itertools

    for seed in range(6):
        rng = np.random.default_rng(seed)
        d, k = int(rng.integers(2, 30)), int(rng.integers(3, 14))
        centres = rng.normal(size=(k, d)) * 3 + rng.normal(size=d) * 50
        mids = np.array([(centres[a] + centres[b]) / 2 for a, b in itertools.combinations(range(k), 2)])
        data = np.concatenate([centres[rng.integers(0, k, 60)] + 0.3 * rng.normal(size=(60, d)), mids]).astype(dtype)
        x, start = xp.asarray(data), xp.asarray(centres.astype(dtype))
        for max_iter in (1, 50):
            lloyd = KMeans(k, init=start, n_init=1, max_iter=max_iter).fit(x)
            elkan = KMeans(k, init=start, n_init=1, max_iter=max_iter, algorithm="elkan").fit(x)
            assert_same_fit(elkan, lloyd)


def test_data_without_clusters_gives_the_bounds_up_for_lloyds_iterations():
    """Noise: most rows fail their bounds; after patience(k) such iterations the loop runs
    Lloyd's own iterations to the end, and the answer is Lloyd's."""
    data = np.random.default_rng(11).normal(size=(4000, 6)).astype(np.float32)
    lloyd = KMeans(5, random_state=0, n_init=1, tol=0, max_iter=60).fit(data)
    plain_steps = []
    original = bounds.bounded_lloyd

    def counting(*args, lloyd_step, **kwargs):
        def step(*a):
            plain_steps.append(1)
            return lloyd_step(*a)
        return original(*args, lloyd_step=step, **kwargs)

    kmeans_module.bounded_lloyd = counting
    try:
        elkan = KMeans(5, random_state=0, n_init=1, tol=0, max_iter=60, algorithm="elkan").fit(data)
    finally:
        kmeans_module.bounded_lloyd = original
    assert_same_fit(elkan, lloyd)
    assert len(plain_steps) == elkan.n_iter_ - bounds.patience(5)  # the first pass counts as one


@pytest.mark.parametrize("groups", [1, 4])
def test_the_loop_itself_prunes_and_equals_lloyds_loop(xp, backend, groups):
    """``bounded_lloyd`` called directly, outside the estimator's compiled core: on JAX the
    static compaction runs inside ``lax`` loops (and the loop's record of scored rows comes
    back), on Dask the bounded pass runs block by block over several blocks, lazily."""
    from sklearn.cluster import kmeans_plusplus

    data = blobs(n=3000, d=8, k=20, spread=1.5)
    start_host, _ = kmeans_plusplus(data, 20, random_state=0)
    x = xp.asarray(data)
    if backend.startswith("dask"):
        x = x.rechunk(700)
    ns = array_api_compat.array_namespace(x)
    caps = capabilities_for(ns)
    start = xp.asarray(start_host)
    tol = xp.asarray(0.0, dtype=xp.float64)

    def step(centers, previous):
        new, labels, _, unchanged, shift = kmeans_module.lloyd_step(x, None, centers, previous, xp=ns, caps=caps)
        return new, labels, unchanged, shift

    want_centers, want_iter = kmeans_module.lloyd(x, None, start, tol, max_iter=100, xp=ns, caps=caps)
    stats = []
    relocate = functools.partial(kmeans_module.relocate_empty_clusters, xp=ns, caps=caps)
    centers, n_iter = bounds.bounded_lloyd(x, None, start, tol, max_iter=100, xp=ns, caps=caps, relocate=relocate,
                                           lloyd_step=step, groups=groups, stats=stats)
    np.testing.assert_array_equal(to_numpy(centers), to_numpy(want_centers))
    assert int(to_numpy(n_iter)) == int(to_numpy(want_iter)) == len(stats) > 4
    assert stats[0] == 1.0 and np.median(stats[2:]) < 0.3


def test_auto_bounds_many_centres_only(scored):
    """'auto' runs the bounded loop from k=256 on, Lloyd's below: the same answer either way."""
    rng = np.random.default_rng(12)
    data = rng.normal(size=(3000, 3))
    for k, bounded in ((8, False), (256, True)):
        scored.clear()
        auto = KMeans(k, random_state=0, n_init=1, algorithm="auto").fit(data)
        assert bool(scored) is bounded
        assert_same_fit(auto, KMeans(k, random_state=0, n_init=1).fit(data))


@pytest.mark.parametrize("bad", ["full", "Elkan", "", None, 1])
def test_an_unknown_algorithm_is_refused(bad):
    with pytest.raises(ValueError, match="'algorithm' parameter of KMeans must be a str among"):
        KMeans(3, algorithm=bad).fit(np.zeros((10, 2)))


HOSTILE = {
    "integers": lambda base: np.round(base).astype(np.int64),
    "float16": lambda base: base.astype(np.float16),
    "huge": lambda base: base * 1e150,
    "tiny": lambda base: base * 1e-150,
    "float32 near its limit": lambda base: (base * 1e30).astype(np.float32),
    "far from the origin": lambda base: base + 1e8,
    "constant": lambda base: np.ones_like(base),
    "duplicates": lambda base: np.repeat(base[:4], len(base) // 4, axis=0),
    "one feature": lambda base: base[:, :1].copy(),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_input_gives_lloyds_answer(xp, backend, case):
    """Inputs that stress the bounds' rounding or the dtype policy: 'elkan' equals 'lloyd'."""
    rng = np.random.default_rng(13)
    base = np.concatenate([rng.normal(size=(60, 3)) + c for c in (0.0, 8.0, 16.0)])
    data = HOSTILE[case](base)
    if case == "float16" and backend.startswith("array_api_strict"):
        pytest.skip("array-api-strict has no float16")
    x = xp.asarray(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        lloyd = KMeans(4, random_state=0, n_init=2).fit(x)
        elkan = KMeans(4, random_state=0, n_init=2, algorithm="elkan").fit(x)
    assert_same_fit(elkan, lloyd)
