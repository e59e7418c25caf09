"""Super-resolution: enlarge a photo 2, 3 or 4 times.

One model per factor upscales the luma (Y of full-range BT.601 YCbCr), predicting the correction
to its bicubic enlargement (as SRCNN and VDSR do: Dong et al. 2014, Kim et al. 2016); the chroma,
which the eye resolves less finely, is enlarged bicubically. Trained on photos downscaled with an
antialiased bicubic filter, the usual degradation of super-resolution benchmarks.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ..errors import ConfigError
from .restore import Task, Training, register_task, restore, rgb_to_ycbcr, run_model, ycbcr_to_rgb

FACTORS = (2, 3, 4)


def variant_of(factor: int) -> str:
    if factor not in FACTORS:
        raise ConfigError(f"factor={factor!r}; expected one of {list(FACTORS)}")
    return f"x{factor}"


@register_task
class Upscale(Task):
    name = "upscale"
    summary = "enlarge a photo 2, 3 or 4 times (--factor)"
    mode = "L"
    variants = tuple(f"x{f}" for f in FACTORS)
    model = dict(in_channels=1, channels=(64, 64, 128), blocks=2, residual="bicubic", output_activation="identity",
                 upsample="pixelshuffle")
    # Low-resolution inputs are small (48 px for x2), so a batch of 32 costs what 16 crops do elsewhere.
    training = Training(crop=96, batch_size=32, lr=1e-3, minutes=25.0, loss="l1")

    def model_config(self, variant=None):
        return {**self.model, "scale": int(variant[1:])}

    def degradations(self, variant=None):
        return [("downscale", int(variant[1:]))]

    def check_options(self, factor: int = 2, **options: Any) -> None:
        super().check_options(**options)
        variant_of(factor)

    def restore(self, model, pixels, factor: int = 2):
        f = model.config.scale
        if f != factor:
            raise ConfigError(f"this upscale model enlarges x{f}; asked for --factor {factor}")
        ycc = rgb_to_ycbcr(pixels[None]) if pixels.shape[0] == 3 else pixels[None]
        y = run_model(model, ycc[:, :1])
        if pixels.shape[0] == 1:
            return y[0]
        h, w = y.shape[-2:]
        chroma = F.interpolate(ycc[:, 1:], size=(h, w), mode="bicubic", align_corners=False)
        return ycbcr_to_rgb(torch.cat([y, chroma], 1))[0]


def upscale(image: Any, factor: int = 2, model=None) -> Any:
    """Enlarge a numpy array or PIL image ``factor`` (2, 3, 4) times."""
    return restore("upscale", image, model, variant=variant_of(factor), factor=factor)


__all__ = ["upscale", "FACTORS"]
