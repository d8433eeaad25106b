"""The ``xpcluster`` command: cluster data files, choose K, quantize image colours.

Subcommands (``xpcluster SUBCOMMAND --help`` for each)::

    xpcluster fit DATA -k K -o labels.npy [--centers centers.npy] [--method kmeans]
                  [--columns LIST | --drop LIST]
    xpcluster choose-k DATA --k 2:12 [--method elbow|silhouette|gap] [--plot out.png]
                       [--columns LIST | --drop LIST]
    xpcluster quantize IMAGE -k 16 -o out.png [--sample N]

Outputs are never the input's file or each other's (refused, exit 2), and appear whole or
not at all: each is written to a temporary file beside it and moved into place once every
output of the run was written.

Every subcommand takes ``--backend numpy|torch|jax|dask|cupy`` and ``--device cpu|cuda``:
the data is read with NumPy, placed on that backend and device, and clustered there under
:func:`xpcluster.array_api_dispatch`; results are brought back to NumPy to be written.

DATA may also be a sparse matrix saved by ``scipy.sparse.save_npz`` (``.npz``, any of its
formats): it stays sparse from the file to the estimator, so it runs on NumPy (SciPy's
sparse matrices), with the estimators that take sparse input (``fit``: kmeans, minibatch,
bisecting, kmedoids; ``choose-k``: elbow and silhouette).  Other combinations are usage
errors, reported before the file is read.

Exit status: 0 on success, 2 for a usage error (bad option or value), 1 for a runtime
error (missing or unreadable file, K larger than the data, backend not installed, device
not available, ...).  Errors are one line on stderr, ``xpcluster: error: ...``; set
``XPCLUSTER_DEBUG=1`` to see the traceback of an unexpected one.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import math
import os
import stat
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from . import __version__
from . import _io
from ._io import BACKENDS, DataError, load_data, load_image, save_image, to_backend, to_numpy

PROG = "xpcluster"

#: --method of ``fit``: (class name, module under xpcluster.cluster that defines it).
ESTIMATORS = {
    "kmeans": ("KMeans", "_kmeans"),
    "minibatch": ("MiniBatchKMeans", "_minibatch"),
    "bisecting": ("BisectingKMeans", "_bisecting"),
    "kmedoids": ("KMedoids", "_kmedoids"),
    "kmedians": ("KMedians", "_kmedians"),
}
#: --method of ``choose-k``.
CRITERIA = ("elbow", "silhouette", "gap")

_COMPRESSION_HELP = (
    "The compression ratio printed is raw 24-bit RGB (3 bytes per pixel) divided by the "
    "quantized encoding: a palette of K 24-bit colours plus ceil(log2 K) bits of palette "
    "index per pixel (no further entropy coding), so K=16 gives about 6x."
)


# --------------------------------------------------------------------------- errors and warnings


class UsageError(Exception):
    """A bad combination of arguments found after parsing: exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``xpcluster: error: ...`` and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        hint = f" (see '{self.prog} --help')"
        raise _ParseError(f"{message}{hint}")


class _ParseError(Exception):
    pass


def _one_line(text: str) -> str:
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    return lines[0] if lines else ""


def _show_warning(message: Any, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:
    print(f"{PROG}: warning: {_one_line(str(message))}", file=sys.stderr)


# --------------------------------------------------------------------------- argument types


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def k_range(text: str) -> list[int]:
    """argparse type for ``--k``: ``A:B`` (A to B inclusive), ``A:B:STEP`` or ``K1,K2,...``."""
    try:
        if ":" in text:
            parts = [int(p) for p in text.split(":")]
            if len(parts) not in (2, 3):
                raise ValueError
            start, stop, step = (*parts, 1) if len(parts) == 2 else parts
            if step < 1 or stop < start:
                raise ValueError
            values = list(range(start, stop + 1, step))
        else:
            values = sorted({int(p) for p in text.split(",")})
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected A:B (inclusive), A:B:STEP or a list K1,K2,... of integers, got {text!r}"
        ) from None
    if not values or values[0] < 1:
        raise argparse.ArgumentTypeError(f"every K must be at least 1, got {text!r}")
    return values


