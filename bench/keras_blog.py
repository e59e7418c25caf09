"""keras-blog: the Keras autoencoder tutorial's models (Chollet, 2016) as deepae presets on MNIST.

Each preset trains until its test loss reaches the tutorial's figure (the run stops there), its
preset epochs run out, or its share of the time budget is spent; reported are the epochs it took,
seconds per epoch and the test loss reached. The denoising model is scored as in the tutorial:
noisy test images in (gaussian, std 0.5, clipped), clean images as the target.
"""

from __future__ import annotations

import time

import numpy as np
import torch

import deepae
from deepae.corruption import corrupt
from deepae.train import Callback

from ._core import Context, Report, Timer, pyplot, save_figure, register

# preset -> the tutorial's test loss (None: the tutorial gives no figure to reach).
TARGETS = {"keras-sparse": 0.10, "keras-deep": 0.097, "keras-conv": 0.094, "keras-denoise": None}
BUDGET_S = 6 * 60  # per preset, so the four fit in about 25 minutes on the 2-core CPU
QUICK = dict(n_train=3000, n_test=500, epochs=2, budget_s=60)


class TestLoss(Callback):
    """Test loss every epoch (inputs corrupted like training when ``noisy``); stops at ``target`` or ``budget_s``."""

    def __init__(self, x_test: np.ndarray, target: float | None, budget_s: float, noise: tuple | None = None):
        gen = torch.Generator().manual_seed(0)
        x = torch.from_numpy(x_test)
        self.clean = x
        self.inputs = corrupt(x, *noise, clip=(0.0, 1.0), generator=gen) if noise else x
        self.target, self.budget_s, self.losses, self.reached_at = target, budget_s, [], None

    def on_train_begin(self, trainer) -> None:
        self._start = time.perf_counter()

    @torch.no_grad()
    def on_epoch_end(self, trainer, epoch: int, logs: dict[str, float]) -> None:
        model = trainer.module.eval()
        losses = [trainer.loss_fn(model, (x.to(trainer.device), y.to(trainer.device)))[0].item() * len(x)
                  for x, y in zip(self.inputs.split(2048), self.clean.split(2048))]
        self.losses.append(sum(losses) / len(self.clean))
        model.train()
        if self.target is not None and self.losses[-1] <= self.target and self.reached_at is None:
            self.reached_at = epoch + 1
            trainer.stop_training = True
        if time.perf_counter() - self._start > self.budget_s:
            trainer.stop_training = True


def train_preset(name: str, x_train: np.ndarray, x_test: np.ndarray, budget_s: float, epochs: int | None) -> dict:
    params = dict(deepae.get_preset(name).params)
    if epochs is not None:
        params["epochs"] = epochs
    noise = (params["noise"], params["noise_level"]) if params.get("noise") else None
    watch = TestLoss(x_test, TARGETS[name], budget_s, noise)
    ae = deepae.AutoEncoder(**params, random_state=0)
    with Timer() as t:
        ae.fit(x_train, callbacks=(watch,))
    seconds = [h["time"] for h in ae.history_]
    return {"preset": name, "max_epochs": params["epochs"], "epochs_run": len(seconds), "target": TARGETS[name],
            "reached_at_epoch": watch.reached_at, "test_loss": watch.losses, "seconds_per_epoch": float(np.median(seconds)),
            "fit_seconds": t.seconds, "stopped_by_budget": watch.reached_at is None and len(seconds) < params["epochs"]}


@register("keras-blog")
def run(ctx: Context) -> Report:
    """The Keras tutorial's sparse, deep, conv and denoising autoencoders as deepae presets: epochs to its loss."""
    q = ctx.quick
    train, test = ctx.data("mnist", "train", QUICK["n_train"]), ctx.data("mnist", "test", QUICK["n_test"])
    results = []
    for name in TARGETS:
        r = train_preset(name, train.x, test.x, QUICK["budget_s"] if q else BUDGET_S, QUICK["epochs"] if q else None)
        results.append(r)
        ctx.log(f"keras-blog: {name}: test loss {r['test_loss'][-1]:.4f} after {r['epochs_run']} epochs "
                f"({r['seconds_per_epoch']:.1f} s/epoch)")
    rows = [{"preset": r["preset"], "tutorial loss": r["target"], "test loss": r["test_loss"][-1],
             "epochs run": r["epochs_run"], "tutorial epochs": r["max_epochs"], "reached at epoch": r["reached_at_epoch"],
             "s/epoch": r["seconds_per_epoch"], "stopped by time budget": r["stopped_by_budget"]} for r in results]
    headline = [{"metric": f"{r['preset']}: test loss, epochs to the tutorial's loss", "published": f"{r['target']:.3f}",
                 "ours": f"{r['test_loss'][-1]:.4f} at epoch {r['epochs_run']}", "peer": None,
                 "ratio": f"{r['epochs_run']}/{r['max_epochs']} epochs",
                 "target": f"≤ {r['target']} in ≤ {r['max_epochs']} epochs",
                 "met": r["reached_at_epoch"] is not None}
                for r in results if r["target"] is not None]
    plot(results, ctx.path(".png"))
    notes = [f"Each preset runs deepae.AutoEncoder(**get_preset(NAME).params, random_state=0) on "
             f"{len(train)} training images, stopping at the tutorial's loss or after {QUICK['budget_s'] if q else BUDGET_S} s.",
             "Tutorial figures: blog.keras.io 'Building Autoencoders in Keras' (sparse 0.10 test, deep 0.097, conv 0.094); "
             "the keras-conv preset is the keras.io denoising example's 32-32 architecture, not the blog's 16-8-8."]
    return Report(title="keras-blog: the Keras tutorial's autoencoders as deepae presets on MNIST", rows=rows,
                  headline=headline, notes=notes, plots=[ctx.path(".png").name],
                  figures={"runs": results, "n_train": len(train), "n_test": len(test)})


def plot(results: list[dict], path) -> None:
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, r in enumerate(results):
        ax.plot(range(1, len(r["test_loss"]) + 1), r["test_loss"], "o-", color=f"C{i}", label=r["preset"])
        if r["target"] is not None:
            ax.axhline(r["target"], color=f"C{i}", ls=":", lw=1)
    ax.set(xlabel="epoch", ylabel="test loss (BCE + penalties)", title="Keras tutorial models (dotted: tutorial's loss)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, path)
