"""Input and output for the application layer (``xpcluster`` command, plotting, examples).

Reading data files and images into NumPy, placing a NumPy array on a chosen backend and
device, and bringing any backend's array back to NumPy.  This module names array libraries
on purpose: it sits at the application boundary, outside the algorithms, which only ever
see the arrays it produces.
"""
from __future__ import annotations

import importlib
import math
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DataError",
    "BACKENDS",
    "DATA_FORMATS",
    "load_data",
    "load_image",
    "save_image",
    "to_backend",
    "to_numpy",
    "backend_status",
]

#: Backends the command knows, with the module that must import and the extra that installs it.
BACKENDS = {
    "numpy": ("numpy", None),
    "torch": ("torch", "torch"),
    "jax": ("jax", "jax"),
    "dask": ("dask.array", "dask"),
    "cupy": ("cupy", "cupy"),
}
#: File suffixes :func:`load_data` reads.
DATA_FORMATS = (".npy", ".csv", ".parquet")
#: Target size of one Dask block made by :func:`to_backend` (rows are never split).
DASK_BLOCK_BYTES = 64 * 2**20


class DataError(Exception):
    """A problem with the user's files, libraries or devices: reported as one line."""


# --------------------------------------------------------------------------- data files


def load_data(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a numeric 2-D table from ``.npy``, ``.csv`` or ``.parquet`` as a NumPy array.

    A 1-D ``.npy`` array is one feature per sample.  A CSV's first line is a header when
    any of its fields is not a number.  Integer and boolean data come back as float64;
    float32 stays float32.  Missing or non-finite values are refused with the position
    of the first one.

    Raises
    ------
    DataError
        The file is missing, of an unknown format, unreadable, not numeric, empty or
        contains NaN/inf.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"no such file: {str(path)!r}")
    if path.is_dir():
        raise DataError(f"{str(path)!r} is a directory, not a data file")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        data = _load_npy(path)
    elif suffix == ".csv":
        data = _load_csv(path)
    elif suffix == ".parquet":
        data = _load_parquet(path)
    else:
        raise DataError(
            f"unknown data format {suffix or '(no suffix)'!r} for {str(path)!r}: "
            f"expected one of {', '.join(DATA_FORMATS)}"
        )
    return _as_float_table(data, path)


def _load_npy(path: Path) -> np.ndarray:
    try:
        data = np.load(path, allow_pickle=False)
    except ValueError as exc:  # object arrays need pickle, which we never allow
        raise DataError(f"cannot read {str(path)!r} as .npy: {exc}") from None
    except (OSError, EOFError) as exc:
        raise DataError(f"cannot read {str(path)!r} as .npy: {exc}") from None
    if isinstance(data, np.lib.npyio.NpzFile):  # np.load sniffs the content, not the name
        data.close()
        raise DataError(f"{str(path)!r} is an .npz archive, not an .npy array")
    return _native(data)


def _is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


def _load_csv(path: Path) -> np.ndarray:
    try:
        with open(path, encoding="utf-8-sig") as f:
            first_line = next((line for line in f if line.strip()), None)
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {str(path)!r} as CSV text: {exc}") from None
    if first_line is None:
        raise DataError(f"{str(path)!r} is empty")
    # A header has a field that is text; an empty field is a missing value, not a name.
    has_header = any(f.strip() and not _is_number(f.strip()) for f in first_line.split(","))
    try:  # NumPy's C parser: fast for large files
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "input contained no data": reported below
            data = np.loadtxt(path, delimiter=",", skiprows=1 if has_header else 0, ndmin=2,
                              dtype=np.float64, encoding="utf-8-sig")
    except ValueError:
        _find_csv_error(path, has_header)  # raises a DataError naming the line
        raise
    if data.size == 0:
        raise DataError(f"{str(path)!r} has a header but no data rows" if has_header else f"{str(path)!r} is empty")
    return data


