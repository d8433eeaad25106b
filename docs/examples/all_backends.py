"""One clustering script, every installed array library: timings and agreement.

The same lines -- make the data, fit an estimator under ``xpcluster.array_api_dispatch()``,
read the results -- run on NumPy, PyTorch, JAX, Dask, CuPy and array-api-strict, whichever
are installed (with a GPU, PyTorch and CuPy use it).  Nothing in the clustering code names
a library: the estimator computes in the library and on the device of the array it is
given.

For each backend the script times ``fit`` (after one untimed warm-up run that pays for
imports and compilation) up to the labels on the host, and checks that labels, centres
and inertia agree with NumPy's: with the same ``random_state`` every backend makes the
same random draws, so the answers must match to rounding.

    python docs/examples/all_backends.py --out /tmp --n 100000 --d 16 --k 8

Writes ``all_backends.png`` (time per backend); exits with status 1 if a backend
disagrees with NumPy.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

import xpcluster
import xpcluster.cluster

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _backends import KNOWN, describe, installed, to_backend, to_numpy  # noqa: E402


def blobs(n: int, d: int, k: int, seed: int) -> np.ndarray:
    """n points around k random centres in d dimensions."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=6.0, size=(k, d))
    return centres[rng.integers(0, k, size=n)] + rng.normal(size=(n, d))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=".", help="directory for the PNG (default: .)")
    parser.add_argument("--backend", action="append", choices=KNOWN,
                        help="run on this backend only (repeat for several; default: every installed one)")
    parser.add_argument("--estimator", default="KMeans",
                        help="estimator of xpcluster.cluster to run (default: KMeans)")
    parser.add_argument("--n", type=int, default=20_000, help="samples (default: 20000)")
    parser.add_argument("--d", type=int, default=16, help="features (default: 16)")
    parser.add_argument("--k", type=int, default=8, help="clusters (default: 8)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per backend, best kept (default: 3)")
    parser.add_argument("--no-warmup", action="store_true",
                        help="skip the untimed first run (quicker; times then include compilation)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    estimator = getattr(xpcluster.cluster, args.estimator, None)
    if estimator is None:
        parser.error(f"xpcluster.cluster has no estimator {args.estimator!r}")
    available = installed()
    backends = args.backend or available
    missing = [b for b in backends if b not in available]
    if missing:
        parser.error(f"not installed here: {', '.join(missing)}")
    if "numpy" not in backends:
        backends = ["numpy", *backends]  # the reference every backend is compared with

    data = blobs(args.n, args.d, args.k, args.seed)
    print(f"{args.estimator}(n_clusters={args.k}, random_state={args.seed}) on {args.n} x {args.d} float64\n")
    print(f"{'backend':<18} {'array':<46} {'seconds':>9} {'inertia':>14}  agrees with NumPy")
    rows, reference, failures = [], None, []
    for name in backends:
        x = to_backend(data, name)

        def fit():
            with xpcluster.array_api_dispatch():
                model = estimator(n_clusters=args.k, random_state=args.seed).fit(x)
                return to_numpy(model.labels_), to_numpy(model.cluster_centers_), float(to_numpy(model.inertia_))

        if not args.no_warmup:
            fit()  # warm-up: imports, kernel compilation, caches
        times = []
        for _ in range(max(1, args.repeats)):
            start = time.perf_counter()
            labels, centres, inertia = fit()
            times.append(time.perf_counter() - start)
        if reference is None:
            reference = (labels, centres, inertia)
            agrees = "(reference)"
        else:
            same = (np.mean(labels == reference[0]) == 1.0
                    and np.allclose(centres, reference[1], rtol=1e-6, atol=1e-8)
                    and np.isclose(inertia, reference[2], rtol=1e-6))
            agrees = "yes" if same else f"NO ({np.mean(labels == reference[0]):.1%} of labels equal)"
            if not same:
                failures.append(name)
        rows.append((name, min(times)))
        print(f"{name:<18} {describe(x):<46} {min(times):9.4f} {inertia:14.6g}  {agrees}")

    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 1.2 + 0.45 * len(rows)), layout="constrained")
    ax = fig.add_subplot()
    names, seconds = zip(*rows)
    bars = ax.barh(names, seconds, color=["C3" if n in failures else "C0" for n in names])
    ax.bar_label(bars, labels=[f"{s:.3g} s" for s in seconds], padding=3, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("seconds per fit (best of %d, to labels on the host)" % max(1, args.repeats))
    ax.set_title(f"{args.estimator}: n={args.n}, d={args.d}, k={args.k}")
    ax.margins(x=0.2)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "all_backends.png")
    fig.savefig(path, dpi=100)
    print(f"\nwrote {path}")
    skipped = [b for b in KNOWN if b not in available]
    if skipped:
        print(f"not installed here: {', '.join(skipped)}")
    if failures:
        print(f"FAILED: {', '.join(failures)} disagree with NumPy")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
