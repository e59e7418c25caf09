"""The Trainer: in-memory and DataLoader paths, schedules, early stopping, resuming, DDP agreement."""

from __future__ import annotations

import json
import os
import socket

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
from deepae.train.distributed import DistContext
from deepae.train.trainer import flush_denormal_enabled


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


# Every source of training-time randomness: none, input noise, VAE sampling, dropout, contraction projections.
RANDOM_SETUPS = {
    "plain": (dict(), dict(loss="bce")),
    "gaussian-noise": (dict(), dict(loss="bce", noise="gaussian", noise_level=0.3)),
    "vae": (dict(name="vae"), dict(loss="bce")),
    "dropout": (dict(dropout=0.3), dict(loss="bce")),
    "contractive-estimate": (dict(), dict(loss="bce", contractive=0.1)),
}


def _random_setup(name, seed=0):
    model_kw, objective_kw = RANDOM_SETUPS[name]
    model_kw = {"name": "dense", **model_kw}
    torch.manual_seed(seed)
    model = create_model(model_kw.pop("name"), input_shape=(12,), hidden=(8,), code_size=3, **model_kw)
    return model, Objective(**objective_kw)


def _weights(trainer):
    return torch.cat([p.detach().flatten() for p in trainer.module.parameters()])


@pytest.mark.parametrize("setup", list(RANDOM_SETUPS))
def test_trainer_state_round_trip_resumes_exactly(tmp_path, setup):
    """Interrupt, save, load and continue: bit for bit the weights and history of one straight run."""
    x = _data()
    config = _config(epochs=4, scheduler="cosine", lr=0.01)
    model, objective = _random_setup(setup)
    first = Trainer(model, objective, config, callbacks=[_Interrupt(2)])
    first.fit(x)
    assert first.epoch == 2
    save_trainer_state(tmp_path, first.state())
    model, objective = _random_setup(setup)
    model.load_state_dict(first.module.state_dict())
    second = Trainer(model, objective, config)
    second.load_state(load_trainer_state(tmp_path))
    second.fit(x)
    assert len(second.history) == 4 and second.epoch == 4
    straight = Trainer(*_random_setup(setup), config)
    straight.fit(x)
    drop_time = [{k: v for k, v in h.items() if k != "time"} for h in (*second.history, *straight.history)]
    assert drop_time[:4] == drop_time[4:]
    torch.testing.assert_close(_weights(second), _weights(straight), rtol=0, atol=0)


@pytest.mark.parametrize("setup", list(RANDOM_SETUPS))
def test_randomness_comes_from_the_trainer_not_the_global_rng(setup):
    """Same random_state: same run whatever the global RNG holds, which training leaves as it was."""
    runs = []
    for global_seed in (1, 2):
        model, objective = _random_setup(setup)
        torch.manual_seed(global_seed)
        before = torch.get_rng_state()
        trainer = Trainer(model, objective, _config())
        trainer.fit(_data(), _data(seed=1))
        assert torch.equal(torch.get_rng_state(), before)
        runs.append(trainer)
    assert [h["loss"] for h in runs[0].history] == [h["loss"] for h in runs[1].history]
    torch.testing.assert_close(_weights(runs[0]), _weights(runs[1]), rtol=0, atol=0)
    other = Trainer(_random_setup(setup)[0], _random_setup(setup)[1], _config(random_state=1))
    other.fit(_data())
    assert not torch.equal(_weights(other), _weights(runs[0]))


def test_without_random_state_the_generator_is_seeded_from_torch():
    runs = []
    for _ in range(2):
        model, objective = _random_setup("gaussian-noise")
        torch.manual_seed(7)
        trainer = Trainer(model, objective, _config(random_state=None))
        after_init = torch.get_rng_state()
        trainer.fit(_data())
        assert torch.equal(torch.get_rng_state(), after_init)  # one draw at construction, none in fit
        runs.append(_weights(trainer))
    torch.testing.assert_close(runs[0], runs[1], rtol=0, atol=0)


