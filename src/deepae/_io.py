"""Files written safely: atomic writes, JSON conversion, the versions a file was made with.

Checkpoints, run folders, codec and index files all write through here. Every file
goes to a temporary name in the target folder and is renamed into place, so a crash leaves the
old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """A binary file handle whose bytes appear at ``path`` only once the block ends without error.

    The bytes go to a temporary file in the same folder, synced, then ``os.replace``-d onto ``path``;
    an error (or a kill) leaves ``path`` as it was and removes the temporary file.
    """
    path = Path(path)
    if path.is_dir():  # else os.replace fails late, naming the temporary file
        raise IsADirectoryError(f"'{path}' is a folder, not a file; name a file to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
    # O_EXCL: never follow or reuse someone else's file; mode 0o666 lets the process umask decide the
    # final permissions, as for any ordinary file (no umask read or changed here).
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary file in the same folder and ``os.replace``."""
    with atomic_writer(path) as fh:
        fh.write(data)
    return Path(path)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """``obj`` as indented JSON (non-finite floats as null), written atomically."""
    text = json.dumps(jsonable(obj), indent=2, sort_keys=False, allow_nan=False)
    return atomic_write_bytes(path, (text + "\n").encode())


def jsonable(value: Any) -> Any:
    """``value`` with tuples as lists, numpy/torch scalars and arrays as numbers and lists, paths as
    strings, and non-finite floats as None (JSON has no infinity), recursively."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "tolist"):  # numpy / torch scalars and arrays
        return jsonable(value.tolist())
    raise TypeError(f"cannot store a {type(value).__name__} in JSON")


def versions() -> dict[str, str]:
    """The versions of deepae and the packages its results depend on."""
    import numpy
    import sklearn
    import torch

    from . import __version__

    return {
        "deepae": __version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "scikit-learn": sklearn.__version__,
        "python": platform.python_version(),
    }
