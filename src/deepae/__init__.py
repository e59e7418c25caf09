"""deepae: deep autoencoders for Python.

PyTorch models (dense, deep, convolutional, sparse, denoising, contractive, variational) behind
one registry, composable training objectives, a small Trainer, safetensors checkpoints, and a
scikit-learn estimator::

    from deepae import AutoEncoder
    ae = AutoEncoder(code_size=32, optimizer="adadelta", epochs=50).fit(X)
    codes = ae.transform(X)
"""

__version__ = "0.1.0"

from .api import AutoEncoder, load  # noqa: E402
from .errors import (  # noqa: E402
    CheckpointError,
    ConfigError,
    DataError,
    DeepAEError,
    DownloadError,
    NotFittedError,
    TrainingDivergedError,
)
from .losses import Objective  # noqa: E402
from .presets import PRESETS, get_preset, list_presets  # noqa: E402
from .registry import create_model, list_models, register  # noqa: E402

__all__ = [
    "AutoEncoder",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "DeepAEError",
    "DownloadError",
    "NotFittedError",
    "Objective",
    "TrainingDivergedError",
    "PRESETS",
    "create_model",
    "get_preset",
    "list_models",
    "list_presets",
    "load",
    "register",
]
