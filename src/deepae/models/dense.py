"""Fully connected autoencoders: the classic 784-32-784, deep stacks, and the dense VAE."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ConfigError
from ..registry import register
from .base import AEOutput, BaseAutoEncoder, ModelConfig
from .layers import (
    GaussianHead,
    activation,
    check_common,
    check_positive_ints,
    init_weights,
)


@dataclass
class DenseConfig(ModelConfig):
    """A dense autoencoder: ``input -> hidden... -> code -> decoder_hidden... -> input``.

    ``decoder_hidden=None`` mirrors ``hidden``. ``code_activation="linear"`` gives a linear code
    (as in Hinton & Salakhutdinov 2006); ``output_activation`` is "sigmoid" for data in [0, 1]
    (paired with cross-entropy) and "identity" otherwise.
    """

    input_shape: tuple[int, ...] = (784,)
    hidden: tuple[int, ...] = ()
    code_size: int = 32
    decoder_hidden: tuple[int, ...] | None = None
    activation: str = "relu"
    code_activation: str = "relu"
    output_activation: str = "sigmoid"
    dropout: float = 0.0
    batch_norm: bool = False
    init: str = "xavier"

    def validate(self) -> None:
        self.input_shape = check_positive_ints("input_shape", self.input_shape, allow_empty=False)
        self.hidden = check_positive_ints("hidden", self.hidden)
        if self.decoder_hidden is not None:
            self.decoder_hidden = check_positive_ints("decoder_hidden", self.decoder_hidden)
        if not isinstance(self.code_size, int) or isinstance(self.code_size, bool) or self.code_size <= 0:
            raise ConfigError(f"code_size={self.code_size!r}; expected a positive integer")
        check_common(self)
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ConfigError(f"dropout={self.dropout!r}; expected a value in [0, 1)")

    @property
    def input_dim(self) -> int:
        return math.prod(self.input_shape)

    @property
    def decoder_sizes(self) -> tuple[int, ...]:
        return tuple(reversed(self.hidden)) if self.decoder_hidden is None else self.decoder_hidden


def _dense_block(n_in: int, n_out: int, act: str, cfg: DenseConfig) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Linear(n_in, n_out)]
    if cfg.batch_norm:
        layers.append(nn.BatchNorm1d(n_out))
    layers.append(activation(act))
    if cfg.dropout:
        layers.append(nn.Dropout(cfg.dropout))
    return nn.Sequential(*layers)


def _dense_stack(sizes: list[int], act: str, cfg: DenseConfig) -> list[nn.Sequential]:
    return [_dense_block(a, b, act, cfg) for a, b in zip(sizes[:-1], sizes[1:])]


@register("dense")
class DenseAE(BaseAutoEncoder):
    """Dense autoencoder; the decoder mirrors the encoder unless ``decoder_hidden`` is given."""

    config_class = DenseConfig
    config: DenseConfig

    def __init__(self, config: DenseConfig):
        super().__init__(config)
        d = config.input_dim
        self.encoder = nn.Sequential(
            *_dense_stack([d, *config.hidden], config.activation, config),
            self._code_block(config.hidden[-1] if config.hidden else d),
        )
        dec = [config.code_size, *config.decoder_sizes]
        # The last decoder layer has no activation: it yields the logits the loss wants.
        self.decoder = nn.Sequential(*_dense_stack(dec, config.activation, config), nn.Linear(dec[-1], d))
        init_weights(self, config.init)

    def _code_block(self, n_in: int) -> nn.Module:
        return nn.Sequential(nn.Linear(n_in, self.config.code_size), activation(self.config.code_activation))

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], -1)  # (B, *input_shape) -> (B, D)

    def layer_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        if self.config.decoder_hidden is not None and self.config.decoder_hidden != tuple(reversed(self.config.hidden)):
            raise ConfigError("greedy pretraining needs a mirrored decoder (decoder_hidden=None)")
        enc, dec = list(self.encoder), list(self.decoder)
        return list(zip(enc, reversed(dec)))

    def single_layer_encoder(self) -> tuple[nn.Linear, str] | None:
        cfg = self.config
        if cfg.hidden or cfg.batch_norm or cfg.dropout:
            return None
        return self.encoder[0][0], cfg.code_activation


@dataclass
class DenseVAEConfig(DenseConfig):
    """A dense variational autoencoder (the KL weight ``beta`` is part of the ``Objective``)."""

    hidden: tuple[int, ...] = (512,)
    code_size: int = 16
    code_activation: str = "linear"


class VariationalMixin:
    """Reparameterised sampling on top of an encoder whose last block is a ``GaussianHead``.

    ``encode`` returns the posterior mean (deterministic, so transform() is repeatable);
    ``forward`` samples z = mu + sigma * eps while training and uses mu in eval mode. A
    ``generator`` draws eps; like torch's own samplers it must live on the model's device (the
    Trainer passes one there); None uses torch's default RNG.
    """

    variational = True

    def _code(self, h):
        mu, _ = h
        return mu

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> AEOutput:
        mu, logvar = self.encoder(self._prepare(x))  # (B, code) each
        if self.training:
            eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
            z = mu + eps * torch.exp(0.5 * logvar)
        else:
            z = mu
        return self._output(self.decode_logits(z), z, mu=mu, logvar=logvar)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decode ``n`` draws from the N(0, I) prior: (n, *input_shape); ``generator`` on the model's device."""
        device = self._device()
        z = torch.randn(n, self.config.code_size, generator=generator, device=device)
        return self.decode(z)

    def single_layer_encoder(self):
        return None

    def layer_pairs(self):
        raise ConfigError(f"greedy layer-wise pretraining is not available for model {self.name!r}")


@register("vae")
class DenseVAE(VariationalMixin, DenseAE):
    """Dense variational autoencoder (Kingma & Welling 2014)."""

    config_class = DenseVAEConfig

    def _code_block(self, n_in: int) -> nn.Module:
        return GaussianHead(n_in, self.config.code_size)
