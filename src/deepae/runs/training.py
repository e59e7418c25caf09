"""Train into a run folder, resume one, and the seed's demo."""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

from .. import data as _data
from .. import metrics as _metrics
from .. import report as _report
from .._io import atomic_write_bytes, atomic_write_json, versions
from ..api import AutoEncoder
from ..errors import CheckpointError, ConfigError
from ..report.run_figures import loss_figure, reconstruction_figure
from ..train import load_trainer_state, resolve_device
from .config import resolve_params
from .folder import DERIVED_FILES, LOSS_FIGURE, METRICS_FILE, RECONSTRUCTION_FIGURE, Run, open_run, prepare_run_dir
from .spec import HOLDOUT_FRACTION, HOLDOUT_SEED, DataSpec, Notify, load_demo_data, quiet

KERAS_NOTE = (
    "The seed's Keras code, run as written on Keras 3, stays near BCE 0.68: Keras 3's Adadelta "
    "defaults to learning_rate=0.001 (Keras 2 used 1.0). deepae uses Keras 2's settings: "
    "lr=1.0, rho=0.95, eps=1e-7."
)


def _watches_validation(params: dict[str, Any]) -> bool:
    """Early stopping and the plateau schedule act on the validation loss: it must not be the test set's."""
    return bool(params.get("early_stopping")) or params.get("scheduler") == "plateau"


def train(
    params: dict[str, Any],
    data: DataSpec,
    out: str | os.PathLike,
    *,
    preset: str | None = None,
    force: bool = False,
    notify: Notify = quiet,
) -> Run:
    """Train an ``AutoEncoder(**params)`` on ``data`` and write a run folder to ``out``.

    The test split is scored after every epoch (the "test" curve, as in the Keras tutorial) unless a
    validation fraction is set or early stopping / a plateau schedule would then select on it.
    """
    _check_epochs(params.get("epochs", AutoEncoder().epochs))
    out = prepare_run_dir(out, force)  # before anything slow: a refused folder fails at once
    estimator = AutoEncoder(**params)
    notify(f"loading {data.spec} ...")
    train_set, test_set = data.splits()
    use_test = test_set is not None and not params.get("validation_fraction") and not _watches_validation(params)
    notify(f"training {estimator.model} on {len(train_set):,} samples of shape {list(train_set.sample_shape)} ...")
    estimator.fit(train_set.x, validation_data=test_set.x if use_test else None)
    validation = "test" if use_test else ("held-out training data" if params.get("validation_fraction") else None)
    run = Run(out, estimator, {}, train_set.sample_shape)
    _write_run(run, data, train_set, test_set, preset=preset, validation=validation, notify=notify)
    return run


def resume(
    path: str | os.PathLike, epochs: int | None = None, device: str | None = None, notify: Notify = quiet,
    progress: bool = True,
) -> Run:
    """Continue a run's training up to ``epochs`` (its own setting when None) and rewrite its folder."""
    run = open_run(path)
    estimator = run.estimator
    done = len(run.history)
    if epochs is not None:
        _check_epochs(epochs)
        estimator.set_params(epochs=epochs)
    if estimator.epochs <= done:
        state = "has finished" if epochs is None else f"has trained {done} epochs, and --epochs {epochs} adds none"
        raise ConfigError(
            f"run '{run.path}' {state}: --epochs is the new total, so pass more than {done} to train further, "
            f"e.g. deepae train --resume {run.path} --epochs {done + max(done, 1)}"
        )
    try:
        load_trainer_state(run.path)  # before loading data: a damaged state file fails at once
    except CheckpointError as exc:
        raise CheckpointError(f"cannot resume '{run.path}': {exc}; train a new run instead of resuming this one") from None
    estimator.set_params(verbose=progress, **({"device": device} if device else {}))
    if run.data is None:
        raise ConfigError(f"cannot resume '{run.path}': it does not record its data ({METRICS_FILE} is missing)")
    notify(f"loading {run.data.spec} ...")
    train_set, test_set = run.data.splits()
    use_test = run.metrics.get("validation") == "test" and test_set is not None
    notify(f"resuming at epoch {done + 1} of {estimator.epochs} ...")
    estimator.fit(train_set.x, resume=True, validation_data=test_set.x if use_test else None)
    _write_run(run, run.data, train_set, test_set, preset=run.metrics.get("preset"), validation=run.metrics.get("validation"),
               notify=notify)
    return run


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
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
        raise ConfigError(f"epochs={epochs!r}; a run trains at least 1 epoch")


def _write_run(
    run: Run, data: DataSpec, train_set: _data.Dataset, test_set: _data.Dataset | None, *, preset: str | None,
    validation: str | None, notify: Notify,
) -> None:
    est, out = run.estimator, run.path
    notify(f"writing {out} ...")
    est.save(out)
    history = est.history_
    times = [h["time"] for h in history if "time" in h]
    median = statistics.median(times) if times else None
    metrics: dict[str, Any] = {
        "model": est.model,
        "preset": preset,
        "data": {
            **data.to_dict(), "name": train_set.name, "source": train_set.source, "sample_shape": list(train_set.sample_shape),
            "n_train": len(train_set), "n_test": 0 if test_set is None else len(test_set),
            "test": "test split" if data.has_splits else f"{HOLDOUT_FRACTION:.0%} held out (seed {HOLDOUT_SEED})",
        },
        "epochs": len(history),
        "loss": est.loss_,
        "validation": validation,
        "final": {k: v for k, v in (history[-1] if history else {}).items() if k not in ("time", "lr")},
        "test": None,
        "timing": {
            "median_epoch_seconds": median,
            "samples_per_second": len(train_set) / median if median else None,
            "total_seconds": sum(times),
            "device": str(resolve_device(est.device)),
        },
        "versions": versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if test_set is not None:
        metrics["test"] = _metrics.reconstruction_metrics(test_set.x, est.reconstruct(test_set.x))
    run.metrics = metrics
    atomic_write_json(out / METRICS_FILE, metrics)
    atomic_write_bytes(out / LOSS_FIGURE, _report.to_png(loss_figure(run)))
    if test_set is not None:
        figure = reconstruction_figure(run, test_set)
        if figure is not None:
            atomic_write_bytes(out / RECONSTRUCTION_FIGURE, _report.to_png(figure))
    for name in DERIVED_FILES:  # they describe the model this run replaced
        (out / name).unlink(missing_ok=True)
