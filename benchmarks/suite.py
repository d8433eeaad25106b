"""The benchmark suite behind docs/benchmarks.md: W1, W2, W3, the scaling sweep, Dask.

Every contender starts from the same codebook and runs the same number of Lloyd
iterations (tol=0, n_init=1, no subsampling).  Each is warmed up once (imports, first BLAS
calls, JAX compilation), then the best of several runs is kept.  The contenders of one
workload are measured in one process, one after the other, so their ratios are comparable
on a noisy machine; each result's final inertia is checked against scikit-learn's to show
they did the same work.

    python benchmarks/suite.py [--only w1,w2,w3,scaling,dask] [--quick] [--out docs]

Writes ``OUT/benchmarks.md`` (tables), ``OUT/benchmarks.json`` (raw figures) and
``OUT/benchmarks_scaling.png`` (seconds per iteration as n, k and d grow).
"""
from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import pathlib
import platform
import subprocess
import sys
import time
import warnings
from typing import Any, Callable, Iterator

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
FLOOR = "GEMM floor (one X @ C.T per iteration)"
SKLEARN = "scikit-learn KMeans (lloyd)"


def installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def best_of(run: Callable[[], Any], repeat: int) -> float:
    run()  # warm-up: imports, first BLAS calls, compilation
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def inertia(x: np.ndarray, centres: np.ndarray) -> float:
    """Sum of squared distances to the nearest centre, in float64, in row blocks."""
    x64, c64 = x.astype(np.float64), np.asarray(centres, dtype=np.float64)
    half = 0.5 * (c64 * c64).sum(axis=1)
    total = 0.0
    for start in range(0, len(x64), 65536):
        block = x64[start : start + 65536]
        scores = half - block @ c64.T
        total += float(((block * block).sum(axis=1) + 2 * scores.min(axis=1)).sum())
    return total


