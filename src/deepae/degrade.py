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

from __future__ import annotations

import functools
import inspect
import io
import math
import numbers
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

from .errors import ConfigError, DataError

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


# -- the registry ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Levels:
    """The valid levels of a degradation: an interval ``[low, high]`` (``(low`` if open) or ``choices``."""

    low: float = 0.0
    high: float = math.inf
    low_open: bool = False
    integer: bool = False
    choices: tuple[int, ...] = ()

    def __contains__(self, level: object) -> bool:
        if isinstance(level, bool) or not isinstance(level, numbers.Real) or not math.isfinite(level):
            return False
        if self.choices:
            return level in self.choices
        if self.integer and not float(level).is_integer():
            return False
        return (self.low < level if self.low_open else self.low <= level) and level <= self.high

    def __str__(self) -> str:
        if self.choices:
            return "{" + ", ".join(map(str, self.choices)) + "}"
        interval = f"{'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high == math.inf else ']'}"
        return f"{interval} (an integer)" if self.integer else interval


@dataclass(frozen=True)
class Degradation:
    """One registered degradation: ``fn(x, level, [generator=...], **options)`` on ``(B, C, H, W)``."""

    name: str
    fn: Callable[..., torch.Tensor]
    levels: Levels
    default: float | None
    what: str  # what the level means, for messages: "std", "fraction", "quality", ...
    doc: str
    options: tuple[str, ...]  # keyword options fn accepts besides the level and generator
    random: bool  # fn takes a generator; deterministic ones (jpeg, downscale, grayscale) do not
    shrinks: bool = False  # the level is an integer factor the output is smaller by

    def check_level(self, level: Any, param: str = "level") -> Any:
        """Return ``level`` (ints for integer levels), or raise ConfigError quoting it and the range."""
        if level not in self.levels:
            raise ConfigError(f"{param}={level!r}; {self.name} needs a {self.what} in {self.levels}")
        return int(level) if self.levels.integer or self.levels.choices else level

    def check_options(self, options: dict[str, Any]) -> None:
        """Raise ConfigError naming an option this degradation does not take."""
        for key in options:
            if key not in self.options:
                raise ConfigError(f"{self.name} has no option {key!r}; its options are {list(self.options)}")


_DEGRADATIONS: dict[str, Degradation] = {}


def register_degradation(
    name: str, *, levels: Levels, default: float | None, what: str, shrinks: bool = False, doc: str | None = None
) -> Callable[[Callable[..., torch.Tensor]], Callable[..., torch.Tensor]]:
    """Decorator adding ``fn(x, level, [generator], **options)`` to the registry under ``name``.

    ``levels`` are the valid levels, ``default`` the level used when none is given, ``what`` names the
    level in error messages and ``doc`` defaults to the first line of the function's docstring.
    ``fn`` takes a ``generator`` keyword if and only if it is random.
    """

    def wrap(fn: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
        if name in _DEGRADATIONS:
            raise ConfigError(f"degradation {name!r} is already registered")
        if default is not None and default not in levels:
            raise ConfigError(f"degradation {name!r}: default level {default!r} is outside {levels}")
        params = list(inspect.signature(fn).parameters)[2:]  # past (x, level)
        _DEGRADATIONS[name] = Degradation(
            name=name, fn=fn, levels=levels, default=default, what=what,
            doc=doc or (fn.__doc__ or "").strip().splitlines()[0],
            options=tuple(p for p in params if p != "generator"), random="generator" in params, shrinks=shrinks,
        )
        return fn

    return wrap


def list_degradations() -> list[str]:
    """Names of every registered degradation, sorted."""
    return sorted(_DEGRADATIONS)


def get_degradation(name: str) -> Degradation:
    """The registered :class:`Degradation` called ``name``; ConfigError naming the known ones if none."""
    try:
        return _DEGRADATIONS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"degradation={name!r}; expected one of {list_degradations()}") from None


