"""The assignment pass: prepared rows give the per-block path's answer; the budget decides."""
import numpy as np
import pytest

import array_api_compat

import xpcluster
from xpcluster._backends import capabilities_for
from xpcluster._backends import numpy as numpy_caps
from xpcluster._core.assign import assign_labels, prepare_rows
from backends import to_numpy


def _problem(dtype, offset):
    rng = np.random.default_rng(3)
    x = (rng.normal(size=(700, 5)) + offset).astype(dtype)
    centroids = x[rng.choice(700, size=9, replace=False)] + 0.01
    return x, centroids


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("offset", [0.0, 1e4])
def test_prepared_rows_give_the_same_assignment(xp, dtype, offset):
    x_np, c_np = _problem(dtype, offset)
    x, c = xp.asarray(x_np), xp.asarray(c_np)
    nxp = array_api_compat.array_namespace(x)
    caps = capabilities_for(nxp)
    prepared = prepare_rows(x, c[1:2, :], xp=nxp)
    if prepared is None:  # Dask with unknown row counts keeps the per-block path
        assert to_numpy(x).shape[0] == 700
        return
    with xpcluster.memory_budget(2**14):  # small blocks, so several are combined
        plain = assign_labels(x, c, xp=nxp, caps=caps, with_sums=True, with_distances=True)
        fast = assign_labels(x, c, xp=nxp, caps=caps, with_sums=True, with_distances=True, prepared=prepared)
    np.testing.assert_array_equal(to_numpy(fast.labels), to_numpy(plain.labels))
    rtol = 2e-6 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(to_numpy(fast.distances), to_numpy(plain.distances), rtol=rtol, atol=rtol * (1 + offset))
    np.testing.assert_array_equal(to_numpy(fast.counts), to_numpy(plain.counts))
    np.testing.assert_allclose(to_numpy(fast.sums), to_numpy(plain.sums), rtol=rtol * 10)
    # and both are the nearest centroids by a direct computation
    direct = ((x_np[:, None, :].astype(np.float64) - c_np[None, :, :]) ** 2).sum(axis=2)
    expected = direct.argmin(axis=1)
    ambiguous = np.sort(direct, axis=1)[:, 1] - direct.min(axis=1) < 1e-3 * (1 + offset)
    np.testing.assert_array_equal(to_numpy(fast.labels)[~ambiguous], expected[~ambiguous])


def test_prepare_rows_respects_the_memory_budget():
    """``[x - origin, 1]`` while it and ``x - origin`` fit the budget together; then, on
    NumPy (whose nearest-index kernel adds the half norms itself), ``x - origin`` alone
    within a budget of its own size; below that, nothing."""
    x = np.arange(10_000, dtype=np.float64).reshape(1000, 10)
    xp = array_api_compat.array_namespace(x)
    with xpcluster.memory_budget(1000 * (2 * 10 + 1) * 8):
        prepared = prepare_rows(x, x[:1], xp=xp)
    assert prepared is not None and prepared.ones and prepared.rows.shape == (1000, 11)
    np.testing.assert_array_equal(prepared.rows, np.concatenate([x - x[:1], np.ones((1000, 1))], axis=1))
    needed = 1000 * 10 * 8
    with xpcluster.memory_budget(needed):
        prepared = prepare_rows(x, x[:1], xp=xp)
    assert prepared is not None and not prepared.ones
    np.testing.assert_array_equal(prepared.rows, x - x[:1])
    with xpcluster.memory_budget(needed - 1):
        assert prepare_rows(x, x[:1], xp=xp) is None


