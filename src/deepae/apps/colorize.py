"""Colorization: colour a black-and-white photo.

The model sees the luma (Y) and predicts the two chroma channels (Cb, Cr of full-range BT.601
YCbCr); the result keeps the input's luma exactly. A colour input is colorized from its own luma.
"""

from __future__ import annotations

from typing import Any

import torch

from .restore import Task, Training, register_task, restore, rgb_to_ycbcr, run_model, ycbcr_to_rgb


@register_task
class Colorize(Task):
    name = "colorize"
    summary = "colour a black-and-white photo (the luma is kept, the chroma predicted)"
    mode = "RGB"
    # Five levels: colour depends on what an object is, so the model needs a wide view; narrow at full
    # resolution (chroma varies slowly), it trains 4.4 times as many crops in the budget as the
    # four-level, 32-channel model before it.
    model = dict(in_channels=1, out_channels=2, channels=(16, 32, 64, 128, 192), blocks=1, output_activation="identity")
    # Squared error: its optimum is the mean colour, which scores the best PSNR; absolute error's
    # median is greyer still.
    training = Training(crop=128, batch_size=16, lr=1e-3, minutes=25.0, loss="mse")

    def degradations(self, variant=None):
        return "grayscale"

    def pair(self, degraded, clean):
        return degraded, rgb_to_ycbcr(clean)[:, 1:]

    def calibrate(self, model, batches):
        # A regression's chroma comes out greyer than photos are (it hedges between plausible
        # colours). The gain is the least-squares scale of the predictions on
        # training crops: the one that lowers their squared error most (kept within [1, 2]).
        predicted = torch.cat([model(x).x_hat for x, _ in batches])
        target = torch.cat([t for _, t in batches])
        gain = (predicted * target).sum() / predicted.square().sum().clamp_min(1e-12)
        return {"chroma_gain": round(float(gain.clamp(1.0, 2.0)), 4)}

    def restore(self, model, pixels):
        y = rgb_to_ycbcr(pixels[None])[:, :1] if pixels.shape[0] == 3 else pixels[None]
        chroma = run_model(model, y) * getattr(model, "task_options", {}).get("chroma_gain", 1.0)
        return ycbcr_to_rgb(torch.cat([y, chroma], 1))[0]


def colorize(image: Any, model=None) -> Any:
    """Colorize a numpy array or PIL image (gray or colour); returns RGB of the same kind."""
    return restore("colorize", image, model)


__all__ = ["colorize"]
