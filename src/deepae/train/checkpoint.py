"""Checkpoints: ``model.safetensors`` + ``config.json``, optimizer state for resuming, transfer.

No pickle anywhere: tensors go to safetensors, everything else to JSON, so loading a file never
runs code from it (a pickle renamed ``model.safetensors`` is refused as unreadable). Every file
is written to a temporary name in the same folder and renamed into place, so a crash leaves
either the old file or the new one, never half of one. The JSON beside each tensor file records
the file's SHA-256 (``weights_sha256`` in config.json, ``state_sha256`` in trainer.json); loading
checks it and names the file on a mismatch. Checkpoints from before the digests load unchecked.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import os
import re
import shutil
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from .._io import atomic_write_bytes, atomic_write_json, jsonable, versions
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


# Inside save_checkpoint: the files of the slot being written, as (path, bytes), written by a thread
# once all are serialized (see save_checkpoint); everywhere else every file is written atomically, synced.
_PENDING: contextvars.ContextVar[list | None] = contextvars.ContextVar("deepae_checkpoint_files", default=None)


def _write(path: Path, data: bytes) -> None:
    pending = _PENDING.get()
    if pending is None:
        atomic_write_bytes(path, data)
    else:
        pending.append((path, data))


def write_record(path: str | os.PathLike, obj: Any) -> None:
    """A JSON file of a model or checkpoint folder: atomic, or queued with the slot inside ``save_checkpoint``."""
    pending = _PENDING.get()
    if pending is None:
        atomic_write_json(path, obj)
    else:  # compact: the optimizer's groups and the history take twice as long to indent
        pending.append((Path(path), json.dumps(jsonable(obj), allow_nan=False, separators=(",", ":")).encode()))


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
    _write(directory / WEIGHTS_FILE, weights)
    # config.json last: its presence marks a complete checkpoint.
    write_record(directory / CONFIG_FILE, config)
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


def build_on_meta(build: Callable[[], torch.nn.Module], what: str) -> torch.nn.Module:
    """``build()`` on the meta device: the model's shapes, with nothing allocated.

    A config.json can ask for a layer of any size; loaders compare these shapes with the weights beside
    it (whose size the file bounds) before anything real is made. ``what`` names the config in errors.
    """
    try:
        with torch.device("meta"):
            return build()
    except CheckpointError:
        raise
    except (RuntimeError, ValueError, TypeError, OverflowError) as exc:  # e.g. a size whose byte count overflows
        raise CheckpointError(f"{what} describes a model that cannot be built: {str(exc).splitlines()[0]}") from None


def _check_state(expected: dict[str, torch.Tensor], tensors: dict[str, torch.Tensor], source: str) -> None:
    """Any missing, extra or mis-shaped key of ``tensors`` against ``expected`` is a CheckpointError."""
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


def load_model(directory: str | os.PathLike, device: str | torch.device = "cpu") -> torch.nn.Module:
    """Rebuild the exact saved model (in eval mode) from ``config.json`` + ``model.safetensors``.

    The model is first built on the meta device and its shapes compared with the saved tensors:
    nothing is allocated for a model the weights do not fit.
    """
    directory = Path(directory)
    config = read_config(directory)
    shapes = build_on_meta(lambda: build_model(config), f"'{directory / CONFIG_FILE}'").state_dict()
    weights = _read_tensors(directory / WEIGHTS_FILE, config.get(WEIGHTS_DIGEST))
    _check_state(shapes, weights, str(directory / WEIGHTS_FILE))
    model = build_model(config)
    model.load_state_dict(weights)
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
    callbacks = _split_tensors(state.get("callbacks") or {}, "callbacks", tensors)
    data = st_save(tensors)
    meta = {
        "epoch": state["epoch"],
        "history": state["history"],
        "optimizer": {"state": opt_meta, "param_groups": opt["param_groups"]},
        "scheduler": state.get("scheduler"),
        "callbacks": callbacks,
        STATE_DIGEST: hashlib.sha256(data).hexdigest(),
    }
    _write(directory / STATE_FILE, data)
    write_record(directory / STATE_META_FILE, meta)


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
            "callbacks": _join_tensors(_table(meta.get("callbacks") or {}, "callbacks"), tensors),
        }
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CheckpointError(
            f"'{meta_path}' does not describe a trainer state ({type(exc).__name__}: {exc}); it was edited or damaged"
        ) from None


def _table(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"{what} is a {type(value).__name__}, not a table")
    return value


def _split_tensors(value: Any, key: str, tensors: dict[str, torch.Tensor]) -> Any:
    """``value`` with every tensor moved into ``tensors`` (under its path) and replaced by ``{"tensor": path}``."""
    if torch.is_tensor(value):
        tensors[key] = value.detach().to("cpu").contiguous()
        return {"tensor": key}
    if isinstance(value, dict):
        return {str(k): _split_tensors(v, f"{key}/{k}", tensors) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_split_tensors(v, f"{key}/{i}", tensors) for i, v in enumerate(value)]
    return value


def _join_tensors(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Inverse of ``_split_tensors``."""
    if isinstance(value, dict):
        if set(value) == {"tensor"}:
            return tensors[value["tensor"]]
        return {k: _join_tensors(v, tensors) for k, v in value.items()}
    if isinstance(value, list):
        return [_join_tensors(v, tensors) for v in value]
    return value


