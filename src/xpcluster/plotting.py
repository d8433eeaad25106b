"""Plots for clustering results: elbow, gap statistic, silhouette, clusters in 2-D.

matplotlib is optional (``pip install 'xpcluster[plot]'``) and imported only when a plot is
drawn.  Figures are made with :class:`matplotlib.figure.Figure` directly, never through
``pyplot``, so drawing touches no global state and needs no GUI backend; each function
writes one image (PNG unless the path's suffix names another format matplotlib writes)
and returns the path.

Arrays may come from any supported library and device: they are copied to NumPy for
drawing (that is output, not computation).  The per-sample silhouette values of
:func:`plot_silhouette` are computed on that host copy by
:func:`xpcluster.metrics.silhouette_samples`: the diagram draws every one of them anyway.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ._io import chosen_k, result_table, to_numpy

__all__ = ["plot_elbow", "plot_gap", "plot_silhouette", "plot_silhouette_scores", "plot_clusters"]

PathLike = str | os.PathLike


def _matplotlib() -> Any:
    """``matplotlib.figure`` or an ImportError that names the extra to install."""
    try:
        import matplotlib.figure
    except ImportError:
        raise ImportError(
            "xpcluster.plotting needs matplotlib: pip install 'xpcluster[plot]'"
        ) from None
    return matplotlib.figure


def _figure(width: float = 6.4, height: float = 4.4) -> Any:
    return _matplotlib().Figure(figsize=(width, height), layout="constrained")


def _check_path(path: Any) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"path {str(path)!r} is a directory; give a file name such as 'plot.png'")
    return path


def _save(fig: Any, path: Path) -> Path:
    fig.savefig(path, dpi=100, format=None if path.suffix else "png")
    return path


def _column(table: dict[str, np.ndarray], names: tuple[str, ...], what: str) -> np.ndarray:
    for name in names:
        if name in table:
            return np.asarray(table[name], dtype=np.float64)
    raise ValueError(f"the result has no {what} column (looked for {', '.join(names)}; it has {', '.join(table)})")


def _ks(table: dict[str, np.ndarray]) -> np.ndarray:
    ks = _column(table, ("k",), "K")
    if ks.ndim != 1 or ks.size == 0:
        raise ValueError("the result's K column is empty")
    return ks


def _mark_chosen(ax: Any, result: Any, ks: np.ndarray, values: np.ndarray) -> None:
    k = chosen_k(result, default=None)
    if k is None or k not in ks:
        return
    i = int(np.flatnonzero(ks == k)[0])
    ax.axvline(k, color="0.6", linestyle="--", linewidth=1, zorder=0)
    ax.plot([k], [values[i]], linestyle="none", marker="o", markersize=11, markerfacecolor="none",
            markeredgecolor="C3", markeredgewidth=2, label=f"chosen K = {k}")
    ax.legend(loc="best", frameon=False)


def _curve(result: Any, path: PathLike, names: tuple[str, ...], what: str, title: str,
           errors: tuple[str, ...] | None = None) -> Path:
    path = _check_path(path)
    table = result_table(result)
    ks = _ks(table)
    values = _column(table, names, what)
    if values.shape != ks.shape:
        raise ValueError(f"the result's {what} column has {values.size} entries for {ks.size} Ks")
    fig = _figure()
    ax = fig.add_subplot()
    if errors is not None:
        spread = _column(table, errors, f"{what} standard error")
        ax.errorbar(ks, values, yerr=spread, marker="o", capsize=3)
    else:
        ax.plot(ks, values, marker="o")
    _mark_chosen(ax, result, ks, values)
    ax.set_xlabel("number of clusters K")
    ax.set_ylabel(what)
    ax.set_xticks(ks if ks.size <= 20 else ax.get_xticks())
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_elbow(result, path):
    """Draw inertia (within-cluster sum of squares) against K, the chosen K marked.

    Parameters
    ----------
    result : choose-K result or mapping
        What :func:`xpcluster.choose_k.elbow` / ``choose_k(..., method='elbow')`` returns,
        or a mapping with ``'k'`` and ``'inertia'`` sequences (and optionally ``'chosen_k'``).
    path : str or os.PathLike
        Image file to write.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import tempfile, os
    >>> from xpcluster.plotting import plot_elbow
    >>> result = {"k": [1, 2, 3, 4], "inertia": [90.0, 30.0, 12.0, 10.0], "chosen_k": 3}
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     plot_elbow(result, os.path.join(folder, "elbow.png")).name
    'elbow.png'
    """
    return _curve(result, path, ("inertia",), "inertia", "Elbow: within-cluster sum of squares")


def plot_silhouette_scores(result, path):
    """Draw the mean silhouette against K, the chosen K marked.

    Parameters
    ----------
    result : choose-K result or mapping
        What ``silhouette_sweep`` / ``choose_k(..., method='silhouette')`` returns, or a
        mapping with ``'k'`` and ``'silhouette'`` sequences (and optionally ``'chosen_k'``).
    path : str or os.PathLike
        Image file to write.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import tempfile, os
    >>> from xpcluster.plotting import plot_silhouette_scores
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     plot_silhouette_scores({"k": [2, 3, 4], "silhouette": [0.5, 0.7, 0.6]},
    ...                            os.path.join(folder, "sil.png")).name
    'sil.png'
    """
    return _curve(result, path, ("silhouette",), "mean silhouette", "Silhouette: mean over samples")


def plot_gap(result, path):
    """Draw the gap statistic against K with its standard-error bars, the chosen K marked.

    Parameters
    ----------
    result : choose-K result or mapping
        What :func:`xpcluster.choose_k.gap_statistic` / ``choose_k(..., method='gap')``
        returns, or a mapping with ``'k'``, ``'gap'`` and ``'sk'`` (the standard error
        ``s_k`` of Tibshirani et al.) sequences, optionally ``'chosen_k'``.
    path : str or os.PathLike
        Image file to write.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import tempfile, os
    >>> from xpcluster.plotting import plot_gap
    >>> result = {"k": [1, 2, 3], "gap": [0.1, 0.6, 0.62], "sk": [0.05, 0.04, 0.05]}
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     plot_gap(result, os.path.join(folder, "gap.png")).name
    'gap.png'
    """
    return _curve(result, path, ("gap",), "gap statistic", "Gap statistic (bars: s_k)",
                  errors=("sk", "s_k", "gap_sk", "gap_std", "std", "sd"))


def _host_pair(X: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    X, labels = to_numpy(X), to_numpy(labels)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (samples x features), got {X.ndim}-D")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"X is empty (shape {X.shape})")
    if not np.issubdtype(X.dtype, np.number) or np.iscomplexobj(X):
        raise ValueError(f"X must hold real numbers, got dtype {X.dtype}")
    if labels.ndim != 1 or labels.shape[0] != X.shape[0]:
        raise ValueError(f"labels must be 1-D with one entry per row of X ({X.shape[0]}), got shape {labels.shape}")
    if labels.dtype.kind not in "iub":
        if labels.dtype.kind != "f" or not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
            raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
        labels = labels.astype(np.int64)
    if not np.all(np.isfinite(X)):
        raise ValueError("X contains NaN or infinite values")
    return X.astype(np.float64, copy=False), labels


def plot_silhouette(X, labels, path):
    """Draw the silhouette diagram of a clustering.

    One band per cluster: the silhouette coefficient of each of its samples, sorted, as a
    horizontal bar; a dashed line at the mean over all samples.  Wide bands that reach
    past the mean are well separated clusters; bars below zero are samples closer to
    another cluster than to their own.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        The samples, from any supported array library.
    labels : array of shape (n_samples,)
        Cluster of each sample (2 to ``n_samples - 1`` distinct values).
    path : str or os.PathLike
        Image file to write.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from xpcluster.plotting import plot_silhouette
    >>> X = np.array([[0.0], [1.0], [10.0], [11.0], [12.0]])
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     plot_silhouette(X, [0, 0, 1, 1, 1], os.path.join(folder, "s.png")).name
    's.png'
    """
    path = _check_path(path)
    _matplotlib()
    host_X, host_labels = _host_pair(X, labels)
    clusters = np.unique(host_labels)
    if not 2 <= clusters.size <= host_X.shape[0] - 1:
        raise ValueError(
            f"the silhouette needs 2 to n_samples - 1 = {host_X.shape[0] - 1} distinct labels, "
            f"got {clusters.size}"
        )
    from .metrics import silhouette_samples

    # Computed on the host copy: the diagram needs every value on the host anyway.
    values = to_numpy(silhouette_samples(host_X, host_labels)).astype(np.float64)
    fig = _figure(6.4, max(3.5, min(9.0, 1.0 + 0.5 * clusters.size)))
    ax = fig.add_subplot()
    gap = max(2, host_X.shape[0] // 50)
    bottom, middles = gap, []
    for i, cluster in enumerate(clusters):
        members = np.sort(values[host_labels == cluster])
        rows = np.arange(bottom, bottom + members.size)
        ax.fill_betweenx(rows, 0, members, color=f"C{i % 10}", alpha=0.8, linewidth=0)
        middles.append(bottom + members.size / 2)
        bottom += members.size + gap
    mean = float(values.mean())
    ax.axvline(mean, color="C3", linestyle="--", linewidth=1, label=f"mean {mean:.3f}")
    ax.axvline(0, color="0.3", linewidth=0.8)
    ax.set_xlim(min(-0.1, float(values.min()) - 0.05), 1.0)
    ax.set_ylim(0, bottom)
    ax.set_yticks(middles, [str(c) for c in clusters] if clusters.size <= 30 else [""] * clusters.size)
    ax.tick_params(axis="y", length=0)
    ax.set_xlabel("silhouette coefficient")
    ax.set_ylabel("cluster")
    ax.set_title(f"Silhouette diagram: {clusters.size} clusters, {host_X.shape[0]} samples")
    ax.legend(loc="lower right", frameon=False)
    return _save(fig, path)


def plot_clusters(X, labels, centers, path):
    """Scatter the samples coloured by cluster, with the cluster centres marked.

    Two features are drawn as they are; with more, samples and centres are projected on
    the first two principal axes of ``X`` (the axes' share of the variance is in the axis
    labels); a single feature is drawn along a line.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        The samples, from any supported array library.
    labels : array of shape (n_samples,)
        Cluster of each sample.
    centers : array of shape (n_clusters, n_features) or None
        Cluster centres to mark; None draws the samples only.
    path : str or os.PathLike
        Image file to write.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from xpcluster.plotting import plot_clusters
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [5.0, 5.0], [5.0, 6.0]])
    >>> C = np.array([[0.0, 0.5], [5.0, 5.5]])
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     plot_clusters(X, [0, 0, 1, 1], C, os.path.join(folder, "c.png")).name
    'c.png'
    """
    path = _check_path(path)
    _matplotlib()
    host_X, host_labels = _host_pair(X, labels)
    n, d = host_X.shape
    host_C = None
    if centers is not None:
        host_C = to_numpy(centers)
        if host_C.ndim != 2 or host_C.shape[1] != d or host_C.shape[0] == 0:
            raise ValueError(f"centers must have shape (n_clusters, {d}), got {host_C.shape}")
        host_C = host_C.astype(np.float64)
        if not np.all(np.isfinite(host_C)):
            raise ValueError("centers contain NaN or infinite values")
    xlabel, ylabel = "feature 0", "feature 1"
    if d == 1:
        points = np.column_stack([host_X[:, 0], np.zeros(n)])
        marks = None if host_C is None else np.column_stack([host_C[:, 0], np.zeros(len(host_C))])
        ylabel = ""
    elif d == 2:
        points, marks = host_X, host_C
    else:
        mean = host_X.mean(axis=0)
        centred = host_X - mean
        # The SVD and the variance shares on the data scaled by a power of two to about 1
        # (exact): squared singular values of data near 1e200 (or 1e-200) overflow.
        largest = float(np.max(np.abs(centred)))
        unit = 2.0 ** -np.frexp(largest)[1] if largest > 0 and np.isfinite(largest) else 1.0
        _, s, vt = np.linalg.svd(centred * unit, full_matrices=False)
        axes = vt[:2].T
        share = s**2 / max(float(np.sum(s**2)), np.finfo(float).tiny)
        points = centred @ axes
        marks = None if host_C is None else (host_C - mean) @ axes
        xlabel, ylabel = (f"principal axis {i + 1} ({share[i]:.0%} of variance)" for i in range(2))
    fig = _figure()
    ax = fig.add_subplot()
    clusters = np.unique(host_labels)
    size = 20 if n <= 2000 else 4
    for i, cluster in enumerate(clusters):
        chosen = host_labels == cluster
        ax.scatter(points[chosen, 0], points[chosen, 1], s=size, color=f"C{i % 10}", alpha=0.7,
                   linewidths=0, label=f"cluster {cluster}" if clusters.size <= 10 else None)
    if marks is not None:
        ax.scatter(marks[:, 0], marks[:, 1], marker="X", s=160, color="black", edgecolors="white",
                   linewidths=1.5, label="centres", zorder=3)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if d == 1:
        ax.set_yticks([])
    ax.set_title(f"{clusters.size} clusters, {n} samples" + (f" (d={d}, PCA view)" if d > 2 else ""))
    if clusters.size <= 10 or marks is not None:
        ax.legend(loc="best", fontsize=8, frameon=False)
    return _save(fig, path)
