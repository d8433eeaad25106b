"""Dask case: data larger than a worker, on a distributed cluster.

Two worker processes with a 400 MiB memory limit each; X = 12,500,000 x 16 float32 (800 MB,
twice the cluster's memory) generated block by block with ``da.random`` (never held
whole); ``kmeans2(X, C0, iter=3, minit='matrix')`` with k=64 must finish with finite
centroids and no worker killed.  If dask-ml is installed, its KMeans runs on the same data
for comparison (3 iterations from the same C0).

    python benchmarks/dask_distributed.py [--rows 12500000] [--rows-per-block 500000]
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import time
import warnings

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=12_500_000)
    parser.add_argument("--rows-per-block", type=int, default=250_000)
    parser.add_argument("--k", type=int, default=64)
    parser.add_argument("--memory-limit", default="400MiB")
    parser.add_argument("--dask-ml-timeout", type=int, default=180)
    args = parser.parse_args()

    import dask.array as da
    import distributed

    import xpcluster
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
        if importlib.util.find_spec("dask_ml"):
            _run_dask_ml(x, np.asarray(c0.compute()), args.k, args.dask_ml_timeout)
        else:
            print("dask-ml: not installed")


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
