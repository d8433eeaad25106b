"""Bisecting k-means: split one cluster in two with 2-means, k - 1 times; the hierarchy is kept."""
from __future__ import annotations

import math
from typing import Any, NamedTuple

import array_api_compat
import numpy as np

from .. import _rng
from .._backends import _GENERIC, capabilities_for
from .._backends.sparse import is_sparse, native
from .._checks import Checks
from .._core.assign import assign_labels, prepare_rows
from .._core.chunks import memory_budget, memory_budget_bytes
from .._core.dtypes import widest_float
from .._core.scale import is_unit, range_scale, scaled, unscaled, unscaled_checked
from .._core.update import update_centroids
from .._placement import place_draw
from ._kmeans import _as_centers, transform_core, unscaled_number
from ._base import (
    scaled_distances,
    BaseEstimator,
    check_bool,
    check_int,
    check_real,
    check_verbose,
    check_sample_weight,
    clusterer_tags,
    fitted_input,
    invalid_parameter,
    refuse_non_finite,
    refuse_traced,
    validate_data,
)

__all__ = ["BisectingKMeans", "BisectingSplit"]

_INIT_NAMES = ("random", "k-means++")
_STRATEGIES = ("biggest_inertia", "largest_cluster")
_ALGORITHMS = ("lloyd", "elkan")


class BisectingSplit(NamedTuple):
    """One split of :class:`BisectingKMeans`' hierarchy (an entry of ``hierarchy_``).

    Nodes are numbered in creation order: the root (all observations) is node 0 and the
    ``s``-th split (from 0) creates nodes ``2*s + 1`` (``left``) and ``2*s + 2``
    (``right``).  Sizes count observations (unweighted); SSEs are the weighted sums of
    squared Euclidean distances of a node's observations to its centre.
    """

    parent: int
    left: int
    right: int
    parent_size: int
    parent_sse: float
    left_size: int
    right_size: int
    left_sse: float
    right_sse: float