def contenders(x: np.ndarray, c0: np.ndarray, iterations: int, which: set[str] | None = None) -> Iterator[tuple[str, Callable[[], Any]]]:
    """``(name, run)`` pairs; ``run()`` does the whole job and returns the final centres on the host."""
    import xpcluster
    from xpcluster.vq import kmeans2

    def wanted(name: str) -> bool:
        return which is None or name in which

    def ours(xs: Any, cs: Any, to_host: Callable[[Any], np.ndarray]) -> Callable[[], np.ndarray]:
        def run() -> np.ndarray:
            with xpcluster.array_api_dispatch():
                centres, _ = kmeans2(xs, cs, iter=iterations, minit="matrix", missing="warn")
            return to_host(centres)
        return run

    if wanted("floor"):
        def floor() -> None:
            for _ in range(iterations):
                x @ c0.T
        yield FLOOR, floor
    if wanted("sklearn") and installed("sklearn"):
        from sklearn.cluster import KMeans

        yield SKLEARN, lambda: KMeans(
            c0.shape[0], init=c0, n_init=1, max_iter=iterations, tol=0, algorithm="lloyd"
        ).fit(x).cluster_centers_
    if wanted("scipy") and installed("scipy"):
        import scipy.cluster.vq

        yield "scipy.cluster.vq.kmeans2", lambda: scipy.cluster.vq.kmeans2(x, c0, iter=iterations, minit="matrix")[0]
    if wanted("faiss") and installed("faiss"):
        import faiss

        def faiss_run() -> np.ndarray:
            km = faiss.Kmeans(x.shape[1], c0.shape[0], niter=iterations, seed=0, verbose=False,
                              max_points_per_centroid=x.shape[0], min_points_per_centroid=1)
            km.train(x, init_centroids=c0)
            return km.centroids
        yield "faiss Kmeans (CPU)", faiss_run
    if wanted("numpy"):
        yield "xpcluster numpy", ours(x, c0, np.asarray)
    if wanted("torch") and installed("torch"):
        import torch

        yield "xpcluster torch cpu", ours(torch.asarray(x), torch.asarray(c0), lambda t: t.numpy())
    if wanted("jax") and installed("jax"):
        import jax

        cpu = jax.devices("cpu")[0]
        yield "xpcluster jax cpu", ours(jax.device_put(x, cpu), jax.device_put(c0, cpu), np.asarray)
    if wanted("dask") and installed("dask"):
        import dask
        import dask.array as da

        xd = da.from_array(x, chunks=(max(x.shape[0] // 4, 1), x.shape[1]))
        cd = da.from_array(c0)

        def dask_run() -> np.ndarray:
            with xpcluster.array_api_dispatch():
                centres, _ = kmeans2(xd, cd, iter=iterations, minit="matrix", missing="warn")
            with dask.config.set(scheduler="threads"):
                return np.asarray(centres.compute())
        yield "xpcluster dask (4 blocks, threads)", dask_run


#: Small k and d: where per-block costs beyond the product dominate (issue 15's table).
SMALL_K_CONTENDERS = {"floor", "sklearn", "faiss", "numpy", "torch", "jax"}


def speed_workload(name: str, n: int, d: int, k: int, iterations: int, repeat: int, which: set[str] | None = None) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, d), dtype=np.float32)
    c0 = x[rng.choice(n, k, replace=False)].copy()
    rows = []
    reference_inertia = None
    for contender, run in contenders(x, c0, iterations, which):
        seconds = best_of(run, repeat)
        centres = run() if contender != FLOOR else None
        value = None if centres is None else inertia(x, centres)
        if contender == SKLEARN:
            reference_inertia = value
        rows.append({"contender": contender, "seconds": seconds, "inertia": value})
        print(f"  {name} {contender}: {seconds:.3f} s", flush=True)
    seconds = {r["contender"]: r["seconds"] for r in rows}
    for r in rows:
        r["vs_sklearn"] = r["seconds"] / seconds[SKLEARN] if SKLEARN in seconds else None
        r["vs_floor"] = r["seconds"] / seconds[FLOOR] if FLOOR in seconds else None
        if r["inertia"] is not None and reference_inertia:
            r["inertia_vs_sklearn"] = r["inertia"] / reference_inertia - 1
    return {"name": name, "n": n, "d": d, "k": k, "iterations": iterations, "repeat": repeat, "rows": rows}


def scaling(quick: bool) -> dict[str, Any]:
    """Seconds per iteration as n, then k, then d grow (the others at 100,000 x 32 x 64)."""
    which = {"floor", "sklearn", "faiss", "numpy", "torch", "jax"}
    sweeps = {
        "n": [10_000, 100_000, 1_000_000] + ([] if quick else [10_000_000]),
        "k": [16, 64, 256, 1024],
        "d": [8, 32, 128, 512],
    }
    base = {"n": 100_000, "d": 32, "k": 64}
    points = []
    for axis, values in sweeps.items():
        for value in values:
            shape = dict(base, **{axis: value})
            iterations = 2 if shape["n"] >= 10_000_000 else 5
            repeat = 1 if shape["n"] >= 1_000_000 else 3
            result = speed_workload(f"scaling {axis}={value}", shape["n"], shape["d"], shape["k"], iterations, repeat, which)
            for r in result["rows"]:
                points.append({"axis": axis, **shape, "contender": r["contender"],
                               "seconds_per_iteration": r["seconds"] / iterations})
    return {"base": base, "points": points}


def run_script(script: str, *args: str) -> str:
    """Run one of the standalone benchmarks in its own process; its report, verbatim."""
    out = subprocess.run([sys.executable, str(HERE / script), *args], capture_output=True, text=True)
    text = out.stdout.strip()
    if out.returncode != 0:
        text += f"\n(exit status {out.returncode})\n{out.stderr.strip()[-2000:]}"
    print(text, flush=True)
    return text


def environment() -> dict[str, Any]:
    versions = {}
    for package in ("xpcluster", "numpy", "scipy", "scikit-learn", "faiss-cpu", "torch", "jax", "dask", "array-api-strict"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    cpu = platform.processor() or platform.machine()
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = None
    try:
        memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        pass
    return {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "machine": platform.machine(), "cpu": cpu, "cores": os.cpu_count(),
        "memory_gib": memory_gib, "python": platform.python_version(), "versions": versions,
    }


def speed_table(result: dict[str, Any]) -> list[str]:
    lines = [
        f"n={result['n']:,}, d={result['d']}, k={result['k']}, float32, {result['iterations']} iterations, "
        f"best of {result['repeat']}.",
        "",
        "| contender | seconds | vs scikit-learn | vs GEMM floor | inertia vs scikit-learn |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        vs_sk = f"{r['vs_sklearn']:.2f}x" if r.get("vs_sklearn") else "-"
        vs_floor = f"{r['vs_floor']:.2f}x" if r.get("vs_floor") else "-"
        diff = r.get("inertia_vs_sklearn")
        inertia_text = "-" if diff is None else f"{diff:+.1e}"
        lines.append(f"| {r['contender']} | {r['seconds']:.3f} | {vs_sk} | {vs_floor} | {inertia_text} |")
    return lines + [""]


def plot_scaling(data: dict[str, Any], path: pathlib.Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    axes_names = ["n", "k", "d"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    for ax, axis in zip(axes, axes_names):
        points = [p for p in data["points"] if p["axis"] == axis]
        for contender in dict.fromkeys(p["contender"] for p in points):
            series = sorted((p[axis], p["seconds_per_iteration"]) for p in points if p["contender"] == contender)
            style = "k--" if contender == FLOOR else "-o"
            ax.plot([s[0] for s in series], [s[1] for s in series], style, label=contender, markersize=4)
        ax.set_xscale("log")
        ax.set_yscale("log")
        others = ", ".join(f"{a}={data['base'][a]:,}" for a in axes_names if a != axis)
        ax.set_xlabel(f"{axis} ({others})")
        ax.set_ylabel("seconds per iteration")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle("Lloyd iteration time, float32, same start for every contender")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write_report(results: dict[str, Any], out: pathlib.Path) -> None:
    env = results["environment"]
    versions = ", ".join(f"{k} {v}" for k, v in env["versions"].items())
    memory = f", {env['memory_gib']:.0f} GiB" if env.get("memory_gib") else ""
    lines = [
        "# Benchmarks",
        "",
        "Generated by `nox -s bench` (`python benchmarks/suite.py`); do not edit by hand.",
        "",
        f"- Measured: {env['date']}",
        f"- Machine: {env['cpu']} ({env['machine']}), {env['cores']} cores{memory}, Python {env['python']}",
        f"- Versions: {versions}",
        "",
        "Every contender starts from the same codebook and runs the same number of Lloyd iterations "
        "(tol=0, n_init=1, no subsampling), after a warm-up run; the best of several runs is shown. "
        "Ratios are to scikit-learn's `KMeans(algorithm='lloyd')` and to the GEMM floor (one "
        "`X @ C.T` NumPy product per iteration, the cost of the distances alone) measured in the same "
        "process. The last column compares each result's final inertia with scikit-learn's: the "
        "contenders did the same work.",
        "",
    ]
    titles = {"w1": "W1 (CPU)", "w2": "W2, CPU variant", "smallk8": "Small k: 1M x 8, k=8",
              "smallk16": "Small k: 500k x 16, k=16"}
    for key in ("w1", "w2", "smallk8", "smallk16"):
        if key in results:
            lines += [f"## {titles[key]}", ""] + speed_table(results[key])
    if "scaling" in results:
        lines += ["## Scaling", "", "Seconds per iteration; the other two sizes at "
                  + ", ".join(f"{a}={v:,}" for a, v in results["scaling"]["base"].items()) + ".", ""]
        if results.get("scaling_plot"):
            lines += [f"![scaling]({results['scaling_plot']})", ""]
        points = results["scaling"]["points"]
        names = list(dict.fromkeys(p["contender"] for p in points))
        lines += ["| sweep | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
        for axis in ("n", "k", "d"):
            for value in dict.fromkeys(p[axis] for p in points if p["axis"] == axis):
                cells = []
                for name in names:
                    match = [p for p in points if p["axis"] == axis and p[axis] == value and p["contender"] == name]
                    cells.append(f"{match[0]['seconds_per_iteration'] * 1e3:.1f} ms" if match else "-")
                lines.append(f"| {axis}={value:,} | " + " | ".join(cells) + " |")
        lines.append("")
    for key, title in (("w3", "W3 memory"), ("dask", "Dask beyond worker memory")):
        if key in results:
            lines += [f"## {title}", "", "```", results[key], "```", ""]
    (out / "benchmarks.md").write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="w1,w2,smallk,w3,scaling,dask")
    parser.add_argument("--quick", action="store_true", help="smaller sweep, fewer repeats")
    parser.add_argument("--out", default=str(HERE.parent / "docs"))
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    only = set(args.only.split(","))
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"environment": environment()}
    repeat = 2 if args.quick else 5
    if "w1" in only:
        results["w1"] = speed_workload("W1", 200_000, 32, 64, 20, repeat)
    if "w2" in only:
        results["w2"] = speed_workload("W2-CPU", 100_000, 128, 1024, 5, 1 if args.quick else 3)
    if "smallk" in only:
        results["smallk8"] = speed_workload("small k (d=8)", 1_000_000, 8, 8, 10, repeat, SMALL_K_CONTENDERS)
        results["smallk16"] = speed_workload("small k (d=16)", 500_000, 16, 16, 10, repeat, SMALL_K_CONTENDERS)
    if "scaling" in only:
        results["scaling"] = scaling(args.quick)
        if plot_scaling(results["scaling"], out / "benchmarks_scaling.png"):
            results["scaling_plot"] = "benchmarks_scaling.png"
    if "w3" in only:
        results["w3"] = run_script("memory_w3.py")
    if "dask" in only:
        results["dask"] = run_script("dask_distributed.py", *(["--dask-ml-timeout", "30"] if args.quick else []))
    (out / "benchmarks.json").write_text(json.dumps(results, indent=1))
    write_report(results, out)
    print(f"wrote {out / 'benchmarks.md'}")


if __name__ == "__main__":
    main()
