"""Tests for deepae.degrade (the degradation registry) and deepae.data.PairedImageDataset."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from deepae.corruption import NOISE_KINDS, corrupt
from deepae.data import PairedImageDataset
from deepae.degrade import default_watermark_fonts, degrade, get_degradation, list_degradations, random_masks, upscale_bicubic
from deepae.errors import ConfigError, DataError
from deepae.metrics import psnr

ALL = list_degradations()
RANDOM = [n for n in ALL if get_degradation(n).random]


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def smooth(c: int = 3, h: int = 48, w: int = 48) -> torch.Tensor:
    """A smooth (C, H, W) image in [0.1, 0.9]: low-frequency sines, different per channel."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    return torch.stack([0.5 + 0.4 * torch.sin(2 * math.pi * (xx * (k + 1) / 2 + yy * 0.7) + k) for k in range(c)])


def textured(c: int = 3, size: int = 64) -> torch.Tensor:
    return (smooth(c, size, size) + 0.1 * torch.rand(c, size, size, generator=gen(9))).clamp(0, 1)


def expected_shape(name: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    *lead, c, h, w = shape
    if name == "downscale":
        return (*lead, c, h // 2, w // 2)
    if name == "grayscale":
        return (*lead, 1, h, w)
    return shape


# -- every registered degradation ------------------------------------------------------------------
@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("shape", [(3, 20, 22), (2, 1, 16, 16), (2, 3, 32, 32)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_shape_dtype_range(name, shape, dtype):
    x = torch.rand(shape, generator=gen(1), dtype=dtype)
    out = degrade(name, x, generator=gen())
    assert out.shape == expected_shape(name, shape) and out.dtype == dtype and out.device == x.device
    assert out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("name", ALL)
def test_same_seed_same_output_global_rng_untouched(name):
    x = torch.rand(2, 3, 32, 32, generator=gen(1))
    state = torch.get_rng_state()
    a, b = degrade(name, x, generator=gen(5)), degrade(name, x, generator=gen(5))
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a, b)


@pytest.mark.parametrize("name", RANDOM)
def test_other_seed_other_output_and_independent_batch_items(name):
    x = torch.rand(3, 32, 32, generator=gen(1))
    assert not torch.equal(degrade(name, x, generator=gen(5)), degrade(name, x, generator=gen(6)))
    pair = degrade(name, torch.stack([x, x]), generator=gen(5))
    assert not torch.equal(pair[0], pair[1])


@pytest.mark.parametrize("name", ALL)
def test_registry_entries_are_documented(name):
    spec = get_degradation(name)
    assert spec.doc and spec.name == name
    assert spec.default is None or spec.check_level(spec.default) == spec.default


# -- statistics ------------------------------------------------------------------------------------
@pytest.mark.parametrize("std", [0.05, 0.3, 1.0])
def test_gaussian_unclipped_std(std):
    x = torch.full((1, 128, 128), 0.5)
    out = degrade("gaussian", x, std, generator=gen(), clip=False)
    assert (out - x).std().item() == pytest.approx(std, rel=0.03)
    assert (out.min() < 0) == (std > 0.2)


@pytest.mark.parametrize("name", ["masking", "salt-and-pepper"])
@pytest.mark.parametrize("level", [0.0, 0.1, 0.5, 0.9])
def test_dropout_fractions(name, level):
    out = degrade(name, torch.full((3, 128, 128), 0.5), level, generator=gen())
    changed = (out != 0.5).float().mean().item()
    assert changed == pytest.approx(level, abs=0.01)
    if name == "salt-and-pepper" and level:
        assert (out == 1).float().mean().item() == pytest.approx(level / 2, abs=0.01)


def test_grayscale_is_bt601_luma():
    x = torch.rand(2, 3, 8, 8, generator=gen())
    luma = 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]
    torch.testing.assert_close(degrade("grayscale", x)[:, 0], luma)
    torch.testing.assert_close(degrade("grayscale", x, channels=3), luma[:, None].expand(-1, 3, -1, -1))
    torch.testing.assert_close(degrade("grayscale", x, 0.25, channels=3), 0.75 * x + 0.25 * luma[:, None])
    gray = torch.rand(1, 8, 8)
    assert torch.equal(degrade("grayscale", gray), gray)


@pytest.mark.parametrize("factor", [2, 3, 4])
def test_downscale_shape_and_bicubic_round_trip(factor):
    x = torch.rand(3, 25, 26, generator=gen())
    assert degrade("downscale", x, factor).shape == (3, 25 // factor, 26 // factor)
    image = smooth(3, 48, 48)
    small = degrade("downscale", image, factor)
    back = upscale_bicubic(small, factor)
    assert back.shape == image.shape
    assert (back - image).abs().mean().item() < 0.01


def test_jpeg_psnr_drops_with_quality():
    x = textured()[None]
    scores = [psnr(x.numpy(), degrade("jpeg", x, q).numpy())[0] for q in (95, 60, 25, 5)]
    assert all(a > b for a, b in zip(scores, scores[1:])), scores
    assert degrade("jpeg", textured(1)).shape == (1, 64, 64)


@pytest.mark.parametrize("opacity", [0.1, 0.5, 1.0])
@pytest.mark.parametrize("size", [32, 96])
def test_watermark_changes_image_within_opacity(opacity, size):
    x = torch.rand(4, 3, size, size, generator=gen(1))
    out = degrade("watermark", x, opacity, generator=gen())
    diff = (out - x).abs()
    assert diff.amax() <= opacity + 1e-6
    assert (diff.flatten(1).amax(1) > 0).all()  # every image of the batch got a mark


def test_watermark_disjoint_fonts_and_texts():
    fonts = default_watermark_fonts()
    assert len(fonts) >= 4 and all(f.suffix == ".ttf" and f.is_file() for f in fonts)
    x = torch.full((3, 64, 64), 0.5)
    a = degrade("watermark", x, generator=gen(), fonts=fonts[::2], texts=["TRAIN"], tile=1.0)
    b = degrade("watermark", x, generator=gen(), fonts=fonts[1::2], texts=["TRAIN"], tile=1.0)
    c = degrade("watermark", x, generator=gen(), fonts=fonts[::2], texts=["other words"], tile=1.0)
    assert not torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("coverage", [0.05, 0.25, 0.5, 0.9])
def test_mask_coverage(coverage):
    out = degrade("mask", torch.ones(8, 3, 64, 64), coverage, generator=gen())
    holes = out == 0
    assert torch.equal(holes[:, :1].expand_as(holes), holes)  # one mask for all channels
    assert holes.float().mean().item() == pytest.approx(coverage, abs=0.05)
    assert random_masks(2, 16, 20, coverage, gen()).shape == (2, 1, 16, 20)
    assert (degrade("mask", torch.zeros(1, 32, 32), coverage, generator=gen(), fill=1.0) == 1).any()


# -- errors ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, level, message",
    [
        ("gaussian", -0.1, r"level=-0.1; gaussian needs a standard deviation in \[0, inf\)"),
        ("gaussian", float("nan"), "level=nan"),
        ("masking", 1.5, r"fraction in \[0, 1\]"),
        ("salt-and-pepper", True, r"level=True"),
        ("grayscale", 2, r"blend strength in \[0, 1\]"),
        ("watermark", 0, r"opacity in \(0, 1\]"),
        ("downscale", 5, r"level=5; downscale needs a factor in \{2, 3, 4\}"),
        ("jpeg", 50.5, r"quality in \[1, 95\] \(an integer\)"),
        ("jpeg", 0, r"quality in \[1, 95\]"),
        ("mask", 0.95, r"coverage in \(0, 0.9\]"),
    ],
)
def test_out_of_range_levels(name, level, message):
    with pytest.raises(ConfigError, match=message):
        degrade(name, torch.rand(3, 8, 8), level)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda x: degrade("blur", x), ConfigError, r"degradation='blur'; expected one of \['downscale'"),
        (lambda x: degrade("gaussian", x, 0.1, sigma=2), ConfigError, r"gaussian has no option 'sigma'.*\['clip'\]"),
        (lambda x: degrade("grayscale", x, 0.5), ConfigError, "needs channels=3"),
        (lambda x: degrade("grayscale", x, channels=2), ConfigError, "channels=2"),
        (lambda x: degrade("watermark", x, texts="one"), ConfigError, "texts='one'"),
        (lambda x: degrade("watermark", x, fonts=["/no/such.ttf"]), ConfigError, "cannot load '/no/such.ttf'"),
        (lambda x: degrade("gaussian", x[0, 0]), DataError, r"shape \(8, 8\)"),
        (lambda x: degrade("gaussian", x[:, :2]), DataError, r"C = 1 or 3"),
        (lambda x: degrade("gaussian", (x * 255).byte()), DataError, "torch.uint8"),
        (lambda x: degrade("downscale", x[..., :1, :], 2), DataError, "smaller than factor=2"),
        (lambda x: upscale_bicubic(x, 0), ConfigError, "factor=0"),
    ],
)
def test_errors(call, error, message):
    with pytest.raises(error, match=message):
        call(torch.rand(2, 3, 8, 8))


