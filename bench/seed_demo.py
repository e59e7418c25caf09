"""seed-demo: the seed's 784-32-784 Keras demo, trained by deepae and by Keras 3 in the same run.

Every implementation trains the same model (Dense(32, relu) -> Dense(784, sigmoid), Glorot
init, BCE, Adadelta rho=0.95 eps=1e-7, batch 256) on the same MNIST arrays and scores the test set
after every epoch. Runs are interleaved seed by seed so that a change of load on a shared machine
falls on all of them alike. Speed is the median over epochs of the training seconds per epoch
(the validation pass excluded on both sides); quality is the test BCE after the last epoch.
Beside them, a plain PyTorch loop (what deepae's overhead is measured against) and the same step
with hand-derived gradients (how fast eager PyTorch can go on this machine without autograd).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

import deepae

from ._core import Context, Report, Timer, mean_std, median, pyplot, register, save_figure
from ._peer import KerasPeer, peer_python

PRESET = "seed-demo"
QUICK = dict(n_train=6000, n_test=1000, epochs=3)


@dataclass
class Run:
    """One training run: per-epoch training seconds and test BCE."""

    impl: str
    seed: int
    epoch_seconds: list[float]
    test_bce: list[float]
    total_seconds: float
    extra: dict = field(default_factory=dict)

    @property
    def seconds_per_epoch(self) -> float:
        return median(self.epoch_seconds)


def run_deepae(x_train: np.ndarray, x_test: np.ndarray, seed: int, epochs: int) -> Run:
    """The estimator exactly as a user writes it: the preset's parameters and a seed."""
    params = {**deepae.get_preset(PRESET).params, "epochs": epochs}
    ae = deepae.AutoEncoder(**params, random_state=seed)
    with Timer() as t:
        ae.fit(x_train, validation_data=x_test)
    hist = ae.history_
    return Run("deepae", seed, [h["time"] for h in hist], [h["val_loss"] for h in hist], t.seconds)


def run_epochs(impl: str, seed: int, epochs: int, x_train: np.ndarray, step, test_bce) -> Run:
    """Shuffle into batches of 256, ``step(batch)`` each, then ``test_bce()``: one baseline's run, timed."""
    xtr = torch.from_numpy(x_train)
    seconds, bce = [], []
    with Timer() as total:
        for _ in range(epochs):
            with Timer() as t:
                for idx in torch.randperm(len(xtr)).split(256):
                    step(xtr.index_select(0, idx))
            seconds.append(t.seconds)
            bce.append(test_bce())
    return Run(impl, seed, seconds, bce, total.seconds)


