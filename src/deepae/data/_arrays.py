"""Numeric arrays in: .npy, .npz, .csv, pandas DataFrames and NumPy arrays."""

from __future__ import annotations

import csv
import os
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from deepae.data._dataset import Dataset
from deepae.errors import DataError

ARRAY_SUFFIXES = (".npy", ".npz", ".csv")
LABEL_COLUMNS = ("label", "y", "target")  # matched case-insensitively
_X_KEYS, _Y_KEYS = ("x", "X"), ("y", "Y")


def load_array(data, y=None, name: str | None = None) -> Dataset:
    """Load numeric samples from a ``.npy``/``.npz``/``.csv`` path, a DataFrame or an array.

    Tabular data keeps its units (no rescaling) and becomes ``(N, D)``; ``(N, H, W)`` becomes
    ``(N, 1, H, W)`` and channel-last ``(N, H, W, C)`` becomes channel-first. uint8 image arrays
    (3-D/4-D) are the one exception to "no rescaling": they are divided by 255, as image data must
    lie in [0, 1]. A .npz file holds its data as "x" (or as its one array besides the labels).
    Labels come from ``y``, an npz key "y", or a CSV/DataFrame column named
    label / y / target; string labels become class indices with ``class_names``.
    """
    if isinstance(data, pd.DataFrame):
        x, labels, class_names = _from_frame(data, "DataFrame")
        source = "in-memory DataFrame"
    elif isinstance(data, (str, os.PathLike)):
        path = Path(data)
        x, labels, class_names = _read_file(path)
        source, name = str(path), name or path.stem
    else:
        x, labels, class_names = _as_numeric(data, "array"), None, None
        source = f"in-memory {type(data).__name__}"
    if y is not None:
        labels, class_names = _labels(y, "y")
    x = _shape_samples(x, source)
    if labels is not None and len(labels) != len(x):
        raise DataError(f"{source}: {len(labels)} labels for {len(x)} samples")
    return Dataset(x, labels, name=name or "array", source=source, class_names=class_names)


_NPY_MAGIC, _ZIP_MAGIC = b"\x93NUMPY", b"PK"


def _read_file(path: Path) -> tuple[np.ndarray, np.ndarray | None, list[str] | None]:
    """Read x (and labels, class names) from a .npy, .npz or .csv file."""
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _from_frame(_read_csv(path), str(path))
    if suffix not in (".npy", ".npz"):
        raise DataError(f"{path}: unsupported array file (expected {', '.join(ARRAY_SUFFIXES)})")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty")
    with path.open("rb") as f:
        head = f.read(6)
    # np.load takes anything that is neither NumPy's header nor a zip archive for a pickle, and says so
    if not head.startswith((_NPY_MAGIC, _ZIP_MAGIC)):
        raise DataError(f"{path}: not a NumPy {suffix} file (it does not start with "
                        f"{'a .npy header' if suffix == '.npy' else 'a zip archive'})")
    try:
        loaded = np.load(path, allow_pickle=False)
    except EOFError:
        raise DataError(f"{path}: the file ends early (truncated?)") from None
    except (ValueError, OSError, zipfile.BadZipFile) as err:
        # ValueError is also what numpy raises for object arrays, which would need pickle
        raise DataError(f"{path}: cannot read as {suffix} without pickle ({err})") from None
    if isinstance(loaded, np.ndarray):
        return _as_numeric(loaded, str(path)), None, None
    with loaded:
        return _from_npz(loaded, path)


def _from_npz(npz, path: Path) -> tuple[np.ndarray, np.ndarray | None, list[str] | None]:
    """x from key "x"/"X" (else the one non-label array), labels from "y"/"Y" if present."""
    keys = list(npz.files)
    x_key = next((k for k in _X_KEYS if k in keys), None)
    others = [k for k in keys if k not in _Y_KEYS]
    if x_key is None and len(others) > 1:
        raise DataError(
            f"{path}: holds several arrays ({', '.join(others)}) and none is named 'x'; save the data as 'x' "
            "(labels as 'y'), or one array alone"
        )
    x_key = x_key or (others[0] if others else None)
    if x_key is None:
        raise DataError(f"{path}: no data array (keys: {', '.join(keys) or 'none'})")
    y_key = next((k for k in _Y_KEYS if k in keys), None)
    labels, class_names = (None, None) if y_key is None else _labels(npz[y_key], f"{path}[{y_key}]")
    return _as_numeric(npz[x_key], f"{path}[{x_key}]"), labels, class_names


