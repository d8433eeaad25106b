"""Row chunking by a memory budget, so no step ever holds an n-by-k block."""
from __future__ import annotations

import contextlib
from contextvars import ContextVar
from typing import Iterator

#: Bytes of temporary memory one chunk of an assignment pass may use by default.
DEFAULT_MEMORY_BUDGET_BYTES = 64 * 2**20

_budget: ContextVar[int] = ContextVar("xpcluster_memory_budget", default=DEFAULT_MEMORY_BUDGET_BYTES)


def memory_budget_bytes() -> int:
    """The budget now in force (see :func:`memory_budget`)."""
    return _budget.get()


@contextlib.contextmanager
def memory_budget(nbytes: int) -> Iterator[None]:
    """Bound the temporary memory of the chunked passes inside a block.

    Peak extra memory of an assignment pass is about ``nbytes`` plus O(k*d), whatever the
    number of observations.  Smaller budgets mean more, smaller chunks.
    """
    nbytes = int(nbytes)
    if nbytes < 1:
        raise ValueError(f"memory budget must be a positive number of bytes, got {nbytes}")
    token = _budget.set(nbytes)
    try:
        yield
    finally:
        _budget.reset(token)
