"""``deepae compress``, ``decompress`` and ``codec-info``: the learned image codec on files.

``compress`` codes image files (or every image under folders) into one ``.dae`` file; ``decompress``
writes them back as PNGs under their original names; ``codec-info`` tells what a file holds.
Everything is checked before anything is written, outputs are written atomically, and an existing
output is replaced only with ``--force``.
"""

from __future__ import annotations

import io
from pathlib import Path, PurePosixPath
from typing import Optional

import numpy as np
import typer
from PIL import Image

from .._io import atomic_write_bytes
from ..apps.codec import CodecError, info, load_codec, read_dae, write_dae
from ..data import find_images, read_image
from ..errors import ConfigError, DataError
from ._base import console, fmt, get_settings

app = typer.Typer()

def _read_8bit(path: Path) -> np.ndarray:
    """An image file -> (H, W) gray or (H, W, 3) RGB uint8, upright (alpha dropped, 16-bit reduced to 8)."""
    try:
        pixels, _ = read_image(path)  # EXIF orientation, 16-bit, decompression bombs: as every command reads
    except DataError as err:
        raise DataError(f"'{path}' is not a readable image: {str(err).removeprefix(f'{path}: ')}") from None
    u8 = np.rint(pixels * 255).astype(np.uint8)
    return u8[..., 0] if u8.shape[2] == 1 else u8


def _inputs(items: list[Path]) -> list[tuple[str, Path]]:
    """(name stored in the file, path): a file by its name, images under a folder by their relative path."""
    found: list[tuple[str, Path]] = []
    for item in items:
        if not item.exists():
            raise DataError(f"{item}: no such image file or folder")
        if item.is_dir():
            found += [(p.relative_to(item).as_posix(), p) for p in find_images(item)]
        else:
            found.append((item.name, item))
    names = [n for n, _ in found]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"several inputs have the name {dupes[0]!r}; a .dae file keeps names, so give them distinct names")
    return found


def _check_output(output: Path, force: bool, sources: list[Path] = ()) -> None:
    if output.exists() and output.is_dir():
        raise ConfigError(f"output '{output}' is a folder; name a .dae file")
    if any(output.resolve() == s.resolve() for s in sources):
        raise ConfigError(f"output '{output}' would replace an input; choose another output")
    if output.exists() and not force:
        raise ConfigError(f"output '{output}' already exists; pass --force to replace it")


@app.command()
def compress(
    ctx: typer.Context,
    inputs: list[Path] = typer.Argument(..., help="Image files or folders (PNG, JPEG, WebP, TIFF, BMP; gray or colour)."),
    output: Path = typer.Option(..., "--output", "-o", help="The .dae file to write."),
    model: str = typer.Option("photo", "--model", help="Codec model: photo (default), digits, or a model folder."),
    quality: int = typer.Option(4, "--quality", "-q", help="1 (smallest files) .. 8 (best images)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing output."),
) -> None:
    """Compress images into one .dae file with a learned codec.

    \b
    Example:
      deepae compress photos/ -o photos.dae --quality 4
      deepae compress digit1.png digit2.png -o digits.dae --model digits
    """
    files = _inputs(inputs)
    _check_output(output, force, [p for _, p in files])
    codec = load_codec(model)
    if not 1 <= quality <= codec.config.qualities:
        raise ConfigError(f"--quality {quality}; expected 1 to {codec.config.qualities}")
    for _, path in files:  # a non-image is refused before anything is written (files are read one at a time)
        _read_8bit(path)
    stats = write_dae(output, ((name, _read_8bit(path)) for name, path in files), codec, quality)
    if not get_settings(ctx).quiet:
        summary = info(output.read_bytes())
        console.print(f"{len(files)} image(s) -> {output}: {fmt(stats['bytes'])} bytes, "
                      f"{summary['bits_per_pixel']:.3f} bits per pixel (model {codec.name}, quality {quality})")


