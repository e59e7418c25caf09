"""What leaves a run: evaluation results, codes and samples as arrays or PNG images."""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from .. import data as _data
from .. import metrics as _metrics
from .. import report as _report
from .._io import atomic_write_bytes, atomic_write_json, jsonable
from ..errors import ConfigError, DataError
from .folder import EVALUATION_FILE, Run


def evaluate(run: Run, ds: _data.Dataset) -> dict[str, Any]:
    """Reconstruction metrics of ``run`` on ``ds`` (and per class when ``ds`` has labels)."""
    x_hat = run.estimator.reconstruct(ds.x)
    result: dict[str, Any] = {
        "run": str(run.path),
        "data": {"name": ds.name, "source": ds.source, "n": len(ds)},
        "loss": run.estimator.loss_,
        "metrics": _metrics.reconstruction_metrics(ds.x, x_hat),
    }
    if ds.y is not None:
        result["per_class"] = _metrics.per_class(_metrics.squared_error(ds.x, x_hat), ds.y, ds.class_names)
    return jsonable(result)


def is_array_file(spec: str) -> bool:
    """True when DATA names an existing .npy/.npz/.csv file (arrays in, arrays out)."""
    path = Path(spec)
    return _data.resolve_name(spec) is None and path.is_file() and path.suffix.lower() in _data.ARRAY_SUFFIXES


def load_codes(path: str | os.PathLike) -> np.ndarray:
    """Codes (N, code size) from a .npy/.npz/.csv file, e.g. one written by ``deepae encode``."""
    x = _data.load_array(path).x
    if x.ndim != 2:
        raise DataError(f"'{path}' holds an array of shape {list(x.shape)}; codes must be (N, code size)")
    return x


def write_evaluation(run: Run, result: dict[str, Any]) -> Path:
    return atomic_write_json(run.path / EVALUATION_FILE, result)


def input_clash(path: str | os.PathLike, inputs: Iterable[str | os.PathLike | None]) -> tuple[Path, str] | None:
    """The first existing input that ``path`` is, is the folder of, or lies inside, with how; None if none."""
    target = Path(path).resolve()
    for source in (Path(s) for s in inputs if s is not None):
        if not source.exists():
            continue  # a built-in data set's name, not a path
        src = source.resolve()
        if target == src or (src.is_file() and target == src.parent) or (src.is_dir() and src in target.parents):
            return source, "is" if target == src else ("is the folder of" if src.is_file() else "lies inside")
    return None


def check_output(path: str | os.PathLike, force: bool, inputs: Iterable[str | os.PathLike | None] = ()) -> Path:
    """Refuse to replace an existing file, or fill a non-empty folder, unless ``force``.

    Outputs never replace inputs, ``force`` or not: ``path`` may not be one of the existing
    ``inputs``, the folder an input file lies in, or a place inside an input folder.
    """
    path = Path(path)
    clash = input_clash(path, inputs)
    if clash is not None:
        source, where = clash
        raise ConfigError(
            f"output '{path}' {where} the input '{source}'; outputs never replace or mix with inputs (--force "
            "or not): choose an output outside it"
        )
    if path.exists() and not force and (path.is_file() or any(path.iterdir())):
        raise ConfigError(f"output '{path}' already exists; pass --force to overwrite it")
    return path


def write_array(
    path: str | os.PathLike, array: np.ndarray, force: bool = False, inputs: Iterable[str | os.PathLike | None] = ()
) -> Path:
    """Save ``array`` as a .npy file, atomically (see ``check_output`` for ``force`` and ``inputs``)."""
    path = Path(path)
    if path.suffix.lower() != ".npy":
        raise ConfigError(f"output '{path}' must be a .npy file")
    check_output(path, force, inputs)
    buf = io.BytesIO()
    np.save(buf, np.asarray(array), allow_pickle=False)
    return atomic_write_bytes(path, buf.getvalue())


def write_images(
    folder: str | os.PathLike, x: np.ndarray, names: list[str] | None = None, force: bool = False,
    inputs: Iterable[str | os.PathLike | None] = (),
) -> list[Path]:
    """Save samples as PNGs in ``folder`` (input names kept, with a .png suffix), each file atomically."""
    images = x if x.ndim == 4 and x.shape[1] in (1, 3) else _report.as_images(np.clip(x, 0, 1))
    if images is None:
        raise ConfigError(f"samples of shape {list(x.shape[1:])} are not images; name a .npy file as output instead")
    folder = check_output(folder, force, inputs)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"output '{folder}' is a file; name a folder for images or a .npy file for arrays")
    names = None if names is None else [Path(n).with_suffix(".png").as_posix() for n in names]
    folder.mkdir(parents=True, exist_ok=True)
    # Write beside the target and move each finished file into place: no half-written PNG under its name.
    staging = Path(tempfile.mkdtemp(prefix=".deepae-", dir=folder))
    try:
        written = _data.save_images(images, staging, names)
        final = []
        for path in written:
            target = folder / path.relative_to(staging)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
            final.append(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final