@pytest.mark.parametrize("takes_generator", [False, True])
def test_plain_and_generator_taking_loss_functions(takes_generator):
    """``loss_fn(model, batch)`` still works; one with a ``generator`` keyword gets the trainer's while training."""
    seen = []
    objective = Objective(loss="bce")

    def plain(model, batch):
        return objective(model, batch)

    def with_generator(model, batch, generator=None):
        seen.append((model.training, generator))
        return objective(model, batch, generator=generator)

    x = _data()
    trainer = Trainer(_model(), with_generator if takes_generator else plain, _config(epochs=1))
    trainer.fit(x, x[:16])
    if takes_generator:
        assert all(isinstance(g, torch.Generator) and g.device == trainer.device for training, g in seen if training)
        assert all(g is None for training, g in seen if not training)


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
    # a folder in the way is named as such (os.replace would name the temporary file), and kept
    (tmp_path / "out").mkdir()
    with pytest.raises(IsADirectoryError, match="'.*out' is a folder, not a file"):
        atomic_write_bytes(tmp_path / "out", b"x")
    assert (tmp_path / "out").is_dir() and not any((tmp_path / "out").iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "out"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# N = 97 leaves a last batch of one sample: rank 1 has none of it and must still join the all-reduce.
DDP_CASES = ("tensor-96", "tensor-97", "dataset-97")


def _ddp_data(case):
    kind, n = case.split("-")
    x = _data(int(n))
    return torch.utils.data.TensorDataset(x) if kind == "dataset" else x


def _ddp_config(**kw):
    return _config(optimizer="sgd", lr=0.5, batch_size=16, num_threads=1, **kw)


def _ddp_worker(rank, world_size, port, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world_size))
    results = {}
    objective = Objective(loss="bce")
    for case in DDP_CASES:
        seen = [0]

        def counting(model, batch, seen=seen):
            seen[0] += len(batch)
            return objective(model, batch)

        trainer = Trainer(_model(), counting, _ddp_config())
        history = trainer.fit(_ddp_data(case))
        results[case] = {"loss": [h["loss"] for h in history], "seen": seen[0],
                         "weights": {k: v.detach().clone() for k, v in trainer.module.state_dict().items()}}
    x = _data(97)
    try:
        Trainer(_model(), Objective(loss="bce"), _ddp_config()).fit(torch.utils.data.DataLoader(x, batch_size=8))
    except ConfigError as exc:
        results["plain-loader"] = str(exc)
    sampler = torch.utils.data.distributed.DistributedSampler(torch.utils.data.TensorDataset(x), seed=0)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x), batch_size=8, sampler=sampler)
    results["sampler-loader"] = [h["loss"] for h in Trainer(_model(), Objective(loss="bce"), _ddp_config()).fit(loader)]
    torch.save(results, f"{out}.{rank}")
    # Both ranks leave together: a rank exiting while its peer still talks to it aborts gloo.
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()


@pytest.fixture(scope="module")
def ddp_results(tmp_path_factory):
    """What each of two gloo ranks trained, for every case of DDP_CASES."""
    out = tmp_path_factory.mktemp("ddp") / "ranks"
    torch.multiprocessing.spawn(_ddp_worker, args=(2, _free_port(), str(out)), nprocs=2, join=True)
    return [torch.load(f"{out}.{rank}", weights_only=True) for rank in range(2)]


