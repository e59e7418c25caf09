"""The surface every deepae model shares: encode, decode, forward -> AEOutput, layer_outputs."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from ..errors import ConfigError


class AEOutput:
    """What one forward pass returns; losses read the fields they need.

    ``logits`` is the pre-sigmoid output when the output activation is a sigmoid, so the
    cross-entropy can be computed from logits (stable and cheaper). ``x_hat``, the reconstruction
    in data space, is then computed on first access only: a training step with the BCE loss never
    needs it. ``mu``/``logvar`` are set by variational models; ``z`` is then a sample from q(z|x).
    """

    __slots__ = ("z", "logits", "mu", "logvar", "_x_hat")

    def __init__(
        self,
        x_hat: torch.Tensor | None = None,
        z: torch.Tensor | None = None,
        logits: torch.Tensor | None = None,
        mu: torch.Tensor | None = None,
        logvar: torch.Tensor | None = None,
    ):
        if x_hat is None and logits is None:
            raise ValueError("AEOutput needs x_hat or logits")
        self._x_hat, self.z, self.logits, self.mu, self.logvar = x_hat, z, logits, mu, logvar

    @property
    def x_hat(self) -> torch.Tensor:
        if self._x_hat is None:
            self._x_hat = torch.sigmoid(self.logits)
        return self._x_hat

    def __repr__(self) -> str:
        shapes = {
            k: tuple(getattr(self, k).shape) for k in ("x_hat", "z", "logits", "mu", "logvar") if getattr(self, k) is not None
        }
        return f"AEOutput({shapes})"


@dataclass
class ModelConfig:
    """Base of every model config: a plain dataclass that round-trips through JSON."""

    def __post_init__(self) -> None:
        # JSON turns tuples into lists; normalise so a reloaded config compares equal.
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list):
                setattr(self, f.name, tuple(value))
        self.validate()

    def validate(self) -> None:  # pragma: no cover - overridden
        pass

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "ModelConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(
                f"unknown parameter(s) {unknown} for {cls.__name__}; expected some of {sorted(known)}"
            )
        return cls(**values)


class BaseAutoEncoder(nn.Module):
    """Encoder -> code -> decoder.

    Subclasses build ``self.encoder`` (an ``nn.Sequential`` of blocks ending in the code) and
    ``self.decoder`` (blocks ending in the output pre-activation). Inputs of any sample shape
    ``input_shape`` come in as ``(B, *input_shape)``; codes are ``(B, code_dim)``.
    """

    name: ClassVar[str] = ""
    config_class: ClassVar[type[ModelConfig]] = ModelConfig
    # Model facts, read by the estimator, the CLI and the applications instead of lists of names.
    is_image: ClassVar[bool] = False  # takes (B, C, H, W) images; the estimator reshapes flat rows
    variational: ClassVar[bool] = False  # Gaussian code: forward samples, sample() decodes the prior
    image_to_image: ClassVar[bool] = False  # maps images to images of any size (no fixed input size)
    fixed_code: ClassVar[bool] = True  # the code has a fixed length (code_size None is not allowed)
    hidden_param: ClassVar[str] = "hidden"  # the config field the estimator's ``hidden`` fills

    encoder: nn.Sequential
    decoder: nn.Sequential

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config

    # -- shapes ---------------------------------------------------------------------------
    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.config.input_shape)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Per-sample shape of ``forward(x).x_hat`` for inputs of per-sample shape ``input_shape``.

        An autoencoder reconstructs its input; image-to-image models override this (other
        channels, a larger scale).
        """
        return tuple(input_shape)

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Bring ``(B, *input_shape)`` (or its flattened form) to what the first block expects."""
        return x

    def _finish(self, h: torch.Tensor) -> torch.Tensor:
        """Bring the decoder's output back to ``(B, *input_shape)``."""
        return h.reshape(h.shape[0], *self.input_shape)

    def _activate(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits) if self.config.output_activation == "sigmoid" else logits

    # -- the public surface ---------------------------------------------------------------
    def _code(self, h: torch.Tensor) -> torch.Tensor:
        """The last encoder block's output -> the code ``(B, code_dim)``."""
        return h.flatten(1)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, *input_shape) -> (B, code_dim): the deterministic code."""
        return self._code(self.encoder(self._prepare(x)))

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """(B, code_dim) -> (B, *input_shape) before the output activation."""
        return self._finish(self.decoder(z))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, code_dim) -> (B, *input_shape) reconstruction in data space."""
        return self._activate(self.decode_logits(z))

    def forward(self, x: torch.Tensor) -> AEOutput:
        return self._output(self.decode_logits(z := self.encode(x)), z)

    def _output(self, h: torch.Tensor, z: torch.Tensor, **extra: torch.Tensor) -> AEOutput:
        """Wrap the decoder's pre-activation ``h``: logits for a sigmoid output, else the output itself."""
        if self.config.output_activation == "sigmoid":
            return AEOutput(z=z, logits=h, **extra)
        return AEOutput(x_hat=h, z=z, **extra)

    def layer_outputs(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every block's representation, in order: ``encoder.i``, ``code``, ``decoder.i``, ``output``."""
        outputs: dict[str, torch.Tensor] = {}
        h = self._prepare(x)
        for i, block in enumerate(self.encoder):
            h = block(h)
            outputs[f"encoder.{i}"] = h
        h = outputs["code"] = self._code(h)
        for i, block in enumerate(self.decoder):
            h = block(h)
            outputs[f"decoder.{i}"] = h
        outputs["output"] = self._activate(self._finish(h))
        return outputs

    @property
    def code_dim(self) -> int:
        # Probe in eval mode: batch norm cannot take a batch of one while training.
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                return self.encode(torch.zeros(1, *self.input_shape, device=self._device())).shape[1]
        finally:
            self.train(was_training)

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    def layer_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        """(encoder block, matching decoder block) pairs, outermost first, for greedy pretraining."""
        raise ConfigError(f"greedy layer-wise pretraining is not available for model {self.name!r}")

    def single_layer_encoder(self) -> tuple[nn.Linear, str] | None:
        """``(linear, activation)`` when the encoder is one dense layer; enables the exact contractive penalty."""
        return None
