"""Never a silent wrong answer, for the estimators: dtypes, byte order, range, misused arguments.

Every estimator (KMeans, MiniBatchKMeans, BisectingKMeans, KMedoids, KMedians) on every
backend.  Answers are compared with references computed where nothing can go wrong: the
same estimator on NumPy in float64, on the same (rounded) data brought back to unit range
-- divided by its scale or moved back by its offset, both exact or nearly so in float64 --
and brute force in a wide float on the host for predict, transform and score.

The ``xp`` fixture is redefined here without the lazy patching of conftest's: the lazy
behaviour is what some of these tests check, explicitly (``jax.jit`` calls on "jax_jit",
Dask compute counts), whichever other test modules were imported first.
"""
import warnings

import array_api_compat
import numpy as np
import pytest

import xpcluster
from xpcluster.cluster import BisectingKMeans, KMeans, KMedians, KMedoids, MiniBatchKMeans
from backends import namespace, raises, settle, to_numpy

F32_MAX = float(np.finfo(np.float32).max)
F64_MAX = float(np.finfo(np.float64).max)
# The reference's float: x86's 80-bit long double holds the squares of float64's extremes.
WIDE = np.longdouble if np.finfo(np.longdouble).maxexp > 1024 else np.float64

ESTIMATORS = ("KMeans", "MiniBatchKMeans", "BisectingKMeans", "KMedoids", "KMedians")
#: The power of the data's unit in each estimator's inertia (and score).
POWER = {"KMeans": 2, "MiniBatchKMeans": 2, "BisectingKMeans": 2, "KMedoids": 1, "KMedians": 1}
#: What transform gives: Euclidean distances, or L1 (KMedians).
L1 = {"KMedians"}
START = [0, 10, 20, 30]  # one row of each blob of _separated()


@pytest.fixture
def xp(backend):
    """The backend's namespace, with no function patched (see the module docstring)."""
    return namespace(backend)


