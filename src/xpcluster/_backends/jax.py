"""JAX capabilities: compiled loops (``lax``), scanned row chunks, host callbacks for checks.

Every numeric core runs under ``jax.jit`` (eager calls included), so a Lloyd loop is one
compiled ``lax.fori_loop``/``lax.while_loop`` with no Python dispatch per iteration.  Host
random draws are placed with an explicit ``jax.device_put`` before the loop, and eager value
checks read their flag with an explicit ``jax.device_get``: nothing transfers implicitly.
Inside a trace (a user's ``jax.jit``), value checks become ``jax.debug.callback`` calls that
warn or raise when the compiled program runs.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from . import _GENERIC, generic


def segment_sums(values: Any, ids: Any, k: int) -> tuple[Any, Any]:
    sums = jax.ops.segment_sum(values, ids, num_segments=k)
    counts = jax.ops.segment_sum(jnp.ones_like(ids), ids, num_segments=k)
    return sums, counts


def map_row_chunks(x: Any, rows: int, fn: Callable[..., tuple[tuple[Any, ...], tuple[Any, ...]]], *consts: Any):
    """Full blocks go through one ``lax.scan`` (compiled once), the remainder separately."""
    n = x.shape[0]
    n_full = n // rows
    if n_full < 3:
        return generic.map_row_chunks(x, rows, fn, *consts)
    blocks = jnp.reshape(x[: n_full * rows], (n_full, rows, *x.shape[1:]))
    first_rows, first_totals = fn(blocks[0], *consts)

    def step(totals, block):
        per_row, partial = fn(block, *consts)
        return tuple(t + p for t, p in zip(totals, partial)), per_row

    totals, stacked = lax.scan(step, first_totals, blocks[1:])
    per_row = tuple(
        jnp.concatenate([first[None], rest]).reshape((n_full * rows, *first.shape[1:]))
        for first, rest in zip(first_rows, stacked)
    )
    if n_full * rows < n:
        tail_rows, tail_totals = fn(x[n_full * rows :], *consts)
        per_row = tuple(jnp.concatenate([a, b]) for a, b in zip(per_row, tail_rows))
        totals = tuple(t + p for t, p in zip(totals, tail_totals))
    return per_row, totals


def nearest_index(scores: Any) -> Any:
    """Row-wise argmin as a pairwise tournament of elementwise ``where``s.

    XLA on CPU reduces ``argmin`` with a slow scalar loop; log2(k) rounds of vectorised
    comparisons are about twice as fast.  Neighbours are paired, so the left contender
    always holds the lower indices and a strict ``<`` keeps the lowest index on ties.
    """
    m, k = scores.shape
    width = 1 << max(k - 1, 0).bit_length()
    if width != k:
        scores = jnp.concatenate([scores, jnp.full((m, width - k), jnp.inf, scores.dtype)], axis=1)
    index = jnp.broadcast_to(jnp.arange(width, dtype=jnp.int32), scores.shape)
    while scores.shape[1] > 1:
        pairs = scores.reshape(m, -1, 2)
        index_pairs = index.reshape(m, -1, 2)
        right_wins = pairs[..., 1] < pairs[..., 0]
        scores = jnp.where(right_wins, pairs[..., 1], pairs[..., 0])
        index = jnp.where(right_wins, index_pairs[..., 1], index_pairs[..., 0])
    return index[:, 0]


@functools.cache
def _jit(fn: Callable[..., Any], static_argnames: tuple[str, ...]) -> Callable[..., Any]:
    return jax.jit(fn, static_argnames=static_argnames)


def compiled(fn: Callable[..., Any], static_argnames: tuple[str, ...] = ()) -> Callable[..., Any]:
    return _jit(fn, tuple(static_argnames))


def is_traced(a: Any) -> bool:
    return isinstance(a, jax.core.Tracer)


def checked(outputs: tuple[Any, ...], flag: Any, action: Callable[[], None]) -> tuple[Any, ...]:
    if is_traced(flag):
        # Runs when the compiled program runs; an exception raised by `action` reaches the
        # caller as a JaxRuntimeError whose message carries the original one.
        jax.debug.callback(lambda value: action() if bool(value) else None, flag)
    elif read_bool(flag):
        action()
    return outputs


def read_bool(flag: Any) -> bool:
    return bool(jax.device_get(flag))  # explicit: allowed under transfer_guard("disallow")


def to_device(host: Any, like: Any, dtype: Any) -> Any:
    host = np.asarray(host, dtype=np.dtype(dtype))
    if is_traced(like):
        return jnp.asarray(host)  # a constant of the traced program
    return jax.device_put(host, like.sharding)


def from_host(host: Any, like: Any) -> Any:
    host = np.asarray(host)
    if is_traced(like):
        return jnp.asarray(host)  # a constant of the traced program
    return jax.device_put(host, like.sharding)


# array-api-compat caches a namespace per array type; its first lookup for JAX's array type
# creates an empty JAX array (an implicit transfer of its fill value).  Look it up once here,
# with that one transfer allowed explicitly, so a caller's transfer guard never sees it.
import array_api_compat  # noqa: E402

with jax.transfer_guard("allow"):
    array_api_compat.array_namespace(jax.device_put(np.empty(0)))

CAPABILITIES = _GENERIC.replace(
    name="jax",
    segment_sums=segment_sums,
    map_row_chunks=map_row_chunks,
    fori_loop=lax.fori_loop,
    while_loop=lax.while_loop,
    cond=lax.cond,
    compiled=compiled,
    checked=checked,
    read_bool=read_bool,
    to_device=to_device,
    from_host=from_host,
    is_traced=is_traced,
    nearest_index=nearest_index,
    # Score blocks of about 1 MiB stay in cache; XLA's CPU kernels gain about 2x from it.
    block_bytes=2**20,
)
