"""Watermark removal: take semi-transparent text and logo overlays off a photo.

A watermark is an overlay: each pixel of the stamped image is ``y = (1 - a) x + a c``, the photo
``x`` blended with the mark's colour ``c`` at opacity ``a`` (0 where there is no mark). Undoing it
is an affine map of each pixel, ``x = (1 + g) y - o`` with gain ``g = a / (1 - a)`` (one per pixel)
and offset ``o = a c / (1 - a)`` (one per pixel and channel). The model predicts these four maps;
the photo comes back exactly wherever it gets them right. Both are flat over a glyph, so the network
has to find the marks, not redraw the texture under them; where there is none (``g = o = 0``) the
pixel is the input's. (Predicting ``a`` and ``c`` through sigmoids instead fails to train: from
``a`` near 0 and a gray ``c`` the colour gets no gradient and the opacity only the wrong one.)
It is trained on overlays drawn by ``deepae.degrade``'s ``watermark`` with the DejaVu fonts only,
so that other fonts (and other texts) test how it generalises.
"""

from __future__ import annotations

from typing import Any

import torch

from ..degrade import default_watermark_fonts
from .restore import Task, Training, register_task, restore, rgb_to_ycbcr, run_model


def training_fonts() -> list:
    """The fonts the shipped model saw: matplotlib's DejaVu family."""
    return [f for f in default_watermark_fonts() if f.name.startswith("DejaVu")]


def held_out_fonts() -> list:
    """matplotlib's other fonts (STIX, Computer Modern): never seen in training."""
    return [f for f in default_watermark_fonts() if not f.name.startswith("DejaVu")]


def remove_overlay(stamped: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) stamped image and (B, 1 + C, H, W) maps (gain, offsets) -> the photo under the overlay."""
    return (1 + maps[:, :1]) * stamped - maps[:, 1:]


@register_task
class Unwatermark(Task):
    name = "unwatermark"
    summary = "remove semi-transparent text or logo watermarks from a photo"
    mode = "RGB"
    # Five levels, narrow at full resolution: a glyph's stroke is told from a photo's edge by the letters
    # around it (a wide view), and a narrow first level trains four times as many crops in the budget.
    model = dict(in_channels=3, out_channels=4, channels=(16, 32, 64, 96, 128), blocks=1, output_activation="identity")
    # Squared error: most pixels of a crop carry no watermark, and under an absolute error the
    # cheapest answer for a few stamped pixels is no correction at all (the median); the first
    # model, trained that way, learned to change nothing.
    training = Training(crop=128, batch_size=16, lr=1e-3, minutes=25.0, loss="mse")

    def degradations(self, variant=None):
        # Text from 12 to 160 px: crops then show letters at the sizes whole photos carry them. A
        # third of the crops stay clean (noise of std 0): on a photo most pixels carry no mark, and
        # the model must learn to leave them be.
        stamp = ("watermark", (0.25, 0.9), {"fonts": [str(f) for f in training_fonts()], "font_px": (12, 160)})
        return [stamp, stamp, ("gaussian", 0.0)]

    def output(self, x, raw):
        return remove_overlay(x, raw)

    def restore(self, model, pixels):
        # A gray photo is restored as a colour one whose three channels are equal, then turned back to gray.
        x = pixels[None].expand(-1, 3, -1, -1) if pixels.shape[0] == 1 else pixels[None]
        out = remove_overlay(x, run_model(model, x))
        return rgb_to_ycbcr(out.clamp(0, 1))[0, :1] if pixels.shape[0] == 1 else out[0]


def unwatermark(image: Any, model=None) -> Any:
    """Remove watermarks from a numpy array or PIL image."""
    return restore("unwatermark", image, model)


__all__ = ["unwatermark", "training_fonts", "held_out_fonts", "remove_overlay"]
