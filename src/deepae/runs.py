"""Run folders: train into one, open one again, evaluate, export and report what it holds.

A run folder holds what ``AutoEncoder.save`` writes (``config.json``, ``model.safetensors``, the
optimizer state for ``--resume``) plus ``metrics.json`` (test metrics, timing, the data the run was
trained on, versions), ``loss.png`` and, for images, ``reconstructions.png``. Every file is written
atomically, after training, so an interrupted run never leaves half a file. The ``deepae`` command
is a thin layer over these functions.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from . import data as _data
from . import metrics as _metrics
from . import report as _report
from .api import AutoEncoder
try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from .errors import CheckpointError, ConfigError, DataError, DownloadError
from .presets import PRESETS, get_preset
from .registry import get_model_class, list_models
from .train import resolve_device
from .train.checkpoint import CONFIG_FILE, atomic_write_bytes, atomic_write_json, read_config, versions

METRICS_FILE = "metrics.json"
EVALUATION_FILE = "evaluation.json"
REPORT_FILE = "report.html"
LOSS_FIGURE = "loss.png"
RECONSTRUCTION_FIGURE = "reconstructions.png"
# Files derived from a run's model: stale once --force trains a new model into the folder.
_DERIVED = (EVALUATION_FILE, REPORT_FILE)

# Data without a test split (image folders, array files) holds out a fixed share as its test set.
HOLDOUT_FRACTION = 0.1
HOLDOUT_SEED = 0
MAP_POINTS = 2000  # codes drawn on a 2-D map (t-SNE on more is slow and no clearer)
GRID_SAMPLES = 20

KERAS_NOTE = (
    "The seed's Keras code, run as written on Keras 3, stays near BCE 0.68: Keras 3's Adadelta "
    "defaults to learning_rate=0.001 (Keras 2 used 1.0). deepae uses Keras 2's settings: "
    "lr=1.0, rho=0.95, eps=1e-7."
)

Notify = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


# -- data ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DataSpec:
    """Where a run's data comes from, so that its test split can be loaded again later.

    ``spec`` is a built-in name ("mnist", "digits", ...), an image file or folder, or an array
    file (stored absolute). Built-in sets and IDX folders have train/test splits; other data
    holds out ``HOLDOUT_FRACTION`` of its samples (fixed seed) as the test set.
    """

    spec: str
    data_dir: str | None = None

    @classmethod
    def parse(cls, spec: str, data_dir: str | os.PathLike | None = None) -> "DataSpec":
        if _data.resolve_name(spec) is None and Path(spec).exists():
            spec = str(Path(spec).resolve())
        return cls(spec, None if data_dir is None else str(Path(data_dir).resolve()))

    @property
    def has_splits(self) -> bool:
        return _data.resolve_name(self.spec) is not None or (Path(self.spec).is_dir() and _data.has_idx_files(Path(self.spec)))

    def load(self, split: str = "train") -> _data.Dataset:
        """``split`` is "train", "test" or "all"; held-out data is split here when it has no splits."""
        if self.has_splits:
            return _data.load(self.spec, split=split, data_dir=self.data_dir)
        full = _data.load(self.spec)
        if split == "all":
            return full
        train, test = holdout_indices(len(full))
        return full.subset(train if split == "train" else test)

    def splits(self) -> tuple[_data.Dataset, _data.Dataset | None]:
        """(train, test) with one read of the data; test is None when there is none."""
        if self.has_splits:
            train, test = self.load("train"), self.load("test")
        else:
            full = _data.load(self.spec)
            train_idx, test_idx = holdout_indices(len(full))
            train, test = full.subset(train_idx), full.subset(test_idx)
        return train, (test if len(test) else None)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def holdout_indices(n: int, fraction: float = HOLDOUT_FRACTION, seed: int = HOLDOUT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """A fixed (train, test) split of ``n`` samples, each sorted; no test set below 2 samples."""
    n_test = min(max(round(n * fraction), 1), n - 1) if n >= 2 else 0
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def load_demo_data(data_dir: str | os.PathLike | None, warn: Notify = _quiet) -> DataSpec:
    """Full MNIST (``data_dir``, else the cache, else a download); the embedded digits when unavailable."""
    spec = DataSpec.parse("mnist", data_dir)
    try:
        spec.load("all")  # fetches (or finds) all four files now, so training cannot fail on a missing one
    except (DownloadError, DataError) as exc:
        warn(f"MNIST is not available ({exc}); using the 5,000 embedded MNIST digits instead.")
        return DataSpec("mnist-embedded")
    return spec


# -- configuration ---------------------------------------------------------------------------
_ESTIMATOR_PARAMS = frozenset(AutoEncoder().get_params())
_CONFIG_EXTRAS = ("preset", "data", "data_dir")


def read_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """A training configuration from JSON, TOML or YAML (when PyYAML is installed): a flat table of
    ``AutoEncoder`` parameters, optionally with "preset", "data" and "data_dir"."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file '{path}' does not exist")
    suffix = path.suffix.lower()
    try:
        text = path.read_text()
        if suffix == ".json":
            values = json.loads(text)
        elif suffix == ".toml":
            values = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError:
                raise ConfigError(f"config file '{path}': reading YAML needs PyYAML (pip install pyyaml); or use JSON/TOML") from None
            values = yaml.safe_load(text)
        else:
            raise ConfigError(f"config file '{path}': unsupported type {suffix or '(none)'!r}; expected .json, .toml, .yaml")
    except (json.JSONDecodeError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot parse config file '{path}': {exc}") from None
    except ConfigError:
        raise
    except Exception as exc:  # yaml.YAMLError: PyYAML is optional, so its errors are caught by base class
        raise ConfigError(f"cannot parse config file '{path}': {exc}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"config file '{path}' must hold a table of parameters, got {type(values).__name__}")
    unknown = sorted(set(values) - _ESTIMATOR_PARAMS - set(_CONFIG_EXTRAS))
    if unknown:
        raise ConfigError(f"config file '{path}': unknown key(s) {unknown}; expected AutoEncoder parameters or {list(_CONFIG_EXTRAS)}")
    return values


def resolve_params(
    preset: str | None = None, config: dict[str, Any] | None = None, overrides: dict[str, Any] | None = None
) -> tuple[dict[str, Any], str | None, str | None]:
    """Estimator parameters from a preset, then a config file's values, then explicit options.

    Returns ``(params, preset name, data spec)``; ``None`` overrides are "not given".
    """
    config = dict(config or {})
    preset = config.pop("preset", None) if preset is None else preset
    data = config.pop("data", None)
    config.pop("data_dir", None)
    params: dict[str, Any] = {}
    if preset is not None:
        chosen = get_preset(preset)
        params.update(chosen.params)
        data = data or chosen.data
    params.update(config)
    params.update({k: v for k, v in (overrides or {}).items() if v is not None})
    unknown = sorted(set(params) - _ESTIMATOR_PARAMS)
    if unknown:
        raise ConfigError(f"unknown parameter(s) {unknown}; expected some of {sorted(_ESTIMATOR_PARAMS)}")
    for key in ("hidden", "init_parts"):
        if isinstance(params.get(key), list):
            params[key] = tuple(params[key])
    return params, preset, data


def parse_sizes(text: str) -> tuple[int, ...]:
    """"128,64" -> (128, 64); "" -> ()."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        sizes = tuple(int(p) for p in parts)
    except ValueError:
        raise ConfigError(f"hidden={text!r}; expected comma-separated layer sizes such as 128,64") from None
    if any(s <= 0 for s in sizes):
        raise ConfigError(f"hidden={text!r}; layer sizes must be positive integers")
    return sizes


def default_run_dir(preset: str | None, model: str, root: str | os.PathLike = "runs") -> Path:
    return Path(root) / f"{preset or model}-{time.strftime('%Y%m%d-%H%M%S')}"


def prepare_run_dir(path: str | os.PathLike, force: bool) -> Path:
    """Check that a new run may be written to ``path``: refuse an existing, non-empty folder unless ``force``."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"run folder '{path}' is a file; choose another --out")
    if path.is_dir() and any(path.iterdir()) and not force:
        raise ConfigError(f"run folder '{path}' already exists and is not empty; pass --force to overwrite it or choose another --out")
    return path


# -- a run folder ----------------------------------------------------------------------------
@dataclass
class Run:
    """A trained model in a folder, with what was recorded about its training."""

    path: Path
    estimator: AutoEncoder
    metrics: dict[str, Any]
    data_shape: tuple[int, ...]  # one sample as the model was fitted on it: (C, H, W) or (D,)

    @property
    def history(self) -> list[dict[str, float]]:
        return list(getattr(self.estimator, "history_", []) or [])

    @property
    def data(self) -> DataSpec | None:
        recorded = self.metrics.get("data")
        return DataSpec(recorded["spec"], recorded.get("data_dir")) if recorded else None


def open_run(path: str | os.PathLike, device: str = "cpu") -> Run:
    """Open a run folder written by ``deepae train``/``demo`` (or any ``AutoEncoder.save`` folder)."""
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"run folder '{path}' does not exist" if not path.exists() else f"'{path}' is a file, not a run folder")
    if not (path / CONFIG_FILE).is_file():
        raise CheckpointError(f"'{path}' is not a deepae run folder: it has no {CONFIG_FILE} (expected the --out of 'deepae train' or 'deepae demo')")
    estimator = AutoEncoder.load(path, device=device)
    data_shape = tuple(read_config(path)["data"]["shape"])  # present: AutoEncoder.load checked the section
    metrics: dict[str, Any] = {}
    if (path / METRICS_FILE).is_file():
        try:
            metrics = json.loads((path / METRICS_FILE).read_text())
        except json.JSONDecodeError as exc:
            raise CheckpointError(f"cannot read '{path / METRICS_FILE}': {exc}") from None
    return Run(path, estimator, metrics, data_shape)


def load_for_run(run: Run, spec: str | None = None, split: str = "test", data_dir: str | None = None) -> _data.Dataset:
    """DATA for ``run``: ``spec`` if given, else the test split of the data it was trained on.

    Image files are read in the run's colour mode and size; samples whose feature count matches the
    run are reshaped to its layout (e.g. 28x28 PNGs for a model trained on rows of 784).
    """
    shape = run.data_shape
    if spec is None:
        if run.data is None:
            raise ConfigError(f"run '{run.path}' does not record its data ({METRICS_FILE} is missing); pass DATA")
        ds = run.data.load(split)
    else:
        recorded = run.data
        if data_dir is None and recorded is not None and _data.resolve_name(spec) is not None and _data.resolve_name(spec) == _data.resolve_name(recorded.spec):
            data_dir = recorded.data_dir  # the run's own data set: read it from where the run did
        ds = _data.load(spec, split=split, data_dir=data_dir)
        if ds.names is not None and len(shape) == 3 and ds.sample_shape != shape:  # image files: read them again to fit
            ds = _data.load(spec, image_mode="L" if shape[0] == 1 else "RGB", image_size=shape[1:])
    if ds.sample_shape != shape:
        if math.prod(ds.sample_shape) != math.prod(shape):
            raise DataError(
                f"DATA '{ds.name}' has samples of shape {list(ds.sample_shape)} but run '{run.path}' was trained on "
                f"{list(shape)} (another data set or another model?)"
            )
        ds = dataclasses.replace(ds, x=ds.x.reshape(len(ds), *shape))
    if len(ds) == 0:
        raise DataError(f"DATA '{ds.name}' holds no samples")
    return ds


# -- training ---------------------------------------------------------------------------------
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
    notify: Notify = _quiet,
) -> Run:
    """Train an ``AutoEncoder(**params)`` on ``data`` and write a run folder to ``out``.

    The test split is scored after every epoch (the "test" curve, as in the Keras tutorial) unless a
    validation fraction is set or early stopping / a plateau schedule would then select on it.
    """
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
    path: str | os.PathLike, epochs: int | None = None, device: str | None = None, notify: Notify = _quiet,
    progress: bool = True,
) -> Run:
    """Continue a run's training up to ``epochs`` (its own setting when None) and rewrite its folder."""
    run = open_run(path)
    estimator = run.estimator
    done = len(run.history)
    if epochs is not None:
        estimator.set_params(epochs=epochs)
    if estimator.epochs <= done:
        raise ConfigError(f"run '{run.path}' has already trained {done} epochs of its {estimator.epochs}; pass --epochs above {done}")
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
    notify: Notify = _quiet,
    warn: Notify = _quiet,
) -> Run:
    """The seed's demo: preset "seed-demo" on MNIST (or the embedded digits), test set as validation.

    ``notify`` gets progress messages, ``warn`` the notice when MNIST is unavailable.
    """
    prepare_run_dir(out, force)
    notify("looking for MNIST ...")
    data = load_demo_data(data_dir, warn)
    params, _, _ = resolve_params("seed-demo", overrides={"epochs": epochs, "random_state": seed, "verbose": progress})
    return train(params, data, out, preset="seed-demo", force=True, notify=notify)


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
    atomic_write_json(out / METRICS_FILE, _jsonable(metrics))
    atomic_write_bytes(out / LOSS_FIGURE, _report.to_png(loss_figure(run)))
    if test_set is not None:
        figure = reconstruction_figure(run, test_set)
        if figure is not None:
            atomic_write_bytes(out / RECONSTRUCTION_FIGURE, _report.to_png(figure))
    for name in _DERIVED:  # they describe the model this run replaced
        (out / name).unlink(missing_ok=True)


