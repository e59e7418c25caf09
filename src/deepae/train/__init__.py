"""Training: the Trainer, its callbacks, checkpoints and greedy layer-wise pretraining."""

from .callbacks import Callback, Checkpoint, EarlyStopping, LambdaCallback, ProgressBar, TimeLimit
from .checkpoint import (
    CHECKPOINT_DIR,
    latest_checkpoint,
    load_model,
    load_trainer_state,
    read_config,
    remove_checkpoints,
    save_checkpoint,
    save_model,
    save_trainer_state,
    transfer_weights,
)
from .optim import OPTIMIZERS, SCHEDULERS, build_optimizer
from .pretrain import greedy_pretrain
from .trainer import TrainConfig, Trainer, resolve_device

__all__ = [
    "CHECKPOINT_DIR",
    "Callback",
    "Checkpoint",
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
    "latest_checkpoint",
    "load_model",
    "load_trainer_state",
    "read_config",
    "remove_checkpoints",
    "resolve_device",
    "save_checkpoint",
    "save_model",
    "save_trainer_state",
    "transfer_weights",
]
