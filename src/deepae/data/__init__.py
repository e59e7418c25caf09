"""Data in and out of deepae: built-in data sets, image folders, arrays, CSV files and DataFrames.

Every loader returns a ``Dataset``: float32 ``x`` as ``(N, C, H, W)`` images in [0, 1] or ``(N, D)``
tabular rows in their own units, optional int64 labels ``y``, and where the data came from.

>>> ds = load("mnist-embedded", split="test")   # offline: 1,000 real MNIST digits
>>> ds.x.shape, ds.y.shape
((1000, 1, 28, 28), (1000,))
"""

from deepae.data._arrays import ARRAY_SUFFIXES, load_array
from deepae.data._builtin import SPLITS, has_idx_files, list_datasets, load_dataset, resolve_name
from deepae.data._dataset import Dataset
from deepae.data._download import CACHE_ENV_VAR, cache_dir, download, sha256sum
from deepae.data._idx import read_idx
from deepae.data._images import IMAGE_SUFFIXES, find_images, is_image_file, load_images, save_images
from deepae.data._lazy import ArrayFile, ImageFiles
from deepae.data._load import load
from deepae.data._paired import PairedImageDataset
from deepae.data._photo import ImageInfo, array_to_image, encode_image, fit_alpha, image_to_array, read_image
from deepae.data._reuters import TextCorpus, load_reuters

__all__ = [
    "ARRAY_SUFFIXES",
    "ArrayFile",
    "ImageFiles",
    "has_idx_files",
    "resolve_name",
    "CACHE_ENV_VAR",
    "SPLITS",
    "Dataset",
    "IMAGE_SUFFIXES",
    "ImageInfo",
    "is_image_file",
    "PairedImageDataset",
    "TextCorpus",
    "array_to_image",
    "encode_image",
    "fit_alpha",
    "find_images",
    "image_to_array",
    "read_image",
    "cache_dir",
    "download",
    "list_datasets",
    "load",
    "load_array",
    "load_dataset",
    "load_images",
    "load_reuters",
    "read_idx",
    "save_images",
    "sha256sum",
]