def _jsonable(value: Any) -> Any:
    """Non-finite floats -> None (JSON has no infinity), recursively."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# -- figures ---------------------------------------------------------------------------------
def _loss_label(run: Run) -> str:
    penalties = {k for h in run.history for k in h} - {"loss", "recon", "time", "lr"}
    penalties = {k for k in penalties if not k.startswith("val_")}
    name = f"{run.estimator.loss_.upper()} (mean per {'pixel' if len(run.data_shape) == 3 else 'feature'})"
    return f"loss: {name} + {', '.join(sorted(penalties))}" if penalties else name


def loss_figure(run: Run):
    history = run.history
    val_label = "test" if run.metrics.get("validation") == "test" else "validation"
    loss = run.estimator.loss_.upper()
    title = f"{loss} per epoch: train and {val_label}" if any("val_loss" in h for h in history) else f"Training {loss} per epoch"
    return _report.loss_curves(history, title, _loss_label(run), val_label=val_label)


def reconstruction_figure(run: Run, ds: _data.Dataset, n: int = GRID_SAMPLES):
    """Originals vs reconstructions of the first ``n`` samples of ``ds``; a line plot for non-images."""
    x = ds.x[:n]
    x_hat = run.estimator.reconstruct(x)
    originals, recons = _report.as_images(x), _report.as_images(np.clip(x_hat, 0, 1))
    code = run.estimator.model_.code_dim
    if originals is not None and recons is not None:
        title = f"{ds.name}: originals (top) and their reconstructions from codes of {code} numbers (bottom)"
        return _report.reconstruction_grid(originals, recons, title, n=n)
    flat = x.reshape(len(x), -1)
    return _report.vector_plot(flat, x_hat.reshape(len(x), -1), f"{ds.name}: originals and reconstructions (codes of {code} numbers)")


# -- evaluation and export --------------------------------------------------------------------
def evaluate(run: Run, ds: _data.Dataset) -> dict[str, Any]:
    """Reconstruction metrics of ``run`` on ``ds`` (and per class when ``ds`` has labels)."""
    x_hat = run.estimator.reconstruct(ds.x)
    result: dict[str, Any] = {
        "run": str(run.path),
        "data": {"name": ds.name, "source": ds.source, "n": len(ds)},
        "loss": run.estimator.loss_,
        "metrics": _metrics.reconstruction_metrics(ds.x, x_hat),
    }
    if ds.y is not None:
        result["per_class"] = _metrics.per_class(_metrics.squared_error(ds.x, x_hat), ds.y, ds.class_names)
    return _jsonable(result)


def is_array_file(spec: str) -> bool:
    """True when DATA names an existing .npy/.npz/.csv file (arrays in, arrays out)."""
    path = Path(spec)
    return _data.resolve_name(spec) is None and path.is_file() and path.suffix.lower() in _data.ARRAY_SUFFIXES


def load_codes(path: str | os.PathLike) -> np.ndarray:
    """Codes (N, code size) from a .npy/.npz/.csv file, e.g. one written by ``deepae encode``."""
    x = _data.load_array(path).x
    if x.ndim != 2:
        raise DataError(f"'{path}' holds an array of shape {list(x.shape)}; codes must be (N, code size)")
    return x


def write_evaluation(run: Run, result: dict[str, Any]) -> Path:
    return atomic_write_json(run.path / EVALUATION_FILE, result)


def check_output(path: str | os.PathLike, force: bool) -> Path:
    """Refuse to replace an existing file, or fill a non-empty folder, unless ``force``."""
    path = Path(path)
    if path.exists() and not force and (path.is_file() or any(path.iterdir())):
        raise ConfigError(f"output '{path}' already exists; pass --force to overwrite it")
    return path


def write_array(path: str | os.PathLike, array: np.ndarray, force: bool = False) -> Path:
    """Save ``array`` as a .npy file, atomically."""
    path = Path(path)
    if path.suffix.lower() != ".npy":
        raise ConfigError(f"output '{path}' must be a .npy file")
    check_output(path, force)
    buf = io.BytesIO()
    np.save(buf, np.asarray(array), allow_pickle=False)
    return atomic_write_bytes(path, buf.getvalue())


def write_images(folder: str | os.PathLike, x: np.ndarray, names: list[str] | None = None, force: bool = False) -> list[Path]:
    """Save samples as PNGs in ``folder`` (input names kept, with a .png suffix), each file atomically."""
    images = x if x.ndim == 4 and x.shape[1] in (1, 3) else _report.as_images(np.clip(x, 0, 1))
    if images is None:
        raise ConfigError(f"samples of shape {list(x.shape[1:])} are not images; name a .npy file as output instead")
    folder = check_output(folder, force)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"output '{folder}' is a file; name a folder for images or a .npy file for arrays")
    names = None if names is None else [Path(n).with_suffix(".png").as_posix() for n in names]
    folder.mkdir(parents=True, exist_ok=True)
    # Write beside the target and move each finished file into place: no half-written PNG under its name.
    staging = Path(tempfile.mkdtemp(prefix=".deepae-", dir=folder))
    try:
        written = _data.save_images(images, staging, names)
        final = []
        for path in written:
            target = folder / path.relative_to(staging)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
            final.append(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


# -- descriptions ----------------------------------------------------------------------------
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
    times = [h["time"] for h in history if "time" in h]
    if times:
        summary["seconds"] = {"total": sum(times), "median_per_epoch": statistics.median(times)}
    return summary


_KEY_PARAMS = ("model", "code_size", "hidden", "loss", "optimizer", "lr", "epochs", "batch_size")


def describe_models() -> list[dict[str, Any]]:
    """Every registered model with its config defaults."""
    rows = []
    for name in list_models():
        cls = get_model_class(name)
        defaults = cls.config_class().to_dict()
        rows.append({"name": name, "class": cls.__name__, "summary": (cls.__doc__ or "").strip().splitlines()[0].replace("``", ""),
                     "defaults": defaults})
    return rows


def describe_presets() -> list[dict[str, Any]]:
    """Every preset: its key hyperparameters, the remaining ones, and where it comes from."""
    base = AutoEncoder().get_params()
    rows = []
    for name, preset in sorted(PRESETS.items()):
        params = {**{k: base[k] for k in _KEY_PARAMS}, **preset.params}
        extra = {k: v for k, v in preset.params.items() if k not in _KEY_PARAMS and v != base.get(k)}
        rows.append({"name": name, **{k: params[k] for k in _KEY_PARAMS}, "other": extra, "data": preset.data,
                     "description": preset.description, "source": preset.source})
    return rows


# -- report ------------------------------------------------------------------------------------
def code_map_points(codes: np.ndarray, method: str, seed: int = 0) -> np.ndarray:
    """(N, code_dim) -> (N, 2) by PCA or t-SNE; codes of 1 or 2 numbers are drawn as they are."""
    if method not in ("pca", "tsne"):
        raise ConfigError(f"map={method!r}; expected 'pca' or 'tsne'")
    if codes.shape[1] <= 2:
        return np.pad(codes, ((0, 0), (0, 2 - codes.shape[1])))
    if method == "pca" or len(codes) < 5:
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(codes)
    from sklearn.manifold import TSNE

    perplexity = min(30.0, (len(codes) - 1) / 3)
    return TSNE(n_components=2, init="pca", perplexity=perplexity, random_state=seed).fit_transform(codes)


def build_report(run: Run, ds: _data.Dataset, map_method: str = "pca", notify: Notify = _quiet) -> _report.Report:
    """Everything a report shows: metrics, loss curves, reconstructions, a code map, per-class error,
    the configuration and the architecture."""
    R = _report
    est = run.estimator
    evaluation = evaluate(run, ds)
    recorded = run.metrics
    subtitle = (
        f"{est.model} model, {est.loss_.upper()} loss, {len(run.history)} epochs"
        + (f", preset {recorded['preset']}" if recorded.get("preset") else "")
        + f"; evaluated on {ds.name} ({len(ds):,} samples)"
    )
    report = R.Report(f"deepae run: {run.path.resolve().name}", subtitle)

    rows = [[_metrics.LABELS.get(k, k), v] for k, v in evaluation["metrics"].items()]
    timing = recorded.get("timing") or {}
    rows += [[k.replace("_", " "), v] for k, v in timing.items() if v is not None]
    report.sections.append(R.Section("Metrics", [R.Table(["metric", "value"], rows, caption=(
        f"On {ds.name}; the timing is that of training. SSIM follows Wang et al. (2004), for images only."))]))

    blocks: list[R.Block] = []
    if run.history:
        blocks.append(R.Image(R.to_png(loss_figure(run)), "loss curves"))
        summary = history_summary(run.history)
        blocks.append(R.Table(["", "first", "last", "best", "best epoch"], [
            [k, v["first"], v["last"], v["best"], v["best_epoch"]] for k, v in summary.items() if isinstance(v, dict) and "first" in v
        ]))
    else:
        blocks.append(R.Text("No training history was saved with this model."))
    report.sections.append(R.Section("Training", blocks))

    report.sections.append(R.Section("Originals and reconstructions", [
        R.Image(R.to_png(reconstruction_figure(run, ds)), "originals and reconstructions")]))

    rng = np.random.default_rng(0)
    chosen = np.sort(rng.choice(len(ds), size=min(MAP_POINTS, len(ds)), replace=False))
    notify(f"mapping {len(chosen):,} codes with {'PCA' if map_method == 'pca' else 't-SNE'} ...")
    codes = est.transform(ds.x[chosen])
    points = code_map_points(codes, map_method)
    labels = None if ds.y is None else ds.y[chosen]
    method = "PCA" if map_method == "pca" or codes.shape[1] <= 2 else "t-SNE"
    title = f"{codes.shape[1]}-number codes of {len(chosen):,} samples, {method}" + (", coloured by label" if labels is not None else "")
    report.sections.append(R.Section("Map of the codes", [R.Image(R.to_png(R.code_map(points, labels, title, method, ds.class_names)), "code map")]))

    if "per_class" in evaluation:
        per_class = evaluation["per_class"]
        report.sections.append(R.Section("Error per class", [
            R.Image(R.to_png(R.per_class_bars(per_class, "Squared error per sample (sum over features), mean by class", "squared error per sample")), "per-class error"),
            R.Table(["class", "samples", "mean squared error per sample"], [[r["name"], r["n"], r["mean"]] for r in per_class]),
        ]))

    params = est.get_params()
    report.sections.append(R.Section("Configuration", [
        R.Table(["parameter", "value"], [[k, _show(v)] for k, v in params.items()], caption="AutoEncoder parameters"),
        R.Table(["model config", "value"], [[k, _show(v)] for k, v in est.model_.config.to_dict().items()]),
        R.Table(["data", "value"], [[k, _show(v)] for k, v in (recorded.get("data") or {}).items()]),
    ]))
    report.sections.append(R.Section("Architecture", [R.Table(
        ["block", "layers", "output shape", "parameters"],
        [[r["name"], r["layers"], " x ".join(map(str, r["shape"])), r["params"]] for r in architecture(est.model_)],
    )]))
    report.sections.append(R.Section("Versions", [R.Table(["package", "version"], [[k, v] for k, v in versions().items()])]))
    return report


def _show(value: Any) -> str:
    return json.dumps(value) if isinstance(value, (list, tuple, dict)) else str(value)


def write_report(run: Run, ds: _data.Dataset, out: str | os.PathLike | None = None, map_method: str = "pca",
                 notify: Notify = _quiet) -> Path:
    """Render ``build_report`` to ``out`` (default: ``report.html`` in the run folder), atomically."""
    page = _report.render(build_report(run, ds, map_method, notify))
    return atomic_write_bytes(Path(out) if out is not None else run.path / REPORT_FILE, page.encode("utf-8"))
