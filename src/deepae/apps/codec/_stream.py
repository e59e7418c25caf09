"""Compressing images into ``.dae`` files and back: bytes in memory, or streamed image by image."""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ..._io import atomic_writer
from ...errors import CheckpointError
from ._coding import MODES, CodecError, as_image, decode_image, encode_image
from ._format import DIGEST_BYTES, ChunkWriter, Header, Record, _Reader, header_bytes, read_chunks, read_header
from ._store import SHIPPED, Codec, load_codec

DEFAULT_QUALITY = 4


@dataclass(frozen=True)
class DecodedImage:
    name: str
    pixels: np.ndarray  # (H, W) uint8 for L, (H, W, 3) for RGB


def _check_quality(codec: Codec, quality: int) -> int:
    if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)) or not 1 <= quality <= codec.config.qualities:
        raise CodecError(f"quality={quality!r}; expected an integer from 1 to {codec.config.qualities}")
    return int(quality)


class DaeWriter:
    """Write images one by one to a binary stream as a ``.dae`` file; ``close()`` (or ``with``) ends it.

    >>> with open("digits.dae", "wb") as fh, DaeWriter(fh, model="digits", quality=4) as w:
    ...     for digit in digits:
    ...         w.add(digit)
    """

    def __init__(self, stream: BinaryIO, model: str | os.PathLike | Codec | None = None, quality: int = DEFAULT_QUALITY):
        self.codec = load_codec(model)
        self.quality = _check_quality(self.codec, quality)
        self._out = ChunkWriter(stream, header_bytes(self.codec.name, bytes.fromhex(self.codec.digest), self.quality))
        self.closed = False

    def add(self, image: Any, name: str = "") -> int:
        """Code one image (gray (H, W) or RGB (H, W, 3)); returns its payload's size in bytes."""
        if self.closed:
            raise CodecError("this DaeWriter is closed")
        pixels = as_image(image)
        payload = encode_image(self.codec, pixels, self.quality)
        mode = "L" if pixels.shape[2] == 1 else "RGB"
        self._out.add(Record(str(name), mode, pixels.shape[1], pixels.shape[0], payload))
        return len(payload)

    @property
    def count(self) -> int:
        return self._out.count + len(self._out.pending)

    def close(self) -> None:
        if not self.closed:
            self._out.close()
            self.closed = True

    def __enter__(self) -> "DaeWriter":
        return self

    def __exit__(self, exc_type, *_) -> None:
        if exc_type is None:
            self.close()


def _codec_for(header: Header, model: str | os.PathLike | Codec | None) -> Codec:
    """The model that made the file: ``model`` if given (checked), else the shipped model it names."""
    made_by = f"'{header.model}' (digest {header.digest.hex()})"
    if model is None:
        if header.model not in SHIPPED:
            raise CodecError(f"the file was made by the codec model {made_by}, which is not shipped with deepae; "
                             "pass that model's folder (--model)")
        try:
            codec = load_codec(header.model)
        except CheckpointError as exc:
            raise CodecError(f"the file was made by the codec model {made_by}: {exc}") from None
    else:
        codec = load_codec(model)
    if codec.digest[: 2 * DIGEST_BYTES] != header.digest.hex():
        raise CodecError(f"the file was made by the codec model {made_by}, not by '{codec.name}' "
                         f"(digest {codec.digest[: 2 * DIGEST_BYTES]}); decode it with the model that made it")
    if not 1 <= header.quality <= codec.config.qualities:
        raise CodecError(f"the header's quality {header.quality} is outside 1..{codec.config.qualities}: the file is damaged")
    return codec


def read_dae(stream: BinaryIO | bytes, model: str | os.PathLike | Codec | None = None) -> Iterator[DecodedImage]:
    """Decode a ``.dae`` stream image by image (one chunk in memory at a time).

    Every image yielded passed its chunk's checksum; any problem raises ``CodecError``.
    """
    reader = _Reader(io.BytesIO(stream) if isinstance(stream, (bytes, bytearray, memoryview)) else stream)
    header = read_header(reader)
    codec = _codec_for(header, model)
    for records in read_chunks(reader, header.version):
        for rec in records:
            if rec.width * rec.height > (1 << 26):
                raise CodecError(f"image {rec.name!r} claims {rec.width}x{rec.height} pixels, more than this reader decodes")
            yield DecodedImage(rec.name, decode_image(codec, rec.payload, rec.height, rec.width, rec.mode, header.quality))


def compress(images: Iterable[Any], model: str | os.PathLike | Codec | None = None, quality: int = DEFAULT_QUALITY,
             names: Iterable[str] | None = None) -> bytes:
    """Images (gray (H, W) or RGB (H, W, 3) arrays; uint8 or floats in [0, 1]) -> the bytes of a ``.dae`` file.

    A list of images, or a stack such as deepae's (N, 1, H, W) digits; one (H, W) array is one image.

    ``model``: "photo" (default), "digits" or a codec model folder; ``quality``: 1 (smallest) to 8 (best).
    """
    if isinstance(images, np.ndarray) and images.ndim == 2:  # one gray image; a stack (N, ...) is iterated
        images = [images]
    buf = io.BytesIO()
    names = iter(names) if names is not None else None
    with DaeWriter(buf, model, quality) as writer:
        for image in images:
            writer.add(image, next(names, "") if names is not None else "")
    return buf.getvalue()


def decompress(data: bytes | BinaryIO, model: str | os.PathLike | Codec | None = None) -> list[np.ndarray]:
    """The bytes (or stream) of a ``.dae`` file -> its images as uint8 arrays, in order, original sizes."""
    return [img.pixels for img in read_dae(data, model)]


def info(stream: BinaryIO | bytes) -> dict[str, Any]:
    """What a ``.dae`` file holds, checksums verified, nothing decoded: model, quality, images, bytes, bpp."""
    raw = io.BytesIO(stream) if isinstance(stream, (bytes, bytearray)) else stream
    reader = _Reader(raw)
    header = read_header(reader)
    images, pixels, payload = [], 0, 0
    for records in read_chunks(reader, header.version):
        for rec in records:
            images.append({"name": rec.name, "mode": rec.mode, "width": rec.width, "height": rec.height,
                           "payload_bytes": len(rec.payload)})
            pixels += rec.width * rec.height
            payload += len(rec.payload)
    total = reader.offset
    return {"format_version": header.version, "model": header.model, "model_digest": header.digest.hex(),
            "quality": header.quality, "images": len(images), "pixels": pixels, "bytes": total,
            "payload_bytes": payload, "bits_per_pixel": 8 * total / pixels if pixels else None, "list": images}


def write_dae(path: str | os.PathLike, images: Iterable[tuple[str, Any]], model: str | os.PathLike | Codec | None = None,
              quality: int = DEFAULT_QUALITY) -> dict[str, int]:
    """Stream (name, image) pairs into the file ``path`` atomically (temporary file, then rename)."""
    path = Path(path)
    with atomic_writer(path) as fh, DaeWriter(fh, model, quality) as writer:
        for name, image in images:
            writer.add(image, name)
    return {"images": writer.count, "bytes": path.stat().st_size}


__all__ = ["MODES", "DaeWriter", "DecodedImage", "compress", "decompress", "info", "read_dae", "write_dae"]
