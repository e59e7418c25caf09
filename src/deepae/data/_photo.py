"""One photo in and out, keeping what a user expects back: bit depth, alpha, grayscale, orientation.

``read_image`` gives float32 pixels (H, W, C) in [0, 1] with C = 1 (gray) or 3 (colour) and a
``ImageInfo`` that ``write_image`` uses to write the result the way the input came: 16-bit stays
16-bit (PNG), alpha is put back, EXIF orientation is applied on reading (the pixels are upright).

Pillow reads a 16-bit colour PNG (or gray with alpha) as 8 bits per channel, and cannot write one:
those are decoded and written with pypng instead, so that their precision survives the round trip.
"""

from __future__ import annotations

import io
import os
import warnings
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import png
from PIL import Image, ImageOps, UnidentifiedImageError

from deepae.errors import ConfigError, DataError

# Pillow refuses images above this many pixels as decompression bombs; deepae keeps Pillow's
# default limit (about 179 million pixels, a 15,000 x 12,000 photo) and turns its error into ours.
MAX_PIXELS = Image.MAX_IMAGE_PIXELS or 178_956_970
_SIXTEEN_BIT = {"I;16", "I;16B", "I;16L", "I"}
_GRAY = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}


@dataclass
class ImageInfo:
    """How an image was stored: what ``write_image`` needs to give the result back alike."""

    source: str
    bits: int  # 8 or 16 per channel
    gray: bool
    alpha: np.ndarray | None  # (H, W) in [0, 1], at the input's size
    format: str | None  # "PNG", "JPEG", ...


