"""deepae.metrics against hand-computed values, identities and (when installed) scikit-image."""

from __future__ import annotations

import math

import numpy as np
import pytest

from deepae import metrics
from deepae.errors import DataError

C1, C2 = 0.01**2, 0.03**2  # SSIM constants for a data range of 1


def test_pixel_errors_by_hand():
    x = np.array([[0.0, 1.0, 0.5, 0.5], [1.0, 1.0, 1.0, 1.0]])
    x_hat = np.array([[0.5, 1.0, 0.5, 0.0], [1.0, 1.0, 1.0, 0.0]])
    np.testing.assert_allclose(metrics.squared_error(x, x_hat), [0.25 + 0.25, 1.0])
    np.testing.assert_allclose(metrics.mse(x, x_hat), [0.5 / 4, 1.0 / 4])


def test_bce_by_hand():
    half = np.full((2, 3), 0.5)
    np.testing.assert_allclose(metrics.bce(half, half), [math.log(2)] * 2)
    x = np.array([[1.0, 0.0]])
    np.testing.assert_allclose(metrics.bce(x, np.array([[0.8, 0.1]])), [-(math.log(0.8) + math.log(0.9)) / 2])
    # a confident wrong answer is clipped at eps = 1e-7, as in Keras
    np.testing.assert_allclose(metrics.bce(np.array([[1.0]]), np.array([[0.0]])), [-math.log(1e-7)], rtol=1e-6)


def test_bce_refuses_targets_outside_unit_interval():
    with pytest.raises(DataError, match="BCE needs targets in"):
        metrics.bce(np.array([[2.0]]), np.array([[0.5]]))


def test_psnr_by_hand():
    x = np.zeros((2, 10))
    x_hat = np.stack([np.full(10, 0.1), np.zeros(10)])  # MSE 0.01 -> 20 dB; perfect -> inf
    out = metrics.psnr(x, x_hat)
    assert out[0] == pytest.approx(20.0)
    assert math.isinf(out[1])
    assert metrics.psnr(x, x_hat, data_range=255.0)[0] == pytest.approx(20 * math.log10(255 / 0.1))


@pytest.mark.parametrize("fn", [metrics.mse, metrics.squared_error, metrics.bce, metrics.psnr, metrics.ssim])
def test_shape_mismatch_is_a_data_error(fn):
    with pytest.raises(DataError, match="must match"):
        fn(np.zeros((2, 1, 12, 12)), np.zeros((3, 1, 12, 12)))


def test_nan_is_a_data_error():
    with pytest.raises(DataError, match="NaN"):
        metrics.mse(np.array([[np.nan]]), np.array([[0.0]]))


def test_gaussian_window():
    w = metrics.gaussian_window(11, 1.5)
    assert w.shape == (11,) and w.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(w, w[::-1])
    assert w.argmax() == 5
    with pytest.raises(DataError, match="odd"):
        metrics.gaussian_window(10)


def test_ssim_of_identical_images_is_one():
    x = np.random.default_rng(0).random((3, 1, 16, 16))
    np.testing.assert_allclose(metrics.ssim(x, x), 1.0)


def test_ssim_of_constant_images_is_the_luminance_term():
    # No variance anywhere: SSIM = (2 a b + C1) / (a^2 + b^2 + C1) * (C2 / C2)
    a, b = 0.2, 0.6
    x, y = np.full((1, 1, 12, 12), a), np.full((1, 1, 12, 12), b)
    expected = (2 * a * b + C1) / (a**2 + b**2 + C1)
    assert metrics.ssim(x, y)[0] == pytest.approx(expected)


def test_ssim_is_symmetric_and_at_most_one():
    rng = np.random.default_rng(1)
    x, y = rng.random((4, 3, 14, 13)), rng.random((4, 3, 14, 13))
    np.testing.assert_allclose(metrics.ssim(x, y), metrics.ssim(y, x))
    assert (metrics.ssim(x, y) < 1).all()


def _ssim_by_windows(x: np.ndarray, y: np.ndarray, size: int = 11, sigma: float = 1.5) -> float:
    """Wang et al. 2004 written out: weighted statistics of every valid window, one at a time."""
    g = metrics.gaussian_window(size, sigma)
    w = np.outer(g, g)
    values = []
    for i in range(x.shape[0] - size + 1):
        for j in range(x.shape[1] - size + 1):
            a, b = x[i : i + size, j : j + size], y[i : i + size, j : j + size]
            mu_a, mu_b = (w * a).sum(), (w * b).sum()
            var_a, var_b = (w * (a - mu_a) ** 2).sum(), (w * (b - mu_b) ** 2).sum()
            cov = (w * (a - mu_a) * (b - mu_b)).sum()
            values.append(((2 * mu_a * mu_b + C1) * (2 * cov + C2)) / ((mu_a**2 + mu_b**2 + C1) * (var_a + var_b + C2)))
    return float(np.mean(values))


@pytest.mark.parametrize("shape", [(13, 15), (8, 8)])
def test_ssim_matches_the_windowed_definition(shape):
    rng = np.random.default_rng(2)
    x = rng.random(shape)
    y = np.clip(x + 0.2 * rng.standard_normal(shape), 0, 1)
    size = 11 if min(shape) >= 11 else 7  # small images use the largest odd window that fits
    assert metrics.ssim(x[None, None], y[None, None])[0] == pytest.approx(_ssim_by_windows(x, y, size), rel=1e-10)


def test_ssim_matches_scikit_image():
    skimage_metrics = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(3)
    x = rng.random((2, 3, 28, 24))
    y = np.clip(x + 0.1 * rng.standard_normal(x.shape), 0, 1)
    expected = [
        skimage_metrics.structural_similarity(
            x[i], y[i], data_range=1.0, channel_axis=0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
        )
        for i in range(2)
    ]
    np.testing.assert_allclose(metrics.ssim(x, y), expected, rtol=1e-10)


def test_reconstruction_metrics_keys_follow_the_data():
    rng = np.random.default_rng(4)
    images = rng.random((5, 1, 12, 12))
    out = metrics.reconstruction_metrics(images, images * 0.9)
    assert set(out) == {"n", "mse", "squared_error", "bce", "psnr", "ssim"}
    assert out["squared_error"] == pytest.approx(out["mse"] * 144)
    rows = rng.standard_normal((5, 7))  # not in [0, 1], not images: no BCE, no SSIM
    out = metrics.reconstruction_metrics(rows, rows + 0.1)
    assert set(out) == {"n", "mse", "squared_error", "psnr"}
    assert out["mse"] == pytest.approx(0.01)


def test_per_class_by_hand():
    rows = metrics.per_class([1.0, 3.0, 10.0, 5.0], [1, 1, 0, 1], class_names=["zero", "one"])
    assert rows == [
        {"label": 0, "name": "zero", "n": 1, "mean": 10.0},
        {"label": 1, "name": "one", "n": 3, "mean": 3.0},
    ]
    with pytest.raises(DataError, match="equal 1-D shapes"):
        metrics.per_class([1.0], [0, 1])
