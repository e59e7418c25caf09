"""Checkpoints: ``model.safetensors`` + ``config.json``, optimizer state for resuming, transfer.

No pickle anywhere: tensors go to safetensors, everything else to JSON, so loading a file never
runs code from it (a pickle renamed ``model.safetensors`` is refused as unreadable). Every file
is written to a temporary name in the same folder and renamed into place, so a crash leaves
either the old file or the new one, never half of one. The JSON beside each tensor file records
the file's SHA-256 (``weights_sha256`` in config.json, ``state_sha256`` in trainer.json); loading
checks it and names the file on a mismatch. Checkpoints from before the digests load unchecked.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from pathlib import Path
from typing import Any, Iterable

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from .._io import atomic_write_bytes, atomic_write_json, versions
from ..errors import CheckpointError, ConfigError
from ..registry import create_model

FORMAT = "deepae-checkpoint"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
STATE_FILE = "trainer.safetensors"
STATE_META_FILE = "trainer.json"
WEIGHTS_DIGEST = "weights_sha256"  # config.json: SHA-256 of model.safetensors
STATE_DIGEST = "state_sha256"  # trainer.json: SHA-256 of trainer.safetensors
_SHA256 = re.compile(r"[0-9a-f]{64}")
# The keys save_model writes into config.json besides the ``extra`` sections of its caller.
CHECKPOINT_KEYS = frozenset({"format", "format_version", WEIGHTS_DIGEST, "model", "versions", "saved_at"})


# -- model -----------------------------------------------------------------------------------
def save_model(directory: str | os.PathLike, model: torch.nn.Module, extra: dict[str, Any] | None = None) -> Path:
    """Write ``model.safetensors`` and ``config.json`` (model name + config, ``extra`` sections, versions)."""
    directory = Path(directory)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    weights = st_save(tensors, metadata={"format": FORMAT})
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        WEIGHTS_DIGEST: hashlib.sha256(weights).hexdigest(),
        "model": {"name": model.name, "config": model.config.to_dict()},
        **(extra or {}),
        "versions": versions(),
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    atomic_write_bytes(directory / WEIGHTS_FILE, weights)
    # config.json last: its presence marks a complete checkpoint.
    atomic_write_json(directory / CONFIG_FILE, config)
    return directory


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError) as exc:  # ValueError: bad JSON or bad UTF-8
        raise CheckpointError(f"cannot read '{path}': {exc}") from None


def read_config(directory: str | os.PathLike) -> dict[str, Any]:
    """The parsed ``config.json`` of a saved model, with clear errors for anything else."""
    directory = Path(directory)
    path = directory / CONFIG_FILE
    if not directory.exists():
        raise CheckpointError(f"model folder '{directory}' does not exist")
    if not path.is_file():
        raise CheckpointError(f"'{directory}' is not a deepae model: {CONFIG_FILE} is missing")
    config = _read_json(path)
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CheckpointError(
            f"'{path}' is not a deepae checkpoint (format={config.get('format') if isinstance(config, dict) else None!r})"
        )
    version = config.get("format_version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise CheckpointError(f"'{path}' has format_version {version!r}; expected an integer")
    if version > FORMAT_VERSION:
        raise CheckpointError(f"'{path}' has format_version {version}; this deepae reads up to {FORMAT_VERSION}")
    _check_digest(config, WEIGHTS_DIGEST, path)
    return config


def _check_digest(meta: dict[str, Any], key: str, path: Path) -> None:
    digest = meta.get(key)
    if digest is not None and not (isinstance(digest, str) and _SHA256.fullmatch(digest)):
        raise CheckpointError(f"'{path}': {key}={digest!r}; expected 64 lowercase hex digits (a SHA-256)")


def _read_tensors(path: Path, sha256: str | None = None) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file, checked against its recorded ``sha256`` when there is one."""
    if not path.is_file():
        raise CheckpointError(f"'{path}' is missing")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"cannot read weights from '{path}': {exc}") from None
    if sha256 is not None and hashlib.sha256(raw).hexdigest() != sha256:
        raise CheckpointError(
            f"'{path}' is not the file that was saved: its SHA-256 differs from the one recorded beside it "
            f"({sha256[:12]}...); it was changed or damaged (truncated copy, disk error); restore it or train again"
        )
    try:
        return st_load(raw)  # safetensors: a JSON header and raw tensor bytes, nothing that can run
    except (SafetensorError, ValueError) as exc:
        raise CheckpointError(f"cannot read weights from '{path}': {exc}") from None


def build_model(config: dict[str, Any]) -> torch.nn.Module:
    """The model described by a checkpoint's ``config["model"]`` section, freshly initialised."""
    try:
        name, values = config["model"]["name"], config["model"]["config"]
    except (KeyError, TypeError):
        raise CheckpointError("config.json has no 'model' section with 'name' and 'config'") from None
    if not isinstance(name, str) or not isinstance(values, dict):
        raise CheckpointError("config.json's 'model' section needs a string 'name' and a 'config' table")
    try:
        return create_model(name, **values)
    except (ConfigError, TypeError, ValueError, OverflowError) as exc:  # a value of the wrong type fails in its check
        raise CheckpointError(f"config.json describes an invalid {name!r} model: {exc}") from None


