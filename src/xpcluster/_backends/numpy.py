"""NumPy capabilities: segment sums through ``np.bincount`` (float64 accumulation)."""
from __future__ import annotations

import numpy as np

from . import _GENERIC


def segment_sums(values: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    m, d = values.shape
    counts = np.bincount(ids, minlength=k)
    # One bincount over (id, column) pairs sums every column in a single C pass.
    flat_ids = (ids.astype(np.intp)[:, None] * d + np.arange(d, dtype=np.intp)).reshape(-1)
    sums = np.bincount(flat_ids, weights=values.reshape(-1), minlength=k * d)
    return sums.reshape(k, d), counts


CAPABILITIES = _GENERIC.replace(
    name="numpy",
    segment_sums=segment_sums,
    # ~1 MiB score blocks: multi-MB temporaries per block go through mmap/munmap (or get
    # trimmed back to the OS) on every block, and the page faults doubled W1's time.
    block_bytes=2**20,
)
