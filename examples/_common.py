"""What every example shares: its command line, data loading, a fully specified AutoEncoder, figures, the claim check.

Each example is a script (``python examples/01_beats_pca.py``) with the same options:

- ``--data-dir``: the folder holding ``mnist/`` and ``fashion-mnist/`` (IDX files); defaults to
  ``$DEEPAE_SHARED_DATA``, else deepae's cache (downloading when allowed).
- ``--quick``: tiny data and few epochs, a few seconds; the claim is checked loosely (CI runs this).
- ``--out``: the folder for the figure; defaults to ``examples/figures`` (a temporary folder with ``--quick``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

FIGURES = Path(__file__).resolve().parent / "figures"
MAX_FIGURE_BYTES = 300_000


def parse_args(doc: str | None) -> argparse.Namespace:
    """The examples' shared command line; ``doc`` (the script's docstring) is its help text."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=os.environ.get("DEEPAE_SHARED_DATA"),
                        help="folder with mnist/ and fashion-mnist/ (default: $DEEPAE_SHARED_DATA, else deepae's cache)")
    parser.add_argument("--quick", action="store_true", help="tiny data and epochs: a few seconds, a loose check of the claim")
    parser.add_argument("--out", type=Path, default=None, help="folder for the figure (default: examples/figures)")
    parser.add_argument("--seed", type=int, default=0, help="seeds every model and sample draw")
    return parser.parse_args()


def load(args: argparse.Namespace, name: str, split: str, n: int):
    """The first ``n`` images of ``name``'s ``split`` as a ``deepae.data.Dataset`` ((N, 1, 28, 28) in [0, 1], labels)."""
    from deepae import DeepAEError
    from deepae.data import load_dataset

    try:
        data = load_dataset(name, split, data_dir=args.data_dir)
    except DeepAEError as exc:
        sys.exit(f"error: {exc}")
    return data.subset(n)


def autoencoder(seed: int, **params):
    """``deepae.AutoEncoder`` with every training choice spelled out, so the examples never depend on defaults.

    A dense model with a hidden ReLU layer and a linear code, BCE on a sigmoid output, Adam at 2e-3
    in batches of 64 (2e-3: these fits are short); ``params`` override any of them.
    """
    from deepae import AutoEncoder

    spec = dict(model="dense", hidden=(256,), activation="relu", code_activation="linear", output_activation="sigmoid",
                loss="bce", optimizer="adam", lr=2e-3, batch_size=64, epochs=10, validation_fraction=0.0,
                early_stopping=None, scheduler=None, device="cpu", random_state=seed)
    return AutoEncoder(**{**spec, **params})


def per_class(y: np.ndarray, n_per_class: int = 1) -> np.ndarray:
    """Indices of the first ``n_per_class`` samples of every class, class by class (a grid shows every class)."""
    return np.concatenate([np.flatnonzero(y == c)[:n_per_class] for c in np.unique(y)])


def squared_error(x: np.ndarray, x_hat: np.ndarray) -> float:
    """Mean over images of the squared error summed over pixels (Hinton & Salakhutdinov's measure)."""
    from deepae.metrics import squared_error as per_image

    return float(per_image(x.reshape(len(x), -1), x_hat.reshape(len(x), -1)).mean())


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend (the examples run headless)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def show_images(axes, images: np.ndarray, label: str | None = None) -> None:
    """Draw 28x28 images (any leading shape (N, ...)) on a row of axes, the row labelled on its left."""
    for ax, im in zip(axes, images):
        ax.imshow(np.asarray(im).reshape(28, 28), cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
    if label:
        axes[0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)


def save_figure(args: argparse.Namespace, fig, name: str) -> Path:
    """Write ``fig`` as ``NAME.png`` into ``--out`` (default: examples/figures, or a temporary folder with --quick)."""
    out = args.out or (Path(tempfile.mkdtemp(prefix="deepae-example-")) if args.quick else FIGURES)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.png"
    fig.savefig(path, dpi=80, bbox_inches="tight")
    pyplot().close(fig)
    size = path.stat().st_size
    print(f"figure: {path} ({size / 1000:.0f} kB)")
    if size > MAX_FIGURE_BYTES:
        print(f"warning: {path.name} is {size / 1000:.0f} kB, over the {MAX_FIGURE_BYTES / 1000:.0f} kB the gallery allows")
    return path


def check(holds: bool, claim: str) -> None:
    """Print whether the claim held; exit with status 1 when it did not (CI runs every --quick this way)."""
    if not holds:
        sys.exit(f"CLAIM FAILED: {claim}")
    print(f"claim holds: {claim}")


class Timer:
    """``with Timer() as t: ...``; ``t.seconds`` afterwards."""

    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self.start