def column_list(text: str) -> list[str]:
    """argparse type for ``--columns``/``--drop``: comma-separated names or 0-based indices."""
    items = [item.strip() for item in text.split(",")]
    if not all(items):
        raise argparse.ArgumentTypeError(
            f"expected comma-separated column names or 0-based indices, got {text!r}"
        )
    return items


# --------------------------------------------------------------------------- progress


class Progress:
    """A tqdm bar over named steps, on stderr, shown only for runs longer than ``delay``.

    Silently does nothing when tqdm is not installed, when ``enabled`` is false, or (unless
    ``file`` is given) when stderr is not a terminal.  While a step runs, the elapsed time
    keeps ticking (a daemon thread refreshes the bar), so a long single ``fit`` shows life.
    """

    def __init__(self, total: int, desc: str, *, enabled: bool = True, file: Any = None,
                 delay: float = 1.0, refresh_every: float = 0.5) -> None:
        self._bar = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if not enabled:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return
        self._bar = tqdm(
            total=total, desc=desc, file=file if file is not None else sys.stderr,
            disable=False if file is not None else None, delay=delay, leave=False,
            bar_format="{desc}: {n_fmt}/{total_fmt} |{bar}| {elapsed}{postfix}",
        )
        self._thread = threading.Thread(target=self._tick, args=(refresh_every, delay), daemon=True)
        self._thread.start()

    def _tick(self, every: float, delay: float) -> None:
        shown_from = time.monotonic() + delay  # tqdm's refresh() would ignore its `delay`
        while not self._stop.wait(every):
            bar = self._bar
            if bar is not None and not bar.disable and time.monotonic() >= shown_from:
                with contextlib.suppress(Exception):  # the bar may be closing under us
                    bar.refresh()

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Run one step, labelled ``name`` on the bar while it runs."""
        if self._bar is not None:
            self._bar.set_postfix_str(name, refresh=False)
        yield
        if self._bar is not None:
            self._bar.update(1)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# --------------------------------------------------------------------------- shared steps


def estimator_class(method: str) -> type:
    """The estimator class behind ``--method`` (looked up when needed, so the command
    starts even while a method's module is missing from this installation)."""
    name, module = ESTIMATORS[method]
    cluster = importlib.import_module("xpcluster.cluster")
    cls = getattr(cluster, name, None)
    if cls is None:
        qualified = f"xpcluster.cluster.{module}"
        try:
            cls = getattr(importlib.import_module(qualified), name, None)
        except ModuleNotFoundError as exc:
            if exc.name != qualified:
                raise
    if cls is None:
        raise DataError(f"method {method!r} needs xpcluster.cluster.{name}, which this installation lacks")
    return cls


def _check_k(k: int, n: int, what: str) -> None:
    if k > n:
        raise DataError(f"K={k} is larger than the number of {what} ({n}); choose K between 1 and {n}")


def _check_input(path: str) -> None:
    if not Path(path).exists():
        raise DataError(f"no such file: {path!r}")


# --------------------------------------------------------------------------- output files
#
# Outputs never clobber inputs or each other, and appear all together or not at all: each
# is written to a temporary file beside its destination, and only once every one of them
# was written are they renamed into place (os.replace, atomic on one file system).


def _same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether two paths name one file: the same inode where both exist (symlinks, hard
    links, ./x and x, absolute and relative), else the same resolved path (an output not
    yet written, reached through a symlinked directory or spelt differently)."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        pass
    return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))


def _check_distinct(inputs: Sequence[tuple[str, str]], outputs: Sequence[tuple[str, str | None]]) -> None:
    """Refuse (UsageError) an output that is an input's file or another output's."""
    seen: list[tuple[str, str, bool]] = [(option, path, True) for option, path in inputs]
    for option, path in outputs:
        if path is None:
            continue
        for other_option, other, is_input in seen:
            if not _same_file(path, other):
                continue
            if is_input:
                raise UsageError(f"{option} {path!r} is the same file as the input {other_option} {other!r}; "
                                 "writing it would destroy the input: choose another path")
            raise UsageError(f"{option} {path!r} and {other_option} {other!r} are the same file; "
                             "give each output its own path")
        seen.append((option, path, False))


