"""The ``Dataset`` container every loader returns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from deepae.errors import ConfigError, DataError


@dataclass(frozen=True, eq=False)
class Dataset:
    """Samples ``x`` (float32) with optional int64 labels ``y`` and where they came from.

    ``x`` is ``(N, C, H, W)`` for images (values in [0, 1]) or ``(N, D)`` for tabular data (units kept).
    ``names`` optionally holds one name per sample (image files: the path relative to the folder) so
    outputs can be written back under the same names.
    """

    x: np.ndarray
    y: np.ndarray | None
    name: str
    source: str
    class_names: list[str] | None = None
    names: list[str] | None = None

    def __post_init__(self) -> None:
        # frozen: the normalized arrays are set through object.__setattr__, once, here
        x = np.ascontiguousarray(self.x, dtype=np.float32)
        if x.ndim not in (2, 4):
            raise DataError(
                f"Dataset {self.name!r}: x must be (N, D) or (N, C, H, W), got shape {x.shape}"
            )
        object.__setattr__(self, "x", x)
        if self.y is not None:
            y = np.asarray(self.y)
            if y.shape != (len(x),):
                raise DataError(
                    f"Dataset {self.name!r}: y must have shape ({len(x)},) to match x, got {y.shape}"
                )
            object.__setattr__(self, "y", y.astype(np.int64, copy=False))
        if self.names is not None and len(self.names) != len(x):
            raise DataError(
                f"Dataset {self.name!r}: {len(self.names)} names for {len(x)} samples"
            )

    def __len__(self) -> int:
        return len(self.x)

    def __repr__(self) -> str:
        labels = "no labels" if self.y is None else f"{len(np.unique(self.y))} classes"
        return f"Dataset({self.name!r}, n={len(self)}, sample_shape={self.sample_shape}, {labels})"

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one sample: ``(C, H, W)`` or ``(D,)``."""
        return tuple(self.x.shape[1:])

    @property
    def is_image(self) -> bool:
        """True for channel-first image data ``(N, C, H, W)``."""
        return self.x.ndim == 4

    def flat(self) -> np.ndarray:
        """Return ``x`` as ``(N, prod(sample_shape))``, a view (no copy)."""
        return self.x.reshape(len(self.x), -1)

    def subset(self, n_or_indices: int | Sequence[int] | np.ndarray) -> Dataset:
        """Return the first ``n`` samples (all of them if fewer), or the samples at ``indices``."""
        if isinstance(n_or_indices, (int, np.integer)):
            if n_or_indices < 0:
                raise ConfigError(f"subset: n must be >= 0, got {n_or_indices}")
            index: np.ndarray | slice = slice(0, int(n_or_indices))
        else:
            index = np.asarray(n_or_indices)
            if index.ndim != 1 or not (index.size == 0 or np.issubdtype(index.dtype, np.integer)):
                raise ConfigError(
                    f"subset: indices must be a 1-D sequence of integers, got {index.dtype} {index.shape}"
                )
            if index.size and (index.max() >= len(self) or index.min() < -len(self)):
                raise ConfigError(
                    f"subset: indices must lie in [0, {len(self)}), got range "
                    f"[{index.min()}, {index.max()}]"
                )
            index = index.astype(np.intp, copy=False)
        names = None if self.names is None else list(np.asarray(self.names, dtype=object)[index])
        return replace(
            self,
            x=self.x[index],
            y=None if self.y is None else self.y[index],
            names=names,
        )
