"""Clustering documents by topic: spherical k-means on sparse TF-IDF vectors, no download.

The corpus is one that every machine with NumPy and SciPy already has: the docstrings of
their public functions and classes (``numpy``, ``numpy.linalg``, ``numpy.fft``,
``numpy.random`` and SciPy's public submodules), deduplicated, with their "Examples"
sections cut off and the short ones (under 30 words) left out -- about 1,900 documents.
Each document's module (``scipy.stats``, ``scipy.signal``, ...) is kept as a reference
label; it is not used for clustering.

scikit-learn's ``TfidfVectorizer`` (English stop words dropped, terms in at least 3
documents and at most half of them) turns them into a sparse ``scipy.sparse`` matrix with
one unit-length row per document.  Two clusterings of that matrix, both from xpcluster,
both on the sparse matrix itself (never densified):

* ``SphericalKMeans``: each document joins the centroid of largest cosine similarity,
  and each centroid is its members' normalised sum (Dhillon & Modha 2001);
* ``KMeans``: Euclidean k-means (for unit rows ``|x - c|^2 = 2 - 2 cos`` to a unit
  centroid; its centroids are means, shorter than unit length).

For each the script prints every cluster's size, its most frequent module and its top
terms (the largest entries of its centroid), then the cosine silhouette
(``xpcluster.metrics.silhouette_score(X, labels, metric='cosine')``, on the sparse matrix)
and the adjusted Rand index against the module labels, for reference.

``--backend torch`` gives the estimators the same matrix as a ``torch.sparse_csr_tensor``.
Where the estimators do not take PyTorch sparse tensors the script says so ("torch sparse:
not supported yet (...)") and clusters the SciPy matrix instead.

    python docs/examples/document_clustering.py --out /tmp --k 12
    python docs/examples/document_clustering.py --out /tmp --backend torch --max-docs 500

Writes ``document_clustering.png``: the spherical clusters' sizes with their top terms,
and the documents in the plane of the first two singular vectors (TruncatedSVD) coloured
by cluster.
"""
from __future__ import annotations

import argparse
import importlib
import inspect
import os
import sys
import time
import warnings
from collections import Counter

import numpy as np

import xpcluster
from xpcluster.cluster import KMeans, SphericalKMeans
from xpcluster.metrics import silhouette_score

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _backends import to_numpy  # noqa: E402

#: The modules whose docstrings make the corpus (SciPy's public submodules; the
#: subpackages of scipy.cluster, scipy.sparse and scipy.spatial that hold the functions).
MODULES = (
    "numpy", "numpy.linalg", "numpy.fft", "numpy.random",
    "scipy.cluster.vq", "scipy.cluster.hierarchy", "scipy.constants", "scipy.differentiate", "scipy.fft",
    "scipy.fftpack", "scipy.integrate", "scipy.interpolate", "scipy.io", "scipy.linalg", "scipy.ndimage",
    "scipy.odr", "scipy.optimize", "scipy.signal", "scipy.sparse", "scipy.sparse.linalg", "scipy.sparse.csgraph",
    "scipy.spatial", "scipy.spatial.distance", "scipy.special", "scipy.stats",
)
MIN_WORDS = 30  # shorter docstrings ("Alias of ...", one-line signatures) say too little to cluster
TOP_TERMS = 8


