"""Property-based tests: any bytes given to a reader give a result or a deepae error, never another exception.

Covered: the IDX reader, the config-file parser (JSON and TOML), and checkpoint loading (config.json,
model.safetensors and the trainer state). Inputs are random bytes and damaged copies of valid files:
mutations reach the code behind the parsers, which random bytes rarely do. Values put into a valid
config are kept small so that a mutated layer size cannot ask for gigabytes of weights.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deepae import AutoEncoder
from deepae.data._idx import read_idx
from deepae.errors import CheckpointError, DeepAEError
from deepae.runs import read_config_file
from deepae.train import load_model, load_trainer_state

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def scratch():
    folder = Path(tempfile.mkdtemp(prefix="deepae-fuzz-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _raises_only_deepae_errors(fn, *args):
    """``fn(*args)``'s result, or None when it raised a DeepAEError; any other exception fails the test."""
    try:
        return fn(*args)
    except DeepAEError:
        return None


def _mutate(data: bytes, draw) -> bytes:
    """``data`` truncated, with bytes flipped, or with random bytes inserted."""
    kind = draw(st.sampled_from(["truncate", "flip", "insert"]))
    if kind == "truncate":
        return data[: draw(st.integers(0, max(len(data) - 1, 0)))]
    if kind == "flip":
        out = bytearray(data)
        for i in draw(st.lists(st.integers(0, len(data) - 1), min_size=1, max_size=4)):
            out[i] ^= draw(st.integers(1, 255))
        return bytes(out)
    at = draw(st.integers(0, len(data)))
    return data[:at] + draw(st.binary(min_size=1, max_size=16)) + data[at:]


# -- IDX --------------------------------------------------------------------------------------
def _idx(code: int, shape: tuple[int, ...], payload: bytes) -> bytes:
    return bytes([0, 0, code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape) + payload


@st.composite
def idx_bytes(draw):
    """Random bytes, IDX headers with random sizes and payloads, damaged valid files; some gzipped."""
    kind = draw(st.sampled_from(["random", "header", "valid-mutated"]))
    if kind == "random":
        data = draw(st.binary(max_size=64))
    elif kind == "header":
        code = draw(st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x00, 0xFF]))
        shape = tuple(draw(st.lists(st.one_of(st.integers(0, 5), st.integers(0, 2**32 - 1)), max_size=4)))
        data = _idx(code, shape, draw(st.binary(max_size=64)))
    else:
        data = _mutate(_idx(0x08, (2, 3, 3), bytes(range(18))), draw)
    return gzip.compress(data) if draw(st.booleans()) else data


@FUZZ
@given(data=idx_bytes())
def test_idx_reader_gives_an_array_or_a_data_error(scratch, data):
    path = scratch / "fuzz.idx"
    path.write_bytes(data)
    array = _raises_only_deepae_errors(read_idx, path)
    assert array is None or isinstance(array, np.ndarray)


# -- config files -----------------------------------------------------------------------------
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 40) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
ESTIMATOR_KEYS = ["epochs", "batch_size", "code_size", "hidden", "lr", "preset", "data", "model", "loss", "noise"]


