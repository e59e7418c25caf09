"""Train into a run folder, resume one, and the seed's demo."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from .. import data as _data
from .. import metrics as _metrics
from .. import report as _report
from .._io import atomic_write_bytes, atomic_write_json, versions
from ..api import AutoEncoder
from ..errors import CheckpointError, ConfigError, DataError
from ..presets import AUTO, AUTO_VALIDATION_FRACTION, resolve_validation_fraction
from ..report.run_figures import loss_figure, reconstruction_figure
from ..train import Checkpoint, latest_checkpoint, load_trainer_state, remove_checkpoints, resolve_device
from ..train.checkpoint import CHECKPOINT_DIR, CONFIG_FILE, STATE_FILE, STATE_META_FILE, write_record
from .config import resolve_params
from .describe import epoch_timing
from .export import input_clash
from .folder import DERIVED_FILES, LOSS_FIGURE, METRICS_FILE, RECONSTRUCTION_FIGURE, Run, open_run, prepare_run_dir
from .spec import HOLDOUT_FRACTION, HOLDOUT_SEED, DataSpec, Notify, load_demo_data, quiet

KERAS_NOTE = (
    "The seed's Keras code, run as written on Keras 3, stays near BCE 0.68: Keras 3's Adadelta "
    "defaults to learning_rate=0.001 (Keras 2 used 1.0). deepae uses Keras 2's settings: "
    "lr=1.0, rho=0.95, eps=1e-7."
)


def _watches_validation(params: dict[str, Any]) -> bool:
    """Early stopping (the default, epochs="auto") and the plateau schedule act on the validation loss: never the test set's."""
    return (params.get("epochs", AUTO) == AUTO or params.get("early_stopping") not in (None, AUTO)
            or params.get("scheduler") == "plateau")


def train(
    params: dict[str, Any],
    data: DataSpec,
    out: str | os.PathLike,
    *,
    preset: str | None = None,
    force: bool = False,
    notify: Notify = quiet,
    checkpoint_every: int = 1,
) -> Run:
    """Train an ``AutoEncoder(**params)`` on ``data`` and write a run folder to ``out``.

    The test split is scored after every epoch (the "test" curve, as in the Keras tutorial) unless a
    validation fraction is set or early stopping / a plateau schedule would then select on it.
    Every ``checkpoint_every`` epochs (0: never) the state to resume from is saved under
    ``out/checkpoint`` (see ``train.save_checkpoint``): ``resume(out)`` continues a killed run.
    """
    _check_epochs(params.get("epochs", AutoEncoder().epochs))
    _check_every(checkpoint_every)
    if input_clash(out, [data.spec]) is not None:
        raise ConfigError(f"output '{out}' would mix the run with its data '{data.spec}' (--force or not): choose an "
                          "output outside it")
    out = prepare_run_dir(out, force)  # before anything slow: a refused folder fails at once
    remove_checkpoints(out)  # with --force: the state of the run this one replaces must never be resumed
    estimator = AutoEncoder(**params)
    notify(f"loading {data.spec} ...")
    train_set, test_set = data.splits()
    use_test = test_set is not None and not params.get("validation_fraction") and not _watches_validation(params)
    held_out = resolve_validation_fraction(params.get("validation_fraction", AUTO), params.get("epochs", AUTO))
    validation = "test" if use_test else ("held-out training data" if held_out else None)
    notify(f"training {estimator.model} on {len(train_set):,} samples of shape {list(train_set.sample_shape)} ...")
    callbacks = _checkpointing(estimator, out, data, preset, validation, checkpoint_every)
    estimator.fit(train_set.x, validation_data=test_set.x if use_test else None, callbacks=callbacks)
    run = Run(out, estimator, {}, train_set.sample_shape)
    if _is_main_process():  # under torchrun the ranks hold the same model: rank 0 writes it
        _write_run(run, data, train_set, test_set, preset=preset, validation=validation, notify=notify)
        remove_checkpoints(out)  # the run folder now holds the finished state, optimizer included
    return run