def _separated(n_per=10, k=4, d=2, seed=0):
    """Well-separated blobs (centres 10 apart, spread 2): no point is near a tie."""
    rng = np.random.default_rng(seed)
    centres = 10.0 * np.array([[i % 2, i // 2] for i in range(k)], dtype=np.float64)[:, :d]
    return np.concatenate([c + rng.uniform(-2, 2, size=(n_per, d)) for c in centres])


def make(name, start=None):
    """The estimator ``name`` with 4 clusters, started from the rows ``start`` where it takes
    initial centres (KMedoids: the same rows, as indices; BisectingKMeans: a seed, and
    ``tol=0`` since its tol is absolute, in the data's unit squared)."""
    if name == "KMeans":
        return KMeans(4, init=start, n_init=1)
    if name == "MiniBatchKMeans":
        return MiniBatchKMeans(4, init=start, n_init=1, batch_size=40, random_state=0)
    if name == "BisectingKMeans":
        return BisectingKMeans(4, random_state=0, tol=0.0)
    if name == "KMedoids":
        return KMedoids(4, init=np.asarray(START))
    return KMedians(4, init=start)


def fit(name, data, start, *, sample_weight=None):
    """``make(name, start).fit(data)`` (with the weights for estimators that take them)."""
    estimator = make(name, start)
    if sample_weight is not None and name not in ("KMedoids", "KMedians"):
        return estimator.fit(data, sample_weight=sample_weight)
    return estimator.fit(data)


def inertia_of(model):
    return float(to_numpy(model.inertia_))


def _float64_available(xp):
    probe = xp.asarray([0.0])
    dtypes = array_api_compat.array_namespace(probe).__array_namespace_info__().dtypes(
        device=array_api_compat.device(probe), kind="real floating")
    return "float64" in dtypes


def _skip_without(xp, dtype):
    if dtype == "float64" and not _float64_available(xp):
        pytest.skip("backend has no float64")


def _same_place(x, *outputs):
    for out in outputs:
        assert array_api_compat.array_namespace(out) is array_api_compat.array_namespace(x)
        assert array_api_compat.device(out) == array_api_compat.device(x)


def brute_force(points, centres, l1=False):
    """(n, k) squared Euclidean distances in WIDE, or L1 distances."""
    p, c = np.asarray(points, WIDE), np.asarray(centres, WIDE)
    diff = p[:, None, :] - c[None, :, :]
    return np.abs(diff).sum(axis=2) if l1 else (diff * diff).sum(axis=2)


def in_jit(backend, method, *args):
    """``method(*args)``, under ``jax.jit`` on the "jax_jit" backend."""
    if backend == "jax_jit":
        import jax

        return jax.jit(method)(*args)
    return method(*args)


# -- range: data at the edges of each dtype's range ------------------------------------------

# (name, dtype, kind, amount): "scale" multiplies unit-range data, "offset" moves it.
RANGES = [
    ("1e30", "float32", "scale", 1e30),
    ("1e-30", "float32", "scale", 1e-30),
    ("f32max/4", "float32", "scale", F32_MAX / 4 / 25.0),  # the data's largest value: f32max / 8
    ("offset 1e4", "float32", "offset", 1e4),
    ("offset 1e6", "float32", "offset", 1e6),
    ("1e30", "float64", "scale", 1e30),
    ("1e-30", "float64", "scale", 1e-30),
    ("1e300", "float64", "scale", 1e300),
    ("1e-300", "float64", "scale", 1e-300),
    ("f64max/4", "float64", "scale", F64_MAX / 4 / 25.0),
    ("offset 1e12", "float64", "offset", 1e12),
]
RANGE_IDS = [f"{r[0]}-{r[1]}" for r in RANGES]


def _range_data(dtype, kind, amount):
    """The data at that range in ``dtype``, and the same rounded data brought back to unit
    range in float64 (an offset removed exactly; a scale divided out, within float64's
    rounding)."""
    unit = _separated()
    data = (unit * amount if kind == "scale" else unit + amount).astype(dtype)
    wide = data.astype(np.float64)
    back = wide / amount if kind == "scale" else wide - amount
    return data, back


def _forward(a, kind, amount):
    """Unit-range values (float64) at the data's range, in WIDE."""
    a = np.asarray(a, WIDE)
    return a * WIDE(amount) if kind == "scale" else a + WIDE(amount)


def _beyond_float64(name, dtype, label):
    """An inertia of squared distances of float64 data near 1e300, 1e-300 or its maximum:
    float64 cannot hold it."""
    return POWER[name] == 2 and dtype == "float64" and label in ("1e300", "1e-300", "f64max/4")


def _assert_distances(got, expected, dtype):
    """Distances to within the rounding of their computation: relative, plus a share of the
    row's largest distance (the expansion |x|^2 - 2 x.c + |c|^2 costs digits at small ones)."""
    eps = float(np.finfo(dtype).eps)
    expected = np.asarray(expected, WIDE)
    bound = 8 * eps * np.abs(expected) + 256 * eps * expected.max(axis=1, keepdims=True)
    assert np.all(np.abs(np.asarray(got, WIDE) - expected) <= bound), np.max(np.abs(got - expected) / bound)


@pytest.mark.parametrize("name", ESTIMATORS)
@pytest.mark.parametrize("label,dtype,kind,amount", RANGES, ids=RANGE_IDS)
def test_fit_and_use_at_the_edges_of_the_range(xp, backend, name, label, dtype, kind, amount):
    """Labels as float64 finds them; centres, inertia, predict, transform and score as a
    float64 reference computes them on the same data brought back to unit range.  An
    inertia float64 cannot hold is a ValueError naming float64, not inf or 0."""
    _skip_without(xp, dtype)
    data, back = _range_data(dtype, kind, amount)
    x = xp.asarray(data)
    reference = fit(name, back, back[START])
    expected_centres = _forward(reference.cluster_centers_, kind, amount)
    beyond = _beyond_float64(name, dtype, label)
    if beyond:
        with pytest.raises(ValueError, match="(exceeds|is below) the range of float64"):
            fit(name, x, xp.asarray(data[START]))
        # predict and transform of centres fitted elsewhere: the reference's, at this range.
        model = fit(name, xp.asarray(back), xp.asarray(back[START]))
        model.cluster_centers_ = xp.asarray(np.asarray(expected_centres, np.float64).astype(dtype))
        model.node_centers_ = model.cluster_centers_[:1, :]
        model.hierarchy_, model.leaf_nodes_ = [], (0,)  # (BisectingKMeans: transform only)
    else:
        model = fit(name, x, xp.asarray(data[START]))
        labels, centres = to_numpy(model.labels_), to_numpy(model.cluster_centers_)
        _same_place(x, model.labels_, model.cluster_centers_)
        assert centres.dtype == np.dtype(dtype)
        assert np.all(np.isfinite(centres))
        np.testing.assert_array_equal(labels, to_numpy(reference.labels_))
        got_inertia = inertia_of(model)
        assert np.isfinite(got_inertia) and got_inertia > 0
        if kind == "scale":
            np.testing.assert_allclose(centres.astype(WIDE), expected_centres, rtol=2e-6 if dtype == "float32" else 1e-12)
            unit_inertia = got_inertia / amount / amount if POWER[name] == 2 else got_inertia / amount
            assert unit_inertia == pytest.approx(inertia_of(reference), rel=1e-4 if dtype == "float32" else 1e-10)
        else:  # differences of rounded data: tolerances of the data's rounding step there
            step = float(np.spacing(np.asarray(amount, dtype=dtype)))
            np.testing.assert_allclose(centres.astype(WIDE) - WIDE(amount),
                                       np.asarray(reference.cluster_centers_, WIDE), rtol=0, atol=4 * step)
            assert got_inertia == pytest.approx(inertia_of(reference), rel=1e-2 if dtype == "float32" else 1e-4)
    centres = to_numpy(model.cluster_centers_)

    # New points at the same range (the training rows, moved a little) against the fitted centres.
    new = (data.astype(np.float64) + (np.float64(amount) * 0.125 if kind == "scale" else 0.125)).astype(dtype)
    x_new = xp.asarray(new)
    distances = in_jit(backend, model.transform, x_new)
    settle(distances)
    got = to_numpy(distances)
    _same_place(x, distances)
    assert got.dtype == np.dtype(dtype) and np.all(np.isfinite(got))
    wide_distances = brute_force(new, centres, l1=name in L1)
    _assert_distances(got, wide_distances if name in L1 else np.sqrt(wide_distances), dtype)
    if beyond and name == "BisectingKMeans":
        return  # (its predict descends a hierarchy; this stand-in has none)
    predicted = in_jit(backend, model.predict, x_new)
    settle(predicted)
    _same_place(x, predicted)
    np.testing.assert_array_equal(to_numpy(predicted), np.argmin(wide_distances, axis=1))
    if hasattr(model, "score"):
        if beyond:
            with pytest.raises(ValueError, match="the range of float64"):
                model.score(x_new)
            return
        score = model.score(x_new)
        assert isinstance(score, float) and np.isfinite(score)
        expected_score = -float(np.min(wide_distances, axis=1).sum())
        assert score == pytest.approx(expected_score, rel=1e-4 if dtype == "float32" else 1e-10)


def test_kmedoids_metrics_at_the_edges_of_the_float32_range(xp):
    """Every vector metric finds float64's medoids at 1e30 and 1e-30 in float32; an inertia
    float32 cannot hold (squared distances near 1e60) is a ValueError naming float32."""
    unit = _separated()
    for metric in ("euclidean", "sqeuclidean", "manhattan", "cosine"):
        reference = KMedoids(4, metric=metric, init=np.asarray(START)).fit(unit)
        for scale in (1e30, 1e-30):
            data = (unit * scale).astype(np.float32)
            model = KMedoids(4, metric=metric, init=np.asarray(START))
            if metric == "sqeuclidean":  # squared distances near 1e60 and 1e-60
                with pytest.raises(ValueError, match="inertia_ (exceeds|is below) the range of float32"):
                    model.fit(xp.asarray(data))
                continue
            model.fit(xp.asarray(data))
            np.testing.assert_array_equal(to_numpy(model.medoid_indices_), to_numpy(reference.medoid_indices_))
            np.testing.assert_array_equal(to_numpy(model.labels_), to_numpy(reference.labels_))
            power = {"euclidean": 1, "sqeuclidean": 2, "manhattan": 1, "cosine": 0}[metric]
            unit_inertia = inertia_of(model)
            for _ in range(power):
                unit_inertia /= scale
            assert unit_inertia == pytest.approx(inertia_of(reference), rel=1e-4, abs=1e-6)
            distances = to_numpy(model.transform(xp.asarray(data)))
            assert np.all(np.isfinite(distances))


def test_a_distance_beyond_the_dtype_is_an_error_naming_it(xp, backend):
    """float32 data near its maximum: a distance 1.5 times float32's maximum cannot be held."""
    rng = np.random.default_rng(0)
    data = np.concatenate([rng.uniform(-1, 1, size=(10, 2)) * 0.1 - [6, 0], rng.uniform(-1, 1, size=(10, 2)) * 0.1 + [6, 0]])
    data = (data * (F32_MAX / 8)).astype(np.float32)  # two blobs at -3/4 and 3/4 of the maximum
    for name in ("KMeans", "KMedians"):
        model = make(name, xp.asarray(data[[0, 10]])).set_params(n_clusters=2).fit(xp.asarray(data))
        far = xp.asarray(data[:1] * np.float32(-1))  # 1.5 times the maximum from the first centre
        with raises(backend, ValueError, match="exceeds the range of float32"):
            settle(in_jit(backend, model.transform, far))
        assert np.all(np.isfinite(to_numpy(model.cluster_centers_)))


# -- dtypes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ESTIMATORS)
def test_big_endian_input_gives_the_native_answer(backend, name):
    """'>f8' data, init, weights and query points: the native float64 answer (two blobs at
    1e8, where reading the bytes in the wrong order gave an inertia of 0)."""
    if backend not in ("numpy", "dask"):
        pytest.skip("only NumPy and Dask hold non-native byte order")
    rng = np.random.default_rng(0)
    native = np.concatenate([rng.normal(1e8, 1, size=(20, 2)), rng.normal(1e8 + 10, 1, size=(20, 2))])
    weights = rng.uniform(0.5, 2, size=40)
    big, big_weights = native.astype(">f8"), weights.astype(">f8")
    if backend == "dask":
        import dask.array as da

        big, big_weights = da.from_array(big, chunks=15), da.from_array(big_weights, chunks=15)
    start = native[[0, 20]]
    model = make(name, start.astype(">f8")).set_params(n_clusters=2)
    expected = make(name, start).set_params(n_clusters=2)
    if name == "KMedoids":
        model.set_params(init=np.asarray([0, 20])), expected.set_params(init=np.asarray([0, 20]))
    if name in ("KMedoids", "KMedians"):
        model.fit(big), expected.fit(native)
    else:
        model.fit(big, sample_weight=big_weights), expected.fit(native, sample_weight=weights)
    assert to_numpy(model.cluster_centers_).dtype == np.float64
    assert inertia_of(model) > 0
    assert inertia_of(model) == pytest.approx(inertia_of(expected), rel=1e-12)
    np.testing.assert_array_equal(to_numpy(model.labels_), to_numpy(expected.labels_))
    np.testing.assert_allclose(to_numpy(model.cluster_centers_), to_numpy(expected.cluster_centers_), rtol=1e-14)
    distances = to_numpy(model.transform(big))
    assert distances.dtype == np.float64 and distances.dtype.isnative
    # (centres at 1e8 agree to 1e-14 relative: 1e-6 absolute, with Dask's other summation order)
    np.testing.assert_allclose(distances, to_numpy(expected.transform(native)), rtol=1e-9, atol=1e-5)
    np.testing.assert_array_equal(to_numpy(model.predict(big)), to_numpy(expected.predict(native)))
    if hasattr(model, "score"):
        assert model.score(big) == pytest.approx(expected.score(native), rel=1e-9)


@pytest.mark.parametrize("name", ["KMeans", "MiniBatchKMeans", "KMedians"])
def test_a_big_endian_numpy_init_goes_with_data_of_any_library(xp, name):
    """Initial centres (and weights) from a '>f8' NumPy array, with data of every library."""
    points = _separated()
    x = xp.asarray(points)
    model = fit(name, x, points[START].astype(">f8"), sample_weight=np.ones(len(points), dtype=">f8"))
    expected = fit(name, points, points[START], sample_weight=np.ones(len(points)))
    _same_place(x, model.cluster_centers_)
    np.testing.assert_array_equal(to_numpy(model.labels_), to_numpy(expected.labels_))
    np.testing.assert_allclose(to_numpy(model.cluster_centers_), to_numpy(expected.cluster_centers_), rtol=1e-10)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_int64_near_2_to_the_40_computes_in_float64(xp, name):
    """float32 cannot tell these integers apart (its step at 2**40 is 65536): on PyTorch, whose
    default float is float32, KMeans reported an inertia of 0."""
    _skip_without(xp, "float64")
    rng = np.random.default_rng(1)
    codes = 2**40 + np.array([[0, 0], [40_000, 0]], dtype=np.int64)
    points = codes[np.repeat([0, 1], 12)] + rng.integers(-15_000, 15_000, size=(24, 2))
    x = xp.asarray(points)
    model = make(name, xp.asarray(points[[0, 12]])).set_params(n_clusters=2)
    if name == "KMedoids":
        model.set_params(init=np.asarray([0, 12]))
    model.fit(x)
    reference = make(name, (points[[0, 12]] - 2**40).astype(np.float64)).set_params(n_clusters=2)
    if name == "KMedoids":
        reference.set_params(init=np.asarray([0, 12]))
    reference.fit((points - 2**40).astype(np.float64))
    assert to_numpy(model.cluster_centers_).dtype == np.float64
    labels = to_numpy(model.labels_)
    assert len(set(labels[:12])) == 1 and len(set(labels[12:])) == 1 and labels[0] != labels[12]
    np.testing.assert_array_equal(labels, to_numpy(reference.labels_))
    # (MiniBatchKMeans' running means round at 2**40 where the reference's do not: 1e-6.)
    assert inertia_of(model) == pytest.approx(inertia_of(reference), rel=1e-6)
    np.testing.assert_allclose(to_numpy(model.cluster_centers_) - 2**40, to_numpy(reference.cluster_centers_), atol=1e-3)
    assert to_numpy(model.transform(x)).dtype == np.float64


def _halves(backend, points):
    if backend in ("numpy", "numpy_readonly"):
        return [points.astype(np.float16)]
    if backend == "torch":
        import torch

        return [torch.asarray(points).to(torch.float16), torch.asarray(points).to(torch.bfloat16)]
    if backend in ("jax", "jax_jit"):
        import jax.numpy as jnp

        return [jnp.asarray(points, dtype=jnp.float16), jnp.asarray(points, dtype=jnp.bfloat16)]
    if backend == "dask":
        return [namespace("dask").asarray(points.astype(np.float16))]
    pytest.skip("the library has no half-precision float here")


@pytest.mark.parametrize("name", ESTIMATORS)
def test_half_precision_computes_and_returns_float32(backend, name):
    """float16 (and bfloat16) input computes in float32: float32 results, float32's labels."""
    points = _separated()
    for half in _halves(backend, points):
        hxp = array_api_compat.array_namespace(half)
        rounded = to_numpy(hxp.astype(half, hxp.float32))
        model = make(name, half[np.asarray(START)]).fit(half)
        reference = make(name, rounded[START]).fit(rounded)
        assert to_numpy(model.cluster_centers_).dtype == np.float32
        np.testing.assert_array_equal(to_numpy(model.labels_), to_numpy(reference.labels_))
        np.testing.assert_allclose(to_numpy(model.cluster_centers_), to_numpy(reference.cluster_centers_), rtol=1e-5)
        assert to_numpy(model.transform(half)).dtype == np.float32
        np.testing.assert_array_equal(to_numpy(model.predict(half)), to_numpy(reference.labels_))


@pytest.mark.parametrize("name", ESTIMATORS)
def test_integers_beyond_exact_float_warn(xp, backend, name):
    """Integers float64 cannot hold exactly: a PrecisionWarning in fit, and in predict (on
    Dask when the labels are computed)."""
    _skip_without(xp, "float64")
    points = np.array([[2**60, 0], [2**60 + 1, 0], [0, 0], [1, 0]], dtype=np.int64)
    model = make(name, xp.asarray(points[[0, 2]])).set_params(n_clusters=2)
    if name == "KMedoids":
        model.set_params(init=np.asarray([0, 2]))
    with pytest.warns(xpcluster.PrecisionWarning, match="beyond"):
        model.fit(xp.asarray(points))
    fitted = make(name, xp.asarray(_separated()[START[:2]])).set_params(n_clusters=2)
    if name == "KMedoids":
        fitted.set_params(init=np.asarray([0, 10]))
    fitted.fit(xp.asarray(_separated()))
    if backend == "jax_jit":
        pytest.skip("a warning from inside jax.jit is a host callback's; fit and eager predict are checked")
    with pytest.warns(xpcluster.PrecisionWarning, match="beyond"):
        settle(fitted.predict(xp.asarray(points)))
    with warnings.catch_warnings():
        warnings.simplefilter("error", xpcluster.PrecisionWarning)  # exact integers: no warning
        settle(fitted.predict(xp.asarray(np.array([[2**52, 0], [3, 0]], dtype=np.int64))))


# -- lazy and traced use of a fitted estimator on scaled data ---------------------------------


@pytest.mark.parametrize("name", ESTIMATORS)
def test_dask_predict_and_transform_on_scaled_data_compute_nothing(name):
    """The range scale of predict/transform is part of the graph: no compute until asked."""
    dask = pytest.importorskip("dask", reason="dask is not installed")
    dxp = namespace("dask")
    data = (_separated() * 1e30).astype(np.float32)
    x = dxp.asarray(data)
    model = make(name, dxp.asarray(data[START])).fit(x)
    unit = _separated()
    expected_labels = to_numpy(make(name, unit[START]).fit(unit).labels_)
    centres = to_numpy(model.cluster_centers_)
    squared = brute_force(data, centres, l1=name in L1)
    expected_distances = squared if name in L1 else np.sqrt(squared)
    computes = {"count": 0}

    def counting(dsk, keys, **kwargs):
        computes["count"] += 1
        return dask.get(dsk, keys, **kwargs)

    with dask.config.set(scheduler=counting):
        labels, distances = model.predict(x), model.transform(x)
        assert computes["count"] == 0
        np.testing.assert_array_equal(labels.compute(), expected_labels)
        _assert_distances(distances.compute(), expected_distances, "float32")
    # The value checks ride the graph too: NaN in the query points raises at compute.
    bad = data.copy()
    bad[3, 1] = np.nan
    with dask.config.set(scheduler=counting):
        computes["count"] = 0
        lazy = model.predict(dxp.asarray(bad))
        assert computes["count"] == 0
    with pytest.raises(ValueError, match="NaN or infinity"):
        lazy.compute()


@pytest.mark.parametrize("name", ESTIMATORS)
@pytest.mark.parametrize("scale", [1e30, 1e-30, F32_MAX / 4 / 25.0], ids=["1e30", "1e-30", "f32max/4"])
def test_jitted_predict_and_transform_on_scaled_data(name, scale):
    """Under jax.jit the range scale is traced: the eager answers, at every range."""
    jax = pytest.importorskip("jax", reason="jax is not installed")
    data = (_separated() * scale).astype(np.float32)
    x = jax.numpy.asarray(data)
    model = make(name, x[np.asarray(START)]).fit(x)
    labels, distances = jax.jit(lambda a: (model.predict(a), model.transform(a)))(x)
    unit = _separated()
    np.testing.assert_array_equal(np.asarray(labels), to_numpy(make(name, unit[START]).fit(unit).labels_))
    np.testing.assert_array_equal(np.asarray(labels), np.asarray(model.predict(x)))
    squared = brute_force(data, np.asarray(model.cluster_centers_), l1=name in L1)
    _assert_distances(np.asarray(distances), squared if name in L1 else np.sqrt(squared), "float32")
    np.testing.assert_allclose(np.asarray(distances), np.asarray(model.transform(x)), rtol=1e-6)
    bad = data.copy()
    bad[3, 1] = np.inf
    with raises("jax_jit", ValueError, "NaN or infinity"):
        settle(jax.jit(model.predict)(jax.numpy.asarray(bad)))


# -- arguments accepted and then misused --------------------------------------------------------

BAD_PARAMETERS = [
    ("KMeans", {"n_clusters": True}),
    ("KMeans", {"n_clusters": 2.0}),
    ("KMeans", {"max_iter": 2.5}),
    ("KMeans", {"max_iter": False}),
    ("KMeans", {"tol": float("nan")}),
    ("KMeans", {"tol": float("inf")}),
    ("KMeans", {"tol": True}),
    ("KMeans", {"n_init": 1.5}),
    ("KMeans", {"verbose": 2.5}),
    ("KMeans", {"verbose": -1}),
    ("KMeans", {"copy_x": 1}),
    ("KMeans", {"random_state": True}),
    ("MiniBatchKMeans", {"n_clusters": True}),
    ("MiniBatchKMeans", {"batch_size": True}),
    ("MiniBatchKMeans", {"batch_size": 10.0}),
    ("MiniBatchKMeans", {"compute_labels": 0}),
    ("MiniBatchKMeans", {"compute_labels": "no"}),
    ("MiniBatchKMeans", {"reassignment_ratio": float("nan")}),
    ("MiniBatchKMeans", {"reassignment_ratio": float("inf")}),
    ("MiniBatchKMeans", {"max_no_improvement": 2.5}),
    ("MiniBatchKMeans", {"tol": float("nan")}),
    ("BisectingKMeans", {"n_clusters": True}),
    ("BisectingKMeans", {"max_iter": 2.5}),
    ("BisectingKMeans", {"tol": float("nan")}),
    ("BisectingKMeans", {"tol": float("inf")}),
    ("BisectingKMeans", {"n_init": True}),
    ("KMedoids", {"n_clusters": True}),
    ("KMedoids", {"n_clusters": 2.0}),
    ("KMedoids", {"max_iter": 2.5}),
    ("KMedoids", {"max_iter": True}),
    ("KMedians", {"n_clusters": True}),
    ("KMedians", {"max_iter": 2.5}),
    ("KMedians", {"tol": float("nan")}),
    ("KMedians", {"tol": float("inf")}),
    ("KMedians", {"n_init": True}),
]


@pytest.mark.parametrize("name,params", BAD_PARAMETERS, ids=[f"{n}-{p}" for n, p in BAD_PARAMETERS])
def test_misused_parameters_are_refused(name, params):
    """A bool for a count, a fraction for an integer, NaN or infinity for a tolerance: refused
    with scikit-learn's InvalidParameterError (a ValueError and a TypeError), not used."""
    model = {"KMeans": KMeans, "MiniBatchKMeans": MiniBatchKMeans, "BisectingKMeans": BisectingKMeans,
             "KMedoids": KMedoids, "KMedians": KMedians}[name](2).set_params(**params)
    key = next(iter(params))
    with pytest.raises(ValueError, match=key) as info:
        model.fit(_separated())
    assert isinstance(info.value, TypeError)
    # With scikit-learn loaded, the error is also its InvalidParameterError.
    sklearn_validation = pytest.importorskip("sklearn.utils._param_validation")
    with pytest.raises(sklearn_validation.InvalidParameterError, match=key):
        model.fit(_separated())


def test_a_bool_sample_weight_is_refused():
    with pytest.raises(TypeError, match="bool"):
        KMeans(2, n_init=1).fit(_separated(), sample_weight=True)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_inputs_are_not_modified_and_results_stay_in_their_library(xp, name):
    """fit, predict, transform and score leave data, init and weights as they were (a
    read-only NumPy array would raise on a write), at a range that needs scaling."""
    data = (_separated() * 1e30).astype(np.float32)
    weights = np.random.default_rng(0).uniform(0.5, 2, size=len(data)).astype(np.float32)
    x, start, w = xp.asarray(data), xp.asarray(data[START]), xp.asarray(weights)
    copies = [to_numpy(a).copy() for a in (x, start, w)]
    model = fit(name, x, start, sample_weight=w)
    outputs = [model.predict(x), model.transform(x)]
    settle(*outputs)
    if hasattr(model, "score"):
        model.score(x)
    for original, copy in zip((x, start, w), copies):
        np.testing.assert_array_equal(to_numpy(original), copy)
    _same_place(x, model.cluster_centers_, model.labels_, *outputs)
