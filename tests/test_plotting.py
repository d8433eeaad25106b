"""xpcluster.plotting: PNGs from arrays of every backend, projections, bad input, missing matplotlib."""
from __future__ import annotations

import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib", reason="matplotlib is not installed (the 'plot' extra)")

import matplotlib  # noqa: E402

matplotlib.use("Agg")  # no display needed; plotting itself never touches pyplot

from xpcluster import plotting  # noqa: E402
from xpcluster.plotting import (  # noqa: E402
    plot_clusters,
    plot_elbow,
    plot_gap,
    plot_silhouette,
    plot_silhouette_scores,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png(path):
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC), f"{path} is not a PNG"
    from PIL import Image

    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        width, height = image.size
        assert width > 100 and height > 100
        # Something was drawn: far more than a blank background's colours.
        assert len(image.convert("RGB").getcolors(maxcolors=1 << 24)) > 10


def blobs(n_per=30, d=2, k=3, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=8.0, size=(k, d))
    X = np.concatenate([c + rng.normal(size=(n_per, d)) for c in centers])
    labels = np.repeat(np.arange(k), n_per)
    return X, labels, centers


# ----------------------------------------------------------------------- every backend


def test_scatter_and_silhouette_accept_every_backend(xp, backend, tmp_path):
    X, labels, centers = blobs(d=3)
    for name, call in {
        "clusters": lambda p: plot_clusters(xp.asarray(X), xp.asarray(labels), xp.asarray(centers), p),
        "silhouette": lambda p: plot_silhouette(xp.asarray(X), xp.asarray(labels), p),
    }.items():
        path = tmp_path / f"{name}.png"
        assert call(path) == path
        assert_png(path)


def test_curves_accept_backend_columns(xp, backend, tmp_path):
    result = {
        "k": [1, 2, 3, 4, 5],
        "gap": xp.asarray([0.1, 0.4, 0.8, 0.79, 0.78]),
        "sk": xp.asarray([0.02, 0.03, 0.02, 0.03, 0.02]),
        "chosen_k": 3,
    }
    assert_png(plot_gap(result, tmp_path / "gap.png"))


def test_curves_from_mappings(tmp_path):
    result = {"k": np.arange(1, 6), "inertia": [100.0, 40.0, 12.0, 10.0, 9.0],
              "silhouette": [0.0, 0.5, 0.7, 0.55, 0.5], "chosen_k": np.int64(3)}
    for function in (plot_elbow, plot_silhouette_scores):
        assert_png(function(result, tmp_path / f"{function.__name__}.png"))


# ----------------------------------------------------------------------- drawing details


def test_projection_is_pca(tmp_path, monkeypatch):
    """d > 2: the points drawn are the scores on the first two principal axes."""
    sklearn_decomposition = pytest.importorskip("sklearn.decomposition")
    X, labels, centers = blobs(d=5, seed=3)
    drawn = []
    import matplotlib.axes

    original = matplotlib.axes.Axes.scatter

    def spy(self, x, y, *args, **kwargs):
        drawn.append((np.asarray(x), np.asarray(y), kwargs.get("label")))
        return original(self, x, y, *args, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "scatter", spy)
    plot_clusters(X, labels, centers, tmp_path / "pca.png")
    pca = sklearn_decomposition.PCA(n_components=2).fit(X)
    expected_points, expected_centers = pca.transform(X), pca.transform(centers)
    points = np.concatenate([np.column_stack(d[:2]) for d in drawn if d[2] != "centres"])
    marks = np.column_stack(next(d for d in drawn if d[2] == "centres")[:2])
    order = np.argsort(labels, kind="stable")  # drawn cluster by cluster
    signs = np.sign(np.sum(points * expected_points[order], axis=0))  # PCA axes have a free sign
    np.testing.assert_allclose(points * signs, expected_points[order], atol=1e-9)
    np.testing.assert_allclose(marks * signs, expected_centers, atol=1e-9)


def test_silhouette_diagram_draws_sklearn_values(tmp_path, monkeypatch):
    metrics = pytest.importorskip("sklearn.metrics")
    X, labels, _ = blobs(n_per=12, d=2, seed=5)
    labels = labels.copy()
    labels[:3] = 2  # some misassigned samples: negative silhouettes
    bands = []
    import matplotlib.axes

    original = matplotlib.axes.Axes.fill_betweenx

    def spy(self, y, x1, x2=0, **kwargs):
        bands.append(np.asarray(x2 if np.isscalar(x1) else x1))
        return original(self, y, x1, x2, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "fill_betweenx", spy)
    plot_silhouette(X, labels, tmp_path / "s.png")
    expected = metrics.silhouette_samples(X, labels)
    for cluster, band in zip(np.unique(labels), bands):
        np.testing.assert_allclose(band, np.sort(expected[labels == cluster]), atol=1e-12)
    assert len(bands) == np.unique(labels).size


