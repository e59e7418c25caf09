"""Codec model folders: ``model.safetensors`` + ``config.json``, their identity, and loading by name.

A model's identity is the SHA-256 of its tensors (names, shapes, bytes) followed by its canonical codec config: a
``.dae`` file records the first 8 bytes of it (and the model's name), so a file made by another
model is refused by name before any bit is decoded.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from ..._io import atomic_write_bytes, atomic_write_json, versions
from ...errors import CheckpointError
from ...train.checkpoint import build_on_meta
from ._model import CodecConfig, Net, create_net

WEIGHTS = Path(__file__).resolve().parents[1] / "weights"  # the shipped models: codec-digits, codec-photo
SHIPPED = ("digits", "photo")
DEFAULT_MODEL = "photo"


@dataclass(frozen=True)
class Codec:
    """A loaded codec model: its network (eval mode, integer tables ready), name, digest and folder."""

    net: Net
    name: str
    digest: str  # SHA-256 hex of weights + canonical config
    path: Path

    @property
    def config(self) -> CodecConfig:
        return self.net.config


def _canonical(config: dict[str, Any]) -> bytes:
    return json.dumps(config, sort_keys=True, separators=(",", ":")).encode()


def save_codec(folder: str | os.PathLike, net: Net, name: str, extra: dict[str, Any] | None = None) -> Path:
    """Write ``net`` (tables updated) to ``folder``: weights as safetensors, the config as JSON."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().clone() for k, v in net.state_dict().items()}
    tmp = folder / ".model.safetensors.tmp"
    save_file(tensors, str(tmp))
    atomic_write_bytes(folder / "model.safetensors", tmp.read_bytes())
    tmp.unlink()
    config = {"name": name, "codec": net.config.to_dict(), "versions": versions(), **(extra or {})}
    atomic_write_json(folder / "config.json", config)
    return folder


def resolve(model: str | os.PathLike | None) -> Path:
    """A shipped model's name ("digits", "photo"; None: the default) or a folder -> the folder."""
    if model is None:
        model = DEFAULT_MODEL
    if isinstance(model, str) and model in SHIPPED:
        path = WEIGHTS / f"codec-{model}"
        if not (path / "config.json").is_file():
            raise CheckpointError(f"no shipped {model} codec in this installation ('{path}' is missing); "
                                  f"train one with `python -m bench.train_codec {model}`")
        return path
    path = Path(model)
    if not (path / "config.json").is_file() or not (path / "model.safetensors").is_file():
        raise CheckpointError(f"'{path}' is not a codec model folder (expected config.json and model.safetensors); "
                              f"use one of {list(SHIPPED)} or a folder written by `python -m bench.train_codec`")
    return path


def load_codec(model: str | os.PathLike | Codec | None = None) -> Codec:
    """The codec named ``model`` (shipped name or folder), cached on the folder and its files' mtimes."""
    if isinstance(model, Codec):
        return model
    path = resolve(model).resolve()
    stamp = tuple((path / f).stat().st_mtime_ns for f in ("config.json", "model.safetensors"))
    return _load_cached(str(path), stamp)


@lru_cache(maxsize=4)
def _load_cached(path: str, stamp: tuple[int, ...]) -> Codec:
    folder = Path(path)
    try:
        config = json.loads((folder / "config.json").read_text())
        cfg = CodecConfig(**config["codec"])
        tensors = load_file(str(folder / "model.safetensors"))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"'{folder}' holds no readable codec model: {exc}") from None
    skeleton = build_on_meta(lambda: create_net(cfg), f"'{folder}/config.json'")  # the widths asked for, not yet made
    for name, parameter in skeleton.named_parameters():  # coding-table buffers are sized by the trained model
        if name not in tensors or tensors[name].shape != parameter.shape:
            got = tuple(tensors[name].shape) if name in tensors else "nothing"
            raise CheckpointError(f"'{folder}/model.safetensors' does not match its config.json: {name} is {got}, "
                                  f"the config asks for {tuple(parameter.shape)}")
    net = create_net(cfg)
    prior = net.prior
    for name, buffer in list(net.named_buffers()):  # coding tables: their size depends on the trained model
        if name in tensors and tensors[name].shape != buffer.shape:
            owner, _, key = name.rpartition(".")
            setattr(net.get_submodule(owner), key, torch.zeros_like(tensors[name]))
    try:
        net.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise CheckpointError(f"'{folder}/model.safetensors' does not match its config.json: {first}") from None
    if int(prior.pmf_length.min()) < 2:
        raise CheckpointError(f"'{folder}' has no coding tables; it was saved before update_tables()")
    return Codec(net.eval(), str(config.get("name") or folder.name), net_digest(net), folder)


def codec_from_net(net: Net, name: str = "untrained") -> Codec:
    """A ``Codec`` from a network in memory (tests, benchmarks): tables updated, digest of its state."""
    net.eval()
    if int(net.prior.pmf_length.min()) < 2:
        net.update_tables()
    return Codec(net, name, net_digest(net), Path("<memory>"))


def net_digest(net: Net) -> str:
    """SHA-256 of every tensor (name, dtype, shape, bytes) in order, then the canonical config."""
    h = hashlib.sha256()
    for k, v in sorted(net.state_dict().items()):
        v = v.detach().contiguous()
        h.update(f"{k}:{v.dtype}:{list(v.shape)}".encode() + v.numpy().tobytes())
    h.update(_canonical(net.config.to_dict()))
    return h.hexdigest()
