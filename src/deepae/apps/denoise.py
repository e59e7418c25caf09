"""Denoising: remove sensor-like noise from colour or gray photos, with an estimated or given strength.

The model sees one channel and a map of the noise level (FFDNet's idea: Zhang, Zuo & Zhang 2018),
and predicts the correction to the noisy channel. Colour images are denoised channel by channel.
The noise level is estimated from the image (the median absolute deviation of its finest diagonal
Haar details, Donoho & Johnstone 1994) unless given: ``sigma`` is in 8-bit grey levels (25 = 25/255).
"""

from __future__ import annotations

from typing import Any

import torch

from ..errors import ConfigError
from .restore import Task, Training, register_task, restore, run_model

SIGMA_MAX = 60.0  # grey levels: the strongest noise the default model was trained on is 55


def estimate_sigma(x: torch.Tensor) -> torch.Tensor:
    """Noise standard deviation of each channel of (C, H, W) in [0, 1] units: (C,).

    The diagonal Haar detail of a smooth image is near 0, and of white noise of std s has std s;
    the median absolute deviation / 0.6745 estimates s robustly against edges.
    """
    c, h, w = x.shape
    x = x[:, : h - h % 2, : w - w % 2]
    d = (x[:, 0::2, 0::2] - x[:, 0::2, 1::2] - x[:, 1::2, 0::2] + x[:, 1::2, 1::2]) / 2
    return d.reshape(c, -1).abs().median(dim=1).values / 0.6745


def _with_noise_map(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) and per-image sigma (B,) -> (B, 2, H, W): the image and a constant noise-level map."""
    return torch.cat([x, sigma.view(-1, 1, 1, 1).to(x.dtype).expand_as(x)], 1)


@register_task
class Denoise(Task):
    name = "denoise"
    summary = "remove noise from a photo (colour or gray); --sigma overrides the estimated strength"
    mode = "L"
    model = dict(in_channels=2, out_channels=1, channels=(32, 64, 128), blocks=2, residual="input",
                 output_activation="identity")
    training = Training(crop=96, batch_size=16, lr=1e-3, minutes=25.0, loss="mse")

    def degradations(self, variant=None):
        # Additive gaussian noise up to 55/255, half of it clipped to [0, 1] as a saved photo is.
        return [("gaussian", (0.0, 55 / 255), {"clip": False}), ("gaussian", (0.0, 55 / 255), {"clip": True})]

    def pair(self, degraded, clean):
        # The true noise level of each crop is the std of what was added.
        sigma = (degraded - clean).flatten(1).std(1)
        return _with_noise_map(degraded, sigma), clean

    def check_options(self, sigma: float | None = None, **options: Any) -> None:
        super().check_options(**options)
        if sigma is not None and not (0 <= float(sigma) <= SIGMA_MAX):
            raise ConfigError(f"sigma={sigma!r}; expected a noise level in [0, {SIGMA_MAX:g}] grey levels (of 255)")

    def restore(self, model, pixels, sigma: float | None = None):
        sig = estimate_sigma(pixels) if sigma is None else torch.full((pixels.shape[0],), float(sigma) / 255)
        channels = pixels.unsqueeze(1)  # (C, 1, H, W): each channel is one gray image
        return run_model(model, _with_noise_map(channels, sig)).squeeze(1)


def denoise(image: Any, sigma: float | None = None, model=None) -> Any:
    """Denoise a numpy array or PIL image (``sigma`` in grey levels of 255; None: estimated)."""
    return restore("denoise", image, model, sigma=sigma)


__all__ = ["denoise", "estimate_sigma"]
