"""Degradations by name, for making (degraded input, clean target) pairs on the data side.

``@register_degradation("jpeg", ...)`` adds one, ``degrade("jpeg", x, 30, generator)`` applies it and
``list_degradations()`` names them all. ``x`` is a float tensor in [0, 1] shaped ``(C, H, W)`` or
``(B, C, H, W)`` with C = 1 or 3; the result keeps its dtype and device. All randomness comes from the
``generator`` passed (Pillow-based degradations seed Python RNGs from draws of it), so one seed gives
one output and torch's global RNG is never touched.

>>> g = torch.Generator().manual_seed(0)
>>> degrade("watermark", torch.rand(3, 64, 64), 0.5, generator=g).shape
torch.Size([3, 64, 64])
>>> degrade("downscale", torch.rand(3, 64, 64), 4).shape   # smaller than the input
torch.Size([3, 16, 16])
"""

from ._overlays import default_watermark_fonts, random_masks
from ._pixels import gaussian_noise, masking_noise, salt_and_pepper_noise, upscale_bicubic
from ._registry import Degradation, Levels, degrade, get_degradation, list_degradations, register_degradation

__all__ = [
    "Degradation",
    "Levels",
    "default_watermark_fonts",
    "degrade",
    "gaussian_noise",
    "get_degradation",
    "list_degradations",
    "masking_noise",
    "random_masks",
    "register_degradation",
    "salt_and_pepper_noise",
    "upscale_bicubic",
]