def _check_writable(path: Path, option: str) -> None:
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        why = "is not a directory" if parent.exists() else "does not exist"
        raise DataError(f"cannot write {option} {str(path)!r}: directory {str(parent)!r} {why}")
    target = Path(os.path.realpath(path))
    if not target.parent.is_dir():  # a symlink pointing into a missing directory
        raise DataError(f"cannot write {option} {str(path)!r}: it links to {str(target)!r}, whose directory "
                        f"{str(target.parent)!r} does not exist")
    if target.is_dir():
        raise DataError(f"cannot write {option} {str(path)!r}: it is a directory")
    if target.exists() and not target.is_file():  # a device or FIFO must not be replaced by a file
        raise DataError(f"cannot write {option} {str(path)!r}: it exists and is not a regular file")


def _new_file_mode(target: Path) -> int:
    """The permissions a destination gets: its own when it exists, else what open() would
    give (0o666 less the umask), not mkstemp's 0o600."""
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def _write_outputs(outputs: Sequence[tuple[str, str | os.PathLike[str], Any]]) -> None:
    """Write each ``(option, destination, write)``: ``write(temporary_path)`` writes the file
    (to a name ending in the destination's suffix, for writers that go by it).  All are
    written before any is moved into place; on any failure every temporary is removed and
    the destinations are left as they were."""
    staged: list[tuple[Path, Path]] = []
    try:
        for option, path, write in outputs:
            target = Path(os.path.realpath(path))  # through a symlink: replace the file it names
            try:
                fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.",
                                            suffix=f".tmp{target.suffix}")
            except OSError as exc:
                raise DataError(f"cannot write {option} {str(path)!r}: {exc.strerror or exc}") from None
            os.close(fd)
            temporary = Path(name)
            staged.append((temporary, target))
            try:
                write(temporary)
                os.chmod(temporary, _new_file_mode(target))
            except OSError as exc:
                raise DataError(f"cannot write {option} {str(path)!r}: {exc.strerror or exc}") from None
            except DataError as exc:
                raise DataError(f"cannot write {option} {str(path)!r}: "
                                f"{str(exc).replace(str(temporary), str(path))}") from None
        for temporary, target in staged:
            os.replace(temporary, target)
    except BaseException:
        for temporary, _ in staged:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
        raise


def _save_npy(array: np.ndarray, path: Path) -> None:
    with open(path, "wb") as f:  # np.save(path) would append '.npy' to other names
        np.save(f, array, allow_pickle=False)


def _note(message: str) -> None:
    print(f"{PROG}: note: {_one_line(message)}", file=sys.stderr)


def _read_table(args: argparse.Namespace) -> Any:
    """DATA as a NumPy array, or a SciPy CSR matrix for a sparse .npz."""
    return load_data(args.data, columns=args.columns, drop=args.drop, note=_note)


def _holds_sparse(path: str) -> bool:
    """Whether DATA is a sparse matrix of ``scipy.sparse.save_npz`` (read sparse)."""
    return Path(path).suffix.lower() == ".npz" and _io.sparse_npz_format(path) is not None


def _accepts_sparse(method: str) -> bool:
    try:
        return bool(getattr(estimator_class(method), "_accepts_sparse", False))
    except DataError:  # not in this installation: it takes nothing
        return False


def _check_sparse_options(args: argparse.Namespace, estimators: Sequence[tuple[str, str]]) -> None:
    """Sparse DATA goes only where it can stay sparse: NumPy, and estimators that take it.
    ``estimators``: the ``(option, method)`` pairs this run fits.  UsageError otherwise."""
    what = f"{args.data!r} holds a sparse matrix (scipy.sparse .npz)"
    if args.backend != "numpy":
        raise UsageError(f"{what}, which is clustered with --backend numpy only (SciPy's sparse matrices); "
                         f"got --backend {args.backend}")
    for option, method in estimators:
        if not _accepts_sparse(method):
            takers = ", ".join(m for m in ESTIMATORS if _accepts_sparse(m))
            raise UsageError(f"{option} {method} ({ESTIMATORS[method][0]}) does not take sparse data and {what}; "
                             f"use {option} {takers}, or save the data dense with numpy.save (.npy)")


def _scalar(value: Any) -> float:
    return float(to_numpy(value).reshape(()))