# -- per-epoch checkpoints (crash safety) ----------------------------------------------------
CHECKPOINT_DIR = "checkpoint"  # inside a run folder: the latest complete training state
LATEST_FILE = "latest.json"  # names the one complete checkpoint folder under CHECKPOINT_DIR


class PendingSave(threading.Thread):
    """A checkpoint being written in the background; ``wait()`` re-raises what writing it raised."""

    def __init__(self, files: list[tuple[Path, bytes]], latest: Path, record: dict[str, Any]):
        super().__init__(name="deepae-checkpoint", daemon=True)
        self.files, self.latest, self.record, self.error = files, latest, record, None

    def run(self) -> None:
        try:
            for path, data in self.files:
                with open(path, "wb") as fh:  # in place: the slot is in no use until latest.json names it
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
            atomic_write_json(self.latest, self.record)  # the switch, last
        except BaseException as exc:  # noqa: BLE001 - handed to the training thread by wait()
            self.error = exc

    def wait(self) -> None:
        self.join()
        if self.error is not None:
            raise CheckpointError(f"cannot save a checkpoint to '{self.latest.parent}': {self.error}") from self.error


def save_checkpoint(run_dir: str | os.PathLike, epoch: int, write: Callable[[Path], None], wait: bool = True) -> PendingSave:
    """Write a complete checkpoint with ``write(folder)`` and make it the latest, atomically.

    Two slots, ``checkpoint/a`` and ``checkpoint/b``: ``write`` fills the one ``latest.json`` does
    not name, and only then is ``latest.json`` replaced (atomically) to name it. A kill at any
    instant leaves ``latest.json`` naming either the previous checkpoint or the new one, complete.
    ``write`` only serializes (the model's and optimizer's tensors, copied, as bytes); a thread then
    writes and syncs the files and switches ``latest.json``, so training goes on meanwhile (the
    disk's fsyncs took 30 ms a save here). ``wait=False`` returns without waiting for it: call
    ``wait()`` on the result before the next save and before reading the checkpoint.
    """
    base = Path(run_dir) / CHECKPOINT_DIR
    current = latest_checkpoint(run_dir)
    folder = base / ("b" if current is not None and current[0].name == "a" else "a")
    folder.mkdir(parents=True, exist_ok=True)  # the slot of the checkpoint before last: its files are overwritten
    files: list[tuple[Path, bytes]] = []
    token = _PENDING.set(files)
    try:
        write(folder)
    finally:
        _PENDING.reset(token)
    saving = PendingSave(files, base / LATEST_FILE, {"folder": folder.name, "epoch": epoch})
    saving.start()
    if wait:
        saving.wait()
    return saving


def latest_checkpoint(run_dir: str | os.PathLike) -> tuple[Path, int] | None:
    """(folder, epochs done) of the run's latest complete checkpoint; None when it has none."""
    base = Path(run_dir) / CHECKPOINT_DIR
    if not (base / LATEST_FILE).is_file():
        return None
    latest = _read_json(base / LATEST_FILE)
    name = latest.get("folder") if isinstance(latest, dict) else None
    if not isinstance(name, str) or Path(name).name != name or not (base / name).is_dir():
        raise CheckpointError(f"'{base / LATEST_FILE}' does not name a checkpoint folder beside it; it was edited or damaged")
    epoch = latest.get("epoch")
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 1:
        raise CheckpointError(f"'{base / LATEST_FILE}' records epoch {epoch!r}; expected an integer >= 1")
    return base / name, epoch


def remove_checkpoints(run_dir: str | os.PathLike) -> None:
    """Drop a run's per-epoch checkpoints (once its folder holds the finished state, or before --force retrains)."""
    shutil.rmtree(Path(run_dir) / CHECKPOINT_DIR, ignore_errors=True)


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
