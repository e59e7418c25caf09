"""Input corruptions for denoising autoencoders: applied to the input only, never to the target.

A thin layer over :mod:`deepae.degrade`: the noises are its elementwise degradations, which work on
any shape (tabular rows as well as images) and are cheap enough to run on every training step.
"""

from __future__ import annotations

import torch

from .degrade import gaussian_noise, get_degradation, masking_noise, salt_and_pepper_noise
from .errors import ConfigError

__all__ = ["NOISE_KINDS", "check_noise", "corrupt", "gaussian_noise", "masking_noise", "salt_and_pepper_noise"]

NOISE_KINDS = ("gaussian", "masking", "salt-and-pepper")


def check_noise(kind: str | None, level: float) -> None:
    """Raise ConfigError unless ``kind`` is None, "none" or a noise kind and ``level`` is valid for it."""
    if kind is None or kind == "none":
        return
    if kind not in NOISE_KINDS:
        raise ConfigError(f"noise={kind!r}; expected one of {list(NOISE_KINDS)} or None")
    get_degradation(kind).check_level(level, param="noise_level")


def corrupt(
    x: torch.Tensor,
    kind: str | None,
    level: float,
    clip: tuple[float, float] | None = (0.0, 1.0),
    generator: torch.Generator | None = None,
    validate: bool = True,
) -> torch.Tensor:
    """Apply the corruption named ``kind`` at strength ``level`` (std or fraction) to ``x`` of any shape.

    ``clip`` is the range of valid values: gaussian noise is clipped to it and salt-and-pepper uses its
    ends (the data's min and max when None). Without a ``generator`` torch's global RNG is used, so a
    seeded training run is reproducible.
    """
    if validate:
        check_noise(kind, level)
    if kind is None or kind == "none" or level == 0:
        return x
    spec = get_degradation(kind)
    # call the function directly: degrade() checks image shapes, and rows (B, D) are valid here
    options = {"clip": clip} if "clip" in spec.options else {}
    return spec.fn(x, level, generator=generator, **options)
