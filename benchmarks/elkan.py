"""Exact accelerated k-means (issue 16): time to the converged answer, and how much it prunes.

Two jobs, each run to convergence (``tol=1e-4``, ``max_iter=300``, ``n_init=1``) from the
same k-means++ start (scikit-learn's ``kmeans_plusplus``, seed 0):

* **mixture**: ``ROWS x 32`` float32 (default 500,000) drawn from 256 Gaussians with
  per-component spreads (0.5-2.0) around centres uniform in [-10, 10]^32, plus 5 % of the
  rows uniform noise over the box; k=256;
* **digits**: scikit-learn's digits (1,797 x 64, float64) replicated 20 times with a
  jitter of 1e-3 (35,940 rows); k=10.

Contenders, alternated in one process, ``--repeats`` times (median kept): xpcluster's
``KMeans`` with ``algorithm='lloyd'`` and ``'elkan'`` (the bounded loop) on NumPy,
PyTorch CPU and JAX (x64 on, so digits stays float64; a warm-up fit compiles first and
its time is reported apart), scikit-learn's ``lloyd`` and ``elkan``.  Every xpcluster ``elkan`` fit is
checked to equal its ``lloyd`` fit (labels, centres, ``n_iter_``).  The targets: xpcluster
``elkan`` <= 0.5x scikit-learn's ``lloyd`` and <= 1.0x its ``elkan``.  The fraction of
rows whose distances were computed in each iteration (the rest skipped by the bounds) is
plotted to ``OUT/elkan_pruning.png``.

    python benchmarks/elkan.py [--rows N] [--repeats R] [--backends numpy,torch,jax] [--quick] [--out DIR]

Prints the report and records it in ``OUT/benchmarks.json`` (key ``"elkan"``) and
``OUT/benchmarks.md`` (between ``<!-- elkan:begin -->`` / ``<!-- elkan:end -->``).
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import pathlib
import platform
import statistics
import sys
import time
import warnings
from typing import Any

import numpy as np

os.environ["XPCLUSTER_ARRAY_API"] = "1"
os.environ.setdefault("JAX_ENABLE_X64", "1")

HERE = pathlib.Path(__file__).resolve().parent
# This folder holds sparse.py, which would shadow the 'sparse' package Dask imports: off
# the path, and _record.py loaded by its path.
sys.path[:] = [p for p in sys.path if pathlib.Path(p or ".").resolve() != HERE]
_spec = importlib.util.spec_from_file_location("_benchmark_record", HERE / "_record.py")
_record = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_record)
record = _record.record


def mixture(rows: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    components, cols = 256, 32
    centres = rng.uniform(-10, 10, size=(components, cols))
    spreads = rng.uniform(0.5, 2.0, size=components)
    which = rng.integers(0, components, size=rows)
    x = centres[which] + spreads[which, None] * rng.normal(size=(rows, cols))
    noisy = rng.random(rows) < 0.05
    x[noisy] = rng.uniform(-10, 10, size=(int(noisy.sum()), cols))
    return x.astype(np.float32)


def digits(copies: int = 20, seed: int = 0) -> np.ndarray:
    from sklearn.datasets import load_digits

    base = load_digits().data
    rng = np.random.default_rng(seed)
    return np.concatenate([base + 1e-3 * rng.normal(size=base.shape) for _ in range(copies)])


def run_job(name: str, x: np.ndarray, k: int, backends: list[str], repeats: int) -> dict[str, Any]:
    import xpcluster._core.bounds as bounds
    import xpcluster.cluster._kmeans as kmeans_module
    from sklearn.cluster import KMeans as SkKMeans
    from sklearn.cluster import kmeans_plusplus

    from xpcluster.cluster import KMeans

    start, _ = kmeans_plusplus(x, k, random_state=0)
    inputs = {"numpy": (x, start)}
    if "torch" in backends:
        import torch

        inputs["torch"] = (torch.asarray(x), torch.asarray(start))
    if "jax" in backends:
        import jax.numpy as jnp

        inputs["jax"] = (jnp.asarray(x), jnp.asarray(start))
    fraction_log: list[float] = []
    original = bounds.bounded_lloyd

    def ours(backend: str, algorithm: str):
        data, init = inputs[backend]
        fraction_log.clear()
        kmeans_module.bounded_lloyd = lambda *a, **kw: original(*a, **{**kw, "stats": fraction_log})
        try:
            return KMeans(k, init=init, n_init=1, tol=1e-4, algorithm=algorithm).fit(data)
        finally:
            kmeans_module.bounded_lloyd = original

    def theirs(algorithm: str):
        return SkKMeans(k, init=start, n_init=1, tol=1e-4, algorithm=algorithm).fit(x)

    contenders = {"sklearn lloyd": lambda: theirs("lloyd"), "sklearn elkan": lambda: theirs("elkan")}
    for b in backends:
        contenders[f"{b} lloyd"] = functools_partial(ours, b, "lloyd")
        contenders[f"{b} elkan"] = functools_partial(ours, b, "elkan")
    times: dict[str, list[float]] = {c: [] for c in contenders}
    fits: dict[str, Any] = {}
    pruning: list[float] = []
    first: dict[str, float] = {}
    for c, f in contenders.items():  # warm-up (and the fits to compare); JAX compiles here
        t = time.perf_counter()
        fits[c] = f()
        first[c] = time.perf_counter() - t
        if c == f"{backends[0]} elkan":
            pruning = list(fraction_log)
    for _ in range(repeats):
        for c, f in contenders.items():
            t = time.perf_counter()
            f()
            times[c].append(time.perf_counter() - t)
    for b in backends:
        a, e = fits[f"{b} lloyd"], fits[f"{b} elkan"]
        same = (np.array_equal(np.asarray(a.labels_), np.asarray(e.labels_))
                and np.array_equal(np.asarray(a.cluster_centers_), np.asarray(e.cluster_centers_))
                and a.n_iter_ == e.n_iter_)
        if not same:
            raise SystemExit(f"{name}: {b} elkan differs from its lloyd fit")
    median = {c: statistics.median(v) for c, v in times.items()}
    return {
        "name": name, "n": int(x.shape[0]), "d": int(x.shape[1]), "k": k, "dtype": str(x.dtype),
        "repeats": repeats, "seconds": median, "first_call_seconds": first,
        "n_iter": {c: int(f.n_iter_) for c, f in fits.items()},
        "scored_fraction": pruning,
    }


def functools_partial(fn, *args):
    return lambda: fn(*args)


def plot(results: list[dict[str, Any]], path: pathlib.Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for r in results:
        fractions = r["scored_fraction"]
        ax.plot(range(1, len(fractions) + 1), [1 - f for f in fractions], marker=".",
                label=f"{r['name']} ({r['n']:,} x {r['d']}, k={r['k']})")
    ax.set_xlabel("iteration")
    ax.set_ylabel("rows skipped (no distance computed)")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("algorithm='elkan': distance computations skipped by the bounds")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backends", default="numpy,torch,jax")
    parser.add_argument("--quick", action="store_true", help="100,000 rows, 1 repeat")
    parser.add_argument("--out", default=str(HERE.parent / "docs"))
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    rows, repeats = (100_000, 1) if args.quick else (args.rows, args.repeats)
    backends = [b for b in args.backends.split(",") if b]
    results = [run_job("mixture", mixture(rows), 256, backends, repeats),
               run_job("digits x20", digits(), 10, backends, repeats)]
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plotted = plot(results, out / "elkan_pruning.png")
    lines = ["## Exact accelerated k-means (`algorithm='elkan'`)", "",
             f"Time to the converged answer (tol=1e-4) from the same k-means++ start, median of {repeats} "
             f"alternating runs; {platform.machine()}, {os.cpu_count()} CPUs "
             "(`python benchmarks/elkan.py`). xpcluster's `elkan` is checked to equal its `lloyd` "
             "(labels, centres, iterations).", ""]
    for r in results:
        s = r["seconds"]
        lines += [f"**{r['name']}**: {r['n']:,} x {r['d']} {r['dtype']}, k={r['k']}, "
                  f"{r['n_iter']['sklearn lloyd']} iterations (scikit-learn), {r['n_iter'][backends[0] + ' lloyd']} (xpcluster).", "",
                  "| contender | seconds | vs sklearn lloyd | vs sklearn elkan |", "|---|---:|---:|---:|"]
        for c, t in s.items():
            lines.append(f"| {c} | {t:.3f} | {t / s['sklearn lloyd']:.2f}x | {t / s['sklearn elkan']:.2f}x |")
        if "jax elkan" in s:
            compile_s = {a: r["first_call_seconds"][f"jax {a}"] - s[f"jax {a}"] for a in ("lloyd", "elkan")}
            lines += ["", f"JAX's first call compiles (its time less the median run's): lloyd "
                      f"{compile_s['lloyd']:.1f} s, elkan {compile_s['elkan']:.1f} s."]
        fractions = r["scored_fraction"]
        later = fractions[2:] or fractions
        lines += ["", f"Rows scored per iteration ({backends[0]}): first {fractions[0]:.0%}, then median "
                  f"{statistics.median(later):.1%} (so {1 - statistics.median(later):.1%} of the distance "
                  f"computations skipped)."]
        if statistics.median(later) >= 0.99:
            lines += ["Most rows failed their bounds in the first iterations, and the loop gave the bounds "
                      "up for Lloyd's own iterations (the same answer): with few centres a bounded pass "
                      "saves little of Lloyd's product and adds its bookkeeping."]
        lines.append("")
    if plotted:
        lines += ["![pruning](elkan_pruning.png)", ""]
    print("\n".join(lines))
    record("elkan", {"jobs": results}, lines, out)


if __name__ == "__main__":
    main()