def _prepare(data: Any, args: argparse.Namespace) -> tuple[Any, str]:
    if args.dtype is not None:
        data = data.astype(args.dtype)
    if _io.is_sparse_data(data):
        # It stays sparse: SciPy's matrices hold NumPy arrays, on the host (--backend numpy
        # was checked before the file was read).
        if args.device not in (None, "cpu"):
            raise DataError(f"device {args.device!r} is not available for sparse data: SciPy's sparse "
                            "matrices live on the CPU (use --device cpu, or save the data dense as .npy)")
        return data, "numpy on cpu (sparse)"
    return to_backend(data, args.backend, args.device)


def _dispatch() -> Any:
    from . import array_api_dispatch

    return array_api_dispatch(True)


# --------------------------------------------------------------------------- fit


def _run_fit(args: argparse.Namespace) -> int:
    output, centers_path = Path(args.output), args.centers and Path(args.centers)
    _check_input(args.data)
    _check_writable(output, "-o")
    if centers_path:
        _check_writable(centers_path, "--centers")
    cls = estimator_class(args.method)
    sparse_data = _holds_sparse(args.data)
    if sparse_data:
        _check_sparse_options(args, [("--method", args.method)])
    with Progress(4, f"{PROG} fit", enabled=not args.quiet) as progress:
        with progress.step("reading data"):
            data = _read_table(args)
            n, d = data.shape
            _check_k(args.n_clusters, n, f"samples in {args.data!r}")
        with progress.step("placing data"):
            x, where = _prepare(data, args)
        with progress.step(f"fitting {cls.__name__}"):
            estimator = cls(n_clusters=args.n_clusters, random_state=args.seed)
            start = time.perf_counter()
            with _dispatch():
                estimator.fit(x)
                # Read back inside the timing: on lazy backends this is when the work runs.
                labels = to_numpy(estimator.labels_)
                centers = to_numpy(estimator.cluster_centers_)
                inertia = _scalar(estimator.inertia_)
            seconds = time.perf_counter() - start
        with progress.step("writing results"):
            outputs = [("-o", output, lambda path: _save_npy(labels, path))]
            if centers_path:
                outputs.append(("--centers", centers_path, lambda path: _save_npy(centers, path)))
            _write_outputs(outputs)
    stored = f" nnz={data.nnz}" if sparse_data else ""
    print(
        f"fit: n={n} d={d}{stored} k={args.n_clusters} method={args.method} inertia={inertia:.6g} "
        f"time={seconds:.3f}s backend={where} dtype={centers.dtype} -> {output}"
        + (f", {centers_path}" if centers_path else "")
    )
    return 0


# --------------------------------------------------------------------------- choose-k


def _choose_k_module() -> Any:
    try:
        return importlib.import_module("xpcluster.choose_k")
    except ModuleNotFoundError as exc:
        if exc.name != "xpcluster.choose_k":
            raise
        raise DataError("choose-k needs xpcluster.choose_k, which this installation lacks") from None


def _run_choose_k(args: argparse.Namespace) -> int:
    _check_input(args.data)
    choose = _choose_k_module()
    if args.plot:
        _check_writable(Path(args.plot), "--plot")
        from .plotting import _matplotlib

        _matplotlib()  # fail before the work, not after it, when matplotlib is missing
    if _holds_sparse(args.data):
        if args.method == "gap":
            raise UsageError(f"choose-k --method gap needs dense data, and {args.data!r} holds a sparse matrix "
                             "(scipy.sparse .npz): the gap statistic's uniform reference sets are dense; "
                             "use --method elbow or silhouette")
        _check_sparse_options(args, [("--estimator", args.estimator)])
    options: dict[str, Any] = {"random_state": args.seed}
    if args.estimator != "kmeans":  # KMeans is choose_k's own default (with its n_init)
        options["estimator"] = estimator_class(args.estimator)(random_state=args.seed)
    if args.method == "gap":
        options["n_refs"] = args.n_refs
    with Progress(3, f"{PROG} choose-k", enabled=not args.quiet) as progress:
        with progress.step("reading data"):
            data = _read_table(args)
            n, d = data.shape
            _check_k(max(args.k), n, f"samples in {args.data!r}")
        with progress.step("placing data"):
            x, where = _prepare(data, args)
        with progress.step(f"{args.method} over K={args.k[0]}..{args.k[-1]}"):
            start = time.perf_counter()
            with _dispatch():
                result = choose.choose_k(x, args.k, method=args.method, **options)
                table = _io.result_table(result)
                chosen = _io.chosen_k(result)
            seconds = time.perf_counter() - start
    if args.plot:
        from . import plotting

        plot = {"elbow": plotting.plot_elbow, "gap": plotting.plot_gap,
                "silhouette": plotting.plot_silhouette_scores}[args.method]
        _write_outputs([("--plot", args.plot, lambda path: plot(result, path))])
    print(f"choose-k: n={n} d={d} method={args.method} estimator={args.estimator} K={_k_summary(args.k)} "
          f"time={seconds:.3f}s backend={where}")
    print(_io.format_table(table, chosen))
    print(f"chosen K: {chosen}")
    if args.plot:
        print(f"plot: {args.plot}")
    return 0


