"""Trainer extension points: progress, early stopping, periodic checkpoints."""

from __future__ import annotations

import copy
import math
import time
from typing import Any, Callable


class Callback:
    """Hooks the Trainer calls; override the ones you need."""

    def on_train_begin(self, trainer) -> None:
        pass

    def on_epoch_end(self, trainer, epoch: int, logs: dict[str, float]) -> None:
        pass

    def on_train_end(self, trainer) -> None:
        pass


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
