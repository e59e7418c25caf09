"""Bad input through the `deepae` command: one line on stderr naming the problem, exit code 2, nothing touched.

Every case runs in one folder holding a trained run, copies of it damaged in one way each, and bad
data files. Each case must leave every file there as it was (same bytes, same time stamp) and add
none: an error never costs a user an earlier output.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from deepae import create_model
from deepae import data as deepae_data
from deepae.cli import app
from deepae.train import save_model

try:
    runner = CliRunner(mix_stderr=False)  # Click < 8.2 mixes stderr into stdout unless told
except TypeError:
    runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def _png(width: int, height: int) -> bytes:
    """A PNG header claiming ``width`` x ``height`` pixels with one empty data chunk (a decompression bomb's shape)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def _edit_config(run: Path, edit) -> None:
    path = run / "config.json"
    config = json.loads(path.read_text())
    edit(config)
    path.write_text(json.dumps(config))


class _Marker:
    """Unpickling it would create a file: proof that no code ran from a checkpoint."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (Path(self.path).touch, ())


def _damaged_runs(root: Path, run: Path) -> None:
    """Copies of ``run``, each damaged in one way."""

    def copy(name: str) -> Path:
        return Path(shutil.copytree(run, root / name))

    weights = (run / "model.safetensors").read_bytes()
    (copy("truncated-weights") / "model.safetensors").write_bytes(weights[: len(weights) // 2])
    flipped = bytearray(weights)
    flipped[-1] ^= 0xFF
    (copy("edited-weights") / "model.safetensors").write_bytes(bytes(flipped))
    # A pickle under the weights' name, its digest recorded as an attacker would: refused, nothing runs.
    bomb = pickle.dumps(_Marker(str(root / "pickle-ran")))
    (copy("pickle-weights") / "model.safetensors").write_bytes(bomb)
    _edit_config(root / "pickle-weights", lambda c: c.update(weights_sha256=hashlib.sha256(bomb).hexdigest()))
    buf = io.BytesIO()
    torch.save({"encoder.0.weight": torch.zeros(3)}, buf)  # a torch .pt checkpoint (a zip of pickles), renamed
    (copy("torch-weights") / "model.safetensors").write_bytes(buf.getvalue())
    _edit_config(root / "torch-weights", lambda c: c.pop("weights_sha256"))
    _edit_config(copy("unknown-param"), lambda c: c["estimator"]["params"].update(colour="red"))
    _edit_config(copy("unknown-section"), lambda c: c.update(notes="hello"))
    _edit_config(copy("wrong-type"), lambda c: c["model"]["config"].update(code_size="eight"))
    _edit_config(copy("wrong-type-param"), lambda c: c["estimator"]["params"].update(batch_size="big"))
    _edit_config(copy("unknown-model"), lambda c: c["model"].update(name="transformer"))
    (copy("not-json") / "config.json").write_text("{'format': 'deepae-checkpoint'")
    state = (run / "trainer.safetensors").read_bytes()
    (copy("truncated-state") / "trainer.safetensors").write_bytes(state[: len(state) // 3])
    save_model(root / "bare-model", create_model("dense", input_shape=(64,), code_size=4))
    metrics = json.loads((run / "metrics.json").read_text())
    (copy("stopped-early") / "metrics.json").write_text(json.dumps({**metrics, "stopped_early": True}))
    (root / "killed-early").mkdir()  # a run killed in its first epoch, before any state was saved
    # A run killed mid-training: its state lives in checkpoint/<folder>, named by checkpoint/latest.json.
    for name, edit in {"bad-latest": "latest", "truncated-checkpoint": "weights"}.items():
        killed = root / name
        shutil.copytree(run, killed / "checkpoint" / "epoch-00001-abc")
        latest = {"folder": "epoch-00001-abc" if edit != "latest" else "../run", "epoch": 1}
        (killed / "checkpoint" / "latest.json").write_text(json.dumps(latest))
        if edit == "weights":
            (killed / "checkpoint" / "epoch-00001-abc" / "model.safetensors").write_bytes(weights[:100])


def _bad_files(root: Path) -> None:
    digits = deepae_data.load("digits", split="test").x[:6]  # (6, 1, 8, 8) in [0, 1]
    rows = digits.reshape(6, 64)
    np.save(root / "nan.npy", np.where(np.eye(6, 64) > 0, np.nan, rows).astype(np.float32))
    (root / "inf.csv").write_text("a,b\n1,2\ninf,3\n")
    np.save(root / "empty.npy", np.zeros((0, 64), np.float32))
    (root / "zero-bytes.npy").write_bytes(b"")
    (root / "cut.npy").write_bytes((root / "empty.npy").read_bytes()[:20])
    np.save(root / "complex.npy", (rows + 1j).astype(np.complex64))
    (root / "empty.csv").write_text("")
    np.save(root / "flat.npy", np.zeros(64, np.float32))
    np.save(root / "five-d.npy", np.zeros((2, 1, 1, 8, 8), np.float32))
    (root / "ragged.csv").write_text("1,2,3\n4,5\n6,7,8,9,10\n")
    (root / "strings.csv").write_text("a,b\n1,x\n2,y\n")
    np.save(root / "objects.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    np.save(root / "bytes255.npy", rows * 255)
    (root / "text.npy").write_text("not numbers")  # np.load would call this pickled data
    (root / "text.npz").write_text("not numbers")
    np.savez(root / "two.npz", first=rows, second=rows)
    (root / "mixed").mkdir()
    Image.new("L", (8, 8)).save(root / "mixed" / "a.png")
    Image.new("L", (9, 8)).save(root / "mixed" / "b.png")
    for name, content in {"text": b"hello, not an image", "zero": b"", "bomb": _png(20_000, 20_000)}.items():
        (root / name).mkdir()
        Image.new("L", (8, 8)).save(root / name / "good.png")
        (root / name / "bad.png").write_bytes(content)
    (root / "truncated").mkdir()
    png = io.BytesIO()
    Image.fromarray((digits[0, 0] * 255).astype(np.uint8)).resize((64, 64)).save(png, "PNG")
    (root / "truncated" / "cut.png").write_bytes(png.getvalue()[:-60])
    jpeg = io.BytesIO()
    Image.fromarray((digits[0, 0] * 255).astype(np.uint8)).resize((64, 64)).save(jpeg, "JPEG")
    (root / "truncated-jpeg").mkdir()
    (root / "truncated-jpeg" / "cut.jpg").write_bytes(jpeg.getvalue()[:200])
    (root / "pixel").mkdir()
    Image.new("L", (1, 1), 200).save(root / "pixel" / "one.png")
    (root / "images").mkdir()
    deepae_data.save_images(digits, root / "images", [f"{i}.png" for i in range(6)])
    np.save(root / "x.npy", rows)
    (root / "epochs0.toml").write_text("epochs = 0\n")
    (root / "batch.json").write_text('{"batch_size": "big"}')


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """A folder with a 1-epoch run on the digits ('run'), damaged copies of it, and bad data files."""
    root = tmp_path_factory.mktemp("bad-input")
    result = invoke("--quiet", "train", "--data", "digits", "--epochs", 1, "--code-size", 8, "--batch-size", 64,
                    "--seed", 0, "--out", root / "run")
    assert result.exit_code == 0, result.output
    _damaged_runs(root, root / "run")
    _bad_files(root)
    return root


def _snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    return {p.relative_to(root).as_posix(): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).digest())
            for p in sorted(root.rglob("*")) if p.is_file()}


T = "train --epochs 1 --out {root}/new"  # a train command that would write a new run if it got that far
CASES = {
    # data
    "nan": (f"{T} --data {{root}}/nan.npy", "NaN/inf values"),
    "inf": (f"{T} --data {{root}}/inf.csv", "NaN/inf values"),
    "empty array": (f"{T} --data {{root}}/empty.npy", "no data"),
    "0-byte .npy": ("encode {root}/run {root}/zero-bytes.npy -o {root}/codes.npy", "zero-bytes.npy: the file is empty"),
    "truncated .npy": (f"{T} --data {{root}}/cut.npy", "cut.npy: "),
    "complex numbers": ("encode {root}/run {root}/complex.npy -o {root}/codes.npy", "expected real numbers"),
    "empty csv": (f"{T} --data {{root}}/empty.csv", "empty CSV"),
    "1-D": (f"{T} --data {{root}}/flat.npy", "expected (N, D) samples"),
    "5-D": (f"{T} --data {{root}}/five-d.npy", "expected (N, D) samples"),
    "ragged": (f"{T} --data {{root}}/ragged.csv", "cannot parse CSV"),
    "strings": (f"{T} --data {{root}}/strings.csv", "column 'b' is not numeric"),
    "objects": (f"{T} --data {{root}}/objects.npy", "without pickle"),
    "text named .npy": (f"{T} --data {{root}}/text.npy", "text.npy: not a NumPy .npy file"),
    "text named .npz": (f"{T} --data {{root}}/text.npz", "text.npz: not a NumPy .npz file"),
    "bce out of range": (f"{T} --data {{root}}/bytes255.npy --loss bce", "loss='bce' needs data in [0, 1]"),
    "evaluate 0-255 on a [0, 1] model": ("evaluate {root}/run {root}/bytes255.npy", "rescale it to [0, 1]"),
    "npz of two arrays": (f"{T} --data {{root}}/two.npz", "several arrays (first, second)"),
    # images
    "mixed sizes": (f"{T} --data {{root}}/mixed", "images differ in size"),
    "not an image": (f"{T} --data {{root}}/text", "bad.png: cannot read image"),
    "0-byte file": (f"{T} --data {{root}}/zero", "bad.png: cannot read image"),
    "decompression bomb": (f"{T} --data {{root}}/bomb", "bad.png: refused, too many pixels"),
    "truncated png": (f"{T} --data {{root}}/truncated", "cut.png: cannot decode image"),
    "truncated jpeg": (f"{T} --data {{root}}/truncated-jpeg", "cut.jpg: cannot read image"),
    "1x1 image": (f"{T} --data {{root}}/pixel --model conv", "is too small"),
    # paths
    "missing data": (f"{T} --data {{root}}/missing.npy", "not a known data set"),
    "missing run": ("evaluate {root}/missing", "does not exist"),
    "missing config": (f"{T} --config {{root}}/missing.toml", "does not exist"),
    "train missing data-dir": (f"{T} --data mnist --data-dir {{root}}/missing", "not found in data_dir"),
    "demo missing data-dir": ("demo --epochs 1 --out {root}/new --data-dir {root}/missing", "does not exist"),
    "output = input folder": ("reconstruct {root}/run {root}/images -o {root}/images --force", "is the input"),
    "output inside input": ("reconstruct {root}/run {root}/images -o {root}/images/out", "lies inside the input"),
    "output = folder of input file": ("reconstruct {root}/run {root}/images/0.png -o {root}/images --force",
                                      "is the folder of the input"),
    "output = input array": ("reconstruct {root}/run {root}/x.npy -o {root}/x.npy --force", "is the input"),
    "diverged training over a run": ("train --epochs 1 --data {root}/x.npy --code-size 2 --hidden 8 --lr 1e30 "
                                     "--out {root}/run --force", "the training diverged"),
    "train into its data folder": ("train --epochs 1 --data {root}/images --out {root}/images --force",
                                   "would mix the run with its data"),
    "train inside its data folder": ("train --epochs 1 --data {root}/images --out {root}/images/run",
                                     "would mix the run with its data"),
    "train into the folder of its data file": ("train --epochs 1 --data {root}/x.npy --out {root} --force",
                                               "would mix the run with its data"),
    "codes over their input": ("encode {root}/run {root}/x.npy -o {root}/x.npy --force", "is the input"),
    "report over the run's config": ("report {root}/run -o {root}/run/config.json --force", "is the input"),
    "report over its data": ("report {root}/run --data {root}/x.npy -o {root}/x.npy --force", "is the input"),
    "report over an existing file": ("report {root}/run -o {root}/epochs0.toml", "already exists; pass --force"),
    # run folders
    "a model without an estimator": ("evaluate {root}/bare-model", "not saved by AutoEncoder.save"),
    "init from another model": (f"{T} --data digits --model conv --init-from {{root}}/run", "cannot transfer"),
    "truncated weights": ("evaluate {root}/truncated-weights", "model.safetensors' is not the file that was saved"),
    "edited weights": ("evaluate {root}/edited-weights", "model.safetensors' is not the file that was saved"),
    "pickle as weights": ("evaluate {root}/pickle-weights", "cannot read weights from"),
    "torch.save as weights": ("evaluate {root}/torch-weights", "cannot read weights from"),
    "unknown estimator param": ("info {root}/unknown-param", "unknown key(s) ['colour']"),
    "unknown config section": ("info {root}/unknown-section", "unknown key(s) ['notes']"),
    "wrong type in model config": ("info {root}/wrong-type", "code_size='eight'"),
    "wrong type in estimator params": ("info {root}/wrong-type-param", "batch_size='big'"),
    "unknown model name": ("info {root}/unknown-model", "unknown model 'transformer'"),
    "config.json not JSON": ("info {root}/not-json", "cannot read"),
    "truncated trainer state": ("train --resume {root}/truncated-state --epochs 2", "trainer.safetensors' is not the file"),
    "resume a finished run": ("train --resume {root}/run", "has finished: --epochs is the new total, so pass more than 1"),
    "resume to no more epochs": ("train --resume {root}/run --epochs 1", "--epochs 1 adds none"),
    "resume an early-stopped run": ("train --resume {root}/stopped-early --epochs 5", "stopped early after 1 epochs"),
    "resume a run killed before its first save": ("train --resume {root}/killed-early", "stopped before the first saved epoch"),
    "resume from a damaged latest.json": ("train --resume {root}/bad-latest --epochs 2", "does not name a checkpoint folder"),
    "resume from damaged checkpoint weights": ("train --resume {root}/truncated-checkpoint --epochs 2",
                                               "model.safetensors' is not the file that was saved"),
    "train into a killed run's folder": ("train --data digits --epochs 1 --out {root}/truncated-checkpoint",
                                         "continue it with deepae train --resume"),
    "negative --checkpoint-every": (f"{T} --data digits --checkpoint-every -1", "Invalid value for '--checkpoint-every'"),
    # parameters
    "train 0 epochs": (f"{T} --data digits --epochs 0", "Invalid value for '--epochs'"),
    "demo 0 epochs": ("demo --epochs 0 --out {root}/new", "Invalid value for '--epochs'"),
    "negative epochs": (f"{T} --data digits --epochs -1", "Invalid value for '--epochs'"),
    "0 epochs in a config file": ("train --out {root}/new --data digits --config {root}/epochs0.toml", "epochs=0"),
    "batch size 0": (f"{T} --data digits --batch-size 0", "Invalid value for '--batch-size'"),
    "negative batch size": (f"{T} --data digits --batch-size -8", "Invalid value for '--batch-size'"),
    "batch size of a wrong type": (f"{T} --data digits --config {{root}}/batch.json", "batch_size='big'"),
    "lr 0": (f"{T} --data digits --lr 0", "0.0 is not in the range x > 0"),
    "negative lr": (f"{T} --data digits --lr -0.1", "-0.1 is not in the range x > 0"),
    "code size 0": (f"{T} --data digits --code-size 0", "Invalid value for '--code-size'"),
    "unknown preset": (f"{T} --preset hinton-2007", "'hinton-2007' is not one of"),
    "unknown model": (f"{T} --model transformer", "'transformer' is not one of"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_and_touches_nothing(case, root, monkeypatch):
    monkeypatch.chdir(root)  # a default output would land here, inside the snapshot
    command, message = CASES[case]
    before = _snapshot(root)
    result = invoke(*command.format(root=root).split())
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert message in lines[0], lines[0]
    assert "Traceback" not in result.output + result.stderr and "--image-size" not in lines[0]
    assert _snapshot(root) == before
    assert not (root / "pickle-ran").exists()


def test_the_matrix_is_large_enough():
    assert len(CASES) >= 40
