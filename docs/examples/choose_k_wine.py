"""How many clusters? Three criteria on a real data set, on the array library of your choice.

The wine data set (scikit-learn's ``load_wine``: 178 wines from three cultivars of the same
Italian region, 13 chemical measurements each) is standardised -- each feature to mean 0
and variance 1, since the measurements have very different scales -- and clustered with
k-means for K = 1 (or 2) to ``--k-max``.  Three ways of reading the results:

* **elbow**: the within-cluster sum of squares (inertia) always falls as K grows; the K
  after which it stops falling steeply is the "elbow".
* **silhouette**: how much closer each sample is to its own cluster than to the next one,
  averaged; the K with the highest mean silhouette.
* **gap statistic** (Tibshirani, Walther and Hastie 2001): how much smaller log(inertia)
  is than for data with no clusters (uniform reference samples in the data's box); the
  smallest K whose gap is within one standard error of the next K's.

The cultivar labels are not used for clustering; the script prints how the clustering of
the chosen K matches them (adjusted Rand index, 1 = the same partition).

    python docs/examples/choose_k_wine.py --out /tmp --backend jax

Writes ``choose_k_elbow.png``, ``choose_k_silhouette.png``, ``choose_k_gap.png``,
``choose_k_silhouette_diagram.png`` (for the silhouette's choice) and
``choose_k_clusters.png`` (the clustering in the plane of the first two principal axes).
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

import xpcluster
from xpcluster.choose_k import choose_k
from xpcluster.cluster import KMeans
from xpcluster.plotting import plot_clusters, plot_elbow, plot_gap, plot_silhouette, plot_silhouette_scores

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _backends import KNOWN, describe, to_backend, to_numpy  # noqa: E402

PLOTS = {"elbow": plot_elbow, "silhouette": plot_silhouette_scores, "gap": plot_gap}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=".", help="directory for the PNGs (default: .)")
    parser.add_argument("--backend", choices=KNOWN, default="numpy")
    parser.add_argument("--dataset", choices=("wine", "iris"), default="wine")
    parser.add_argument("--k-max", type=int, default=8, help="largest K to try (default: 8)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from sklearn import datasets
    from sklearn.metrics import adjusted_rand_score

    loaded = datasets.load_wine() if args.dataset == "wine" else datasets.load_iris()
    raw, truth = loaded.data, loaded.target
    standardised = (raw - raw.mean(axis=0)) / raw.std(axis=0)
    X = to_backend(standardised, args.backend)
    print(f"{args.dataset}: {raw.shape[0]} samples x {raw.shape[1]} features, "
          f"{len(np.unique(truth))} true classes; computing on {describe(X)}\n")

    os.makedirs(args.out, exist_ok=True)
    chosen = {}
    with xpcluster.array_api_dispatch():
        for method, plot in PLOTS.items():
            ks = range(2 if method == "silhouette" else 1, args.k_max + 1)
            result = choose_k(X, ks, method=method, random_state=args.seed)
            chosen[method] = int(result.k)
            print(f"{method:<10} chooses K = {chosen[method]}")
            plot(result, os.path.join(args.out, f"choose_k_{method}.png"))

        k = chosen["silhouette"]
        model = KMeans(n_clusters=k, random_state=args.seed).fit(X)
        labels, centres = to_numpy(model.labels_), to_numpy(model.cluster_centers_)
    print(f"\nK = {k}: adjusted Rand index against the {args.dataset} classes "
          f"{adjusted_rand_score(truth, labels):.3f}")
    plot_silhouette(standardised, labels, os.path.join(args.out, "choose_k_silhouette_diagram.png"))
    plot_clusters(standardised, labels, centres, os.path.join(args.out, "choose_k_clusters.png"))
    print(f"wrote choose_k_*.png to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