def test_both_prepared_layouts_give_the_same_assignment():
    rng = np.random.default_rng(5)
    x = rng.integers(-4, 5, size=(1000, 10)).astype(np.float64) + 1e3  # ties, far from the origin
    c = x[:7].copy()
    xp = array_api_compat.array_namespace(x)
    caps = capabilities_for(xp)
    results = []
    for budget in (1000 * 21 * 8, 1000 * 10 * 8):
        with xpcluster.memory_budget(budget):
            prepared = prepare_rows(x, c[:1], xp=xp)
            results.append(assign_labels(x, c, xp=xp, caps=caps, with_sums=True, with_distances=True,
                                         prepared=prepared))
    assert results[0] is not None and results[1] is not None
    for a, b in zip(results[0][:4], results[1][:4]):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_prepare_rows_with_a_column_of_ones_respects_the_memory_budget():
    """Backends without an offset-aware nearest index get ``[x - origin, 1]`` or nothing."""
    strict = pytest.importorskip("array_api_strict", reason="array-api-strict is not installed")
    x = strict.asarray(np.arange(10_000, dtype=np.float64).reshape(1000, 10))
    needed = 1000 * (2 * 10 + 1) * 8
    with xpcluster.memory_budget(needed):
        prepared = prepare_rows(x, x[:1, :], xp=strict)
    assert prepared is not None and prepared.ones and prepared.rows.shape == (1000, 11)
    np.testing.assert_array_equal(np.asarray(prepared.rows[:, -1]), 1.0)
    np.testing.assert_array_equal(np.asarray(prepared.rows[:, :10]), np.asarray(x - x[:1, :]))
    with xpcluster.memory_budget(needed - 1):
        assert prepare_rows(x, x[:1, :], xp=strict) is None


def test_numpy_segment_sums_without_scipy(monkeypatch):
    """Without SciPy the NumPy capability falls back to bincount, with the same answer."""
    rng = np.random.default_rng(0)
    values = rng.normal(size=(300, 4)).astype(np.float32)
    ids = rng.integers(0, 6, size=300).astype(np.int32)
    with_scipy = numpy_caps.segment_sums(values, ids, 8)
    monkeypatch.setattr(numpy_caps, "_sparse", None)
    without = numpy_caps.segment_sums(values, ids, 8)
    assert without[0].dtype == np.float32
    np.testing.assert_allclose(without[0], with_scipy[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(without[1], with_scipy[1])


def test_numpy_threads_do_not_change_the_answer(monkeypatch):
    """Row blocks shared among threads: same blocks, totals added in block order, so the
    result is bit-for-bit the one-thread result."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(20_000, 6)).astype(np.float32)
    book = x[:40].copy()
    results = {}
    for threads in ("1", "3"):
        monkeypatch.setenv("XPCLUSTER_NUM_THREADS", threads)
        assert numpy_caps.thread_count() == int(threads)
        with xpcluster.array_api_dispatch():
            results[threads] = xpcluster.vq.kmeans2(x, book, iter=5, minit="matrix")
    np.testing.assert_array_equal(results["1"][0], results["3"][0])
    np.testing.assert_array_equal(results["1"][1], results["3"][1])


def test_numpy_parallel_blocks_match_the_serial_map():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(1000, 3))

    def fn(block, scale):
        return (block[:, 0] * scale,), (block.sum(axis=0), np.asarray(block.shape[0]))

    serial = numpy_caps.generic.map_row_chunks(x, 64, fn, 2.0)
    parallel = numpy_caps.parallel_map_row_chunks(x, 64, fn, 2.0)
    np.testing.assert_array_equal(parallel[0][0], serial[0][0])
    np.testing.assert_array_equal(parallel[1][0], serial[1][0])
    assert int(parallel[1][1]) == 1000


def test_numpy_thread_count_setting(monkeypatch):
    monkeypatch.setenv("XPCLUSTER_NUM_THREADS", "0")
    assert numpy_caps.thread_count() == 1
    monkeypatch.setenv("XPCLUSTER_NUM_THREADS", "two")
    with pytest.raises(ValueError, match="XPCLUSTER_NUM_THREADS must be a whole number"):
        numpy_caps.thread_count()
    monkeypatch.delenv("XPCLUSTER_NUM_THREADS")
    assert numpy_caps.thread_count() >= 1


def test_numpy_segment_sums_refuse_ids_out_of_range():
    values = np.ones((4, 2), dtype=np.float32)
    with pytest.raises(ValueError, match=r"segment ids must lie in \[0, 3\)"):
        numpy_caps.segment_sums(values, np.array([0, 1, 3, 2], dtype=np.int32), 3)
    with pytest.raises(ValueError, match="segment ids"):
        numpy_caps.segment_sums(values, np.array([0, -1, 1, 2], dtype=np.int32), 3)
