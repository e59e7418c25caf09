"""Named configurations: one table mapping a preset to ``AutoEncoder`` parameters.

Each preset reproduces a published setup; ``source`` says which. Override any parameter on top.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError
from .train import TrainConfig

# What "auto" means (the defaults), chosen on validation splits of the MNIST, Fashion-MNIST and
# digits training data (bench/defaults.py): one hidden layer and a linear code, a batch that grows
# with the data, and early stopping on a held-out share within a budget of samples seen, so that
# 60,000 MNIST images train in under a minute on two CPU cores and 1,400 digits get hundreds of epochs.
AUTO = "auto"
AUTO_HIDDEN = (256,)
AUTO_VALIDATION_FRACTION = 0.1
AUTO_PATIENCE = 10
AUTO_SAMPLE_BUDGET = 1_000_000
AUTO_MAX_EPOCHS = 500


def auto_batch_size(n_samples: int) -> int:
    """``batch_size="auto"``: about 200 steps per epoch, between 32 and 256 samples."""
    return int(min(256, max(32, n_samples // 200)))


def auto_epochs(n_samples: int) -> int:
    """``epochs="auto"``: the epoch cap of early stopping, ``AUTO_SAMPLE_BUDGET`` samples seen at most."""
    return int(min(AUTO_MAX_EPOCHS, max(1, math.ceil(AUTO_SAMPLE_BUDGET / max(n_samples, 1)))))


def resolve_training(epochs: Any, batch_size: Any, early_stopping: Any, n_samples: int | None) -> dict[str, Any]:
    """Epochs, batch size and patience for ``n_samples`` training samples, "auto" resolved (None: the largest)."""
    values = {"epochs": epochs, "batch_size": batch_size, "early_stopping": early_stopping}
    for name, value in values.items():
        if isinstance(value, str) and value != AUTO:
            raise ConfigError(f"{name}={value!r}; expected an integer or 'auto'")
    if epochs == AUTO:
        values["epochs"] = auto_epochs(n_samples if n_samples is not None else 1)
    if batch_size == AUTO:
        values["batch_size"] = auto_batch_size(n_samples) if n_samples is not None else 256
    if early_stopping == AUTO:
        values["early_stopping"] = AUTO_PATIENCE if epochs == AUTO else None
    return values


def resolve_validation_fraction(value: Any, epochs: Any) -> float:
    """The share of X held out: "auto" holds out ``AUTO_VALIDATION_FRACTION`` for early stopping only."""
    if value == AUTO:
        return AUTO_VALIDATION_FRACTION if epochs == AUTO else 0.0
    if isinstance(value, str) or not 0 <= value < 1:
        raise ConfigError(f"validation_fraction={value!r}; expected a value in [0, 1) or 'auto'")
    return float(value)


def resolve_model(cls: type, hidden: Any, code_activation: str) -> dict[str, Any]:
    """The model-config entries for ``hidden`` and ``code_activation`` (None: the model's own default).

    "auto" settles the vector-code dense model: a hidden layer and a linear code beat PCA where the
    seed's 784-k-784 with a ReLU code does not. Other models keep their own defaults.
    """
    plain_dense = not (cls.is_image or cls.variational)
    if hidden == AUTO:
        hidden = AUTO_HIDDEN if plain_dense else ()
    if isinstance(hidden, str):
        raise ConfigError(f"hidden={hidden!r}; expected layer sizes such as (256,), () or 'auto'")
    cfg: dict[str, Any] = {cls.hidden_param: tuple(hidden)} if hidden else {}
    if cls.variational and code_activation in (AUTO, "relu"):
        cfg["code_activation"] = "linear"  # a Gaussian code has no activation
    elif code_activation == AUTO:
        cfg["code_activation"] = "linear" if plain_dense else None
    else:
        cfg["code_activation"] = code_activation
    return cfg


def saved_train_config(values: Any) -> TrainConfig | None:
    """The training settings a checkpoint was fitted with ("auto" resolved); None when it has none."""
    if not isinstance(values, dict):
        return None
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in values.items() if k in known})


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    source: str
    params: dict[str, Any] = field(default_factory=dict)
    data: str = "mnist"


# Adadelta with Keras 2's settings (lr=1.0, rho=0.95, eps=1e-7 -- deepae's "adadelta" defaults):
# the setting the Keras tutorial's numbers were obtained with.
_SEED = dict(model="dense", code_size=32, hidden=(), activation="relu", code_activation="relu",
             output_activation="sigmoid", loss="bce", optimizer="adadelta", lr=1.0, epochs=50, batch_size=256)

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset(
            "seed-demo",
            "784-32-784 dense AE: ReLU code, sigmoid output, Adadelta lr=1.0, BCE, batch 256, 50 epochs",
            "Keras autoencoder tutorial (Chollet, 2016), the demo of the deepae blog post",
            dict(_SEED),
        ),
        Preset(
            "keras-sparse",
            "784-32-784 with an L1 activity penalty of 1e-4 on the code, 100 epochs",
            "Keras autoencoder tutorial, 'Adding a sparsity constraint on the encoded representations'",
            {**_SEED, "l1": 1e-4, "epochs": 100},
        ),
        Preset(
            "keras-deep",
            "784-128-64-32-64-128-784 dense AE, ReLU, 100 epochs",
            "Keras autoencoder tutorial, 'Deep autoencoder'",
            {**_SEED, "hidden": (128, 64), "epochs": 100},
        ),
        Preset(
            "keras-conv",
            "conv AE 1x28x28 -> 8x4x4 code (conv 16-8-8 + max-pool levels, 28 -> 14 -> 7 -> 4), Adadelta, BCE, "
            "batch 128, 50 epochs",
            "Keras autoencoder tutorial, 'Convolutional autoencoder'",
            dict(model="conv", code_size=None, hidden=(16, 8, 8), loss="bce", output_activation="sigmoid",
                 optimizer="adadelta", epochs=50, batch_size=128),
        ),
        Preset(
            "keras-denoise",
            "conv AE 1x28x28 -> 32x7x7 (conv 32-32 + max-pool levels) trained to remove gaussian noise "
            "(std 0.5, clipped to [0, 1]), Adadelta, BCE, batch 128, 100 epochs",
            "Keras autoencoder tutorial, 'Application to image denoising' (noise_factor=0.5)",
            dict(model="conv", code_size=None, hidden=(32, 32), loss="bce", output_activation="sigmoid",
                 optimizer="adadelta", epochs=100, batch_size=128, noise="gaussian", noise_level=0.5),
        ),
        Preset(
            "hinton-mnist",
            "784-1000-500-250-30 deep AE with a linear code, BCE, Adam with cosine decay",
            "Hinton & Salakhutdinov, Science 313 (2006), Fig. 2 architecture",
            dict(model="dense", hidden=(1000, 500, 250), code_size=30, code_activation="linear",
                 activation="relu", loss="bce", output_activation="sigmoid", optimizer="adam", lr=1e-3,
                 scheduler="cosine", epochs=60, batch_size=128),
        ),
        Preset(
            "contractive",
            "784-64 sigmoid code with a contractive penalty of 0.1 (exact Jacobian)",
            "Rifai et al., ICML 2011 (CAE-1)",
            dict(model="dense", code_size=64, hidden=(), code_activation="sigmoid", loss="bce", contractive=0.1,
                 optimizer="adam", epochs=30, batch_size=128),
        ),
        Preset(
            "sparse-kl",
            "784-196 sigmoid code with KL sparsity (rho=0.05, beta=3)",
            "Ng, CS294A lecture notes 'Sparse autoencoder' (2011)",
            dict(model="dense", code_size=196, hidden=(), code_activation="sigmoid", loss="bce", kl_sparsity=3.0, rho=0.05,
                 optimizer="adam", epochs=30, batch_size=128),
        ),
        Preset(
            "vae-mnist",
            "dense VAE 784-512-(16)-512-784, BCE + KL, Adam",
            "Kingma & Welling, ICLR 2014",
            dict(model="vae", hidden=(512,), code_size=16, loss="bce", output_activation="sigmoid",
                 optimizer="adam", epochs=30, batch_size=128),
        ),
    ]
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}; expected one of {sorted(PRESETS)}") from None


def list_presets() -> list[str]:
    return sorted(PRESETS)
