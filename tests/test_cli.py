"""The `deepae` command through Typer's CliRunner, on tiny data (scikit-learn's 8x8 digits, 1 epoch)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from deepae import data as deepae_data
from deepae.cli import app
from deepae.data import _builtin
from deepae.errors import CheckpointError

try:
    runner = CliRunner(mix_stderr=False)  # Click < 8.2 mixes stderr into stdout unless told
except TypeError:
    runner = CliRunner()  # newer: stderr is always kept apart
COMMANDS = ["demo", "train", "evaluate", "encode", "decode", "reconstruct", "report", "models", "info"]


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def ok(*args):
    result = invoke(*args)
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return result


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "run"
    ok("--quiet", "train", "--data", "digits", "--epochs", 1, "--code-size", 8, "--optimizer", "adam", "--lr", 0.01,
       "--seed", 0, "--out", out)
    return out


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory) -> Path:
    """Five 8x8 digit PNGs (one as a JPEG) with names to keep."""
    folder = tmp_path_factory.mktemp("images")
    digits = deepae_data.load("digits", split="test").x[:5]
    deepae_data.save_images(digits, folder, ["a.png", "b.png", "c.png", "d.png", "e.jpg"])
    return folder


# -- help and listing ------------------------------------------------------------------------
@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command):
    result = ok(command, "--help")
    assert "Example:" in result.stdout and f"deepae {command}" in result.stdout


def test_models_lists_models_and_presets():
    result = ok("models")
    for name in ("dense", "conv", "vae", "seed-demo", "hinton-mnist", "keras-conv"):
        assert name in result.stdout
    assert "adadelta" in result.stdout


# -- train and what reads a run --------------------------------------------------------------
def test_train_writes_a_run_folder(run_dir):
    for name in ("config.json", "model.safetensors", "metrics.json", "loss.png", "reconstructions.png"):
        assert (run_dir / name).is_file(), name
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["data"]["spec"] == "digits" and metrics["data"]["n_test"] == 360
    assert metrics["epochs"] == 1 and metrics["validation"] == "test"
    assert {"mse", "bce", "squared_error", "psnr", "ssim"} <= set(metrics["test"])


def test_evaluate_prints_a_table_and_writes_json(run_dir):
    result = ok("evaluate", run_dir)
    assert "SSIM" in result.stdout and "PSNR" in result.stdout and "by class" in result.stdout
    saved = json.loads((run_dir / "evaluation.json").read_text())
    assert saved["data"]["n"] == 360
    printed = json.loads(ok("evaluate", run_dir, "digits", "--split", "train", "--json").stdout)
    assert printed["data"]["n"] == 1437 and len(printed["per_class"]) == 10


def test_encode_then_decode(run_dir, tmp_path):
    ok("encode", run_dir, "digits", "-o", tmp_path / "codes.npy")
    codes = np.load(tmp_path / "codes.npy")
    assert codes.shape == (360, 8)
    ok("decode", run_dir, tmp_path / "codes.npy", "-o", tmp_path / "decoded")
    assert len(list((tmp_path / "decoded").glob("*.png"))) == 360
    ok("decode", run_dir, tmp_path / "codes.npy", "-o", tmp_path / "decoded.npy")
    assert np.load(tmp_path / "decoded.npy").shape == (360, 1, 8, 8)


def test_reconstruct_images_keep_their_names(run_dir, image_folder, tmp_path):
    ok("reconstruct", run_dir, image_folder, "-o", tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.png", "c.png", "d.png", "e.png"]


def test_reconstruct_resizes_images_to_the_run(run_dir, tmp_path):
    big = np.random.default_rng(0).random((2, 1, 16, 16))
    deepae_data.save_images(big, tmp_path / "big", ["x.png", "y.png"])
    ok("reconstruct", run_dir, tmp_path / "big", "-o", tmp_path / "out.npy")
    assert np.load(tmp_path / "out.npy").shape == (2, 1, 8, 8)


def test_reconstruct_arrays_in_arrays_out(run_dir, tmp_path):
    np.save(tmp_path / "rows.npy", deepae_data.load("digits", split="test").flat()[:7])
    ok("reconstruct", run_dir, tmp_path / "rows.npy", "-o", tmp_path / "out.npy")
    assert np.load(tmp_path / "out.npy").shape == (7, 1, 8, 8)
    result = invoke("reconstruct", run_dir, tmp_path / "rows.npy", "-o", tmp_path / "pngs")
    assert result.exit_code == 2 and "must be a .npy file" in result.stderr


def test_info_shows_architecture_and_history(run_dir):
    result = ok("info", run_dir)
    # the default dense model: one hidden layer of 256 and a linear code of 8
    for text in ("encoder.0", "Linear 256->8", "parameters: 37,448", "1 epochs of 1", "lr 0.01", "batch 32", "val_loss"):
        assert text in result.stdout


def test_report_writes_html_into_the_run(run_dir):
    ok("--quiet", "report", run_dir)
    page = (run_dir / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "data:image/png;base64," in page and "http://" not in page


def test_resume_continues_a_run(run_dir, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    ok("--quiet", "train", "--resume", copy, "--epochs", 2)
    metrics = json.loads((copy / "metrics.json").read_text())
    assert metrics["epochs"] == 2
    # the timing covers every epoch, the one before the resume too, and its median leaves out the warm-up
    assert "over 2 epochs" in ok("info", copy).stdout and "median of epochs 2 on" in ok("info", copy).stdout
    assert not (copy / "evaluation.json").exists()  # it described the model before resuming


def test_config_file_with_a_preset(tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('preset = "seed-demo"\ndata = "digits"\nepochs = 1\ncode_size = 4\n')
    ok("--quiet", "train", "--config", config, "--out", tmp_path / "run")
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    params = saved["estimator"]["params"]
    assert (params["optimizer"], params["lr"], params["code_size"], params["epochs"]) == ("adadelta", 1.0, 4, 1)
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["preset"] == "seed-demo"
    assert "lr 1," in ok("info", tmp_path / "run").stdout


def test_info_shows_the_learning_rate_in_effect(tmp_path):
    """Adadelta at its default rate and at an explicit lr=1.0 read the same: the rate it ran with."""
    ok("--quiet", "train", "--data", "digits", "--epochs", 1, "--optimizer", "adadelta", "--out", tmp_path / "run")
    result = ok("info", tmp_path / "run")
    assert "lr 1," in result.stdout and "default" not in result.stdout


def test_an_existing_run_folder_needs_force(run_dir, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    before = {p.name: p.stat().st_mtime_ns for p in copy.iterdir()}
    args = ["--quiet", "train", "--data", "digits", "--epochs", 1, "--out", copy]
    result = invoke(*args)
    assert result.exit_code == 2 and "already exists" in result.stderr and "--force" in result.stderr
    assert {p.name: p.stat().st_mtime_ns for p in copy.iterdir()} == before
    ok(*args, "--force")
    assert {p.name: p.stat().st_mtime_ns for p in copy.iterdir()}["model.safetensors"] != before["model.safetensors"]


def test_an_existing_output_needs_force(run_dir, tmp_path):
    (tmp_path / "codes.npy").write_bytes(b"keep me")
    result = invoke("encode", run_dir, "digits", "-o", tmp_path / "codes.npy")
    assert result.exit_code == 2 and "already exists" in result.stderr
    assert (tmp_path / "codes.npy").read_bytes() == b"keep me"
    ok("encode", run_dir, "digits", "-o", tmp_path / "codes.npy", "--force")
    assert np.load(tmp_path / "codes.npy").shape == (360, 8)


# -- the demo --------------------------------------------------------------------------------
def test_demo_falls_back_to_the_embedded_digits(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPAE_CACHE_DIR", str(tmp_path / "empty-cache"))
    unreachable = dataclasses.replace(_builtin.IDX_SOURCES["mnist"], mirrors=((tmp_path / "no-mirror").as_uri() + "/",))
    monkeypatch.setitem(_builtin.IDX_SOURCES, "mnist", unreachable)
    out = tmp_path / "demo"
    result = ok("--quiet", "demo", "--epochs", 1, "--out", out)
    assert "MNIST is not available" in result.stdout and "embedded" in result.stdout
    text = " ".join(result.stdout.split())
    assert "BCE 0.68" in text and "learning_rate=0.001" in text and "lr=1.0, rho=0.95, eps=1e-7" in text
    for name in ("reconstructions.png", "loss.png", "metrics.json", "model.safetensors", "config.json"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["data"]["name"] == "mnist-embedded" and metrics["data"]["source"].startswith("embedded")
    assert metrics["epochs"] == 1 and metrics["preset"] == "seed-demo"
    assert metrics["test"]["bce"] > 0 and metrics["test"]["squared_error"] > 0
    assert metrics["timing"]["median_epoch_seconds"] > 0 and metrics["timing"]["samples_per_second"] > 0
    assert "torch" in metrics["versions"]
    params = json.loads((out / "config.json").read_text())["estimator"]["params"]
    assert (params["model"], params["code_size"], params["optimizer"], params["lr"], params["batch_size"]) == (
        "dense", 32, "adadelta", 1.0, 256)
    assert invoke("--quiet", "demo", "--epochs", 1, "--out", out).exit_code == 2  # and it is not overwritten


# -- user errors: one line on stderr, exit code 2 ----------------------------------------------
@pytest.fixture
def bad_files(tmp_path, monkeypatch) -> dict[str, Path]:
    monkeypatch.chdir(tmp_path)  # a default run folder would land here, not in the repository
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "broken.toml").write_text("epochs = = 3")
    (tmp_path / "unknown.json").write_text('{"epochs": 1, "colour": "red"}')
    np.save(tmp_path / "wide.npy", np.zeros((4, 10), np.float32))
    np.save(tmp_path / "codes3.npy", np.zeros((4, 3), np.float32))
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "config.json").write_text('{"format": "something-else"}')
    return {"tmp": tmp_path}


BAD_INPUTS = [
    (["evaluate", "{tmp}/missing"], "does not exist"),
    (["evaluate", "{tmp}"], "not a deepae run folder"),
    (["evaluate", "{tmp}/foreign"], "not a deepae checkpoint"),
    (["evaluate", "{run}", "{tmp}/wide.npy"], "was trained on [1, 8, 8]"),
    (["decode", "{run}", "{tmp}/codes3.npy", "-o", "{tmp}/x.npy"], "expected (n_samples, 8)"),
    (["encode", "{run}", "digits", "-o", "{tmp}/codes.txt"], "must be a .npy file"),
    (["train", "--data", "{tmp}/missing.npy"], "not a known data set"),
    (["train", "--data", "{tmp}/notes.txt"], "unsupported file type"),
    (["train", "--preset", "nope"], "'nope' is not one of"),
    (["train", "--lr", "-1"], "--lr"),
    (["train", "--hidden", "12,x"], "hidden='12,x'"),
    (["train", "--config", "{tmp}/broken.toml"], "cannot parse config file"),
    (["train", "--config", "{tmp}/unknown.json"], "unknown key(s) ['colour']"),
    (["train", "--data", "digits", "--activation", "swish", "--out", "{tmp}/r"], "'swish' is not a known activation"),
    (["train", "--resume", "{tmp}"], "not a deepae run folder"),
    (["train", "--resume", "{run}", "--lr", "0.1"], "drop --lr"),
    (["report", "{run}", "--map", "umap"], "'umap' is not one of"),
]


@pytest.mark.parametrize("args, message", BAD_INPUTS, ids=[" ".join(a[:2]) + f" [{m}]" for a, m in BAD_INPUTS])
def test_user_errors_are_one_line_on_stderr(args, message, bad_files, run_dir):
    args = [a.format(tmp=bad_files["tmp"], run=run_dir) for a in args]
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert message in lines[0]
    assert "Traceback" not in result.output


def test_debug_shows_the_exception(tmp_path):
    result = invoke("--debug", "evaluate", tmp_path / "missing")
    assert isinstance(result.exception, CheckpointError)
    assert result.exit_code != 0
