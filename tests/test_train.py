"""The Trainer: in-memory and DataLoader paths, schedules, early stopping, resuming, DDP agreement."""

from __future__ import annotations

import json
import os
import socket

import numpy as np
import pytest
import torch

from deepae import ConfigError, TrainingDivergedError, create_model
from deepae.losses import Objective
from deepae.train import (
    Callback,
    TrainConfig,
    Trainer,
    build_optimizer,
    load_trainer_state,
    save_trainer_state,
)
from deepae.train.checkpoint import atomic_write_bytes, atomic_write_json


def _data(n=96, d=12, seed=0):
    return torch.rand(n, d, generator=torch.Generator().manual_seed(seed))


def _model(seed=0, d=12):
    torch.manual_seed(seed)
    return create_model("dense", input_shape=(d,), hidden=(8,), code_size=3)


def _config(**kw):
    return TrainConfig(**{**dict(epochs=3, batch_size=16, optimizer="adam", progress=False, random_state=0, device="cpu"), **kw})


def test_in_memory_and_dataloader_paths_agree():
    x = _data()
    a = Trainer(_model(), Objective(loss="bce"), _config(shuffle=False))
    b = Trainer(_model(), Objective(loss="bce"), _config(shuffle=False))
    a.fit(x)
    b.fit(torch.utils.data.TensorDataset(x))
    for p, q in zip(a.module.parameters(), b.module.parameters()):
        torch.testing.assert_close(p, q)


def test_history_validation_and_numpy_input():
    x = _data().numpy()
    history = Trainer(_model(), Objective(loss="bce"), _config()).fit(x, x[:20])
    assert len(history) == 3
    assert {"loss", "recon", "val_loss", "val_recon", "lr", "time"} <= set(history[0])
    assert history[-1]["loss"] < history[0]["loss"]


def test_inputs_and_targets_as_pairs():
    x = _data()
    target = x.flip(1)
    trainer = Trainer(_model(), Objective(loss="bce"), _config(epochs=30))
    trainer.fit((x, target))
    with torch.no_grad():
        out = trainer.module(x).x_hat
    assert (out - target).abs().mean() < (out - x).abs().mean()


def test_early_stopping_restores_best():
    class Worsen(Callback):
        """Fake a validation loss that is best at epoch 1 and then worsens."""

        def on_epoch_end(self, trainer, epoch, logs):
            logs["val_loss"] = [1.0, 0.5, 0.9, 0.9, 0.9, 0.9][epoch]

    trainer = Trainer(_model(), Objective(loss="bce"), _config(epochs=6, early_stopping=2), callbacks=[Worsen()])
    trainer.fit(_data())
    assert len(trainer.history) == 4  # epochs 0..3: two without improvement after the best


@pytest.mark.parametrize("name", ["cosine", "step", "exponential", "plateau", "onecycle"])
def test_schedulers_change_lr(name):
    trainer = Trainer(_model(), Objective(loss="bce"), _config(epochs=4, scheduler=name, lr=0.01,
                                                                scheduler_params={"patience": 0} if name == "plateau" else {}))
    history = trainer.fit(_data())
    lrs = [h["lr"] for h in history]
    if name != "plateau":
        assert lrs[-1] != 0.01


def test_optimizer_defaults_and_overrides():
    params = list(_model().parameters())
    adadelta = build_optimizer("adadelta", params)
    assert adadelta.defaults["lr"] == 1.0 and adadelta.defaults["rho"] == 0.95 and adadelta.defaults["eps"] == 1e-7
    assert build_optimizer("sgd", params, lr=0.5, momentum=0.0).defaults["lr"] == 0.5
    with pytest.raises(ConfigError, match="optimizer='nadamx'"):
        build_optimizer("nadamx", params)
    with pytest.raises(ConfigError, match="do not fit"):
        build_optimizer("adam", params, momentum=0.9)
    for p in params:
        p.requires_grad_(False)
    with pytest.raises(ConfigError, match="frozen"):
        build_optimizer("adam", params)


@pytest.mark.parametrize(
    "kw,match",
    [
        (dict(epochs=-1), "epochs=-1"),
        (dict(batch_size=0), "batch_size=0"),
        (dict(scheduler="warm"), "scheduler='warm'"),
        (dict(precision="fp8"), "precision='fp8'"),
        (dict(device="tpu"), "device='tpu'"),
        (dict(early_stopping=0), "early_stopping=0"),
    ],
)
def test_bad_train_config(kw, match):
    with pytest.raises(ConfigError, match=match):
        TrainConfig(**kw)


