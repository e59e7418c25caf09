"""(degraded input, clean target) pairs of random crops from image files, for restoration models."""

from __future__ import annotations

import math
import os
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps

from deepae.data._images import _find_images, _open
from deepae.degrade import degrade, get_degradation
from deepae.errors import ConfigError, DataError

_MODES = {"L": 1, "RGB": 3}
_SIXTEEN_BIT = {"I;16", "I;16B", "I;16L", "I;16N", "I"}  # Pillow's modes for 16-bit PNG/TIFF samples
_ALPHA = {"RGBA", "LA", "PA", "La", "RGBa"}

# one choice of degradation: (name, level or (low, high) or None for the default, options)
Choice = tuple[str, Any, dict[str, Any]]


class PairedImageDataset(torch.utils.data.Dataset):
    """Random crops of image files as ``(degraded_input, clean_target)`` float32 ``(C, H, W)`` in [0, 1].

    ``paths`` is an image file or folder (searched recursively for png/jpg/jpeg/webp/bmp/tif), or a
    list of them. Item ``i`` reads file ``i % len(files)`` lazily (nothing is kept in memory or open
    between items), turns it upright (EXIF), converts it to ``mode`` ("RGB" or "L"), takes a random
    ``crop_size`` square crop, flips it horizontally half the time, and degrades a copy.

    ``degradation`` is a registered name (see :func:`deepae.degrade.list_degradations`) at its default
    level, or a list of choices, one picked at random per item; a choice is a name or a tuple
    ``(name, level)`` / ``(name, level, options)`` where ``level`` is a number, None (the default) or a
    ``(low, high)`` range sampled uniformly (integers for integer levels such as JPEG quality).
    For ``downscale`` the input is ``crop_size // factor`` on a side: ``crop_size`` must be a multiple
    of the factor. Every choice must give inputs of one shape, so that items batch together.

    Images smaller than ``crop_size`` are refused with a DataError naming the file, rather than
    padded: padding would teach a restoration model borders that real images do not have.
    16-bit images are scaled from [0, 65535]; transparent ones are composited over white.

    The randomness of item ``i`` in epoch ``e`` comes from a generator seeded by ``(seed, e, i)``, so
    items are the same whatever the number of DataLoader workers or the order they are read in;
    call ``set_epoch(e)`` before each epoch for fresh crops (with ``persistent_workers=False``, the
    default, so that workers see the new epoch). ``samples_per_epoch`` defaults to the number of files.

    ``cache_mb`` keeps up to that many megabytes of decoded images (float32) in memory, least recently
    used out first, so that an image is decoded once rather than for every crop taken from it. Each
    process reading items keeps its own cache: a DataLoader worker that is not persistent starts
    empty each epoch. 0 (the default) keeps nothing.
    """

    def __init__(
        self,
        paths: str | os.PathLike | Sequence[str | os.PathLike],
        crop_size: int,
        degradation: str | Sequence[str | tuple],
        mode: str = "RGB",
        samples_per_epoch: int | None = None,
        seed: int = 0,
        cache_mb: float = 0,
    ) -> None:
        if mode not in _MODES:
            raise ConfigError(f"mode={mode!r}; expected one of {list(_MODES)}")
        if isinstance(crop_size, bool) or not isinstance(crop_size, int) or crop_size < 1:
            raise ConfigError(f"crop_size={crop_size!r}; expected a positive integer")
        if samples_per_epoch is not None and (
            isinstance(samples_per_epoch, bool) or not isinstance(samples_per_epoch, int) or samples_per_epoch < 1
        ):
            raise ConfigError(f"samples_per_epoch={samples_per_epoch!r}; expected a positive integer or None")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ConfigError(f"seed={seed!r}; expected an integer >= 0")
        if isinstance(cache_mb, bool) or not isinstance(cache_mb, (int, float)) or not 0 <= cache_mb < math.inf:
            raise ConfigError(f"cache_mb={cache_mb!r}; expected a number of megabytes >= 0")
        single = isinstance(paths, (str, os.PathLike))
        self.files = [f for p in ([paths] if single else paths) for f in _find_images(Path(p))[0]]
        if not self.files:
            raise DataError(f"paths={paths!r}: no image files or folders given")
        self.crop_size = crop_size
        self.mode = mode
        self.choices = _parse_choices(degradation)
        self.samples_per_epoch = samples_per_epoch or len(self.files)
        self.seed = seed
        self.epoch = 0
        self.input_shape = _check_shapes(self.choices, _MODES[mode], crop_size)
        self.cache_mb = cache_mb
        self._cache: OrderedDict[Path, np.ndarray] = OrderedDict()
        self._cached_bytes = 0

    def set_epoch(self, epoch: int) -> None:
        """Use the crops and degradations of ``epoch``."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.samples_per_epoch

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        generator = torch.Generator().manual_seed(_item_seed(self.seed, self.epoch, index))
        path = self.files[index % len(self.files)]
        image = self._image(path)  # (H, W, C) float32
        height, width = image.shape[:2]
        size = self.crop_size
        if height < size or width < size:
            raise DataError(f"{path}: image is {height}x{width} (HxW), smaller than crop_size={size}")
        top = int(torch.randint(height - size + 1, (1,), generator=generator))
        left = int(torch.randint(width - size + 1, (1,), generator=generator))
        target = torch.from_numpy(np.ascontiguousarray(image[top : top + size, left : left + size].transpose(2, 0, 1)))
        if torch.rand((), generator=generator) < 0.5:
            target = target.flip(-1)  # (C, H, W): mirror left-right
        name, level, options = self.choices[int(torch.randint(len(self.choices), (1,), generator=generator))]
        level = _sample_level(name, level, generator)
        return degrade(name, target, level, generator=generator, **options), target

    def _image(self, path: Path) -> np.ndarray:
        """The decoded image, from the cache when it holds it."""
        if path in self._cache:
            self._cache.move_to_end(path)
            return self._cache[path]
        image = _read(path, self.mode)
        budget = self.cache_mb * 2**20
        if image.nbytes <= budget:
            self._cache[path] = image
            self._cached_bytes += image.nbytes
            while self._cached_bytes > budget:
                self._cached_bytes -= self._cache.popitem(last=False)[1].nbytes
        return image

    def __repr__(self) -> str:
        return (
            f"PairedImageDataset({len(self.files)} files, crop_size={self.crop_size}, mode={self.mode!r}, "
            f"degradation={self.choices!r}, samples_per_epoch={self.samples_per_epoch}, seed={self.seed})"
        )


def _parse_choices(degradation: str | Sequence[str | tuple]) -> list[Choice]:
    """Normalize a name or a list of choices to ``[(name, level_or_range, options), ...]``, checked."""
    items = [degradation] if isinstance(degradation, str) else degradation
    if not isinstance(items, Sequence) or not items:
        raise ConfigError(f"degradation={degradation!r}; expected a name or a non-empty list of choices")
    choices = []
    for item in items:
        parts = (item,) if isinstance(item, str) else item
        if not isinstance(parts, (tuple, list)) or not 1 <= len(parts) <= 3 or not isinstance(parts[0], str):
            raise ConfigError(
                f"degradation choice {item!r}; expected a name or a tuple (name, level[, options]) "
                f"with level a number, None or (low, high)"
            )
        name, level, options = tuple(parts) + (None, {})[len(parts) - 1 :]
        spec = get_degradation(name)
        if not isinstance(options, dict):
            raise ConfigError(f"degradation {name!r} options={options!r}; expected a dict of keyword options")
        spec.check_options(options)
        ends = tuple(level) if isinstance(level, (tuple, list)) else (level,)
        if len(ends) not in (1, 2) or (len(ends) == 2 and None in ends):
            raise ConfigError(f"degradation {name!r} level={level!r}; expected a number, None or (low, high)")
        for end in ends:
            if end is not None:
                spec.check_level(end)
        if len(ends) == 2 and not ends[0] <= ends[1]:
            raise ConfigError(f"degradation {name!r} level range {level!r}; expected (low, high) with low <= high")
        choices.append((name, tuple(level) if isinstance(level, list) else level, dict(options)))
    return choices


def _check_shapes(choices: list[Choice], channels: int, crop_size: int) -> tuple[int, ...]:
    """The input shape every choice gives on a crop; ConfigError when choices disagree or the crop does not divide."""
    shapes = {}
    dummy = torch.full((channels, crop_size, crop_size), 0.5)
    for name, level, options in choices:
        spec = get_degradation(name)
        for end in level if isinstance(level, tuple) else (level,):
            end = spec.default if end is None else end
            if spec.shrinks and crop_size % end:
                raise ConfigError(f"crop_size={crop_size} is not a multiple of the {name} factor {end}")
            shapes[(name, end)] = tuple(degrade(name, dummy, end, torch.Generator().manual_seed(0), **options).shape)
    if len(set(shapes.values())) > 1:
        found = ", ".join(f"{n} at {lvl}: {s}" for (n, lvl), s in shapes.items())
        raise ConfigError(f"degradation choices give inputs of different shapes ({found}); they could not be batched")
    return next(iter(shapes.values()))


def _item_seed(seed: int, epoch: int, index: int) -> int:
    """A 63-bit seed mixing (seed, epoch, index), so neighbouring items get unrelated streams."""
    state = np.random.SeedSequence([seed, epoch, index]).generate_state(2, dtype=np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


def _sample_level(name: str, level: Any, generator: torch.Generator) -> Any:
    """A level drawn uniformly from a ``(low, high)`` range (integers for integer levels), else ``level``."""
    if not isinstance(level, tuple):
        return level
    low, high = level
    levels = get_degradation(name).levels
    if levels.integer or levels.choices:
        return int(torch.randint(math.ceil(low), math.floor(high) + 1, (1,), generator=generator))
    return low + (high - low) * float(torch.rand((), generator=generator, dtype=torch.float64))


def _read(path: Path, mode: str) -> np.ndarray:
    """Decode one image upright as (H, W, C) float32 in [0, 1], C = 1 for "L" and 3 for "RGB"."""
    with _open(path) as image:
        try:
            image = ImageOps.exif_transpose(image)
            if image.mode in _SIXTEEN_BIT:
                # convert("L") would clip 16-bit samples at 255: scale them instead
                array = np.asarray(image, dtype=np.float32)[..., None] / 65535
                return np.repeat(array, _MODES[mode], axis=-1).clip(0, 1)
            if image.mode in _ALPHA or "transparency" in image.info:
                # transparent pixels carry arbitrary colours: show them over white, as a viewer would
                rgba = image.convert("RGBA")
                image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
            array = np.asarray(image.convert(mode), dtype=np.float32)
        except OSError as err:  # truncated or corrupt pixel data shows up only on decode
            raise DataError(f"{path}: cannot decode image ({err})") from None
    array /= 255
    return array[..., None] if array.ndim == 2 else array
