"""Where a run's data comes from, and the fixed hold-out split of data that has no test split."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .. import data as _data
from ..errors import DataError, DownloadError

# Data without a test split (image folders, array files) holds out a fixed share as its test set.
HOLDOUT_FRACTION = 0.1
HOLDOUT_SEED = 0

Notify = Callable[[str], None]


def quiet(_: str) -> None:
    """A ``Notify`` that says nothing."""


@dataclass(frozen=True)
class DataSpec:
    """Where a run's data comes from, so that its test split can be loaded again later.

    ``spec`` is a built-in name ("mnist", "digits", ...), an image file or folder, or an array
    file (stored absolute). Built-in sets and IDX folders have train/test splits; other data
    holds out ``HOLDOUT_FRACTION`` of its samples (fixed seed) as the test set.
    """

    spec: str
    data_dir: str | None = None

    @classmethod
    def parse(cls, spec: str, data_dir: str | os.PathLike | None = None) -> "DataSpec":
        if _data.resolve_name(spec) is None and Path(spec).exists():
            spec = str(Path(spec).resolve())
        return cls(spec, None if data_dir is None else str(Path(data_dir).resolve()))

    @property
    def has_splits(self) -> bool:
        return _data.resolve_name(self.spec) is not None or (Path(self.spec).is_dir() and _data.has_idx_files(Path(self.spec)))

    def load(self, split: str = "train") -> _data.Dataset:
        """``split`` is "train", "test" or "all"; held-out data is split here when it has no splits."""
        if self.has_splits:
            return _data.load(self.spec, split=split, data_dir=self.data_dir)
        full = _data.load(self.spec)
        if split == "all":
            return full
        train, test = holdout_indices(len(full))
        return full.subset(train if split == "train" else test)

    def splits(self) -> tuple[_data.Dataset, _data.Dataset | None]:
        """(train, test) with one read of the data; test is None when there is none."""
        if self.has_splits:
            train, test = self.load("train"), self.load("test")
        else:
            full = _data.load(self.spec)
            train_idx, test_idx = holdout_indices(len(full))
            train, test = full.subset(train_idx), full.subset(test_idx)
        return train, (test if len(test) else None)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def holdout_indices(n: int, fraction: float = HOLDOUT_FRACTION, seed: int = HOLDOUT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """A fixed (train, test) split of ``n`` samples, each sorted; no test set below 2 samples."""
    n_test = min(max(round(n * fraction), 1), n - 1) if n >= 2 else 0
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def load_demo_data(data_dir: str | os.PathLike | None, warn: Notify = quiet) -> DataSpec:
    """Full MNIST (``data_dir``, else the cache, else a download); the embedded digits when unavailable.

    A ``data_dir`` that does not exist is an error, not a reason to fall back: it is a typo to fix.
    """
    if data_dir is not None and not Path(data_dir).is_dir():
        raise DataError(
            f"data_dir '{data_dir}' does not exist or is not a folder; give the folder with the MNIST files, "
            "or leave it out to use the cache (or a download)"
        )
    spec = DataSpec.parse("mnist", data_dir)
    try:
        spec.load("all")  # fetches (or finds) all four files now, so training cannot fail on a missing one
    except (DownloadError, DataError) as exc:
        warn(f"MNIST is not available ({exc}); using the 5,000 embedded MNIST digits instead.")
        return DataSpec("mnist-embedded")
    return spec
