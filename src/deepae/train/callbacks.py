"""Trainer extension points: progress, early stopping, periodic checkpoints."""

from __future__ import annotations

import copy
import math
import time
from typing import Any, Callable

from ..errors import CheckpointError


class Callback:
    """Hooks the Trainer calls; override the ones you need."""

    order = 0  # the Trainer calls callbacks by increasing order, and in the order given for equal ones

    def on_train_begin(self, trainer) -> None:
        pass

    def on_epoch_end(self, trainer, epoch: int, logs: dict[str, float]) -> None:
        pass

    def on_train_end(self, trainer) -> None:
        pass

    def state_dict(self) -> dict[str, Any] | None:
        """What a resumed run needs to continue exactly (tensors and JSON values); None: nothing."""
        return None

    def load_state_dict(self, trainer, state: dict[str, Any]) -> None:
        """Take back ``state_dict()``; the Trainer calls it after ``on_train_begin`` when resuming."""


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    ``restore_best`` puts back the weights of the best epoch when training stops.
    ``monitor`` falls back from "val_loss" to "loss" when no validation data is given.
    """

    def __init__(self, patience: int = 5, monitor: str = "val_loss", min_delta: float = 0.0, restore_best: bool = True):
        self.patience, self.monitor, self.min_delta, self.restore_best = patience, monitor, min_delta, restore_best

    def on_train_begin(self, trainer) -> None:
        self.best, self.wait, self.best_state, self.best_epoch = math.inf, 0, None, None

    def on_epoch_end(self, trainer, epoch: int, logs: dict[str, float]) -> None:
        value = logs.get(self.monitor, logs.get("loss"))
        if value < self.best - self.min_delta:
            self.best, self.wait, self.best_epoch = value, 0, epoch
            if self.restore_best:
                self.best_state = copy.deepcopy(trainer.module.state_dict())
        else:
            self.wait += 1
            if self.wait >= self.patience:
                trainer.stop_training = True

    def on_train_end(self, trainer) -> None:
        if self.restore_best and self.best_state is not None:
            trainer.module.load_state_dict(self.best_state)

    def state_dict(self) -> dict[str, Any]:
        # best is inf before the first epoch: JSON has no infinity, so it travels as None
        return {"best": self.best if math.isfinite(self.best) else None, "wait": self.wait, "best_epoch": self.best_epoch,
                "best_state": self.best_state}

    def load_state_dict(self, trainer, state: dict[str, Any]) -> None:
        try:
            self.best = math.inf if state["best"] is None else float(state["best"])
            self.wait, self.best_epoch = int(state["wait"]), state["best_epoch"]
            self.best_state = state.get("best_state")
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"the saved early-stopping record is damaged ({type(exc).__name__}: {exc})") from None
        # Saved by the epoch that decided to stop (the run was killed before its folder was written): stay stopped.
        trainer.stop_training = self.wait >= self.patience


class ProgressBar(Callback):
    """One rich progress bar over epochs showing the latest losses."""

    def on_train_begin(self, trainer) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("[bold]training"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            TextColumn("{task.fields[logs]}"), transient=False,
        )
        self.progress.start()
        self.task = self.progress.add_task("train", total=trainer.config.epochs, completed=trainer.epoch, logs="")

    def on_epoch_end(self, trainer, epoch: int, logs: dict[str, float]) -> None:
        shown = " ".join(f"{k}={v:.4f}" for k, v in logs.items() if k in ("loss", "val_loss"))
        self.progress.update(self.task, completed=epoch + 1, logs=shown)

    def on_train_end(self, trainer) -> None:
        self.progress.stop()


class LambdaCallback(Callback):
    """Call ``fn(trainer, epoch, logs)`` after every ``every`` epochs (e.g. to save a checkpoint)."""

    def __init__(self, fn: Callable[[Any, int, dict[str, float]], None], every: int = 1):
        self.fn, self.every = fn, every

    def on_epoch_end(self, trainer, epoch: int, logs: dict[str, float]) -> None:
        if (epoch + 1) % self.every == 0:
            self.fn(trainer, epoch, logs)


class TimeLimit(Callback):
    """Stop at the end of the first epoch that finishes past ``seconds`` of training (a time budget).

    ``anneal=True`` also decays every learning rate along a cosine of the time spent, from its
    value at the start to ``min_ratio`` of it at the budget's end: the schedule a known number of
    epochs would give, for training that is bounded by time instead.
    """

    def __init__(self, seconds: float, anneal: bool = False, min_ratio: float = 0.01):
        if not seconds > 0:
            raise ValueError(f"seconds={seconds!r}; expected a time budget > 0")
        self.seconds, self.anneal, self.min_ratio = float(seconds), anneal, min_ratio
        self._start = 0.0
        self._base: list[float] = []

    def on_train_begin(self, trainer) -> None:
        self._start = time.perf_counter()
        self._base = [g["lr"] for g in trainer.optimizer.param_groups]

    def on_epoch_end(self, trainer, epoch: int, logs: dict[str, float]) -> None:
        done = (time.perf_counter() - self._start) / self.seconds
        if done >= 1:
            trainer.stop_training = True
        elif self.anneal:
            factor = self.min_ratio + (1 - self.min_ratio) * 0.5 * (1 + math.cos(math.pi * done))
            for group, base in zip(trainer.optimizer.param_groups, self._base):
                group["lr"] = base * factor


class Checkpoint(Callback):
    """Save resumable state every ``every`` epochs with ``save_checkpoint`` (see train.checkpoint); rank 0 only.

    ``write(folder, trainer)`` serializes one complete checkpoint into ``folder`` (through
    ``save_model``/``save_trainer_state``/``write_record``); the files reach the disk in the
    background while the next epoch trains, and training ends only once the last save is complete.
    """

    def __init__(self, run_dir, write: Callable[[Any, Any], None], every: int = 1):
        if not (isinstance(every, int) and every >= 1):
            raise ValueError(f"every={every!r}; expected a number of epochs >= 1")
        self.run_dir, self.write, self.every = run_dir, write, every
        self.seconds = 0.0  # time the training thread spent on saves between epochs (serializing, waiting for the last)
        self.final_wait = 0.0  # time training waited at its end for the last save to reach the disk
        self._saving = None

    order = 100  # after every other callback: the state it saves includes their decisions on the epoch

    def on_epoch_end(self, trainer, epoch: int, logs: dict[str, float]) -> None:
        if (epoch + 1) % self.every or not trainer.dist.is_main:
            return
        from .checkpoint import save_checkpoint

        start = time.perf_counter()
        self._wait()
        self._saving = save_checkpoint(self.run_dir, epoch + 1, lambda folder: self.write(folder, trainer), wait=False)
        self.seconds += time.perf_counter() - start

    def on_train_end(self, trainer) -> None:
        start = time.perf_counter()
        self._wait()
        self.final_wait += time.perf_counter() - start

    def _wait(self) -> None:
        saving, self._saving = self._saving, None
        if saving is not None:
            saving.wait()
