"""Training: the Trainer, its callbacks, checkpoints and greedy layer-wise pretraining."""

from .callbacks import Callback, EarlyStopping, LambdaCallback, ProgressBar, TimeLimit
from .checkpoint import (
    load_model,
    load_trainer_state,
    read_config,
    save_model,
    save_trainer_state,
    transfer_weights,
)
from .optim import OPTIMIZERS, SCHEDULERS, build_optimizer
from .pretrain import greedy_pretrain
from .trainer import TrainConfig, Trainer, resolve_device

__all__ = [
    "Callback",
    "EarlyStopping",
    "LambdaCallback",
    "ProgressBar",
    "OPTIMIZERS",
    "SCHEDULERS",
    "TimeLimit",
    "TrainConfig",
    "Trainer",
    "build_optimizer",
    "greedy_pretrain",
    "load_model",
    "load_trainer_state",
    "read_config",
    "resolve_device",
    "save_model",
    "save_trainer_state",
    "transfer_weights",
]