def degrade(
    name: str, x: torch.Tensor, level: float | None = None, generator: torch.Generator | None = None, **options: Any
) -> torch.Tensor:
    """Apply the degradation ``name`` at ``level`` (its default if None) to images ``x`` in [0, 1].

    ``x`` is ``(C, H, W)`` or ``(B, C, H, W)`` (C = 1 or 3); each image of a batch gets independent
    randomness. Without a ``generator`` a fresh, non-deterministically seeded one is used.
    """
    spec = get_degradation(name)
    level = spec.check_level(spec.default if level is None else level)
    spec.check_options(options)
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.ndim not in (3, 4) or x.shape[-3] not in (1, 3):
        got = f"{x.dtype} tensor of shape {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise DataError(f"degrade({name!r}): expected a float tensor (C, H, W) or (B, C, H, W) with C = 1 or 3; got {got}")
    if spec.random:
        if generator is None:
            generator = torch.Generator()
            generator.seed()  # from the OS, not from torch's global RNG
        options["generator"] = generator
    out = spec.fn(x if x.ndim == 4 else x[None], level, **options)
    return out if x.ndim == 4 else out[0]


# -- helpers ---------------------------------------------------------------------------------------
def _draw(x: torch.Tensor, generator: torch.Generator | None, normal: bool = False) -> torch.Tensor:
    """Uniform (or normal) draws shaped like ``x``, on x's device, from ``generator`` (global RNG if None)."""
    sample = torch.randn if normal else torch.rand
    if generator is None or generator.device == x.device:
        return sample(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    # a CPU generator for CUDA data: draw on the generator's device so the seed fixes the result
    return sample(x.shape, generator=generator, dtype=x.dtype).to(x.device)


def _bounds(clip: bool | tuple[float, float] | None) -> tuple[float, float] | None:
    """``True`` -> (0, 1), ``False``/None -> no bounds, a pair -> itself."""
    if clip is True:
        return (0.0, 1.0)
    return None if clip is None or clip is False else tuple(clip)


def _seeds(generator: torch.Generator, n: int) -> list[int]:
    """``n`` independent seeds for Python RNGs, drawn from ``generator`` (one per image of a batch)."""
    return torch.randint(0, 2**62, (n,), generator=generator).tolist()


def _to_pixels(x: torch.Tensor) -> np.ndarray:
    """(B, C, H, W) floats in [0, 1] -> (B, H, W, C) uint8 for Pillow."""
    return x.detach().clamp(0, 1).mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def _from_pixels(pixels: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    """(B, H, W, C) uint8 -> (B, C, H, W) in [0, 1] with the dtype and device of ``like``."""
    return torch.from_numpy(pixels).permute(0, 3, 1, 2).to(device=like.device, dtype=like.dtype) / 255


def _pil(pixels: np.ndarray) -> Image.Image:
    """(H, W, C) uint8 -> a Pillow image in "L" (C = 1) or "RGB" (C = 3)."""
    return Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)


def _array(image: Image.Image) -> np.ndarray:
    """A Pillow "L" or "RGB" image -> (H, W, C) uint8."""
    array = np.asarray(image, dtype=np.uint8)
    return array[..., None] if array.ndim == 2 else array


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


# -- watermarks ------------------------------------------------------------------------------------
_WORDS = (
    "sample", "preview", "stock", "photo", "proof", "draft", "copy", "studio", "media", "images", "pictures",
    "archive", "gallery", "design", "creative", "licensed", "protected", "private", "confidential", "original",
    "press", "news", "daily", "digital", "vision", "pixel", "frame", "focus", "light", "north", "blue", "royal",
    "city", "art", "photography", "agency", "collection", "watermark", "do not copy", "unlicensed", "demo",
    "property", "rights reserved", "editorial", "exclusive", "premium", "world", "nature", "travel", "studios",
)
# math-symbol and fallback fonts among matplotlib's: they have no (or boxed) letters
_SYMBOL_FONTS = ("STIXSiz", "STIXNonUni", "cmex", "cmsy", "LastResort")


@functools.lru_cache(maxsize=1)
def _matplotlib_fonts() -> tuple[Path, ...]:
    import matplotlib  # imported here: only watermarks need it

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return tuple(p for p in sorted(folder.glob("*.ttf")) if not p.name.startswith(_SYMBOL_FONTS))


def default_watermark_fonts() -> list[Path]:
    """The TrueType fonts watermarks draw from by default: matplotlib's bundled text fonts (DejaVu, STIX, cm)."""
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