def _k_summary(ks: Sequence[int]) -> str:
    if len(ks) > 2 and all(b - a == ks[1] - ks[0] for a, b in zip(ks, ks[1:])):
        step = ks[1] - ks[0]
        return f"{ks[0]}:{ks[-1]}" + (f":{step}" if step != 1 else "")
    return ",".join(map(str, ks))


# --------------------------------------------------------------------------- quantize


def compression_ratio(n_pixels: int, k: int) -> tuple[float, int, int]:
    """``(ratio, raw_bytes, quantized_bytes)`` for ``n_pixels`` pixels and a K-colour palette:
    raw 24-bit RGB against a palette of K 24-bit colours plus ceil(log2 K)-bit indices."""
    raw_bits = 24 * n_pixels
    index_bits = math.ceil(math.log2(k)) if k > 1 else 0
    coded_bits = 24 * k + index_bits * n_pixels
    return raw_bits / coded_bits, math.ceil(raw_bits / 8), math.ceil(coded_bits / 8)


def _run_quantize(args: argparse.Namespace) -> int:
    output = Path(args.output)
    _check_input(args.image)
    _check_writable(output, "-o")
    image_format = _io.image_format(output)  # a suffix Pillow cannot write fails now, not after the work
    cls = estimator_class(args.method)
    k = args.n_clusters
    with Progress(5, f"{PROG} quantize", enabled=not args.quiet) as progress:
        with progress.step("reading image"):
            image = load_image(args.image)
            height, width, _ = image.shape
            pixels = image.reshape(-1, 3)
            n = pixels.shape[0]
            packed = (pixels[:, 0].astype(np.uint32) << 16) | (pixels[:, 1].astype(np.uint32) << 8) | pixels[:, 2]
            distinct = int(np.unique(packed).size)
            if k > distinct:
                raise DataError(
                    f"K={k} is larger than the number of distinct colours in {args.image!r} ({distinct}); "
                    f"choose K between 1 and {distinct}"
                )
            colours = pixels.astype(args.dtype or np.float64)
            if args.sample is not None and args.sample < n:
                if args.sample < k:
                    raise DataError(f"--sample {args.sample} is smaller than K={k}; sample at least K pixels")
                rows = np.random.default_rng(args.seed).choice(n, size=args.sample, replace=False)
                training = colours[rows]
            else:
                training = None
        with progress.step("placing data"):
            x_all, where = _prepare(colours, args)
            x_fit = x_all if training is None else _prepare(training, args)[0]
        with progress.step(f"fitting {cls.__name__}"):
            estimator = cls(n_clusters=k, random_state=args.seed)
            start = time.perf_counter()
            with _dispatch():
                estimator.fit(x_fit)
                labels = estimator.labels_ if training is None else estimator.predict(x_all)
                labels = to_numpy(labels)
                palette = to_numpy(estimator.cluster_centers_)
            seconds = time.perf_counter() - start
        with progress.step("writing image"):
            palette8 = np.clip(np.rint(palette), 0, 255).astype(np.uint8)
            quantized = palette8[labels]
            redrawn = quantized.reshape(height, width, 3)
            _write_outputs([("-o", output, lambda path: save_image(redrawn, path, format=image_format))])
        with progress.step("measuring"):
            rms = float(np.sqrt(np.mean((quantized.astype(np.float64) - pixels) ** 2)))
    ratio, raw_bytes, coded_bytes = compression_ratio(n, k)
    fitted_on = f"{args.sample} sampled pixels" if training is not None else "all pixels"
    index_bits = math.ceil(math.log2(k)) if k > 1 else 0
    print(
        f"quantize: {width}x{height} pixels, {distinct} colours -> k={k} (fit on {fitted_on}, "
        f"method={args.method}) time={seconds:.3f}s backend={where}; RMS colour error {rms:.2f}/255 "
        f"-> {output}"
    )
    print(
        f"compression ratio {ratio:.2f}x: {raw_bytes} bytes raw 24-bit RGB -> {coded_bytes} bytes "
        f"({k}-colour palette + {index_bits}-bit indices)"
    )
    return 0


