"""Reader for the IDX format of the original MNIST / Fashion-MNIST files."""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

from deepae.errors import DataError

# IDX type code (third magic byte) -> big-endian dtype of the payload
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (raw or gzip-compressed) into a native-endian NumPy array.

    The header is 4 magic bytes ``0, 0, type code, ndim`` followed by ``ndim`` big-endian uint32
    sizes; the payload must hold exactly ``prod(sizes)`` items. Any mismatch raises ``DataError``.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(
            f"{path}: not an IDX file (magic bytes {raw[:4].hex() or 'missing'}, expected 0000TTNN)"
        )
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        known = ", ".join(f"0x{c:02x}" for c in _IDX_DTYPES)
        raise DataError(f"{path}: unknown IDX type code 0x{code:02x} (expected one of {known})")
    if ndim == 0:
        raise DataError(f"{path}: IDX header says 0 dimensions")
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise DataError(f"{path}: truncated IDX header ({len(raw)} bytes, need {header_len})")
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[code]
    expected = math.prod(shape) * dtype.itemsize  # Python ints: a product of four uint32 sizes overflows int64
    actual = len(raw) - header_len
    if actual != expected:
        what = "truncated" if actual < expected else "has trailing bytes"
        raise DataError(
            f"{path}: IDX data {what}: shape {shape} of {dtype.name} needs {expected} bytes "
            f"after the header, found {actual}"
        )
    try:
        data = np.frombuffer(raw, dtype=dtype, offset=header_len).reshape(shape)
    except ValueError as err:  # an empty array whose other sizes multiply past what NumPy can index
        raise DataError(f"{path}: IDX shape {shape} cannot be represented ({err})") from None
    # native byte order, and a writable copy instead of a view on the immutable bytes
    return data.astype(dtype.newbyteorder("="))


def _read_bytes(path: Path) -> bytes:
    """Return the file's bytes, decompressed when it starts with the gzip magic (whatever its name)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror or err})") from None
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"{path}: corrupt or truncated gzip data ({err})") from None