def _read_csv(path: Path) -> pd.DataFrame:
    """Read a CSV whose delimiter (, ; tab |) and header line are detected from its first lines."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        head = [line for _, line in zip(range(2), f)]
    if not head or not head[0].strip():
        raise DataError(f"{path}: empty CSV file")
    try:
        sep = csv.Sniffer().sniff(head[0], delimiters=",;\t|").delimiter
    except csv.Error:
        sep = ","  # a single column has no delimiter to find
    rows = [next(csv.reader([line], delimiter=sep)) for line in head]
    header = 0 if _looks_like_header(rows) else None
    try:
        return pd.read_csv(path, sep=sep, header=header, encoding="utf-8-sig")
    except (ValueError, pd.errors.ParserError) as err:
        raise DataError(f"{path}: cannot parse CSV ({err})") from None


def _looks_like_header(rows: list[list[str]]) -> bool:
    """A header is a first row that is all text, or text above a number in some column."""
    first = [not _is_number(v) for v in rows[0]]
    if all(first):
        return True
    second = rows[1] if len(rows) > 1 else []
    return any(text and _is_number(v) for text, v in zip(first, second))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _from_frame(frame: pd.DataFrame, what: str) -> tuple[np.ndarray, np.ndarray | None, list[str] | None]:
    """Split a DataFrame into numeric features and the optional label column."""
    label_col = next((c for c in frame.columns if str(c).lower() in LABEL_COLUMNS), None)
    labels, class_names = None, None
    if label_col is not None:
        labels, class_names = _labels(frame[label_col].to_numpy(), f"{what} column {label_col!r}")
        frame = frame.drop(columns=[label_col])
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise DataError(f"{what}: no data ({frame.shape[0]} rows, {frame.shape[1]} feature columns)")
    for column in frame.columns:
        series = frame[column]
        if not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)):
            bad = series[pd.to_numeric(series, errors="coerce").isna() & series.notna()]
            example = f", e.g. {bad.iloc[0]!r} in row {bad.index[0]}" if len(bad) else ""
            raise DataError(f"{what}: column {column!r} is not numeric{example}")
        _check_finite(series.to_numpy(dtype=np.float64), f"{what} column {column!r}")
    return frame.to_numpy(dtype=np.float32), labels, class_names


def _as_numeric(data, what: str) -> np.ndarray:
    """``np.asarray`` that refuses non-numeric data (strings, objects)."""
    if hasattr(data, "detach"):  # a torch tensor, without importing torch here
        data = data.detach().cpu().numpy()
    try:
        array = np.asarray(data)
    except (TypeError, ValueError) as err:
        raise DataError(f"{what}: cannot read {type(data).__name__} as an array ({err})") from None
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise DataError(f"{what}: expected numbers, got dtype {array.dtype}")
    if np.issubdtype(array.dtype, np.complexfloating):
        raise DataError(f"{what}: expected real numbers, got dtype {array.dtype}")
    if array.size == 0:
        raise DataError(f"{what}: no data (shape {array.shape})")
    return array


def _check_finite(x: np.ndarray, what: str) -> np.ndarray:
    """Raise DataError naming the first NaN/inf, if any (also catches float32 overflow)."""
    if np.issubdtype(x.dtype, np.inexact):
        bad = ~np.isfinite(x)
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            raise DataError(
                f"{what}: {int(bad.sum())} NaN/inf values, the first at index {where} "
                f"({x[where]})"
            )
    return x


def _shape_samples(x: np.ndarray, what: str) -> np.ndarray:
    """Give numeric data a Dataset shape: (N, D) or channel-first (N, C, H, W); float32."""
    rescale = x.dtype == np.uint8 and x.ndim in (3, 4)
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[-1] in (1, 3, 4) and x.shape[1] not in (1, 3, 4):
        x = x.transpose(0, 3, 1, 2)  # channel-last (N, H, W, C) -> (N, C, H, W)
    elif x.ndim not in (2, 4):
        raise DataError(
            f"{what}: expected (N, D) samples or (N, [C,] H, W) images, got shape {x.shape}"
        )
    x = x.astype(np.float32)
    if rescale:
        x /= 255
    return _check_finite(x, what)


def _labels(values, what: str) -> tuple[np.ndarray, list[str] | None]:
    """Integer labels as int64, or text labels as indices into sorted ``class_names``."""
    values = np.asarray(values)
    if values.ndim != 1:
        raise DataError(f"{what}: labels must be 1-D, got shape {values.shape}")
    if not np.issubdtype(values.dtype, np.number):
        if pd.isna(values).any():
            raise DataError(f"{what}: missing labels")
        class_names, index = np.unique(values.astype(str), return_inverse=True)
        return index.astype(np.int64), [str(c) for c in class_names]
    if not np.isfinite(values).all() or not (values == np.round(values)).all():
        raise DataError(f"{what}: labels must be whole numbers (or text), got {values[:5]}...")
    return values.astype(np.int64), None