class BisectingKMeans(BaseEstimator):
    """Bisecting k-means: divisive hierarchical clustering with 2-means splits.

    Starting from one cluster holding every observation, the cluster chosen by
    ``bisecting_strategy`` is split in two by (weighted) 2-means, keeping the best of
    ``n_init`` runs, until there are ``n_clusters`` leaves.  Every split is recorded in
    ``hierarchy_``.  All arithmetic runs in the input's array library, on its device, in its
    compute dtype, on the data scaled by a power of two into that dtype's safe range (so
    float32 data near 1e30, 1e-30 or its maximum splits as float64 data does).

    Parameters
    ----------
    n_clusters : int, default=8
        Number of clusters (leaves of the hierarchy).
    init : {'random', 'k-means++'} or callable, default='random'
        Initialisation of each 2-means: 'random' draws two distinct observations with
        probability proportional to their weights; 'k-means++' draws the first that way and
        the second with probability proportional to weight times squared distance to the
        first (no greedy trials, unlike scikit-learn's k-means++).

        A callable is called as scikit-learn calls it, ``init(X_leaf, 2,
        random_state=random_state)``, once per 2-means run (``n_init`` times per split):
        ``X_leaf`` holds the observations of the leaf being split, in ``X``'s namespace,
        device and compute dtype and in ``X``'s own units (scikit-learn passes them
        centred on the mean of ``X``; here they are as given), ``random_state`` is the
        NumPy ``RandomState``/``Generator`` that ``random_state`` resolves to (the object
        itself when one is given).  It must return 2 centres of shape ``(2, n_features)``,
        finite, in ``X``'s namespace and device or anything NumPy converts (host
        values are moved to ``X``'s device); anything else raises ``ValueError``.
        Sample weights take no part in a callable's choice.
    n_init : int, default=1
        2-means runs per split; the one with the lowest inertia is kept (a later run must be
        lower by a relative 1e-6, as in scikit-learn, so that rounding never decides).
    random_state : None, int, numpy.random.RandomState or numpy.random.Generator, default=None
        Source of the random draws, made on the host with NumPy (two uniforms per run), so
        every backend gives the NumPy answer for a given seed.  None: NumPy's global state.
    max_iter : int, default=300
        Most Lloyd iterations of one 2-means run.
    verbose : int or bool, default=0
        When positive, ``fit`` prints one line per split (the leaf split, its size and
        SSE, the children's) and the two new centres, as scikit-learn prints
        ``New centroids from bisection: ...``.  Printing reads the centres to the host (a
        synchronisation; a compute on Dask).  Per-iteration lines, which scikit-learn's
        inner Lloyd prints, are not printed: the 2-means loop runs compiled.
    tol : float, default=1e-4
        A 2-means run stops when the squared movement of its two centres (the sum over both
        and over the features) is at most ``tol``, or as soon as an assignment repeats the
        previous one.  As in scikit-learn's ``BisectingKMeans``, ``tol`` is used as is, not
        scaled by the data's variance (as ``KMeans`` scales it).
    copy_x : bool, default=True
        Accepted for scikit-learn's signature.  ``X`` is never modified, whatever its
        value: scikit-learn centres ``X`` in place when it is False, this implementation
        never writes to its input (read-only arrays and immutable JAX arrays fit alike).
    algorithm : {'lloyd', 'elkan'}, default='lloyd'
        The inner 2-means algorithm, accepted for scikit-learn's signature.  Both give
        the same result here: 'elkan' runs the same Lloyd iterations as 'lloyd' (same
        centres, labels and hierarchy for the same seed); with two centres per 2-means
        there is little for Elkan's bounds to skip, and one engine keeps one answer.
    bisecting_strategy : {'biggest_inertia', 'largest_cluster'}, default='biggest_inertia'
        Which leaf to split next: the one with the largest SSE, or the one with the most
        observations (counted without weights, as scikit-learn does).  Ties go to the
        lowest node number; leaves with fewer than two observations are never split.

    Attributes
    ----------
    cluster_centers_ : array of shape (n_clusters, n_features)
        Centres of the leaves, in ``X``'s namespace and device and its compute dtype
        (float64 and float32 as given, integers in the device's widest float, half
        precision in float32).  Cluster ``j``
        is node ``leaf_nodes_[j]``; leaves are ordered by node number.
    labels_ : array of int32, shape (n_samples,)
        Cluster of each training observation.
    inertia_ : float
        Weighted sum of squared distances of the training observations to their cluster
        centres (the sum of the leaves' SSEs); a Python float, like the SSEs of
        ``hierarchy_``, finite also where it exceeds the range of float32 data.
    hierarchy_ : list of BisectingSplit
        The ``n_clusters - 1`` splits in the order they were made (see
        :class:`BisectingSplit`): parent node, its two children, and the parent's and
        children's sizes and SSEs.
    node_centers_ : array of shape (2 * n_clusters - 1, n_features)
        Centre of every node: row 0 is the weighted mean of ``X``, rows ``2s+1``, ``2s+2``
        the centres the ``s``-th split's 2-means found.
    leaf_nodes_ : tuple of int
        Node number of each cluster.
    n_features_in_ : int
        Number of features seen in ``fit``.

    Notes
    -----
    *Prediction descends the hierarchy*, as scikit-learn's does: starting at the root, an
    observation goes to the nearer of the two children at every split, down to a leaf.  It
    is therefore not always the leaf with the nearest centre.  ``predict(X_train)`` equals
    ``labels_``.  ``transform`` gives the Euclidean distances to every leaf centre.

    *Subsets.* Each 2-means runs on the observations of the leaf being split (a boolean
    mask, so data-dependent shapes).  On a backend that compiles (JAX) and on Dask the
    subset is padded with zero-weight rows to one of four sizes per power of two (at most
    25% more rows), so that the 2-means is compiled once per size class rather than once
    per split; elsewhere it runs on the subset as it is.  Choosing the
    next leaf reads the children's sizes and SSEs on the host after each split: eager
    backends synchronise there; on Dask ``fit`` computes (the subset's size, then each
    2-means iteration's stop flag, then the split's numbers), while ``predict`` and
    ``transform`` compute nothing.  ``fit`` cannot run inside a user's ``jax.jit``;
    ``predict`` and ``transform`` can.  ``score`` returns a float (a compute on Dask).

    *Empty children.* A 2-means centre left without (weighted) members keeps its previous
    position (scikit-learn moves it to a far point instead); with duplicated observations a
    split can leave a child with no observations.

    Examples
    --------
    >>> import numpy as np
    >>> from xpcluster.cluster import BisectingKMeans
    >>> X = np.array([[1.0, 1.0], [10.0, 1.0], [3.0, 1.0],
    ...               [10.0, 0.0], [2.0, 1.0], [10.0, 2.0],
    ...               [10.0, 8.0], [10.0, 9.0], [10.0, 10.0]])
    >>> bkm = BisectingKMeans(n_clusters=3, random_state=0).fit(X)
    >>> np.sort(bkm.cluster_centers_, axis=0)
    array([[ 2.,  1.],
           [10.,  1.],
           [10.,  9.]])
    >>> len(bkm.hierarchy_), bkm.hierarchy_[0].parent
    (2, 0)
    >>> bool((bkm.predict(X) == bkm.labels_).all())
    True
    """

    def __init__(
        self,
        n_clusters=8,
        *,
        init="random",
        n_init=1,
        random_state=None,
        max_iter=300,
        verbose=0,
        tol=1e-4,
        copy_x=True,
        algorithm="lloyd",
        bisecting_strategy="biggest_inertia",
    ):
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.random_state = random_state
        self.max_iter = max_iter
        self.verbose = verbose
        self.tol = tol
        self.copy_x = copy_x
        self.algorithm = algorithm
        self.bisecting_strategy = bisecting_strategy

    _accepts_sparse = True  # SciPy sparse input (validate_data)

    def __sklearn_tags__(self) -> Any:
        return clusterer_tags(sparse=True)

    # -- fitting ---------------------------------------------------------------------

    def fit(self, X, y=None, sample_weight=None):
        """Compute bisecting k-means clustering.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
            Training observations (any Array API library; integers become the default float).
        y : Ignored
            Not used, present for API consistency.
        sample_weight : array of shape (n_samples,) or float, default=None
            Non-negative weights of the observations (None: all 1).

        Returns
        -------
        self : BisectingKMeans
            The fitted estimator.
        """
        k = check_int(self, "n_clusters", self.n_clusters, 1)
        max_iter = check_int(self, "max_iter", self.max_iter, 1)
        tol = check_real(self, "tol", self.tol, 0.0)
        n_init = check_int(self, "n_init", self.n_init, 1)
        verbose = check_verbose(self, self.verbose)
        # Validated for scikit-learn's contract only: X is never written to (see copy_x).
        check_bool(self, "copy_x", self.copy_x)
        if not isinstance(self.algorithm, str) or self.algorithm not in _ALGORITHMS:
            raise invalid_parameter(
                f"The 'algorithm' parameter of BisectingKMeans must be a str among {list(_ALGORITHMS)}. "
                f"Got {self.algorithm!r} instead."
            )
        given_init = callable(self.init)
        if not given_init and (not isinstance(self.init, str) or self.init not in _INIT_NAMES):
            raise invalid_parameter(
                f"The 'init' parameter of BisectingKMeans must be a str among {list(_INIT_NAMES)} "
                f"or a callable. Got {self.init!r} instead."
            )
        if not isinstance(self.bisecting_strategy, str) or self.bisecting_strategy not in _STRATEGIES:
            raise invalid_parameter(
                "The 'bisecting_strategy' parameter of BisectingKMeans must be a str among "
                f"{list(_STRATEGIES)}. Got {self.bisecting_strategy!r} instead."
            )
        rng = _rng.random_source(self.random_state)

        xp, _, X = validate_data(self, X, reset=True)
        caps = capabilities_for(xp)
        checks = Checks(caps, now=True)
        refuse_traced(self, X, caps)
        X = caps.persist(caps.known_rows(X))
        n, d = X.shape
        if n < k:
            raise ValueError(f"n_samples={n} should be >= n_clusters={k}.")
        refuse_non_finite(X, xp=xp, caps=caps)
        weights = check_sample_weight(sample_weight, X, xp=xp, caps=caps, checks=checks)
        budget = memory_budget_bytes()
        # The whole fit runs on the data scaled once by a power of two into the dtype's safe
        # range (nothing is multiplied for data inside it).  ``tol`` is absolute, in the
        # data's unit squared: it is scaled with the data.  Centres and SSEs are unscaled.
        scale = range_scale(X, xp=xp, caps=caps, now=True)
        factor = 1.0 if is_unit(scale) else _host_float(scale, caps)
        if not is_unit(scale):
            X = caps.persist(scaled(X, scale))
            tol = tol * factor * factor

        def sse(value: Any) -> float:
            return unscaled_number(_host_float(value, caps), factor, 2, what="an SSE (inertia_)")

        # The root: every observation, at the weighted mean.
        root_centre, root_sse, node, weights = caps.compiled(_root_core, ("xp",))(X, weights, xp=xp)
        weights = caps.persist(weights)
        centres = [root_centre]
        leaves = {0: (n, sse(root_sse))}  # node -> (size, sse)
        split = caps.compiled(_split_core, _SPLIT_STATIC)
        hierarchy = []
        for s in range(k - 1):
            parent = _leaf_to_split(leaves, self.bisecting_strategy)
            left, right = 2 * s + 1, 2 * s + 2
            inside = node == parent
            subset = caps.persist(caps.known_rows(_rows_where(X, inside, xp=xp, caps=caps)))
            subset_weights = None if sample_weight is None else caps.persist(caps.known_rows(weights[inside]))
            if given_init:
                seeds = _given_starts(self.init, native(unscaled(subset, scale)), n_init, rng, scale, xp=xp, caps=caps,
                                      checks=checks)
            if _reuses_programs(caps):
                subset, subset_weights = _padded(subset, subset_weights, xp)
            if not given_init:
                seeds = place_draw(rng.uniform(size=(n_init, 2)), X, xp, caps)
            nodes = place_draw(np.asarray([parent, left, right]), X, xp, caps)
            pair, node, stats, parts = split(
                X, weights, node, subset, subset_weights, seeds, nodes,
                tol=tol, init="given" if given_init else self.init, max_iter=max_iter, xp=xp, caps=caps,
                budget=budget,
            )
            if caps.defers_checks:  # lazy: the stacked results are persisted once and read from there
                node, stats, pair = caps.persist(node), caps.persist(stats), caps.persist(pair)
                parts = (*(stats[i] for i in range(4)), pair[0:1, :], pair[1:2, :])
            left_size, right_size = (_host_float(parts[i], caps) for i in range(2))
            left_sse, right_sse = sse(parts[2]), sse(parts[3])
            parent_size, parent_sse = leaves.pop(parent)
            leaves[left] = (int(left_size), left_sse)
            leaves[right] = (int(right_size), right_sse)
            centres += [parts[4], parts[5]]
            hierarchy.append(
                BisectingSplit(parent, left, right, parent_size, parent_sse, int(left_size), int(right_size), left_sse, right_sse)
            )
            if verbose:
                _print_split(s, k, hierarchy[-1], unscaled(pair, scale), caps)

        leaf_nodes = tuple(sorted(leaves))
        node_centres = xp.concat(centres, axis=0)
        self.node_centers_ = caps.persist(
            unscaled_checked(node_centres, scale, 1, xp=xp, checks=checks, what="a cluster centre")
        )
        self.cluster_centers_ = caps.persist(unscaled(xp.concat([centres[leaf] for leaf in leaf_nodes], axis=0), scale))
        self.labels_ = caps.persist(caps.compiled(_labels_core, ("leaf_nodes", "xp"))(node, leaf_nodes=leaf_nodes, xp=xp))
        self.inertia_ = math.fsum(leaves[leaf][1] for leaf in leaf_nodes)
        self.hierarchy_ = hierarchy
        self.leaf_nodes_ = leaf_nodes
        return self

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit and return the cluster of every training observation (``labels_``).

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
            Training observations.
        y : Ignored
            Not used, present for API consistency.
        sample_weight : array of shape (n_samples,), default=None
            Weights of the observations.

        Returns
        -------
        labels : array of int32, shape (n_samples,)
            Cluster of each observation.
        """
        return self.fit(X, sample_weight=sample_weight).labels_

    # -- using a fitted model ----------------------------------------------------------

    def _descend(self, xp, caps, X, node_centres, s):
        """Labels and distances to the leaf centre (scaled by ``s``) of ``X`` descending the splits."""
        splits = tuple((h.parent, h.left, h.right) for h in self.hierarchy_)
        run = caps.compiled(_descend_core, ("splits", "leaf_nodes", "xp", "caps", "budget"))
        return run(
            scaled(X, s), scaled(node_centres, s), splits=splits, leaf_nodes=self.leaf_nodes_, xp=xp, caps=caps,
            budget=memory_budget_bytes(),
        )

    def predict(self, X):
        """Cluster of each observation, found by descending the hierarchy.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
            Observations, in the library and on the device of the fitted centres.

        Returns
        -------
        labels : array of int32, shape (n_samples,)
            At every split the nearer child is taken (the left one on ties).  Lazy on
            Dask; NaN or infinity in ``X`` raise ``ValueError`` (when computed on Dask, when
            the program runs under ``jax.jit``).  Distances are compared on the data scaled
            by a power of two, so any magnitude the dtype holds is compared exactly.
        """
        xp, caps, checks, X, _ = fitted_input(self, X)
        node_centres = xp.astype(self.node_centers_, X.dtype, copy=False)
        labels, _ = self._descend(xp, caps, X, node_centres, range_scale(X, node_centres, xp=xp, caps=caps))
        (labels,) = checks.attach(labels)
        return labels

    def transform(self, X):
        """Euclidean distances of every observation to every cluster centre.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
            Observations.

        Returns
        -------
        distances : array of shape (n_samples, n_clusters)
            Computed in row blocks sized by the memory budget, in the wider of ``X``'s
            compute dtype and the centres' dtype; a distance beyond that dtype's maximum
            raises ``ValueError``.
        """
        return scaled_distances(_transform_core, ("xp", "caps", "budget"), fitted_input(self, X))

    def fit_transform(self, X, y=None, sample_weight=None):
        """Fit, then return the distances of the training observations to the centres.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
            Training observations.
        y : Ignored
            Not used, present for API consistency.
        sample_weight : array of shape (n_samples,), default=None
            Weights of the observations.

        Returns
        -------
        distances : array of shape (n_samples, n_clusters)
            See :meth:`transform`.
        """
        return self.fit(X, sample_weight=sample_weight).transform(X)

    def score(self, X, y=None, sample_weight=None):
        """Opposite of the weighted SSE of ``X`` under :meth:`predict`'s labels.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
            Observations.
        y : Ignored
            Not used, present for API consistency.
        sample_weight : array of shape (n_samples,), default=None
            Weights of the observations.

        Returns
        -------
        score : float
            ``-sum_i w_i |X[i] - cluster_centers_[predict(X)[i]]|^2`` (a value read to the
            host: a compute on Dask).  ``score(X_train)`` is ``-inertia_`` up to rounding.
            Computed on data scaled by a power of two and unscaled in float64, so it is
            finite also where the squares would overflow the data's dtype.
        """
        xp, caps, checks, X, _ = fitted_input(self, X)
        refuse_non_finite(X, xp=xp, caps=caps)
        weights = check_sample_weight(sample_weight, X, xp=xp, caps=caps)
        node_centres = xp.astype(self.node_centers_, X.dtype, copy=False)
        s = range_scale(X, node_centres, xp=xp, caps=caps, now=True)
        _, distances = self._descend(xp, caps, X, node_centres, s)
        squared = distances * distances
        (total,) = checks.attach(xp.sum(squared if weights is None else weights * squared))
        factor = 1.0 if is_unit(s) else _host_float(s, caps)
        return -unscaled_number(_host_float(total, caps), factor, 2, what="the score")


# -- numeric cores (standard-only; compiled on backends that compile) ----------------------

_SPLIT_STATIC = ("tol", "init", "max_iter", "xp", "caps", "budget")
#: A later run replaces the best one only if its inertia is lower by this fraction (as in
#: scikit-learn), so that runs ending in the same split -- equal up to rounding, perhaps
#: with the children swapped -- keep the same one on every backend.
_BETTER_BY = 1e-6


def _root_core(x: Any, w: Any, *, xp: Any) -> tuple[Any, Any, Any, Any]:
    """The weighted mean (1, d), the weighted SSE around it, every observation's node (0)
    and the weights (ones when ``w`` is None)."""
    if w is None:
        w = xp.ones_like(x[:, 0])
    if is_sparse(x):  # the rows stay sparse: their weighted sum and SSE from the assignment pass
        origin = xp.zeros((1, x.shape[1]), dtype=x.dtype, device=array_api_compat.device(w))
        total = assign_labels(x, origin, xp=xp, caps=capabilities_for(xp), weights=w, with_sums=True)
        centre = total.sums / xp.sum(w)
        sse = assign_labels(x, centre, xp=xp, caps=capabilities_for(xp), weights=w, with_inertia=True).inertia
        return centre, sse, xp.zeros_like(x[:, 0], dtype=xp.int32), w
    centre = xp.sum(x * w[:, None], axis=0, keepdims=True) / xp.sum(w)
    diff = x - centre
    return centre, xp.sum(w * xp.sum(diff * diff, axis=1)), xp.zeros_like(x[:, 0], dtype=xp.int32), w


def _split_core(
    x: Any, w: Any, node: Any, subset: Any, subset_w: Any, seeds: Any, nodes: Any,
    *, tol: float, init: str, max_iter: int, xp: Any, caps: Any, budget: int,
):
    """One split: 2-means on the parent's observations (``subset``), then the parent's
    observations of ``x`` moved to the children (``nodes``: parent, left, right, placed on
    the device like the draws).  ``seeds``: see :func:`_bisect`.  Returns ``(pair, node,
    stats, parts)``, see :func:`_bisect` and :func:`_relabel`; ``parts`` are the four
    entries of ``stats`` and the two rows of ``pair`` as outputs of their own, so that an
    eager caller reads them without an indexing call each (a dispatch each on JAX)."""
    with memory_budget(budget):
        pair = _bisect(subset, subset_w, seeds, tol, init=init, max_iter=max_iter, xp=xp, caps=caps)
        node, stats = _relabel(x, w, node, pair, nodes[0], nodes[1], nodes[2], xp=xp, caps=caps)
        return pair, node, stats, (*(stats[i] for i in range(4)), pair[0:1, :], pair[1:2, :])


def _bisect(x: Any, w: Any, seeds: Any, tol: float, *, init: str, max_iter: int, xp: Any, caps: Any) -> Any:
    """The two centres (2, d) of the best of ``seeds.shape[0]`` weighted 2-means runs
    (lowest inertia; an earlier run wins unless beaten by a relative 1e-6).  Rows with weight 0 (the padding) take no part;
    ``w`` None: every row weighs 1 (the passes are the unweighted ones).

    ``seeds[r]`` seeds run ``r``: two uniforms for 'random' and 'k-means++', or (for
    ``init == 'given'``, a callable's) the two starting centres themselves, ``(2, d)``.
    """
    wide = widest_float(xp, array_api_compat.device(x))

    def run(r: Any) -> tuple[Any, Any]:
        if init == "given":
            start = seeds[r, :, :]
        else:
            start = _two_starting_centres(x, w, seeds[r, :], init, wide, xp=xp, caps=caps)
        return _two_means(x, w, start, tol, max_iter, wide, xp=xp, caps=caps)

    def keep_better(r: Any, best: tuple[Any, Any]) -> tuple[Any, Any]:
        centres, inertia = run(r)
        better = inertia < best[1] * (1 - _BETTER_BY)
        return xp.where(better, centres, best[0]), xp.where(better, inertia, best[1])

    # One traced run for all of them (a compiler sees the loop body once).
    device = array_api_compat.device(x)
    nothing = (xp.zeros((2, x.shape[1]), dtype=x.dtype, device=device), xp.asarray(math.inf, dtype=wide, device=device))
    return caps.fori_loop(0, seeds.shape[0], keep_better, nothing)[0]


def _pick(mass: Any, u: Any, fallback: Any, *, xp: Any) -> Any:
    """Index drawn with probability proportional to ``mass`` (>= 0) by the uniform ``u``:
    the first entry with positive mass whose cumulative mass reaches ``u`` times the total;
    ``fallback`` when there is no mass at all."""
    cumulative = xp.cumulative_sum(mass)
    hit = (mass > 0) & (cumulative >= u * xp.sum(mass))
    first = xp.argmax(xp.astype(hit, xp.int8))
    return xp.where(xp.any(hit), first, fallback)


def _two_starting_centres(x: Any, w: Any, u: Any, init: str, wide: Any, *, xp: Any, caps: Any) -> Any:
    m = x.shape[0]
    device = array_api_compat.device(x)
    positions = xp.arange(m, device=device)
    mass = xp.ones((m,), dtype=wide, device=device) if w is None else xp.astype(w, wide)
    last_weighted = xp.clip(xp.max(xp.where(mass > 0, positions, xp.full_like(positions, -1))), 0, m - 1)
    first = _pick(mass, u[0], last_weighted, xp=xp)
    if init == "random":
        second = _pick(xp.where(positions == first, xp.zeros_like(mass), mass), u[1], first, xp=xp)
    else:
        distances = assign_labels(x, caps.take_rows(x, xp.reshape(first, (1,))), xp=xp, caps=caps, with_distances=True).distances
        distances = xp.astype(distances, wide)
        second = _pick(mass * distances * distances, u[1], first, xp=xp)
    return caps.take_rows(x, xp.stack([first, second]))


def _two_means(x: Any, w: Any, start: Any, tol: float, max_iter: int, wide: Any, *, xp: Any, caps: Any):
    """Weighted Lloyd from ``start`` (2, d), stopping as scikit-learn's Lloyd does.

    Returns the centres after the last update and the weighted inertia of the assignment
    to those centres.
    """

    def keep_going(state: tuple[Any, ...]) -> Any:
        return (state[2] < max_iter) & ~state[3]

    # Unweighted passes (no padding, no sample weights) take the rows shifted once, as
    # KMeans' Lloyd loop does: each pass then skips shifting every block.
    prepared = prepare_rows(x, start[0:1, :], xp=xp) if w is None else None

    def step(state: tuple[Any, ...]) -> tuple[Any, ...]:
        centres, previous_labels, n_iter, _ = state
        result = assign_labels(x, centres, xp=xp, caps=caps, weights=w, with_sums=True, prepared=prepared)
        new, _ = update_centroids(result.sums, result.counts, centres, xp=xp)
        repeated = xp.all(result.labels == previous_labels)
        shift = xp.sum((new - centres) ** 2)
        return new, result.labels, n_iter + 1, repeated | (shift <= tol)

    no_labels = xp.zeros_like(x[:, 0], dtype=xp.int32) - 1
    zero = xp.zeros_like(start[0, 0], dtype=xp.int32)
    state = (start, no_labels, zero, xp.zeros_like(zero, dtype=xp.bool))
    centres = caps.while_loop(keep_going, step, state)[0]
    inertia = assign_labels(x, centres, xp=xp, caps=caps, weights=w, with_inertia=True).inertia
    return centres, xp.astype(inertia, wide)


def _relabel(x: Any, w: Any, node: Any, pair: Any, parent: Any, left: Any, right: Any, *, xp: Any, caps: Any):
    """Move the observations of node ``parent`` to ``left``/``right`` (the nearer of the
    two centres ``pair``, as :meth:`predict` descends) and measure the two children.

    Returns the new node of every observation and ``[left size, right size, left SSE,
    right SSE]`` in the widest float.
    """
    wide = widest_float(xp, array_api_compat.device(x))
    nearer = assign_labels(x, pair, xp=xp, caps=caps, with_distances=True)
    inside = node == parent
    to_left = inside & (nearer.labels == 0)
    to_right = inside & (nearer.labels == 1)
    node = xp.where(to_left, xp.astype(left, node.dtype), xp.where(to_right, xp.astype(right, node.dtype), node))
    distances = xp.astype(nearer.distances, wide)
    sse = xp.astype(w, wide) * distances * distances
    zero = xp.zeros_like(sse)
    stats = xp.stack([
        xp.astype(xp.count_nonzero(to_left), wide),
        xp.astype(xp.count_nonzero(to_right), wide),
        xp.sum(xp.where(to_left, sse, zero)),
        xp.sum(xp.where(to_right, sse, zero)),
    ])
    return node, stats


def _descend_core(
    x: Any, node_centres: Any, *, splits: tuple[tuple[int, int, int], ...], leaf_nodes: tuple[int, ...],
    xp: Any, caps: Any, budget: int,
):
    """Labels (int32) and Euclidean distances to the leaf centre, descending the splits.

    Each split is one chunked pass over ``x`` against its two child centres; an
    observation's last move sets its distance (a leaf's centre is the centre its split
    found), so no per-row gather of centres is needed.
    """
    with memory_budget(budget):
        node = xp.zeros_like(x[:, 0], dtype=xp.int32)
        if not splits:
            distances = assign_labels(x, node_centres[0:1, :], xp=xp, caps=caps, with_distances=True).distances
        else:
            distances = xp.zeros_like(x[:, 0])
        for parent, left, right in splits:
            nearer = assign_labels(x, node_centres[left : right + 1, :], xp=xp, caps=caps, with_distances=True)
            inside = node == parent
            node = xp.where(inside, xp.where(nearer.labels == 0, xp.full_like(node, left), xp.full_like(node, right)), node)
            distances = xp.where(inside, nearer.distances, distances)
        return _labels_core(node, leaf_nodes=leaf_nodes, xp=xp), distances


def _labels_core(node: Any, *, leaf_nodes: tuple[int, ...], xp: Any) -> Any:
    """Cluster labels (int32) of node numbers: leaf ``leaf_nodes[j]`` is cluster ``j``."""
    labels = xp.zeros_like(node)
    for label, leaf in enumerate(leaf_nodes):
        if label:
            labels = xp.where(node == leaf, xp.full_like(node, label), labels)
    return labels


def _transform_core(x: Any, centres: Any, *, xp: Any, caps: Any, budget: int) -> Any:
    with memory_budget(budget):
        k, d = centres.shape
        itemsize = xp.finfo(x.dtype).bits // 8
        if is_sparse(x):  # the rows stay sparse: KMeans' sparse transform
            return transform_core(x, centres, xp=xp, caps=caps, budget=budget)
        rows = max(1, memory_budget_bytes() // (itemsize * (3 * k + 2 * d) + 16))
        (distances,), _ = caps.map_row_chunks(x, rows, _distance_block, centres)
        return distances


def _distance_block(block: Any, centres: Any) -> tuple[tuple[Any], tuple[()]]:
    """Distances by the expansion on data shifted by the first centre (accurate for data
    far from the origin), clamped at 0 before the square root."""
    bxp = array_api_compat.array_namespace(block)
    origin = centres[0:1, :]
    shifted_block = block - origin
    shifted = centres - origin
    sq = (
        bxp.sum(shifted_block * shifted_block, axis=1)[:, None]
        - 2 * bxp.matmul(shifted_block, bxp.matrix_transpose(shifted))
        + bxp.sum(shifted * shifted, axis=1)[None, :]
    )
    return (bxp.sqrt(bxp.clip(sq, 0, None)),), ()


# -- boundary helpers ----------------------------------------------------------------------


def _leaf_to_split(leaves: dict[int, tuple[int, float]], strategy: str) -> int:
    """The leaf with the largest SSE (or size), the lowest node number on ties, among the
    leaves with at least two observations (there always is one while leaves < samples)."""
    best, best_key = -1, -math.inf
    for leaf in sorted(leaves):
        size, sse = leaves[leaf]
        key = sse if strategy == "biggest_inertia" else size
        if size >= 2 and key > best_key:
            best, best_key = leaf, key
    return best


def _given_starts(init: Any, leaf: Any, n_init: int, rng: Any, scale: Any, *, xp: Any, caps: Any,
                  checks: Checks) -> Any:
    """The starting centres a callable ``init`` returns for each of ``n_init`` runs on the
    observations ``leaf`` (the data's units, unpadded), validated, scaled like the data
    and stacked to ``(n_init, 2, d)``.

    Centres so far out that a squared distance to them (or the ``|c|^2`` term of its
    expansion) could overflow the dtype are refused: the assignment would compare inf or
    NaN, meaningless rather than merely poor.  The scaled data lies well inside this bound
    (its safe range), so ``|x - c|^2 <= d (|x| + |c|)^2`` stays finite below it.
    """
    limit = math.sqrt(float(xp.finfo(leaf.dtype).max) / (4 * max(1, leaf.shape[1])))
    starts = []
    for _ in range(n_init):
        given = _as_centers(init(leaf, 2, random_state=rng), leaf, 2, xp=xp, caps=caps,
                            what="The centres returned by init", checks=checks)
        centres = scaled(given, scale)
        if not caps.read_bool(caps.max_magnitude(centres) <= limit):
            raise ValueError(
                "The centres returned by init lie too far from the data for its dtype "
                f"(largest magnitude {_host_float(caps.max_magnitude(given), caps):.4g}): their "
                "squared distances would overflow; return centres within the data's range"
            )
        starts.append(centres)
    return caps.persist(xp.stack(starts))


def _print_split(s: int, k: int, split: BisectingSplit, pair: Any, caps: Any) -> None:
    """``verbose``'s lines for split ``s``: the leaf split and the centres found (read to the host)."""
    print(
        f"Bisection {s + 1}/{k - 1}: node {split.parent} ({split.parent_size} samples, SSE "
        f"{split.parent_sse:.6g}) into nodes {split.left} ({split.left_size} samples, SSE "
        f"{split.left_sse:.6g}) and {split.right} ({split.right_size} samples, SSE {split.right_sse:.6g})."
    )
    # Element by element: a device array has no standard host copy (DLPack fails off the CPU).
    host = np.asarray([[_host_float(pair[i, j], caps) for j in range(pair.shape[1])] for i in range(2)])
    print(f"New centroids from bisection: {host}")


def _rows_where(x: Any, mask: Any, *, xp: Any, caps: Any) -> Any:
    """The rows of ``x`` where ``mask`` is true (sparse rows stay sparse)."""
    if is_sparse(x):
        return x.rows_where(mask)
    return x[mask]


def _reuses_programs(caps: Any) -> bool:
    """Whether the backend compiles its cores into programs kept per input shape (JAX; Dask
    builds one per call): then subsets are :func:`_padded` to a few sizes.  Elsewhere a
    subset runs as it is, and without sample weights its 2-means takes the unweighted
    passes (the padding's zero weights would make every pass a weighted one)."""
    return caps.compiled is not _GENERIC.compiled


def _padded(subset: Any, weights: Any, xp: Any) -> tuple[Any, Any]:
    """The subset padded with zero rows of weight 0 up to one of four sizes per power of two
    (``weights`` None: the subset's rows weigh 1).  Empty row blocks a boolean mask leaves
    on Dask are dropped by ``caps.known_rows`` before this.
    """
    m, d = subset.shape
    if is_sparse(subset):  # no compiler to reuse programs for: unpadded
        return subset, xp.ones((m,), dtype=subset.dtype, device=subset.device) if weights is None else weights
    step = 1 << max(0, m.bit_length() - 3)
    extra = -(-m // step) * step - m
    device = array_api_compat.device(subset)
    if weights is None:
        weights = xp.ones((m,), dtype=subset.dtype, device=device)
    rows = xp.zeros((extra, d), dtype=subset.dtype, device=device)
    zero_weights = xp.zeros((extra,), dtype=weights.dtype, device=device)
    return (
        xp.concat([subset, rows], axis=0),
        xp.concat([weights, zero_weights], axis=0),
    )


def _host_float(a: Any, caps: Any) -> float:
    """One value read to the host (a device sync; a compute on Dask)."""
    return float(a)
