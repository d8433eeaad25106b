"""Assignment is chunked: no n-by-k block is ever allocated (traced with tracemalloc on NumPy)."""
import tracemalloc

import numpy as np
import pytest

import xpcluster
from xpcluster import vq


@pytest.mark.parametrize("call", ["kmeans2", "vq", "kmeans"])
def test_peak_memory_is_bounded_by_the_budget(call):
    n, d, k = 100_000, 4, 1000  # a full float64 distance matrix would be 800 MB
    rng = np.random.default_rng(0)
    data = rng.normal(size=(n, d))
    book = data[rng.choice(n, size=k, replace=False)]
    budget = 16 * 2**20
    with xpcluster.memory_budget(budget):
        tracemalloc.start()
        try:
            if call == "kmeans2":
                vq.kmeans2(data, book, iter=1, minit="matrix", missing="raise")
            elif call == "vq":
                vq.vq(data, book)
            else:
                vq.kmeans(data, book, thresh=1e9)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    outputs = n * (4 + 8)  # labels (int32) and distances (float64), joined from their chunks
    # The budget bounds the per-chunk temporaries; a full score matrix would be 800 MB.
    assert peak < 1.25 * budget + 2 * outputs, f"peak {peak / 2**20:.1f} MiB"


def test_memory_budget_rejects_nonsense():
    with pytest.raises(ValueError, match="positive number of bytes"):
        with xpcluster.memory_budget(0):
            pass
