"""Dask case: data larger than a worker, on a distributed cluster.

Two worker processes with a 400 MiB memory limit each; X = 12,500,000 x 16 float32 (800 MB,
twice the cluster's memory) generated block by block with ``da.random`` (never held
whole); ``kmeans2(X, C0, iter=3, minit='matrix')`` with k=64 must finish with finite
centroids and no worker killed.  Then ``KMeans(init=C0, n_init=1, max_iter=3, tol=0).fit(X)``
on the same data: X is larger than the cluster's memory, so it is not persisted and every
pass over it reads (here: generates) it again; the fit's time is compared with its passes'
reading time (one pass: ``X.sum()``, timed alone; target: within 1.5x).  If dask-ml is
installed, its KMeans runs on the same data for comparison (3 iterations from the same C0).

    python benchmarks/dask_distributed.py [--rows 12500000] [--rows-per-block 500000] [--skip-fit]
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import pathlib
import platform
import sys
import time
import warnings

# This folder holds sparse.py, which would shadow the 'sparse' package Dask imports.
sys.path[:] = [p for p in sys.path if pathlib.Path(p or ".").resolve() != pathlib.Path(__file__).resolve().parent]

import numpy as np

import xpcluster


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=12_500_000)
    parser.add_argument("--rows-per-block", type=int, default=250_000)
    parser.add_argument("--k", type=int, default=64)
    parser.add_argument("--memory-limit", default="400MiB")
    parser.add_argument("--dask-ml-timeout", type=int, default=180)
    parser.add_argument("--skip-fit", action="store_true", help="only kmeans2 (and dask-ml)")
    args = parser.parse_args()

    import dask.array as da
    import distributed

    from xpcluster.vq import kmeans2

    d = 16
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, memory_limit=args.memory_limit, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:
        x = da.random.default_rng(0).standard_normal((args.rows, d), chunks=(args.rows_per_block, d), dtype=np.float32)
        c0 = x[: args.k]
        print(f"Dask distributed: X {args.rows:,} x {d} float32 ({x.nbytes / 1e6:.0f} MB) in "
              f"{x.numblocks[0]} blocks; 2 workers x {args.memory_limit}; k={args.k}, 3 iterations")
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
              f"{time.strftime('%Y-%m-%d %H:%M')}")
        start = time.perf_counter()
        with xpcluster.array_api_dispatch():
            centroids, _ = kmeans2(x, c0, iter=3, minit="matrix", missing="warn")
        built = time.perf_counter() - start
        result = client.compute(centroids, sync=True)
        elapsed = time.perf_counter() - start
        workers = client.scheduler_info()["workers"]
        print(f"xpcluster kmeans2: graph built in {built * 1e3:.0f} ms (no compute), "
              f"computed in {elapsed:.1f} s; centroids finite: {bool(np.isfinite(result).all())}; "
              f"workers alive: {len(workers)} of 2")
        if not args.skip_fit:
            _run_fit(client, x, c0, args.k, (elapsed - built) / 3)
        if importlib.util.find_spec("dask_ml"):
            _run_dask_ml(x, np.asarray(c0.compute()), args.k, args.dask_ml_timeout)
        else:
            print("dask-ml: not installed")


def _run_fit(client, x, c0, k, kmeans2_pass):
    """KMeans.fit on data larger than memory: its time against its passes' reading time."""
    from xpcluster.cluster import KMeans

    start = time.perf_counter()
    client.compute(x.sum(), sync=True)
    read = time.perf_counter() - start
    c0_host = np.asarray(client.compute(c0, sync=True))
    with xpcluster.array_api_dispatch():
        start = time.perf_counter()
        model = KMeans(n_clusters=k, init=c0_host, n_init=1, max_iter=3, tol=0).fit(x)
        fit = time.perf_counter() - start
    passes = _passes_of_fit(k, x.shape[1], x.dtype)
    centres = np.asarray(client.compute(model.cluster_centers_, sync=True))
    workers = client.scheduler_info(n_workers=-1)["workers"]
    print(f"xpcluster KMeans.fit: {fit:.1f} s for {model.n_iter_} iterations; one read of X {read:.2f} s; "
          f"{passes:g} passes = {passes * read:.1f} s of reading: {fit / (passes * read):.2f}x its reading time "
          f"(a kmeans2 iteration above, the same pass with the assignment's work: {kmeans2_pass:.1f} s, "
          f"{kmeans2_pass / read:.1f}x a read); "
          f"centres finite: {bool(np.isfinite(centres).all())}; workers alive: {len(workers)} of 2")


def _passes_of_fit(k, d, dtype):
    """How often the same fit reads each block of data it does not persist: counted on a
    small array with the same settings (per-block graph, nothing persisted, one thread)."""
    import dask
    import dask.array as da

    from xpcluster.cluster import KMeans

    produced = []

    def produce(block):
        produced.append(1)
        return block

    data = np.random.default_rng(1).standard_normal((20_000, d)).astype(dtype)
    x = da.from_array(data, chunks=(2_500, d)).map_blocks(produce, dtype=data.dtype)
    with dask.config.set({"xpcluster.gather-bytes": 0, "xpcluster.persist-bytes": 0, "scheduler": "sync"}), \
            xpcluster.array_api_dispatch():
        KMeans(n_clusters=k, init=data[:k], n_init=1, max_iter=3, tol=0).fit(x)
    return len(produced) / x.numblocks[0]


def _run_dask_ml(x, c0, k, timeout):
    """dask-ml's KMeans on the same data and start, given at most ``timeout`` seconds."""
    import concurrent.futures

    from dask_ml.cluster import KMeans

    warnings.simplefilter("ignore")
    start = time.perf_counter()
    fit = lambda: KMeans(n_clusters=k, init=c0, max_iter=3, tol=0).fit(x)  # noqa: E731
    pool = concurrent.futures.ThreadPoolExecutor(1)
    try:
        pool.submit(fit).result(timeout=timeout)
        print(f"dask-ml KMeans: {time.perf_counter() - start:.1f} s")
    except concurrent.futures.TimeoutError:
        print(f"dask-ml KMeans: did not finish in {timeout} s")
    except Exception as exc:  # a contender's failure is a result to report
        print(f"dask-ml KMeans failed after {time.perf_counter() - start:.1f} s: {type(exc).__name__}: {str(exc)[:200]}")
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


if __name__ == "__main__":
    main()