def resume(
    path: str | os.PathLike, epochs: int | None = None, device: str | None = None, notify: Notify = quiet,
    progress: bool = True, checkpoint_every: int = 1,
) -> Run:
    """Continue a run's training up to ``epochs`` (its own setting when None) and rewrite its folder.

    A run killed while training continues from its latest per-epoch checkpoint, exactly as it would
    have gone on (same weights, bit for bit, on the same CPU); a finished run continues from its
    folder when ``epochs`` asks for more.
    """
    path = Path(path)
    _check_every(checkpoint_every)
    latest = latest_checkpoint(path) if path.is_dir() else None
    if latest is None and path.is_dir() and not (path / CONFIG_FILE).is_file():
        raise CheckpointError(
            f"'{path}' is not a deepae run folder, or its training stopped before the first saved epoch: it holds neither "
            f"{CONFIG_FILE} nor {CHECKPOINT_DIR}/; train it again (state is saved every --checkpoint-every epochs)"
        )
    run = open_run(latest[0] if latest else path)
    run.path = path  # read from the checkpoint, written to the run folder
    estimator = run.estimator
    done = len(run.history)
    if latest is None and run.metrics.get("stopped_early"):
        raise ConfigError(
            f"run '{path}' stopped early after {done} epochs (no improvement for {estimator.early_stopping}); it holds "
            "the best epoch's weights, not the last one's, so it cannot continue: train a new run instead"
        )
    was_auto = estimator.epochs == AUTO
    if epochs is not None:
        _check_epochs(epochs)
        estimator.set_params(epochs=epochs)
    if epochs is not None and was_auto and getattr(estimator, "train_config_", None) is not None:
        # an "auto" run given --epochs keeps the hold-out and patience it trained with
        estimator.set_params(validation_fraction=AUTO_VALIDATION_FRACTION, early_stopping=estimator.train_config_.early_stopping)
    target = estimator.train_config_.epochs if estimator.epochs == AUTO else estimator.epochs
    finishing = latest is not None and target <= done  # killed while writing its finished run folder
    if target <= done and not finishing:
        state = "has finished" if epochs is None else f"has trained {done} epochs, and --epochs {epochs} adds none"
        raise ConfigError(
            f"run '{path}' {state}: --epochs is the new total, so pass more than {done} to train further, "
            f"e.g. deepae train --resume {path} --epochs {done + max(done, 1)}"
        )
    try:
        load_trainer_state(latest[0] if latest else path)  # before loading data: a damaged state file fails at once
    except CheckpointError as exc:
        raise CheckpointError(f"cannot resume '{path}': {exc}; train a new run instead of resuming this one") from None
    estimator.set_params(verbose=progress, **({"device": device} if device else {}))
    if run.data is None:
        raise ConfigError(f"cannot resume '{path}': it does not record its data ({METRICS_FILE} is missing)")
    notify(f"loading {run.data.spec} ...")
    train_set, test_set = run.data.splits()
    use_test = run.metrics.get("validation") == "test" and test_set is not None
    preset, validation = run.metrics.get("preset"), run.metrics.get("validation")
    if not finishing:
        notify(f"resuming at epoch {done + 1} of {target} ...")
        callbacks = _checkpointing(estimator, path, run.data, preset, validation, checkpoint_every)
        estimator.fit(train_set.x, resume=True, validation_data=test_set.x if use_test else None, callbacks=callbacks)
    if not _is_main_process():
        return run
    _write_run(run, run.data, train_set, test_set, preset=preset, validation=validation, notify=notify)
    if finishing:  # the estimator was loaded, not fitted, so save() wrote no optimizer state: take the checkpoint's
        for name in (STATE_FILE, STATE_META_FILE):  # the state, then the file holding its digest
            atomic_write_bytes(path / name, (latest[0] / name).read_bytes())
    remove_checkpoints(path)
    return run


def _checkpointing(
    est: AutoEncoder, out: Path, data: DataSpec, preset: str | None, validation: str | None, every: int
) -> tuple[Checkpoint, ...]:
    """The callback that saves a resumable run (estimator + optimizer state, and its data) every ``every`` epochs."""
    if not every:
        return ()

    def write(folder: Path, trainer) -> None:
        est.history_ = list(trainer.history)  # fit sets it only when training ends
        est.save(folder)
        record = {"data": data.to_dict(), "preset": preset, "validation": validation, "epochs": trainer.epoch}
        write_record(folder / METRICS_FILE, record)

    return (Checkpoint(out, write, every),)