# -- corruption.corrupt is the registry ------------------------------------------------------------
@pytest.mark.parametrize("kind", NOISE_KINDS)
@pytest.mark.parametrize("clip", [(0.0, 1.0), None])
def test_corrupt_agrees_with_degrade(kind, clip):
    x = torch.rand(2, 3, 16, 16, generator=gen(1))
    expected = degrade(kind, x, 0.3, generator=gen(), **({"clip": clip} if kind != "masking" else {}))
    torch.testing.assert_close(corrupt(x, kind, 0.3, clip=clip, generator=gen()), expected, rtol=0, atol=0)
    rows = torch.rand(5, 7)  # tabular rows: corrupt takes any shape
    assert corrupt(rows, kind, 0.3, clip=clip, generator=gen(), validate=False).shape == rows.shape


def test_corrupt_rejects_non_noise_kinds():
    with pytest.raises(ConfigError, match=r"noise='jpeg'"):
        corrupt(torch.rand(3, 8, 8), "jpeg", 50)
    with pytest.raises(ConfigError, match=r"noise_level=2; masking needs a fraction in \[0, 1\]"):
        corrupt(torch.rand(3, 8, 8), "masking", 2)


# -- PairedImageDataset ----------------------------------------------------------------------------
CROP = 24


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Five images of assorted kinds, all at least 36 px on a side, one in a subfolder."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(root / "rgb.png")
    Image.fromarray(rng.integers(0, 256, (48, 40), dtype=np.uint8)).save(root / "gray.png")
    (root / "sub").mkdir()
    Image.fromarray(rng.integers(0, 32768, (40, 40), dtype=np.uint16)).save(root / "sub" / "deep.png")
    rgba = rng.integers(0, 256, (44, 40, 4), dtype=np.uint8)
    rgba[..., 3] = 0  # fully transparent: should read as white
    Image.fromarray(rgba).save(root / "clear.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees to show upright, so 60 wide x 36 high becomes 36 x 60
    Image.fromarray(rng.integers(0, 256, (36, 60, 3), dtype=np.uint8)).save(root / "turned.jpg", exif=exif)
    return root


@pytest.mark.parametrize("mode, channels", [("RGB", 3), ("L", 1)])
@pytest.mark.parametrize("degradation, scale", [("gaussian", 1), (("downscale", 2), 2), (("downscale", 3), 3)])
def test_paired_shapes(folder, mode, channels, degradation, scale):
    ds = PairedImageDataset(folder, CROP, [degradation], mode=mode)
    assert len(ds) == 5
    for x, y in ds:
        assert x.shape == (channels, CROP // scale, CROP // scale) and y.shape == (channels, CROP, CROP)
        assert x.dtype == y.dtype == torch.float32
        assert 0 <= x.min() and x.max() <= 1 and 0 <= y.min() and y.max() <= 1


def test_paired_reads_16_bit_alpha_and_exif(folder):
    deep = PairedImageDataset(folder / "sub" / "deep.png", CROP, "grayscale", mode="L")
    assert 0.3 < deep[0][1].max() <= 0.5 + 1e-6  # scaled from 16 bits, not clipped at 255
    assert torch.equal(PairedImageDataset(folder / "clear.png", CROP, "jpeg")[0][1], torch.ones(3, CROP, CROP))
    with pytest.raises(DataError, match=r"turned.jpg: image is 60x36 \(HxW\), smaller than crop_size=40"):
        PairedImageDataset(folder / "turned.jpg", 40, "gaussian")[0]


CHOICES = [("gaussian", (0.05, 0.2)), ("jpeg", (10, 60)), ("watermark", (0.3, 0.8), {"tile": 0.5}), "mask"]


def test_paired_same_items_for_any_workers_and_runs(folder):
    def epoch(num_workers):
        ds = PairedImageDataset([folder], CROP, CHOICES, samples_per_epoch=8, seed=3)
        loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=num_workers)
        return [t for batch in loader for t in batch]

    first = epoch(0)
    assert len(first) == 4  # two batches of (inputs, targets)
    assert all(torch.equal(a, b) for a, b in zip(first, epoch(0)))
    assert all(torch.equal(a, b) for a, b in zip(first, epoch(2)))


def test_paired_cache_gives_the_same_items_and_stays_in_budget(folder, monkeypatch):
    from deepae.data import _paired

    plain = PairedImageDataset([folder], CROP, CHOICES, samples_per_epoch=15, seed=1)
    cached = PairedImageDataset([folder], CROP, CHOICES, samples_per_epoch=15, seed=1, cache_mb=1)
    reads = []
    read = _paired._read
    monkeypatch.setattr(_paired, "_read", lambda path, mode: reads.append(path) or read(path, mode))
    for i in range(15):
        assert all(torch.equal(a, b) for a, b in zip(plain[i], cached[i]))
    assert len(reads) == 15 + 5  # every item decodes its file, the cache each of the five files once
    assert sum(a.nbytes for a in cached._cache.values()) <= 2**20
    small = PairedImageDataset([folder], CROP, "gaussian", cache_mb=0.03)  # room for one 40x48 RGB image
    for i in range(5):
        small[i]
    assert len(small._cache) == 1


def test_paired_set_epoch_changes_crops(folder):
    ds = PairedImageDataset(folder / "rgb.png", CROP, "gaussian", samples_per_epoch=4)
    before = [ds[i][1] for i in range(4)]
    ds.set_epoch(1)
    after = [ds[i][1] for i in range(4)]
    assert not any(torch.equal(a, b) for a, b in zip(before, after))
    assert not torch.equal(before[0], before[1])  # items of one file differ too


def test_paired_data_errors(folder, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty: folder holds no images"):
        PairedImageDataset(tmp_path / "empty", CROP, "gaussian")
    with pytest.raises(DataError, match="missing: no such image file or folder"):
        PairedImageDataset(tmp_path / "missing", CROP, "gaussian")
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(DataError, match="notes.txt: not an image file"):
        PairedImageDataset(tmp_path / "notes.txt", CROP, "gaussian")
    (tmp_path / "fake.png").write_text("not an image either")
    with pytest.raises(DataError, match="fake.png: cannot read image"):
        PairedImageDataset(tmp_path / "fake.png", CROP, "gaussian")[0]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(crop_size=25, degradation=[("downscale", 2)]), "crop_size=25 is not a multiple of the downscale factor 2"),
        (dict(degradation=["gaussian", ("downscale", 2)]), "different shapes"),
        (dict(degradation=[("downscale", (2, 4))]), "different shapes"),
        (dict(degradation=[("gaussian", 0.1, None)]), "options=None"),
        (dict(degradation=[("gaussian", (0.3, 0.1))]), "low <= high"),
        (dict(degradation=[("jpeg", (0, 50))]), r"level=0; jpeg needs a quality"),
        (dict(degradation=[("gaussian", 0.1, {"fill": 1})]), "no option 'fill'"),
        (dict(degradation=[0.1]), "degradation choice 0.1"),
        (dict(degradation=[]), "non-empty list"),
        (dict(degradation="blur"), "degradation='blur'"),
        (dict(crop_size=0), "crop_size=0"),
        (dict(mode="CMYK"), "mode='CMYK'"),
        (dict(samples_per_epoch=0), "samples_per_epoch=0"),
        (dict(cache_mb=-1), "cache_mb=-1"),
        (dict(cache_mb=True), "cache_mb=True"),
    ],
)
def test_paired_config_errors(folder, kwargs, message):
    kwargs = {"crop_size": CROP, "degradation": "gaussian", **kwargs}
    with pytest.raises(ConfigError, match=message):
        PairedImageDataset(folder, **kwargs)
