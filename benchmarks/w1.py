"""W1: n=200,000, d=32, k=64, float32, 20 Lloyd iterations from one fixed codebook.

Every contender starts from the same codebook and runs exactly 20 iterations (tol=0,
n_init=1).  Each is warmed up once (imports, first BLAS calls, JAX compilation), then the
best of ``--repeat`` runs is kept; all contenders are measured in the same process, one
after the other, so their ratios are comparable on a noisy machine.

    python benchmarks/w1.py [--repeat 5]
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import time
import warnings

import numpy as np

N, D, K, ITERATIONS = 200_000, 32, 64, 20


def best_of(run, repeat):
    run()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def contenders(x, c0):
    import xpcluster
    from xpcluster.vq import kmeans2

    def ours(xs, cs, sync=lambda r: r):
        def run():
            with xpcluster.array_api_dispatch():
                sync(kmeans2(xs, cs, iter=ITERATIONS, minit="matrix", missing="warn"))
        return run

    yield "GEMM floor (X @ C.T per iteration, NumPy)", lambda: [x @ c0.T for _ in range(ITERATIONS)]
    if importlib.util.find_spec("sklearn"):
        from sklearn.cluster import KMeans

        yield "scikit-learn KMeans (lloyd)", lambda: KMeans(
            K, init=c0, n_init=1, max_iter=ITERATIONS, tol=0, algorithm="lloyd"
        ).fit(x)
    if importlib.util.find_spec("scipy"):
        import scipy.cluster.vq

        yield "scipy.cluster.vq.kmeans2", lambda: scipy.cluster.vq.kmeans2(x, c0, iter=ITERATIONS, minit="matrix")
    yield "xpcluster numpy", ours(x, c0)
    if importlib.util.find_spec("torch"):
        import torch

        yield "xpcluster torch cpu", ours(torch.asarray(x), torch.asarray(c0))
    if importlib.util.find_spec("jax"):
        import jax
        import jax.numpy as jnp

        cpu = jax.devices("cpu")[0]
        yield "xpcluster jax cpu", ours(jax.device_put(x, cpu), jax.device_put(c0, cpu), jax.block_until_ready)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, D), dtype=np.float32)
    c0 = x[rng.choice(N, K, replace=False)].copy()
    results = {name: best_of(run, args.repeat) for name, run in contenders(x, c0)}
    reference = results.get("scikit-learn KMeans (lloyd)")
    floor = results["GEMM floor (X @ C.T per iteration, NumPy)"]
    print(f"W1: n={N:,} d={D} k={K} float32, {ITERATIONS} iterations, best of {args.repeat}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d %H:%M')}")
    print(f"{'contender':44s} {'seconds':>8s} {'vs sklearn':>11s} {'vs floor':>9s}")
    for name, seconds in results.items():
        vs_sklearn = f"{seconds / reference:.2f}x" if reference else "-"
        print(f"{name:44s} {seconds:8.3f} {vs_sklearn:>11s} {seconds / floor:8.2f}x")


if __name__ == "__main__":
    main()
