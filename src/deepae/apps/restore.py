"""Image restoration with image-to-image autoencoders: the machinery the four tasks share.

A task (``denoise``, ``colorize``, ``unwatermark``, ``upscale``; one module each) says how clean
photos become training pairs, what its model sees and predicts, and how a prediction becomes the
restored image. This module trains a task's model on a folder of photos, loads the model a task
ships inside the package (or a run folder trained with ``deepae train --task``), and applies it to
images of any size in blended tiles, keeping what the user gave: numpy arrays come back as arrays,
PIL images as PIL images, alpha and 16-bit depth are kept.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .._io import atomic_write_json
from ..data import ImageInfo, PairedImageDataset, array_to_image, find_images, fit_alpha, image_to_array
from ..errors import CheckpointError, ConfigError, DataError
from ..registry import create_model
from ..train import LambdaCallback, TimeLimit, TrainConfig, Trainer, load_model, read_config, save_model
from .tiling import apply_model

WEIGHTS = Path(__file__).with_name("weights")  # the shipped models, one folder per task
# Decoded training photos kept in memory by the data loader's worker: decoding a photo cost twice
# what drawing a watermark on its crop does, and a photo gives several crops an epoch.
CACHE_MB = 2048
MIN_SIDE = 8  # smaller images hold too little to restore; refused with a clear error

# BT.601 full-range (JPEG) YCbCr: luma is what Pillow's "L" mode computes.
_Y = (0.299, 0.587, 0.114)


def rgb_to_ycbcr(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB in [0, 1] -> (B, 3, H, W) Y, Cb, Cr with chroma centred on 0 (range about +-0.5)."""
    r, g, b = x.unbind(1)
    y = _Y[0] * r + _Y[1] * g + _Y[2] * b
    return torch.stack((y, (b - y) / 1.772, (r - y) / 1.402), 1)


def ycbcr_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Inverse of ``rgb_to_ycbcr`` (not clipped)."""
    y, cb, cr = x.unbind(1)
    r, b = y + 1.402 * cr, y + 1.772 * cb
    g = (y - _Y[0] * r - _Y[2] * b) / _Y[1]
    return torch.stack((r, g, b), 1)


# -- tasks ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Training:
    """How a task's model is trained: random crops of photos, a time budget, Adam with cosine decay."""

    crop: int = 96
    batch_size: int = 16
    lr: float = 1e-3
    minutes: float = 25.0
    samples_per_epoch: int = 1024
    loss: str = "l1"  # "l1" or "mse"


