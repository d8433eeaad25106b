"""Dask capabilities: lazy row blocks with tree-reduced partials, checks inside the graph.

A public call on a Dask array builds a graph and computes nothing.  Two ways to run a
numeric core (a function the face hands to ``caps.compiled``):

* **One task**, for arrays a worker holds easily (NumPy blocks, known shapes, at most
  ``xpcluster.gather-bytes`` in Dask config, 256 MiB by default): the core runs with
  NumPy inside a single task, on its arguments joined from their blocks (:func:`compiled`).
  Loops then cost no graph and no compute per iteration (as a graph, an iteration is ~50
  small tasks: ~25 ms to build, and a ``while_loop`` computed each one, ~0.1-0.5 s of
  scheduling whatever the data's size); the results are lazy Dask arrays whose values are
  NumPy's, bit for bit, and value checks fire inside the task, when they are computed.
* **Per block**, for larger data (and sparse rows, CuPy blocks, unknown chunk sizes): each
  Lloyd iteration maps the assignment over the row blocks of the data (each block handled
  eagerly, in its own namespace, with the same chunked code as any eager backend) and
  reduces the per-block (k, d) sums and (k,) counts with Dask's tree reduction: only those
  small partials travel between workers, and the graph grows linearly with the
  iterations.  ``while_loop`` persists each step together with its test (one compute an
  iteration), ``cond`` persists its operands with its predicate (the pass that gave both
  is not run again), and ``persist`` keeps data in memory only when it fits (else each
  pass reads it again).

Value checks become graph nodes that the returned arrays depend on, so they fire when the
user computes.
"""
from __future__ import annotations

import functools
import itertools
import math
import os
import uuid
from typing import Any, Callable

import array_api_compat
import dask
import dask.array as da
from dask.highlevelgraph import HighLevelGraph
import numpy as np

from . import _GENERIC, generic
from .sparse import stored_values

_OBJECT_META = np.empty((0,), dtype=object)


def _single_column_block(a: Any) -> Any:
    return a.rechunk({1: -1}) if a.ndim == 2 and a.numblocks[1] != 1 else a


def _whole(a: Any) -> Any:
    return a.rechunk(-1) if isinstance(a, da.Array) else a


def _block_meta(a: Any) -> Any:
    return a._meta if isinstance(a, da.Array) else a


def map_row_chunks(x: Any, rows: int, fn: Callable[..., tuple[tuple[Any, ...], tuple[Any, ...]]], *consts: Any):
    """Run ``fn`` on every row block (eagerly, inside the block's task) without a gather.

    Each block's task returns the pair ``(per_row, totals)`` once; per-row arrays are
    taken out of it block by block, per-block totals are stacked and summed with Dask's
    tree reduction.  Sparse rows (:class:`DaskSparseRows`) run ``fn`` on each block as
    NumPy sparse rows.
    """
    if isinstance(x, DaskSparseRows):
        return _sparse_map_row_chunks(x, rows, fn, *consts)
    x = _single_column_block(x)
    # Row-aligned constants travel block by block with x's rows; the others whole.
    aligned = tuple(isinstance(c, generic.RowAligned) for c in consts)
    consts = tuple(
        _aligned_to(c.array, x.chunks[0]) if isinstance(c, generic.RowAligned) else _whole(c) for c in consts
    )
    # The structure of fn's results (how many arrays, their dtypes and trailing shapes),
    # from a run on a one-row block of zeros made like the real blocks.
    xp_meta = array_api_compat.array_namespace(_block_meta(x))
    probe_rows, probe_totals = fn(xp_meta.zeros((1, *x.shape[1:]), dtype=x.dtype), *_probe_consts(consts, aligned))

    const_specs = _const_specs(consts, aligned)
    # A partial of module functions, not a closure: Dask tokenizes a closure by pickling it
    # (~2 ms each, most of the time of building a pass's graph).
    pairs = da.blockwise(
        functools.partial(_run_block, rows=rows, fn=fn, aligned=aligned), "i", x, "ij", *const_specs,
        concatenate=True, dtype=object, meta=_OBJECT_META,
    )
    return _unpack_pairs(pairs, x.chunks[0], x.numblocks[0], probe_rows, probe_totals)


def _aligned_to(a: Any, row_chunks: tuple[Any, ...]) -> Any:
    """A per-row constant in x's row blocks (one block along its other axes)."""
    if not isinstance(a, da.Array):
        a = da.from_array(a, chunks=(row_chunks, *((s,) for s in a.shape[1:])))
    chunks = (row_chunks, *((-1,) * (a.ndim - 1)))
    return a if a.chunks[0] == tuple(row_chunks) and all(len(c) == 1 for c in a.chunks[1:]) else a.rechunk(chunks)


def _run_block(block: Any, *block_consts: Any, rows: int, fn: Callable[..., Any], aligned: tuple[bool, ...] = ()
               ) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    block_consts = tuple(
        generic.RowAligned(c) if i < len(aligned) and aligned[i] else c for i, c in enumerate(block_consts)
    )
    return generic.map_row_chunks(block, rows, fn, *block_consts)