def _safe_target(outdir: Path, name: str, index: int) -> Path:
    """Where a decoded image goes: its stored name as a PNG under ``outdir``; unsafe names refused."""
    if not name:
        return outdir / f"image-{index:06d}.png"
    pure = PurePosixPath(name)
    if pure.is_absolute() or ".." in pure.parts or "\\" in name or "\0" in name or not pure.parts:
        raise CodecError(f"the file stores the image name {name!r}, which would be written outside the output folder")
    if not name.isprintable():
        raise CodecError(f"the file stores the image name {name!r}, which holds control characters")
    target = outdir.joinpath(*pure.parts).with_suffix(".png")
    if any(len(part.encode()) > 255 for part in target.relative_to(outdir).parts):
        raise CodecError(f"the file stores the image name {name[:40]!r}..., longer than a file name may be (255 bytes)")
    return target


def _check_targets(outdir: Path, targets: list[Path], force: bool) -> None:
    """Refuse, before anything is written, images that would collide with each other or with what is there."""
    if len(set(targets)) != len(targets):
        raise CodecError("two images in the file have the same name")
    folders = {parent for t in targets for parent in t.relative_to(outdir).parents if parent != Path(".")}
    clash = next((t for t in targets if t.relative_to(outdir) in folders), None)
    if clash is not None:
        raise CodecError(f"the file stores an image '{clash.relative_to(outdir)}' and a folder of that name")
    blocked = next((outdir / f for f in sorted(folders) if (outdir / f).is_file()), None)  # each folder once
    if blocked is not None:
        raise ConfigError(f"output '{blocked}' is in the way: a file where the decoded images need a folder")
    existing = [t for t in targets if t.exists()]
    if any(t.is_dir() for t in existing):
        raise ConfigError(f"output '{next(t for t in existing if t.is_dir())}' is in the way: a folder where a decoded "
                          "image goes")
    if existing and not force:
        raise ConfigError(f"output '{existing[0]}' already exists; pass --force to replace it")


@app.command()
def decompress(
    ctx: typer.Context,
    archive: Path = typer.Argument(..., help="A .dae file written by `deepae compress`."),
    output: Path = typer.Option(..., "--output", "-o", help="Folder to write the images into (PNG)."),
    model: Optional[str] = typer.Option(None, "--model", help="The model folder, for files not made by a shipped model."),
    force: bool = typer.Option(False, "--force", help="Replace existing images in the output folder."),
) -> None:
    """Decompress a .dae file into PNG images with their original names and sizes.

    \b
    Example:
      deepae decompress photos.dae -o photos/
    """
    if not archive.is_file():
        raise DataError(f"{archive}: no such .dae file")
    if output.exists() and not output.is_dir():
        raise ConfigError(f"output '{output}' is a file; name a folder")
    # Check everything first (checksums, names, existing outputs) without decoding; then decode one by one.
    with open(archive, "rb") as fh:
        listing = info(fh)["list"]
    targets = [_safe_target(output, item["name"], i) for i, item in enumerate(listing)]
    _check_targets(output, targets, force)
    with open(archive, "rb") as fh:
        for target, image in zip(targets, read_dae(fh, model)):
            buf = _png(image.pixels)
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(target, buf)
    if not get_settings(ctx).quiet:
        console.print(f"{len(targets)} image(s) -> {output}")


def _png(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


@app.command("codec-info")
def codec_info(
    archive: Path = typer.Argument(..., help="A .dae file."),
) -> None:
    """Show what a .dae file holds: images, model, bytes, bits per pixel (checksums verified).

    \b
    Example:
      deepae codec-info photos.dae
    """
    if not archive.is_file():
        raise DataError(f"{archive}: no such .dae file")
    with open(archive, "rb") as fh:
        meta = info(fh)
    typer.echo(f"{archive}: {meta['images']} image(s), {fmt(meta['bytes'])} bytes, "
                  f"{(meta['bits_per_pixel'] or 0):.4f} bits per pixel")
    typer.echo(f"model {meta['model']} (digest {meta['model_digest']}), quality {meta['quality']}, "
                  f"format version {meta['format_version']}")
    for item in meta["list"][:20]:
        name = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in item["name"])  # no terminal escapes
        typer.echo(f"  {name or '(unnamed)'}  {item['mode']} {item['width']}x{item['height']}  "
                      f"{item['payload_bytes']} B")
    if meta["images"] > 20:
        typer.echo(f"  ... and {meta['images'] - 20} more")

