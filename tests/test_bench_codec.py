"""The codec benchmarks: their measures (BD-rate, MS-SSIM, rate at a PSNR) and quick runs end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

bench = pytest.importorskip("bench")
from bench import codec as B  # noqa: E402
from bench.__main__ import main  # noqa: E402
from deepae.apps.codec import load_codec  # noqa: E402
from deepae.errors import CheckpointError  # noqa: E402

CURVE = [(0.2, 27.0), (0.4, 29.5), (0.8, 32.4), (1.6, 35.8), (3.2, 39.0)]


def test_bd_rate_of_a_curve_at_half_the_rate_is_minus_half():
    assert B.bd_rate(CURVE, CURVE) == pytest.approx(0.0, abs=1e-9)
    assert B.bd_rate(CURVE, [(r / 2, p) for r, p in CURVE]) == pytest.approx(-50.0, abs=1e-6)
    assert B.bd_rate(CURVE, [(r, p + 20) for r, p in CURVE]) is None  # no common PSNR range


def test_rate_and_psnr_lookups():
    assert B.rate_at(CURVE, 29.5) == pytest.approx(0.4)
    assert B.rate_at(CURVE, 20.0) == pytest.approx(0.2)  # below the curve: its smallest file
    assert B.rate_at(CURVE, 45.0) is None
    assert B.psnr_at(CURVE, 0.8) == pytest.approx(32.4) and B.psnr_at(CURVE, 10.0) is None


def test_ms_ssim_is_one_for_equal_images_and_falls_with_noise():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (192, 192, 3), dtype=np.uint8)
    noisy = np.clip(image + rng.normal(0, 20, image.shape), 0, 255).astype(np.uint8)
    assert B.ms_ssim(image, image) == pytest.approx(1.0)
    assert 0 < B.ms_ssim(image, noisy) < 0.99


@pytest.mark.parametrize("name, model", [("codec-mnist", "digits"), ("codec-kodak", "photo")])
def test_quick_run_writes_results(name, model, shared_data_dir, tmp_path, monkeypatch):
    try:
        load_codec(model)
    except CheckpointError:
        pytest.skip(f"no shipped {model} codec in this checkout")
    monkeypatch.setattr(B, "QUICK", {**B.QUICK, "digits": 20, "images": 1, "qualities": [1, 8],
                                     "jpeg": [10, 50, 90], "webp": [10, 50, 90]})
    assert main([name, "--quick", "--data-dir", str(shared_data_dir), "--out", str(tmp_path)]) == 0
    doc = json.loads((tmp_path / f"{name}.json").read_text())
    assert doc["quick"] is True and doc["headline"] and (tmp_path / f"{name}.png").is_file()
