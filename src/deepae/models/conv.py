"""Convolutional autoencoders for 2-D images (grayscale or RGB) and the convolutional VAE."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError, DataError
from ..registry import register
from .base import AEOutput, BaseAutoEncoder, ModelConfig
from .dense import VariationalMixin
from .layers import (
    GaussianHead,
    activation,
    check_common,
    check_positive_ints,
    init_weights,
)


@dataclass
class ConvConfig(ModelConfig):
    """A convolutional autoencoder on ``(C, H, W)`` images.

    Each encoder level halves H and W, rounding up (28 -> 14 -> 7 -> 4, like Keras' ``padding="same"``):
    ``downsample="pool"`` is conv + 2x2 max-pool (decoder: conv + nearest upsampling back to the
    encoder's size at that level, as in the Keras tutorial), ``"stride"`` a stride-2 conv (decoder:
    stride-2 transposed conv with the output padding that restores that size).
    ``code_size=None`` keeps the last feature map as the code; an integer adds a dense bottleneck.

    With ``code_size=None`` the model is fully convolutional: ``input_shape`` is the nominal size
    (``code_dim``, ``decode`` of a flat code), and ``forward`` takes images of any H x W (at least
    2 x 2 entering every level), returning the same H x W. A dense ``code_size`` fixes the size.
    """

    input_shape: tuple[int, ...] = (1, 28, 28)
    channels: tuple[int, ...] = (32, 32)
    decoder_channels: tuple[int, ...] | None = None
    kernel_size: int = 3
    code_size: int | None = None
    activation: str = "relu"
    code_activation: str = "relu"
    output_activation: str = "sigmoid"
    downsample: str = "pool"
    batch_norm: bool = False
    init: str = "xavier"

    def validate(self) -> None:
        self.input_shape = check_positive_ints("input_shape", self.input_shape, allow_empty=False)
        if len(self.input_shape) != 3:
            raise ConfigError(f"input_shape={list(self.input_shape)}; a conv model expects (channels, height, width)")
        self.channels = check_positive_ints("channels", self.channels, allow_empty=False)
        if self.decoder_channels is not None:
            self.decoder_channels = check_positive_ints("decoder_channels", self.decoder_channels)
            if len(self.decoder_channels) != len(self.channels):
                raise ConfigError(
                    f"decoder_channels={list(self.decoder_channels)} must have as many levels as channels={list(self.channels)}"
                )
        if min(min(hw) for hw in self.level_sizes[:-1]) < 2:
            raise ConfigError(
                f"input_shape={list(self.input_shape)} is too small for {len(self.channels)} downsampling "
                f"levels (sizes {[list(hw) for hw in self.level_sizes]}); "
                "give fewer levels (channels, or hidden in the estimator)"
            )
        if self.kernel_size not in (1, 3, 5, 7):
            raise ConfigError(f"kernel_size={self.kernel_size!r}; expected an odd size 1, 3, 5 or 7")
        if self.code_size is not None and (not isinstance(self.code_size, int) or self.code_size <= 0):
            raise ConfigError(f"code_size={self.code_size!r}; expected a positive integer or None")
        check_common(self)
        if self.downsample not in ("pool", "stride"):
            raise ConfigError(f"downsample={self.downsample!r}; expected 'pool' or 'stride'")

    @property
    def level_sizes(self) -> list[tuple[int, int]]:
        """(H, W) entering each encoder level, then of the last feature map: each level halves, rounding up."""
        sizes = [tuple(self.input_shape[1:])]
        for _ in self.channels:
            h, w = sizes[-1]
            sizes.append((-(-h // 2), -(-w // 2)))
        return sizes

    @property
    def feature_shape(self) -> tuple[int, int, int]:
        """Shape of the last encoder feature map."""
        return (self.channels[-1], *self.level_sizes[-1])


class _UpLevel(nn.Sequential):
    """A decoder level whose upsampling restores a size given per call.

    Built with the size of ``config.input_shape`` (what ``nn.Upsample``/``output_padding`` hold, and
    the state_dict keys of a plain ``nn.Sequential``); ``forward(h, size)`` restores ``size`` instead,
    the (H, W) the encoder saw at that level, so the model reconstructs images of any size.
    """

    def forward(self, h: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
        for layer in self:
            if size is not None and isinstance(layer, nn.ConvTranspose2d):
                # output_size picks the output padding (0 or 1) that restores an odd or even size.
                h = layer(h, output_size=size)
            elif size is not None and isinstance(layer, nn.Upsample):
                h = F.interpolate(h, size=size, mode=layer.mode)  # what nn.Upsample(size=size) computes
            else:
                h = layer(h)
        return h


def _level(c_in: int, c_out: int, cfg: ConvConfig, up: tuple[int, int] | None = None) -> nn.Sequential:
    """One resolution level: halves H and W on the way down; on the way up (``up`` = the (H, W) to
    restore, the encoder's size at that level) doubles them, trimmed to ``up`` where the encoder rounded up."""
    k, p = cfg.kernel_size, cfg.kernel_size // 2
    if cfg.downsample == "stride" and up:
        # From ceil(S / 2): output = 2 * ceil(S / 2) - 1 + output_padding (odd k), so 1 restores an even S, 0 an odd one.
        pad = (1 - up[0] % 2, 1 - up[1] % 2)
        layers: list[nn.Module] = [nn.ConvTranspose2d(c_in, c_out, k, stride=2, padding=p, output_padding=pad)]
    else:
        layers = [nn.Conv2d(c_in, c_out, k, stride=2 if cfg.downsample == "stride" else 1, padding=p)]
    if cfg.batch_norm:
        layers.append(nn.BatchNorm2d(c_out))
    layers.append(activation(cfg.activation))
    if cfg.downsample == "pool":
        layers.append(nn.Upsample(size=up, mode="nearest") if up else nn.MaxPool2d(2, ceil_mode=True))
    return _UpLevel(*layers) if up else nn.Sequential(*layers)


@register("conv")
class ConvAE(BaseAutoEncoder):
    """Convolutional autoencoder: (B, C, H, W) -> code -> (B, C, H, W).

    With ``code_size=None`` any H x W goes through: ``forward`` records the (H, W) entering each
    encoder level and the decoder restores them (levels halve rounding up, so 15 -> 8 -> 15).
    ``encode`` returns the flattened feature map, whose length depends on the image size;
    ``decode`` takes that flat code at the configured size, or a feature map ``(B, C, h, w)`` of any
    size, restoring the configured sizes when (h, w) is the configured feature size and doubling
    each level otherwise (a lone code does not say whether the encoder rounded up).
    """

    config_class = ConvConfig
    config: ConvConfig
    is_image = True
    fixed_code = False  # code_size=None keeps the last feature map as the code
    hidden_param = "channels"

    def __init__(self, config: ConvConfig):
        super().__init__(config)
        c_in = config.input_shape[0]
        enc_ch = [c_in, *config.channels]
        blocks: list[nn.Module] = [_level(a, b, config) for a, b in zip(enc_ch[:-1], enc_ch[1:])]
        n_feat = math.prod(config.feature_shape)
        if config.code_size is not None:
            blocks.append(self._code_block(n_feat))
        self.encoder = nn.Sequential(*blocks)

        dec_ch = config.decoder_channels or tuple(reversed(config.channels))
        dec: list[nn.Module] = []
        if config.code_size is not None:
            dec.append(nn.Sequential(nn.Linear(config.code_size, n_feat), activation(config.activation)))
        # The code arrives flattened (B, code_dim); give it back its (C, h, w) feature-map shape.
        dec.append(nn.Unflatten(1, config.feature_shape))
        up_ch = [config.channels[-1], *dec_ch]
        restore = config.level_sizes[-2::-1]  # the encoder's sizes, deepest level first
        dec += [_level(a, b, config, up=hw) for a, b, hw in zip(up_ch[:-1], up_ch[1:], restore)]
        # Final conv to the image's channels, no activation: the loss wants logits.
        dec.append(nn.Conv2d(up_ch[-1], c_in, config.kernel_size, padding=config.kernel_size // 2))
        self.decoder = nn.Sequential(*dec)
        init_weights(self, config.init)
        # Channels-last (NHWC) convolutions train ~1.4x faster on the CPU (oneDNN) and suit GPU tensor
        # cores; checkpoints still store contiguous tensors, and loading copies into this layout.
        self.to(memory_format=torch.channels_last)

    def _code_block(self, n_feat: int) -> nn.Module:
        return nn.Sequential(nn.Flatten(1), nn.Linear(n_feat, self.config.code_size), activation(self.config.code_activation))

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        if cfg.code_size is None and x.dim() == 4:  # fully convolutional: any (B, C, H, W)
            if x.shape[1] != cfg.input_shape[0]:
                raise DataError(f"x has {x.shape[1]} channels (shape {tuple(x.shape)}); this model takes {cfg.input_shape[0]}")
        elif math.prod(x.shape[1:]) != math.prod(cfg.input_shape):
            what = f"a dense code_size={cfg.code_size} fixes the size" if cfg.code_size else "flat rows need the configured size"
            raise DataError(
                f"x has samples of shape {tuple(x.shape[1:])}; this model takes input_shape={list(cfg.input_shape)} ({what})"
            )
        else:
            x = x.reshape(x.shape[0], *cfg.input_shape)
        return x.contiguous(memory_format=torch.channels_last)

    def _finish(self, h: torch.Tensor) -> torch.Tensor:
        return h  # the decoder already yields (B, C, H, W) at the size it restored

    def _run_encoder(
        self, x: torch.Tensor, outputs: dict[str, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, list[tuple[int, int]]]:
        """(B, C, H, W) -> (the last encoder block's output, the (H, W) entering each level)."""
        n_levels = len(self.config.channels)
        h, sizes = self._prepare(x), []
        for i, block in enumerate(self.encoder):
            if i < n_levels:
                size = (h.shape[-2], h.shape[-1])
                if min(size) < 2:
                    raise DataError(
                        f"x of size {x.shape[-2]}x{x.shape[-1]} is too small for {n_levels} downsampling levels "
                        f"(level {i} would get {size[0]}x{size[1]}; each level needs at least 2x2)"
                    )
                sizes.append(size)
            h = block(h)
            if outputs is not None:
                outputs[f"encoder.{i}"] = h
        return h, sizes

    def _restore_sizes(self, hw: tuple[int, int]) -> list[tuple[int, int]]:
        """Sizes to restore, deepest level first, for a lone feature map of spatial size ``hw``."""
        cfg = self.config
        if tuple(hw) == tuple(cfg.feature_shape[1:]):
            return cfg.level_sizes[-2::-1]
        h, w = hw
        return [(h * 2**i, w * 2**i) for i in range(1, len(cfg.channels) + 1)]

    def _run_decoder(
        self,
        z: torch.Tensor,
        shape: tuple[int, ...] | None = None,
        sizes: list[tuple[int, int]] | None = None,
        outputs: dict[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Code -> output pre-activation.

        ``z`` is (B, code_dim) or, with ``code_size=None``, a feature map (B, C, h, w); ``shape`` is the
        (C, h, w) a flat code unflattens to (the configured feature shape if None) and ``sizes`` the
        (H, W) each level restores, deepest first (from the encoder in ``forward``).
        """
        cfg = self.config
        feature_shape = tuple(shape or cfg.feature_shape)
        if cfg.code_size is not None and z.dim() != 2:
            raise DataError(f"z has shape {tuple(z.shape)}; this model's codes are (B, code_size={cfg.code_size})")
        if cfg.code_size is None:
            if z.dim() == 4 and z.shape[1] != cfg.channels[-1]:
                raise DataError(f"z has {z.shape[1]} channels (shape {tuple(z.shape)}); the code has {cfg.channels[-1]}")
            if z.dim() == 2 and z.shape[1] != math.prod(feature_shape):
                raise DataError(
                    f"z has {z.shape[1]} features; a flat code of this model has {math.prod(feature_shape)} "
                    f"(feature shape {list(feature_shape)}); pass a feature map (B, C, h, w) for other image sizes"
                )
            if z.dim() not in (2, 4):
                raise DataError(f"z has shape {tuple(z.shape)}; expected (B, code_dim) or a feature map (B, C, h, w)")
        h, level = z, 0
        for i, block in enumerate(self.decoder):
            if isinstance(block, nn.Unflatten):
                if h.dim() == 2:
                    # (B, C*h*w) -> (B, C, h, w); the module itself at the configured size, as always.
                    h = block(h) if feature_shape == tuple(cfg.feature_shape) else h.unflatten(1, feature_shape)
                if sizes is None:
                    sizes = self._restore_sizes((h.shape[-2], h.shape[-1]))
            elif isinstance(block, _UpLevel):
                h = block(h, size=sizes[level])
                level += 1
            else:
                h = block(h)
            if outputs is not None:
                outputs[f"decoder.{i}"] = h
        return h

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, code_dim): the dense code, or the flattened last feature map."""
        return self._code(self._run_encoder(x)[0])

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """(B, code_dim) or a feature map (B, C, h, w) -> (B, C, H, W) before the output activation."""
        return self._run_decoder(z)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> AEOutput:
        """(B, C, H, W) -> reconstruction of the same size; ``generator`` is unused (nothing is sampled)."""
        h, sizes = self._run_encoder(x)
        z = self._code(h)
        return self._output(self._run_decoder(z, self._map_shape(h), sizes[::-1]), z)

    def _map_shape(self, h: torch.Tensor) -> tuple[int, ...] | None:
        """The (C, h, w) a flat code of this forward pass unflattens to (None: the configured one)."""
        return tuple(h.shape[1:]) if self.config.code_size is None else None

    def layer_outputs(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every block's representation, in order: ``encoder.i``, ``code``, ``decoder.i``, ``output``."""
        outputs: dict[str, torch.Tensor] = {}
        h, sizes = self._run_encoder(x, outputs)
        z = outputs["code"] = self._code(h)
        out = self._run_decoder(z, self._map_shape(h), sizes[::-1], outputs)
        outputs["output"] = self._activate(out)
        return outputs


@dataclass
class ConvVAEConfig(ConvConfig):
    """A convolutional VAE: conv encoder, Gaussian code of ``code_size``, conv decoder."""

    code_size: int | None = 16

    def validate(self) -> None:
        super().validate()
        if self.code_size is None:
            raise ConfigError("code_size=None; a variational model needs an integer code_size")


@register("conv-vae")
class ConvVAE(VariationalMixin, ConvAE):
    """Convolutional variational autoencoder."""

    config_class = ConvVAEConfig
    fixed_code = True

    def _code_block(self, n_feat: int) -> nn.Module:
        return nn.Sequential(nn.Flatten(1), GaussianHead(n_feat, self.config.code_size))
