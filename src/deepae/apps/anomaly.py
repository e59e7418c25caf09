"""Anomaly detection by reconstruction error, optionally with the distance of the code to the training codes.

An autoencoder trained on normal data reconstructs normal samples well and others badly: the
per-sample reconstruction error is the anomaly score, as in PyOD's AutoEncoder. Samples far from
the training codes in code space can be flagged too (``code_weight``). The estimator follows
scikit-learn's IsolationForest: ``score_samples`` is higher for more normal samples,
``decision_function`` is ``score_samples - offset_`` and negative for outliers, ``predict`` gives
+1 (inlier) or -1 (outlier).

``n_models`` trains several autoencoders from different seeds and averages their standardised
scores: an ensemble, whose score depends less on one training run's luck (the anomaly-mnist
benchmark chose it on its validation split).

``save(folder)`` writes ``detector.json`` (parameters and fitted numbers), ``detector.safetensors``
(the code covariance, when used) and the autoencoder's own run folder under ``autoencoder/``; an
ensemble writes one such folder per model under ``member-<i>/`` beside its ``detector.json``.
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
from sklearn.base import BaseEstimator, OutlierMixin, clone
from sklearn.covariance import LedoitWolf
from sklearn.frozen import FrozenEstimator
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
    n_models : train this many copies of ``autoencoder`` from different seeds and average their
        scores (each standardised on the training data by its own model). The seeds are drawn from
        the autoencoder's ``random_state``, else the detector's. A list of models as ``autoencoder``
        (any of the forms above, e.g. several ``FrozenEstimator``) is an ensemble of those.

    Attributes
    ----------
    autoencoder_ : the fitted model (an ensemble's first).
    members_ : an ensemble's single-model detectors, whose mean score is the score; None for one model.
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
        n_models: int = 1,
    ):
        self.autoencoder = autoencoder
        self.contamination = contamination
        self.code_weight = code_weight
        self.error = error
        self.random_state = random_state
        self.n_models = n_models

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
        n, ae = self.n_models, self.autoencoder
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError(f"n_models={n!r}; expected a whole number >= 1, the number of autoencoders averaged")
        if isinstance(ae, (list, tuple)):
            if not ae or n not in (1, len(ae)):
                raise ConfigError(f"autoencoder is a list of {len(ae)} models and n_models={n}; expected a non-empty "
                                  "list, with n_models 1 or its length")
        elif n > 1 and isinstance(ae, (str, os.PathLike, FrozenEstimator)):
            raise ConfigError(f"n_models={n} trains {n} autoencoders, but autoencoder is a trained one ({ae!r}); pass "
                              "an untrained AutoEncoder, or a list of trained ones")

    def _member_sources(self) -> list[tuple[Any, int | None]]:
        """The ``autoencoder=`` parameter and seed of each model of an ensemble (one pair for a single model)."""
        ae, n = self.autoencoder, self.n_models
        if isinstance(ae, (list, tuple)):
            return list(zip(ae, derive_seeds(self.random_state, len(ae))))
        if n == 1:
            return [(ae, derive_seeds(self.random_state, 1)[0])]
        ae = AutoEncoder() if ae is None else ae
        own = ae.get_params(deep=False).get("random_state", "absent") if hasattr(ae, "get_params") else "absent"
        if own == "absent":
            raise ConfigError(f"n_models={n}: {type(ae).__name__} takes no random_state, so its {n} copies would be "
                              "one model; pass n_models=1")
        seeds = derive_seeds(self.random_state if own is None else own, n)
        return [(clone(ae).set_params(random_state=seed), seed) for seed in seeds]

    def fit(self, X: Any, y: Any = None) -> "AutoEncoderOutlierDetector":
        """Train the autoencoder on ``X`` (unless it is already trained) and set ``offset_`` (``y`` is ignored)."""
        self._check_params()
        X = validate_data(self, X, dtype=np.float32, allow_nd=True)
        sources = self._member_sources()
        self.members_ = self.error_stats_ = self.distance_stats_ = self.code_covariance_ = None
        if len(sources) > 1:
            params = dict(contamination=self.contamination, code_weight=self.code_weight, error=self.error)
            self.members_ = [type(self)(source, random_state=seed, **params).fit(X) for source, seed in sources]
            self.autoencoder_ = self.members_[0].autoencoder_
            self.offset_ = float(np.percentile(self._mean_score(X), 100.0 * self.contamination))
            return self
        source, seed = sources[0]
        self.autoencoder_ = fit_autoencoder(source, X, seed)
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

    def _mean_score(self, X: np.ndarray) -> np.ndarray:
        """An ensemble's score of validated ``X``: the mean of its members' scores."""
        return np.mean([m._combine(*m._parts(X)) for m in self.members_], axis=0)

    def score_samples(self, X: Any) -> np.ndarray:
        """Normality of each sample, the negated anomaly score: higher is more normal. (n_samples,)"""
        check_fitted(self)
        X = validate_data(self, X, dtype=np.float32, allow_nd=True, reset=False)
        return self._mean_score(X) if self.members_ else self._combine(*self._parts(X))

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
        for member in self.members_ or [self]:
            if not isinstance(member.autoencoder_, AutoEncoder):
                raise ConfigError("save() stores a deepae.AutoEncoder's run folder; this detector uses a "
                                  f"{type(member.autoencoder_).__name__}")
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise ConfigError(f"detector folder '{path}' is a file; name a folder (--force does not replace a file)")
        if path.exists() and any(path.iterdir()) and not force:
            raise ConfigError(f"detector folder '{path}' already exists; pass force=True (--force) to overwrite it")
        params = {k: v for k, v in self.get_params(deep=False).items() if k != "autoencoder"}
        if self.members_:
            (path / DETECTOR_FILE).unlink(missing_ok=True)  # a half-written folder must not read as complete
            for i, member in enumerate(self.members_):
                member.save(path / f"{MEMBER_PREFIX}{i}", force=force)
            state = {"format": DETECTOR_FORMAT, "format_version": 2, "params": params, "offset": self.offset_,
                     "members": len(self.members_), "n_features_in": int(self.n_features_in_)}
            atomic_write_json(path / DETECTOR_FILE, state)
            return path
        self.autoencoder_.save(path / AUTOENCODER_DIR, include_optimizer=False)
        if self.code_covariance_ is not None:
            cov = self.code_covariance_
            tensors = {k: torch.from_numpy(np.ascontiguousarray(getattr(cov, k), dtype=np.float64))
                       for k in ("location_", "covariance_", "precision_")}
            atomic_write_bytes(path / TENSORS_FILE, st_save(tensors, metadata={"format": DETECTOR_FORMAT}))
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
            if "members" in state:
                members = [cls.load(path / f"{MEMBER_PREFIX}{i}") for i in range(int(state["members"]))]
                detector = cls(autoencoder=[m.autoencoder for m in members], **state["params"])
                detector._check_params()
                detector.members_, detector.autoencoder_ = members, members[0].autoencoder_
                detector.offset_, detector.n_features_in_ = float(state["offset"]), int(state["n_features_in"])
                detector.error_stats_ = detector.distance_stats_ = detector.code_covariance_ = None
                return detector
            detector = cls(autoencoder=str(path / AUTOENCODER_DIR), **state["params"])
            detector._check_params()
            detector.offset_ = float(state["offset"])
            detector.error_stats_ = None if state["error_stats"] is None else tuple(map(float, state["error_stats"]))
            detector.distance_stats_ = None if state["distance_stats"] is None else tuple(map(float, state["distance_stats"]))
            detector.n_features_in_ = int(state["n_features_in"])
        except (OSError, KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"cannot read '{meta_path}': {type(exc).__name__}: {exc}") from None
        detector.autoencoder_ = AutoEncoder.load(path / AUTOENCODER_DIR)
        detector.members_ = detector.code_covariance_ = None
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
MEMBER_PREFIX = "member-"

__all__ = ["AutoEncoderOutlierDetector"]