def test_diverging_loss_is_reported():
    x = _data() * 1000
    linear = create_model("dense", input_shape=(12,), code_size=3, code_activation="linear", output_activation="identity")
    trainer = Trainer(linear, Objective(loss="mse"), _config(optimizer="sgd", lr=10.0, epochs=5))
    with pytest.raises(TrainingDivergedError, match="lower lr"):
        trainer.fit(x)


def test_bf16_autocast_trains():
    history = Trainer(_model(), Objective(loss="bce"), _config(precision="bf16", epochs=5)).fit(_data())
    assert history[-1]["loss"] < history[0]["loss"]


def test_same_seed_same_weights():
    runs = []
    for _ in range(2):
        trainer = Trainer(_model(seed=1), Objective(loss="bce", noise="masking", noise_level=0.3), _config())
        trainer.fit(_data())
        runs.append(torch.cat([p.flatten() for p in trainer.module.parameters()]))
    torch.testing.assert_close(runs[0], runs[1], rtol=0, atol=0)


class _Interrupt(Callback):
    """Stop after ``at`` epochs, as a crash would."""

    def __init__(self, at):
        self.at = at

    def on_epoch_end(self, trainer, epoch, logs):
        trainer.stop_training = epoch + 1 >= self.at


def test_trainer_state_round_trip_resumes_exactly(tmp_path):
    x = _data()
    config = _config(epochs=4, scheduler="cosine", lr=0.01)
    first = Trainer(_model(), Objective(loss="bce"), config, callbacks=[_Interrupt(2)])
    first.fit(x)
    assert first.epoch == 2
    save_trainer_state(tmp_path, first.state())
    model = _model()
    model.load_state_dict(first.module.state_dict())
    second = Trainer(model, Objective(loss="bce"), config)
    second.load_state(load_trainer_state(tmp_path))
    second.fit(x)
    assert len(second.history) == 4 and second.epoch == 4
    straight = Trainer(_model(), Objective(loss="bce"), config)
    straight.fit(x)
    assert [h["lr"] for h in second.history] == pytest.approx([h["lr"] for h in straight.history])
    for p, q in zip(second.module.parameters(), straight.module.parameters()):
        torch.testing.assert_close(p, q)


def test_atomic_write_never_leaves_half_a_file(tmp_path, monkeypatch):
    target = tmp_path / "config.json"
    atomic_write_json(target, {"a": 1})

    def boom(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(target, b"{broken")
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]  # no temp file left


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank, world_size, port, x, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world_size))
    trainer = Trainer(_model(), Objective(loss="bce"), _config(optimizer="sgd", lr=0.5, batch_size=8, num_threads=1))
    trainer.fit(x)
    if rank == 0:
        torch.save({k: v.detach().clone() for k, v in trainer.module.state_dict().items()}, out)
    # Both ranks leave together: a rank exiting while its peer still talks to it aborts gloo.
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_two_process_ddp_matches_single_process(tmp_path):
    """Two ranks with batch 8 each take the same steps as one process with batch 16."""
    x = _data()
    out = tmp_path / "ddp.pt"
    torch.multiprocessing.spawn(_ddp_worker, args=(2, _free_port(), x, str(out)), nprocs=2, join=True)
    single = Trainer(_model(), Objective(loss="bce"), _config(optimizer="sgd", lr=0.5, batch_size=16))
    single.fit(x)
    ddp = torch.load(out, weights_only=True)
    for key, value in single.module.state_dict().items():
        torch.testing.assert_close(ddp[key], value, rtol=1e-5, atol=1e-6)


def test_flush_denormal_only_while_training():
    seen = {}

    class Probe(Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            seen["during"] = (torch.tensor([1e-39]) * 1.0).item()

    Trainer(_model(), Objective(loss="bce"), _config(epochs=1), callbacks=[Probe()]).fit(_data())
    assert seen["during"] == 0.0  # subnormals flushed while training
    assert (torch.tensor([1e-39]) * 1.0).item() != 0.0  # and the process default is back afterwards
