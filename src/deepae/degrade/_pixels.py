"""Degradations of pixels: noise, colour, resolution and compression."""

from __future__ import annotations

import io
import numbers

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..errors import ConfigError, DataError
from ._registry import Levels, _array, _bounds, _draw, _from_pixels, _pil, _to_pixels, register_degradation

# -- noise: elementwise, any shape, cheap enough for every training step ---------------------------
_FRACTION = Levels(0.0, 1.0)


@register_degradation("gaussian", levels=Levels(0.0), default=0.1, what="standard deviation")
def gaussian_noise(
    x: torch.Tensor,
    std: float,
    clip: bool | tuple[float, float] | None = (0.0, 1.0),
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Add ``std * N(0, 1)``, clipped to ``clip`` (True: [0, 1]; False/None: unclipped, purely additive)."""
    noisy = x + std * _draw(x, generator, normal=True)
    bounds = _bounds(clip)
    return noisy.clamp(*bounds) if bounds is not None else noisy


@register_degradation("masking", levels=_FRACTION, default=0.25, what="fraction")
def masking_noise(x: torch.Tensor, fraction: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Set a random ``fraction`` of the entries to zero, each independently (Vincent et al. 2008)."""
    keep = _draw(x, generator) >= fraction
    return x * keep.to(x.dtype)


def salt_and_pepper_noise(
    x: torch.Tensor,
    fraction: float,
    low: float | torch.Tensor = 0.0,
    high: float | torch.Tensor = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Set a random ``fraction`` of the entries to ``low`` or ``high`` with equal odds."""
    u = _draw(x, generator)
    hit = u < fraction
    # Reuse u: within the hit region, u < fraction/2 is pepper, the rest salt.
    salt = u >= fraction / 2
    out = torch.where(hit & salt, torch.as_tensor(high, dtype=x.dtype, device=x.device), x)
    return torch.where(hit & ~salt, torch.as_tensor(low, dtype=x.dtype, device=x.device), out)


@register_degradation("salt-and-pepper", levels=_FRACTION, default=0.1, what="fraction")
def _salt_and_pepper(
    x: torch.Tensor, fraction: float, generator: torch.Generator | None = None, clip: bool | tuple[float, float] | None = True
) -> torch.Tensor:
    """Set a random ``fraction`` of the entries to the ends of ``clip`` (the data's min/max if None), half each."""
    bounds = _bounds(clip)
    # tensors, not floats, for the data's own range: no device sync on every training step
    low, high = bounds if bounds is not None else (x.min(), x.max())
    return salt_and_pepper_noise(x, fraction, low, high, generator)


# -- colour ----------------------------------------------------------------------------------------
_LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601


@register_degradation("grayscale", levels=_FRACTION, default=1.0, what="blend strength")
def _grayscale(x: torch.Tensor, strength: float, channels: int = 1) -> torch.Tensor:
    """BT.601 luma ``0.299 R + 0.587 G + 0.114 B``, blended by ``strength``; 1-channel input is returned as is."""
    if channels not in (1, 3):
        raise ConfigError(f"grayscale channels={channels!r}; expected 1 or 3")
    if channels == 1 and strength != 1:
        raise ConfigError(f"grayscale level={strength!r} blends colour with gray, which needs channels=3; got channels=1")
    if x.shape[1] == 1:
        return x
    weights = torch.tensor(_LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    gray = (x * weights).sum(dim=1, keepdim=True)  # (B, 3, H, W) -> (B, 1, H, W)
    if channels == 1:
        return gray
    return torch.lerp(x, gray.expand_as(x), strength)


# -- resolution ------------------------------------------------------------------------------------
def _interpolate(x: torch.Tensor, size: tuple[int, int], antialias: bool) -> torch.Tensor:
    """Bicubic resize of (B, C, H, W) to ``size``, clamped to [0, 1], in x's dtype."""
    # antialiased bicubic has no half-precision kernels: compute in float32
    work = x if x.dtype in (torch.float32, torch.float64) else x.float()
    out = F.interpolate(work, size=size, mode="bicubic", align_corners=False, antialias=antialias)
    return out.clamp(0, 1).to(x.dtype)


@register_degradation("downscale", levels=Levels(choices=(2, 3, 4)), default=2, what="factor", shrinks=True)
def _downscale(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Antialiased bicubic downscale by ``factor``: (C, H, W) -> (C, H // f, W // f).

    H and W are first cropped (bottom and right) to multiples of ``factor`` so that upscaling the
    result by ``factor`` gives back exactly the cropped size.
    """
    h, w = x.shape[-2] // factor, x.shape[-1] // factor
    if h == 0 or w == 0:
        raise DataError(f"downscale: images of {x.shape[-2]}x{x.shape[-1]} (HxW) are smaller than factor={factor}")
    return _interpolate(x[..., : h * factor, : w * factor], (h, w), antialias=True)


def upscale_bicubic(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Bicubic upscale of (C, H, W) or (B, C, H, W) by an integer ``factor``, clamped to [0, 1].

    The baseline for super-resolution, and the base a residual model adds its details to.
    """
    if isinstance(factor, bool) or not isinstance(factor, numbers.Integral) or factor < 1:
        raise ConfigError(f"factor={factor!r}; expected an integer >= 1")
    batch = x if x.ndim == 4 else x[None]
    out = _interpolate(batch, (batch.shape[-2] * factor, batch.shape[-1] * factor), antialias=False)
    return out if x.ndim == 4 else out[0]


# -- compression -----------------------------------------------------------------------------------
@register_degradation("jpeg", levels=Levels(1, 95, integer=True), default=50, what="quality")
def _jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    """Re-encode each image as 8-bit JPEG at ``quality`` with Pillow and decode it back."""
    decoded = []
    for pixels in _to_pixels(x):  # (H, W, C) uint8
        buffer = io.BytesIO()
        _pil(pixels).save(buffer, format="JPEG", quality=quality)
        buffer.seek(0)
        with Image.open(buffer) as image:
            decoded.append(_array(image))
    return _from_pixels(np.stack(decoded), like=x)
