"""Dask without the per-iteration tax (issue 15): in-memory Dask against NumPy and scikit-learn.

Three measurements, each contender timed in this one process, alternating, best of the
repeats after a warm-up:

* **W1** (200,000 x 32 float32, k=64, 20 iterations from a fixed codebook):
  scikit-learn's ``KMeans(init=C0, n_init=1, max_iter=20, tol=0)``, xpcluster's
  ``kmeans2(X, C0, iter=20, minit='matrix')`` on NumPy and on an in-memory Dask array of
  4 row blocks (threads scheduler, the graph built and computed), and the same Dask call
  with the per-block graph that data beyond ``xpcluster.gather-bytes`` gets.  Target:
  Dask <= 1.5x scikit-learn.
* **KMeans.fit at 20,000 rows** (20,000 x 16 float64 without clusters, k=8, k-means++,
  n_init=1, default tol and max_iter): NumPy against Dask (4 blocks), with the number of
  Dask computes and the Lloyd iterations; also the per-block graph.  Target: Dask within 3x
  NumPy.  (Before: ~0.46 s an iteration and a compute per iteration on Dask.)
* **The choose-K example** (``docs/examples/choose_k_wine.py``: elbow, silhouette and gap
  statistic on the 178 wines, K up to 8, then one fit): wall time of the whole script on
  NumPy and on Dask, each in a fresh process.  Target: Dask under 30 s.

The larger-than-memory case (a fit's time against its passes' reading time on a
distributed cluster) is ``benchmarks/dask_distributed.py``.

    python benchmarks/dask_fit.py [--repeats 3] [--quick] [--out docs]

Prints the report and records it in ``OUT/benchmarks.json`` (key ``"dask_fit"``) and in
``OUT/benchmarks.md`` (between ``<!-- dask-fit:begin -->`` / ``<!-- dask-fit:end -->``,
replaced on every run; appended when missing).
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import pathlib
import runpy
import subprocess
import sys
import tempfile
import time
import warnings
from typing import Any, Callable

HERE = pathlib.Path(__file__).resolve().parent
# This folder holds sparse.py, which would shadow the 'sparse' package Dask imports.
sys.path[:] = [p for p in sys.path if pathlib.Path(p or ".").resolve() != HERE]

import numpy as np  # noqa: E402



def _suite() -> Any:
    spec = importlib.util.spec_from_file_location("_suite", HERE / "suite.py")
    suite = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(suite)
    return suite


def environment() -> dict[str, Any]:
    return _suite().environment()


def timed(runs: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Best seconds of each run: one warm-up each, then the runs in turn, ``repeats`` times."""
    for run in runs.values():
        run()
    best = {name: float("inf") for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


class ComputeCounter:
    """The threads scheduler, counting the computes it is asked for."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, dsk: Any, keys: Any, **kwargs: Any) -> Any:
        import dask.threaded

        self.count += 1
        return dask.threaded.get(dsk, keys, **kwargs)


def w1(repeats: int) -> dict[str, Any]:
    import dask
    import dask.array as da
    from sklearn.cluster import KMeans as SKLearnKMeans

    import xpcluster
    from xpcluster.vq import kmeans2

    n, d, k, iterations = 200_000, 32, 64, 20
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, d), dtype=np.float32)
    c0 = x[rng.choice(n, k, replace=False)].copy()
    xd = da.from_array(x, chunks=(n // 4, d))
    cd = da.from_array(c0)

    def sklearn_run() -> np.ndarray:
        return SKLearnKMeans(k, init=c0, n_init=1, max_iter=iterations, tol=0, algorithm="lloyd").fit(x).cluster_centers_

    def numpy_run() -> np.ndarray:
        with xpcluster.array_api_dispatch():
            return kmeans2(x, c0, iter=iterations, minit="matrix", missing="warn")[0]

    def dask_run(settings: dict[str, Any]) -> Callable[[], np.ndarray]:
        def run() -> np.ndarray:
            with xpcluster.array_api_dispatch(), dask.config.set({"scheduler": "threads", **settings}):
                centres, _ = kmeans2(xd, cd, iter=iterations, minit="matrix", missing="warn")
                return np.asarray(centres.compute())
        return run

    runs = {
        "scikit-learn KMeans (lloyd)": sklearn_run,
        "xpcluster kmeans2, NumPy": numpy_run,
        "xpcluster kmeans2, Dask (4 blocks, threads)": dask_run({}),
        "xpcluster kmeans2, Dask per-block graph (gather-bytes 0)": dask_run({"xpcluster.gather-bytes": 0}),
    }
    seconds = timed(runs, repeats)
    inertia = _suite().inertia  # of the final centres, in float64: the same work done
    inertias = {name: inertia(x, np.asarray(run())) for name, run in runs.items()}
    reference = inertias["scikit-learn KMeans (lloyd)"]
    with xpcluster.array_api_dispatch(), dask.config.set(scheduler="threads"):
        start = time.perf_counter()
        lazy, _ = kmeans2(xd, cd, iter=iterations, minit="matrix", missing="warn")
        built = time.perf_counter() - start
        tasks = len(dict(lazy.__dask_graph__()))
    rows = [{"contender": name, "seconds": s, "vs_sklearn": s / seconds["scikit-learn KMeans (lloyd)"],
             "inertia_vs_sklearn": inertias[name] / reference - 1}
            for name, s in seconds.items()]
    return {"n": n, "d": d, "k": k, "iterations": iterations, "repeats": repeats, "rows": rows,
            "dask_graph_tasks": tasks, "dask_graph_build_seconds": built}


def fit_20k(repeats: int) -> dict[str, Any]:
    import dask
    import dask.array as da

    import xpcluster
    from xpcluster.cluster import KMeans

    n, d, k = 20_000, 16, 8
    x = np.random.default_rng(0).standard_normal((n, d))
    xd = da.from_array(x, chunks=(n // 4, d))
    fitted: dict[str, Any] = {}

    def fit(data: Any, name: str, settings: dict[str, Any] | None = None) -> Callable[[], Any]:
        def run() -> Any:
            with xpcluster.array_api_dispatch(), dask.config.set(settings or {}):
                fitted[name] = KMeans(k, random_state=0, n_init=1).fit(data)
            return fitted[name]
        return run

    runs = {
        "NumPy": fit(x, "NumPy"),
        "Dask (4 blocks, threads)": fit(xd, "Dask (4 blocks, threads)", {"scheduler": "threads"}),
    }
    seconds = timed(runs, repeats)
    counts = {}
    for name, settings in (("Dask (4 blocks, threads)", {}), ("Dask per-block graph (gather-bytes 0)",
                                                              {"xpcluster.gather-bytes": 0})):
        counter = ComputeCounter()
        with xpcluster.array_api_dispatch(), dask.config.set({"scheduler": counter, **settings}):
            start = time.perf_counter()
            model = KMeans(k, random_state=0, n_init=1).fit(xd)
            elapsed = time.perf_counter() - start
        counts[name] = {"computes": counter.count, "n_iter": model.n_iter_, "seconds": elapsed}
    numpy_model = fitted["NumPy"]
    dask_model = fitted["Dask (4 blocks, threads)"]
    same = bool(np.array_equal(np.asarray(dask_model.cluster_centers_.compute()), numpy_model.cluster_centers_)
                and np.array_equal(np.asarray(dask_model.labels_.compute()), numpy_model.labels_))
    return {
        "n": n, "d": d, "k": k, "repeats": repeats, "n_iter": numpy_model.n_iter_,
        "seconds": seconds, "dask_vs_numpy": seconds["Dask (4 blocks, threads)"] / seconds["NumPy"],
        "computes": counts, "identical_to_numpy": same,
    }


def choose_k_example(quick: bool) -> dict[str, Any]:
    script = HERE.parent / "docs" / "examples" / "choose_k_wine.py"
    result: dict[str, Any] = {}
    for backend in ("numpy", "dask"):
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            done = subprocess.run([sys.executable, str(script), "--backend", backend, "--out", out],
                                  capture_output=True, text=True, timeout=1800, env={**os.environ, "MPLBACKEND": "Agg"})
            elapsed = time.perf_counter() - start
        chosen = [line.strip() for line in done.stdout.splitlines() if "chooses K" in line]
        result[backend] = {"seconds": elapsed, "returncode": done.returncode, "chosen": chosen,
                           "error": done.stderr[-500:] if done.returncode else None}
    return result


def report(result: dict[str, Any]) -> list[str]:
    env = result["environment"]
    w, f, c = result["w1"], result["fit_20k"], result["choose_k"]
    lines = [
        "## Dask without the per-iteration tax (issue 15)",
        "",
        f"`python benchmarks/dask_fit.py` on {env['cores']} cores ({env['cpu']}), {env['date']}; "
        f"Dask {env['versions'].get('dask', '?')}, NumPy {env['versions'].get('numpy', '?')}, "
        f"scikit-learn {env['versions'].get('scikit-learn', '?')}.  Each contender in one process, "
        "alternating, best of the repeats after a warm-up.",
        "",
        f"W1: {w['n']:,} x {w['d']} float32, k={w['k']}, {w['iterations']} iterations from a fixed codebook "
        f"(`minit='matrix'`), best of {w['repeats']}.",
        "",
        "| contender | seconds | vs scikit-learn | inertia vs scikit-learn |",
        "| --- | ---: | ---: | ---: |",
    ]
    for row in w["rows"]:
        lines.append(f"| {row['contender']} | {row['seconds']:.3f} | {row['vs_sklearn']:.2f}x | "
                     f"{row['inertia_vs_sklearn']:+.1e} |")
    lines += [
        "",
        f"The Dask call's graph: {w['dask_graph_tasks']} tasks (any iteration count), built in "
        f"{w['dask_graph_build_seconds'] * 1e3:.0f} ms.",
        "",
        f"KMeans.fit, {f['n']:,} x {f['d']} float64 without clusters, k={f['k']}, k-means++, n_init=1 "
        f"({f['n_iter']} Lloyd iterations), best of {f['repeats']}:",
        "",
        "| contender | seconds | computes | vs NumPy |",
        "| --- | ---: | ---: | ---: |",
        f"| NumPy | {f['seconds']['NumPy']:.3f} | | 1.00x |",
        f"| Dask (4 blocks, threads) | {f['seconds']['Dask (4 blocks, threads)']:.3f} | "
        f"{f['computes']['Dask (4 blocks, threads)']['computes']} | {f['dask_vs_numpy']:.2f}x |",
    ]
    per_block = f["computes"]["Dask per-block graph (gather-bytes 0)"]
    lines += [
        f"| Dask per-block graph (gather-bytes 0), one run | {per_block['seconds']:.3f} | {per_block['computes']} | "
        f"{per_block['seconds'] / f['seconds']['NumPy']:.2f}x |",
        "",
        f"Dask's centres and labels equal NumPy's bit for bit: {f['identical_to_numpy']}.",
        "",
        "The choose-K example (`docs/examples/choose_k_wine.py`, whole script in a fresh process, "
        "imports and plots included):",
        "",
        "| backend | seconds | choices |",
        "| --- | ---: | --- |",
    ]
    for backend, row in c.items():
        status = "; ".join(row["chosen"]) if row["returncode"] == 0 else f"failed: {row['error']}"
        lines.append(f"| {backend} | {row['seconds']:.1f} | {status} |")
    lines.append("")
    return lines


def record(result: dict[str, Any], section: list[str], out: pathlib.Path) -> None:
    """Merge into OUT/benchmarks.json and OUT/benchmarks.md, which suite.py regenerates."""
    # benchmarks/_record.py by its path: this folder stays off sys.path (its sparse.py
    # would shadow the package Dask imports).
    runpy.run_path(str(HERE / "_record.py"))["record"]("dask-fit", result, section, out, key="dask_fit")



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one repeat")
    parser.add_argument("--out", default=str(HERE.parent / "docs"))
    args = parser.parse_args()
    os.environ.setdefault("XPCLUSTER_ARRAY_API", "1")
    warnings.simplefilter("ignore")
    repeats = 1 if args.quick else max(1, args.repeats)
    result = {"environment": environment()}
    result["w1"] = w1(repeats)
    result["fit_20k"] = fit_20k(repeats)
    result["choose_k"] = choose_k_example(args.quick)
    section = report(result)
    print("\n".join(section), flush=True)
    record(result, section, pathlib.Path(args.out))
    print(f"wrote {pathlib.Path(args.out) / 'benchmarks.md'} (dask-fit section) and benchmarks.json (\"dask_fit\")")


if __name__ == "__main__":
    main()
