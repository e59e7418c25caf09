"""A run folder: the model ``AutoEncoder.save`` writes, plus ``metrics.json`` and figures.

Every file is written atomically. While training, the state to resume from is saved after every epoch
under ``checkpoint/`` (see ``train.save_checkpoint``); the other files are written once training ends.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import data as _data
from ..api import AutoEncoder
from ..errors import CheckpointError, ConfigError, DataError
from ..train.checkpoint import CHECKPOINT_DIR, CONFIG_FILE, read_config
from .spec import DataSpec

METRICS_FILE = "metrics.json"
EVALUATION_FILE = "evaluation.json"
REPORT_FILE = "report.html"
LOSS_FIGURE = "loss.png"
RECONSTRUCTION_FIGURE = "reconstructions.png"
# Files derived from a run's model: stale once --force trains a new model into the folder.
DERIVED_FILES = (EVALUATION_FILE, REPORT_FILE)


def default_run_dir(preset: str | None, model: str, root: str | os.PathLike = "runs") -> Path:
    return Path(root) / f"{preset or model}-{time.strftime('%Y%m%d-%H%M%S')}"


def prepare_run_dir(path: str | os.PathLike, force: bool) -> Path:
    """Check that a new run may be written to ``path``: refuse an existing, non-empty folder unless ``force``."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"run folder '{path}' is a file; choose another --out")
    if path.is_dir() and (path / CHECKPOINT_DIR).is_dir() and not force:
        raise ConfigError(
            f"run folder '{path}' holds a run that stopped before it finished; continue it with "
            f"deepae train --resume {path}, or pass --force to start it over"
        )
    if path.is_dir() and any(path.iterdir()) and not force:
        raise ConfigError(
            f"run folder '{path}' already exists and is not empty; pass --force to overwrite it or choose another --out"
        )
    return path


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
        raise CheckpointError(
            f"run folder '{path}' does not exist" if not path.exists() else f"'{path}' is a file, not a run folder"
        )
    if not (path / CONFIG_FILE).is_file():
        raise CheckpointError(
            f"'{path}' is not a deepae run folder: it has no {CONFIG_FILE} "
            "(expected the --out of 'deepae train' or 'deepae demo')"
        )
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
        if (
            data_dir is None
            and recorded is not None
            and _data.resolve_name(spec) is not None
            and _data.resolve_name(spec) == _data.resolve_name(recorded.spec)
        ):
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
    _check_range(run, ds)
    return ds


def _check_range(run: Run, ds: _data.Dataset) -> None:
    """A model with a sigmoid output (BCE loss) knows data in [0, 1]; other values give meaningless scores."""
    if run.estimator.loss_ != "bce" and getattr(run.estimator.model_.config, "output_activation", None) != "sigmoid":
        return
    lo, hi = float(ds.x.min()), float(ds.x.max())
    if lo < 0 or hi > 1:
        raise DataError(
            f"DATA '{ds.name}' holds values in [{lo:.4g}, {hi:.4g}] but run '{run.path}' was trained on data in [0, 1] "
            f"(sigmoid output, {run.estimator.loss_.upper()} loss); rescale it to [0, 1], e.g. divide 8-bit values by 255"
        )
