"""Denoising: remove sensor-like noise from colour or gray photos, with an estimated or given strength.

The model sees one channel and a map of the noise level (FFDNet's idea: Zhang, Zuo & Zhang 2018),
and predicts the correction to the noisy channel. A colour image is turned into opponent channels
(the mean of R, G, B and two colour differences, an invertible linear map): the mean carries the
detail with a third of the noise power, and the colour differences, smooth in photos, are denoised
at half resolution and brought back up (as JPEG keeps chroma at half resolution). That is half the
work of three full channels, and on training photos (not Kodak) at sigma 15 / 25 / 50 it gave
34.8 / 31.8 / 27.3 dB where channel by channel gave 32.9 / 30.1 / 26.1 (``python -m bench.denoise_colour``).
The noise level is estimated from the image (the median absolute deviation of its finest diagonal
Haar details, Donoho & Johnstone 1994) unless given: ``sigma`` is in 8-bit grey levels (25 = 25/255).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ..errors import ConfigError
from .restore import Task, Training, register_task, restore, run_model

SIGMA_MAX = 60.0  # grey levels: the strongest noise the default model was trained on is 55
# Mirrored pixels around the image while the model runs (8 around the half-resolution colour differences):
# without them a flat image's outermost pixels came back up to 3 grey levels off (8 in colour, where the
# colour differences' errors add up going back to RGB).
MARGIN = 16
# RGB -> opponent channels: mean, (R - B) / 2, (R - 2G + B) / 4; the differences are shifted by 0.5 into [0, 1]
_OPPONENT = torch.tensor([[1 / 3, 1 / 3, 1 / 3], [1 / 2, 0, -1 / 2], [1 / 4, -1 / 2, 1 / 4]])
_OPPONENT_INV = torch.linalg.inv(_OPPONENT)


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
        if pixels.shape[0] == 3:
            return _denoise_colour(model, pixels, sigma)
        sig = estimate_sigma(pixels) if sigma is None else torch.full((1,), float(sigma) / 255)
        return run_model(model, _with_noise_map(pixels[None], sig), MARGIN)[0]


def _denoise_colour(model, rgb: torch.Tensor, sigma: float | None) -> torch.Tensor:
    """(3, H, W) noisy RGB -> denoised RGB: the opponent mean at full resolution, the two colour
    differences at half resolution. ``sigma`` (grey levels, per RGB channel) is carried through the
    transform: white noise of std s in each RGB channel has std s times a row's norm in its channel,
    halved by the 2x2 average."""
    h, w = rgb.shape[1:]
    opp = torch.einsum("ij,jhw->ihw", _OPPONENT.to(rgb.dtype), rgb)
    mean, diff = opp[:1], opp[1:] + 0.5
    small = F.avg_pool2d(F.pad(diff[None], (0, w % 2, 0, h % 2), mode="replicate"), 2)[0]  # (2, H/2, W/2)
    if sigma is None:
        sig_mean, sig_diff = estimate_sigma(mean), estimate_sigma(small)
    else:
        norms = _OPPONENT.norm(dim=1) * float(sigma) / 255
        sig_mean, sig_diff = norms[:1], norms[1:] / 2
    mean = run_model(model, _with_noise_map(mean[None], sig_mean), MARGIN)[0]
    diff = run_model(model, _with_noise_map(small[:, None], sig_diff), MARGIN // 2)[:, 0]
    diff = F.interpolate(diff[None], scale_factor=2, mode="bicubic", align_corners=False)[0, :, :h, :w] - 0.5
    return torch.einsum("ij,jhw->ihw", _OPPONENT_INV.to(rgb.dtype), torch.cat([mean, diff]))


def denoise(image: Any, sigma: float | None = None, model=None) -> Any:
    """Denoise a numpy array or PIL image (``sigma`` in grey levels of 255; None: estimated)."""
    return restore("denoise", image, model, sigma=sigma)


__all__ = ["denoise", "estimate_sigma"]