def _probe_consts(consts: tuple[Any, ...], aligned: tuple[bool, ...] | None = None) -> tuple[Any, ...]:
    """Zeros like the (whole-block) constants, for a probe run of a block function on one
    row (row-aligned constants: one row of theirs)."""
    probes = []
    for c, row_aligned in zip(consts, aligned or (False,) * len(consts)):
        if isinstance(c, da.Array):
            shape = (1, *c.shape[1:]) if row_aligned else c.shape
            c = array_api_compat.array_namespace(_block_meta(c)).zeros(shape, dtype=c.dtype)
        probes.append(c)
    return tuple(probes)


def _const_specs(consts: tuple[Any, ...], aligned: tuple[bool, ...] | None = None) -> list[Any]:
    """``blockwise`` arguments: each row-aligned constant by x's row blocks ("i"), every
    other constant whole to every block's task."""
    specs: list[Any] = []
    for i, (c, row_aligned) in enumerate(zip(consts, aligned or (False,) * len(consts))):
        if row_aligned:
            specs += [c, ("i", *(f"c{i}_{axis}" for axis in range(1, c.ndim)))]
        elif isinstance(c, da.Array):
            specs += [c, tuple(f"c{i}_{axis}" for axis in range(c.ndim))]
        else:
            specs += [c, None]
    return specs


def _unpack_pairs(pairs: Any, row_chunks: Any, n_blocks: int, probe_rows: Any, probe_totals: Any):
    """The per-row arrays (block by block) and the tree-summed totals of the blocks' pairs."""
    per_row = tuple(
        da.map_blocks(
            _pick_per_row, pairs, j, dtype=probe.dtype, meta=probe[:0],
            chunks=(row_chunks, *((s,) for s in probe.shape[1:])),
            new_axis=list(range(1, probe.ndim)) or None,
        )
        for j, probe in enumerate(probe_rows)
    )
    totals = tuple(
        da.map_blocks(
            _pick_total, pairs, j, dtype=probe.dtype, meta=probe[None][:0],
            chunks=((1,) * n_blocks, *((s,) for s in probe.shape)),
            new_axis=list(range(1, probe.ndim + 1)),
        ).sum(axis=0, dtype=probe.dtype)
        for j, probe in enumerate(probe_totals)
    )
    return per_row, totals


def _pick_per_row(pair: Any, j: int) -> Any:
    return pair[0][j]


def _pick_total(pair: Any, j: int) -> Any:
    total = pair[1][j]
    return array_api_compat.array_namespace(total).reshape(total, (1, *total.shape))


def while_loop(cond: Callable[[Any], Any], body: Callable[[Any], Any], state: Any) -> Any:
    """A Python loop over persisted states: each step is persisted together with its test
    (one compute), and the test, already computed, is read back."""
    state, flag = _persisted(state, cond(state))
    while _read_flag(flag):
        new_state = body(state)
        state, flag = _persisted(new_state, cond(new_state))
    return state


def _persisted(state: Any, flag: Any) -> tuple[tuple[Any, ...], Any]:
    """``state`` and ``flag`` persisted in one compute (shared work done once)."""
    if isinstance(flag, da.Array):
        *state, flag = dask.persist(*state, flag)
        return tuple(state), flag
    return tuple(dask.persist(*state)), flag


def _read_flag(flag: Any) -> bool:
    """A flag's value: of a persisted one, read from its graph (its value there on local
    schedulers, a future on a cluster) without another compute."""
    if not isinstance(flag, da.Array):
        return bool(flag)
    keys = flag.__dask_keys__()
    while isinstance(keys, list) and len(keys) == 1:
        keys = keys[0]
    graph = flag.__dask_graph__()
    value = graph.get(keys) if hasattr(graph, "get") else None
    if isinstance(value, (np.ndarray, np.generic, bool)):
        return bool(value)
    if value is not None and type(value).__name__ == "Future" and hasattr(value, "result"):
        return bool(np.asarray(value.result()))
    return bool(flag.compute())


def cond(pred: Any, true_fn: Callable[..., Any], false_fn: Callable[..., Any], *operands: Any) -> Any:
    """One branch, chosen by reading ``pred``: the operands are persisted with it (one
    compute), so that the pass that gave both (an assignment and its empty-cluster test)
    is not run again for the branch's result."""
    if not isinstance(pred, da.Array):
        return true_fn(*operands) if bool(pred) else false_fn(*operands)
    lazy = [i for i, a in enumerate(operands) if isinstance(a, da.Array)]
    if not lazy:  # nothing to share a compute with: a persisted flag is read without one
        return true_fn(*operands) if _read_flag(pred) else false_fn(*operands)
    pred, *done = dask.persist(pred, *(operands[i] for i in lazy))
    operands = list(operands)
    for i, a in zip(lazy, done):
        operands[i] = a
    return true_fn(*operands) if _read_flag(pred) else false_fn(*operands)