@st.composite
def config_text(draw, suffix: str):
    """Random bytes, or a table of (mostly known) keys with random values, as JSON or TOML."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=64))
    table = draw(st.dictionaries(st.sampled_from(ESTIMATOR_KEYS) | st.text(max_size=6), JSON_VALUES, max_size=4))
    if suffix == ".json":
        return json.dumps(table).encode()
    lines = [f"{json.dumps(k)} = {json.dumps(v)}" for k, v in table.items()]  # JSON scalars are mostly TOML too
    return "\n".join(lines).encode()


@FUZZ
@given(data=st.data(), suffix=st.sampled_from([".json", ".toml"]))
def test_config_file_parser_gives_a_table_or_a_config_error(scratch, data, suffix):
    path = scratch / f"fuzz{suffix}"
    path.write_bytes(data.draw(config_text(suffix)))
    values = _raises_only_deepae_errors(read_config_file, path)
    assert values is None or isinstance(values, dict)


# -- checkpoints ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def saved(scratch) -> Path:
    """A tiny fitted estimator saved with its optimizer state."""
    x = np.random.default_rng(0).random((20, 6), dtype=np.float32)
    est = AutoEncoder(hidden=(4,), code_size=2, epochs=1, batch_size=8, device="cpu", random_state=0).fit(x)
    return est.save(scratch / "saved")


def _leaves(value, path=()):
    """Every (key path, value) inside nested dicts and lists, the containers included."""
    yield path, value
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        yield from _leaves(child, (*path, key))


def _edit_one_value(tree, draw, values):
    """``tree`` (parsed JSON) with one value somewhere inside replaced by a draw from ``values``, or removed."""
    path = draw(st.sampled_from([p for p, _ in _leaves(tree) if p]))
    parent = tree
    for key in path[:-1]:
        parent = parent[key]
    if isinstance(parent, dict) and draw(st.booleans()):
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(values)
    return tree


@st.composite
def config_json(draw, original: dict):
    """config.json bytes: random, damaged, or the original with one value replaced or removed."""
    kind = draw(st.sampled_from(["random", "damaged", "edited", "edited"]))
    text = json.dumps(original).encode()
    if kind == "random":
        return draw(st.binary(max_size=64))
    if kind == "damaged":
        return _mutate(text, draw)
    return json.dumps(_edit_one_value(json.loads(text), draw, JSON_VALUES)).encode()


def _load_everything(folder: Path):
    """What reads a checkpoint: the bare model, the estimator, the trainer state."""
    model = _raises_only_deepae_errors(load_model, folder)
    assert model is None or isinstance(model, torch.nn.Module)
    est = _raises_only_deepae_errors(AutoEncoder.load, folder)
    if est is not None:  # a loaded estimator works
        assert est.transform(np.zeros((2, *est.data_shape_), np.float32)).shape[0] == 2
    _raises_only_deepae_errors(load_trainer_state, folder)


def _copy(saved: Path, scratch: Path) -> Path:
    target = scratch / "fuzz-checkpoint"
    shutil.rmtree(target, ignore_errors=True)
    return Path(shutil.copytree(saved, target))


@FUZZ
@given(data=st.data())
def test_any_config_json_loads_or_raises_a_deepae_error(saved, scratch, data):
    folder = _copy(saved, scratch)
    original = json.loads((saved / "config.json").read_text())
    (folder / "config.json").write_bytes(data.draw(config_json(original)))
    _load_everything(folder)


@pytest.mark.parametrize("key, value", [("input_shape", [3_465_176_045]), ("hidden", [2**40]), ("code_size", 2**33),
                                        ("hidden", [2**31, 2**31])])
def test_a_config_asking_for_a_huge_layer_is_refused_before_it_is_built(saved, scratch, key, value):
    """Found by the fuzzer: such a config.json made the loader allocate a 55 GB layer (or be killed for memory)
    before it compared the layer with the weights beside it."""
    folder = _copy(saved, scratch)
    config = json.loads((saved / "config.json").read_text())
    config["model"]["config"][key] = value
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="the model expects|cannot be built"):
        load_model(folder)
    with pytest.raises(CheckpointError):
        AutoEncoder.load(folder)


def _edit_header(data: bytes, draw) -> bytes:
    """A safetensors file with one value of its JSON header (a dtype, shape or offset) replaced or removed."""
    (size,) = struct.unpack("<Q", data[:8])
    header = _edit_one_value(json.loads(data[8 : 8 + size]), draw, JSON_VALUES | st.integers(0, 2**40))
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data[8 + size :]


@FUZZ
@given(data=st.data(), file=st.sampled_from(["model.safetensors", "trainer.safetensors"]), recorded=st.booleans())
def test_any_safetensors_bytes_load_or_raise_a_deepae_error(saved, scratch, data, file, recorded):
    """Damaged tensor files, checked against their recorded SHA-256 or (as before digests) parsed unchecked."""
    folder = _copy(saved, scratch)
    original = (saved / file).read_bytes()
    kind = data.draw(st.sampled_from(["random", "damaged", "header", "header"]))
    if kind == "random":
        damaged = data.draw(st.binary(max_size=64))
    else:
        damaged = _mutate(original, data.draw) if kind == "damaged" else _edit_header(original, data.draw)
    (folder / file).write_bytes(damaged)
    meta_file, key = ("config.json", "weights_sha256") if file == "model.safetensors" else ("trainer.json", "state_sha256")
    meta = json.loads((folder / meta_file).read_text())
    if not recorded:
        meta.pop(key)
    (folder / meta_file).write_text(json.dumps(meta))
    _load_everything(folder)
    if recorded and hashlib.sha256(damaged).hexdigest() != meta[key]:
        with pytest.raises(CheckpointError, match=f"{file}' is not the file that was saved"):
            (load_model if file == "model.safetensors" else load_trainer_state)(folder)
