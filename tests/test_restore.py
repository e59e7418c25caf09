"""Restoration (denoise, colorize, unwatermark, upscale): the Python API, the CLI and the shipped models.

Untrained models stand in for trained ones where behaviour, not quality, is tested: a residual
image2image model starts at exactly its base (the input, or its bicubic upscale), so an untrained
denoiser returns its input and an untrained upscaler the bicubic enlargement.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps
from typer.testing import CliRunner

from deepae import create_model
from deepae.apps import restore as R
from deepae.apps.colorize import colorize
from deepae.apps.denoise import denoise, estimate_sigma
from deepae.apps.unwatermark import unwatermark
from deepae.apps.upscale import upscale
from deepae.cli import app
from deepae.train import save_model

try:
    runner = CliRunner(mix_stderr=False)
except TypeError:
    runner = CliRunner()

SHARED = Path(os.environ.get("DEEPAE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
KODAK = SHARED / "kodak"
VARIANTS = {"upscale": "x2"}


def _tiny(task: str, folder: Path, variant: str | None = None) -> Path:
    """An untrained, small model of ``task`` saved as a run folder."""
    spec = R.get_task(task)
    config = {**spec.model_config(variant), "channels": (4, 8)}
    torch.manual_seed(0)
    model = create_model("image2image", **config)
    save_model(folder, model, {"task": {"name": task, "variant": variant}})
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {t: _tiny(t, root / t, VARIANTS.get(t)) for t in ("denoise", "colorize", "unwatermark", "upscale")}


def _photo(h=40, w=52, channels=3, seed=0) -> np.ndarray:
    """A smooth colour test image in [0, 1] (H, W, C)."""
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    rgb = np.stack([0.5 + 0.4 * np.sin(3 * xx + seed), 0.5 + 0.4 * np.cos(4 * yy), 0.5 + 0.3 * np.sin(2 * (xx + yy))], -1)
    return (rgb if channels == 3 else rgb.mean(-1, keepdims=True)).astype(np.float32)


# -- the Python API -------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("gray", [False, True])
def test_arrays_come_back_as_arrays_of_their_dtype(models, dtype, gray):
    img = _photo(channels=1 if gray else 3)
    scale = {np.uint8: 255, np.uint16: 65535, np.float32: 1}[dtype]
    arr = (img * scale).round().astype(dtype) if scale > 1 else img
    arr = arr[..., 0] if gray else arr
    out = denoise(arr, model=models["denoise"])
    assert out.dtype == dtype and out.shape == arr.shape
    # an untrained residual denoiser returns its input (colour: up to its colour differences, which are
    # denoised at half resolution; this image's are smooth)
    atol = (1.0 if scale > 1 else 1e-5) + (0 if gray else 1e-2 * scale)
    np.testing.assert_allclose(out.astype(np.float64), arr.astype(np.float64), atol=atol)
    big = upscale(arr, factor=2, model=models["upscale"])
    assert big.dtype == dtype and big.shape[:2] == (2 * arr.shape[0], 2 * arr.shape[1])


def test_upscale_starts_at_bicubic(models):
    img = _photo(channels=1)[..., 0]
    out = upscale(img, factor=2, model=models["upscale"])
    x = torch.from_numpy(img)[None, None]
    bicubic = torch.nn.functional.interpolate(x, scale_factor=2, mode="bicubic", align_corners=False).clamp(0, 1)
    np.testing.assert_allclose(out, bicubic[0, 0].numpy(), atol=1e-5)


def test_pil_images_keep_mode_and_alpha(models):
    rgba = np.concatenate([_photo(), np.linspace(0, 1, 40 * 52).reshape(40, 52, 1)], -1)
    image = Image.fromarray((rgba * 255).round().astype(np.uint8), "RGBA")
    out = unwatermark(image, model=models["unwatermark"])
    assert isinstance(out, Image.Image) and out.mode == "RGBA" and out.size == image.size
    np.testing.assert_array_equal(np.asarray(out)[..., 3], np.asarray(image)[..., 3])
    big = upscale(image, factor=2, model=models["upscale"])
    assert big.mode == "RGBA" and big.size == (104, 80)
    gray = Image.fromarray((_photo(channels=1)[..., 0] * 255).astype(np.uint8), "L")
    assert denoise(gray, model=models["denoise"]).mode == "L"


def test_colorize_keeps_the_luma_and_returns_colour(models):
    gray = _photo(channels=1)[..., 0]
    out = colorize(gray, model=models["colorize"])
    assert out.shape == (*gray.shape, 3)
    luma = out @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    inside = ((out > 0) & (out < 1)).all(-1)  # where no channel was clipped to [0, 1], the luma is the input's
    assert inside.mean() > 0.5
    np.testing.assert_allclose(luma[inside], gray[inside], atol=1e-5)


def test_unwatermark_undoes_an_overlay_given_its_opacity_and_colour():
    from deepae.apps.unwatermark import remove_overlay
    from deepae.degrade import degrade

    g = torch.Generator().manual_seed(0)
    clean = torch.from_numpy(_photo(64, 96)).permute(2, 0, 1)[None]
    # where a tiled text stamp falls, overlaid at opacity 0.6 in a colour
    stamp = (degrade("watermark", clean, 0.6, g, texts=["SAMPLE"], font_px=(20, 30), tile=1.0) != clean).any(1, keepdim=True)
    assert 0.05 < stamp.float().mean() < 0.9
    opacity, colour = 0.6 * stamp.float(), torch.tensor([0.2, 0.7, 0.4]).view(1, 3, 1, 1)
    stamped = torch.lerp(clean, colour, opacity)
    # the maps the model is to predict: gain a / (1 - a) and offsets a c / (1 - a)
    gain = opacity / (1 - opacity)
    np.testing.assert_allclose(remove_overlay(stamped, torch.cat([gain, gain * colour], 1)).numpy(), clean.numpy(), atol=1e-5)
    assert torch.equal(remove_overlay(stamped, torch.zeros(1, 4, 64, 96)), stamped)  # no mark found: the input


def test_unwatermark_takes_gray_images(models):
    gray = _photo(channels=1)[..., 0]
    out = unwatermark(gray, model=models["unwatermark"])
    assert out.shape == gray.shape and out.dtype == gray.dtype
    both = unwatermark(np.repeat(gray[..., None], 3, -1), model=models["unwatermark"])
    np.testing.assert_allclose(out, both @ np.array([0.299, 0.587, 0.114], dtype=np.float32), atol=1e-5)


def test_colour_denoising_goes_through_opponent_channels_and_back():
    from deepae.apps.denoise import _OPPONENT, _OPPONENT_INV

    rgb = torch.from_numpy(_photo()).permute(2, 0, 1)
    opp = torch.einsum("ij,jhw->ihw", _OPPONENT, rgb)
    assert torch.allclose(torch.einsum("ij,jhw->ihw", _OPPONENT_INV, opp), rgb, atol=1e-6)
    assert opp[0].min() >= 0 and opp[0].max() <= 1 and (opp[1:] + 0.5).min() >= 0 and (opp[1:] + 0.5).max() <= 1
    # a gray image stored as RGB has no colour differences: it comes back gray (odd sizes too)
    gray = np.repeat(_photo(39, 51, channels=1), 3, -1)
    from deepae.apps.denoise import denoise as dn
    tiny = _tiny("denoise", Path(tempfile.mkdtemp()) / "m")
    out = dn(gray, model=tiny)
    assert out.shape == gray.shape
    np.testing.assert_allclose(out[..., 0], out[..., 1], atol=1e-5)
    np.testing.assert_allclose(out[..., 1], out[..., 2], atol=1e-5)


def test_the_shipped_denoiser_leaves_a_flat_image_flat_up_to_its_borders():
    # the model pads with zeros; mirrored margins keep the outermost pixels right (they were off by up
    # to 3 grey levels in gray and 8 in colour)
    for flat in (np.full((40, 56, 3), 128, np.uint8), np.full((40, 56), 77, np.uint8)):
        out = denoise(flat)
        assert np.abs(out.astype(int) - flat.astype(int)).max() <= 1


def test_estimate_sigma_recovers_the_noise_level():
    g = torch.Generator().manual_seed(0)
    clean = torch.from_numpy(_photo(96, 128)).permute(2, 0, 1)
    for sigma in (0.02, 0.1):
        noisy = clean + sigma * torch.randn(clean.shape, generator=g)
        est = estimate_sigma(noisy)
        assert torch.all((est - sigma).abs() < 0.15 * sigma), (sigma, est)


@pytest.mark.parametrize("bad,match", [
    (np.zeros((4, 4, 3), np.uint8), "at least 8x8"),
    (np.zeros((10, 10, 2), np.uint8), "expected an image"),
    (np.full((10, 10), 2.0, np.float32), r"lie in \[0, 1\]"),
    (np.zeros((10, 10), np.int64), "dtype int64"),
])
def test_bad_images_are_refused(models, bad, match):
    with pytest.raises(R.DataError, match=match):
        denoise(bad, model=models["denoise"])


def test_bad_options_are_refused(models):
    with pytest.raises(R.ConfigError, match="factor=5"):
        upscale(_photo(), factor=5, model=models["upscale"])
    with pytest.raises(R.ConfigError, match="sigma=300"):
        denoise(_photo(), sigma=300, model=models["denoise"])
    with pytest.raises(R.CheckpointError, match="'denoise' model"):
        colorize(_photo(), model=models["denoise"])


def test_training_a_task_writes_a_model_that_records_its_data(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        Image.fromarray((_photo(120, 140, seed=i) * 255).astype(np.uint8)).save(photos / f"p{i}.png")
    result = R.train_task("denoise", [photos], tmp_path / "run", minutes=0.01, epochs=1,
                          model_config={"channels": (4, 8)})
    config = R.describe_model(result.path)
    assert config["task"]["name"] == "denoise" and result.epochs == 1
    assert [f["name"] for f in config["training"]["files"]] == ["p0.png", "p1.png", "p2.png"]
    out = denoise(_photo(), model=result.path)
    assert out.shape == (40, 52, 3)


# -- the command line -----------------------------------------------------------------------------
def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def _save(path: Path, array: np.ndarray, mode: str | None = None) -> Path:
    Image.fromarray(array, mode).save(path)
    return path


def test_cli_file_to_file_and_folder_to_folder(models, tmp_path):
    src = _save(tmp_path / "a.jpg", (_photo() * 255).astype(np.uint8))
    result = invoke("denoise", src, "-o", tmp_path / "a-clean.png", "--model", models["denoise"])
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "a-clean.png").size == (52, 40)
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    _save(folder / "x.png", (_photo() * 255).astype(np.uint8))
    _save(folder / "sub" / "y.jpg", (_photo(seed=1) * 255).astype(np.uint8))
    result = invoke("upscale", folder, "-o", tmp_path / "out", "--factor", 2, "--model", models["upscale"])
    assert result.exit_code == 0, result.output
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.png")) == ["sub/y.png", "x.png"]
    assert Image.open(tmp_path / "out" / "x.png").size == (104, 80)


def test_cli_keeps_16_bit_and_applies_exif_orientation(models, tmp_path):
    deep = (_photo(channels=1)[..., 0] * 65535).astype(np.uint16)
    src = _save(tmp_path / "deep.png", deep)
    assert invoke("denoise", src, "-o", tmp_path / "deep-out.png", "--model", models["denoise"]).exit_code == 0
    out = Image.open(tmp_path / "deep-out.png")
    assert out.mode.startswith("I;16") and np.abs(np.asarray(out).astype(int) - deep).max() <= 1
    rotated = Image.fromarray((_photo() * 255).astype(np.uint8))
    exif = rotated.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    rotated.save(tmp_path / "rot.jpg", exif=exif)
    assert invoke("denoise", tmp_path / "rot.jpg", "-o", tmp_path / "rot.png", "--model", models["denoise"]).exit_code == 0
    assert Image.open(tmp_path / "rot.png").size == (40, 52)  # upright: portrait


def _png16(path: Path, samples: np.ndarray, mode: str, bitdepth: int = 16) -> Path:
    """A 16-bit PNG written by pypng (Pillow cannot write 16-bit colour); a smaller ``bitdepth`` adds an sBIT chunk."""
    import png

    h, w = samples.shape[:2]
    with path.open("wb") as f:
        png.Writer(w, h, greyscale=mode.startswith("L"), alpha=mode.endswith("A"), bitdepth=bitdepth).write(
            f, samples.reshape(h, -1))
    return path


def _read16(path: Path) -> np.ndarray:
    import png

    w, h, rows, meta = png.Reader(filename=str(path)).asDirect()
    assert meta["bitdepth"] == 16
    return np.vstack([np.asarray(r, np.uint16) for r in rows]).reshape(h, w, -1)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "LA"])
def test_cli_keeps_16_bit_colour_and_alpha(models, tmp_path, mode):
    # Pillow reads these as 8 bits per channel: the untrained denoiser must give back all 16
    img = _photo(channels=1 if mode == "LA" else 3)
    alpha = np.linspace(0, 1, img.shape[1], dtype=np.float32)[None, :, None].repeat(img.shape[0], 0)
    samples = np.concatenate([img, alpha], 2) if mode.endswith("A") else img
    samples = (samples * 65535).round().astype(np.uint16) | 1  # odd values: lost by any 8-bit step
    src = _png16(tmp_path / "deep.png", samples, mode)
    assert invoke("denoise", src, "-o", tmp_path / "out.png", "--model", models["denoise"]).exit_code == 0
    out = _read16(tmp_path / "out.png")
    assert out.shape == samples.shape
    if mode.endswith("A"):
        assert np.abs(out[..., -1].astype(int) - samples[..., -1]).max() <= 1  # alpha comes back as it was
    tolerance = 1 if mode == "LA" else 0.01 * 65535  # colour: the colour differences are denoised at half size
    assert np.abs(out.astype(int) - samples).max() <= tolerance
    assert (out % 257 != 0).any()  # not 8-bit values scaled up


def test_16_bit_colour_exif_orientation_sbit_and_truncation(models, tmp_path):
    import struct
    import zlib

    from deepae.data import read_image

    samples = (_photo() * 65535).astype(np.uint16)
    plain = _png16(tmp_path / "plain.png", samples, "RGB")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    body = b"eXIf" + exif.tobytes()
    chunk = struct.pack(">I", len(body) - 4) + body + struct.pack(">I", zlib.crc32(body))
    data = plain.read_bytes()
    (tmp_path / "rot.png").write_bytes(data[:33] + chunk + data[33:])  # after the signature and IHDR
    pixels, info = read_image(tmp_path / "rot.png")
    with Image.open(tmp_path / "rot.png") as im:  # what Pillow makes of the same file, at 8 bits
        upright = np.asarray(ImageOps.exif_transpose(im), dtype=np.float32) / 255
    assert info.bits == 16 and pixels.shape == (52, 40, 3)
    np.testing.assert_allclose(pixels, upright, atol=1 / 255 + 1e-6)
    np.testing.assert_array_equal(np.rint(pixels * 65535).astype(np.uint16), np.rot90(samples, -1))
    # a 12-bit image in a 16-bit PNG (pypng writes an sBIT chunk and reads 12-bit values back)
    pixels, info = read_image(_png16(tmp_path / "sbit.png", samples >> 4, "RGB", bitdepth=12))
    assert info.bits == 16
    np.testing.assert_allclose(pixels, (samples >> 4) / 4095, atol=1e-6)
    (tmp_path / "cut.png").write_bytes(data[:-40])
    _error(invoke("denoise", tmp_path / "cut.png", "-o", tmp_path / "o.png", "--model", models["denoise"]), "cut.png")
    assert not (tmp_path / "o.png").exists()


@pytest.mark.parametrize("suffix", [".jpg", ".webp", ".bmp", ".tif"])
@pytest.mark.parametrize("alpha", [False, True])
def test_16_bit_gray_to_an_8_bit_format_is_scaled_not_clipped(models, tmp_path, suffix, alpha):
    # Pillow's I;16 -> L conversion clips at 255: a mid-gray 16-bit image came out white in a JPEG
    deep = (_photo(channels=1)[..., 0] * 65535).astype(np.uint16)
    src = _png16(tmp_path / "in.png", np.stack([deep, np.full_like(deep, 40000)], -1), "LA") if alpha else \
        _save(tmp_path / "in.png", deep)
    assert invoke("denoise", src, "-o", tmp_path / f"out{suffix}", "--model", models["denoise"]).exit_code == 0
    with Image.open(tmp_path / f"out{suffix}") as im:
        out = np.asarray(im)
    out = (out[..., 0] if out.ndim == 3 else out) / (65535 if out.dtype == np.uint16 else 255)  # TIFF keeps 16 bits
    assert np.abs(out - deep / 65535).max() < 0.03


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_upscaled_hard_alpha_edge_stays_in_range(models, dtype):
    # bicubic resizing overshoots at a hard edge of transparency: unclipped, -0.07 wrapped round to 238 in uint8
    scale = {np.uint8: 255, np.uint16: 65535, np.float32: 1}[dtype]
    rgba = np.zeros((24, 24, 4), np.float32)
    rgba[..., :3], rgba[:, 12:, 3] = 0.5, 1.0
    arr = (rgba * scale).astype(dtype)
    out = upscale(arr, factor=2, model=models["upscale"])
    alpha = out[..., 3].astype(np.float64) / scale
    assert alpha.min() >= 0 and alpha.max() <= 1
    assert (np.diff(alpha, axis=1) >= -1e-6).all()  # rises monotonically across the edge, as the input does
    assert (alpha[:, :20] == 0).all() and (alpha[:, -20:] == 1).all()


def test_colorize_keeps_16_bit_gray_as_16_bit_colour(models, tmp_path):
    deep = (_photo(channels=1)[..., 0] * 65535).astype(np.uint16) | 1
    src = _save(tmp_path / "gray16.png", deep)
    assert invoke("colorize", src, "-o", tmp_path / "colour.png", "--model", models["colorize"]).exit_code == 0
    out = _read16(tmp_path / "colour.png")
    assert out.shape == (*deep.shape, 3) and (out % 257 != 0).any()


def _error(result, match: str) -> None:
    assert result.exit_code == 2, result.output
    message = result.stderr.strip()
    assert message.count("\n") == 0 and message.startswith("error: ") and "Traceback" not in message
    assert match in message, message


def test_cli_errors_are_one_line_and_write_nothing(models, tmp_path):
    good = _save(tmp_path / "good.png", (_photo() * 255).astype(np.uint8))
    (tmp_path / "notes.png").write_text("not an image")
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(good.read_bytes()[:200])
    (tmp_path / "empty.png").write_bytes(b"")
    tiny = _save(tmp_path / "tiny.png", np.zeros((3, 3), np.uint8))
    existing = _save(tmp_path / "exists.png", np.zeros((9, 9), np.uint8))
    before = existing.read_bytes()
    m = ["--model", models["denoise"]]
    _error(invoke("denoise", tmp_path / "notes.png", "-o", tmp_path / "o1.png", *m), "not an image")
    _error(invoke("denoise", truncated, "-o", tmp_path / "o2.png", *m), "cut.png")
    _error(invoke("denoise", tmp_path / "empty.png", "-o", tmp_path / "o3.png", *m), "empty file")
    _error(invoke("denoise", tiny, "-o", tmp_path / "o4.png", *m), "at least 8x8")
    _error(invoke("denoise", good, "-o", existing, *m), "--force")
    _error(invoke("denoise", good, "-o", tmp_path / "clean.txt", *m), "'.txt' is not an image format")
    assert not (tmp_path / "clean.txt").exists()
    (tmp_path / "out.v2").mkdir()  # a folder with a dot in its name, once it exists, is a folder
    assert invoke("denoise", good, "-o", tmp_path / "out.v2", *m).exit_code == 0
    assert (tmp_path / "out.v2" / f"{good.stem}.png").is_file()
    _error(invoke("denoise", good, "-o", good, "--force", *m), "would replace the input")
    _error(invoke("denoise", tmp_path, "-o", tmp_path / "inside", *m), "inside the input folder")
    _error(invoke("upscale", good, "-o", tmp_path / "o5.png", "--factor", 5), "factor=5")
    _error(invoke("colorize", good, "-o", tmp_path / "o6.png", *m), "'denoise' model")
    _error(invoke("denoise", tmp_path / "missing.png", "-o", tmp_path / "o7.png", *m), "no such image")
    assert existing.read_bytes() == before
    assert not any((tmp_path / f"o{i}.png").exists() for i in range(1, 8))


def test_train_task_from_the_cli(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    _save(photos / "p.png", (_photo(100, 120) * 255).astype(np.uint8))
    _error(invoke("train", "--task", "denoise", "--data", photos), "needs --data")
    _error(invoke("train", "--task", "upscale", "--factor", 5, "--data", photos, "--out", tmp_path / "r"), "factor=5")
    # --factor belongs to --task upscale: anywhere else it was silently ignored
    _error(invoke("train", "--task", "denoise", "--factor", 3, "--data", photos, "--out", tmp_path / "r"), "--factor")
    _error(invoke("train", "--factor", 9, "--data", "mnist", "--out", tmp_path / "r"), "--factor")
    _error(invoke("train", "--task", "denoise", "--code-size", 3, "--data", photos, "--out", tmp_path / "r"), "--code-size")
    small = tmp_path / "small"
    small.mkdir()
    _save(small / "tiny.png", (_photo(8, 8) * 255).astype(np.uint8))
    # The loader's worker finds it: the error is the photo's own line, not the worker's traceback.
    result = invoke("train", "--task", "denoise", "--data", small, "--out", tmp_path / "r", "--minutes", 0.05)
    _error(result, "tiny.png: image is 8x8 (HxW), smaller than crop_size=96")
    assert "Traceback" not in result.stderr and not (tmp_path / "r").exists()


# -- shipped models and test-set hygiene ----------------------------------------------------------
SHIPPED = R.shipped_models() if R.WEIGHTS.is_dir() else []


def _kodak_digests() -> set[str]:
    return {hashlib.sha256(p.read_bytes()).hexdigest() for p in KODAK.glob("*.png")}


@pytest.mark.skipif(not KODAK.is_dir(), reason="no ../shared/data/kodak")
def test_no_kodak_image_was_used_for_training():
    kodak = _kodak_digests()
    assert len(kodak) == 24
    photos = SHARED / "photos"
    if photos.is_dir():
        assert not {hashlib.sha256(p.read_bytes()).hexdigest() for p in photos.iterdir() if p.is_file()} & kodak
    for folder in SHIPPED:
        files = R.describe_model(folder)["training"]["files"]
        assert files and not {f["sha256"] for f in files} & kodak, folder.name
        assert not any("kodim" in f["name"] for f in files)
    # the photo codec records its training photos the same way (the digits codec saw MNIST only)
    files = json.loads((R.WEIGHTS / "codec-photo" / "config.json").read_text())["training"]["files"]
    assert files and not {f["sha256"] for f in files} & kodak


def test_shipped_models_are_small():
    for folder in SHIPPED:
        assert (folder / "model.safetensors").stat().st_size <= 5 * 2**20, folder.name


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1 / np.mean((a.astype(np.float64) - b) ** 2)))


@pytest.mark.skipif(not KODAK.is_dir() or not SHIPPED, reason="no Kodak images or no shipped models")
@pytest.mark.parametrize("folder", SHIPPED, ids=[p.name for p in SHIPPED])
def test_each_shipped_model_beats_its_degraded_input(folder):
    from deepae.degrade import degrade

    task = R.describe_model(folder)["task"]
    # 96 px: a multiple of every upscale factor
    clean = np.asarray(Image.open(KODAK / "kodim05.png").convert("RGB"), dtype=np.float32)[200:296, 300:396] / 255
    x = torch.from_numpy(clean).permute(2, 0, 1)[None]
    g = torch.Generator().manual_seed(0)
    name = task["name"]
    if name == "denoise":
        degraded = degrade("gaussian", x, 25 / 255, g, clip=True)
    elif name == "colorize":
        degraded = degrade("grayscale", x, channels=3)
    elif name == "unwatermark":
        from deepae.apps.unwatermark import held_out_fonts

        degraded = degrade("watermark", x, 0.5, g, fonts=[str(f) for f in held_out_fonts()], texts=["SAMPLE"],
                           font_px=(16, 32), tile=0.0)  # one stamp, centred on the crop
    else:
        degraded = degrade("downscale", x, int(task["variant"][1:]))
    degraded = degraded[0].permute(1, 2, 0).numpy()
    assert name == "upscale" or not np.array_equal(degraded, clean)
    restored = R.restore(name, degraded, model=folder, variant=task["variant"],
                         **({"factor": int(task["variant"][1:])} if name == "upscale" else {}))
    if name == "upscale":
        f = int(task["variant"][1:])
        base = torch.nn.functional.interpolate(torch.from_numpy(degraded).permute(2, 0, 1)[None], scale_factor=f,
                                               mode="bicubic", align_corners=False).clamp(0, 1)[0].permute(1, 2, 0).numpy()
        assert _psnr(restored, clean) > _psnr(base, clean)
    else:
        assert _psnr(restored, clean) > _psnr(degraded, clean)


def test_a_run_folder_is_read_once_and_again_after_retraining(models):
    import os

    first = R.load_task_model("denoise", models["denoise"])
    assert R.load_task_model("denoise", models["denoise"]) is first
    weights = models["denoise"] / "model.safetensors"
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # as a retraining in place would
    assert R.load_task_model("denoise", models["denoise"]) is not first
