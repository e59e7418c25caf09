"""The figures every run folder holds: loss curves and originals over reconstructions."""

from __future__ import annotations

import numpy as np

from .figures import as_images, loss_curves, reconstruction_grid, vector_plot

GRID_SAMPLES = 20


def _loss_label(run) -> str:
    penalties = {k for h in run.history for k in h} - {"loss", "recon", "time", "lr"}
    penalties = {k for k in penalties if not k.startswith("val_")}
    name = f"{run.estimator.loss_.upper()} (mean per {'pixel' if len(run.data_shape) == 3 else 'feature'})"
    return f"loss: {name} + {', '.join(sorted(penalties))}" if penalties else name


def loss_figure(run):
    history = run.history
    val_label = "test" if run.metrics.get("validation") == "test" else "validation"
    loss = run.estimator.loss_.upper()
    title = f"{loss} per epoch: train and {val_label}" if any("val_loss" in h for h in history) else f"Training {loss} per epoch"
    return loss_curves(history, title, _loss_label(run), val_label=val_label)


def grid_indices(labels: np.ndarray | None, n: int = GRID_SAMPLES) -> np.ndarray:
    """Which ``n`` samples a grid shows: with labels, every class in turn (one of each, then a second of
    each, ...), so a test split sorted by class does not fill the grid with zeros; else the first ``n``.

    (N,) labels -> (min(n, N),) indices, classes in sorted order, each class's samples in data order.
    """
    if labels is None:
        return np.arange(n)
    labels = np.asarray(labels)
    by_class = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    picked: list[int] = []
    for rank in range(max(len(c) for c in by_class)):
        picked += [int(c[rank]) for c in by_class if rank < len(c)]
        if len(picked) >= n:
            break
    return np.asarray(picked[:n], dtype=np.int64)


def reconstruction_figure(run, ds, n: int = GRID_SAMPLES):
    """Originals vs reconstructions of ``n`` samples of ``ds``, every class shown when ``ds`` has labels;
    a line plot for non-images."""
    x = ds.x[grid_indices(ds.y, min(n, len(ds)))]
    x_hat = run.estimator.reconstruct(x)
    originals, recons = as_images(x), as_images(np.clip(x_hat, 0, 1))
    code = run.estimator.model_.code_dim
    if originals is not None and recons is not None:
        title = f"{ds.name}: originals (top) and their reconstructions from codes of {code} numbers (bottom)"
        return reconstruction_grid(originals, recons, title, n=n)
    flat = x.reshape(len(x), -1)
    return vector_plot(flat, x_hat.reshape(len(x), -1), f"{ds.name}: originals and reconstructions (codes of {code} numbers)")
