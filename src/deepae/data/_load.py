"""``load``: the one entry point the command line uses for its DATA argument."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from deepae.data._arrays import ARRAY_SUFFIXES, load_array
from deepae.data._builtin import (
    check_split,
    has_idx_files,
    list_datasets,
    load_dataset,
    load_idx_folder,
    resolve_name,
)
from deepae.data._dataset import Dataset
from deepae.data._images import IMAGE_SUFFIXES, load_images
from deepae.errors import ConfigError, DataError


def load(
    spec,
    split: str = "train",
    data_dir: str | os.PathLike | None = None,
    image_mode: str | None = None,
    image_size: int | tuple[int, int] | None = None,
) -> Dataset:
    """Load DATA given as a built-in name, an image file or folder, or a .npy/.npz/.csv file.

    A built-in name wins over a file or folder of the same name (write ``./mnist`` for the folder).
    A folder holding MNIST-format IDX files is read like MNIST; any other folder as images.
    ``split`` applies to built-in sets and IDX folders; ``image_mode``/``image_size`` to images only.
    Arrays and DataFrames are passed to ``load_array``.
    """
    check_split(split)
    if isinstance(spec, (np.ndarray, pd.DataFrame)):
        _no_image_options(image_mode, image_size, "arrays")
        return load_array(spec)
    name = resolve_name(str(spec)) if isinstance(spec, str) else None
    if name is not None:
        _no_image_options(image_mode, image_size, f"the built-in data set {name!r}")
        return load_dataset(name, split, data_dir=data_dir)
    path = Path(spec)
    if path.is_dir() and has_idx_files(path):
        _no_image_options(image_mode, image_size, "IDX files")
        return load_idx_folder(path, split)
    if path.is_dir() or (path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES):
        return load_images(path, mode=image_mode, size=image_size)
    if path.is_file() and path.suffix.lower() in ARRAY_SUFFIXES:
        _no_image_options(image_mode, image_size, f"{path.suffix} files")
        return load_array(path)
    if path.is_file():
        raise DataError(
            f"cannot read DATA '{spec}': unsupported file type {path.suffix or '(none)'!r} "
            f"(expected {', '.join(IMAGE_SUFFIXES + ARRAY_SUFFIXES)})"
        )
    raise DataError(
        f"cannot read DATA '{spec}': not a known data set ({', '.join(list_datasets())}) "
        f"nor an existing file/folder"
    )


def _no_image_options(mode, size, what: str) -> None:
    """Refuse image options where they would be silently ignored."""
    if mode is not None or size is not None:
        raise ConfigError(f"image_mode / image_size apply to image files and folders, not to {what}")
