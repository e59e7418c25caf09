"""Anomaly detection by reconstruction error, optionally with the distance of the code to the training codes.

An autoencoder trained on normal data reconstructs normal samples well and others badly: the
per-sample reconstruction error is the anomaly score, as in PyOD's AutoEncoder. Samples far from
the training codes in code space can be flagged too (``code_weight``). The estimator follows
scikit-learn's IsolationForest: ``score_samples`` is higher for more normal samples,
``decision_function`` is ``score_samples - offset_`` and negative for outliers, ``predict`` gives
+1 (inlier) or -1 (outlier).

``save(folder)`` writes ``detector.json`` (parameters and fitted numbers), ``detector.safetensors``
(the code covariance, when used) and the autoencoder's own run folder under ``autoencoder/``;
``AutoEncoderOutlierDetector.load(folder)`` reads them back. No pickle.
"""

from __future__ import annotations

import json
import os
from numbers import Real
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.covariance import LedoitWolf
from sklearn.utils.validation import validate_data

from .._io import atomic_write_bytes, atomic_write_json
from ..api import AutoEncoder
from ..errors import CheckpointError, ConfigError
from .codes import ERRORS, check_fitted, derive_seeds, encode, fit_autoencoder, reconstruction_errors


def _location_scale(values: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation of training values; a constant score is left unscaled (scale 1)."""
    scale = float(np.std(values))
    return float(np.mean(values)), scale if np.isfinite(scale) and scale > 0 else 1.0


class AutoEncoderOutlierDetector(OutlierMixin, BaseEstimator):
    """Outlier detection with an autoencoder: samples it reconstructs badly are anomalies.

    The anomaly score of a sample is ``(1 - code_weight) * e + code_weight * d``, where ``e`` is its
    reconstruction error and ``d`` the Mahalanobis distance of its code to the mean training code
    (Ledoit-Wolf covariance, so dead or collinear code units do not make it singular), each
    standardised by its mean and standard deviation on the training data. ``score_samples``
    returns the negated anomaly score: higher is more normal, 0 is an average training sample.

    Parameters
    ----------
    autoencoder : the model. None trains ``deepae.AutoEncoder()``; an unfitted ``AutoEncoder`` is
        cloned and trained on X; ``sklearn.frozen.FrozenEstimator(fitted)`` or the path of a run
        folder is used as it is. See ``deepae.apps.codes``.
    contamination : share of the training data flagged as outliers, in (0, 0.5]; it sets
        ``offset_``. There is no "auto": a reconstruction error has no scale-free threshold.
    code_weight : weight of the code distance in [0, 1]; 0 (default) scores by reconstruction
        error alone, 1 by code distance alone.
    error : "loss" (default): the loss the autoencoder was fitted with (BCE or MSE, mean over
        features), its negative log-likelihood up to constants; "squared": squared error summed over
        features (also works for stand-ins such as ``PCA``).
    random_state : seeds the autoencoder when it has no ``random_state`` of its own.

    Attributes
    ----------
    autoencoder_ : the fitted model.
    offset_ : ``score_samples`` threshold: the ``contamination`` quantile of the training scores.
    error_stats_, distance_stats_ : (mean, std) used to standardise each part; None when unused.
    code_covariance_ : the fitted ``LedoitWolf`` on the training codes, None when ``code_weight=0``.
    n_features_in_, feature_names_in_ : as in scikit-learn.
    """

    def __init__(
        self,
        autoencoder: Any = None,
        contamination: float = 0.1,
        code_weight: float = 0.0,
        error: str = "loss",
        random_state: Any = None,
    ):
        self.autoencoder = autoencoder
        self.contamination = contamination
        self.code_weight = code_weight
        self.error = error
        self.random_state = random_state

    def _check_params(self) -> None:
        c = self.contamination
        if isinstance(c, bool) or not isinstance(c, Real) or not 0 < c <= 0.5:
            why = ""
            if isinstance(c, str) and c == "auto":
                why = "; 'auto' is not offered: a reconstruction error has no scale-free threshold"
            raise ConfigError(
                f"contamination={c!r}; expected a number in (0, 0.5], the share of training samples flagged as outliers{why}"
            )
        w = self.code_weight
        if isinstance(w, bool) or not isinstance(w, Real) or not 0 <= w <= 1:
            raise ConfigError(f"code_weight={w!r}; expected a number in [0, 1] (0: reconstruction error only)")
        if self.error not in ERRORS:
            raise ConfigError(f"error={self.error!r}; expected one of {', '.join(map(repr, ERRORS))}")

    def fit(self, X: Any, y: Any = None) -> "AutoEncoderOutlierDetector":
        """Train the autoencoder on ``X`` (unless it is already trained) and set ``offset_`` (``y`` is ignored)."""
        self._check_params()
        X = validate_data(self, X, dtype=np.float32, allow_nd=True)
        (seed,) = derive_seeds(self.random_state, 1)
        self.autoencoder_ = fit_autoencoder(self.autoencoder, X, seed)
        self.error_stats_ = self.distance_stats_ = self.code_covariance_ = None
        if self.code_weight > 0:
            self.code_covariance_ = LedoitWolf().fit(self._codes(X))
        errors, distances = self._parts(X)
        if errors is not None:
            self.error_stats_ = _location_scale(errors)
        if distances is not None:
            self.distance_stats_ = _location_scale(distances)
        self.offset_ = float(np.percentile(self._combine(errors, distances), 100.0 * self.contamination))
        return self

    def _codes(self, X: np.ndarray) -> np.ndarray:
        return encode(self.autoencoder_, X).reshape(len(X), -1).astype(np.float64)

    def _parts(self, X: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Reconstruction errors and code distances of validated ``X`` (None where code_weight leaves one out)."""
        errors = reconstruction_errors(self.autoencoder_, X, self.error) if self.code_weight < 1 else None
        distances = None
        if self.code_weight > 0:  # Mahalanobis distance to the mean training code
            distances = np.sqrt(np.maximum(self.code_covariance_.mahalanobis(self._codes(X)), 0.0))
        return errors, distances

    def _combine(self, errors: np.ndarray | None, distances: np.ndarray | None) -> np.ndarray:
        """The negated mix of the standardised parts: (n_samples,) float64, higher is more normal."""
        anomaly = 0.0
        if errors is not None:
            mean, scale = self.error_stats_
            anomaly = anomaly + (1 - self.code_weight) * (errors - mean) / scale
        if distances is not None:
            mean, scale = self.distance_stats_
            anomaly = anomaly + self.code_weight * (distances - mean) / scale
        return -anomaly

    def score_samples(self, X: Any) -> np.ndarray:
        """Normality of each sample, the negated anomaly score: higher is more normal. (n_samples,)"""
        check_fitted(self)
        return self._combine(*self._parts(validate_data(self, X, dtype=np.float32, allow_nd=True, reset=False)))

    def decision_function(self, X: Any) -> np.ndarray:
        """``score_samples(X) - offset_``: negative for outliers. (n_samples,)"""
        return self.score_samples(X) - self.offset_

    def predict(self, X: Any) -> np.ndarray:
        """+1 for inliers, -1 for outliers: (n_samples,) int."""
        return np.where(self.decision_function(X) < 0, -1, 1)

    # -- persistence ----------------------------------------------------------------------------
    def save(self, path: str | os.PathLike, force: bool = False) -> Path:
        """Write the fitted detector to the folder ``path`` (JSON + safetensors + the autoencoder's run folder).

        An existing, non-empty folder is refused unless ``force``.
        """
        check_fitted(self)
        if not isinstance(self.autoencoder_, AutoEncoder):
            raise ConfigError(
                f"save() stores a deepae.AutoEncoder's run folder; this detector uses a {type(self.autoencoder_).__name__}"
            )
        path = Path(path)
        if path.exists() and (not path.is_dir() or (any(path.iterdir()) and not force)):
            raise ConfigError(f"detector folder '{path}' already exists; pass force=True (--force) to overwrite it")
        self.autoencoder_.save(path / AUTOENCODER_DIR, include_optimizer=False)
        if self.code_covariance_ is not None:
            cov = self.code_covariance_
            tensors = {k: torch.from_numpy(np.ascontiguousarray(getattr(cov, k), dtype=np.float64))
                       for k in ("location_", "covariance_", "precision_")}
            atomic_write_bytes(path / TENSORS_FILE, st_save(tensors, metadata={"format": DETECTOR_FORMAT}))
        params = {k: v for k, v in self.get_params(deep=False).items() if k != "autoencoder"}
        state = {"format": DETECTOR_FORMAT, "format_version": 1, "params": params, "offset": self.offset_,
                 "error_stats": self.error_stats_, "distance_stats": self.distance_stats_,
                 "shrinkage": None if self.code_covariance_ is None else float(self.code_covariance_.shrinkage_),
                 "n_features_in": int(self.n_features_in_)}
        atomic_write_json(path / DETECTOR_FILE, state)  # last: its presence marks a complete folder
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "AutoEncoderOutlierDetector":
        """Read a detector written by ``save``; its ``autoencoder`` is the saved run folder."""
        path = Path(path)
        meta_path = path / DETECTOR_FILE
        if not meta_path.is_file():
            raise CheckpointError(f"'{path}' is not a saved outlier detector: {DETECTOR_FILE} is missing "
                                  "(expected the -o folder of `deepae anomaly fit`)")
        try:
            state = json.loads(meta_path.read_text())
            if state.get("format") != DETECTOR_FORMAT:
                raise ValueError(f"format={state.get('format')!r}")
            detector = cls(autoencoder=str(path / AUTOENCODER_DIR), **state["params"])
            detector._check_params()
            detector.offset_ = float(state["offset"])
            detector.error_stats_ = None if state["error_stats"] is None else tuple(map(float, state["error_stats"]))
            detector.distance_stats_ = None if state["distance_stats"] is None else tuple(map(float, state["distance_stats"]))
            detector.n_features_in_ = int(state["n_features_in"])
        except (OSError, KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"cannot read '{meta_path}': {type(exc).__name__}: {exc}") from None
        detector.autoencoder_ = AutoEncoder.load(path / AUTOENCODER_DIR)
        detector.code_covariance_ = None
        if detector.code_weight > 0:
            try:
                tensors = st_load((path / TENSORS_FILE).read_bytes())
            except (OSError, SafetensorError, ValueError) as exc:
                raise CheckpointError(f"cannot read '{path / TENSORS_FILE}': {exc}") from None
            cov = LedoitWolf()
            for key, value in tensors.items():
                setattr(cov, key, value.numpy())
            cov.shrinkage_ = state["shrinkage"]
            detector.code_covariance_ = cov
        return detector


DETECTOR_FORMAT = "deepae-outlier-detector"
DETECTOR_FILE = "detector.json"
TENSORS_FILE = "detector.safetensors"
AUTOENCODER_DIR = "autoencoder"

__all__ = ["AutoEncoderOutlierDetector"]
