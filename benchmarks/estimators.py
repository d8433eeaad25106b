"""Estimators with default settings (issue 15, item 2): xpcluster and scikit-learn side by side.

Jobs, each on NumPy (float64), PyTorch CPU (float64 tensors) and JAX CPU (float64, x64 on),
every one against scikit-learn on the same float64 NumPy data in the same process:

* ``KMeans(k, random_state=0)``: k-means++ with ``n_init='auto'`` (one run);
* ``KMeans(k, n_init=10, random_state=0)``;
* ``BisectingKMeans(k, random_state=0)``;
* ``MiniBatchKMeans(k, random_state=0)``;

on three data sets: ``blobs`` (``make_blobs``, 100,000 x 20, 8 centres, seed 0), ``noise``
(standard Gaussian noise, 100,000 x 20, seed 0) and ``digits`` (scikit-learn's 1,797 x 64
digits, k=10; small data, where per-call overhead shows).  k is 8 on blobs and noise.

Each pair is warmed up once (compiles JAX's programs for these shapes: later fits reuse
them), then timed in alternation, ``--repeats`` times; reported are the best-of times, the
ratio of the best-of times (xpcluster / scikit-learn, target <= 1.0), the ratio of the
medians, both ``n_iter_`` (KMeans, MiniBatchKMeans) and the relative difference of the
inertias (the data and seeds are the same; NumPy input reproduces scikit-learn's k-means++
choices, while BisectingKMeans and MiniBatchKMeans draw differently, so their iteration
counts -- and times -- may differ for that reason alone).

    python benchmarks/estimators.py [--quick] [--repeats R] [--backends numpy,torch,jax]
                                    [--datasets blobs,noise,digits] [--out DIR]

``--quick``: noise and blobs at 20,000 rows, 3 repeats.  Prints the report and records it in
``OUT/benchmarks.json`` (key ``"estimators"``) and ``OUT/benchmarks.md`` (the section
between ``<!-- estimators:begin -->`` / ``<!-- estimators:end -->``, replaced on every run;
appended when missing).
"""
from __future__ import annotations

import argparse
import os
import pathlib
import runpy
import platform
import statistics
import time
import warnings
from typing import Any, Callable

import numpy as np

# xpcluster reads this at call time; set before it is imported.
os.environ["XPCLUSTER_ARRAY_API"] = "1"

HERE = pathlib.Path(__file__).resolve().parent
BACKENDS = ("numpy", "torch", "jax")
DATASETS = ("blobs", "noise", "digits")
ESTIMATORS = ("KMeans auto", "KMeans n_init=10", "BisectingKMeans", "MiniBatchKMeans")


def dataset(name: str, rows: int) -> tuple[np.ndarray, int]:
    """The float64 data and its k."""
    if name == "digits":
        from sklearn.datasets import load_digits

        return np.asarray(load_digits().data, dtype=np.float64), 10
    if name == "blobs":
        from sklearn.datasets import make_blobs

        x, _ = make_blobs(n_samples=rows, n_features=20, centers=8, random_state=0)
        return np.asarray(x, dtype=np.float64), 8
    return np.random.default_rng(0).standard_normal((rows, 20)), 8


def on_backend(x: np.ndarray, backend: str) -> Any:
    if backend == "torch":
        import torch

        return torch.asarray(x)
    if backend == "jax":
        import jax

        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp

        return jnp.asarray(x)
    return x


def available(backend: str) -> bool:
    try:
        on_backend(np.zeros((1, 1)), backend)
    except ImportError:
        return False
    return True


def make(library: str, estimator: str, k: int) -> Any:
    if library == "sklearn":
        import sklearn.cluster as module
    else:
        import xpcluster.cluster as module
    if estimator == "KMeans auto":
        return module.KMeans(n_clusters=k, random_state=0)
    if estimator == "KMeans n_init=10":
        return module.KMeans(n_clusters=k, n_init=10, random_state=0)
    if estimator == "BisectingKMeans":
        return module.BisectingKMeans(n_clusters=k, random_state=0)
    return module.MiniBatchKMeans(n_clusters=k, random_state=0)


def finish(model: Any) -> Any:
    """Wait for the fitted arrays (JAX dispatches asynchronously)."""
    centres = model.cluster_centers_
    if hasattr(centres, "block_until_ready"):
        centres.block_until_ready()
    return model


