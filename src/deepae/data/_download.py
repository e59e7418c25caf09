"""Checksummed, atomic downloads into the deepae cache."""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import tempfile
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from deepae.errors import ConfigError, DownloadError

CACHE_ENV_VAR = "DEEPAE_CACHE_DIR"
_CHUNK = 1 << 20
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")

log = logging.getLogger(__name__)


def cache_dir() -> Path:
    """Return the download cache: ``$DEEPAE_CACHE_DIR`` if set, else ``~/.cache/deepae``."""
    return Path(os.environ.get(CACHE_ENV_VAR) or "~/.cache/deepae").expanduser()


def sha256sum(path: str | os.PathLike) -> str:
    """Return the hex SHA-256 digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(
    urls: str | Sequence[str],
    dest: str | os.PathLike,
    sha256: str,
    timeout: float = 10,
) -> Path:
    """Download ``dest`` from the first mirror that works and verify its SHA-256; return its path.

    A file already at ``dest`` with the right digest is kept as is. The data is streamed to a temporary
    file beside ``dest`` and renamed into place only once its digest matches, so an interrupted or
    corrupt download never leaves a partial file under the final name.
    """
    urls = [urls] if isinstance(urls, str) else list(urls)
    sha256 = sha256.lower()
    if not urls:
        raise ConfigError("download: urls must name at least one mirror, got none")
    if not _SHA256_RE.match(sha256):
        raise ConfigError(f"download: sha256 must be 64 hex digits, got {sha256!r}")
    if not timeout > 0:
        raise ConfigError(f"download: timeout must be > 0 seconds, got {timeout}")
    dest = Path(dest)
    stale = ""
    if dest.is_file():
        actual = sha256sum(dest)
        if actual == sha256:
            return dest
        stale = f"; the existing {dest} has sha256 {actual}, expected {sha256}"
        log.warning("%s fails its checksum, downloading it again", dest)

    dest.parent.mkdir(parents=True, exist_ok=True)
    last_error = ""
    mismatch: str | None = None
    for url in urls:
        try:
            actual = _fetch(url, dest, sha256, timeout)
        except (OSError, ValueError, http.client.HTTPException) as err:
            # URLError, HTTPError and timeouts are OSErrors, a malformed URL is a ValueError,
            # a connection cut mid-body an HTTPException: all mean "try the next mirror"
            last_error = f"{url}: {err}"
            continue
        if actual == sha256:
            return dest
        # a corrupt mirror must not block a good one, so try the next before giving up
        mismatch = (
            f"checksum mismatch for {dest.name} downloaded from {url}: "
            f"expected sha256 {sha256}, got {actual} (file discarded)"
        )
    if mismatch is not None:
        raise DownloadError(mismatch)
    raise DownloadError(
        f"could not download {dest.name} (probably offline; last error: {last_error}{stale}); "
        f"pass data_dir= (--data-dir) a folder holding the original files, or copy them into "
        f"{dest.parent} (set {CACHE_ENV_VAR} to use another cache folder)"
    )


def _fetch(url: str, dest: Path, sha256: str, timeout: float) -> str:
    """Stream ``url`` to a temp file beside ``dest``; move it into place if its digest is ``sha256``.

    Returns the digest of what arrived. The temp file never outlives this call, whatever happens.
    """
    log.info("downloading %s from %s", dest.name, url)
    digest = hashlib.sha256()
    # same folder as dest, so os.replace is an atomic rename, not a cross-device copy
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() == sha256:
            os.replace(tmp, dest)
        return digest.hexdigest()
    finally:
        tmp.unlink(missing_ok=True)