def _find_csv_error(path: Path, has_header: bool) -> None:
    """Re-read a CSV NumPy refused, line by line, to say where and why."""
    with open(path, encoding="utf-8-sig") as f:
        lines = list(enumerate(f.read().splitlines(), start=1))
    lines = [(number, line) for number, line in lines if line.strip()]
    width = len(lines[0][1].split(","))
    for number, line in lines[1:] if has_header else lines:
        fields = [field.strip() for field in line.split(",")]
        if len(fields) != width:
            raise DataError(
                f"{str(path)!r} line {number}: {len(fields)} fields where the first line has {width}"
            )
        bad = next((field for field in fields if not _is_number(field)), None)
        if bad == "":
            raise DataError(f"{str(path)!r} line {number}: an empty field (missing value)")
        if bad is not None:
            raise DataError(f"{str(path)!r} line {number}: {bad!r} is not a number")


def _load_parquet(path: Path) -> np.ndarray:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(
            "reading .parquet files needs pyarrow: pip install 'xpcluster[parquet]'"
        ) from None
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises its own ArrowInvalid/OSError family
        raise DataError(f"cannot read {str(path)!r} as Parquet: {exc}") from None
    columns = []
    for name, column in zip(table.column_names, table.columns):
        values = column.to_numpy()
        if not (np.issubdtype(values.dtype, np.number) or values.dtype == np.bool_):
            raise DataError(
                f"{str(path)!r}: column {name!r} is not numeric ({column.type}); "
                "select the numeric columns first"
            )
        columns.append(values)
    if not columns:
        raise DataError(f"{str(path)!r} has no columns")
    return np.column_stack(columns)


def _native(data: np.ndarray) -> np.ndarray:
    """``data`` in native byte order, same kind and width: a '>f8' file is float64, not a
    dtype that downstream code fails to recognise as float64 (or narrows)."""
    if data.dtype.isnative:
        return data
    return data.astype(data.dtype.newbyteorder("="))


def _as_float_table(data: np.ndarray, path: Path) -> np.ndarray:
    data = _native(data)
    if data.dtype.kind not in "biuf":
        raise DataError(f"{str(path)!r} holds {data.dtype} values; xpcluster needs real numbers")
    if data.ndim == 1:
        data = data.reshape(-1, 1)
    if data.ndim != 2:
        raise DataError(f"{str(path)!r} holds a {data.ndim}-D array; expected a 2-D table (samples x features)")
    if data.shape[0] == 0 or data.shape[1] == 0:
        raise DataError(f"{str(path)!r} holds no data (shape {data.shape})")
    if data.dtype.kind != "f" or data.dtype.itemsize < 4:
        data = data.astype(np.float64)
    finite = np.isfinite(data)
    if not finite.all():
        row, col = np.argwhere(~finite)[0]
        raise DataError(
            f"{str(path)!r} contains a missing or non-finite value ({data[row, col]}) at row {row}, "
            f"column {col}; remove or impute such values first"
        )
    return data


# --------------------------------------------------------------------------- images


def _pillow() -> Any:
    try:
        from PIL import Image
    except ImportError:
        raise DataError("reading and writing images needs Pillow: pip install 'xpcluster[cli]'") from None
    return Image


def load_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a PNG/JPEG (anything Pillow reads) as an ``(height, width, 3)`` uint8 RGB array.

    Transparency is dropped and grey or palette images become RGB.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"no such file: {str(path)!r}")
    Image = _pillow()
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(f"cannot read {str(path)!r} as an image: {exc}") from None


def save_image(pixels: np.ndarray, path: str | os.PathLike[str]) -> None:
    """Write an ``(height, width, 3)`` uint8 array; the format follows the file suffix."""
    Image = _pillow()
    path = Path(path)
    try:
        Image.fromarray(pixels, mode=None).save(path)
    except (OSError, ValueError, KeyError) as exc:  # KeyError: a suffix Pillow cannot write
        raise DataError(f"cannot write image {str(path)!r}: {exc}") from None


# --------------------------------------------------------------------------- backends


def backend_status(name: str) -> str | None:
    """Why backend ``name`` cannot be used here, or None when it can be imported."""
    module, extra = BACKENDS[name]
    try:
        importlib.import_module(module)
    except ImportError:
        return f"backend {name!r} is not installed: pip install 'xpcluster[{extra}]'"
    return None


def _require(name: str) -> None:
    problem = backend_status(name)
    if problem is not None:
        raise DataError(problem)


