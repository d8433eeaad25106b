"""Properties of the Lloyd iteration, checked by hypothesis on NumPy and the standard-only fallback."""
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from xpcluster import vq
from backends import namespace, to_numpy

PROPERTY_BACKENDS = ["numpy", "array_api_strict"]


@st.composite
def data_and_book(draw):
    n = draw(st.integers(2, 40))
    d = draw(st.integers(1, 4))
    k = draw(st.integers(1, min(n, 6)))
    # Integer-valued coordinates make distance ties exact, so ties are tested too.
    values = st.integers(-20, 20).map(float) | st.floats(-1e3, 1e3, allow_nan=False, width=64)
    data = draw(arrays(np.float64, (n, d), elements=values))
    rows = draw(st.lists(st.integers(0, n - 1), min_size=k, max_size=k, unique=True))
    return data, data[rows]


def _squared_distances(data, book):
    return ((data[:, None, :] - book[None, :, :]) ** 2).sum(axis=2)


def _xp(name):
    pytest.importorskip(name)
    return namespace(name)


common = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("backend_name", PROPERTY_BACKENDS)
@common
@given(case=data_and_book())
def test_labels_are_the_nearest_centroid(backend_name, case):
    xp = _xp(backend_name)
    data, book = case
    codes, dists = vq.vq(xp.asarray(data), xp.asarray(book))
    codes, dists = to_numpy(codes), to_numpy(dists)
    sq = _squared_distances(data, book)
    best = sq.min(axis=1)
    chosen = sq[np.arange(len(data)), codes]
    scale = 1e-9 * (1 + (data**2).sum(axis=1) + (book**2).sum(axis=1).max())
    assert (chosen <= best + scale).all()
    np.testing.assert_allclose(dists, np.sqrt(chosen), rtol=1e-9, atol=1e-9)
    # Exact ties go to the lowest index, as SciPy's C loop does.
    exact = np.isclose(sq, best[:, None], rtol=0, atol=0)
    integral = (data == np.round(data)).all(axis=1) & (book == np.round(book)).all()
    assert (codes[integral] == exact[integral].argmax(axis=1)).all()


@pytest.mark.parametrize("backend_name", PROPERTY_BACKENDS)
@common
@given(case=data_and_book())
def test_centroids_are_the_means_of_their_members(backend_name, case):
    xp = _xp(backend_name)
    data, book = case
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # empty clusters keep their centroid: checked below
        centroids, labels = vq.kmeans2(xp.asarray(data), xp.asarray(book), iter=1, minit="matrix")
    centroids, labels = to_numpy(centroids), to_numpy(labels)
    for j in range(len(book)):
        members = data[labels == j]
        expected = members.mean(axis=0) if len(members) else book[j]
        np.testing.assert_allclose(centroids[j], expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("backend_name", PROPERTY_BACKENDS)
@common
@given(case=data_and_book())
def test_objective_never_increases(backend_name, case):
    xp = _xp(backend_name)
    data, book = case
    x = xp.asarray(data)
    objectives = []
    for n_iter in range(1, 6):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # empty clusters are allowed here
            centroids, _ = vq.kmeans2(x, xp.asarray(book), iter=n_iter, minit="matrix")
        objectives.append(_squared_distances(data, to_numpy(centroids)).min(axis=1).sum())
    initial = _squared_distances(data, book).min(axis=1).sum()
    sequence = np.array([initial, *objectives])
    slack = 1e-9 * (1 + np.abs(sequence).max())
    assert (np.diff(sequence) <= slack).all(), sequence

