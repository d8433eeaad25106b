"""Sparse k-means (issue 14, item 4): scikit-learn and xpcluster KMeans on TF-IDF-like CSR data.

The data: a float64 ``scipy.sparse`` CSR matrix, by default 20,000 x 50,000 at 0.5 %
non-zero, shaped like TF-IDF: document lengths vary (log-normal), column popularity is
Zipf-like (a few columns in most rows, most in very few), values are non-negative
``(1 + log tf) * idf`` and every row has unit L2 norm.  A fixed seed makes it the same on
every run and in every process.

Both estimators get the same job: ``KMeans(n_clusters=k, init=C0, n_init=1, max_iter=ITERS,
tol=0, algorithm="lloyd")`` on that matrix, where ``C0`` is k rows of it picked with a fixed
``RandomState`` and densified.  Both are warmed up once, then timed in alternation in one
process (median of the repeats).  Beside them the sparse "GEMM floor": one ``X @ C0.T``
sparse-dense product, timed the same way; ITERS times it is the floor of ITERS iterations.

Reported: seconds, ``n_iter_`` (with tol=0 both must run all ITERS iterations unless the
labels stop changing: a shorter run is flagged), the ratio xpcluster / scikit-learn (target
<= 1.0) and to the floor, agreement of the two results (largest difference of
``cluster_centers_``, fraction of equal ``labels_``, inertia), and the peak memory of each
fit, measured in a fresh process per library: the ``tracemalloc`` peak during ``fit``
(NumPy and SciPy report their buffers to it) and the process's peak RSS, next to the size
of X itself and the O(nnz + block*k + k*d) expectation.

    python benchmarks/sparse.py [--rows N] [--cols D] [--density P] [--k K] [--iters I]
                                [--repeats R] [--seed S] [--out DIR]

Prints the report and records it in ``OUT/benchmarks.json`` (key ``"sparse"``) and in
``OUT/benchmarks.md`` (a section between ``<!-- sparse:begin -->`` / ``<!-- sparse:end -->``
markers, replaced on every run; appended when missing).
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import runpy
import statistics
import subprocess
import sys
import time
from typing import Any, Callable

import numpy as np

# xpcluster reads this at call time; set before it is imported, here and in the children.
os.environ["XPCLUSTER_ARRAY_API"] = "1"

HERE = pathlib.Path(__file__).resolve().parent
SKLEARN = "scikit-learn KMeans (lloyd)"
XPCLUSTER = "xpcluster KMeans"
FLOOR = "GEMM floor (one sparse X @ C.T per iteration)"
LIBRARIES = {"sklearn": SKLEARN, "xpcluster": XPCLUSTER}


def tfidf_like(rows: int, cols: int, density: float, seed: int, zipf: float = 1.2) -> Any:
    """A TF-IDF-like float64 CSR matrix with about ``density * rows * cols`` non-zeros.

    Each row draws its distinct columns from a Zipf-like popularity law (weight of the
    column of rank r is ``r ** -zipf``; ranks are shuffled onto column ids).  Draws are made
    for all rows at once; a column drawn twice in one row is drawn again, for the rows that
    are short, until every row has its length.  With ``zipf=1.2`` Lloyd from the benchmark's
    start needs more than 20 iterations on the default 20,000 x 50,000 (38 for seed 0 with
    scikit-learn 1.9), so ``max_iter=20`` runs all 20; with 1.0 it stops after 17.
    """
    import scipy.sparse

    rng = np.random.default_rng(seed)
    lengths = rng.lognormal(0.0, 0.5, rows)
    lengths = np.clip(np.rint(lengths * (density * rows * cols / lengths.sum())), 1, cols).astype(np.int64)
    cdf = np.cumsum(np.arange(1, cols + 1, dtype=np.float64) ** -zipf)
    cdf /= cdf[-1]
    column_of_rank = rng.permutation(cols)

    chunks: list[np.ndarray] = []  # sorted, pairwise disjoint keys row * cols + column
    missing = lengths
    for _ in range(1000):
        # Each row draws as many columns as it lacks, so it never gets more than it needs.
        owners = np.repeat(np.arange(rows, dtype=np.int64), missing)
        ranks = np.minimum(np.searchsorted(cdf, rng.random(owners.size), side="right"), cols - 1)
        new = np.sort(owners * cols + column_of_rank[ranks])
        new = new[np.concatenate([[True], new[1:] != new[:-1]])]  # distinct (sorting beats np.unique's hash here)
        for chunk in chunks:
            at = np.minimum(np.searchsorted(chunk, new), chunk.size - 1)
            new = new[chunk[at] != new]
        if new.size:
            chunks.append(new)
        missing = missing - np.bincount(new // cols, minlength=rows)
        if not missing.any():
            break
    else:
        raise RuntimeError("could not draw distinct columns for every row; lower the density")
    keys = np.sort(np.concatenate(chunks))
    index_dtype = np.int32 if max(keys.size, cols) < 2**31 else np.int64
    indices = (keys % cols).astype(index_dtype)
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(index_dtype)

    row_ids = np.repeat(np.arange(rows), lengths)
    document_frequency = np.bincount(indices, minlength=cols)
    idf = np.log((1.0 + rows) / (1.0 + document_frequency)) + 1.0
    tf = rng.geometric(0.4, keys.size)
    values = (1.0 + np.log(tf)) * idf[indices]
    values /= np.sqrt(np.bincount(row_ids, weights=values * values, minlength=rows))[row_ids]
    return scipy.sparse.csr_matrix((values, indices, indptr), shape=(rows, cols))


def starting_centres(x: Any, k: int, seed: int) -> np.ndarray:
    """k distinct rows of x, picked with a fixed RandomState, as a dense C-ordered array."""
    picked = np.random.RandomState(seed).choice(x.shape[0], size=k, replace=False)
    return np.ascontiguousarray(x[np.sort(picked)].toarray())


def estimator(library: str, k: int, c0: np.ndarray, iters: int) -> Any:
    if library == "sklearn":
        from sklearn.cluster import KMeans
    else:
        from xpcluster.cluster import KMeans
    return KMeans(n_clusters=k, init=c0, n_init=1, max_iter=iters, tol=0, algorithm="lloyd")


def failure(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"


def timed(run: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = run()
    return time.perf_counter() - start, result


def speed(x: Any, c0: np.ndarray, args: argparse.Namespace) -> dict[str, Any]:
    """Warm up each contender once, then time them in alternation; medians and final fits."""
    runs: dict[str, Callable[[], Any]] = {
        SKLEARN: lambda: estimator("sklearn", args.k, c0, args.iters).fit(x),
        XPCLUSTER: lambda: estimator("xpcluster", args.k, c0, args.iters).fit(x),
        FLOOR: lambda: x @ c0.T,
    }
    errors: dict[str, str] = {}
    for name, run in runs.items():
        try:
            run()
        except Exception as error:  # reported, and the other contenders still measured
            errors[name] = failure(error)
            print(f"  sparse {name}: {errors[name]}", flush=True)
    times: dict[str, list[float]] = {name: [] for name in runs if name not in errors}
    fitted: dict[str, Any] = {}
    for _ in range(args.repeats):
        for name in times:
            seconds, result = timed(runs[name])
            times[name].append(seconds)
            fitted[name] = result
    rows = []
    product = statistics.median(times[FLOOR]) if FLOOR in times else None
    reference = statistics.median(times[SKLEARN]) if SKLEARN in times else None
    for name in runs:
        row: dict[str, Any] = {"contender": name, "error": errors.get(name)}
        if name in times:
            if name == FLOOR:
                row.update(one_product_seconds=product, seconds=product * args.iters, n_iter=args.iters)
            else:
                model = fitted[name]
                row.update(seconds=statistics.median(times[name]), n_iter=int(model.n_iter_),
                           inertia=float(model.inertia_))
            row["all_iterations"] = row["n_iter"] == args.iters
            row["times"] = times[name]
            row["vs_sklearn"] = row["seconds"] / reference if reference else None
            # The floor of as many iterations as the fit ran (ITERS x one product when it ran all).
            row["vs_floor"] = row["seconds"] / (product * max(1, row["n_iter"])) if product else None
            print(f"  sparse {name}: {row['seconds']:.3f} s, n_iter_={row['n_iter']}", flush=True)
        rows.append(row)
    agreement = None
    if SKLEARN in fitted and XPCLUSTER in fitted:
        ours, theirs = fitted[XPCLUSTER], fitted[SKLEARN]
        centre_difference = np.abs(np.asarray(ours.cluster_centers_) - theirs.cluster_centers_)
        agreement = {
            "max_abs_centre_difference": float(centre_difference.max()),
            "equal_labels": float(np.mean(np.asarray(ours.labels_) == theirs.labels_)),
            "inertia_vs_sklearn": float(ours.inertia_) / float(theirs.inertia_) - 1.0,
        }
    return {"rows": rows, "agreement": agreement}


def memory_child(library: str, args: argparse.Namespace) -> None:
    """In a fresh process: peak memory of one fit; one JSON line on stdout."""
    import gc
    import resource
    import tracemalloc

    x = tfidf_like(args.rows, args.cols, args.density, args.seed, args.zipf)
    c0 = starting_centres(x, args.k, args.seed)
    # A one-iteration fit on a few rows first, so lazy imports and thread pools are not counted.
    try:
        estimator(library, args.k, c0, 1).fit(x[: 2 * args.k])
    except Exception:
        pass  # the measured fit reports it
    model = estimator(library, args.k, c0, args.iters)
    gc.collect()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    try:
        model.fit(x)
        error = None
    except Exception as exc:
        error = failure(exc)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"library": library, "error": error, "tracemalloc_peak_bytes": peak,
                      "peak_rss_before_fit_bytes": rss_before * 1024, "peak_rss_after_fit_bytes": rss_after * 1024}))


def memory(library: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, str(pathlib.Path(__file__).resolve()), "--memory-child", library,
               "--rows", str(args.rows), "--cols", str(args.cols), "--density", str(args.density),
               "--k", str(args.k), "--iters", str(args.iters), "--seed", str(args.seed), "--zipf", str(args.zipf)]
    out = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ, XPCLUSTER_ARRAY_API="1"))
    if out.returncode != 0:
        return {"library": library, "error": f"child exited with status {out.returncode}: {out.stderr.strip()[-1000:]}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def expectation(x: Any, k: int) -> dict[str, int]:
    """Bytes of O(nnz + block*k + k*d), one float64 per term, block = the rows of one score
    block under xpcluster's default memory budget (all rows when they fit)."""
    try:
        from xpcluster._core.chunks import DEFAULT_MEMORY_BUDGET_BYTES as budget
    except ImportError:
        budget = 64 * 2**20
    n, d = x.shape
    block = min(n, max(1, budget // (8 * k)))
    return {"block": block, "bytes": 8 * (x.nnz + block * k + k * d)}


def cell(text: str) -> str:
    """Text fit for one markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def mb(nbytes: float) -> str:
    return f"{nbytes / 1e6:.1f} MB"


def report(result: dict[str, Any]) -> list[str]:
    """The markdown section (also printed)."""
    shape = result["data"]
    lines = [
        "## Sparse: TF-IDF-like CSR (issue 14)",
        "",
        f"Generated by `python benchmarks/sparse.py` (run by `nox -s bench`); measured {result['environment']['date']} "
        f"on {result['environment']['cores']} cores.",
        "",
        f"n={shape['rows']:,}, d={shape['cols']:,}, {100 * shape['density']:.2f} % non-zero (nnz={shape['nnz']:,}), "
        f"float64 CSR, rows L2-normalised, Zipf-like columns (exponent {result['zipf']}), seed {result['seed']}; "
        f"k={result['k']}, same start "
        f"(k rows of X), max_iter={result['iterations']}, tol=0, n_init=1; warm-up, then median of "
        f"{result['repeats']} alternating repeats. The floor is {result['iterations']} x one `X @ C.T`.",
        "",
        "| contender | seconds | n_iter_ | vs scikit-learn | vs floor of n_iter_ products | tracemalloc peak in fit "
        "| peak RSS before / after fit |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    memory_of = {LIBRARIES[m["library"]]: m for m in result["memory"]}
    for row in result["speed"]["rows"]:
        if row["error"]:
            lines.append(f"| {row['contender']} | {cell(row['error'])} | - | - | - | - | - |")
            continue
        ratio = lambda value: f"{value:.2f}x" if value else "-"  # noqa: E731
        n_iter = f"{row['n_iter']}" + ("" if row["all_iterations"] else " (stopped early)")
        seconds = f"{row['seconds']:.3f}"
        if row["contender"] == FLOOR:
            seconds += f" ({row['one_product_seconds'] * 1e3:.1f} ms each)"
        mem = memory_of.get(row["contender"], {})
        if mem.get("error"):
            peak = rss = cell(mem["error"])
        elif mem:
            peak = mb(mem["tracemalloc_peak_bytes"])
            rss = f"{mb(mem['peak_rss_before_fit_bytes'])} / {mb(mem['peak_rss_after_fit_bytes'])}"
        else:
            peak = rss = "-"
        lines.append(f"| {row['contender']} | {seconds} | {n_iter} | {ratio(row['vs_sklearn'])} | "
                     f"{ratio(row['vs_floor'])} | {peak} | {rss} |")
    lines.append("")
    seconds = {r["contender"]: r.get("seconds") for r in result["speed"]["rows"]}
    if seconds.get(XPCLUSTER) and seconds.get(SKLEARN):
        ratio = seconds[XPCLUSTER] / seconds[SKLEARN]
        lines.append(f"- xpcluster / scikit-learn: {ratio:.2f} (target <= 1.0: {'met' if ratio <= 1.0 else 'missed'}).")
    for row in result["speed"]["rows"]:
        if not row["error"] and not row["all_iterations"]:
            lines.append(f"- Warning: {row['contender']} stopped after {row['n_iter']} of {result['iterations']} "
                         "iterations (its labels stopped changing): not the full job; its ratio to the floor "
                         "counts the iterations it ran.")
    agreement = result["speed"]["agreement"]
    if agreement:
        lines.append(f"- Agreement: max |difference of cluster_centers_| {agreement['max_abs_centre_difference']:.1e}, "
                     f"equal labels {100 * agreement['equal_labels']:.2f} %, inertia vs scikit-learn "
                     f"{agreement['inertia_vs_sklearn']:+.1e}.")
    else:
        lines.append("- Agreement: not measured (xpcluster did not fit).")
    expected = result["expected_memory"]
    lines.append(f"- X itself: {mb(shape['x_bytes'])} (data + indices + indptr). Expected extra memory of a fit, "
                 f"O(nnz + block*k + k*d) at 8 bytes a term, block={expected['block']:,} rows: {mb(expected['bytes'])}.")
    lines.append("")
    return lines


def record(result: dict[str, Any], section: list[str], out: pathlib.Path) -> None:
    """Merge into OUT/benchmarks.json and OUT/benchmarks.md, which suite.py regenerates."""
    # benchmarks/_record.py by its path: this folder stays off sys.path (its sparse.py
    # would shadow the package Dask imports).
    runpy.run_path(str(HERE / "_record.py"))["record"]("sparse", result, section, out, key="sparse")



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--cols", type=int, default=50_000)
    parser.add_argument("--density", type=float, default=0.005)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--zipf", type=float, default=1.2, help="exponent of the column popularity law")
    parser.add_argument("--out", default=str(HERE.parent / "docs"))
    parser.add_argument("--memory-child", choices=sorted(LIBRARIES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.memory_child:
        memory_child(args.memory_child, args)
        return
    sys.path.insert(0, str(HERE))
    from suite import environment

    start = time.perf_counter()
    x = tfidf_like(args.rows, args.cols, args.density, args.seed, args.zipf)
    made = time.perf_counter() - start
    c0 = starting_centres(x, args.k, args.seed)
    print(f"sparse: made {x.shape[0]:,} x {x.shape[1]:,} CSR, nnz={x.nnz:,} in {made:.1f} s", flush=True)
    result: dict[str, Any] = {
        "environment": environment(),
        "data": {"rows": x.shape[0], "cols": x.shape[1], "nnz": int(x.nnz), "density": x.nnz / (x.shape[0] * x.shape[1]),
                 "x_bytes": int(x.data.nbytes + x.indices.nbytes + x.indptr.nbytes)},
        "zipf": args.zipf, "k": args.k, "iterations": args.iters, "repeats": args.repeats, "seed": args.seed,
        "speed": speed(x, c0, args),
        "memory": [memory(library, args) for library in LIBRARIES],
        "expected_memory": expectation(x, args.k),
    }
    section = report(result)
    print("\n".join(section), flush=True)
    record(result, section, pathlib.Path(args.out))
    print(f"wrote {pathlib.Path(args.out) / 'benchmarks.md'} (sparse section) and benchmarks.json (\"sparse\")")


if __name__ == "__main__":
    main()
