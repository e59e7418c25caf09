"""Input corruptions for denoising autoencoders: applied to the input only, never to the target."""

from __future__ import annotations

import torch

from .errors import ConfigError

NOISE_KINDS = ("gaussian", "masking", "salt-and-pepper")


def gaussian_noise(
    x: torch.Tensor, std: float, clip: tuple[float, float] | None = (0.0, 1.0), generator: torch.Generator | None = None
) -> torch.Tensor:
    """``x + std * N(0, 1)``, clipped to ``clip`` so corrupted pixels stay valid intensities."""
    noisy = x + std * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return noisy.clamp(*clip) if clip is not None else noisy


def masking_noise(x: torch.Tensor, fraction: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Set a random ``fraction`` of the entries to zero (Vincent et al. 2008)."""
    keep = torch.rand(x.shape, generator=generator, device=x.device) >= fraction
    return x * keep.to(x.dtype)


def salt_and_pepper_noise(
    x: torch.Tensor, fraction: float, low: float = 0.0, high: float = 1.0, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Set a random ``fraction`` of the entries to ``low`` or ``high`` with equal odds."""
    u = torch.rand(x.shape, generator=generator, device=x.device)
    hit = u < fraction
    # Reuse u: within the hit region, u < fraction/2 is pepper, the rest salt.
    salt = u >= fraction / 2
    out = torch.where(hit & salt, torch.full_like(x, high), x)
    return torch.where(hit & ~salt, torch.full_like(x, low), out)


def check_noise(kind: str | None, level: float) -> None:
    if kind is None or kind == "none":
        return
    if kind not in NOISE_KINDS:
        raise ConfigError(f"noise={kind!r}; expected one of {list(NOISE_KINDS)} or None")
    if kind == "gaussian" and not level >= 0:
        raise ConfigError(f"noise_level={level!r}; gaussian noise needs a standard deviation >= 0")
    if kind != "gaussian" and not 0.0 <= level <= 1.0:
        raise ConfigError(f"noise_level={level!r}; {kind} noise needs a fraction in [0, 1]")


def corrupt(
    x: torch.Tensor,
    kind: str | None,
    level: float,
    clip: tuple[float, float] | None = (0.0, 1.0),
    generator: torch.Generator | None = None,
    validate: bool = True,
) -> torch.Tensor:
    """Apply the corruption named ``kind`` at strength ``level`` (std or fraction)."""
    if validate:
        check_noise(kind, level)
    if kind is None or kind == "none" or level == 0:
        return x
    if kind == "gaussian":
        return gaussian_noise(x, level, clip, generator)
    if kind == "masking":
        return masking_noise(x, level, generator)
    low, high = clip if clip is not None else (float(x.min()), float(x.max()))
    return salt_and_pepper_noise(x, level, low, high, generator)