@pytest.mark.slow
@pytest.mark.parametrize("case", DDP_CASES)
def test_two_process_ddp_matches_single_process(ddp_results, case):
    """``batch_size`` is global: two ranks at batch 16 have the loss curve and weights of one process at 16."""
    single = Trainer(_model(), Objective(loss="bce"), _ddp_config())
    history = single.fit(_ddp_data(case))
    for rank in ddp_results:
        # each rank computes half of every batch (the one sample of N=97's last batch: rank 0, and rank 1 a stand-in)
        assert rank[case]["seen"] == len(history) * (48 + case.endswith("97"))
        torch.testing.assert_close(rank[case]["loss"], [h["loss"] for h in history], rtol=1e-5, atol=1e-6)
        for key, value in single.module.state_dict().items():
            torch.testing.assert_close(rank[case]["weights"][key], value, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_ddp_needs_a_distributed_sampler_in_a_dataloader(ddp_results):
    for rank in ddp_results:
        assert "DistributedSampler" in rank["plain-loader"] and "pass the Dataset itself" in rank["plain-loader"]
        assert len(rank["sampler-loader"]) == 3 and rank["sampler-loader"] == ddp_results[0]["sampler-loader"]


@pytest.mark.parametrize("n", [1, 5, 16, 96, 97])
@pytest.mark.parametrize("world", [2, 3])
def test_ranks_split_every_batch_and_take_the_same_steps(n, world):
    """The shares of all ranks make up each global batch; their weights make DDP's mean the batch's mean."""
    trainer = Trainer(_model(), Objective(loss="bce"), _config(batch_size=16))
    single = [idx.tolist() for idx, _ in trainer._train_steps(n, torch.device("cpu"))]
    ranks = []
    for rank in range(world):
        trainer._generator.manual_seed(0)
        trainer.dist = DistContext(rank, world)
        ranks.append(list(trainer._train_steps(n, torch.device("cpu"))))
    trainer._generator.manual_seed(0)
    trainer.dist = DistContext()
    assert single == [idx.tolist() for idx, _ in trainer._train_steps(n, torch.device("cpu"))]
    assert all(len(steps) == len(single) for steps in ranks)
    for step, batch in enumerate(single):
        shares = [ranks[r][step] for r in range(world)]
        real = [idx.tolist() for idx, w in shares if w > 0]
        assert sorted(sum(real, [])) == sorted(batch)
        # DDP averages the ranks' gradients: w_r * mean_r / world sums to the batch mean when w_r = n_r * world / B
        assert all(w == pytest.approx(len(idx) * world / len(batch)) for idx, w in shares if w > 0)


def test_flush_denormal_probe_reads_the_setting():
    try:
        for flag in (True, False):
            assert torch.set_flush_denormal(flag) or not flag  # x86 and recent ARM support it
            assert flush_denormal_enabled() is flag
    finally:
        torch.set_flush_denormal(False)


class _Boom(Callback):
    def on_epoch_end(self, trainer, epoch, logs):
        raise RuntimeError("boom")


@pytest.mark.parametrize("flush_before", [False, True])
@pytest.mark.parametrize("fails", [False, True])
def test_threads_and_flush_denormal_only_while_training(flush_before, fails):
    """Set for fit (and evaluate) only: the caller's values come back afterwards, also when fit raises."""
    seen = {}

    class Probe(Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            seen.update(threads=torch.get_num_threads(), flush=flush_denormal_enabled())

    threads = torch.get_num_threads()
    torch.set_flush_denormal(flush_before)
    try:
        callbacks = [Probe(), _Boom()] if fails else [Probe()]
        trainer = Trainer(_model(), Objective(loss="bce"), _config(epochs=1, num_threads=threads + 1), callbacks=callbacks)
        assert torch.get_num_threads() == threads  # constructing a trainer changes nothing
        if fails:
            with pytest.raises(RuntimeError, match="boom"):
                trainer.fit(_data())
        else:
            trainer.fit(_data())
        assert seen == {"threads": threads + 1, "flush": True}
        assert torch.get_num_threads() == threads
        assert flush_denormal_enabled() is flush_before
        trainer.evaluate(_data())
        assert torch.get_num_threads() == threads and flush_denormal_enabled() is flush_before
    finally:
        torch.set_flush_denormal(False)
        torch.set_num_threads(threads)


@pytest.mark.parametrize("others, cores, expected", [(0.0, 2, 2), (0.2, 2, 2), (0.5, 2, 1), (1.0, 2, 1), (5.0, 2, 1),
                                                     (1.0, 8, 7), (0.0, 1, 1)])
def test_thread_count_follows_the_cores_other_processes_leave_free(others, cores, expected, monkeypatch):
    """One thread per idle core: a thread sharing a core with a busy process makes every barrier wait for it."""
    from deepae.train import _cpu

    meter = _cpu.CoreMeter()
    monkeypatch.setattr(meter, "cores", list(range(cores)))
    monkeypatch.setattr(meter, "others", lambda: others)
    assert meter.free_threads() == expected


def test_thread_policy_adapts_each_epoch_unless_a_count_is_given(monkeypatch):
    from deepae.train import _cpu

    loads = iter([1.0, 0.0, 1.0, 0.0])  # busy before training, idle in epoch 1, busy in epoch 2, idle in 3
    monkeypatch.setattr(_cpu.CoreMeter, "others", lambda self: next(loads))
    monkeypatch.setattr(_cpu, "cpu_cores", lambda: [0, 1])
    monkeypatch.setattr(_cpu, "_METER", None)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    threads = torch.get_num_threads()
    try:
        trainer = Trainer(_model(), Objective(loss="bce"), _config(epochs=3))
        trainer.fit(_data())
        assert trainer.threads.used == [1, 2, 1]
        monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the user's choice wins, as does TrainConfig.num_threads
        trainer = Trainer(_model(), Objective(loss="bce"), _config(epochs=2))
        trainer.fit(_data())
        assert trainer.threads.used == [1, 1]
    finally:
        torch.set_num_threads(threads)
