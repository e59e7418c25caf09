"""The exceptions deepae raises for problems a user can fix.

Every error names the parameter or file, the value received and what was expected, in one line.
They subclass the built-in exception a caller would catch anyway (``ValueError``, ``FileNotFoundError``)
so scikit-learn and plain ``except ValueError`` code keep working.
"""

from __future__ import annotations

from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

__all__ = [
    "DeepAEError",
    "ConfigError",
    "DataError",
    "CheckpointError",
    "DownloadError",
    "NotFittedError",
    "TrainingDivergedError",
]


class DeepAEError(Exception):
    """Base class of every error deepae raises on purpose."""


class ConfigError(DeepAEError, ValueError):
    """A hyperparameter, model name or preset is unknown or out of range."""


class DataError(DeepAEError, ValueError):
    """Input data has the wrong shape, dtype, values (NaN/inf) or is empty."""


class CheckpointError(DeepAEError, ValueError):
    """A saved model is missing, unreadable, or does not match what it is loaded into."""


class DownloadError(DeepAEError, OSError):
    """A data set could not be downloaded or failed its checksum."""


class TrainingDivergedError(DeepAEError, FloatingPointError):
    """The training loss became NaN or infinite."""


class NotFittedError(DeepAEError, _SklearnNotFittedError):
    """An estimator method that needs a fitted model was called before ``fit``."""