def checked(outputs: tuple[Any, ...], flag: Any, action: Callable[[], None]) -> tuple[Any, ...]:
    """Make every output depend on one graph node that runs ``action`` if ``flag`` is true.

    Exceptions raised there reach the user's ``compute()`` with their own type; warnings
    are emitted while computing.
    """
    gate = da.map_blocks(_run_check, flag, action, dtype=bool, meta=np.empty((), dtype=bool))
    return tuple(
        da.map_blocks(_after_check, out, gate, dtype=out.dtype, meta=out._meta) if isinstance(out, da.Array) else out
        for out in outputs
    )


def _run_check(flag: Any, action: Callable[[], None]) -> Any:
    if bool(flag):
        action()
    return flag


def _after_check(block: Any, gate: Any) -> Any:
    return block


def from_host(host: Any, like: Any) -> Any:
    """One block of ``like``'s block type (NumPy or CuPy)."""
    host = np.asarray(host)
    block_xp = array_api_compat.array_namespace(like._meta)
    return da.from_array(block_xp.asarray(host), chunks=host.shape or (), asarray=False)


def read_bool(flag: Any) -> bool:
    return bool(flag.compute())


def to_device(host: Any, like: Any, dtype: Any) -> Any:
    """Integer draws (row indices) stay NumPy, so picking rows touches only their blocks;
    float draws become a one-block Dask array of ``like``'s block type (NumPy or CuPy)."""
    host = np.asarray(host, dtype=np.dtype(dtype))
    if host.dtype.kind in "iu":
        return host
    block_xp = array_api_compat.array_namespace(like._meta)
    return da.from_array(block_xp.asarray(host), chunks=host.shape or (), asarray=False)


def take_rows(x: Any, index: Any) -> Any:
    if isinstance(x, DaskSparseRows):
        return x.dense_rows(index)
    if not isinstance(index, da.Array):
        return x[index, :]  # a fancy index reads only the blocks holding those rows
    # A lazy index (k-means++ picks): a one-hot product keeps shapes known and the graph lazy.
    positions = da.arange(x.shape[0], chunks=(x.chunks[0],), dtype=index.dtype)
    one_hot = (index[:, None] == positions[None, :]).astype(x.dtype)
    return one_hot @ x


def cholesky(a: Any) -> Any:
    return da.map_blocks(_block_cholesky, a.rechunk(-1), dtype=a.dtype, meta=a._meta)


def _block_cholesky(block: Any) -> Any:
    return generic.cholesky(block)


def thin_svd(a: Any) -> tuple[Any, Any, Any]:
    """Dask's SVD wants a tall matrix in one column block: a wide one is done transposed."""
    if a.shape[0] >= a.shape[1]:
        return da.linalg.svd(_single_column_block(a))
    u, s, vh = da.linalg.svd(_single_column_block(a.T))
    return vh.T, s, u.T


def persist_together(arrays: tuple[Any, ...]) -> tuple[Any, ...]:
    """The Dask arrays among ``arrays`` persisted in one compute (what they share, such as
    one pass over the data, runs once), the rest as they are."""
    lazy = [i for i, a in enumerate(arrays) if isinstance(a, da.Array)]
    done = dask.persist(*(arrays[i] for i in lazy))
    out = list(arrays)
    for i, a in zip(lazy, done):
        out[i] = a
    return tuple(out)


#: Dask config key: the most bytes ``persist`` keeps in memory (default: half of the
#: cluster's worker memory, or of this machine's available memory without a cluster).
PERSIST_BYTES_KEY = "xpcluster.persist-bytes"


def persist(a: Any) -> Any:
    """``a`` persisted when it fits in memory, else ``a`` itself: data larger than memory
    is read again by each pass (persisting it would spill it or kill the workers)."""
    if isinstance(a, da.Array) and not math.isnan(a.nbytes) and a.nbytes > persist_bytes():
        return a
    return a.persist()


def persist_bytes() -> int:
    configured = dask.config.get(PERSIST_BYTES_KEY, None)
    if configured is not None:
        return int(configured)
    try:  # a distributed cluster: its workers' memory
        from distributed import default_client

        workers = default_client().scheduler_info(n_workers=-1)["workers"].values()
        total = sum(int(w.get("memory_limit") or 0) for w in workers)
        if total > 0:
            return total // 2
    except Exception:  # no distributed, no client, or a client that cannot tell
        pass
    try:
        import psutil

        return int(psutil.virtual_memory().available) // 2
    except Exception:  # pragma: no cover - psutil comes with distributed
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")) // 2


def max_magnitude(a: Any) -> Any:
    """Per-block maxima (0 for a block a boolean mask emptied), then their maximum."""
    a = stored_values(a)
    per_block = a.map_blocks(
        _block_max_magnitude, dtype=a.dtype, meta=a._meta,
        chunks=tuple((1,) * blocks for blocks in a.numblocks),
    )
    return per_block.max()


def _block_max_magnitude(block: Any) -> Any:
    bxp = array_api_compat.array_namespace(block)
    ones = (1,) * block.ndim
    if block.size == 0:
        return bxp.zeros(ones, dtype=block.dtype)
    return bxp.reshape(bxp.max(bxp.abs(block)), ones)


def has_numpy_blocks(a: Any) -> bool:
    return isinstance(a._meta, np.ndarray) and not isinstance(a, DaskSparseRows)  # every block is of its meta's type


