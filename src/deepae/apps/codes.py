"""Codes and reconstruction errors of a trained model: the one way the applications get them.

The estimators of ``deepae.apps`` take their model as ``autoencoder=``, one of

- ``None`` or an unfitted ``deepae.AutoEncoder``: a clone is trained on the data given to ``fit``;
- ``sklearn.frozen.FrozenEstimator(fitted_autoencoder)``: used as it is (a copy, never refitted);
- the path of a run folder (``deepae train --out``, ``AutoEncoder.save``): loaded and used as it is.

Any scikit-learn transformer (``PCA(10)``, ...) may stand in for the autoencoder where only codes,
or ``inverse_transform`` for squared reconstruction errors, are needed: that is how a benchmark
runs its baselines through the same estimators.
"""

from __future__ import annotations

import copy
import os
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import NotFittedError as _SklearnNotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ..api import AutoEncoder
from ..errors import ConfigError, NotFittedError
from ..metrics import squared_error

# How a sample's reconstruction error is measured:
#   "loss": the loss the autoencoder was fitted with (BCE or MSE, mean over features), per sample;
#   "squared": squared error summed over features, for any model with ``inverse_transform``.
ERRORS = ("loss", "squared")


def check_fitted(estimator: Any) -> None:
    """scikit-learn's ``check_is_fitted``, raising deepae's ``NotFittedError`` with the estimator's name."""
    try:
        check_is_fitted(estimator)
    except _SklearnNotFittedError:
        raise NotFittedError(f"this {type(estimator).__name__} is not fitted yet; call fit(X) first") from None


def derive_seeds(random_state: Any, n: int) -> list[int | None]:
    """``n`` integer seeds drawn from ``random_state`` (int, RandomState or None: then ``n`` Nones)."""
    if random_state is None:
        return [None] * n
    return [int(s) for s in check_random_state(random_state).randint(np.iinfo(np.int32).max, size=n)]


def fit_autoencoder(autoencoder: Any, X: np.ndarray, random_state: int | None = None) -> Any:
    """The fitted model an application works with, given its ``autoencoder=`` parameter (see the module doc).

    A model trained here gets ``random_state`` as its seed unless it was given one.
    """
    if autoencoder is None:
        autoencoder = AutoEncoder()
    if isinstance(autoencoder, (str, os.PathLike)):
        return AutoEncoder.load(autoencoder)
    if isinstance(autoencoder, FrozenEstimator):
        check_fitted(autoencoder.estimator)
        return copy.deepcopy(autoencoder.estimator)  # the caller's model is never changed (DEC fine-tunes its copy)
    if not (hasattr(autoencoder, "fit") and hasattr(autoencoder, "transform")):
        raise ConfigError(
            f"autoencoder={autoencoder!r}; expected a deepae.AutoEncoder (or another scikit-learn transformer), "
            "a FrozenEstimator around a fitted one, or the path of a run folder"
        )
    model = clone(autoencoder)
    params = model.get_params(deep=False)
    if random_state is not None and "random_state" in params and params["random_state"] is None:
        model.set_params(random_state=random_state)
    return model.fit(X)


def as_model(source: Any) -> Any:
    """A fitted model from a fitted estimator, a ``FrozenEstimator`` or a run folder path."""
    if isinstance(source, (str, os.PathLike)):
        return AutoEncoder.load(source)
    model = source.estimator if isinstance(source, FrozenEstimator) else source
    check_fitted(model)
    return model


def encode(source: Any, X: Any) -> np.ndarray:
    """Codes of ``X``, (n_samples, code_dim), from a fitted model or a run folder path."""
    return np.asarray(as_model(source).transform(X))


def reconstruction_errors(source: Any, X: Any, error: str = "loss") -> np.ndarray:
    """Per-sample reconstruction error of ``X`` (float64, (n_samples,)); ``error`` is one of ``ERRORS``."""
    model = as_model(source)
    if error == "loss":
        if not isinstance(model, AutoEncoder):
            raise ConfigError(
                f"error='loss' reads the loss a deepae.AutoEncoder was fitted with; {type(model).__name__} has none "
                "(use error='squared')"
            )
        return model.reconstruction_error(X).astype(np.float64)
    if error == "squared":
        if not hasattr(model, "inverse_transform"):
            raise ConfigError(f"error='squared' needs a model with inverse_transform; {type(model).__name__} has none")
        X = np.asarray(X)
        return squared_error(X, np.asarray(model.inverse_transform(model.transform(X))).reshape(X.shape))
    raise ConfigError(f"error={error!r}; expected one of {', '.join(map(repr, ERRORS))}")


__all__ = ["ERRORS", "as_model", "check_fitted", "derive_seeds", "encode", "fit_autoencoder", "reconstruction_errors"]
