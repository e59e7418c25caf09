"""The registry of degradations, ``degrade``, and the helpers the degradations share."""

from __future__ import annotations

import inspect
import math
import numbers
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from PIL import Image

from ..errors import ConfigError, DataError


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
