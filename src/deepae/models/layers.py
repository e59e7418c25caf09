"""Small building blocks shared by the model families."""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError

# Name -> factory. "linear" (identity) is how a config asks for a linear code layer.
_ACTIVATIONS = {
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "selu": nn.SELU,
    "softplus": nn.Softplus,
    "linear": nn.Identity,
}

OUTPUT_ACTIVATIONS = ("sigmoid", "identity")


def activation(name: str) -> nn.Module:
    """Build the activation module called ``name``; ConfigError lists the known names otherwise."""
    try:
        return _ACTIVATIONS[name]()
    except KeyError:
        raise ConfigError(
            f"unknown activation {name!r}; expected one of {sorted(_ACTIVATIONS)}"
        ) from None


def check_activation(param: str, name: str) -> None:
    if not isinstance(name, str) or name not in _ACTIVATIONS:
        raise ConfigError(f"{param}={name!r} is not a known activation; expected one of {sorted(_ACTIVATIONS)}")


def check_output_activation(name: str) -> None:
    if not isinstance(name, str) or name not in OUTPUT_ACTIVATIONS:
        raise ConfigError(f"output_activation={name!r}; expected one of {list(OUTPUT_ACTIVATIONS)}")


def check_common(cfg) -> None:
    """Checks every model config shares: activations, output activation, initialisation."""
    check_activation("activation", cfg.activation)
    check_activation("code_activation", cfg.code_activation)
    check_output_activation(cfg.output_activation)
    if cfg.init not in ("xavier", "default"):
        raise ConfigError(f"init={cfg.init!r}; expected 'xavier' or 'default'")


def check_positive_ints(param: str, values, allow_empty: bool = True) -> tuple[int, ...]:
    """Validate a list of layer sizes and return it as a tuple."""
    try:
        values = tuple(int(v) for v in values)
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(inf)
        raise ConfigError(f"{param}={values!r}; expected a list of positive integers") from None
    if (not allow_empty and not values) or any(v <= 0 for v in values):
        raise ConfigError(
            f"{param}={list(values)!r}; expected a {'non-empty ' if not allow_empty else ''}list of positive integers"
        )
    return values


def init_weights(module: nn.Module, scheme: str) -> None:
    """Initialise Linear/Conv weights.

    "xavier" is Glorot-uniform weights with zero biases, the Keras default the published
    Keras numbers were obtained with; "default" keeps PyTorch's own initialisation.
    """
    if scheme == "default":
        return
    if scheme != "xavier":
        raise ConfigError(f"init={scheme!r}; expected 'xavier' or 'default'")
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class GaussianHead(nn.Module):
    """Maps features to the mean and log-variance of a diagonal Gaussian posterior q(z|x)."""

    def __init__(self, in_features: int, code_size: int):
        super().__init__()
        self.mu = nn.Linear(in_features, code_size)
        self.logvar = nn.Linear(in_features, code_size)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # Clamp keeps exp(logvar) finite early in training, when logits can be large.
        return self.mu(h), self.logvar(h).clamp(-30.0, 20.0)


def pad_to(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Pad ``(B, C, H, W)`` at the bottom and right to ``(B, C, height, width)``.

    Reflection keeps image statistics at the border (no dark frame as with zeros); it needs each pad
    to be smaller than the side it mirrors, so tiny images fall back to replicating the edge.
    """
    ph, pw = height - x.shape[-2], width - x.shape[-1]
    if ph < 0 or pw < 0:
        raise ValueError(f"cannot pad a {x.shape[-2]}x{x.shape[-1]} image to the smaller {height}x{width}")
    if ph == 0 and pw == 0:
        return x
    mode = "reflect" if ph < x.shape[-2] and pw < x.shape[-1] else "replicate"
    return nn.functional.pad(x, (0, pw, 0, ph), mode=mode)


def round_up(n: int, multiple: int) -> int:
    """The smallest multiple of ``multiple`` that is >= ``n``."""
    return -(-n // multiple) * multiple