def compare(fit_sklearn: Callable[[], Any], fit_ours: Callable[[], Any], repeats: int) -> dict[str, Any]:
    ours, theirs = finish(fit_ours()), fit_sklearn()  # warm-up (JAX compiles here)
    ts, tx = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        theirs = fit_sklearn()
        ts.append(time.perf_counter() - start)
        start = time.perf_counter()
        ours = finish(fit_ours())
        tx.append(time.perf_counter() - start)
    return {
        "sklearn_s": min(ts), "xpcluster_s": min(tx),
        "ratio": min(tx) / min(ts), "median_ratio": statistics.median(tx) / statistics.median(ts),
        "sklearn_n_iter": getattr(theirs, "n_iter_", None), "xpcluster_n_iter": getattr(ours, "n_iter_", None),
        "inertia_rel_diff": (float(ours.inertia_) - float(theirs.inertia_)) / float(theirs.inertia_),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    rows = 20_000 if args.quick else 100_000
    repeats = args.repeats or (3 if args.quick else 7)
    results: list[dict[str, Any]] = []
    backends = [b for b in args.backends.split(",") if b]
    for name in [d for d in args.datasets.split(",") if d]:
        x, k = dataset(name, rows)
        for backend in backends:
            if not available(backend):
                print(f"{backend}: not installed, skipped")
                continue
            data = on_backend(x, backend)
            for estimator in ESTIMATORS:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # ConvergenceWarning on duplicates, etc.
                    entry = compare(lambda: make("sklearn", estimator, k).fit(x),
                                    lambda: make("xpcluster", estimator, k).fit(data), repeats)
                entry.update(dataset=name, shape=list(x.shape), k=k, backend=backend, estimator=estimator)
                results.append(entry)
                print(line(entry), flush=True)
    return {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs ({platform.python_version()})",
        "repeats": repeats, "quick": bool(args.quick), "results": results,
    }


def line(e: dict[str, Any]) -> str:
    iters = ""
    if e["sklearn_n_iter"] is not None:
        iters = f" n_iter {e['sklearn_n_iter']}/{e['xpcluster_n_iter']}"
    return (f"{e['dataset']:7s} {e['backend']:6s} {e['estimator']:17s} sklearn {e['sklearn_s'] * 1e3:9.1f} ms  "
            f"xpcluster {e['xpcluster_s'] * 1e3:9.1f} ms  ratio {e['ratio']:.2f} (medians {e['median_ratio']:.2f})"
            f"{iters}")


def report(result: dict[str, Any]) -> list[str]:
    lines = [
        "## Estimators with default settings vs scikit-learn",
        "",
        f"Machine: {result['machine']}; best of {result['repeats']} alternating fits after a warm-up, "
        "in one process" + (" (`--quick`: 20,000-row blobs and noise)" if result["quick"] else "") + ".",
        "Ratio = xpcluster / scikit-learn (lower is better; target <= 1.0). n_iter: scikit-learn / xpcluster.",
        "",
        "| data | backend | estimator | scikit-learn ms | xpcluster ms | ratio (best) | ratio (medians) | n_iter | inertia rel. diff |",
        "|---|---|---|---:|---:|---:|---:|---|---:|",
    ]
    for e in result["results"]:
        iters = "" if e["sklearn_n_iter"] is None else f"{e['sklearn_n_iter']} / {e['xpcluster_n_iter']}"
        lines.append(
            f"| {e['dataset']} {e['shape'][0]}x{e['shape'][1]} k={e['k']} | {e['backend']} | {e['estimator']} | "
            f"{e['sklearn_s'] * 1e3:.1f} | {e['xpcluster_s'] * 1e3:.1f} | {e['ratio']:.2f} | {e['median_ratio']:.2f} | "
            f"{iters} | {e['inertia_rel_diff']:+.1e} |"
        )
    lines += [
        "",
        "BisectingKMeans and MiniBatchKMeans draw their random starts differently from scikit-learn, so their "
        "iteration counts (and times) can differ for that reason alone; KMeans on NumPy makes scikit-learn's "
        "k-means++ choices.",
    ]
    return lines


def record(result: dict[str, Any], section: list[str], out: pathlib.Path) -> None:
    """Merge into OUT/benchmarks.json and OUT/benchmarks.md, which suite.py regenerates."""
    # benchmarks/_record.py by its path: this folder stays off sys.path (its sparse.py
    # would shadow the package Dask imports).
    runpy.run_path(str(HERE / "_record.py"))["record"]("estimators", result, section, out, key="estimators")



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000-row blobs and noise, 3 repeats")
    parser.add_argument("--repeats", type=int, default=0, help="timed fits per contender (default 7, quick 3)")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--out", default=str(HERE.parent / "docs"))
    args = parser.parse_args()
    result = run(args)
    section = report(result)
    print("\n".join(section))
    record(result, section, pathlib.Path(args.out))


if __name__ == "__main__":
    main()