def known_rows(a: Any) -> Any:
    if isinstance(a, DaskSparseRows):
        return DaskSparseRows(known_rows(a.blocks), a.row_weights)
    if any(np.isnan(c) for c in a.chunks[0]):
        # compute_chunk_sizes() updates the array object in place: work on a new one.
        a = da.Array(a.dask, a.name, a.chunks, meta=a._meta).compute_chunk_sizes()
    if 0 in a.chunks[0] and a.shape[0] > 0:
        # Blocks a boolean mask emptied: Dask's cumulative sums fail on zero-row blocks.
        a = a.rechunk({0: tuple(c for c in a.chunks[0] if c)})
    return a


# -- compiled: a numeric core as one NumPy task, when its arrays fit one worker ----------------

#: Dask config key: the most bytes of Dask arrays a core may be given whole, in one task.
GATHER_BYTES_KEY = "xpcluster.gather-bytes"
#: Its default: data this small is read in well under a second by one worker, while one
#: loop iteration as a graph costs ~0.1 s of graph building and scheduling.
DEFAULT_GATHER_BYTES = 256 * 2**20


def gather_bytes() -> int:
    """The limit now in force (``dask.config.set({"xpcluster.gather-bytes": n})``; 0: never)."""
    return int(dask.config.get(GATHER_BYTES_KEY, DEFAULT_GATHER_BYTES))


def compiled(fn: Callable[..., Any], static_argnames: tuple[str, ...] = ()) -> Callable[..., Any]:
    """``fn`` as one task on NumPy when its Dask arrays are small, else ``fn`` itself.

    A core's loops on Dask arrays build a graph for every iteration (each small array
    operation a task: ~50 an iteration, ~0.5 ms each to build) and a ``while_loop``
    computes every iteration (~0.1 s of scheduling whatever the data's size), which is all
    of the time on in-memory data.  When the core's Dask arguments have NumPy blocks and
    known shapes and hold together at most :func:`gather_bytes`, the call instead adds one
    task to the graph, which runs the core with NumPy on the arguments, each joined from
    its blocks (NumPy's capability layer shares the row blocks among its threads).  The
    results are lazy Dask arrays (the call computes nothing; value checks fire inside the
    task, when the results are computed) whose values are NumPy's, bit for bit.  Their
    shapes come from a run of the core on the Dask arguments in which loops return their
    initial state and branches are taken unread (:func:`_shape_probe`): it builds no
    iteration and computes nothing.  Larger data, sparse rows, CuPy blocks and unknown
    chunk sizes keep the per-block graph, whose loops go through :func:`while_loop`.
    """

    def run(*args: Any, **kwargs: Any) -> Any:
        if "xp" not in kwargs or "caps" not in kwargs or not _gatherable(args, kwargs):
            return fn(*args, **kwargs)
        in_leaves, in_tree = _flatten((args, {k: v for k, v in kwargs.items() if k not in ("xp", "caps")}))
        signature = _signature(fn, in_leaves, in_tree)
        shapes = _SHAPES.get(signature) if signature is not None else None
        if shapes is None:
            shapes = _result_shapes(fn, args, kwargs)
            if signature is not None:  # (False too: that core keeps the per-block graph)
                if len(_SHAPES) >= _SHAPES_KEPT:
                    _SHAPES.pop(next(iter(_SHAPES)))
                _SHAPES[signature] = shapes
        if shapes is False:
            return fn(*args, **kwargs)
        out_leaves, out_tree = shapes
        lazy = [i for i, a in enumerate(in_leaves) if isinstance(a, da.Array)]
        static = [None if i in lazy else a for i, a in enumerate(in_leaves)]
        arrays = [i for i, a in enumerate(out_leaves) if isinstance(a, da.Array)]
        # One task: blockwise with every index contracted hands it each array joined
        # (a delayed call would drop persisted blocks' futures from the graph on a cluster).
        specs: list[Any] = []
        for j, i in enumerate(lazy):
            specs += [_whole(in_leaves[i]), tuple(f"a{j}_{axis}" for axis in range(in_leaves[i].ndim))]
        name = f"xpcluster-{getattr(fn, '__name__', 'core')}-{uuid.uuid4().hex}"  # (nothing tokenized)
        packed = da.blockwise(_run_gathered, "", *specs, fn=fn, in_tree=in_tree, static=static, lazy=lazy,
                              concatenate=True, dtype=object, meta=np.empty((), dtype=object), name=name)
        results = list(out_leaves)
        for j, i in enumerate(arrays):
            a = out_leaves[i]
            results[i] = da.map_blocks(_pick_output, packed, j, a.dtype, dtype=a.dtype, meta=a._meta, name=f"{name}-{j}",
                                       chunks=tuple((s,) for s in a.shape), new_axis=list(range(a.ndim)) or None)
        return _unflatten(out_tree, results)

    return run


#: Result shapes of recent calls, by signature (the cores' shapes follow their arguments'
#: shapes and dtypes and their static values, as under ``jax.jit``).
_SHAPES: dict[Any, Any] = {}
_SHAPES_KEPT = 256