def read_image(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> tuple[np.ndarray, ImageInfo]:
    """Decode one image file: ((H, W, C) float32 in [0, 1], ImageInfo). DataError names the file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such image file" if not path.exists() else f"{path}: not a file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file (0 bytes), not an image")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as image:
                w, h = image.size
                if w * h > max_pixels:
                    raise DataError(f"{path}: {w}x{h} pixels is above the limit of {max_pixels:,} (a decompression bomb?)")
                fmt = image.format
                if fmt == "PNG" and _deep_colour_png(path):
                    return _read_png16(path, image.getexif().get(_ORIENTATION, 1))
                image.load()
                image = ImageOps.exif_transpose(image)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise DataError(f"{path}: too many pixels for the limit of {max_pixels:,} (a decompression bomb?)") from None
        except UnidentifiedImageError:
            raise DataError(f"{path}: not an image Pillow can read") from None
        except OSError as err:  # truncated or corrupt pixel data shows up on load
            raise DataError(f"{path}: cannot decode image ({err})") from None
    return image_to_array(image, str(path), fmt)


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_ORIENTATION = 0x0112  # the EXIF tag


def _deep_colour_png(path: Path) -> bool:
    """Whether a PNG holds 16-bit samples in a colour type Pillow narrows to 8 bits (RGB, RGBA, gray + alpha)."""
    with path.open("rb") as f:
        head = f.read(26)
    # signature, IHDR length and type, width, height, then bit depth (byte 24) and colour type (byte 25)
    return len(head) == 26 and head.startswith(_PNG_SIGNATURE) and head[24] == 16 and head[25] in (2, 4, 6)


def _read_png16(path: Path, orientation: int) -> tuple[np.ndarray, ImageInfo]:
    """A 16-bit RGB(A) or gray + alpha PNG, decoded by pypng at full precision and turned upright."""
    try:
        width, height, rows, meta = png.Reader(filename=str(path)).asDirect()
        samples = np.vstack([np.asarray(row, dtype=np.uint16) for row in rows])
    except (png.Error, zlib.error, EOFError, ValueError) as err:
        raise DataError(f"{path}: cannot decode image ({err})") from None
    planes = meta["planes"]
    samples = samples.reshape(height, width, planes)
    if orientation != 1:  # move the pixels as exif_transpose moves an image of their indices
        index = Image.fromarray(np.arange(height * width, dtype=np.int32).reshape(height, width))
        index.getexif()[_ORIENTATION] = orientation
        order = np.asarray(ImageOps.exif_transpose(index))
        samples = samples.reshape(height * width, planes)[order]
    pixels = samples.astype(np.float32) / (2 ** meta["bitdepth"] - 1)  # an sBIT chunk can make pypng give fewer bits
    alpha = pixels[..., -1] if meta["alpha"] else None
    colour = pixels[..., : planes - int(meta["alpha"])]
    return np.ascontiguousarray(colour), ImageInfo(str(path), 16, colour.shape[2] == 1, alpha, "PNG")


def fit_alpha(alpha: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """An alpha plane (H, W) in [0, 1] at the size ``shape[:2]`` of a result (bicubic, an upscale's), kept in [0, 1]."""
    height, width = shape[:2]
    if alpha.shape == (height, width):
        return alpha
    resized = Image.fromarray(np.asarray(alpha, dtype=np.float32)).resize((width, height), Image.Resampling.BICUBIC)
    return np.clip(np.asarray(resized), 0, 1)  # bicubic overshoots at a hard edge of transparency


def _encode_png16(pixels: np.ndarray, info: ImageInfo) -> bytes:
    """(H, W, C) floats in [0, 1] as a 16-bit PNG, with the input's alpha (resized to fit) as a 16-bit channel."""
    planes = [pixels]
    if info.alpha is not None:
        planes.append(fit_alpha(info.alpha, pixels.shape)[..., None])
    samples = np.rint(np.concatenate(planes, 2) * 65535).astype(np.uint16)
    height, width, channels = samples.shape
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[channels]
    buf = io.BytesIO()
    png.from_array(samples.reshape(height, width * channels), f"{mode};16").write(buf)
    return buf.getvalue()


def image_to_array(image: Image.Image, source: str = "<image>", fmt: str | None = None) -> tuple[np.ndarray, ImageInfo]:
    """A PIL image -> ((H, W, C) float32 in [0, 1], ImageInfo); 16-bit gray keeps its precision."""
    alpha = None
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        alpha = np.asarray(rgba.getchannel("A"), dtype=np.float32) / 255
        image = rgba.convert("RGB") if image.mode not in ("LA",) else image.convert("L")
    gray = image.mode in _GRAY
    if image.mode in _SIXTEEN_BIT:
        pixels = np.asarray(image, dtype=np.float32)
        bits = 16 if pixels.max(initial=0) > 255 or image.mode != "I" else 8
        pixels = pixels / (65535.0 if bits == 16 else 255.0)
    elif image.mode == "F":
        pixels, bits = np.asarray(image, dtype=np.float32), 16
    else:
        pixels = np.asarray(image.convert("L" if gray else "RGB"), dtype=np.float32) / 255
        bits = 8
    pixels = np.clip(pixels, 0, 1)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    return np.ascontiguousarray(pixels), ImageInfo(source, bits, gray, alpha, fmt)


def _checked(pixels: np.ndarray) -> np.ndarray:
    """(H, W) or (H, W, C) floats -> (H, W, C) float32 clipped to [0, 1]; DataError for another shape or NaN/inf."""
    pixels = np.asarray(pixels, dtype=np.float32)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if pixels.ndim != 3 or pixels.shape[2] not in (1, 3):
        raise DataError(f"expected (H, W, 1) or (H, W, 3) pixels, got shape {list(pixels.shape)}")
    if not np.isfinite(pixels).all():
        raise DataError("the image holds NaN or inf values")
    return np.clip(pixels, 0, 1)


def array_to_image(pixels: np.ndarray, info: ImageInfo | None = None) -> Image.Image:
    """(H, W, C) floats in [0, 1] -> a PIL image; with ``info``: its bit depth and alpha (resized to fit)."""
    pixels = _checked(pixels)
    if info is not None and info.bits == 16 and pixels.shape[2] == 1 and info.alpha is None:  # Pillow has no 16-bit LA
        image = Image.fromarray(np.rint(pixels[..., 0] * 65535).astype(np.uint16))  # mode I;16
    else:
        eight = np.rint(pixels * 255).astype(np.uint8)
        image = Image.fromarray(eight[..., 0] if eight.shape[2] == 1 else eight)
    if info is not None and info.alpha is not None:
        alpha = Image.fromarray(np.rint(fit_alpha(info.alpha, pixels.shape) * 255).astype(np.uint8))
        image = image.convert("LA" if image.mode == "L" else "RGBA") if image.mode in ("L", "RGB") else image.convert("RGBA")
        image.putalpha(alpha)
    return image


def encode_image(pixels: np.ndarray, info: ImageInfo | None, suffix: str) -> bytes:
    """The bytes of ``pixels`` saved in the format ``suffix`` names (".png", ".jpg", ".webp", ".tif")."""
    formats = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF", ".bmp": "BMP"}
    fmt = formats.get(suffix.lower())
    if fmt is None:
        raise ConfigError(f"output suffix {suffix or '(none)'!r}; expected one of {', '.join(formats)}")
    if fmt == "PNG" and info is not None and info.bits == 16:
        return _encode_png16(_checked(pixels), info)
    if fmt not in ("PNG", "TIFF") and info is not None and info.bits == 16:
        info = replace(info, bits=8)  # JPEG, WebP and BMP hold 8 bits: Pillow would clip 16-bit samples at 255
    image = array_to_image(pixels, info)
    if fmt in ("JPEG", "BMP") and image.mode not in ("L", "RGB"):
        image = image.convert("RGB" if image.mode == "RGBA" else "L")  # drops alpha (16-bit inputs are 8-bit here)
    buf = io.BytesIO()
    image.save(buf, format=fmt, **({"quality": 95} if fmt in ("JPEG", "WEBP") else {}))
    return buf.getvalue()
