"""Apply an image-to-image model to images of any size in overlapping tiles, with bounded memory.

A 4000 x 3000 photo through a U-Net at once needs gigabytes of activations; in tiles of 256 x 256 the
activations stay those of one small batch, and the output plus one weight plane are the only
full-size buffers (preallocated CPU float32). Tiles overlap by ``overlap`` pixels and are blended
with a raised-cosine window, so no seam shows.

Blending window, per axis and per tile edge inside the image (edges on the image border get
weight 1): over the overlap of O pixels the outer quarter (O/4) gets weight 0 -- there the tile's
own zero padding changes the output -- the middle half ramps 0 -> 1 as a raised cosine, and the
inner quarter gets 1. Two neighbouring windows sum to exactly 1 across the overlap, and every pixel
of the image has a positive total weight. When the model reaches at most O/4 pixels (its
receptive radius, see ``Image2Image.receptive_radius``) and tile positions are multiples of its
downsampling factor ``multiple``, the tiled result equals one pass over the whole image up to
float rounding (at the image border too, for a model that pads like ``Image2Image``).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError, DataError
from ..models import AEOutput
from ..models.layers import pad_to, round_up

__all__ = ["apply_tiled", "apply_model"]


def _positive(param: str, value, minimum: int = 1) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"{param}={value!r}; expected an integer >= {minimum}")
    return int(value)


def _starts(length: int, tile: int, step: int) -> list[int]:
    """Tile starts along one axis: 0, step, 2*step, ... until a tile reaches ``length``."""
    starts = [0]
    while starts[-1] + tile < length:
        starts.append(starts[-1] + step)
    return starts


def _ramp(n: int, overlap: int, lead: bool, trail: bool) -> torch.Tensor:
    """(n,) weights of one tile along one axis; ``lead``/``trail``: that edge lies inside the image."""
    w = torch.ones(n, dtype=torch.float32)
    if overlap <= 0:
        return w
    margin = overlap / 4  # discarded: within reach of the tile's zero padding
    d = torch.arange(n, dtype=torch.float64) + 0.5  # distance of each pixel centre from the leading edge
    for on, dist in ((lead, d), (trail, d.flip(0))):
        if on:
            t = ((dist - margin) / (overlap - 2 * margin)).clamp(0, 1)
            w *= (0.5 - 0.5 * torch.cos(math.pi * t)).float()
    return w


def apply_tiled(
    fn: Callable[[torch.Tensor], torch.Tensor | AEOutput],
    image: torch.Tensor | np.ndarray,
    *,
    tile: int = 256,
    overlap: int = 32,
    scale: int = 1,
    multiple: int = 1,
    batch_size: int = 4,
    device: str | torch.device | None = None,
    out_channels: int | None = None,
) -> torch.Tensor:
    """Apply ``fn`` to ``image`` in overlapping tiles and blend them into one CPU float32 result.

    ``fn`` maps (B, C, h, w) -> (B, C_out, scale*h, scale*w) (a tensor, or an ``AEOutput`` whose
    ``x_hat`` is used: a model works as it is). ``image`` is (C, H, W) or (B, C, H, W) of any size;
    the result is (C_out, scale*H, scale*W) or (B, C_out, scale*H, scale*W).

    ``tile`` (rounded down to ``multiple``) is the side of the tiles in input pixels, ``overlap``
    their overlap (rounded up so tile starts stay multiples of ``multiple``, which a model that
    downsamples by ``multiple`` needs to compute the same features as on the whole image).
    Tiles cut by the image's bottom/right border, and images smaller than a tile, are padded
    (reflect, or replicate when tiny) to a multiple of ``multiple``, as a model pads a whole image,
    and their outputs cropped.
    ``batch_size`` tiles go through ``fn`` at once, on ``device`` (default: the device of ``fn``'s
    parameters when it is a module, else the image's). ``out_channels`` preallocates the output;
    None takes it from the first batch.
    """
    image = torch.as_tensor(image)
    if image.dim() not in (3, 4):
        raise DataError(f"image has shape {tuple(image.shape)}; expected (C, H, W) or (B, C, H, W)")
    if not image.is_floating_point():
        raise DataError(f"image has dtype {image.dtype}; expected floating point (convert and scale it first)")
    if image.numel() == 0:
        raise DataError(f"image has shape {tuple(image.shape)}; expected a non-empty image")
    single = image.dim() == 3
    images = image.unsqueeze(0) if single else image
    scale, multiple = _positive("scale", scale), _positive("multiple", multiple)
    batch_size = _positive("batch_size", batch_size)
    tile, overlap = _positive("tile", tile, multiple), _positive("overlap", overlap, 0)
    if overlap >= tile:
        raise ConfigError(f"overlap={overlap} must be smaller than tile={tile}")
    if out_channels is not None:
        out_channels = _positive("out_channels", out_channels)
    tile -= tile % multiple
    step = (tile - overlap) // multiple * multiple
    if step <= 0:
        raise ConfigError(
            f"tile={tile} and overlap={overlap} leave no step that is a multiple of {multiple}; "
            f"give overlap <= {tile - multiple} or a larger tile"
        )
    overlap = tile - step  # the actual overlap, >= the one asked for
    if device is None:
        params = next(fn.parameters(), None) if isinstance(fn, nn.Module) else None
        device = params.device if params is not None else image.device

    n, _, height, width = images.shape
    ys, xs = _starts(height, tile, step), _starts(width, tile, step)
    s = scale
    out: torch.Tensor | None = None
    if out_channels is not None:
        out = torch.zeros(n, out_channels, s * height, s * width, dtype=torch.float32)
    weight = torch.zeros(s * height, s * width, dtype=torch.float32)  # the same for every image
    windows: dict[tuple[int, bool, bool], torch.Tensor] = {}

    def window(start: int, end: int, total: int) -> torch.Tensor:
        key = (end - start, start > 0, end < total)
        if key not in windows:
            windows[key] = _ramp(s * key[0], s * overlap, *key[1:])
        return windows[key]

    # Tiles cut by the bottom/right border are padded only to the next multiple, as one pass over the
    # image would be, so they batch apart from the full tiles: at most 4 sizes.
    groups: dict[tuple[int, int], list[tuple[int, int, int, int, int]]] = {}
    for b in range(n):
        for y0 in ys:
            for x0 in xs:
                y1, x1 = min(y0 + tile, height), min(x0 + tile, width)
                groups.setdefault((round_up(y1 - y0, multiple), round_up(x1 - x0, multiple)), []).append((b, y0, y1, x0, x1))
    for (th, tw), boxes_of_size in groups.items():
        for first in range(0, len(boxes_of_size), batch_size):
            boxes = boxes_of_size[first : first + batch_size]
            batch = torch.cat([pad_to(images[b : b + 1, :, y0:y1, x0:x1], th, tw) for b, y0, y1, x0, x1 in boxes])
            result = fn(batch.to(device))
            if isinstance(result, AEOutput):
                result = result.x_hat
            if result.dim() != 4 or result.shape[0] != len(boxes) or tuple(result.shape[-2:]) != (s * th, s * tw):
                raise DataError(
                    f"fn returned shape {tuple(result.shape)} for tiles of shape {tuple(batch.shape)}; expected "
                    f"({len(boxes)}, C_out, {s * th}, {s * tw}) (scale={s}: is that the model's scale?)"
                )
            if out is None:
                out = torch.zeros(n, result.shape[1], s * height, s * width, dtype=torch.float32)
            elif result.shape[1] != out.shape[1]:
                raise DataError(f"fn returned {result.shape[1]} channels; out_channels={out.shape[1]}")
            result = result.detach().to("cpu", torch.float32)
            for k, (b, y0, y1, x0, x1) in enumerate(boxes):
                w = window(y0, y1, height)[:, None] * window(x0, x1, width)[None, :]  # (s*h, s*w)
                region = (slice(s * y0, s * y1), slice(s * x0, s * x1))
                out[b][(slice(None), *region)] += result[k, :, : s * (y1 - y0), : s * (x1 - x0)] * w
                if b == 0:
                    weight[region] += w
    out /= weight  # > 0 everywhere: see the module docstring
    return out[0] if single else out


def apply_model(
    model: nn.Module,
    image: torch.Tensor | np.ndarray,
    *,
    tile: int = 256,
    overlap: int = 32,
    batch_size: int = 4,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """Run an image-to-image model (e.g. ``create_model("image2image")``) over ``image`` in tiles.

    Reads ``scale``, ``multiple`` and the output channels from the model and runs it in eval mode
    under ``torch.inference_mode()`` (its training mode is restored afterwards). ``device`` moves the
    model there; by default it stays where it is. An ``overlap`` of at least
    ``4 * model.receptive_radius()`` makes the result equal a single pass (see the module docstring);
    smaller overlaps trade exactness at the seams for speed.
    """
    if not getattr(model, "image_to_image", False):
        raise ConfigError(f"apply_model needs an image-to-image model (image_to_image=True); got {type(model).__name__}")
    if device is not None:
        model.to(device)
    image = torch.as_tensor(image)
    out_channels = model.output_shape(tuple(image.shape[-3:]))[-3] if image.dim() >= 3 else None

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return model(x).x_hat

    was_training = model.training
    model.eval()
    try:
        return apply_tiled(
            run, image, tile=tile, overlap=overlap, scale=model.config.scale, multiple=model.multiple,
            batch_size=batch_size, device=device or next(model.parameters()).device, out_channels=out_channels,
        )
    finally:
        model.train(was_training)
