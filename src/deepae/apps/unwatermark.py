"""Watermark removal: take semi-transparent text and logo overlays off a photo.

The model predicts the correction to the stamped image (most pixels need none). It is trained on
overlays drawn by ``deepae.degrade``'s ``watermark`` with the DejaVu fonts only, so that other
fonts (and other texts) can test how it generalises.
"""

from __future__ import annotations

from typing import Any

from ..degrade import default_watermark_fonts
from .restore import Task, Training, register_task, restore, run_model


def training_fonts() -> list:
    """The fonts the shipped model saw: matplotlib's DejaVu family."""
    return [f for f in default_watermark_fonts() if f.name.startswith("DejaVu")]


def held_out_fonts() -> list:
    """matplotlib's other fonts (STIX, Computer Modern): never seen in training."""
    return [f for f in default_watermark_fonts() if not f.name.startswith("DejaVu")]


@register_task
class Unwatermark(Task):
    name = "unwatermark"
    summary = "remove semi-transparent text or logo watermarks from a photo"
    mode = "RGB"
    model = dict(in_channels=3, channels=(32, 64, 128), blocks=2, residual="input", output_activation="identity")
    # Squared error: most pixels of a crop carry no watermark, and under an absolute error the
    # cheapest answer for a few stamped pixels is no correction at all (the median); the first
    # model, trained that way, learned to change nothing.
    training = Training(crop=128, batch_size=16, lr=1e-3, minutes=25.0, loss="mse")

    def degradations(self, variant=None):
        # Text from 12 to 160 px: crops then show letters at the sizes whole photos carry them.
        return [("watermark", (0.25, 0.9), {"fonts": [str(f) for f in training_fonts()], "font_px": (12, 160)})]

    def restore(self, model, pixels):
        return run_model(model, pixels[None])[0]


def unwatermark(image: Any, model=None) -> Any:
    """Remove watermarks from a numpy array or PIL image."""
    return restore("unwatermark", image, model)


__all__ = ["unwatermark", "training_fonts", "held_out_fonts"]
