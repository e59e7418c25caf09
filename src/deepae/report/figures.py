"""Figures of a run: reconstruction grids, loss curves, 2-D code maps, per-class errors.

Every function returns a ``matplotlib.figure.Figure`` built without pyplot (no global state, no
display needed: PNGs are rendered by Agg); ``to_png`` turns one into bytes.
"""

from __future__ import annotations

import io
import math

import matplotlib
import numpy as np
from matplotlib.figure import Figure

_GREY = "gray"


def to_png(fig: Figure, dpi: int = 100) -> bytes:
    """The figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", facecolor="white")
    return buf.getvalue()


def as_images(x: np.ndarray) -> np.ndarray | None:
    """``x`` as (N, H, W) grey or (N, H, W, 3) colour images for ``imshow``, or None if it is not images.

    (N, C, H, W) with C = 1 or 3 is an image batch; flat rows in [0, 1] whose length is a perfect
    square (784 -> 28x28) are read as grey square images, as the dense MNIST models see them.
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 4 and x.shape[1] in (1, 3):
        return x[:, 0] if x.shape[1] == 1 else x.transpose(0, 2, 3, 1)
    if x.ndim == 2 and len(x) and x.min() >= 0 and x.max() <= 1:
        side = math.isqrt(x.shape[1])
        if side >= 4 and side * side == x.shape[1]:
            return x.reshape(len(x), side, side)
    return None


def reconstruction_grid(originals: np.ndarray, reconstructions: np.ndarray, title: str, n: int = 20) -> Figure:
    """Originals on the top row, their reconstructions below: grey, no axes, one column per sample.

    Both arguments are image batches as ``as_images`` returns them; the first ``n`` are shown.
    """
    n = min(n, len(originals))
    fig = Figure(figsize=(max(n, 4) * 0.9, 2.3))
    axes = fig.subplots(2, n, squeeze=False)
    for col in range(n):
        for row, images in enumerate((originals, reconstructions)):
            ax = axes[row, col]
            ax.imshow(np.clip(images[col], 0, 1), cmap=_GREY, vmin=0, vmax=1, interpolation="nearest")
            ax.set_axis_off()
    fig.subplots_adjust(left=0.06, right=0.995, top=0.82, bottom=0.02, wspace=0.05, hspace=0.08)
    # row labels sit left of the first column, where the hidden axes leave room
    fig.text(0.05, 0.62, "original", ha="right", va="center", rotation=90, fontsize=9)
    fig.text(0.05, 0.22, "reconstructed", ha="right", va="center", rotation=90, fontsize=9)
    fig.suptitle(title, fontsize=12)
    return fig


def vector_plot(originals: np.ndarray, reconstructions: np.ndarray, title: str, n: int = 4) -> Figure:
    """Feature values of the first ``n`` samples, original vs reconstruction, for non-image rows (N, D)."""
    n = min(n, len(originals))
    fig = Figure(figsize=(9, 1.9 * n + 0.6))
    axes = fig.subplots(n, 1, squeeze=False, sharex=True)[:, 0]
    for i, ax in enumerate(axes):
        ax.plot(originals[i], color="black", lw=1.2, label="original")
        ax.plot(reconstructions[i], color="tab:orange", lw=1.2, ls="--", label="reconstructed")
        ax.set_ylabel(f"sample {i}")
    axes[0].legend(loc="upper right", fontsize=8, frameon=False)
    axes[-1].set_xlabel("feature")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def loss_curves(history: list[dict[str, float]], title: str, ylabel: str, val_label: str = "test") -> Figure:
    """Training (and validation) loss per epoch, epochs counted from 1."""
    fig = Figure(figsize=(6.4, 4.0))
    ax = fig.subplots()
    epochs = np.arange(1, len(history) + 1)
    style = dict(marker="o" if len(history) <= 30 else None, markersize=3, lw=1.6)
    ax.plot(epochs, [h["loss"] for h in history], label="train", color="tab:blue", **style)
    if history and all("val_loss" in h for h in history):
        ax.plot(epochs, [h["val_loss"] for h in history], label=val_label, color="tab:orange", **style)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    if len(history) <= 10:
        ax.set_xticks(epochs)
    fig.tight_layout()
    return fig


def code_map(
    points: np.ndarray, labels: np.ndarray | None, title: str, method: str, class_names: list[str] | None = None
) -> Figure:
    """Scatter of 2-D code coordinates (N, 2), coloured by label when there are labels."""
    fig = Figure(figsize=(6.4, 5.6))
    ax = fig.subplots()
    size = 14 if len(points) <= 1000 else 6  # fewer points can be drawn larger without hiding each other
    if labels is None:
        ax.scatter(points[:, 0], points[:, 1], s=size, alpha=0.6, color="tab:blue", linewidths=0)
    else:
        classes = np.unique(labels)
        palette = matplotlib.colormaps["tab10" if len(classes) <= 10 else "tab20"]
        for k, label in enumerate(classes):
            chosen = labels == label
            name = class_names[label] if class_names is not None and 0 <= label < len(class_names) else str(label)
            ax.scatter(points[chosen, 0], points[chosen, 1], s=size, alpha=0.7, linewidths=0,
                       color=palette(k % palette.N), label=name)
        if len(classes) <= 20:
            ax.legend(markerscale=3, fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    ax.set_xlabel(f"{method} 1")
    ax.set_ylabel(f"{method} 2")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def per_class_bars(rows: list[dict], title: str, ylabel: str) -> Figure:
    """One bar per class: ``rows`` as ``deepae.metrics.per_class`` returns them."""
    fig = Figure(figsize=(6.4, 3.8))
    ax = fig.subplots()
    names = [r["name"] for r in rows]
    long_names = max(map(len, names), default=0) > 3  # e.g. Fashion-MNIST's "Ankle boot": slant them
    ax.bar(range(len(rows)), [r["mean"] for r in rows], color="tab:blue")
    ax.set_xticks(range(len(rows)), names, rotation=40 if long_names else 0, ha="right" if long_names else "center")
    ax.set_xlabel("class")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig
