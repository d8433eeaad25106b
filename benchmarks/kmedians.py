"""KMedians speed (issue 15, item 4): time per iteration of KMedians against KMeans'.

The data: ``ROWS x COLS`` float32 (default 200,000 x 16), Laplace noise around ``K`` centres
drawn with a fixed seed (k-medians' own model; overlapping enough that neither estimator
converges within the timed iterations).  Both estimators get the same job on every
backend (NumPy, PyTorch CPU, JAX CPU; ``--backends`` to choose): ``init`` = the first K
rows, ``n_init=1``, ``tol=0``.

Time per iteration is a difference: ``fit`` with ``max_iter=LONG`` minus ``fit`` with
``max_iter=SHORT``, divided by the difference of their ``n_iter_`` -- so validation, the
k-medians' one sort per feature, the final assignment and a compiler's work cancel out.
Every fit is warmed up first; then the four fits (KMeans short/long, KMedians short/long)
are timed in alternation in one process, ``--repeats`` times, and the median difference of
each estimator is kept.  The ratio KMedians / KMeans per iteration is the target
(<= 3.0).  KMedians' set-up per fit (the sort of every feature) is reported beside it:
``fit(SHORT) - SHORT * per_iteration``.

Unless ``--no-cli`` or ``--quick`` is given, the command-line job is also timed end
to end, in fresh processes alternating the two methods: ``python -m xpcluster.cli fit
DATA.npy -k K -o labels.npy --method kmeans|kmedians`` on a float64 .npy of the same
shape (its defaults: k-means++ / k-medians++ seeding, one init, ``max_iter=300``,
``tol=1e-4``).

    python benchmarks/kmedians.py [--rows N] [--cols D] [--k K] [--short S] [--long L]
                                  [--repeats R] [--backends numpy,torch,jax] [--no-cli]
                                  [--quick] [--out DIR]

Prints the report and records it in ``OUT/benchmarks.json`` (key ``"kmedians"``) and in
``OUT/benchmarks.md`` (a section between ``<!-- kmedians:begin -->`` /
``<!-- kmedians:end -->`` markers, replaced on every run; appended when missing).
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import pathlib
import runpy
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable

import numpy as np

# xpcluster reads this at call time; set before it is imported, here and in the children.
os.environ["XPCLUSTER_ARRAY_API"] = "1"

HERE = pathlib.Path(__file__).resolve().parent
TARGET = 3.0


def laplace_blobs(rows: int, cols: int, k: int, seed: int, dtype: Any) -> np.ndarray:
    """Laplace noise (scale 1) around k centres drawn as N(0, 2^2): clusters that overlap."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=2.0, size=(k, cols))
    return (centres[rng.integers(0, k, size=rows)] + rng.laplace(size=(rows, cols))).astype(dtype)


def namespace_of(backend: str) -> tuple[Callable[[np.ndarray], Any], Callable[[Any], Any]]:
    """``(to_backend, wait)`` for a backend: place a NumPy array, wait for a result."""
    if backend == "numpy":
        return np.asarray, lambda a: a
    if backend == "torch":
        import torch

        return torch.asarray, lambda a: a
    if backend == "jax":
        import jax

        jax.config.update("jax_enable_x64", True)
        return jax.numpy.asarray, jax.block_until_ready
    raise ValueError(f"unknown backend {backend!r}")


def per_iteration(x: Any, c0: Any, backend: str, args: argparse.Namespace) -> dict[str, Any]:
    from xpcluster.cluster import KMeans, KMedians

    _, wait = namespace_of(backend)
    makers = {
        "kmeans": lambda it: KMeans(args.k, init=c0, n_init=1, max_iter=it, tol=0),
        "kmedians": lambda it: KMedians(args.k, init=c0, max_iter=it, tol=0),
    }

    def fit(name: str, it: int) -> tuple[float, int]:
        est = makers[name](it)
        start = time.perf_counter()
        est.fit(x)
        wait(est.cluster_centers_)
        return time.perf_counter() - start, int(est.n_iter_)

    for name in makers:  # warm-up: imports, caches, compiled programs for both lengths
        for it in (args.short, args.long):
            fit(name, it)
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in makers}
    for _ in range(args.repeats):
        for name in makers:
            (t_short, n_short), (t_long, n_long) = fit(name, args.short), fit(name, args.long)
            if (n_short, n_long) != (args.short, args.long):
                raise RuntimeError(f"{name} on {backend} stopped after {n_short}/{n_long} of {args.short}/{args.long} "
                                   "iterations (converged): use more rows or a smaller --long")
            samples[name].append({"short_s": t_short, "long_s": t_long, "n_short": n_short, "n_long": n_long,
                                  "per_iter_s": (t_long - t_short) / (n_long - n_short)})
    out: dict[str, Any] = {}
    for name, runs in samples.items():
        per = statistics.median(r["per_iter_s"] for r in runs)
        short = statistics.median(r["short_s"] for r in runs)
        out[name] = {"per_iteration_s": per, "all_per_iteration_s": [r["per_iter_s"] for r in runs],
                     "fit_short_s": short, "setup_s": short - runs[0]["n_short"] * per,
                     "n_iter": [runs[0]["n_short"], runs[0]["n_long"]]}
    out["ratio"] = out["kmedians"]["per_iteration_s"] / out["kmeans"]["per_iteration_s"]
    return out


