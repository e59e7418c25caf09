"""``deepae denoise``, ``colorize``, ``unwatermark`` and ``upscale``: restore photos with shipped models.

Each takes image files or folders and writes one image per input: to ``-o FILE`` for a single
input file, else into the folder ``-o DIR`` as PNG (16-bit and alpha kept) under the input's
relative name. Nothing is written until every input and output has been checked: an output never
replaces an input, and an existing output is replaced only with ``--force``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .._io import atomic_write_bytes
from ..apps.restore import get_task, load_task_model, restore_pixels
from ..apps.upscale import variant_of
from ..data import IMAGE_SUFFIXES, encode_image, find_images, read_image
from ..errors import ConfigError, DataError
from ._base import console, get_settings

app = typer.Typer()

_INPUTS = typer.Argument(..., help="Image files or folders (PNG, JPEG, WebP, TIFF, BMP; 8- or 16-bit; gray or colour).")
_OUTPUT = typer.Option(..., "--output", "-o", help="Output image file (one input file), or folder.")
_MODEL = typer.Option(None, "--model", help="A run folder from `deepae train --task ...` (default: the shipped model).")
_FORCE = typer.Option(False, "--force", help="Replace existing outputs (never an input).")
_SUFFIXES = IMAGE_SUFFIXES


def _plan(inputs: list[Path], output: Path, force: bool) -> list[tuple[Path, Path]]:
    """(input file, output file) pairs, checked: inputs exist, outputs replace no input, and existing
    outputs only with ``force``."""
    for item in inputs:
        if not item.exists():
            raise DataError(f"{item}: no such image file or folder")
    files: list[tuple[Path, Path]] = []
    single = len(inputs) == 1 and inputs[0].is_file()
    if single and output.suffix.lower() in _SUFFIXES:
        files.append((inputs[0], output))
    elif single and output.suffix and not output.is_dir():
        # "-o clean.txt" for one image: a typo for an image name far more often than a folder's name
        raise ConfigError(f"output '{output}': {output.suffix!r} is not an image format deepae writes "
                          f"({', '.join(sorted(_SUFFIXES))}); name an image file, or a folder that exists")
    else:
        if output.suffix.lower() in _SUFFIXES:
            raise ConfigError(f"output '{output}' names a file, but the inputs are several images or a folder; name a folder")
        if output.exists() and not output.is_dir():
            raise ConfigError(f"output '{output}' is a file; name a folder for several images")
        for item in inputs:
            if item.is_dir():
                found = find_images(item)
                if output.resolve().is_relative_to(item.resolve()):
                    raise ConfigError(f"output folder '{output}' lies inside the input folder '{item}'; choose another")
                files += [(p, output / p.relative_to(item).with_suffix(".png")) for p in found]
            else:
                files.append((item, output / f"{item.stem}.png"))
    sources = {p.resolve() for p, _ in files}
    targets: set[Path] = set()
    for src, dst in files:
        resolved = dst.resolve()
        if resolved in sources:
            raise ConfigError(f"output '{dst}' would replace the input '{src}'; choose another output")
        if resolved in targets:
            raise ConfigError(f"two inputs would both be written to '{dst}'; give them separate outputs")
        targets.add(resolved)
        if dst.exists() and not force:
            raise ConfigError(f"output '{dst}' already exists; pass --force to replace it")
    return files


def _restore_all(task: str, inputs: list[Path], output: Path, model: Optional[Path], force: bool,
                 variant: str | None = None, quiet: bool = False, **options) -> None:
    spec = get_task(task)
    spec.check_options(**options)
    plan = _plan(inputs, output, force)
    net = load_task_model(task, model, variant)  # a wrong run folder fails before any image is read
    for src, dst in plan:
        pixels, info = read_image(src)
        restored = restore_pixels(spec, pixels, net, **options)
        atomic_write_bytes(dst, encode_image(restored, info, dst.suffix))
        if not quiet:
            h, w = restored.shape[:2]
            console.print(f"{src} -> {dst} ({w}x{h})")
    if not quiet and len(plan) > 1:
        console.print(f"Wrote {len(plan)} images to {output}")


@app.command()
def denoise(
    ctx: typer.Context,
    inputs: list[Path] = _INPUTS,
    output: Path = _OUTPUT,
    sigma: Optional[float] = typer.Option(
        None, "--sigma", help="Noise level in grey levels of 255 (default: estimated per image)."
    ),
    model: Optional[Path] = _MODEL,
    force: bool = _FORCE,
) -> None:
    """Remove noise from photos (colour or gray).

    \b
    Example:
      deepae denoise photo.jpg -o clean.png
      deepae denoise scans/ -o clean/ --sigma 15
    """
    _restore_all("denoise", inputs, output, model, force, quiet=get_settings(ctx).quiet, sigma=sigma)


@app.command()
def colorize(
    ctx: typer.Context,
    inputs: list[Path] = _INPUTS,
    output: Path = _OUTPUT,
    model: Optional[Path] = _MODEL,
    force: bool = _FORCE,
) -> None:
    """Colour black-and-white photos (the luma is kept, the colour predicted).

    \b
    Example:
      deepae colorize old_bw.jpg -o colour.png
    """
    _restore_all("colorize", inputs, output, model, force, quiet=get_settings(ctx).quiet)


@app.command()
def unwatermark(
    ctx: typer.Context,
    inputs: list[Path] = _INPUTS,
    output: Path = _OUTPUT,
    model: Optional[Path] = _MODEL,
    force: bool = _FORCE,
) -> None:
    """Remove semi-transparent text and logo watermarks from photos.

    \b
    Example:
      deepae unwatermark stamped.jpg -o restored.png
    """
    _restore_all("unwatermark", inputs, output, model, force, quiet=get_settings(ctx).quiet)


@app.command()
def upscale(
    ctx: typer.Context,
    inputs: list[Path] = _INPUTS,
    output: Path = _OUTPUT,
    factor: int = typer.Option(2, "--factor", "-f", help="Enlargement: 2, 3 or 4."),
    model: Optional[Path] = _MODEL,
    force: bool = _FORCE,
) -> None:
    """Enlarge photos 2, 3 or 4 times (super-resolution).

    \b
    Example:
      deepae upscale small.png -o big.png --factor 2
    """
    _restore_all("upscale", inputs, output, model, force, variant=variant_of(factor), quiet=get_settings(ctx).quiet,
                 factor=factor)
