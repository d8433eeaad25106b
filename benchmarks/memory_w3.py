"""W3 memory case: peak RSS of kmeans2 on n=2,000,000, d=16, k=1000, float32, 2 iterations.

A full n-by-k float32 distance matrix would be 8 GB; the target is a peak RSS under 1.5 GB
for the whole process (data included).  Each measurement runs in a fresh child process so
that ``ru_maxrss`` belongs to it alone.

    python benchmarks/memory_w3.py [--n N] [--budget-mib B]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

CHILD = r"""
import json, resource, sys, time
import numpy as np
import xpcluster
from xpcluster.vq import kmeans2

n, d, k, budget = (int(v) for v in sys.argv[1:5])
rng = np.random.default_rng(0)
x = rng.standard_normal((n, d), dtype=np.float32)
book = x[rng.choice(n, size=k, replace=False)].copy()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with xpcluster.array_api_dispatch(True), xpcluster.memory_budget(budget):
    start = time.perf_counter()
    centroids, labels = kmeans2(x, book, iter=2, minit="matrix", missing="warn")
    elapsed = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
assert np.isfinite(centroids).all() and labels.shape == (n,)
print(json.dumps({"rss_before_kib": before, "peak_rss_kib": peak, "seconds": elapsed}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2_000_000)
    parser.add_argument("--d", type=int, default=16)
    parser.add_argument("--k", type=int, default=1000)
    parser.add_argument("--budget-mib", type=int, default=None, help="default: the library's default budget")
    args = parser.parse_args()
    env = dict(os.environ, XPCLUSTER_ARRAY_API="1")
    if args.budget_mib is None:
        from xpcluster._core.chunks import DEFAULT_MEMORY_BUDGET_BYTES

        args.budget_mib = DEFAULT_MEMORY_BUDGET_BYTES // 2**20
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(args.n), str(args.d), str(args.k), str(args.budget_mib * 2**20)],
        capture_output=True, text=True, env=env, check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    full_matrix_gb = args.n * args.k * 4 / 1e9
    peak_gb = result["peak_rss_kib"] * 1024 / 1e9
    print(f"W3 memory: n={args.n:,} d={args.d} k={args.k} float32, 2 iterations, budget {args.budget_mib} MiB")
    print(f"  machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d')}")
    print(f"  RSS after making the data: {result['rss_before_kib'] * 1024 / 1e9:.3f} GB")
    print(f"  peak RSS: {peak_gb:.3f} GB (target < 1.5 GB; a full distance matrix alone is {full_matrix_gb:.1f} GB)")
    print(f"  time: {result['seconds']:.2f} s for 2 iterations")
    sys.exit(0 if peak_gb < 1.5 else 1)


if __name__ == "__main__":
    main()