def run_torch_loop(x_train: np.ndarray, x_test: np.ndarray, seed: int, epochs: int) -> Run:
    """A plain hand-written PyTorch loop for the same model: what deepae's overhead is measured against."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 784))  # logits out; sigmoid in the loss
    for layer in (model[0], model[2]):
        nn.init.xavier_uniform_(layer.weight)
        nn.init.zeros_(layer.bias)
    opt = torch.optim.Adadelta(model.parameters(), lr=1.0, rho=0.95, eps=1e-7)
    loss_fn = nn.BCEWithLogitsLoss()
    xte = torch.from_numpy(x_test)

    def step(batch: torch.Tensor) -> None:
        loss = loss_fn(model(batch), batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    @torch.no_grad()
    def test_bce() -> float:
        return float(loss_fn(model(xte), xte))

    return run_epochs("torch loop", seed, epochs, x_train, step, test_bce)


@torch.no_grad()
def run_hand_gradients(x_train: np.ndarray, x_test: np.ndarray, seed: int, epochs: int) -> Run:
    """A floor, not a competitor: the same model with gradients derived by hand (no autograd) and a
    foreach Adadelta, skipping the training loss value (a log per pixel) that every other side computes."""
    torch.manual_seed(seed)
    w1, w2 = torch.empty(32, 784), torch.empty(784, 32)
    nn.init.xavier_uniform_(w1)
    nn.init.xavier_uniform_(w2)
    b1, b2 = torch.zeros(32), torch.zeros(784)
    params = [w1, b1, w2, b2]
    square_avg = [torch.zeros_like(p) for p in params]
    acc_delta = [torch.zeros_like(p) for p in params]
    rho, eps = 0.95, 1e-7
    xte = torch.from_numpy(x_test)

    def step(x: torch.Tensor) -> None:
        h = torch.addmm(b1, x, w1.t()).relu_()
        # d(mean BCE)/d(logits) = (sigmoid(logits) - x) / x.numel()
        g_out = torch.sigmoid(torch.addmm(b2, h, w2.t())).sub_(x).div_(x.numel())
        g_h = (g_out @ w2).mul_(h > 0)
        grads = [g_h.t() @ x, g_h.sum(0), g_out.t() @ h, g_out.sum(0)]
        torch._foreach_mul_(square_avg, rho)
        torch._foreach_addcmul_(square_avg, grads, grads, value=1 - rho)
        std = torch._foreach_sqrt(torch._foreach_add(square_avg, eps))
        delta = torch._foreach_sqrt(torch._foreach_add(acc_delta, eps))
        torch._foreach_div_(delta, std)
        torch._foreach_mul_(delta, grads)
        torch._foreach_mul_(acc_delta, rho)
        torch._foreach_addcmul_(acc_delta, delta, delta, value=1 - rho)
        torch._foreach_sub_(params, delta)  # lr = 1.0

    def test_bce() -> float:
        logits = torch.addmm(b2, torch.addmm(b1, xte, w1.t()).relu_(), w2.t())
        return float(nn.functional.binary_cross_entropy_with_logits(logits, xte))

    return run_epochs("torch, hand-derived gradients", seed, epochs, x_train, step, test_bce)


def run_keras(peer: KerasPeer, seed: int, epochs: int, lr: float | None) -> Run:
    out = peer.run(seed=seed, epochs=epochs, lr=lr, batch_size=256)
    name = "keras (lr=1.0)" if lr is not None else "keras verbatim (lr=0.001)"
    return Run(name, seed, out["train_seconds"], out["val_loss"], out["total_seconds"],
               {"learning_rate": out["learning_rate"], "versions": out["versions"]})


def summarise(runs: list[Run]) -> list[dict]:
    """One table row per implementation, seeds pooled."""
    rows = []
    for impl in dict.fromkeys(r.impl for r in runs):
        mine = [r for r in runs if r.impl == impl]
        spe = [r.seconds_per_epoch for r in mine]
        bce_mean, bce_std = mean_std([r.test_bce[-1] for r in mine])
        rows.append({
            "implementation": impl,
            "seeds": len(mine),
            "s/epoch (median)": median(spe),
            "s/epoch per seed": ", ".join(f"{s:.3g}" for s in spe),
            "total s (mean)": float(np.mean([r.total_seconds for r in mine])),
            "test BCE (mean)": bce_mean,
            "± std": bce_std,
            "test BCE per seed": ", ".join(f"{r.test_bce[-1]:.4f}" for r in mine),
        })
    return rows


def headline(rows: list[dict], epochs: int) -> list[dict]:
    by = {r["implementation"]: r for r in rows}
    ours, keras, verbatim = by["deepae"], by.get("keras (lr=1.0)"), by.get("keras verbatim (lr=0.001)")
    out = []
    if keras:
        speedup = keras["s/epoch (median)"] / ours["s/epoch (median)"]
        out.append({"metric": "784-32-784 seconds per epoch (median)", "published": None,
                    "ours": f"{ours['s/epoch (median)']:.3g} s", "peer": f"Keras {keras['s/epoch (median)']:.3g} s",
                    "ratio": f"{speedup:.2f}× faster", "target": "≥ 4× faster", "met": speedup >= 4})
    out.append({"metric": f"784-32-784 test BCE after {epochs} epochs (mean of {ours['seeds']} seeds)",
                "published": "0.09–0.11 (Keras tutorial)", "ours": f"{ours['test BCE (mean)']:.4f}",
                "peer": f"Keras {keras['test BCE (mean)']:.4f}" if keras else None,
                "ratio": f"{ours['test BCE (mean)'] / keras['test BCE (mean)']:.3f}" if keras else None,
                "target": "≤ Keras' mean", "met": bool(keras) and ours["test BCE (mean)"] <= keras["test BCE (mean)"]})
    if verbatim:
        out.append({"metric": f"test BCE vs the seed's code verbatim on Keras 3 (Adadelta default lr=0.001), {epochs} epochs",
                    "published": None, "ours": f"{ours['test BCE (mean)']:.4f}",
                    "peer": f"Keras {verbatim['test BCE (mean)']:.4f}", "ratio": None, "target": None, "met": None})
    return out


def plot(runs: list[Run], path) -> None:
    plt = pyplot()

    impls = list(dict.fromkeys(r.impl for r in runs))
    colors = dict(zip(impls, plt.get_cmap("tab10").colors))
    # deepae and the hand-written loop give the same curves to 4 digits: draw the loop dashed on top.
    style = {impl: dict(color=colors[impl], alpha=0.8, lw=2.5 if impl == "deepae" else 1.2,
                        ls="--" if impl == "torch loop" else "-") for impl in impls}
    fig, (ax_bce, ax_zoom, ax_t) = plt.subplots(1, 3, figsize=(17, 4.8))
    last_half = len(runs[0].test_bce) // 2
    for r in runs:
        first = r.seed == min(x.seed for x in runs if x.impl == r.impl)
        epochs = range(1, len(r.test_bce) + 1)
        ax_bce.plot(epochs, r.test_bce, **style[r.impl], label=r.impl if first else None)
        if max(r.test_bce[last_half:]) < 0.5:  # the zoom leaves out runs that never learned
            ax_zoom.plot(epochs[last_half:], r.test_bce[last_half:], **style[r.impl], label=r.impl if first else None)
    ax_bce.set(xlabel="epoch", ylabel="test BCE (mean per pixel)", yscale="log", title="Test BCE per epoch, every seed")
    ax_zoom.set(xlabel="epoch", ylabel="test BCE", title="Second half, zoomed (one line per seed)")
    for ax in (ax_bce, ax_zoom):
        ax.grid(alpha=0.3, which="both")
        if ax.get_legend_handles_labels()[0]:  # the zoom is empty when no run has learned yet (smoke tests)
            ax.legend(fontsize=8)
    for i, impl in enumerate(impls):
        secs = [s for r in runs if r.impl == impl for s in r.epoch_seconds]
        ax_t.boxplot(secs, positions=[i], widths=0.5, showfliers=True)
    ax_t.set_xticks(range(len(impls)), [i.replace(", ", ",\n").replace(" (", "\n(") for i in impls], fontsize=8)
    ax_t.set(ylabel="training seconds per epoch", title="Seconds per epoch (all epochs, all seeds)")
    ax_t.set_ylim(bottom=0)
    ax_t.grid(alpha=0.3, axis="y")
    save_figure(fig, path)


@register("seed-demo")
def run(ctx: Context) -> Report:
    """The seed's 784-32-784 demo: deepae vs Keras 3 (and a plain PyTorch loop), speed and test BCE."""
    quick = ctx.quick
    train = ctx.data("mnist", "train", QUICK["n_train"]).flat()
    test = ctx.data("mnist", "test", QUICK["n_test"]).flat()
    epochs = QUICK["epochs"] if quick else deepae.get_preset(PRESET).params["epochs"]
    seeds = range(ctx.n_seeds(3))
    peer = KerasPeer(train, test) if peer_python() else None
    notes = [] if peer else ["Keras peer skipped: no .venv-bench (see bench/requirements.txt)."]
    runs: list[Run] = []
    try:
        for seed in seeds:
            ctx.log(f"seed-demo: seed {seed}")
            runs.append(run_deepae(train, test, seed, epochs))
            runs.append(run_torch_loop(train, test, seed, epochs))
            runs.append(run_hand_gradients(train, test, seed, epochs))
            if peer:
                runs.append(run_keras(peer, seed, epochs, lr=1.0))
                runs.append(run_keras(peer, seed, epochs, lr=None))
            ctx.log("  " + "; ".join(f"{r.impl}: {r.seconds_per_epoch:.3f} s/epoch, BCE {r.test_bce[-1]:.4f}"
                                     for r in runs if r.seed == seed))
    finally:
        if peer:
            peer.close()
    rows = summarise(runs)
    plot(runs, ctx.path(".png"))
    peer_versions = next((r.extra["versions"] for r in runs if "versions" in r.extra), {})
    notes.append("s/epoch: training steps only (both sides exclude the per-epoch test pass); "
                 "total s: the whole fit() call including the per-epoch test pass.")
    notes.append("'torch, hand-derived gradients' is a floor for eager PyTorch on this machine, not something "
                 "deepae ships: no autograd graph, and no training loss value computed (every other row computes "
                 "it every step, as a user expects to see it).")
    return Report(
        title=f"seed-demo: 784-32-784 on MNIST, deepae vs Keras {peer_versions.get('keras', '')}".strip(),
        rows=rows, headline=headline(rows, epochs), notes=notes, plots=[ctx.path(".png").name],
        peer_versions=peer_versions,
        figures={"epochs": epochs, "n_train": len(train), "n_test": len(test),
                 "runs": [r.__dict__ for r in runs]},
    )
