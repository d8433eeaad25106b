"""Input and output for the application layer (``xpcluster`` command, plotting, examples).

Reading data files and images into NumPy (a sparse ``.npz`` into a SciPy sparse matrix),
placing a NumPy array on a chosen backend and device, and bringing any backend's array
back to NumPy.  This module names array libraries
on purpose: it sits at the application boundary, outside the algorithms, which only ever
see the arrays it produces.
"""
from __future__ import annotations

import codecs
import contextlib
import csv
import importlib
import io
import math
import os
import re
import shlex
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

__all__ = [
    "DataError",
    "SelectionError",
    "BACKENDS",
    "DATA_FORMATS",
    "load_data",
    "is_sparse_data",
    "sparse_npz_format",
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
#: File suffixes :func:`load_data` reads (.npz: a sparse matrix of ``scipy.sparse.save_npz``).
DATA_FORMATS = (".npy", ".csv", ".parquet", ".npz")
#: The keys every archive of ``scipy.sparse.save_npz`` has (beside its format's arrays).
_SPARSE_NPZ_KEYS = frozenset({"format", "shape"})
#: Target size of one Dask block made by :func:`to_backend` (rows are never split).
DASK_BLOCK_BYTES = 64 * 2**20


class DataError(Exception):
    """A problem with the user's files, libraries or devices: reported as one line."""


# --------------------------------------------------------------------------- data files


class SelectionError(DataError):
    """``columns``/``drop`` name columns the table does not have: a usage error (exit 2)."""


#: Header names pandas and pyarrow give a written-out row index.
_INDEX_HEADER = ("", "Unnamed: 0")
_PYARROW_INDEX = re.compile(r"__index_level_\d+__")


def load_data(path: str | os.PathLike[str], *, columns: Sequence[str | int] | None = None,
              drop: Sequence[str | int] | None = None,
              note: Callable[[str], None] | None = None) -> Any:
    """Read a numeric 2-D table from ``.npy``, ``.csv`` or ``.parquet`` as a NumPy array,
    or a sparse matrix from ``.npz`` as a SciPy CSR matrix.

    A 1-D ``.npy`` array is one feature per sample.  CSV is read with the :mod:`csv`
    module's rules (comma-separated, ``"``-quoted fields, no comment character; a UTF-8
    byte-order mark is ignored, any line ending is accepted, empty lines are skipped); its
    first line is a header when any of its fields is not a number.  Integer and boolean
    data come back as float64; float32 stays float32; any byte order comes back native.
    Missing, non-numeric or non-finite values are refused with the position of the first.

    ``columns`` keeps only the given columns, in that order; ``drop`` leaves the given
    ones out (not both).  Each item is a header name or a 0-based column index (a name
    wins when a header has a column named like a number).  Unless ``columns`` is given, a
    leading column with no name (``''``, pandas' ``'Unnamed: 0'``) or pyarrow's
    ``'__index_level_N__'`` whose values are exactly 0, 1, ..., n-1 is taken for a
    written-out row index and left out; ``note`` (default: :func:`warnings.warn`) is told so.

    A ``.npz`` file must be one written by ``scipy.sparse.save_npz`` (any of its formats);
    it comes back sparse, as a ``scipy.sparse.csr_matrix`` (integers and booleans as
    float64, float32 kept, float16 as float64), its columns chosen by 0-based index.  An
    archive of ``numpy.savez`` is refused with the names of the arrays it holds.

    Raises
    ------
    SelectionError
        ``columns`` or ``drop`` name a column the file lacks, or both are given.
    DataError
        The file is missing, of an unknown format, unreadable, not numeric, empty or
        contains NaN/inf.
    """
    path = Path(path)
    if columns is not None and drop is not None:
        raise SelectionError("give the columns to keep or the columns to drop, not both")
    if not path.exists():
        raise DataError(f"no such file: {str(path)!r}")
    if path.is_dir():
        raise DataError(f"{str(path)!r} is a directory, not a data file")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        table = _load_npy(path)
    elif suffix == ".csv":
        table = _load_csv(path)
    elif suffix == ".parquet":
        table = _load_parquet(path)
    elif suffix == ".npz":
        return _load_sparse(path, columns, drop)
    else:
        raise DataError(
            f"unknown data format {suffix or '(no suffix)'!r} for {str(path)!r}: "
            f"expected one of {', '.join(DATA_FORMATS)}"
        )
    if columns is not None:
        keep = _resolve_columns(table, columns, "--columns")
        if len(set(keep)) != len(keep):
            twice = sorted({table.label(j) for j in keep if keep.count(j) > 1})
            raise SelectionError(f"--columns names {', '.join(twice)} more than once")
        notes: list[str] = []  # the columns asked for are kept, whatever they look like
    else:
        dropped = set(_resolve_columns(table, drop, "--drop")) if drop is not None else set()
        keep = [j for j in range(table.n_columns) if j not in dropped]
        if not keep:
            raise SelectionError(f"--drop leaves none of the {table.n_columns} column(s) of {str(path)!r}")
        keep, notes = _leave_out_row_index(table, keep)
    data = _as_float_table(table.take(keep), path, [table.label(j) for j in keep])
    for message in notes:  # only once the data is good: an error is then the one thing said
        if note is not None:
            note(message)
        else:
            warnings.warn(message, UserWarning, stacklevel=2)
    return data


class _Table:
    """A table as read from a file, before its columns are chosen and checked."""

    def __init__(self, path: Path, names: list[str] | None, n_rows: int, n_columns: int) -> None:
        self.path, self.names, self.n_rows, self.n_columns = path, names, n_rows, n_columns

    def label(self, j: int) -> str:
        """How messages name column ``j``: its 0-based index, and its name when it has one."""
        return f"column {j} ({self.names[j]!r})" if self.names is not None else f"column {j}"

    def numbers(self, j: int) -> np.ndarray | None:
        """Column ``j`` as numbers, or None when it is not all numbers."""
        raise NotImplementedError

    def take(self, keep: list[int]) -> np.ndarray:
        """The 2-D array of the columns ``keep``; a DataError for the first that is not numbers."""
        raise NotImplementedError


class _ArrayTable(_Table):
    """A table already held as one numeric array (.npy, or a CSV that parsed as numbers)."""

    def __init__(self, path: Path, names: list[str] | None, data: np.ndarray) -> None:
        super().__init__(path, names, data.shape[0], data.shape[1])
        self.data = data

    def numbers(self, j: int) -> np.ndarray:
        return self.data[:, j]

    def take(self, keep: list[int]) -> np.ndarray:
        return self.data if keep == list(range(self.n_columns)) else self.data[:, keep]


def _resolve_columns(table: _Table, items: Sequence[str | int], option: str) -> list[int]:
    """Column indices for the names or 0-based indices ``items``; unknown ones are refused."""
    indices, unknown = [], []
    names = table.names
    for item in items:
        text = str(item).strip()
        if names is not None and text in names:
            matches = [j for j, name in enumerate(names) if name == text]
            if len(matches) > 1:
                raise SelectionError(
                    f"{option} {text!r}: {str(table.path)!r} has {len(matches)} columns of that name "
                    f"(columns {', '.join(map(str, matches))}); give the 0-based index instead"
                )
            indices.append(matches[0])
        elif text.isascii() and text.isdigit() and int(text) < table.n_columns:
            indices.append(int(text))
        else:
            unknown.append(text)
    if unknown:
        listing = f"0..{table.n_columns - 1}"
        if names is not None:
            shown = ", ".join(repr(name) for name in names[:12]) + (", ..." if len(names) > 12 else "")
            listing = f"{shown} (or 0-based indices {listing})"
        else:
            listing = f"0-based indices {listing} (it has no header line of names)"
        raise SelectionError(
            f"{option}: {str(table.path)!r} has no column {', '.join(repr(u) for u in unknown)}; "
            f"its columns are {listing}"
        )
    return indices


def _looks_like_row_index(table: _Table, j: int) -> bool:
    if table.names is None:
        return False
    name = table.names[j]
    return (j == 0 and name in _INDEX_HEADER) or _PYARROW_INDEX.fullmatch(name) is not None


def _leave_out_row_index(table: _Table, keep: list[int]) -> tuple[list[int], list[str]]:
    """``keep`` without the columns that are a written-out row index 0..n-1, and notes saying
    so (or saying that a column named like an index was kept)."""
    notes: list[str] = []
    tell = notes.append
    for j in [j for j in keep if _looks_like_row_index(table, j)]:
        if len(keep) == 1:
            break  # the only column: nothing else to cluster on, so keep it
        values = table.numbers(j)
        n = table.n_rows
        if values is not None and np.array_equal(values, np.arange(n)):
            keep = [i for i in keep if i != j]
            tell(f"{str(table.path)!r} {table.label(j)} looks like a row index 0..{n - 1}; "
                 f"left out (use --columns to keep it)")
        else:
            tell(f"{str(table.path)!r} {table.label(j)} is named like a row index but its values are "
                 f"not 0..{n - 1}; kept as a feature (use --drop {j} to leave it out)")
    return keep, notes


# ----------------------------------------------------------------------------- .npy


def _load_npy(path: Path) -> _Table:
    try:
        data = np.load(path, allow_pickle=False)
    except ValueError as exc:  # object arrays need pickle, which we never allow
        raise DataError(f"cannot read {str(path)!r} as .npy: {exc}") from None
    except (OSError, EOFError) as exc:
        raise DataError(f"cannot read {str(path)!r} as .npy: {exc}") from None
    if isinstance(data, np.lib.npyio.NpzFile):  # np.load sniffs the content, not the name
        data.close()
        raise DataError(f"{str(path)!r} is an .npz archive, not an .npy array")
    return _ArrayTable(path, None, _check_shape(_native(data), path))


def _check_shape(data: np.ndarray, path: Path) -> np.ndarray:
    if data.dtype.kind not in "biuf":
        raise DataError(f"{str(path)!r} holds {data.dtype} values; xpcluster needs real numbers")
    if data.ndim == 1:
        data = data.reshape(-1, 1)
    if data.ndim != 2:
        raise DataError(f"{str(path)!r} holds a {data.ndim}-D array; expected a 2-D table (samples x features)")
    if data.shape[0] == 0 or data.shape[1] == 0:
        raise DataError(f"{str(path)!r} holds no data (shape {data.shape})")
    return data


# ----------------------------------------------------------------------------- sparse .npz


def is_sparse_data(data: Any) -> bool:
    """Whether ``data`` (what :func:`load_data` returned) is a SciPy sparse matrix."""
    return type(data).__module__.startswith("scipy.sparse")


def sparse_npz_format(path: str | os.PathLike[str]) -> str | None:
    """The sparse format ('csr', 'coo', ...) of a ``scipy.sparse.save_npz`` archive, or None
    for any other file (an ``numpy.savez`` archive, a missing or unreadable file).  Reads
    only the archive's directory and its small 'format' entry."""
    try:
        archive = np.load(path, allow_pickle=False)
    except Exception:  # not NumPy's at all (zipfile.BadZipFile, OSError, ...)
        return None
    if not isinstance(archive, np.lib.npyio.NpzFile):  # a plain .npy array, whatever its name
        return None
    try:
        with archive:
            if not _SPARSE_NPZ_KEYS <= set(archive.files):
                return None
            fmt = archive["format"]
    except Exception:  # a damaged member
        return None
    value = fmt.item() if fmt.shape == () else None
    if isinstance(value, bytes):
        value = value.decode("ascii", errors="replace")
    return value if isinstance(value, str) else None


def _load_sparse(path: Path, columns: Sequence[str | int] | None, drop: Sequence[str | int] | None) -> Any:
    """A ``scipy.sparse.save_npz`` archive as a checked CSR matrix of floats (a new matrix:
    the file is only read)."""
    try:
        archive = np.load(path, allow_pickle=False)
    except Exception as exc:  # zipfile.BadZipFile, OSError, a pickled object array...
        raise DataError(f"cannot read {str(path)!r} as .npz: {_first_line(exc)}") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(f"{str(path)!r} is an .npy array, not an .npz archive; name it .npy")
    with archive:
        keys = sorted(archive.files)
    if not _SPARSE_NPZ_KEYS <= set(keys):
        shown = ", ".join(repr(k) for k in keys[:8]) + (", ..." if len(keys) > 8 else "")
        raise DataError(
            f"{str(path)!r} is an .npz archive of NumPy arrays ({shown or 'none'}), not a sparse matrix written "
            "by scipy.sparse.save_npz; save a dense table with numpy.save as .npy"
        )
    try:
        from scipy import sparse
    except ImportError:
        raise DataError("reading sparse .npz files needs SciPy: pip install scipy") from None
    try:
        loaded = sparse.load_npz(path)
    except Exception as exc:  # a damaged archive or an unknown format: SciPy's own errors
        raise DataError(f"cannot read {str(path)!r} as a scipy.sparse .npz: {_first_line(exc)}") from None
    if loaded.ndim != 2:
        raise DataError(f"{str(path)!r} holds a {loaded.ndim}-D sparse array; expected a 2-D table (samples x features)")
    if loaded.dtype.kind not in "biuf":
        raise DataError(f"{str(path)!r} holds {loaded.dtype} values; xpcluster needs real numbers")
    n, d = loaded.shape
    if n == 0 or d == 0:
        raise DataError(f"{str(path)!r} holds no data (shape {(n, d)})")
    # The dense tables' rule: float32 and float64 kept (in native byte order), the rest float64.
    dtype = loaded.dtype.newbyteorder("=") if loaded.dtype.kind == "f" and loaded.dtype.itemsize >= 4 else np.float64
    matrix = sparse.csr_matrix(loaded, dtype=dtype, copy=True)
    # Canonical (sorted, duplicates added, no stored zeros): its nnz is the data's, and our
    # own copy is what changes, never anything the file's reader might share.
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    finite = np.isfinite(matrix.data)
    if not finite.all():
        first = int(np.flatnonzero(~finite)[0])
        row = int(np.searchsorted(matrix.indptr, first, side="right") - 1)
        raise DataError(
            f"{str(path)!r} contains a non-finite value ({matrix.data[first]}) at row {row}, "
            f"column {int(matrix.indices[first])}; remove or impute such values first"
        )
    if columns is None and drop is None:
        return matrix
    table = _Table(path, None, n, d)  # no header: columns by 0-based index
    if columns is not None:
        keep = _resolve_columns(table, columns, "--columns")
        if len(set(keep)) != len(keep):
            twice = sorted({table.label(j) for j in keep if keep.count(j) > 1})
            raise SelectionError(f"--columns names {', '.join(twice)} more than once")
    else:
        dropped = set(_resolve_columns(table, drop, "--drop"))
        keep = [j for j in range(d) if j not in dropped]
        if not keep:
            raise SelectionError(f"--drop leaves none of the {d} column(s) of {str(path)!r}")
    return matrix[:, keep].tocsr()


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# ----------------------------------------------------------------------------- CSV

#: Bytes after which the csv module and NumPy's parser provably read a CSV body alike: no
#: quote, no NUL or other control character (only tab, CR, LF), nothing outside ASCII.
_PLAIN_CSV_BYTES = bytes([9, 10, 13, *(b for b in range(0x20, 0x7F) if b != ord('"'))])


def _number(field: str) -> float:
    """A CSV field as a number, or ValueError.

    ``float`` of the field without its surrounding whitespace, except that digit-group
    underscores and non-ASCII digits are not numbers here (NumPy's parser, the fast path
    of :func:`_load_csv`, accepts neither: both paths must give the same answer).
    """
    text = field.strip()
    if "_" in text or not text.isascii():
        raise ValueError(field)
    return float(text)


def _is_number(field: str) -> bool:
    try:
        _number(field)
    except ValueError:
        return False
    return True


def _is_header(fields: Sequence[str]) -> bool:
    # A header has a field that is text; an empty field is a missing value, not a name.
    return any(f.strip() and not _is_number(f) for f in fields)


def _load_csv(path: Path) -> _Table:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
    table = _load_plain_csv(path, raw)
    return table if table is not None else _load_csv_text(path, raw)


def _load_plain_csv(path: Path, raw: bytes) -> _Table | None:
    """NumPy's C parser on a CSV whose body has no quotes, controls or non-ASCII bytes.

    For such text the csv module's reading is: lines end at CR, LF or CRLF, fields end at
    commas, nothing else is special; ``np.loadtxt(comments=None, quotechar=None)`` splits
    the same way, skips the same (empty) lines, and converts a field to a float exactly
    when :func:`_number` does, to the same value (both are correctly rounded).  Anything
    it refuses, and any file outside these conditions, goes to :func:`_load_csv_text`,
    which also finds the line to blame.  Returns None for those.
    """
    body_start = 3 if raw.startswith(codecs.BOM_UTF8) else 0
    line_end = min((i for i in (raw.find(b"\n", body_start), raw.find(b"\r", body_start)) if i >= 0),
                   default=len(raw))
    if line_end == body_start:
        return None  # leading blank lines: leave the line counting to the csv module
    try:
        first = next(csv.reader([raw[body_start:line_end].decode("utf-8")]), [])
    except (UnicodeDecodeError, csv.Error):
        return None
    has_header = _is_header(first)
    if raw[line_end if has_header else body_start:].translate(None, _PLAIN_CSV_BYTES):
        return None  # some byte outside _PLAIN_CSV_BYTES (a header may have any UTF-8)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "input contained no data": handled below
            data = np.loadtxt(path, delimiter=",", comments=None, quotechar=None, skiprows=1 if has_header else 0,
                              ndmin=2, dtype=np.float64, encoding="utf-8-sig")
    except ValueError:
        return None
    if data.shape[0] == 0 or data.shape[1] != len(first):
        return None  # no data rows, or rows wider than the header: the csv module says which
    return _ArrayTable(path, [name.strip() for name in first] if has_header else None, data)


class _TextTable(_Table):
    """A CSV read with the csv module: columns of text, converted when taken."""

    def __init__(self, path: Path, names: list[str] | None, columns: list[Sequence[str]],
                 lines: list[int]) -> None:
        super().__init__(path, names, len(lines), len(columns))
        self.columns, self.lines = columns, lines

    def numbers(self, j: int) -> np.ndarray | None:
        column = self.columns[j]
        joined = "".join(column)
        if joined.isascii() and "_" not in joined:
            # Then float() and _number agree wherever float() succeeds; float() is quicker.
            with contextlib.suppress(ValueError):
                return np.array(list(map(float, column)), dtype=np.float64)
        try:
            return np.array(list(map(_number, column)), dtype=np.float64)
        except ValueError:
            return None

    def take(self, keep: list[int]) -> np.ndarray:
        data = np.empty((self.n_rows, len(keep)), dtype=np.float64)
        first_bad: tuple[int, int] | None = None  # (row, column) of the first bad field in the file
        for out, j in enumerate(keep):
            values = self.numbers(j)
            if values is not None:
                data[:, out] = values
                continue
            row = next(i for i, field in enumerate(self.columns[j]) if not _is_number(field))
            if first_bad is None or (row, j) < first_bad:
                first_bad = (row, j)
        if first_bad is not None:
            self._refuse(*first_bad)
        return data

    def _refuse(self, row: int, j: int) -> None:
        field = self.columns[j][row]
        where = f"{str(self.path)!r} line {self.lines[row]}, {self.label(j)}"
        if not field.strip():
            raise DataError(f"{where}: an empty field (missing value)")
        message = f"{where}: {field!r} is not a number"
        if self.names is not None and not any(_is_number(f) for f in self.columns[j]):
            message += f"; the column holds no numbers (leave it out with --drop {_drop_hint(self.names, j)})"
        raise DataError(message)


def _drop_hint(names: list[str], j: int) -> str:
    """What to give ``--drop`` to leave out column ``j``: its name, quoted for a shell when it
    needs to be, or its index when the name cannot say it (empty, repeated, has a comma)."""
    name = names[j]
    if not name or names.count(name) > 1 or "," in name:
        return str(j)
    return shlex.quote(name)


def _load_csv_text(path: Path, raw: bytes) -> _Table:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise DataError(f"cannot read {str(path)!r} as CSV text: line {line} is not UTF-8 ({exc.reason})") from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    names: list[str] | None = None
    rows: list[list[str]] = []
    lines: list[int] = []
    width = first_line = 0
    end = 0  # the physical line the previous record ended on
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise DataError(f"{str(path)!r} line {end + 1}: cannot read it as CSV ({exc})") from None
        start, end = end + 1, reader.line_num
        if not row:
            continue  # an empty line
        if not width:
            width, first_line = len(row), start
            if _is_header(row):
                names = [name.strip() for name in row]
                continue
        elif len(row) != width:
            first = f"line {first_line} (the header)" if names is not None else f"the first line ({first_line})"
            raise DataError(f"{str(path)!r} line {start}: {len(row)} fields where {first} has {width}")
        rows.append(row)
        lines.append(start)
    if not rows:
        raise DataError(f"{str(path)!r} has a header but no data rows" if names is not None else f"{str(path)!r} is empty")
    return _TextTable(path, names, list(zip(*rows)), lines)


# ----------------------------------------------------------------------------- Parquet


class _ParquetTable(_Table):
    def __init__(self, path: Path, table: Any) -> None:
        super().__init__(path, [str(name) for name in table.column_names], table.num_rows, table.num_columns)
        self.table = table

    def _values(self, j: int) -> np.ndarray:
        return _native(np.asarray(self.table.column(j).to_numpy()))

    def numbers(self, j: int) -> np.ndarray | None:
        values = self._values(j)
        return values if values.dtype.kind in "biuf" else None

    def take(self, keep: list[int]) -> np.ndarray:
        columns = []
        for j in keep:
            values = self._values(j)
            if values.dtype.kind not in "biuf":
                raise DataError(
                    f"{str(self.path)!r}: column {self.names[j]!r} is not numeric ({self.table.column(j).type}); "
                    f"leave it out with --drop {_drop_hint(self.names, j)}"
                )
            columns.append(values)
        return np.column_stack(columns)


def _load_parquet(path: Path) -> _Table:
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
    if table.num_columns == 0:
        raise DataError(f"{str(path)!r} has no columns")
    if table.num_rows == 0:
        raise DataError(f"{str(path)!r} holds no data (0 rows)")
    return _ParquetTable(path, table)


# ----------------------------------------------------------------------------- checks


def _native(data: np.ndarray) -> np.ndarray:
    """``data`` in native byte order, same kind and width: a '>f8' file is float64, not a
    dtype that downstream code fails to recognise as float64 (or narrows)."""
    if data.dtype.isnative:
        return data
    return data.astype(data.dtype.newbyteorder("="))


def _as_float_table(data: np.ndarray, path: Path, labels: Sequence[str] | None = None) -> np.ndarray:
    data = _check_shape(_native(data), path)
    if data.dtype.kind != "f" or data.dtype.itemsize < 4:
        data = data.astype(np.float64)
    finite = np.isfinite(data)
    if not finite.all():
        row, col = np.argwhere(~finite)[0]
        column = labels[col] if labels is not None else f"column {col}"
        raise DataError(
            f"{str(path)!r} contains a missing or non-finite value ({data[row, col]}) at row {row}, "
            f"{column}; remove or impute such values first"
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


def image_format(path: str | os.PathLike[str]) -> str:
    """The Pillow format that writes files named like ``path`` (by suffix), or DataError."""
    Image = _pillow()
    suffix = Path(path).suffix.lower()
    name = Image.registered_extensions().get(suffix)
    if name is None or name not in Image.SAVE:
        raise DataError(f"cannot write image {str(path)!r}: Pillow writes no format with the suffix "
                        f"{suffix or '(none)'!r} (try .png)")
    return name


def save_image(pixels: np.ndarray, path: str | os.PathLike[str], format: str | None = None) -> None:
    """Write an ``(height, width, 3)`` uint8 array; the format follows the file suffix unless
    ``format`` (a Pillow format name) is given."""
    Image = _pillow()
    path = Path(path)
    try:
        Image.fromarray(pixels, mode=None).save(path, format=format)
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