def dask_rows_per_block(n: int, d: int, itemsize: int) -> int:
    """Rows per Dask block: blocks of about :data:`DASK_BLOCK_BYTES`, at least one per CPU
    core when the data is large enough for that to pay off (1000 rows or more per block)."""
    by_bytes = max(1, DASK_BLOCK_BYTES // max(1, d * itemsize))
    by_cores = max(1000, math.ceil(n / (os.cpu_count() or 1)))
    return max(1, min(n, by_bytes, by_cores))


def to_backend(data: np.ndarray, backend: str, device: str | None = None) -> tuple[Any, str]:
    """Place a NumPy array on ``backend`` and ``device`` ('cpu' or 'cuda').

    ``device=None`` picks the backend's natural device (CPU, except CuPy: CUDA).  Returns the
    array and a description such as ``'torch on cuda:0'``.

    Raises
    ------
    DataError
        The backend is not installed, or the device is not available to it.
    """
    _require(backend)
    if device is None:
        device = "cuda" if backend == "cupy" else "cpu"

    def unavailable(why: str) -> DataError:
        return DataError(f"device {device!r} is not available for backend {backend!r}: {why}")

    if backend == "numpy":
        if device != "cpu":
            raise unavailable("NumPy runs on the CPU only (try --backend torch, jax or cupy)")
        return data, "numpy on cpu"
    if backend == "torch":
        import torch

        if device == "cuda" and not torch.cuda.is_available():
            raise unavailable("PyTorch sees no CUDA GPU")
        x = torch.asarray(data, device=device)
        return x, f"torch on {x.device}"
    if backend == "jax":
        import jax

        platform = "gpu" if device == "cuda" else "cpu"
        try:
            target = jax.devices(platform)[0]
        except RuntimeError:
            raise unavailable(f"JAX has no {platform} device") from None
        if data.dtype == np.float64 and not jax.config.jax_enable_x64:
            # JAX would silently drop to float32; the command asked for the data's precision.
            jax.config.update("jax_enable_x64", True)
        x = jax.device_put(data, target)
        return x, f"jax on {target.platform}:{target.id}"
    if backend == "dask":
        import dask.array as da

        rows = dask_rows_per_block(data.shape[0], data.shape[1], data.dtype.itemsize)
        if device == "cuda":
            problem = backend_status("cupy")
            if problem is not None:
                raise unavailable(f"Dask on CUDA needs CuPy ({problem})")
            import cupy

            if not _cupy_has_gpu(cupy):
                raise unavailable("CuPy sees no CUDA GPU")
            x = da.from_array(data, chunks=(rows, data.shape[1])).map_blocks(cupy.asarray)
        else:
            x = da.from_array(data, chunks=(rows, data.shape[1]))
        return x, f"dask on {device} ({x.numblocks[0]} block(s) of <= {rows} rows)"
    if backend == "cupy":
        if device != "cuda":
            raise unavailable("CuPy runs on CUDA GPUs only (use --device cuda)")
        import cupy

        if not _cupy_has_gpu(cupy):
            raise unavailable("CuPy sees no CUDA GPU")
        x = cupy.asarray(data)
        return x, f"cupy on cuda:{x.device.id}"
    raise DataError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")


def _cupy_has_gpu(cupy: Any) -> bool:
    try:
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # no driver at all
        return False


def to_numpy(a: Any) -> np.ndarray:
    """A NumPy copy (or view) of an array from any supported library, on any device.

    Dask arrays are computed, GPU arrays copied to the host, tensors that require grad
    detached.  Python sequences and scalars go through ``np.asarray``.
    """
    if isinstance(a, np.ndarray):
        return a
    module = type(a).__module__.split(".")[0]
    if module == "dask":
        a = a.compute()
        if isinstance(a, np.ndarray):
            return a
        module = type(a).__module__.split(".")[0]
    if module == "torch":
        return a.detach().cpu().numpy()
    if module == "cupy":
        return a.get()
    if module == "array_api_strict":
        import array_api_strict as xps

        a = xps.asarray(a, device=xps.Device("CPU_DEVICE"), copy=True)
        return np.asarray(a)
    return np.asarray(a)


# --------------------------------------------------------------------------- choose-K results

#: Names a result's K column may have; it is reported as 'k'.
_K_NAMES = ("k", "n_clusters", "K", "ks")
#: Names of the chosen K on a result object or mapping.
_CHOSEN_NAMES = ("chosen_k", "best_k", "k_", "n_clusters_", "k")


def _columns_of(table: Any) -> dict[str, Any]:
    if hasattr(table, "to_dict") and hasattr(table, "columns"):  # a pandas DataFrame
        return {str(c): table[c].to_numpy() for c in table.columns}
    if isinstance(table, np.ndarray) and table.dtype.names:
        return {name: table[name] for name in table.dtype.names}
    if isinstance(table, dict):
        return dict(table)
    if isinstance(table, (list, tuple)) and table and all(isinstance(r, dict) for r in table):
        return {key: [row[key] for row in table] for key in table[0]}
    if isinstance(table, (list, tuple)) and table and all(hasattr(r, "_asdict") for r in table):
        return {key: [getattr(row, key) for row in table] for key in table[0]._fields}
    raise TypeError(f"cannot read a per-K table from a {type(table).__name__}")


def result_table(result: Any) -> dict[str, np.ndarray]:
    """The per-K table of a choose-K result as ``{column: 1-D NumPy array}``, K first as 'k'.

    Accepts the result objects of :mod:`xpcluster.choose_k` (a ``table`` attribute or
    mapping entry holding columns, rows or a DataFrame) and plain mappings of columns.
    Array values from any library are copied to NumPy.
    """
    if isinstance(result, dict) and "table" not in result:
        source = {key: value for key, value in result.items() if key not in _CHOSEN_NAMES[:-1] and key != "method"}
    else:
        table = result["table"] if isinstance(result, dict) else getattr(result, "table", None)
        if table is None:
            raise TypeError(f"{type(result).__name__} has no per-K table")
        source = _columns_of(table)
    columns: dict[str, np.ndarray] = {}
    for name, values in source.items():
        try:
            array = np.asarray([to_numpy(v) for v in values] if isinstance(values, (list, tuple)) else to_numpy(values))
        except Exception:
            continue  # a column that is not numbers (e.g. per-K estimators) is not shown
        if array.ndim == 1 and array.dtype.kind in "biuf":
            columns[name] = array
    for name in _K_NAMES:
        if name in columns:
            ks = columns.pop(name)
            lengths = {v.shape[0] for v in columns.values()}
            if lengths - {ks.shape[0]}:
                raise ValueError("the columns of the per-K table have different lengths")
            return {"k": ks.astype(np.int64), **columns}
    raise ValueError(f"the per-K table has no K column (looked for {', '.join(_K_NAMES)})")


def chosen_k(result: Any, default: Any = ...) -> Any:
    """The K a choose-K result picked (``default`` if given and the result names none)."""
    for name in _CHOSEN_NAMES:
        value = result.get(name) if isinstance(result, dict) else getattr(result, name, None)
        if value is not None and not (isinstance(value, (list, tuple)) or getattr(value, "ndim", 0)):
            return int(to_numpy(value).reshape(())) if not isinstance(value, int) else value
    if default is not ...:
        return default
    raise TypeError(f"{type(result).__name__} does not say which K was chosen")


def format_table(table: dict[str, np.ndarray], chosen: int | None = None) -> str:
    """A plain-text table, one row per K, the chosen K's row marked with '*'."""
    names = list(table)
    cells = [[_cell(table[name][i]) for name in names] for i in range(len(table["k"]))]
    widths = [max(len(name), *(len(row[j]) for row in cells)) for j, name in enumerate(names)]
    lines = ["  " + "  ".join(name.rjust(w) for name, w in zip(names, widths))]
    for i, row in enumerate(cells):
        mark = "*" if chosen is not None and int(table["k"][i]) == chosen else " "
        lines.append(mark + " " + "  ".join(cell.rjust(w) for cell, w in zip(row, widths)))
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, (np.integer, int)) or (isinstance(value, np.bool_)):
        return str(value)
    return f"{float(value):.6g}"