def test_one_feature_and_no_centres(tmp_path):
    X = np.array([[0.0], [0.5], [9.0], [9.5]])
    assert_png(plot_clusters(X, [0, 0, 1, 1], None, tmp_path / "line.png"))
    assert_png(plot_clusters(X, np.array([0.0, 0.0, 1.0, 1.0]), X[[0, 2]], tmp_path / "float_labels.png"))


def test_other_suffix_writes_that_format(tmp_path):
    X, labels, centers = blobs()
    path = plot_clusters(X, labels, centers, tmp_path / "c.svg")
    assert path.read_text().lstrip().startswith("<?xml")


def test_real_choose_k_results(tmp_path):
    choose_k = pytest.importorskip("xpcluster.choose_k", reason="xpcluster.choose_k is not there yet")
    X, _, _ = blobs(n_per=20, d=2, seed=1)
    for method, function in (("elbow", plot_elbow), ("silhouette", plot_silhouette_scores), ("gap", plot_gap)):
        result = choose_k.choose_k(X, range(2, 6), method=method, random_state=0)
        assert_png(function(result, tmp_path / f"{method}.png"))


# ----------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda p: plot_clusters(np.zeros(5), [0] * 5, None, p), ValueError, "2-D"),
        (lambda p: plot_clusters(np.zeros((5, 2)), [0] * 4, None, p), ValueError, "one entry per row"),
        (lambda p: plot_clusters(np.zeros((5, 2)), [0.5] * 5, None, p), ValueError, "integers"),
        (lambda p: plot_clusters(np.zeros((4, 2)), [0, 0, 1, 1], np.zeros((2, 3)), p), ValueError, "shape"),
        (lambda p: plot_clusters(np.zeros((4, 2)), [0, 0, 1, 1], np.full((2, 2), np.nan), p), ValueError, "NaN"),
        (lambda p: plot_clusters(np.array([[np.inf, 0.0]]), [0], None, p), ValueError, "NaN or infinite"),
        (lambda p: plot_clusters(np.array([["a", "b"]]), [0], None, p), ValueError, "real numbers"),
        (lambda p: plot_clusters(np.zeros((0, 2)), [], None, p), ValueError, "empty"),
        (lambda p: plot_clusters(np.zeros((2, 2)), [0, 1], None, 42), TypeError, "path"),
        (lambda p: plot_clusters(np.zeros((2, 2)), [0, 1], None, p.parent), ValueError, "directory"),
        (lambda p: plot_silhouette(np.zeros((4, 2)), [0, 0, 0, 0], p), ValueError, "distinct labels"),
        (lambda p: plot_silhouette(np.arange(8.0).reshape(4, 2), [0, 1, 2, 3], p), ValueError, "distinct labels"),
        (lambda p: plot_elbow({"k": [1, 2], "silhouette": [0.1, 0.2]}, p), ValueError, "inertia"),
        (lambda p: plot_elbow({"k": [1, 2], "inertia": [3.0]}, p), ValueError, "different lengths"),
        (lambda p: plot_elbow({"inertia": [3.0, 1.0]}, p), ValueError, "no K column"),
        (lambda p: plot_elbow(object(), p), TypeError, "table"),
        (lambda p: plot_gap({"k": [1, 2], "gap": [0.1, 0.2]}, p), ValueError, "standard error"),
    ],
)
def test_bad_input_is_refused(tmp_path, call, error, match):
    path = tmp_path / "out.png"
    with pytest.raises(error, match=match):
        call(path)
    assert not path.exists()


def test_docstring_examples():
    import doctest

    result = doctest.testmod(plotting, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 5 and result.failed == 0


def test_missing_matplotlib_names_the_extra(tmp_path, monkeypatch):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now fails
    with pytest.raises(ImportError, match=r"pip install 'xpcluster\[plot\]'"):
        plotting.plot_clusters(np.zeros((2, 2)), [0, 1], None, tmp_path / "x.png")
    with pytest.raises(ImportError, match=r"xpcluster\[plot\]"):
        plotting.plot_elbow({"k": [1, 2], "inertia": [2.0, 1.0]}, tmp_path / "x.png")
