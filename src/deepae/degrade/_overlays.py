"""Degradations that draw over the image: watermarks and masks for inpainting."""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from ..errors import ConfigError
from ._pixels import _grayscale
from ._registry import Levels, _seeds, register_degradation

# -- watermarks ------------------------------------------------------------------------------------
_WORDS = (
    "sample", "preview", "stock", "photo", "proof", "draft", "copy", "studio", "media", "images", "pictures",
    "archive", "gallery", "design", "creative", "licensed", "protected", "private", "confidential", "original",
    "press", "news", "daily", "digital", "vision", "pixel", "frame", "focus", "light", "north", "blue", "royal",
    "city", "art", "photography", "agency", "collection", "watermark", "do not copy", "unlicensed", "demo",
    "property", "rights reserved", "editorial", "exclusive", "premium", "world", "nature", "travel", "studios",
)
# math-symbol and fallback fonts among matplotlib's: they have no (or boxed) letters
_TEXT = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
# These map ASCII code points, but to symbols or placeholder boxes.
_SYMBOL_FONTS = ("STIXSiz", "STIXNonUni", "cmex", "cmsy", "LastResort")


def _draws_text(path: Path) -> bool:
    """Whether the font maps every ASCII letter and digit to a glyph (symbol, math and display
    fonts map few or none, and would draw an invisible watermark)."""
    from fontTools.ttLib import TTFont  # a dependency of matplotlib

    try:
        with TTFont(path, lazy=True) as font:
            cmap = font.getBestCmap() or {}
    except Exception:  # noqa: BLE001 - any unreadable font is simply not used
        return False
    return all(ord(c) in cmap for c in _TEXT)


@functools.lru_cache(maxsize=1)
def _matplotlib_fonts() -> tuple[Path, ...]:
    import matplotlib  # imported here: only watermarks need it

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return tuple(p for p in sorted(folder.glob("*.ttf")) if not p.name.startswith(_SYMBOL_FONTS) and _draws_text(p))


def default_watermark_fonts() -> list[Path]:
    """The TrueType fonts watermarks draw from by default: matplotlib's bundled fonts that draw text
    (DejaVu, STIX, Computer Modern; not the symbol, math or display ones)."""
    return list(_matplotlib_fonts())


@functools.lru_cache(maxsize=512)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    try:
        return ImageFont.truetype(path, size)
    except OSError as err:
        raise ConfigError(f"watermark fonts: cannot load {path!r} as a TrueType font ({err})") from None


def _random_text(rnd: random.Random, texts: Sequence[str] | None) -> str:
    """A watermark's text: one of ``texts``, else words (sometimes with a year or as a URL) or alphanumerics."""
    if texts is not None:
        return rnd.choice(texts)
    kind = rnd.random()
    if kind < 0.3:
        alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0123456789"
        return "".join(rnd.choice(alphabet) for _ in range(rnd.randint(4, 12)))
    words = " ".join(rnd.sample(_WORDS, rnd.randint(1, 3)))
    if kind < 0.4:
        return f"www.{words.replace(' ', '')}.com"
    words = rnd.choice((str.lower, str.upper, str.title))(words)
    return f"\u00a9 {words} {rnd.randint(1990, 2030)}" if kind < 0.55 else words


def _random_colour(rnd: random.Random) -> tuple[int, int, int]:
    """Mostly white, black or gray, as real watermarks are; sometimes any colour."""
    kind = rnd.random()
    if kind < 0.45:
        return (255, 255, 255)
    if kind < 0.65:
        return (0, 0, 0)
    if kind < 0.8:
        g = rnd.randint(60, 200)
        return (g, g, g)
    return (rnd.randint(0, 255), rnd.randint(0, 255), rnd.randint(0, 255))