def _signature(fn: Callable[..., Any], leaves: list[Any], tree: Any) -> Any:
    """A hashable key of what the shapes of ``fn``'s results may depend on, or None."""
    parts: list[Any] = []
    for a in leaves:
        if isinstance(a, (da.Array, np.ndarray, np.generic)):
            parts.append(("array", type(a), tuple(a.shape), str(a.dtype)))
        else:
            try:
                hash(a)
            except TypeError:
                return None
            parts.append(("value", type(a), a))
    try:
        key = (fn, tuple(parts), _hashable_tree(tree))
        hash(key)
    except TypeError:
        return None
    return key


def _hashable_tree(tree: Any) -> Any:
    if tree is None:
        return None
    kind, children = tree
    if kind is dict:
        return (dict, tuple((key, _hashable_tree(child)) for key, child in children))
    return (kind, tuple(_hashable_tree(child) for child in children))


def _result_shapes(fn: Callable[..., Any], args: Any, kwargs: dict[str, Any]) -> Any:
    """``(leaves, tree)`` of ``fn``'s results from a :func:`_shape_probe` run (the leaves
    Dask arrays of the results' shapes, dtypes and block types, or None), or False when
    they are not all that (the call then keeps the per-block graph)."""
    try:
        outputs = fn(*args, **{**kwargs, "caps": _shape_probe(kwargs["caps"])})
    except Exception:  # a value read, or anything else placeholders cannot do: per-block graph
        return False
    leaves, tree = _flatten(outputs)
    if not all(isinstance(a, da.Array) or a is None for a in leaves) or any(
            isinstance(a, da.Array) and any(math.isnan(s) for s in a.shape) for a in leaves):
        return False
    return [None if a is None else _placeholder(a._meta, tuple((s,) for s in a.shape)) for a in leaves], tree


def _gatherable(args: Any, kwargs: dict[str, Any]) -> bool:
    leaves, _ = _flatten((args, kwargs))
    arrays = [a for a in leaves if isinstance(a, da.Array)]
    if not arrays or any(isinstance(a, DaskSparseRows) for a in leaves):
        return False
    if not all(isinstance(a._meta, np.ndarray) and not any(math.isnan(s) for s in a.shape) for a in arrays):
        return False
    return sum(a.nbytes for a in arrays) <= gather_bytes()


def _shape_probe(caps: Any) -> Any:
    """Capabilities for a run that only learns a core's result shapes: loops return their
    initial state (a loop keeps its state's shapes), a branch is taken unread (both give
    the same shapes) and a pass over row blocks gives placeholders of its results' shapes,
    so no iteration's or pass's graph is built and nothing is computed."""
    return caps.replace(while_loop=_initial_state, fori_loop=_initial_state_fori, cond=_unread_cond,
                        compiled=_plain, map_row_chunks=_placeholder_map_row_chunks, read_bool=_no_read)


class _NeedsValues(Exception):
    """A core read a value while its shapes were probed: it keeps the per-block graph."""


def _no_read(flag: Any) -> bool:
    raise _NeedsValues()


def _placeholder_map_row_chunks(x: Any, rows: int, fn: Callable[..., Any], *consts: Any):
    """:func:`map_row_chunks`' results as placeholders of their shapes and dtypes (from
    ``fn`` on a one-row block of zeros), for :func:`_shape_probe`."""
    if isinstance(x, DaskSparseRows):
        return _sparse_map_row_chunks(x, rows, fn, *consts)
    aligned = tuple(isinstance(c, generic.RowAligned) for c in consts)
    consts = tuple(c.array if isinstance(c, generic.RowAligned) else _whole(c) for c in consts)
    xp_meta = array_api_compat.array_namespace(_block_meta(x))
    probe_rows, probe_totals = fn(xp_meta.zeros((1, *x.shape[1:]), dtype=x.dtype), *_probe_consts(consts, aligned))
    per_row = tuple(_placeholder(p[:0], (x.chunks[0], *((s,) for s in p.shape[1:]))) for p in probe_rows)
    totals = tuple(_placeholder(xp_meta.empty((0,) * p.ndim, dtype=p.dtype), tuple((s,) for s in p.shape))
                   for p in probe_totals)
    return per_row, totals


def _placeholder(meta: Any, chunks: tuple[tuple[int, ...], ...]) -> Any:
    """A Dask array of these chunks and ``meta``'s dtype and block type that is never
    computed (its blocks are no tasks): built without tokenizing anything."""
    name = f"xpcluster-placeholder-{next(_PLACEHOLDERS)}"
    keys = itertools.product([name], *(range(len(c)) for c in chunks))
    graph = HighLevelGraph.from_collections(name, {key: None for key in keys}, dependencies=())
    return da.Array(graph, name, chunks, meta=meta)


_PLACEHOLDERS = itertools.count()


def _initial_state(cond: Callable[[Any], Any], body: Callable[[Any], Any], state: Any) -> Any:
    return tuple(state)


def _initial_state_fori(lower: int, upper: int, body: Callable[[int, Any], Any], state: Any) -> Any:
    return state


def _unread_cond(pred: Any, true_fn: Callable[..., Any], false_fn: Callable[..., Any], *operands: Any) -> Any:
    return false_fn(*operands)


