"""Data that does not fit in memory: torch Datasets that read samples only when a batch asks.

``ArrayFile`` memory-maps a ``.npy`` file (``np.load(mmap_mode="r")``) and copies out the rows of
each batch; ``ImageFiles`` decodes image files one by one, in the DataLoader's worker processes
when ``TrainConfig.num_workers`` asks for some. Either goes straight to ``Trainer.fit``, which
reads a Dataset in index batches, so the resident memory stays near one batch whatever the size
of the data.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from deepae.data._images import find_images
from deepae.errors import DataError


class ArrayFile(torch.utils.data.Dataset):
    """The rows of a ``.npy`` file, memory-mapped, as float32 tensors; uint8 data is scaled to [0, 1].

    The pages a read maps count in the process's resident memory until they are unmapped, and a
    page-cache fault maps a whole folio around the row: about 1 MB per randomly read row here, so
    one shuffled epoch would map most of the file. After every batch the mapping is therefore told
    it needs none of its pages (``MADV_DONTNEED``; the page cache keeps them for the next epoch):
    the resident size stays near one batch's worth, whatever the size of the file.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        try:
            self.x = np.load(self.path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise DataError(f"{self.path}: cannot memory-map the .npy file ({exc})") from None
        if self.x.ndim < 2 or len(self.x) == 0 or self.x.dtype.kind not in "fiu":
            raise DataError(f"{self.path}: expected a non-empty numeric array of samples (N, ...), got "
                            f"{self.x.dtype} {list(self.x.shape)}")
        self.scale = 1 / 255 if self.x.dtype == np.uint8 else 1.0

    def __len__(self) -> int:
        return len(self.x)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.__getitems__([index])[0]

    def __getitems__(self, indices: Sequence[int]) -> list[torch.Tensor]:
        """One batch in one read: its rows, float32 views of one array (the DataLoader stacks them back)."""
        idx = np.asarray(indices, dtype=np.int64)
        order = np.argsort(idx, kind="stable")
        rows = np.empty((len(idx), *self.x.shape[1:]), np.float32)
        rows[order] = self.x[idx[order]]  # sorted: the file is read forwards
        if self.scale != 1.0:
            rows *= self.scale
        self.release()
        return list(torch.from_numpy(rows))

    def release(self) -> None:
        """Unmap the pages reads have mapped in this process (they stay in the page cache)."""
        handle = getattr(self.x, "_mmap", None)
        if handle is not None and hasattr(mmap, "MADV_DONTNEED"):
            handle.madvise(mmap.MADV_DONTNEED)

    def __getstate__(self) -> dict:
        # DataLoader workers under spawn: each maps the file anew (a mapping cannot be pickled).
        return {**self.__dict__, "x": None}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.x = np.load(self.path, mmap_mode="r", allow_pickle=False)


class ImageFiles(torch.utils.data.Dataset):
    """Image files decoded on demand: (C, H, W) float32 in [0, 1], or flat rows with ``flat=True``.

    ``mode`` is "L" (grayscale) or "RGB"; every image must have ``size`` (W, H) when given, else the
    size of the first one. Give ``Trainer`` a ``num_workers`` to decode in worker processes.
    """

    def __init__(self, path_or_files: str | os.PathLike | Sequence[Path], mode: str = "L",
                 size: tuple[int, int] | None = None, flat: bool = False):
        if isinstance(path_or_files, (str, os.PathLike)):
            self.files = find_images(path_or_files)
        else:
            self.files = [Path(f) for f in path_or_files]
        if not self.files:
            raise DataError(f"{path_or_files}: no image files")
        if mode not in ("L", "RGB"):
            raise DataError(f"mode={mode!r}; expected 'L' or 'RGB'")
        self.mode, self.flat = mode, flat
        self.size = tuple(size) if size is not None else self._open(self.files[0]).size

    def __len__(self) -> int:
        return len(self.files)

    def _open(self, path: Path) -> Image.Image:
        try:
            with Image.open(path) as image:
                return image.convert(self.mode)
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise DataError(f"{path}: cannot read image ({exc})") from None

    def __getitem__(self, index: int) -> torch.Tensor:
        path = self.files[index]
        image = self._open(path)
        if image.size != self.size:
            raise DataError(f"{path}: {image.size[0]}x{image.size[1]} pixels; the other images are "
                            f"{self.size[0]}x{self.size[1]}")
        x = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255)
        x = x.unsqueeze(0) if x.ndim == 2 else x.permute(2, 0, 1)  # (H, W[, C]) -> (C, H, W)
        return x.reshape(-1) if self.flat else x