class Task:
    """One restoration task. Subclasses set the class attributes and override the hooks.

    ``variants`` names the models a task ships beside its default (upscale: "x2", "x3", "x4");
    the hooks that depend on it take ``variant``.
    """

    name: ClassVar[str]
    summary: ClassVar[str]
    mode: ClassVar[str]  # "L" or "RGB": the crops training reads
    model: ClassVar[dict[str, Any]]  # the image2image config of a new model
    training: ClassVar[Training] = Training()
    variants: ClassVar[tuple[str, ...]] = ()

    def check_variant(self, variant: str | None) -> None:
        if variant is None and not self.variants:
            return
        if variant not in self.variants:
            raise ConfigError(f"{self.name} has the variants {list(self.variants) or 'none'}; got {variant!r}")

    def model_config(self, variant: str | None = None) -> dict[str, Any]:
        """The image2image config of a new model."""
        return dict(self.model)

    def crop_size(self, variant: str | None = None) -> int:
        return self.training.crop

    def degradations(self, variant: str | None = None) -> Any:
        """What ``PairedImageDataset`` applies to a clean crop to make its degraded input."""
        raise NotImplementedError

    def pair(self, degraded: torch.Tensor, clean: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A training batch (degraded, clean) -> (model input, model target)."""
        return degraded, clean

    def output(self, x: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
        """The prediction training scores, from the model's input ``x`` and its output ``raw`` (default: ``raw``).

        A task whose model predicts how to undo a known degradation (unwatermark: the gain and offsets
        that invert an overlay) applies them here; its ``restore`` calls the same function.
        """
        return raw

    def restore(self, model: torch.nn.Module, pixels: torch.Tensor, **options: Any) -> torch.Tensor:
        """(C, H, W) degraded image in [0, 1] -> (C', H', W') restored, not yet clipped."""
        raise NotImplementedError

    def check_options(self, **options: Any) -> None:
        """Refuse options this task does not take (ConfigError naming them)."""
        if options:
            raise ConfigError(f"{self.name} takes no option(s) {sorted(options)}")

    def calibrate(self, model: torch.nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> dict[str, Any]:
        """Settings fixed after training on training crops (saved as the model's task options); none by default."""
        return {}


TASKS: dict[str, Task] = {}


def register_task(cls: type[Task]) -> type[Task]:
    """Class decorator: make a task available by its ``name`` (CLI, ``train_task``, ``restore``)."""
    if cls.name in TASKS:
        raise ValueError(f"task {cls.name!r} is already registered")
    TASKS[cls.name] = cls()
    return cls


def get_task(name: str) -> Task:
    _load_tasks()
    try:
        return TASKS[name]
    except KeyError:
        raise ConfigError(f"unknown task {name!r}; expected one of {sorted(TASKS)}") from None


def list_tasks() -> list[str]:
    _load_tasks()
    return sorted(TASKS)


def _load_tasks() -> None:
    # Importing the task modules runs their @register_task decorators.
    from . import colorize, denoise, unwatermark, upscale  # noqa: F401


# -- models ---------------------------------------------------------------------------------------
def shipped_model_dir(task: str, variant: str | None = None) -> Path:
    """Where the package keeps the default model of ``task`` (``variant``: e.g. "x2" for upscale)."""
    return WEIGHTS / (task if variant is None else f"{task}-{variant}")


def shipped_models() -> list[Path]:
    """The folders of the shipped restoration models (the weights folder also holds other applications')."""
    tasks = set(list_tasks())
    return sorted(p for p in WEIGHTS.glob("*") if (p / "config.json").is_file() and p.name.split("-")[0] in tasks)


def load_task_model(task: str, model: str | os.PathLike | None = None, variant: str | None = None) -> torch.nn.Module:
    """The model for ``task``: the shipped one when ``model`` is None, else the run folder ``model``.

    A folder trained for another task is refused by name.
    """
    path = shipped_model_dir(task, variant) if model is None else Path(model)
    if model is None and not (path / "config.json").is_file():
        raise CheckpointError(
            f"no shipped {task} model{'' if variant is None else f' ({variant})'} in this installation "
            f"('{path}' is missing); train one with `deepae train --task {task}"
            f"{'' if variant is None else ' --factor ' + variant.lstrip('x')}` and pass --model"
        )
    weights = path / "model.safetensors"
    # Cached on the folder and its weights' modification time: applying a model image by image in a loop
    # reads it once, and a folder retrained in place is read again.
    stamp = weights.stat().st_mtime_ns if weights.is_file() else None
    return _load_cached(str(path.resolve()), task, variant, stamp)


@lru_cache(maxsize=8)
def _load_cached(path: str, task: str, variant: str | None, stamp: int | None) -> torch.nn.Module:
    return _load_checked(Path(path), task, variant)


def _load_checked(path: Path, task: str, variant: str | None) -> torch.nn.Module:
    config = read_config(path)
    recorded = (config.get("task") or {}).get("name")
    if recorded != task:
        what = f"a {recorded!r} model" if recorded else "not a restoration model (no 'task' in its config.json)"
        raise CheckpointError(f"'{path}' is {what}; {task} needs a model trained with `deepae train --task {task}`")
    want = (config["task"].get("variant"), variant)
    if variant is not None and want[0] != variant:
        raise CheckpointError(f"'{path}' is a {task} model for {want[0]!r}, not {variant!r}")
    model = load_model(path)
    # Settings the task applies around the model, fixed after training (e.g. colorize's chroma gain).
    model.task_options = dict(config["task"].get("options") or {})
    return model


def model_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a model's weights file (names the exact model in results)."""
    return hashlib.sha256((Path(path) / "model.safetensors").read_bytes()).hexdigest()


# -- applying ------------------------------------------------------------------------------------
def as_pixels(image: Any) -> tuple[np.ndarray, ImageInfo | None, str]:
    """A numpy array or PIL image -> ((H, W, C) float32 in [0, 1], info, kind of input)."""
    if isinstance(image, Image.Image):
        pixels, info = image_to_array(image)
        return pixels, info, "pil"
    array = np.asarray(image)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise DataError(f"expected an image (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got shape {list(np.shape(image))}")
    alpha = None
    if array.shape[2] == 4:
        array, alpha = array[..., :3], array[..., 3]
    if array.dtype == np.uint8:
        scale, bits = 255.0, 8
    elif array.dtype == np.uint16:
        scale, bits = 65535.0, 16
    elif np.issubdtype(array.dtype, np.floating):
        scale, bits = 1.0, 8
        if not np.isfinite(array).all():
            raise DataError("the image holds NaN or inf values")
        if array.size and (array.min() < 0 or array.max() > 1):
            raise DataError(f"float images must lie in [0, 1]; this one spans [{array.min():.4g}, {array.max():.4g}]")
    else:
        raise DataError(f"image dtype {array.dtype} is not supported; expected uint8, uint16 or floats in [0, 1]")
    pixels = np.ascontiguousarray(array, dtype=np.float32) / scale
    if alpha is not None:
        alpha = np.asarray(alpha, dtype=np.float32) / scale
    return pixels, ImageInfo("<array>", bits, pixels.shape[2] == 1, alpha, None), "array"


def from_pixels(pixels: np.ndarray, info: ImageInfo | None, kind: str, like: Any) -> Any:
    """The restored pixels in the form the input came in (PIL image, or an array of its dtype)."""
    if kind == "pil":
        return array_to_image(pixels, info)
    dtype = np.asarray(like).dtype
    out = np.clip(pixels, 0, 1)
    if info is not None and info.alpha is not None:
        alpha = fit_alpha(info.alpha, out.shape)
        out = np.concatenate([np.broadcast_to(out, (*out.shape[:2], 3)) if out.shape[2] == 1 else out, alpha[..., None]], 2)
    if np.asarray(like).ndim == 2 and out.shape[2] == 1:
        out = out[..., 0]
    if dtype == np.uint8:
        return np.rint(out * 255).astype(np.uint8)
    if dtype == np.uint16:
        return np.rint(out * 65535).astype(np.uint16)
    return out.astype(dtype, copy=False)


def restore(task: str, image: Any, model: str | os.PathLike | torch.nn.Module | None = None,
            variant: str | None = None, **options: Any) -> Any:
    """Apply ``task`` to ``image`` (a numpy array or PIL image); returns the same kind of object."""
    spec = get_task(task)
    spec.check_options(**options)
    pixels, info, kind = as_pixels(image)
    restored = restore_pixels(spec, pixels, model, variant, **options)
    return from_pixels(restored, info, kind, image)


def restore_pixels(spec: Task, pixels: np.ndarray, model: Any = None, variant: str | None = None,
                   **options: Any) -> np.ndarray:
    """(H, W, C) float pixels in [0, 1] -> restored (H', W', C') float pixels in [0, 1]."""
    h, w = pixels.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise DataError(f"the image is {w}x{h} pixels; {spec.name} needs at least {MIN_SIDE}x{MIN_SIDE}")
    net = model if isinstance(model, torch.nn.Module) else load_task_model(spec.name, model, variant)
    x = torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))
    with torch.inference_mode():
        out = spec.restore(net.eval(), x, **options)
    return out.clamp(0, 1).permute(1, 2, 0).numpy()


def run_model(model: torch.nn.Module, x: torch.Tensor, margin: int = 0) -> torch.Tensor:
    """Apply an image-to-image model to (B, C, H, W) in tiles (bounded memory); the output in data space.

    ``margin`` > 0 mirrors the image that many pixels out beyond its borders first and crops the
    output back: the models pad with zeros, which bends their outermost pixels (the denoiser's, on a
    flat image, by up to 3 grey levels).
    """
    h, w = x.shape[-2:]
    m = min(margin, h - 1, w - 1)
    if m <= 0:
        return apply_model(model, x)
    out = apply_model(model, F.pad(x, (m, m, m, m), mode="reflect"))
    s = out.shape[-1] // (w + 2 * m)  # the model's scale (upscale: its factor)
    return out[..., m * s : (m + h) * s, m * s : (m + w) * s]


# -- training ------------------------------------------------------------------------------------
@dataclass
class TrainResult:
    path: Path
    seconds: float
    epochs: int
    history: list[dict[str, float]] = field(default_factory=list)


def training_files(paths: list[str | os.PathLike]) -> list[Path]:
    """The image files under ``paths``, in the order ``PairedImageDataset`` reads them."""
    return [f for p in paths for f in find_images(p)]


def train_task(
    task: str,
    data: list[str | os.PathLike],
    out: str | os.PathLike,
    *,
    minutes: float | None = None,
    epochs: int = 10_000,
    seed: int = 0,
    variant: str | None = None,
    model_config: dict[str, Any] | None = None,
    workers: int = 1,
    loss: str | None = None,
    progress: bool = False,
    notify=lambda _: None,
) -> TrainResult:
    """Train ``task``'s model on random crops of the photos under ``data`` and save it to ``out``.

    Adam at the task's rate, decayed along a cosine of the time spent (``TimeLimit(anneal=True)``).
    ``loss`` overrides the task's reconstruction loss ("l1" or "mse").
    Training stops after ``minutes`` (default: the task's budget) or ``epochs`` epochs of
    ``samples_per_epoch`` crops, whichever comes first. The folder records the task, the training
    files with their SHA-256 digests, the settings and the time taken.
    """
    spec = get_task(task)
    cfg = spec.training if loss is None else replace(spec.training, loss=loss)
    if cfg.loss not in ("l1", "mse"):
        raise ConfigError(f"loss={cfg.loss!r}; expected 'l1' or 'mse'")
    minutes = cfg.minutes if minutes is None else minutes
    spec.check_variant(variant)
    config = {**spec.model_config(variant), **(model_config or {})}
    dataset = PairedImageDataset(
        [str(p) for p in data], spec.crop_size(variant), spec.degradations(variant),
        mode=spec.mode, samples_per_epoch=cfg.samples_per_epoch, seed=seed, cache_mb=CACHE_MB,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = create_model("image2image", **config)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=cfg.batch_size, shuffle=True, num_workers=workers,
        generator=torch.Generator().manual_seed(seed), drop_last=True,
    )
    recon = F.l1_loss if cfg.loss == "l1" else F.mse_loss

    def loss_fn(net, batch):
        x, target = spec.pair(*batch)
        loss = recon(spec.output(x, net(x).x_hat), target)
        return loss, {"recon": loss}

    train_config = TrainConfig(
        epochs=epochs, batch_size=cfg.batch_size, optimizer="adam", lr=cfg.lr,
        random_state=seed, progress=progress,
    )
    callbacks = [TimeLimit(minutes * 60, anneal=True), LambdaCallback(lambda trainer, epoch, logs: dataset.set_epoch(epoch + 1))]
    trainer = Trainer(model, loss_fn, train_config, callbacks=callbacks)
    notify(f"training {task} on {len(dataset.files)} photos for up to {minutes:g} min ...")
    start = time.perf_counter()
    history = trainer.fit(loader)
    seconds = time.perf_counter() - start
    files = dataset.files
    extra = {
        "task": {"name": task, "variant": variant},
        "training": {
            "files": [{"name": Path(f).name, "sha256": hashlib.sha256(Path(f).read_bytes()).hexdigest()} for f in files],
            "crop": dataset.crop_size, "batch_size": cfg.batch_size, "lr": cfg.lr, "loss": cfg.loss,
            "samples_per_epoch": cfg.samples_per_epoch, "epochs": len(history), "seconds": round(seconds, 1),
            "seed": seed, "threads": torch.get_num_threads(),
        },
        "history": history,
    }
    extra["task"]["options"] = _calibrate(spec, model, dataset)
    path = save_model(out, model.eval(), extra)
    return TrainResult(Path(path), seconds, len(history), history)


def _calibrate(spec: Task, model: torch.nn.Module, dataset: PairedImageDataset) -> dict[str, Any]:
    # Calibration sees fresh crops of the training photos (an epoch training never reached), never test data.
    dataset.set_epoch(10**6)
    loader = torch.utils.data.DataLoader(dataset, batch_size=spec.training.batch_size)
    batches = [spec.pair(*b) for b, _ in zip(loader, range(8))]
    with torch.inference_mode():
        return spec.calibrate(model.eval(), batches)


def recalibrate(folder: str | os.PathLike, data: list[str | os.PathLike], seed: int = 0) -> dict[str, Any]:
    """Recompute a trained model's task options on crops of its training photos; rewrites config.json."""
    config = read_config(folder)
    task, variant = config["task"]["name"], config["task"].get("variant")
    spec = get_task(task)
    model = _load_checked(Path(folder), task, variant)
    dataset = PairedImageDataset([str(p) for p in data], spec.crop_size(variant), spec.degradations(variant),
                                 mode=spec.mode, samples_per_epoch=spec.training.samples_per_epoch, seed=seed)
    config["task"]["options"] = _calibrate(spec, model, dataset)
    atomic_write_json(Path(folder) / "config.json", config)
    return config["task"]["options"]


def describe_model(path: str | os.PathLike) -> dict[str, Any]:
    """What a restoration model folder records: task, variant, training data and time."""
    config = read_config(path)
    return {k: config.get(k) for k in ("task", "training", "model")}
