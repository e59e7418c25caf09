"""Crash safety: a `deepae train` killed at any instant resumes to the very weights one run would have.

The run exercises every piece of state a resumed run needs: the trainer's generator (shuffles,
per-epoch seeds), Adadelta's running averages, a cosine learning-rate schedule, early stopping's
record (best loss, wait, best weights) and the input-noise generator.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from deepae.cli import app
from deepae.errors import CheckpointError
from deepae.train import latest_checkpoint, save_checkpoint

EPOCHS = 6
ARGS = ["--model", "dense", "--hidden", "32", "--code-size", "8", "--batch-size", "32", "--optimizer", "adadelta",
        "--scheduler", "cosine", "--early-stopping", "50", "--validation-fraction", "0.2", "--noise", "gaussian",
        "--noise-level", "0.1", "--seed", "3", "--epochs", str(EPOCHS)]


def _cli(*args):
    result = CliRunner().invoke(app, ["--quiet", *map(str, args)])
    assert result.exit_code == 0, (result.output, result.exception)


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(run / "model.safetensors")


@pytest.fixture
def data(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # one fixed thread count in every process (see train._cpu)
    rng = np.random.default_rng(0)
    basis = rng.random((6, 48))
    x = np.clip(rng.random((2000, 6)) @ basis / 3, 0, 1).astype(np.float32)  # low-rank rows in [0, 1]
    np.save(tmp_path / "x.npy", x)
    return tmp_path / "x.npy"


def test_sigkill_mid_epoch_then_resume_is_bit_identical(data, tmp_path):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    _cli("train", "--data", data, "--out", straight, *ARGS)

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    deepae = [sys.executable, "-c", "from deepae.cli import main; main()"]  # the `deepae` command
    proc = subprocess.Popen([*deepae, "--quiet", "train", "--data", str(data), "--out", str(killed),
                             *ARGS], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while latest_checkpoint(killed) is None:  # the first per-epoch state is on disk
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.01)
        time.sleep(0.02)  # into the next epoch
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    folder, done = latest_checkpoint(killed)
    assert 1 <= done < EPOCHS and not (killed / "metrics.json").exists()  # killed mid-training, not after

    _cli("train", "--resume", killed)
    a, b = _weights(straight), _weights(killed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    history = [json.loads((run / "config.json").read_text())["history"] for run in (straight, killed)]
    assert [h["loss"] for h in history[0]] == [h["loss"] for h in history[1]]
    assert not (killed / "checkpoint").exists()  # the finished run folder holds the state now

    # A finished run continues to a larger epoch count (the README's `deepae train --resume RUN --epochs N`).
    _cli("train", "--resume", killed, "--epochs", EPOCHS + 2)
    assert len(json.loads((killed / "config.json").read_text())["history"]) == EPOCHS + 2


def test_a_run_killed_while_writing_its_folder_is_finished_by_resume(data, tmp_path, monkeypatch):
    from deepae.runs import training

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # as a kill: after the last checkpoint, before the run folder is written

    out = tmp_path / "run"
    with monkeypatch.context() as patch:
        patch.setattr(training, "_write_run", killed)
        with pytest.raises(KeyboardInterrupt):
            training.train({"model": "dense", "code_size": 4, "epochs": 2, "random_state": 0, "verbose": False},
                           training.DataSpec.parse(str(data)), out)
    assert latest_checkpoint(out)[1] == 2 and not (out / "config.json").exists()
    _cli("train", "--resume", out)  # nothing left to train: it writes the run folder
    assert len(json.loads((out / "config.json").read_text())["history"]) == 2
    _cli("train", "--resume", out, "--epochs", 3)  # and it keeps the optimizer state to go on


def test_checkpoint_switch_is_atomic(tmp_path):
    """A write that dies half way leaves the previous checkpoint the latest; the next save clears the debris."""

    def write(text):
        def fill(folder: Path) -> None:
            (folder / "a.txt").write_text(text)
            if text == "dies":
                raise KeyboardInterrupt

        return fill

    save_checkpoint(tmp_path, 1, write("one"))
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path, 2, write("dies"))
    assert latest_checkpoint(tmp_path) == (tmp_path / "checkpoint" / "a", 1)
    assert (tmp_path / "checkpoint" / "a" / "a.txt").read_text() == "one"
    save_checkpoint(tmp_path, 3, write("three"))  # into the slot the dead write left behind
    assert latest_checkpoint(tmp_path) == (tmp_path / "checkpoint" / "b", 3)
    assert sorted(p.name for p in (tmp_path / "checkpoint").iterdir()) == ["a", "b", "latest.json"]  # two slots
    assert (tmp_path / "checkpoint" / "b" / "a.txt").read_text() == "three"
    (tmp_path / "checkpoint" / "latest.json").write_text('{"folder": "../../etc", "epoch": 3}')
    with pytest.raises(CheckpointError, match="does not name a checkpoint folder"):
        latest_checkpoint(tmp_path)
