"""Optimizers and learning-rate schedules by name, with their real default hyperparameters."""

from __future__ import annotations

from typing import Any, Iterable

import torch

from ..errors import ConfigError

# name -> (class, defaults). Adadelta's lr=1.0, rho=0.95, eps=1e-7 are Keras 2's defaults, the
# setting the Keras autoencoder tutorial's numbers were obtained with (Keras 3 changed its
# default lr to 0.001, which leaves that tutorial's model near BCE 0.68 after 50 epochs).
OPTIMIZERS: dict[str, tuple[type[torch.optim.Optimizer], dict[str, Any]]] = {
    "adadelta": (torch.optim.Adadelta, {"lr": 1.0, "rho": 0.95, "eps": 1e-7}),
    "adam": (torch.optim.Adam, {"lr": 1e-3}),
    "adamw": (torch.optim.AdamW, {"lr": 1e-3, "weight_decay": 1e-2}),
    "sgd": (torch.optim.SGD, {"lr": 0.1, "momentum": 0.9}),
    "rmsprop": (torch.optim.RMSprop, {"lr": 1e-3}),
    "adagrad": (torch.optim.Adagrad, {"lr": 1e-2}),
}

SCHEDULERS = ("constant", "cosine", "step", "exponential", "plateau", "onecycle")


def build_optimizer(
    name: str, params: Iterable[torch.nn.Parameter], lr: float | None = None, **overrides: Any
) -> torch.optim.Optimizer:
    """``name``'s optimizer over ``params``; ``lr=None`` keeps that optimizer's default."""
    try:
        cls, defaults = OPTIMIZERS[name]
    except KeyError:
        raise ConfigError(f"optimizer={name!r}; expected one of {sorted(OPTIMIZERS)}") from None
    kwargs = {**defaults, **overrides}
    if lr is not None:
        if not lr > 0:
            raise ConfigError(f"lr={lr!r}; expected a learning rate > 0")
        kwargs["lr"] = lr
    params = [p for p in params if p.requires_grad]
    if not params:
        raise ConfigError("every parameter is frozen; nothing to train (check freeze=...)")
    try:
        return cls(params, **kwargs)
    except TypeError as exc:
        raise ConfigError(f"optimizer_params={overrides!r} do not fit {cls.__name__}: {exc}") from None


def build_scheduler(
    name: str | None, optimizer: torch.optim.Optimizer, epochs: int, steps_per_epoch: int, **params: Any
) -> tuple[Any, str]:
    """Return ``(scheduler, when)`` with ``when`` one of "epoch", "step", "metric" or "never"."""
    if name in (None, "constant"):
        return None, "never"
    sched = torch.optim.lr_scheduler
    if name == "cosine":
        return sched.CosineAnnealingLR(optimizer, T_max=max(epochs, 1), **params), "epoch"
    if name == "step":
        params.setdefault("step_size", max(epochs // 3, 1))
        return sched.StepLR(optimizer, **params), "epoch"
    if name == "exponential":
        params.setdefault("gamma", 0.95)
        return sched.ExponentialLR(optimizer, **params), "epoch"
    if name == "plateau":
        return sched.ReduceLROnPlateau(optimizer, **params), "metric"
    if name == "onecycle":
        max_lr = params.pop("max_lr", optimizer.param_groups[0]["lr"])
        return sched.OneCycleLR(optimizer, max_lr=max_lr, epochs=epochs, steps_per_epoch=steps_per_epoch, **params), "step"
    raise ConfigError(f"scheduler={name!r}; expected one of {list(SCHEDULERS)}")
