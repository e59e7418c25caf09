"""Reconstruction metrics: pure functions of (original, reconstruction) arrays.

Per-sample functions return one value per sample, shape ``(N,)``; a sample is any trailing shape
(``(D,)`` rows or ``(C, H, W)`` images). ``reconstruction_metrics`` sums them up the way the
command line and the reports print them.

SSIM follows Wang, Bovik, Sheikh & Simoncelli (IEEE TIP 2004): an 11x11 gaussian window with
sigma 1.5, K1 = 0.01, K2 = 0.03, means over the "valid" positions of the SSIM map. That is
``skimage.metrics.structural_similarity(..., gaussian_weights=True, sigma=1.5,
use_sample_covariance=False)``.
"""

from __future__ import annotations

import numpy as np

from .errors import DataError

BCE_EPS = 1e-7  # Keras' clip for cross-entropy on probabilities (and deepae's, see losses.bce_loss)

# What each key of ``reconstruction_metrics`` means, for tables and reports.
LABELS = {
    "n": "samples",
    "mse": "MSE (mean per feature)",
    "squared_error": "squared error per sample (sum over features)",
    "bce": "BCE (mean per feature)",
    "psnr": "PSNR (dB)",
    "ssim": "SSIM (11x11 gaussian window)",
}


def _pair(x, x_hat) -> tuple[np.ndarray, np.ndarray]:
    """Both arrays as float64 ``(N, ...)`` of equal shape, finite."""
    x = np.asarray(x, dtype=np.float64)
    x_hat = np.asarray(x_hat, dtype=np.float64)
    if x.shape != x_hat.shape:
        raise DataError(f"originals have shape {x.shape} but reconstructions {x_hat.shape}; they must match")
    if x.ndim < 2 or len(x) == 0:
        raise DataError(f"expected a batch (N, ...) with N >= 1, got shape {x.shape}")
    if not (np.isfinite(x).all() and np.isfinite(x_hat).all()):
        raise DataError("originals or reconstructions contain NaN or infinite values")
    return x, x_hat


def squared_error(x, x_hat) -> np.ndarray:
    """Per-sample sum of squared differences over all features: (N,)."""
    x, x_hat = _pair(x, x_hat)
    return np.square(x - x_hat).reshape(len(x), -1).sum(1)


def mse(x, x_hat) -> np.ndarray:
    """Per-sample mean squared error over features: (N,)."""
    x, x_hat = _pair(x, x_hat)
    return np.square(x - x_hat).reshape(len(x), -1).mean(1)


def bce(x, x_hat, eps: float = BCE_EPS) -> np.ndarray:
    """Per-sample binary cross-entropy (mean over features) of targets ``x`` in [0, 1]: (N,).

    ``x_hat`` are probabilities, clipped to [eps, 1 - eps] as Keras does.
    """
    x, x_hat = _pair(x, x_hat)
    if x.min() < 0 or x.max() > 1:
        raise DataError(f"BCE needs targets in [0, 1]; the originals range over [{x.min():.4g}, {x.max():.4g}]")
    p = np.clip(x_hat, eps, 1 - eps)
    elem = -(x * np.log(p) + (1 - x) * np.log1p(-p))
    return elem.reshape(len(x), -1).mean(1)


def psnr(x, x_hat, data_range: float = 1.0) -> np.ndarray:
    """Per-sample peak signal-to-noise ratio in dB, ``10 log10(data_range^2 / MSE)``: (N,).

    A perfect reconstruction has infinite PSNR.
    """
    if not data_range > 0:
        raise DataError(f"data_range={data_range!r}; expected a value > 0")
    err = mse(x, x_hat)
    with np.errstate(divide="ignore"):
        return 10 * np.log10(data_range**2 / err)


def gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    """A normalised 1-D gaussian of odd ``size``: (size,), summing to 1."""
    if size < 1 or size % 2 == 0:
        raise DataError(f"window size={size!r}; expected an odd integer >= 1")
    r = np.arange(size, dtype=np.float64) - (size - 1) / 2
    w = np.exp(-(r**2) / (2 * sigma**2))
    return w / w.sum()