def _plain(fn: Callable[..., Any], static_argnames: tuple[str, ...] = ()) -> Callable[..., Any]:
    return fn


def _run_gathered(*values: Any, fn: Callable[..., Any], in_tree: Any, static: list[Any], lazy: list[int]) -> Any:
    """The task: ``fn`` on NumPy (``values``: its Dask arguments, each joined); its array
    results in a tuple."""
    from . import numpy as numpy_backend

    leaves = list(static)
    for i, value in zip(lazy, values):
        leaves[i] = value
    args, kwargs = _unflatten(in_tree, leaves)
    xp = array_api_compat.array_namespace(np.empty(0))
    outputs = fn(*args, **kwargs, xp=xp, caps=numpy_backend.CAPABILITIES)
    packed = np.empty((), dtype=object)
    packed[()] = tuple(np.asarray(a) for a in _flatten(outputs)[0] if a is not None)
    return packed


def _pick_output(packed: Any, j: int, dtype: Any) -> Any:
    return packed[()][j].astype(dtype, copy=False)


def _flatten(tree: Any) -> tuple[list[Any], Any]:
    """Leaves of nested tuples, lists, named tuples and dicts, and the structure to rebuild them."""
    leaves: list[Any] = []

    def walk(node: Any) -> Any:
        if isinstance(node, (tuple, list)) and not isinstance(node, da.Array):
            return (type(node), [walk(child) for child in node])
        if isinstance(node, dict):
            return (dict, [(key, walk(child)) for key, child in node.items()])
        leaves.append(node)
        return None

    return leaves, walk(tree)


def _unflatten(structure: Any, leaves: list[Any]) -> Any:
    it = iter(leaves)

    def build(node: Any) -> Any:
        if node is None:
            return next(it)
        kind, children = node
        if kind is dict:
            return {key: build(child) for key, child in children}
        items = [build(child) for child in children]
        if kind in (tuple, list):
            return kind(items)
        return kind(*items) if hasattr(kind, "_fields") else kind(items)

    return build(structure)


CAPABILITIES = _GENERIC.replace(
    name="dask",
    map_row_chunks=map_row_chunks,
    # Each block is selected from eagerly, in its own task (its own namespace's compaction).
    compaction=lambda x: "exact",
    while_loop=while_loop,
    cond=cond,
    compiled=compiled,
    checked=checked,
    defers_checks=True,
    read_bool=read_bool,
    to_device=to_device,
    from_host=from_host,
    take_rows=take_rows,
    cholesky=cholesky,
    thin_svd=thin_svd,
    persist=persist,
    known_rows=known_rows,
    persist_together=persist_together,
    has_numpy_blocks=has_numpy_blocks,
    max_magnitude=max_magnitude,
    # Row chunks inside a block with ~4 MiB score blocks: a block's pass of 250,000 x 16
    # float32 rows, k=64, took 2.0x its reading time with chunks as large as the memory
    # budget allows (17 MB score blocks), 1.3x so (measured, 2 cores, threads scheduler).
    block_bytes=2**22,
)


# -- sparse: Dask arrays of SciPy sparse blocks (see xpcluster._backends.sparse) -----------------

from .sparse import SCIPY_KERNELS, SparseRows, _scipy_rows, host_compute_dtype  # noqa: E402


def _block_rows(block: Any, weights: Any = None) -> SparseRows:
    """One block (canonical CSR, as :func:`dask_sparse_rows` made it) as sparse rows."""
    rows = SparseRows(SCIPY_KERNELS, block.indptr, block.indices, block.data, block.shape[1], host_indptr=block.indptr)
    return rows if weights is None else rows.weighted(weights)


def _canonical_block(block: Any) -> Any:
    rows = _scipy_rows(block, "X")
    return rows.native()