def _stamp(rnd: random.Random, height: int, width: int, texts: Sequence[str] | None, fonts: Sequence[Path], logo: float,
           font_px: tuple[int, int] | None = None):
    """One rotated RGBA patch: random text in a random font and size, sometimes outlined or with a logo.

    The size is 8-35% of the image's shorter side, or drawn from ``font_px`` (pixels) when given.
    """
    if font_px is None:
        size = max(7, round(rnd.uniform(0.08, 0.35) * min(height, width)))
    else:
        size = rnd.randint(*font_px)
    font = _font(str(rnd.choice(fonts)), size)
    text = _random_text(rnd, texts)
    colour = _random_colour(rnd)
    stroke = max(1, size // 14) if rnd.random() < 0.2 else 0
    left, top, right, bottom = font.getbbox(text, stroke_width=stroke)
    text_w, text_h = max(1, right - left), max(1, bottom - top)
    mark = round(1.2 * text_h) if rnd.random() < logo else 0
    gap, pad = (max(2, text_h // 3) if mark else 0), max(2, size // 4)
    # transparent background in the text's colour so that resampling on rotation leaves no dark fringe
    patch = Image.new("RGBA", (mark + gap + text_w + 2 * pad, max(text_h, mark) + 2 * pad), colour + (0,))
    draw = ImageDraw.Draw(patch)
    if mark:
        box = (pad, pad, pad + mark, pad + mark)
        shape = rnd.choice(("ring", "disc", "square", "triangle"))
        if shape == "triangle":
            draw.polygon([(pad + mark / 2, pad), (pad + mark, pad + mark), (pad, pad + mark)], fill=colour + (255,))
        elif shape == "disc":
            draw.ellipse(box, fill=colour + (255,))
        else:
            outline = getattr(draw, "ellipse" if shape == "ring" else "rectangle")
            outline(box, outline=colour + (255,), width=max(1, mark // 8))
    inverse = tuple(255 - c for c in colour)
    draw.text(
        (pad + mark + gap - left, pad + (max(text_h, mark) - text_h) // 2 - top), text, font=font,
        fill=colour + (255,), stroke_width=stroke, stroke_fill=inverse + (255,),
    )
    return patch


def _composite_at(layer: Image.Image, patch: Image.Image, left: int, top: int) -> None:
    """Alpha-composite ``patch`` onto ``layer`` with its top-left at (left, top), clipped to the layer."""
    x0, y0 = max(left, 0), max(top, 0)
    x1, y1 = min(left + patch.width, layer.width), min(top + patch.height, layer.height)
    if x1 > x0 and y1 > y0:
        layer.alpha_composite(patch, dest=(x0, y0), source=(x0 - left, y0 - top, x1 - left, y1 - top))


def _watermark_layer(
    rnd: random.Random, height: int, width: int, texts: Sequence[str] | None, fonts: Sequence[Path], tile: float, logo: float,
    font_px: tuple[int, int] | None = None,
) -> np.ndarray:
    """An (H, W, 4) uint8 RGBA overlay: one stamp somewhere on the image, or the stamp tiled over it."""
    layer = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    tiled = rnd.random() < tile
    angle = rnd.uniform(-35, 35) if tiled else (rnd.uniform(-15, 15) if rnd.random() < 0.6 else 0.0)
    patch = _stamp(rnd, height, width, texts, fonts, logo, font_px)
    if angle:
        patch = patch.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)
    if not tiled:
        # the patch's centre lies on the image, so some of it always shows, even on a small crop
        left, top = rnd.randrange(width) - patch.width // 2, rnd.randrange(height) - patch.height // 2
        _composite_at(layer, patch, left, top)
        return np.asarray(layer)
    step_x = max(1, round(patch.width * rnd.uniform(1.1, 1.8)))
    step_y = max(1, round(patch.height * rnd.uniform(1.3, 2.5)))
    top = -rnd.randrange(step_y)
    for row in range(-(-(height - top) // step_y)):
        shift = (step_x // 2) * (row % 2)  # brick pattern, as stock-photo watermarks are laid out
        left = -rnd.randrange(step_x) - shift
        while left < width:
            _composite_at(layer, patch, left, top + row * step_y)
            left += step_x
    return np.asarray(layer)


@register_degradation("watermark", levels=Levels(0.0, 1.0, low_open=True), default=0.5, what="opacity")
def _watermark(
    x: torch.Tensor,
    opacity: float,
    generator: torch.Generator | None = None,
    texts: Sequence[str] | None = None,
    fonts: Sequence[str | Path] | None = None,
    tile: float = 0.3,
    logo: float = 0.3,
    font_px: tuple[int, int] | None = None,
) -> torch.Tensor:
    """Overlay semi-transparent random text (and sometimes a logo) drawn with Pillow, at ``opacity``.

    ``texts`` (default: random words or alphanumerics) and ``fonts`` (TrueType files; default
    :func:`default_watermark_fonts`) let training and testing use disjoint sets. ``tile`` is the
    probability of repeating the stamp over the image, ``logo`` that of a shape beside the text.
    The text's size is relative to the image (8-35% of its shorter side) unless ``font_px=(low,
    high)`` gives it in pixels: crops for training can then show text at a whole photo's scale.
    Each image of a batch gets its own overlay; ``|out - x| <= opacity`` everywhere.
    """
    if texts is not None and (isinstance(texts, str) or not texts or not all(isinstance(t, str) and t for t in texts)):
        raise ConfigError(f"watermark texts={texts!r}; expected a non-empty list of non-empty strings")
    if fonts is not None and (isinstance(fonts, (str, Path)) or not fonts):
        raise ConfigError(f"watermark fonts={fonts!r}; expected a non-empty list of TrueType font files")
    fonts = [Path(f) for f in fonts] if fonts is not None else default_watermark_fonts()
    for name, p in (("tile", tile), ("logo", logo)):
        if not 0 <= p <= 1:
            raise ConfigError(f"watermark {name}={p!r}; expected a probability in [0, 1]")
    if font_px is not None:
        if len(font_px) != 2 or not all(isinstance(v, int) and v >= 4 for v in font_px) or font_px[0] > font_px[1]:
            raise ConfigError(f"watermark font_px={font_px!r}; expected (low, high) pixel sizes with 4 <= low <= high")
        font_px = (int(font_px[0]), int(font_px[1]))
    if generator is None:
        generator = torch.Generator()
        generator.seed()
    height, width = x.shape[-2:]
    layers = np.stack([
        _watermark_layer(random.Random(seed), height, width, texts, fonts, tile, logo, font_px)
        for seed in _seeds(generator, len(x))
    ])  # (B, H, W, 4)
    rgba = torch.from_numpy(layers).permute(0, 3, 1, 2).to(device=x.device, dtype=x.dtype) / 255  # (B, 4, H, W)
    colour, alpha = rgba[:, :3], rgba[:, 3:] * opacity
    if x.shape[1] == 1:
        colour = _grayscale(colour, 1.0)
    # out = (1 - alpha) x + alpha colour, so |out - x| = alpha |colour - x| <= opacity for x in [0, 1]
    return torch.lerp(x, colour, alpha)


# -- masks for inpainting --------------------------------------------------------------------------
def _mask_image(rnd: random.Random, height: int, width: int, coverage: float) -> np.ndarray:
    """An (H, W) bool mask of random rectangles and thick strokes covering about ``coverage`` of it."""
    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    area, side = height * width, min(height, width)
    covered = 0
    for _ in range(500):  # enough for 0.9 even when late shapes mostly overlap earlier ones
        remaining = coverage - covered / area
        if remaining <= 0:
            break
        if remaining > 0.1 and rnd.random() < 0.5:
            # a stroke: a random walk of thick segments with round joints
            thickness = max(1, round(rnd.uniform(0.03, 0.1) * side))
            points = [(rnd.uniform(0, width), rnd.uniform(0, height))]
            heading = rnd.uniform(0, 2 * math.pi)
            for _ in range(rnd.randint(1, 4)):
                heading += rnd.uniform(-1.2, 1.2)
                step = rnd.uniform(0.1, 0.35) * side
                points.append((points[-1][0] + step * math.cos(heading), points[-1][1] + step * math.sin(heading)))
            draw.line(points, fill=255, width=thickness, joint="curve")
            r = thickness / 2
            for px, py in (points[0], points[-1]):
                draw.ellipse((px - r, py - r, px + r, py + r), fill=255)
        else:
            # a rectangle no larger than what is missing, so the last one overshoots little
            size = rnd.uniform(0.3, 1.0) * min(remaining + 0.01, 0.25) * area
            aspect = math.exp(rnd.uniform(-1.1, 1.1))
            w = min(width, max(1.0, math.sqrt(size * aspect)))
            h = min(height, max(1.0, size / w))
            left, top = rnd.uniform(-w / 4, width - 3 * w / 4), rnd.uniform(-h / 4, height - 3 * h / 4)
            draw.rectangle((left, top, left + w - 1, top + h - 1), fill=255)
        covered = np.count_nonzero(np.asarray(canvas))
    return np.asarray(canvas) > 0


def random_masks(
    n: int, height: int, width: int, coverage: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``(n, 1, height, width)`` bool inpainting masks (True = hole) covering about ``coverage`` each."""
    if generator is None:
        generator = torch.Generator()
        generator.seed()
    masks = [_mask_image(random.Random(seed), height, width, coverage) for seed in _seeds(generator, n)]
    return torch.from_numpy(np.stack(masks))[:, None]


@register_degradation("mask", levels=Levels(0.0, 0.9, low_open=True), default=0.25, what="coverage")
def _mask(x: torch.Tensor, coverage: float, generator: torch.Generator | None = None, fill: float = 0.0) -> torch.Tensor:
    """Fill random rectangles and thick strokes covering about ``coverage`` of each image with ``fill``.

    Holes for inpainting, the same in every channel; unlike ``masking``, which drops single entries.
    """
    holes = random_masks(len(x), x.shape[-2], x.shape[-1], coverage, generator).to(x.device)  # (B, 1, H, W)
    return torch.where(holes, torch.as_tensor(fill, dtype=x.dtype, device=x.device), x)