def docstring_corpus(modules=MODULES, max_docs=None, seed=0):
    """``(documents, modules)``: the deduplicated docstrings of the modules' public callables
    (a docstring shared by several names or modules counts once, for the first module)."""
    seen, documents, labels = set(), [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecated modules and attributes warn when touched
        for name in modules:
            try:
                module = importlib.import_module(name)
            except ImportError:  # a submodule this SciPy does not have
                continue
            public = getattr(module, "__all__", None) or [n for n in dir(module) if not n.startswith("_")]
            for attribute in sorted(set(public)):
                try:
                    obj = getattr(module, attribute)
                except Exception:  # lazily loaded or removed names
                    continue
                if inspect.ismodule(obj) or not callable(obj):
                    continue
                doc = inspect.getdoc(obj)
                if not doc:
                    continue
                doc = doc.split("\nExamples\n--------")[0]  # code examples are mostly 'np', 'array', numbers
                if len(doc.split()) < MIN_WORDS or doc in seen:
                    continue
                seen.add(doc)
                documents.append(doc)
                labels.append(name)
    if max_docs is not None and max_docs < len(documents):
        keep = np.sort(np.random.default_rng(seed).choice(len(documents), size=max_docs, replace=False))
        documents, labels = [documents[i] for i in keep], [labels[i] for i in keep]
    return documents, np.asarray(labels)


def as_torch_csr(X):
    """The SciPy CSR matrix ``X`` as a ``torch.sparse_csr_tensor`` (same arrays, no copy)."""
    import torch

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Sparse CSR tensor support is in beta state", UserWarning)
        return torch.sparse_csr_tensor(torch.from_numpy(X.indptr.astype(np.int64)),
                                       torch.from_numpy(X.indices.astype(np.int64)),
                                       torch.from_numpy(X.data), size=X.shape, check_invariants=True)


def fit_both(data, k, seed):
    """SphericalKMeans and KMeans fitted on ``data`` (what each saw, its time)."""
    results = {}
    for name, model in (("SphericalKMeans", SphericalKMeans(n_clusters=k, random_state=seed)),
                        ("KMeans", KMeans(n_clusters=k, random_state=seed))):
        start = time.perf_counter()
        with warnings.catch_warnings():
            # Documents whose every term is a stop word or too rare have all-zero rows:
            # reported once by the corpus line below, not once per fit.
            warnings.filterwarnings("ignore", "X has .* all-zero row", UserWarning)
            model.fit(data)
        labels = to_numpy(model.labels_)
        results[name] = (model, labels, to_numpy(model.cluster_centers_), time.perf_counter() - start)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=".", help="directory for the PNG (default: .)")
    parser.add_argument("--backend", choices=("numpy", "torch"), default="numpy",
                        help="numpy: scipy.sparse input; torch: torch.sparse_csr_tensor input")
    parser.add_argument("--k", type=int, default=12, help="number of clusters (default: 12)")
    parser.add_argument("--max-docs", type=int, default=None, help="use a random subset of this many documents")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics import adjusted_rand_score

    documents, modules = docstring_corpus(max_docs=args.max_docs, seed=args.seed)
    vectorizer = TfidfVectorizer(stop_words="english", min_df=3, max_df=0.5,
                                 token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z]+\b")  # words, not numbers
    X = vectorizer.fit_transform(documents).tocsr()
    X.sort_indices()  # canonical CSR (PyTorch's checked CSR tensors need sorted column indices)
    terms = vectorizer.get_feature_names_out()
    n_zero = int((np.diff(X.indptr) == 0).sum())
    print(f"corpus: {len(documents)} docstrings from {len(set(modules))} modules; TF-IDF matrix "
          f"{X.shape[0]} x {X.shape[1]} ({type(X).__name__}, {100 * X.nnz / (X.shape[0] * X.shape[1]):.2f}% non-zero), "
          f"{n_zero} all-zero rows")

    data, on = X, "scipy.sparse"
    if args.backend == "torch":
        data, on = as_torch_csr(X), "torch sparse"
    with xpcluster.array_api_dispatch():  # results in the input's library
        try:
            results = fit_both(data, args.k, args.seed)
        except TypeError as error:
            if args.backend != "torch":
                raise
            print(f"torch sparse: not supported yet ({error})")
            on = "scipy.sparse (torch sparse not supported yet)"
            results = fit_both(X, args.k, args.seed)
        else:
            if args.backend == "torch":
                kinds = {type(model.cluster_centers_).__module__.split(".")[0] for model, *_ in results.values()}
                on_scipy = fit_both(X, args.k, args.seed)
                same = all(np.array_equal(results[name][1], on_scipy[name][1]) for name in results)
                print(f"torch sparse: fitted, results are {'/'.join(sorted(kinds))} arrays; "
                      f"same labels as on scipy.sparse: {same}")

    for name, (model, labels, centres, seconds) in results.items():
        objective = "sum of 1 - cos" if name == "SphericalKMeans" else "sum of squared distances"
        print(f"\n{name} (k={args.k}) on {on}: {model.n_iter_} iterations, {seconds:.2f} s, "
              f"inertia_ {model.inertia_:.2f} ({objective})")
        for j in range(args.k):
            members = modules[labels == j]
            top_module, top_count = Counter(members).most_common(1)[0] if members.size else ("-", 0)
            top = ", ".join(terms[np.argsort(-centres[j])[:TOP_TERMS]])
            origin = f"({top_count:3d} from {top_module}),"
            print(f"  cluster {j:2d}: {members.size:4d} docs {origin:<34s} top terms: {top}")

    print()
    scores = {}
    for name, (_, labels, _, _) in results.items():
        if len(np.unique(labels)) < 2:
            print(f"{name}: one cluster only, no silhouette")
            continue
        # On the SciPy matrix (the same rows): the silhouette is a reference number here.
        silhouette = float(silhouette_score(X, labels, metric="cosine"))
        rand = adjusted_rand_score(modules, labels)
        scores[name] = (silhouette, rand)
        print(f"{name:<16s} cosine silhouette {silhouette:.3f}, adjusted Rand index against the modules {rand:.3f}")

    path = plot(X, results["SphericalKMeans"], terms, args)
    print(f"wrote {path}")
    return 0


def plot(X, result, terms, args):
    """Cluster sizes with top terms, and the 2-D TruncatedSVD scatter, for SphericalKMeans."""
    import matplotlib
    from matplotlib.figure import Figure
    from sklearn.decomposition import TruncatedSVD

    _, labels, centres, _ = result
    sizes = np.bincount(labels, minlength=args.k)
    fig = Figure(figsize=(14, 0.45 * args.k + 2.5), layout="constrained")
    bars, scatter = fig.subplots(1, 2, width_ratios=(1.2, 1))
    names = [f"{j}: " + ", ".join(terms[np.argsort(-centres[j])[:3]]) for j in range(args.k)]
    palette = matplotlib.colormaps["tab20" if args.k <= 20 else "hsv"]
    colours = [palette(j % 20 if args.k <= 20 else j / args.k) for j in range(args.k)]
    bars.barh(range(args.k), sizes, color=colours)
    bars.set_yticks(range(args.k), names, fontsize=9)
    bars.invert_yaxis()
    bars.set_xlabel("documents")
    bars.set_title("SphericalKMeans clusters of NumPy/SciPy docstrings: size and top terms")
    plane = TruncatedSVD(n_components=2, random_state=args.seed).fit_transform(X)
    scatter.scatter(plane[:, 0], plane[:, 1], c=[colours[j] for j in labels], s=6, alpha=0.7)
    scatter.set_xlabel("singular vector 1")
    scatter.set_ylabel("singular vector 2")
    scatter.set_title("documents in the first two TF-IDF singular directions")
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "document_clustering.png")
    fig.savefig(path, dpi=80)
    return path


if __name__ == "__main__":
    sys.exit(main())