def load_state_strict(model: torch.nn.Module, tensors: dict[str, torch.Tensor], source: str) -> None:
    """Load ``tensors`` into ``model``; any missing, extra or mis-shaped key is a CheckpointError."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        raise CheckpointError(f"'{source}' does not match the model: missing {missing[:5]}, unexpected {extra[:5]}")
    for key in expected:  # model order, so the first mismatch reported is the outermost one
        value = tensors[key]
        if value.shape != expected[key].shape:
            raise CheckpointError(
                f"'{source}': {key} has shape {tuple(value.shape)}, the model expects {tuple(expected[key].shape)}"
            )
    model.load_state_dict(tensors)


def load_model(directory: str | os.PathLike, device: str | torch.device = "cpu") -> torch.nn.Module:
    """Rebuild the exact saved model (in eval mode) from ``config.json`` + ``model.safetensors``."""
    directory = Path(directory)
    config = read_config(directory)
    model = build_model(config)
    weights = _read_tensors(directory / WEIGHTS_FILE, config.get(WEIGHTS_DIGEST))
    load_state_strict(model, weights, str(directory / WEIGHTS_FILE))
    return model.to(device).eval()


# -- trainer state (resume) ------------------------------------------------------------------
def save_trainer_state(directory: str | os.PathLike, state: dict[str, Any]) -> None:
    """Optimizer tensors to ``trainer.safetensors``, the rest (epoch, history, groups) to ``trainer.json``."""
    directory = Path(directory)
    tensors: dict[str, torch.Tensor] = {}
    opt = state["optimizer"]
    opt_meta: dict[str, Any] = {}
    for pid, entries in opt["state"].items():
        opt_meta[str(pid)] = {}
        for name, value in entries.items():
            if torch.is_tensor(value):
                key = f"optimizer.{pid}.{name}"
                tensors[key] = value.detach().to("cpu").contiguous()
                opt_meta[str(pid)][name] = {"tensor": key}
            else:
                opt_meta[str(pid)][name] = value
    if state.get("generator") is not None:
        tensors["generator"] = state["generator"]
    data = st_save(tensors)
    meta = {
        "epoch": state["epoch"],
        "history": state["history"],
        "optimizer": {"state": opt_meta, "param_groups": opt["param_groups"]},
        "scheduler": state.get("scheduler"),
        STATE_DIGEST: hashlib.sha256(data).hexdigest(),
    }
    atomic_write_bytes(directory / STATE_FILE, data)
    atomic_write_json(directory / STATE_META_FILE, meta)


def load_trainer_state(directory: str | os.PathLike) -> dict[str, Any]:
    """Inverse of ``save_trainer_state``."""
    directory = Path(directory)
    meta_path = directory / STATE_META_FILE
    if not meta_path.is_file():
        raise CheckpointError(f"cannot resume from '{directory}': {STATE_META_FILE} is missing (saved without optimizer state?)")
    meta = _read_json(meta_path)
    if isinstance(meta, dict):
        _check_digest(meta, STATE_DIGEST, meta_path)
    tensors = _read_tensors(directory / STATE_FILE, meta.get(STATE_DIGEST) if isinstance(meta, dict) else None)
    try:
        opt_state = {
            int(pid): {k: tensors[v["tensor"]] if isinstance(v, dict) and "tensor" in v else v for k, v in entries.items()}
            for pid, entries in meta["optimizer"]["state"].items()
        }
        return {
            "epoch": int(meta["epoch"]),
            "history": list(meta["history"]),
            "optimizer": {"state": opt_state, "param_groups": list(meta["optimizer"]["param_groups"])},
            "scheduler": meta.get("scheduler"),
            "generator": tensors.get("generator"),
        }
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CheckpointError(
            f"'{meta_path}' does not describe a trainer state ({type(exc).__name__}: {exc}); it was edited or damaged"
        ) from None


# -- transfer --------------------------------------------------------------------------------
def transfer_weights(
    model: torch.nn.Module, source: str | os.PathLike, parts: Iterable[str] = ("encoder",), freeze: bool = False
) -> list[str]:
    """Copy the ``parts`` (e.g. "encoder", "decoder", "encoder.0") of a saved model into ``model``.

    Every copied tensor must have the same name and shape in both models. ``freeze=True`` stops
    gradients for the copied parameters. Returns the copied keys.
    """
    parts = tuple(parts)
    source = Path(source)
    tensors = _read_tensors(source / WEIGHTS_FILE, read_config(source).get(WEIGHTS_DIGEST))
    target = model.state_dict()
    prefixes = tuple(p.rstrip(".") + "." for p in parts)
    chosen = {k: v for k, v in tensors.items() if k.startswith(prefixes)}
    if not chosen:
        raise CheckpointError(
            f"'{source}' has no weights under {list(parts)}; it has {sorted({k.split('.')[0] for k in tensors})}"
        )
    for key, value in chosen.items():
        if key not in target:
            raise CheckpointError(f"cannot transfer {key} from '{source}': the new model has no such layer")
        if target[key].shape != value.shape:
            raise CheckpointError(
                f"cannot transfer {key} from '{source}': shape {tuple(value.shape)} there, {tuple(target[key].shape)} here"
            )
    model.load_state_dict(chosen, strict=False)
    if freeze:
        params = dict(model.named_parameters())
        for key in chosen:
            if key in params:
                params[key].requires_grad_(False)
    return sorted(chosen)
