"""SciPy's ``kmeans2`` example, on the array library of your choice.

The documentation of ``scipy.cluster.vq.kmeans2`` clusters a mixture of three Gaussian
blobs (45, 30 and 25 points) into three groups and plots them with their centroids.  This
script does the same with ``xpcluster.vq.kmeans2``, a drop-in for SciPy's function that
runs in the input's own library: pick one with ``--backend``.

    python docs/examples/scipy_kmeans2.py --out /tmp --backend torch

Writes ``scipy_kmeans2.png`` into ``--out``.  When SciPy is installed the script also runs
SciPy's ``kmeans2`` with the same ``rng`` and checks both return the same clustering:
xpcluster draws its random numbers on the host exactly as SciPy does.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

import xpcluster
from xpcluster.plotting import plot_clusters
from xpcluster.vq import kmeans2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _backends import KNOWN, describe, to_backend, to_numpy  # noqa: E402


def three_blobs(rng: np.random.Generator) -> np.ndarray:
    """The data of SciPy's example: three 2-D Gaussians, shuffled."""
    a = rng.multivariate_normal([0, 6], [[2, 1], [1, 1.5]], size=45)
    b = rng.multivariate_normal([2, 0], [[1, -1], [-1, 3]], size=30)
    c = rng.multivariate_normal([6, 4], [[5, 0], [0, 1.2]], size=25)
    z = np.concatenate((a, b, c))
    rng.shuffle(z)
    return z


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=".", help="directory for the PNG (default: .)")
    parser.add_argument("--backend", choices=KNOWN, default="numpy")
    parser.add_argument("--seed", type=int, default=1, help="seed of the data and of kmeans2")
    args = parser.parse_args()

    z = three_blobs(np.random.default_rng(args.seed))
    data = to_backend(z, args.backend)
    # The only xpcluster-specific line: let kmeans2 run in the data's own library.
    with xpcluster.array_api_dispatch():
        centroid, label = kmeans2(data, 3, minit="points", rng=args.seed)
    print(f"kmeans2 on {describe(data)} returned {describe(centroid)}")

    centroid, label = to_numpy(centroid), to_numpy(label)
    for j in range(3):
        print(f"  centroid {j}: ({centroid[j, 0]:7.3f}, {centroid[j, 1]:7.3f}), {np.sum(label == j)} points")

    try:
        from scipy.cluster.vq import kmeans2 as scipy_kmeans2
    except ImportError:
        print("SciPy is not installed: skipped the comparison with scipy.cluster.vq.kmeans2")
    else:
        ref_centroid, ref_label = scipy_kmeans2(z, 3, minit="points", rng=args.seed)
        same = np.array_equal(ref_label, label) and np.allclose(ref_centroid, centroid, rtol=1e-6, atol=1e-9)
        print(f"same clustering as scipy.cluster.vq.kmeans2: {same}")
        if not same:
            return 1

    os.makedirs(args.out, exist_ok=True)
    path = plot_clusters(z, label, centroid, os.path.join(args.out, "scipy_kmeans2.png"))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
