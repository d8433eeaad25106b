"""scikit-learn's own tests for KMeans, MiniBatchKMeans, BisectingKMeans and the unsupervised
clustering metrics, pointed at xpcluster.

The three test files are read from the installed scikit-learn (the `test` extra pins 1.9) and
run unchanged except for their import lines: the names below are swapped for xpcluster's.
Everything else they import (datasets, ``pairwise_distances``, ``v_measure_score``, the
testing helpers) stays scikit-learn's.  An autouse fixture checks, for every test, that each
swapped name the test refers to is xpcluster's object (a test that reached scikit-learn's
own estimator would prove nothing).

scikit-learn's conftest supplies ``global_random_seed`` and ``global_dtype``; they are
defined here the same way, with the float32 variants always on (scikit-learn runs them with
SKLEARN_RUN_FLOAT32_TESTS=1) and the seed read from SKLEARN_TESTS_GLOBAL_RANDOM_SEED.

Left out, and only these: the tests in PRIVATE_INTERNALS, each of which calls a
scikit-learn private helper (a Cython function or a private method / attribute); the reason
is next to each name.  Their scipy.sparse parametrizations run like the dense ones.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

sklearn = pytest.importorskip("sklearn", reason="scikit-learn is not installed")

import numpy as np  # noqa: E402

import xpcluster  # noqa: E402
import xpcluster.metrics  # noqa: E402

os.environ.setdefault("SKLEARN_RUN_FLOAT32_TESTS", "1")

_ROOT = Path(sklearn.__file__).parent
_SUITES = {
    "test_k_means": (
        _ROOT / "cluster" / "tests" / "test_k_means.py",
        "from sklearn.cluster import KMeans, MiniBatchKMeans, k_means, kmeans_plusplus\n",
        "from xpcluster import KMeans, MiniBatchKMeans, k_means, kmeans_plusplus\n",
    ),
    "test_bisect_k_means": (
        _ROOT / "cluster" / "tests" / "test_bisect_k_means.py",
        "from sklearn.cluster import BisectingKMeans\n",
        "from xpcluster import BisectingKMeans\n",
    ),
    "test_unsupervised": (
        _ROOT / "metrics" / "cluster" / "tests" / "test_unsupervised.py",
        "from sklearn.metrics.cluster import (\n",
        "from xpcluster.metrics import (\n",
    ),
}

SWAPPED = {
    "KMeans": xpcluster.KMeans,
    "MiniBatchKMeans": xpcluster.MiniBatchKMeans,
    "BisectingKMeans": xpcluster.BisectingKMeans,
    "k_means": xpcluster.k_means,
    "kmeans_plusplus": xpcluster.kmeans_plusplus,
    "silhouette_score": xpcluster.metrics.silhouette_score,
    "silhouette_samples": xpcluster.metrics.silhouette_samples,
    "calinski_harabasz_score": xpcluster.metrics.calinski_harabasz_score,
    "davies_bouldin_score": xpcluster.metrics.davies_bouldin_score,
}

PRIVATE_INTERNALS = {
    "test_relocate_empty_clusters": "calls the Cython _relocate_empty_clusters_dense/_sparse",
    "test_minibatch_update_consistency": "calls the private _mini_batch_step and _labels_inertia",
    "test_kmeans_init_auto_with_initial_centroids": "reads the private attribute _n_init",
    "test_minibatch_reassign": "calls the private _mini_batch_step and _labels_inertia",
    "test_minibatch_kmeans_init_size": "reads the private attribute _init_size",
    "test_euclidean_distance": "calls the Cython _euclidean_dense_dense/_sparse_dense wrappers",
    "test_inertia": "calls the Cython _inertia_dense/_inertia_sparse",
    "test_n_init_auto": "reads the private attribute _n_init",
    "test_is_same_clustering": "calls the Cython _is_same_clustering",
    "test_sample_weight_init": "calls the private method _init_centroids",
    "test_sample_weight_zero": "calls the private method _init_centroids",
    "test_silhouette_reduce": "calls the private _silhouette_reduce",
}


def _load(name: str):
    path, old, new = _SUITES[name]
    source = path.read_text()
    if source.count(old) != 1:
        raise RuntimeError(f"{path} no longer imports the swapped names the way this harness expects")
    return compile(source.replace(old, new), f"{path} (pointed at xpcluster)", "exec")


for _name in _SUITES:
    _namespace: dict = {"__name__": f"sklearn_suite.{_name}"}
    exec(_load(_name), _namespace)
    for _key, _value in _namespace.items():
        if _key.startswith("test_") and callable(_value) and _key not in PRIVATE_INTERNALS:
            if _key in globals():
                raise RuntimeError(f"two suites define {_key}")
            globals()[_key] = _value
del _namespace


def _seeds():
    value = os.environ.get("SKLEARN_TESTS_GLOBAL_RANDOM_SEED")
    if value is None:
        return [42]
    if value == "all":
        return list(range(100))
    start, _, stop = value.partition("-")
    return list(range(int(start), int(stop or start) + 1))


@pytest.fixture(params=_seeds())
def global_random_seed(request):
    return request.param


@pytest.fixture(params=[np.float32, np.float64])
def global_dtype(request):
    return request.param


@pytest.fixture(autouse=True)
def _swap_check(request):
    """Every swapped name the test uses is xpcluster's."""
    params = getattr(getattr(request.node, "callspec", None), "params", {})
    func = request.function
    used = set(func.__code__.co_names) & set(SWAPPED)
    used |= {name for value in params.values() for name, ours in SWAPPED.items() if value is ours}
    for name in used:
        assert func.__globals__.get(name, SWAPPED[name]) is SWAPPED[name], f"{name} is not xpcluster's"
    assert used, f"{func.__name__} exercises none of xpcluster's swapped names"
    yield