# --------------------------------------------------------------------------- parser


def _add_common(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("backend and run options")
    group.add_argument("--backend", choices=tuple(BACKENDS), default="numpy",
                       help="array library to cluster with (default: numpy)")
    group.add_argument("--device", choices=("cpu", "cuda"), default=None,
                       help="device to place the data on (default: cpu; cuda for cupy)")
    group.add_argument("--dtype", choices=("float32", "float64"), default=None,
                       help="floating dtype to cluster in (default: the data's own, float64 for "
                            "integers and images)")
    group.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    group.add_argument("-q", "--quiet", action="store_true",
                       help="no progress bar (shown on a terminal for runs over a second when "
                            "tqdm is installed); results are still printed")


def _add_table_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "choosing columns (applied after reading DATA)",
        "Without --columns, a first column with no name ('' or pandas' 'Unnamed: 0') or "
        "pyarrow's '__index_level_0__' holding exactly 0..n-1 is taken for a saved row index "
        "and left out, with a note on stderr.",
    )
    choice = group.add_mutually_exclusive_group()
    choice.add_argument("--columns", type=column_list, metavar="LIST",
                        help="cluster only these columns, in this order: comma-separated header "
                             "names or 0-based indices (a name wins over an index)")
    choice.add_argument("--drop", type=column_list, metavar="LIST",
                        help="leave these columns out (names or 0-based indices), e.g. a label "
                             "column such as 'species'")


def build_parser() -> argparse.ArgumentParser:
    """The command's argument parser."""
    parser = _Parser(
        prog=PROG,
        description="Clustering from the command line with xpcluster, on NumPy, PyTorch, JAX, "
                    "Dask or CuPy arrays.",
        epilog="Exit status: 0 success, 1 runtime error, 2 usage error. "
               "`python -m xpcluster` runs the backend demo instead.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    fit = sub.add_parser(
        "fit", help="cluster a data file, write the labels",
        description="Cluster the rows of DATA into K clusters and write one label per row "
                    "(NumPy .npy, int). Prints n, d, k, inertia, time and backend.",
    )
    fit.add_argument("data", metavar="DATA",
                     help="samples x features table: .npy, .csv (comma-separated, csv-module "
                          "quoting, no comments; a header line is detected), .parquet (needs "
                          "pyarrow: xpcluster[parquet]) or a sparse matrix saved by "
                          "scipy.sparse.save_npz (.npz; kept sparse: --backend numpy, methods "
                          "kmeans, minibatch, bisecting, kmedoids)")
    fit.add_argument("-k", "--n-clusters", type=positive_int, required=True, metavar="K",
                     help="number of clusters, 1 <= K <= number of samples")
    fit.add_argument("--method", choices=tuple(ESTIMATORS), default="kmeans",
                     help="clustering estimator (default: kmeans)")
    fit.add_argument("-o", "--output", required=True, metavar="LABELS.npy",
                     help="where to write the labels (.npy)")
    fit.add_argument("--centers", metavar="CENTERS.npy", help="also write the K x d cluster centres (.npy)")
    _add_table_options(fit)
    _add_common(fit)
    fit.set_defaults(run=_run_fit)

    choose = sub.add_parser(
        "choose-k", help="compare numbers of clusters, pick one",
        description="Cluster DATA for each K in a range, print the per-K table of the "
                    "criterion and the K it picks: elbow (the knee of the inertia curve), "
                    "silhouette (the highest mean silhouette) or gap (Tibshirani et al.'s gap "
                    "statistic, the smallest K within one standard error of the next).",
    )
    choose.add_argument("data", metavar="DATA", help="samples x features table (.npy, .csv, .parquet), or a "
                                                     "scipy.sparse .npz (elbow and silhouette; --backend numpy)")
    choose.add_argument("--k", type=k_range, default=k_range("2:10"), metavar="RANGE",
                        help="Ks to try: A:B (inclusive), A:B:STEP or K1,K2,... (default: 2:10)")
    choose.add_argument("--method", choices=CRITERIA, default="silhouette",
                        help="elbow (inertia), silhouette (mean silhouette) or gap (gap "
                             "statistic) (default: silhouette)")
    choose.add_argument("--estimator", choices=tuple(ESTIMATORS), default="kmeans",
                        help="clustering fitted for each K (default: kmeans)")
    choose.add_argument("--n-refs", type=positive_int, default=10, metavar="B",
                        help="gap: number of uniform reference data sets (default: 10)")
    choose.add_argument("--plot", metavar="OUT.png", help="also draw the criterion against K (needs "
                                                          "matplotlib: xpcluster[plot])")
    _add_table_options(choose)
    _add_common(choose)
    choose.set_defaults(run=_run_choose_k)

    quantize = sub.add_parser(
        "quantize", help="reduce an image to K colours",
        description="Colour quantization: cluster the RGB colours of IMAGE (PNG, JPEG, ... read "
                    "with Pillow: xpcluster[cli]) with k-means and write the image redrawn in the "
                    "K cluster colours. " + _COMPRESSION_HELP,
    )
    quantize.add_argument("image", metavar="IMAGE", help="input image (PNG, JPEG, ...)")
    quantize.add_argument("-k", "--n-clusters", type=positive_int, default=16, metavar="K",
                          help="number of colours (default: 16)")
    quantize.add_argument("-o", "--output", required=True, metavar="OUT.png",
                          help="output image; the format follows the suffix (PNG keeps the K "
                               "colours exactly, JPEG does not)")
    quantize.add_argument("--sample", type=positive_int, default=None, metavar="N",
                          help="fit on N randomly chosen pixels, then assign every pixel to its "
                               "nearest colour (faster on large images)")
    quantize.add_argument("--method", choices=("kmeans", "minibatch"), default="kmeans",
                          help="estimator (default: kmeans)")
    _add_common(quantize)
    quantize.set_defaults(run=_run_quantize)
    return parser


