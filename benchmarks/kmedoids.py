"""KMedoids (issue 15, item 4): ``method='pam'`` against the ``kmedoids`` package's FasterPAM.

The data: Gaussian blobs, ``n`` points in d = 16 dimensions around k = 10 centres (centre
coordinates N(0, 4^2), unit noise), made with a fixed seed; the k starting medoids are drawn
from the same seed, and both contenders start from them.

Contenders, timed in one process, alternating, after a warm-up, median (and best) of the
repeats:

* ``xpcluster pam``: ``KMedoids(k, method='pam', init=start).fit(X)`` on NumPy.  It never
  holds an n-by-n matrix: distances are computed in budget-sized blocks on the fly.
* ``kmedoids.fasterpam + matrix``: scikit-learn's ``euclidean_distances(X)`` (the n-by-n
  float64 matrix the package needs) then ``kmedoids.fasterpam(D, start, n_cpu=1)``; the
  matrix time is reported separately too.
* ``before``: the same fits with the ``_kmedoids.py`` of a git revision (``--before``,
  default ``HEAD``), loaded beside the working tree's, for ``pam`` at the comparison sizes
  and for ``method='alternate'`` (which must stay as fast as it was).

At ``--big`` points (default 50,000, where the matrix would be 20 GB) ``pam`` runs alone,
once, with its ``tracemalloc`` peak.  Objective values (total deviation) of every run are
reported side by side.  Target: ``pam`` <= 1.0x FasterPAM with its matrix at n = 10,000,
and under 30 s at n = 50,000.

    python benchmarks/kmedoids.py [--sizes 5000,10000] [--big 50000] [--k 10] [--d 16]
                                  [--repeats 3] [--seed 0] [--before REV] [--quick] [--out DIR]

Prints the report and records it in ``OUT/benchmarks.json`` (key ``"kmedoids"``) and in
``OUT/benchmarks.md`` (a section between ``<!-- kmedoids:begin -->`` /
``<!-- kmedoids:end -->`` markers, replaced on every run; appended when missing).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pathlib
import runpy
import statistics
import subprocess
import sys
import time
import tracemalloc
from typing import Any, Callable

import numpy as np

os.environ["XPCLUSTER_ARRAY_API"] = "1"

HERE = pathlib.Path(__file__).resolve().parent


def blobs(n: int, d: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(k, d))
    X = centres[rng.integers(0, k, size=n)] + rng.normal(size=(n, d))
    start = rng.choice(n, size=k, replace=False)
    return X, start


def before_module(rev: str) -> Any:
    """The ``KMedoids`` class of ``src/xpcluster/cluster/_kmedoids.py`` at ``rev``, or None."""
    try:
        source = subprocess.run(
            ["git", "show", f"{rev}:src/xpcluster/cluster/_kmedoids.py"], cwd=HERE.parent,
            capture_output=True, text=True, check=True,
        ).stdout
        spec = importlib.util.spec_from_loader("xpcluster.cluster._kmedoids_before", loader=None)
        module = importlib.util.module_from_spec(spec)
        module.__package__ = "xpcluster.cluster"
        exec(compile(source, f"{rev}:_kmedoids.py", "exec"), module.__dict__)
        return module.KMedoids
    except Exception as error:  # the revision's module may not load beside today's package
        print(f"kmedoids: no 'before' ({rev}): {type(error).__name__}: {error}", flush=True)
        return None


def timed(run: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    out = run()
    return time.perf_counter() - started, out


def contenders(X: np.ndarray, start: np.ndarray, k: int, before: Any) -> dict[str, Callable[[], dict]]:
    import kmedoids
    from sklearn.metrics.pairwise import euclidean_distances

    from xpcluster.cluster import KMedoids

    def ours(cls: Any, method: str) -> Callable[[], dict]:
        def run() -> dict:
            km = cls(k, method=method, init=start.copy()).fit(X)
            return {"loss": float(km.inertia_), "passes": int(km.n_iter_)}
        return run

    def theirs() -> dict:
        matrix_s, D = timed(lambda: euclidean_distances(X))
        result = kmedoids.fasterpam(D, start.copy(), max_iter=100, n_cpu=1)
        return {"loss": float(result.loss), "passes": int(result.n_iter), "swaps": int(result.n_swap),
                "matrix_s": matrix_s}

    runs = {"xpcluster pam": ours(KMedoids, "pam"), "kmedoids.fasterpam + matrix": theirs,
            "xpcluster alternate": ours(KMedoids, "alternate")}
    if before is not None:
        runs["before pam"] = ours(before, "pam")
        runs["before alternate"] = ours(before, "alternate")
    return runs


def compare(n: int, args: argparse.Namespace, before: Any) -> dict[str, Any]:
    X, start = blobs(n, args.d, args.k, args.seed)
    runs = contenders(X, start, args.k, before)
    for run in runs.values():  # warm-up
        run()
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    details: dict[str, dict] = {}
    for _ in range(args.repeats):
        for name, run in runs.items():
            s, out = timed(run)
            seconds[name].append(s)
            details[name] = out
    result = {"n": n, "runs": {}}
    for name in runs:
        result["runs"][name] = {"median_s": statistics.median(seconds[name]), "best_s": min(seconds[name]),
                                "all_s": seconds[name], **details[name]}
    r = result["runs"]
    result["pam_vs_fasterpam"] = r["xpcluster pam"]["median_s"] / r["kmedoids.fasterpam + matrix"]["median_s"]
    if before is not None:
        result["pam_vs_before"] = r["xpcluster pam"]["median_s"] / r["before pam"]["median_s"]
        result["alternate_vs_before"] = r["xpcluster alternate"]["median_s"] / r["before alternate"]["median_s"]
    print(json.dumps(result), flush=True)
    return result


def big(n: int, args: argparse.Namespace) -> dict[str, Any]:
    from xpcluster.cluster import KMedoids

    X, start = blobs(n, args.d, args.k, args.seed)
    KMedoids(args.k, method="pam", init=np.arange(args.k), max_iter=1).fit(X[:2000])  # warm-up
    tracemalloc.start()
    try:
        s, km = timed(lambda: KMedoids(args.k, method="pam", init=start.copy()).fit(X))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    result = {"n": n, "seconds": s, "loss": float(km.inertia_), "passes": int(km.n_iter_), "tracemalloc_peak_bytes": peak,
              "matrix_bytes": n * n * 8}
    print(json.dumps(result), flush=True)
    return result


def report(result: dict[str, Any]) -> list[str]:
    env = result["environment"]
    lines = [
        "## KMedoids `pam` vs the `kmedoids` package's FasterPAM (issue 15, item 4)",
        "",
        f"Blobs, d = {result['d']}, k = {result['k']}, seed {result['seed']}; both start from the same k medoids. "
        f"Median (best) of {result['repeats']} alternating repeats in one process after a warm-up; "
        "FasterPAM's time includes scikit-learn's `euclidean_distances` n-by-n matrix (shown apart). "
        f"Before = `_kmedoids.py` at `{result['before']}`."
        + ("" if result.get("before_loaded") else " (not loadable: no before columns)"),
        "",
        f"Machine: {cell(str(env))}",
        "",
        "| n | xpcluster pam s | FasterPAM + matrix s (matrix) | ratio | loss pam / FasterPAM | passes pam / FasterPAM (swaps) |"
        " before pam s (ratio) | alternate s | before alternate s (ratio) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in result["compare"]:
        r = row["runs"]
        ours, theirs, alt = r["xpcluster pam"], r["kmedoids.fasterpam + matrix"], r["xpcluster alternate"]
        bp, ba = r.get("before pam"), r.get("before alternate")
        lines.append(
            f"| {row['n']:,} | {ours['median_s']:.3f} ({ours['best_s']:.3f}) | {theirs['median_s']:.3f} "
            f"({theirs['best_s']:.3f}; {theirs['matrix_s']:.3f}) | **{row['pam_vs_fasterpam']:.2f}x** | "
            f"{ours['loss']:.6g} / {theirs['loss']:.6g} | {ours['passes']} / {theirs['passes']} ({theirs['swaps']}) | "
            + (f"{bp['median_s']:.3f} ({row['pam_vs_before']:.2f}x) | " if bp else "- | ")
            + f"{alt['median_s']:.3f} (loss {alt['loss']:.6g}) | "
            + (f"{ba['median_s']:.3f} ({row['alternate_vs_before']:.2f}x, loss {ba['loss']:.6g}) |" if ba else "- |")
        )
    if result.get("big"):
        b = result["big"]
        lines += [
            "",
            f"n = {b['n']:,} (an n-by-n float64 matrix would be {b['matrix_bytes'] / 2**30:.1f} GiB): `pam` alone, one run, "
            f"**{b['seconds']:.1f} s**, {b['passes']} passes, loss {b['loss']:.6g}, tracemalloc peak "
            f"{b['tracemalloc_peak_bytes'] / 2**20:.1f} MiB (target: under 30 s).",
        ]
    lines.append("")
    return lines


def cell(text: str) -> str:
    return text.replace("|", "/").replace("\n", " ")


def record(result: dict[str, Any], section: list[str], out: pathlib.Path) -> None:
    """Merge into OUT/benchmarks.json and OUT/benchmarks.md, which suite.py regenerates."""
    # benchmarks/_record.py by its path: this folder stays off sys.path (its sparse.py
    # would shadow the package Dask imports).
    runpy.run_path(str(HERE / "_record.py"))["record"]("kmedoids", result, section, out, key="kmedoids")



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5000,10000", help="comma-separated n for the side-by-side comparison")
    parser.add_argument("--big", type=int, default=50_000, help="n for pam alone (0: skip)")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--d", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--before", default="HEAD", help="git revision whose _kmedoids.py is 'before'")
    parser.add_argument("--quick", action="store_true", help="small sizes, 2 repeats, big n = 10,000")
    parser.add_argument("--out", default=str(HERE.parent / "docs"))
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.big, args.repeats = "1000,2000", 10_000, 2
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    # This file is named like the package it measures: keep its folder off the import path.
    sys.path[:] = [p for p in sys.path if pathlib.Path(p or ".").resolve() != HERE]
    sys.modules.pop("kmedoids", None)
    spec = importlib.util.spec_from_file_location("benchmark_suite", HERE / "suite.py")
    suite = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(suite)
    environment = suite.environment

    before = before_module(args.before)
    result: dict[str, Any] = {
        "environment": environment(), "d": args.d, "k": args.k, "seed": args.seed, "repeats": args.repeats,
        "before": args.before, "before_loaded": before is not None,
        "compare": [compare(n, args, before) for n in sizes],
        "big": big(args.big, args) if args.big else None,
    }
    section = report(result)
    print("\n".join(section), flush=True)
    record(result, section, pathlib.Path(args.out))
    print(f"wrote {pathlib.Path(args.out) / 'benchmarks.md'} (kmedoids section) and benchmarks.json (\"kmedoids\")")


if __name__ == "__main__":
    main()
