"""Image files and folders in and out: PNG/JPEG (and other Pillow formats) <-> (N, C, H, W) arrays."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from deepae.data._dataset import Dataset
from deepae.errors import ConfigError, DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
# Pillow modes without colour; everything else ("RGB", "RGBA", "P", "CMYK", ...) counts as colour
_GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}
_MODES = ("L", "RGB")


def is_image_file(path: Path) -> bool:
    """True for a file whose suffix is a supported image format (hidden files excluded)."""
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def load_images(
    path: str | os.PathLike,
    mode: str | None = None,
    size: int | tuple[int, int] | None = None,
) -> Dataset:
    """Load an image file, or every image under a folder (recursively), as ``(N, C, H, W)`` in [0, 1].

    If every image lies in a first-level subfolder, the subfolders are classes: ``y`` is the index of
    the subfolder in sorted order and ``class_names`` their names. ``mode`` is "L" (C=1), "RGB" (C=3)
    or None (RGB if any image has colour, else L). ``size=(H, W)`` resizes every image; without it
    all images must share one size. ``names`` holds each file's path relative to the folder.
    """
    path = Path(path)
    if mode is not None and mode not in _MODES:
        raise ConfigError(f"image mode must be one of {', '.join(_MODES)} or None; got {mode!r}")
    size = _check_size(size)
    files, root = _find_images(path)
    if mode is None:
        mode = "RGB" if any(_has_colour(f) for f in files) else "L"
    pixels = _read_all(files, mode, size)  # (N, H, W, C) uint8
    x = pixels.transpose(0, 3, 1, 2).astype(np.float32)
    x /= 255
    names = [f.relative_to(root).as_posix() for f in files]
    y, class_names = _folder_labels(names) if path.is_dir() else (None, None)
    return Dataset(
        x, y, name=path.stem if path.is_file() else path.resolve().name,
        source=str(path), class_names=class_names, names=names,
    )


def save_images(
    x: np.ndarray, folder: str | os.PathLike, names: Sequence[str] | None = None
) -> list[Path]:
    """Write ``(N, C, H, W)`` (C = 1 or 3) or ``(N, H, W)`` values in [0, 1] as 8-bit images.

    Values are clipped to [0, 1] and rounded. ``names`` are file names relative to ``folder``
    (".png" added when they have no suffix); the default is ``0000.png, 0001.png, ...``.
    Returns the paths written.
    """
    pixels = _to_uint8(x)  # (N, H, W) or (N, H, W, 3)
    n = len(pixels)
    if names is None:
        width = max(4, len(str(n - 1)))
        names = [f"{i:0{width}d}.png" for i in range(n)]
    elif len(names) != n:
        raise DataError(f"save_images: {len(names)} names for {n} images")
    folder = Path(folder)
    paths = [folder / (name if Path(name).suffix else f"{name}.png") for name in names]
    for image, path in zip(pixels, paths):
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(path)
    return paths


def _to_uint8(x) -> np.ndarray:
    """(N, C, H, W) or (N, H, W) floats in [0, 1] -> (N, H, W[, 3]) uint8 that Pillow can save."""
    if hasattr(x, "detach"):  # a torch tensor, without importing torch here
        x = x.detach().cpu().numpy()
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 4 and x.shape[1] in (1, 3):
        x = x.transpose(0, 2, 3, 1)
        x = x[..., 0] if x.shape[-1] == 1 else x
    elif x.ndim != 3:
        raise DataError(
            f"save_images: expected (N, C, H, W) with C = 1 or 3, or (N, H, W); got shape {x.shape}"
        )
    if not np.isfinite(x).all():
        raise DataError("save_images: images contain NaN or inf")
    return np.rint(np.clip(x, 0, 1) * 255).astype(np.uint8)


def _check_size(size) -> tuple[int, int] | None:
    """Normalize ``size`` to ``(H, W)``: an int means a square."""
    if size is None:
        return None
    pair = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
    if len(pair) != 2 or not all(isinstance(s, (int, np.integer)) and s > 0 for s in pair):
        raise ConfigError(f"image size must be a positive int or (height, width); got {size!r}")
    return int(pair[0]), int(pair[1])


def find_images(path: str | os.PathLike) -> list[Path]:
    """The image file at ``path``, or every image under the folder ``path`` (recursively), sorted.

    DataError for a missing path, a file that is not an image, or a folder with no images.
    """
    return _find_images(Path(path))[0]


def _find_images(path: Path) -> tuple[list[Path], Path]:
    """Return the sorted image files at ``path`` and the folder their names are relative to."""
    if path.is_file():
        if not is_image_file(path):
            raise DataError(
                f"{path}: not an image file (expected one of {', '.join(IMAGE_SUFFIXES)})"
            )
        return [path], path.parent
    if not path.is_dir():
        raise DataError(f"{path}: no such image file or folder")
    files = sorted(p for p in path.rglob("*") if p.is_file() and is_image_file(p))
    if not files:
        raise DataError(f"{path}: folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return files, path


def _open(path: Path) -> Image.Image:
    """Open an image lazily (header only); DataError naming the file if Pillow cannot read it."""
    try:
        return Image.open(path)
    except (UnidentifiedImageError, OSError) as err:
        raise DataError(f"{path}: cannot read image ({err})") from None
    except Image.DecompressionBombError as err:  # more pixels than Pillow's limit: refused before decoding
        raise DataError(f"{path}: refused, too many pixels ({err})") from None


def _has_colour(path: Path) -> bool:
    with _open(path) as image:
        return image.mode not in _GRAY_MODES


def _read_all(files: list[Path], mode: str, size: tuple[int, int] | None) -> np.ndarray:
    """Decode every file in ``mode``, resized to ``size`` or checked to share the first one's size."""
    arrays: list[np.ndarray] = []
    for path in files:
        array = _read_one(path, mode, size)
        if arrays and array.shape != arrays[0].shape:
            (h0, w0), (h, w) = arrays[0].shape[:2], array.shape[:2]
            raise DataError(
                f"images differ in size: {files[0]} is {h0}x{w0} (HxW) but {path} is {h}x{w}; resize them to one "
                f"size first (in Python, load_images(folder, size=(H, W)) resizes them as it reads)"
            )
        arrays.append(array)
    return np.stack(arrays)


def _read_one(path: Path, mode: str, size: tuple[int, int] | None) -> np.ndarray:
    """Decode one image as (H, W, C) uint8 in ``mode``, upright (EXIF), optionally resized."""
    with _open(path) as image:
        try:
            image = ImageOps.exif_transpose(image).convert(mode)
        except OSError as err:  # truncated or corrupt pixel data shows up only on decode
            raise DataError(f"{path}: cannot decode image ({err})") from None
    if size is not None and image.size != (size[1], size[0]):
        # Pillow sizes are (W, H); LANCZOS keeps edges sharp when shrinking, is smooth when enlarging
        image = image.resize((size[1], size[0]), Image.Resampling.LANCZOS)
    array = np.asarray(image, dtype=np.uint8)
    return array[..., None] if array.ndim == 2 else array


def _folder_labels(names: list[str]) -> tuple[np.ndarray | None, list[str] | None]:
    """Labels from first-level subfolders when every image lies in one, else no labels."""
    parts = [name.split("/") for name in names]
    if any(len(p) < 2 for p in parts):
        return None, None
    class_names = sorted({p[0] for p in parts})
    index = {c: i for i, c in enumerate(class_names)}
    return np.array([index[p[0]] for p in parts], dtype=np.int64), class_names