def _validate(args: argparse.Namespace) -> None:
    if args.command == "fit":
        for option, value in (("-o", args.output), ("--centers", args.centers)):
            if value is not None and Path(value).suffix.lower() != ".npy":
                raise UsageError(f"{option} must name a .npy file, got {value!r}")
    if args.command == "fit":
        _check_distinct([("DATA", args.data)], [("-o", args.output), ("--centers", args.centers)])
    if args.command == "choose-k":
        _check_distinct([("DATA", args.data)], [("--plot", args.plot)])
    if args.command == "quantize":
        _check_distinct([("IMAGE", args.image)], [("-o", args.output)])
    if args.command == "choose-k":
        if args.plot is not None and Path(args.plot).suffix.lower() != ".png":
            raise UsageError(f"--plot must name a .png file, got {args.plot!r}")
        if args.method == "silhouette" and args.k[0] < 2:
            raise UsageError("the silhouette needs K >= 2; start --k at 2")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        _validate(args)
    except (_ParseError, UsageError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help and --version exit 0 through argparse
        return int(exc.code or 0)
    debug = os.environ.get("XPCLUSTER_DEBUG", "") not in ("", "0")
    with warnings.catch_warnings():
        if not debug:
            warnings.showwarning = _show_warning
        try:
            return args.run(args)
        except (UsageError, _io.SelectionError) as exc:  # found once the files are looked at
            print(f"{PROG}: error: {_one_line(str(exc))}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print(f"{PROG}: interrupted", file=sys.stderr)
            return 130
        except DataError as exc:
            print(f"{PROG}: error: {exc}", file=sys.stderr)
            return 1
        except MemoryError:
            print(f"{PROG}: error: out of memory (try --sample, --dtype float32 or --backend dask)",
                  file=sys.stderr)
            return 1
        except Exception as exc:  # the library's own errors (ValueError, ...) and surprises
            if debug:
                raise
            message = _one_line(str(exc)) or "(no message)"
            print(f"{PROG}: error: {type(exc).__name__}: {message}", file=sys.stderr)
            return 1


if __name__ == "__main__":
    sys.exit(main())