class DaskSparseRows(SparseRows):
    """Sparse rows on Dask: a Dask array whose row blocks (one column block) are canonical
    SciPy CSR matrices.  Passes over the data map the NumPy sparse code over the blocks
    (:func:`map_row_chunks`); everything else the core asks of sparse rows is a small
    lazy graph here.  Results are Dask arrays of NumPy blocks."""

    def __init__(self, blocks: Any, weights: Any = None) -> None:
        self.blocks = blocks
        self.kernels = SCIPY_KERNELS
        self.xp = array_api_compat.array_namespace(da.empty((0,)))
        self.shape = blocks.shape
        self.dtype = blocks.dtype
        self.chunks = blocks.chunks
        self.numblocks = blocks.numblocks
        self.device = "cpu"
        self._meta = np.empty((0, 0), dtype=blocks.dtype)  # what results' blocks are
        self._weights = weights
        self._host_indptr = None

    static_rows = False
    nnz = None  # unknown until the blocks are computed (block sizing then follows the blocks)

    @property
    def row_weights(self) -> Any:
        return self._weights

    def weighted(self, weights: Any) -> "DaskSparseRows":
        return DaskSparseRows(self.blocks, None if weights is None else weights.rechunk((self.chunks[0],)))

    def persist(self) -> "DaskSparseRows":
        return DaskSparseRows(self.blocks.persist(), None if self._weights is None else self._weights.persist())

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, tuple) and len(key) == 2 and key[0] == slice(None) and isinstance(key[1], int):
            return self.blocks.map_blocks(_block_column, key[1], drop_axis=1, dtype=self.dtype,
                                          meta=np.empty((0,), dtype=self.dtype))
        if isinstance(key, tuple) and len(key) == 2 and isinstance(key[0], int) and isinstance(key[1], int):
            return self[:, key[1]][key[0]]
        raise IndexError(f"sparse Dask rows do not support the index {key!r}")

    @property
    def values(self) -> Any:
        """The stored entries, block by block (their counts unknown until computed)."""
        return self.blocks.map_blocks(_block_values, drop_axis=1, chunks=((np.nan,) * self.numblocks[0],),
                                      dtype=self.dtype, meta=np.empty((0,), dtype=self.dtype))

    def with_values(self, values: Any) -> "DaskSparseRows":  # pragma: no cover - scaling goes through _mapped
        raise NotImplementedError

    def _mapped(self, fn: Any, *args: Any, dtype: Any = None) -> "DaskSparseRows":
        blocks = self.blocks.map_blocks(fn, *args, dtype=dtype or self.dtype, meta=self.blocks._meta)
        return DaskSparseRows(blocks, self._weights)

    def __mul__(self, s: Any) -> "DaskSparseRows":
        return self._mapped(_block_times, self._number(s))

    __rmul__ = __mul__

    def __truediv__(self, s: Any) -> "DaskSparseRows":
        return self._mapped(_block_over, self._number(s))

    def _number(self, s: Any) -> Any:
        if isinstance(s, float | int):
            return s
        if getattr(s, "ndim", None) != 0:
            raise TypeError("sparse rows are scaled by a number only (a 0-d array or a Python number)")
        return s.astype(self.dtype)

    def astype(self, dtype: Any, copy: bool = True, device: Any = None) -> "DaskSparseRows":
        if dtype == self.dtype:
            return self
        return self._mapped(_block_astype, np.dtype(dtype), dtype=dtype)

    @property
    def sq_norms(self) -> Any:
        return self.blocks.map_blocks(_block_sq_norms, drop_axis=1, dtype=self.dtype,
                                      meta=np.empty((0,), dtype=self.dtype))

    def rows_scaled(self, factors: Any) -> "DaskSparseRows":
        factors = factors.rechunk((self.chunks[0],))[:, None]
        return DaskSparseRows(da.map_blocks(_block_rows_scaled, self.blocks, factors, dtype=self.dtype,
                                            meta=self.blocks._meta), self._weights)

    def column_moments(self) -> tuple[Any, Any]:
        d, nb = self.shape[1], self.numblocks[0]
        per_block = self.blocks.map_blocks(_block_moments, chunks=((2,) * nb, (d,)), dtype=np.float64,
                                           meta=np.empty((0, 0)))
        moments = per_block.reshape((nb, 2, d)).sum(axis=0)
        return moments[0], moments[1]

    def native(self) -> Any:
        return self.blocks

    def compute(self) -> SparseRows:
        """The rows computed once, as NumPy sparse rows (for searches that read them often)."""
        from scipy import sparse

        blocks = [b for b in dask.compute(*self.blocks.to_delayed().ravel())]
        rows = _scipy_rows(sparse.vstack(blocks, format="csr") if blocks else self.blocks._meta, "X")
        return rows if self._weights is None else rows.weighted(np.asarray(self._weights.compute()))

    def dense_rows(self, index: Any) -> Any:
        """The rows at ``index`` (host or lazy) as a dense (m, d) Dask array: each block
        contributes the rows it holds, summed (no block is densified)."""
        m, d = int(index.shape[0]), self.shape[1]
        nb = self.numblocks[0]
        # Each block learns where it starts from its piece of the row positions.
        starts = da.arange(self.shape[0], chunks=(self.chunks[0],), dtype=np.int64)
        if not isinstance(index, da.Array):
            index = da.from_array(np.asarray(index), chunks=-1)
        parts = da.blockwise(_block_pick, "ij", self.blocks, "ij", starts, "i", index.rechunk(-1), "k",
                             concatenate=True, adjust_chunks={"i": m}, dtype=self.dtype,
                             meta=np.empty((0, 0), dtype=self.dtype))
        return parts.reshape((nb, m, d)).sum(axis=0)

    def subset(self, index: Any) -> "DaskSparseRows":
        """The rows at ``index`` (host or lazy integers; repeats allowed), in ``index``'s
        order, as one sparse block: each block contributes the rows it holds (the others
        empty) and the partial matrices are added."""
        from scipy import sparse

        m, d = int(index.shape[0]), self.shape[1]
        if not isinstance(index, da.Array):
            index = da.from_array(np.asarray(index), chunks=-1)
        starts = da.arange(self.shape[0], chunks=(self.chunks[0],), dtype=np.int64)
        meta = sparse.csr_matrix((0, 0), dtype=self.dtype)
        parts = da.blockwise(_block_subset, "ij", self.blocks, "ij", starts, "i", index.rechunk(-1), "k",
                             concatenate=True, adjust_chunks={"i": m}, dtype=self.dtype, meta=meta)
        total = dask.delayed(_add_matrices)(parts.to_delayed().ravel().tolist())
        return DaskSparseRows(da.from_delayed(total, shape=(m, d), dtype=self.dtype, meta=meta))

    def rows_where(self, mask: Any) -> "DaskSparseRows":
        """The rows where the lazy boolean ``mask`` holds, block by block (row counts
        unknown until ``known_rows``)."""
        from scipy import sparse

        mask = mask.rechunk((self.chunks[0],))[:, None]
        blocks = da.map_blocks(_block_where, self.blocks, mask, dtype=self.dtype,
                               chunks=((np.nan,) * self.numblocks[0], (self.shape[1],)),
                               meta=sparse.csr_matrix((0, 0), dtype=self.dtype))
        return DaskSparseRows(blocks)