def cli_job(args: argparse.Namespace) -> dict[str, Any]:
    """``xpcluster fit`` end to end, fresh processes, methods alternating."""
    with tempfile.TemporaryDirectory() as tmp:
        data = pathlib.Path(tmp) / "data.npy"
        np.save(data, laplace_blobs(args.rows, args.cols, args.k, args.seed, np.float64))
        times: dict[str, list[float]] = {"kmeans": [], "kmedians": []}
        for _ in range(args.cli_repeats):
            for method in times:
                command = [sys.executable, "-m", "xpcluster.cli", "fit", str(data), "-k", str(args.k),
                           "-o", str(pathlib.Path(tmp) / f"{method}.npy"), "--method", method, "-q"]
                start = time.perf_counter()
                subprocess.run(command, check=True, capture_output=True)
                times[method].append(time.perf_counter() - start)
        labels = {m: np.load(pathlib.Path(tmp) / f"{m}.npy") for m in times}
    return {"seconds": {m: min(t) for m, t in times.items()}, "all_seconds": times,
            "clusters_found": {m: int(np.unique(v).size) for m, v in labels.items()}}


def report(result: dict[str, Any]) -> list[str]:
    env = result["environment"]
    lines = [
        "## KMedians per iteration against KMeans (issue 15, item 4)",
        "",
        f"{result['rows']:,} x {result['cols']} float32, k={result['k']}, Laplace blobs, init = first k rows, "
        f"tol=0; per iteration = (fit(max_iter={result['long']}) - fit(max_iter={result['short']})) / "
        f"difference of n_iter_, median of {result['repeats']} alternating repeats in one process after a "
        f"warm-up. Target: KMedians <= {TARGET:g}x KMeans per iteration.",
        "",
        f"Machine: {env.get('cpu')}, {env.get('cores')} cores; load average {result['load_average']} at the start "
        "(a shared machine: ratios are measured side by side, absolute times are noisy).",
        "",
        "| backend | KMeans ms/iter | KMedians ms/iter | ratio | target met | KMedians set-up per fit (s) |",
        "|---|---|---|---|---|---|",
    ]
    for backend, row in result["backends"].items():
        if "error" in row:
            lines.append(f"| {backend} | {row['error']} | | | | |")
            continue
        lines.append(
            f"| {backend} | {row['kmeans']['per_iteration_s'] * 1e3:.1f} | {row['kmedians']['per_iteration_s'] * 1e3:.1f} "
            f"| {row['ratio']:.2f}x | {'yes' if row['ratio'] <= TARGET else 'no'} | {row['kmedians']['setup_s']:.2f} |"
        )
    cli = result.get("cli")
    if cli:
        s = cli["seconds"]
        lines += [
            "",
            f"`xpcluster fit` end to end on {result['rows']:,} x {result['cols']} float64 (.npy), -k {result['k']}, "
            f"defaults (best of {len(cli['all_seconds']['kmeans'])}, fresh processes): --method kmeans "
            f"{s['kmeans']:.1f} s, --method kmedians {s['kmedians']:.1f} s.",
        ]
    lines.append("")
    return lines


def record(result: dict[str, Any], section: list[str], out: pathlib.Path) -> None:
    """Merge into OUT/benchmarks.json and OUT/benchmarks.md, which suite.py regenerates."""
    # benchmarks/_record.py by its path: this folder stays off sys.path (its sparse.py
    # would shadow the package Dask imports).
    runpy.run_path(str(HERE / "_record.py"))["record"]("kmedians", result, section, out, key="kmedians")



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--cols", type=int, default=16)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--short", type=int, default=2, help="max_iter of the shorter fit")
    parser.add_argument("--long", type=int, default=12, help="max_iter of the longer fit")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backends", default="numpy,torch,jax")
    parser.add_argument("--no-cli", action="store_true", help="skip the end-to-end `xpcluster fit` job")
    parser.add_argument("--cli-repeats", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="50,000 rows, 3 repeats, no CLI job")
    parser.add_argument("--out", default=str(HERE.parent / "docs"))
    args = parser.parse_args()
    if args.quick:
        args.rows, args.repeats, args.long, args.no_cli = min(args.rows, 50_000), 3, 8, True
    if args.repeats < 1 or not 1 <= args.short < args.long:
        parser.error("need --repeats >= 1 and 1 <= --short < --long")
    # suite.py loaded by path: benchmarks/ on sys.path would let benchmarks/sparse.py shadow
    # the `sparse` package that Dask looks for.
    spec = importlib.util.spec_from_file_location("_benchmark_suite", HERE / "suite.py")
    suite = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(suite)
    environment = suite.environment

    import xpcluster

    data = laplace_blobs(args.rows, args.cols, args.k, args.seed, np.float32)
    result: dict[str, Any] = {
        "environment": environment(), "rows": args.rows, "cols": args.cols, "k": args.k,
        "short": args.short, "long": args.long, "repeats": args.repeats, "seed": args.seed, "backends": {},
        "load_average": " ".join(f"{v:.1f}" for v in os.getloadavg()),
    }
    for backend in args.backends.split(","):
        try:
            to_backend, _ = namespace_of(backend)
        except ImportError as error:
            result["backends"][backend] = {"error": f"not installed ({error})"}
            continue
        with xpcluster.array_api_dispatch(True):
            result["backends"][backend] = per_iteration(to_backend(data), to_backend(data[: args.k].copy()), backend, args)
        row = result["backends"][backend]
        print(f"kmedians: {backend}: KMeans {row['kmeans']['per_iteration_s'] * 1e3:.1f} ms/iter, KMedians "
              f"{row['kmedians']['per_iteration_s'] * 1e3:.1f} ms/iter, ratio {row['ratio']:.2f}", flush=True)
    if not args.no_cli:
        result["cli"] = cli_job(args)
    section = report(result)
    print("\n".join(section), flush=True)
    record(result, section, pathlib.Path(args.out))
    print(f"wrote {pathlib.Path(args.out) / 'benchmarks.md'} (kmedians section) and benchmarks.json (\"kmedians\")")


if __name__ == "__main__":
    main()