def _is_main_process() -> bool:
    """Rank 0 under torchrun (which sets RANK), or a single process."""
    return os.environ.get("RANK", "0") == "0"


def _check_every(every: Any) -> None:
    if not isinstance(every, int) or isinstance(every, bool) or every < 0:
        raise ConfigError(f"checkpoint_every={every!r}; expected a number of epochs >= 1, or 0 for no checkpoints")


def demo(
    data_dir: str | os.PathLike | None = None,
    epochs: int = 50,
    out: str | os.PathLike = "runs/demo",
    force: bool = False,
    seed: int | None = 0,
    progress: bool = True,
    notify: Notify = quiet,
    warn: Notify = quiet,
) -> Run:
    """The seed's demo: preset "seed-demo" on MNIST (or the embedded digits), test set as validation.

    ``notify`` gets progress messages, ``warn`` the notice when MNIST is unavailable.
    """
    _check_epochs(epochs)
    prepare_run_dir(out, force)
    notify("looking for MNIST ...")
    data = load_demo_data(data_dir, warn)
    params, _, _ = resolve_params("seed-demo", overrides={"epochs": epochs, "random_state": seed, "verbose": progress})
    return train(params, data, out, preset="seed-demo", force=True, notify=notify)


def _check_epochs(epochs: Any) -> None:
    """A run trains at least one epoch: with none it would hold an untrained model and empty curves."""
    if epochs == AUTO:  # early stopping within the auto epoch cap
        return
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
        raise ConfigError(f"epochs={epochs!r}; a run trains at least 1 epoch")


def _write_run(
    run: Run, data: DataSpec, train_set: _data.Dataset, test_set: _data.Dataset | None, *, preset: str | None,
    validation: str | None, notify: Notify,
) -> None:
    est, out = run.estimator, run.path
    test_metrics = None
    if test_set is not None:  # first: a diverged model (NaN reconstructions) must not replace the run in `out`
        try:
            test_metrics = _metrics.reconstruction_metrics(test_set.x, est.reconstruct(test_set.x))
        except DataError as err:
            remove_checkpoints(out)
            raise DataError(f"the training diverged ({err}); try a lower --lr. The run folder '{out}' was left as it "
                            "was") from None
    notify(f"writing {out} ...")
    est.save(out)
    history = est.history_
    timing = epoch_timing(history) or {}
    median = timing.get("median_per_epoch")  # epoch 1 (warm-up) left out when there are more; every epoch across resumes
    metrics: dict[str, Any] = {
        "model": est.model,
        "preset": preset,
        "data": {
            **data.to_dict(), "name": train_set.name, "source": train_set.source, "sample_shape": list(train_set.sample_shape),
            "n_train": len(train_set), "n_test": 0 if test_set is None else len(test_set),
            "test": "test split" if data.has_splits else f"{HOLDOUT_FRACTION:.0%} held out (seed {HOLDOUT_SEED})",
        },
        "epochs": len(history),
        "stopped_early": len(history) < est.train_config_.epochs,  # early stopping: the model is the best epoch's
        "loss": est.loss_,
        "validation": validation,
        "final": {k: v for k, v in (history[-1] if history else {}).items() if k not in ("time", "lr")},
        "test": None,
        "timing": {
            "median_epoch_seconds": median,
            "samples_per_second": len(train_set) / median if median else None,
            "total_seconds": timing.get("total", 0.0),
            "device": str(resolve_device(est.device)),
        },
        "versions": versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if test_metrics is not None:
        metrics["test"] = test_metrics
    run.metrics = metrics
    atomic_write_json(out / METRICS_FILE, metrics)
    atomic_write_bytes(out / LOSS_FIGURE, _report.to_png(loss_figure(run)))
    if test_set is not None:
        figure = reconstruction_figure(run, test_set)
        if figure is not None:
            atomic_write_bytes(out / RECONSTRUCTION_FIGURE, _report.to_png(figure))
    for name in DERIVED_FILES:  # they describe the model this run replaced
        (out / name).unlink(missing_ok=True)