def _block_subset(block: Any, start: Any, index: Any) -> Any:
    from scipy import sparse

    index = np.asarray(index).reshape(-1).astype(np.int64) - (int(start[0]) if len(start) else 0)
    inside = (index >= 0) & (index < block.shape[0])
    # Row j of the result is row index[j] of this block where it holds it, else empty.
    picked = np.where(inside, index, 0)
    selector = sparse.csr_matrix((inside.astype(block.dtype), (np.arange(index.shape[0]), picked)),
                                 shape=(index.shape[0], block.shape[0]))
    return _canonical_block(selector @ block)


def _add_matrices(parts: list) -> Any:
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return _canonical_block(total)


def _block_where(block: Any, mask: Any) -> Any:
    return block[np.asarray(mask).reshape(-1)]


def _block_column(block: Any, j: int) -> np.ndarray:
    return np.asarray(block[:, [j]].toarray()[:, 0])


def _block_values(block: Any) -> np.ndarray:
    return np.asarray(block.data)


def _block_times(block: Any, s: Any) -> Any:
    return _with_data(block, block.data * np.asarray(s, dtype=block.dtype))


def _block_over(block: Any, s: Any) -> Any:
    return _with_data(block, block.data / np.asarray(s, dtype=block.dtype))


def _block_astype(block: Any, dtype: Any) -> Any:
    return _with_data(block, block.data.astype(dtype))


def _with_data(block: Any, data: Any) -> Any:
    from scipy import sparse

    return sparse.csr_matrix((data, block.indices, block.indptr), shape=block.shape, copy=False)


def _block_sq_norms(block: Any) -> np.ndarray:
    return np.asarray(_block_rows(block).sq_norms)


def _block_rows_scaled(block: Any, factors: Any) -> Any:
    return _block_rows(block).rows_scaled(np.asarray(factors).reshape(-1)).native()


def _block_moments(block: Any) -> np.ndarray:
    return np.stack(_block_rows(block).column_moments())


def _block_pick(block: Any, start: Any, index: Any) -> np.ndarray:
    index = np.asarray(index).reshape(-1).astype(np.int64) - (int(start[0]) if len(start) else 0)
    inside = (index >= 0) & (index < block.shape[0])
    out = np.zeros((index.shape[0], block.shape[1]), dtype=block.dtype)
    if inside.any():
        out[inside] = _block_rows(block).dense_rows(index[inside])
    return out


def is_dask_sparse(X: Any) -> bool:
    return isinstance(X, da.Array) and type(X._meta).__module__.startswith("scipy.sparse")


def dask_sparse_rows(X: Any, name: str = "X") -> DaskSparseRows:
    """A Dask array of SciPy sparse blocks as sparse rows: one column block, each row block
    canonical CSR in the compute dtype (lazily: a map over the blocks, nothing computed)."""
    from scipy import sparse

    dtype = host_compute_dtype(X, name)

    blocks = _single_column_block(X).map_blocks(_canonical_block, dtype=dtype,
                                                meta=sparse.csr_matrix((0, 0), dtype=dtype))
    return DaskSparseRows(blocks)


def _sparse_map_row_chunks(x: DaskSparseRows, rows: int, fn: Callable[..., Any], *consts: Any):
    """:func:`map_row_chunks` for sparse rows: each block's task runs ``fn`` on the block as
    NumPy sparse rows (with its rows' weights), in row chunks."""
    from scipy import sparse

    consts = tuple(_whole(c) for c in consts)
    probe = _block_rows(sparse.csr_matrix((1, x.shape[1]), dtype=x.dtype),
                        None if x.row_weights is None else np.zeros((1,), dtype=x.row_weights.dtype))
    probe_rows, probe_totals = fn(probe, *_probe_consts(consts))

    def run_block(block: Any, weights: Any, *block_consts: Any) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        return generic.map_row_chunks(_block_rows(block, weights), rows, fn, *block_consts)

    const_specs = _const_specs(consts)
    weight_spec = [None, None] if x.row_weights is None else [x.row_weights, "i"]
    pairs = da.blockwise(
        run_block, "i", x.blocks, "ij", *weight_spec, *const_specs, concatenate=True, dtype=object,
        meta=_OBJECT_META,
    )
    return _unpack_pairs(pairs, x.chunks[0], x.numblocks[0], probe_rows, probe_totals)
