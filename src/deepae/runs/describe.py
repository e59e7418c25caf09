"""Descriptions for people: a model's blocks and shapes, a history's summary, the models and presets."""

from __future__ import annotations

import statistics
from typing import Any

import numpy as np
import torch

from ..api import AutoEncoder
from ..presets import PRESETS, resolve_model
from ..registry import get_model_class, list_models
from ..train import OPTIMIZERS


def _block_text(module: torch.nn.Module | None) -> str:
    if module is None:
        return ""
    parts = list(module.children()) if isinstance(module, torch.nn.Sequential) else [module]
    out = []
    for m in parts:
        if isinstance(m, torch.nn.Linear):
            out.append(f"Linear {m.in_features}->{m.out_features}")
        elif isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            out.append(f"{type(m).__name__} {m.in_channels}->{m.out_channels} k{m.kernel_size[0]}")
        elif isinstance(m, torch.nn.Sequential):
            out.append(_block_text(m))
        else:
            out.append(type(m).__name__)
    return " + ".join(out)


def architecture(model: torch.nn.Module) -> list[dict[str, Any]]:
    """One row per block, in order: name, layers, output shape (one sample), parameter count."""
    model = model.eval()
    probe = torch.zeros(1, *model.input_shape, device=next(model.parameters()).device)
    with torch.no_grad():
        outputs = model.layer_outputs(probe)
    rows = [{"name": "input", "layers": "", "shape": list(model.input_shape), "params": 0}]
    modules = dict(model.named_modules())
    for name, out in outputs.items():
        module = modules.get(name)
        tensor = out[0] if isinstance(out, tuple) else out  # a Gaussian head gives (mu, logvar)
        params = sum(p.numel() for p in module.parameters()) if module is not None else 0
        rows.append({"name": name, "layers": _block_text(module) if module is not None else "",
                     "shape": list(tensor.shape[1:]), "params": params})
    return rows


def history_summary(history: list[dict[str, float]]) -> dict[str, Any]:
    """Epochs, first/last/best losses and time of a training history."""
    if not history:
        return {"epochs": 0}
    summary: dict[str, Any] = {"epochs": len(history)}
    for key in ("loss", "val_loss"):
        values = [h[key] for h in history if key in h]
        if values:
            best = int(np.argmin(values))
            summary[key] = {"first": values[0], "last": values[-1], "best": values[best], "best_epoch": best + 1}
    timing = epoch_timing(history)
    if timing:
        summary["seconds"] = timing
    return summary


def epoch_timing(history: list[dict[str, float]]) -> dict[str, Any] | None:
    """Training seconds of every epoch of ``history`` (all of them, across resumes): total and median.

    The median leaves out epoch 1, which carries the warm-up (allocations, kernel choices), when
    there are other epochs to take it from. None when no epoch was timed.
    """
    times = [h["time"] for h in history if "time" in h]
    if not times:
        return None
    steady = times[1:] if len(times) > 1 else times
    return {"total": sum(times), "median_per_epoch": statistics.median(steady), "epochs_timed": len(times),
            "warm_up_excluded": len(times) > 1}


def effective_lr(optimizer: str, lr: float | None, optimizer_params: dict | None = None) -> float | None:
    """The learning rate an optimizer runs with: ``lr``, else ``optimizer_params["lr"]``, else its default."""
    if lr is not None:
        return float(lr)
    if optimizer_params and optimizer_params.get("lr") is not None:
        return float(optimizer_params["lr"])
    default = OPTIMIZERS.get(optimizer, (None, {}))[1].get("lr")
    return None if default is None else float(default)


def training_settings(estimator: AutoEncoder) -> dict[str, Any]:
    """What a fitted estimator trained with, "auto" resolved: epochs (the cap), batch size, learning rate."""
    cfg = getattr(estimator, "train_config_", None)
    epochs = cfg.epochs if cfg is not None else estimator.epochs
    batch = cfg.batch_size if cfg is not None else estimator.batch_size
    patience = cfg.early_stopping if cfg is not None else estimator.early_stopping
    return {"epochs": epochs, "batch_size": batch, "early_stopping": patience,
            "lr": effective_lr(estimator.optimizer, estimator.lr, estimator.optimizer_params)}


# Shown in a report whatever their value; every other parameter only where it differs from the default.
ESSENTIAL_PARAMS = ("model", "code_size", "hidden", "loss", "optimizer", "lr", "epochs", "batch_size")


def parameters_that_matter(estimator: AutoEncoder) -> dict[str, Any]:
    """The estimator's essential parameters plus those set away from their defaults (``verbose`` aside)."""
    base = AutoEncoder().get_params()
    params = estimator.get_params()
    shown = {k: params[k] for k in ESSENTIAL_PARAMS}
    shown.update({k: v for k, v in params.items() if k not in shown and k != "verbose" and _differs(v, base.get(k))})
    shown["lr"] = effective_lr(estimator.optimizer, estimator.lr, estimator.optimizer_params)
    return shown


def _differs(value: Any, default: Any) -> bool:
    norm = (lambda v: list(v) if isinstance(v, tuple) else v)
    return norm(value) != norm(default)


_KEY_PARAMS = ("model", "code_size", "hidden", "loss", "optimizer", "lr", "epochs", "batch_size")


def describe_models() -> list[dict[str, Any]]:
    """Every registered model with its config defaults."""
    rows = []
    for name in list_models():
        cls = get_model_class(name)
        defaults = cls.config_class().to_dict()
        rows.append(
            {
                "name": name,
                "class": cls.__name__,
                "summary": (cls.__doc__ or "").strip().splitlines()[0].replace("``", ""),
                "defaults": defaults,
            }
        )
    return rows


def describe_presets() -> list[dict[str, Any]]:
    """Every preset: its key hyperparameters, the remaining ones, and where it comes from."""
    base = AutoEncoder().get_params()
    rows = []
    for name, preset in sorted(PRESETS.items()):
        params = {**{k: base[k] for k in _KEY_PARAMS}, **preset.params}
        params["lr"] = effective_lr(params["optimizer"], params["lr"], params.get("optimizer_params"))
        if params["hidden"] == "auto":
            cls = get_model_class(params["model"])
            params["hidden"] = resolve_model(cls, "auto", "auto").get(cls.hidden_param, ())
        extra = {k: v for k, v in preset.params.items() if k not in _KEY_PARAMS and v != base.get(k)}
        rows.append({"name": name, **{k: params[k] for k in _KEY_PARAMS}, "other": extra, "data": preset.data,
                     "description": preset.description, "source": preset.source})
    return rows
