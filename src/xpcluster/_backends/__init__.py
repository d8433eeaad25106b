"""The capability layer: what the Array API standard lacks, per backend.

This package is the only place in xpcluster that names an array library.  The core asks
:func:`capabilities_for` once per call for a :class:`Capabilities` record and uses nothing
else that is backend-specific.  A library without a module here gets the standard-only
defaults of :mod:`xpcluster._backends.generic` (eager, Python loops).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

import array_api_compat

from . import generic

__all__ = ["Capabilities", "capabilities_for"]


@dataclass(frozen=True)
class Capabilities:
    """Backend operations the core needs beyond the standard.

    Attributes
    ----------
    name : str
        Short backend name, for messages and benchmarks.
    segment_sums : callable
        ``segment_sums(values, ids, k) -> (sums, counts)``: for ``values`` of shape ``(m, d)``
        and integer ``ids`` in ``[0, k)`` of shape ``(m,)``, the per-id row sums ``(k, d)``
        (in ``values``' dtype or wider) and the per-id counts ``(k,)`` (any real dtype).
    map_row_chunks : callable
        ``map_row_chunks(x, rows, fn, *consts) -> (per_row, totals)``: apply ``fn`` to
        consecutive row blocks of ``x`` of at most ``rows`` rows; ``fn(block, *consts)``
        works in the block's own namespace and returns two tuples, arrays with one entry
        per row (joined in order) and per-block partial results (summed).
    fori_loop : callable
        ``fori_loop(lower, upper, body, state)``: ``state = body(i, state)`` for each ``i``.
    while_loop : callable
        ``while_loop(cond, body, state)``: ``state = body(state)`` while ``cond(state)``.
    compiled : callable
        ``compiled(fn, static_argnames) -> fn'``: ``fn`` compiled for the backend when it
        has a compiler (keyword arguments in ``static_argnames`` are compile-time
        constants), else ``fn`` itself.
    checked : callable
        ``checked(outputs, flag, action) -> outputs``: see that ``action()`` is called if the
        0-d boolean ``flag`` is true -- now for eager arrays, when the program runs for traced
        ones, when the returned outputs are computed for lazy ones.
    defers_checks : bool
        Whether value checks wait for the results to be computed (lazy backends).
    read_bool : callable
        ``read_bool(flag) -> bool``: the value of a 0-d boolean, where a value is needed now.
    from_host : callable
        ``from_host(host, like)``: a NumPy array (a user's small codebook, init or labels)
        as an array of ``like``'s namespace, on its device, keeping its dtype; an explicit
        placement (no implicit transfer).
    to_device : callable
        ``to_device(host, like, dtype)``: a NumPy array as an array of ``like``'s namespace
        and device, in ``dtype`` (an explicit transfer).
    is_traced : callable
        ``is_traced(a)``: whether ``a`` is a placeholder inside a trace (no value yet).
    take_rows : callable
        ``take_rows(x, index)``: the rows of ``x`` at the integer array ``index``, dense
        (also of sparse rows: seeds, replacement centres).
    subset_rows : callable
        ``subset_rows(x, index)``: those rows, of ``x``'s kind (sparse rows stay sparse:
        mini-batches, subsamples).
    cholesky : callable
        ``cholesky(a)``: the lower Cholesky factor of a small symmetric matrix.
    thin_svd : callable
        ``thin_svd(a) -> (u, s, vh)``: the thin SVD of a small matrix.
    persist : callable
        ``persist(a)``: ``a`` kept materialised for repeated passes (lazy backends).
    max_magnitude : callable
        ``max_magnitude(a)``: 0-d, the largest absolute value of ``a``'s entries, 0 when it
        has none (a Dask block a boolean mask emptied), NaN when one is NaN.
    persist_together : callable
        ``persist_together(arrays) -> arrays``: the tuple ``arrays`` materialised in one go
        (lazy backends: results of one pass that several later steps read, computed once
        rather than once per step); eager backends return it as it is.
    known_rows : callable
        ``known_rows(a)``: ``a`` with a known number of rows (Dask arrays of unknown chunk
        sizes learn them, a small compute); the input object is left as it was.
    has_numpy_blocks : callable
        ``has_numpy_blocks(a)``: whether host NumPy code (SciPy's ``cdist``, a user's
        callable) can run on ``a``'s blocks: NumPy arrays, Dask arrays of NumPy blocks.
    all_finite : callable
        ``all_finite(a) -> 0-d bool``: whether every entry of ``a`` is finite (true for no
        entries), without the host read.
    cond : callable
        ``cond(pred, true_fn, false_fn, *operands)``: one branch's result (``lax.cond`` on
        JAX, a host read of ``pred`` elsewhere).  Both branches return the same structure.
    nearest_index : callable
        ``nearest_index(scores) -> int32 (m,)``: per row of ``scores`` (m, k), the index of
        the smallest entry, the lowest index on ties.
    nearest_of_product : callable
        ``nearest_of_product(a, b, offset=None) -> int32 (m,)``: ``nearest_index(a @ b +
        offset)`` (``offset`` of shape (k,)), for backends that can find it faster than by
        forming the (m, k) product row-major; None: the backend's ``nearest_index`` of the
        product.
    block_bytes : int or None
        Preferred size of one (rows, k) score block (e.g. to stay in cache), below the
        memory budget; None: as large as the budget allows.
    concurrent_blocks : callable
        ``concurrent_blocks() -> int``: how many row blocks ``parallel_map_row_chunks`` may
        have in flight at once (its threads).
    parallel_map_row_chunks : callable or None
        ``map_row_chunks``' contract, with up to ``concurrent_blocks()`` blocks run at once;
        for callers that size their blocks for that many in flight (``rows_per_chunk(...,
        concurrency=caps.concurrent_blocks())``).  None: ``map_row_chunks``.
    bincount : callable
        ``bincount(ids, k) -> counts``: for integer ``ids`` in ``[0, k)`` of shape ``(m,)``,
        how many times each of ``0 .. k-1`` occurs, shape ``(k,)`` (any integer dtype); for
        ``k`` far too large for ``segment_sums``' one-hot default (k-medians' per-block
        label counts).  Standard-only default: a sort and a ``searchsorted``.
    call_on_views : callable or None
        ``call_on_views(fn, *arrays) -> outputs``: ``fn`` (written for any namespace, working
        in its arguments' own) called on zero-copy views of ``arrays`` in a library whose
        kernels are faster for them, its array outputs (a tuple or one array) turned back
        into the backend's arrays (PyTorch CPU tensors: NumPy); for whole-array steps
        outside the row passes (k-medians' median update).  None: ``fn(*arrays)``.
    nearest_with_others : callable or None
        ``nearest_with_others(a, b, offset, groups) -> (index, best, others)``: the
        ``nearest_of_product(a, b, offset)`` labels, from the same product computed the same
        way (so the same labels, near-ties included), with each row's smallest score (m,)
        and, over each of ``groups`` contiguous ranges of ``ceil(k / groups)`` columns, the
        smallest score other than the row's own (m, groups).  None: the core derives them
        from the product it forms for ``nearest_index``.
    put_rows : callable
        ``put_rows(a, index, values) -> a'``: ``a`` with its rows (first axis) at the sorted
        indices ``index`` replaced by the rows of ``values``; indices past the end (the
        padding of ``compact_index``) are dropped.  Eager backends may update ``a`` in
        place (callers pass arrays they own).
    compaction : callable
        ``compaction(x) -> "exact" | "static" | None``: how a pass over the row blocks of
        ``x`` may select the rows a data-dependent mask picks (the bounded
        ``algorithm='elkan'`` loop).  "exact": eagerly, ``compact_index`` gives exactly
        those rows (eager arrays, and Dask, whose blocks are eager); "static": shapes must
        be known before the values (a trace), ``compact_index`` gives a fixed number of
        them; None: not at all (a ``torch.compile`` trace, where a data-dependent shape
        breaks the graph).
    compact_index : callable
        ``compact_index(mask, capacity) -> index``: the sorted positions of the true
        entries of the 1-D ``mask``; with ``compaction`` "exact" all of them (``capacity``
        unused), with "static" exactly ``capacity`` entries, the first ``capacity`` true
        positions then padding past the end (``mask.shape[0]``).
    product_epsilon : callable
        ``product_epsilon(x) -> float``: the relative precision of matrix products of ``x``
        when coarser than its dtype's (TF32 or bfloat16 passes that a GPU library may use
        for float32 products), else 0.  Bounds that must hold for the products' rounding
        (the exact ``algorithm='elkan'``) take the larger of the two.
    specialise : callable or None
        ``specialise(x) -> Capabilities``: the record for passes over the dense array ``x``
        on its device, when that differs from the namespace's (PyTorch CPU tensors run
        their row blocks through NumPy's kernels on the same memory); see
        :meth:`for_data`.  None: this record for every device.
    """

    name: str
    segment_sums: Callable[[Any, Any, int], tuple[Any, Any]] = generic.segment_sums
    map_row_chunks: Callable[..., tuple[tuple[Any, ...], tuple[Any, ...]]] = generic.map_row_chunks
    fori_loop: Callable[..., Any] = generic.fori_loop
    while_loop: Callable[..., Any] = generic.while_loop
    cond: Callable[..., Any] = generic.cond
    compiled: Callable[..., Callable[..., Any]] = generic.compiled
    checked: Callable[..., tuple[Any, ...]] = generic.checked
    read_bool: Callable[[Any], bool] = generic.read_bool
    defers_checks: bool = False
    to_device: Callable[[Any, Any, Any], Any] = generic.to_device
    from_host: Callable[[Any, Any], Any] = generic.from_host
    is_traced: Callable[[Any], bool] = generic.is_traced
    take_rows: Callable[[Any, Any], Any] = generic.take_rows
    subset_rows: Callable[[Any, Any], Any] = generic.subset_rows
    cholesky: Callable[[Any], Any] = generic.cholesky
    thin_svd: Callable[[Any], tuple[Any, Any, Any]] = generic.thin_svd
    persist: Callable[[Any], Any] = generic.persist
    persist_together: Callable[[tuple[Any, ...]], tuple[Any, ...]] = generic.persist_together
    known_rows: Callable[[Any], Any] = generic.known_rows
    has_numpy_blocks: Callable[[Any], bool] = generic.has_numpy_blocks
    max_magnitude: Callable[[Any], Any] = generic.max_magnitude
    all_finite: Callable[[Any], Any] = generic.all_finite
    nearest_index: Callable[[Any], Any] = generic.nearest_index
    nearest_of_product: Callable[[Any, Any], Any] | None = None
    block_bytes: int | None = None
    concurrent_blocks: Callable[[], int] = generic.concurrent_blocks
    parallel_map_row_chunks: Callable[..., tuple[tuple[Any, ...], tuple[Any, ...]]] | None = None
    bincount: Callable[[Any, int], Any] = generic.bincount
    call_on_views: Callable[..., Any] | None = None
    nearest_with_others: Callable[..., tuple[Any, Any, Any]] | None = None
    put_rows: Callable[[Any, Any, Any], Any] = generic.put_rows
    compaction: Callable[[Any], str | None] = generic.compaction
    compact_index: Callable[[Any, int | None], Any] = generic.compact_index
    product_epsilon: Callable[[Any], float] = generic.product_epsilon
    specialise: Callable[[Any], "Capabilities"] | None = None

    def for_data(self, x: Any) -> "Capabilities":
        """The record for passes over ``x`` (see ``specialise``)."""
        return self if self.specialise is None else self.specialise(x)

    def replace(self, **changes: Any) -> "Capabilities":
        return dataclasses.replace(self, **changes)


_GENERIC = Capabilities(name="generic")


def prepare_namespaces(arrays: Any) -> None:
    """Ready what array-api-compat needs before it is asked for these arrays' namespace.

    Its first call for a JAX array creates a JAX array of its own, an implicit
    host-to-device transfer that fails under ``jax.transfer_guard("disallow")``: the JAX
    capability module, imported here, answers that first call with an explicit placement.
    """
    if any(type(a).__module__.split(".")[0] in ("jax", "jaxlib") for a in arrays):
        from . import jax  # noqa: F401


def capabilities_for(xp: Any) -> Capabilities:
    """The capability record for namespace ``xp``."""
    if array_api_compat.is_numpy_namespace(xp):
        from . import numpy as backend
    elif array_api_compat.is_torch_namespace(xp):
        from . import torch as backend
    elif array_api_compat.is_jax_namespace(xp):
        from . import jax as backend
    elif array_api_compat.is_dask_namespace(xp):
        from . import dask as backend
    elif array_api_compat.is_cupy_namespace(xp):
        from . import cupy as backend
    else:
        return _GENERIC
    return backend.CAPABILITIES