def ssim(
    x,
    x_hat,
    data_range: float = 1.0,
    win_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
) -> np.ndarray:
    """Per-image structural similarity (Wang et al. 2004), averaged over channels: (N,).

    ``x``, ``x_hat``: ``(N, C, H, W)`` or ``(N, H, W)``. Images smaller than the window use the
    largest odd window that fits (7x7 for 8x8 digits), with the same sigma.
    """
    x, x_hat = _pair(x, x_hat)
    if x.ndim == 3:
        x, x_hat = x[:, None], x_hat[:, None]
    if x.ndim != 4:
        raise DataError(f"SSIM needs images (N, C, H, W) or (N, H, W); got shape {x.shape}")
    if not data_range > 0:
        raise DataError(f"data_range={data_range!r}; expected a value > 0")
    n, c, h, w = x.shape
    size = min(win_size, h if h % 2 else h - 1, w if w % 2 else w - 1)
    g = gaussian_window(size, sigma)
    band_h, band_w = _band(h, g), _band(w, g)
    # (N, C, H, W) -> (N*C, H, W): every channel is filtered on its own
    a, b = x.reshape(n * c, h, w), x_hat.reshape(n * c, h, w)

    def blur(t: np.ndarray) -> np.ndarray:
        # separable "valid" gaussian as two matrix products: (M, H, W) -> (M, W, h') -> (M, h', w')
        return np.tensordot(np.tensordot(t, band_h, axes=([1], [1])), band_w, axes=([1], [1]))

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return ssim_map.reshape(n, -1).mean(1)


def _band(n: int, g: np.ndarray) -> np.ndarray:
    """(n - len(g) + 1, n) matrix whose rows slide ``g`` along: valid 1-D filtering as a product."""
    band = np.zeros((n - len(g) + 1, n))
    for i in range(len(band)):
        band[i, i : i + len(g)] = g
    return band


def reconstruction_metrics(x, x_hat) -> dict[str, float]:
    """Dataset-level metrics of a reconstruction, means over samples.

    Always ``mse`` (per feature) and ``squared_error`` (per sample, summed over its features) and
    ``psnr``; ``bce`` when ``x`` lies in [0, 1]; ``ssim`` for images ``(N, C, H, W)``. PSNR uses
    a data range of 1 for data in [0, 1], else the range of ``x``.
    """
    x, x_hat = _pair(x, x_hat)
    in_unit = x.min() >= 0 and x.max() <= 1
    data_range = 1.0 if in_unit else float(x.max() - x.min()) or 1.0
    out: dict[str, float] = {
        "n": len(x),
        "mse": float(mse(x, x_hat).mean()),
        "squared_error": float(squared_error(x, x_hat).mean()),
    }
    if in_unit:
        out["bce"] = float(bce(x, x_hat).mean())
    out["psnr"] = float(psnr(x, x_hat, data_range).mean())
    if x.ndim == 4:
        out["ssim"] = float(ssim(x, x_hat, data_range).mean())
    return out


def per_class(values, labels, class_names: list[str] | None = None) -> list[dict]:
    """Mean and count of per-sample ``values`` for each label, in label order.

    Returns ``[{"label": int, "name": str, "n": int, "mean": float}, ...]``.
    """
    values = np.asarray(values, dtype=np.float64)
    labels = np.asarray(labels)
    if values.shape != labels.shape or values.ndim != 1:
        raise DataError(f"per_class: values {values.shape} and labels {labels.shape} must be equal 1-D shapes")
    rows = []
    for label in np.unique(labels):
        chosen = values[labels == label]
        name = class_names[label] if class_names is not None and 0 <= label < len(class_names) else str(label)
        rows.append({"label": int(label), "name": name, "n": int(len(chosen)), "mean": float(chosen.mean())})
    return rows
