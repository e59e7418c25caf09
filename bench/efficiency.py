"""efficiency: how much of this machine's matrix-multiply throughput deepae's training uses.

The ceiling is ``torch.mm`` on large square fp32 matrices, measured in the same run (best of
several). The workload is the hinton-2006 model (784-1000-500-250-30-250-500-1000-784) trained by
``deepae.AutoEncoder`` with Adam; its useful work is the matmul FLOPs of the Linear layers: per
sample 2*in*out forward and 4*in*out backward (input and weight gradients) for every layer,
except the first, whose input gradient autograd never computes. Elementwise work (activations,
loss, Adam) counts as overhead. bf16 autocast is timed beside fp32, with the test error after
the same epochs, since it only counts if it is faster at equal error.
"""

from __future__ import annotations

import time

import numpy as np
import torch

import deepae

from ._core import Context, Report, median, pyplot, register, save_figure, squared_error_per_image
from .hinton import AE_PARAMS

SIZES = (2048, 4096)
BATCH_SIZES = (128, 512, 2048)
BF16_BATCH_SIZES = (128, 512)
EPOCHS = 3
QUICK = dict(n_train=4096, n_test=1000, sizes=(1024,), batch_sizes=(128, 512), bf16_batch_sizes=(512,), epochs=2)


def mm_throughput(n: int, dtype: torch.dtype, repeats: int = 5) -> float:
    """Best FLOP/s of ``a @ b`` for (n, n) matrices over ``repeats`` timed products after a warm-up."""
    gen = torch.Generator().manual_seed(0)
    a, b = (torch.randn(n, n, generator=gen).to(dtype) for _ in range(2))
    a @ b  # warm-up: thread pool start, packing buffers
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def matmul_flops_per_sample(model: torch.nn.Module) -> int:
    """Forward + backward matmul FLOPs of one sample through every Linear layer (see module doc)."""
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    weights = [m.in_features * m.out_features for m in linears]
    return 6 * sum(weights) - 2 * weights[0]  # the first layer's input gradient is not computed


def train_throughput(x_train: np.ndarray, x_test: np.ndarray, batch_size: int, precision: str, epochs: int) -> dict:
    """Fit the hinton-2006 autoencoder; samples/s from the median epoch, and its test error."""
    params = {**AE_PARAMS, "batch_size": batch_size, "epochs": epochs, "precision": precision}
    ae = deepae.AutoEncoder(**params, random_state=0).fit(x_train)
    seconds = median([h["time"] for h in ae.history_])
    flops = matmul_flops_per_sample(ae.model_)
    return {"batch_size": batch_size, "precision": precision, "seconds_per_epoch": seconds,
            "samples_per_s": len(x_train) / seconds, "flops_per_sample": flops,
            "flop_per_s": flops * len(x_train) / seconds,
            "test_error": squared_error_per_image(x_test, ae.reconstruct(x_test))}


@register("efficiency")
def run(ctx: Context) -> Report:
    """Training FLOP/s of the hinton-2006 model against this machine's fp32 matmul peak; bf16 beside it."""
    q = ctx.quick
    x_train = ctx.data("mnist", "train", QUICK["n_train"]).flat()
    x_test = ctx.data("mnist", "test", QUICK["n_test"]).flat()
    sizes, epochs = (QUICK["sizes"], QUICK["epochs"]) if q else (SIZES, EPOCHS)
    peak = {}
    for dtype in (torch.float32, torch.bfloat16):
        for n in sizes:
            peak[(str(dtype).split(".")[1], n)] = mm_throughput(n, dtype)
            ctx.log(f"efficiency: mm {dtype} {n}: {peak[(str(dtype).split('.')[1], n)] / 1e9:.1f} GFLOP/s")
    fp32_peak = max(v for (d, _), v in peak.items() if d == "float32")
    bf16_peak = max(v for (d, _), v in peak.items() if d == "bfloat16")

    runs = []
    plan = [(bs, "fp32") for bs in (QUICK["batch_sizes"] if q else BATCH_SIZES)]
    plan += [(bs, "bf16") for bs in (QUICK["bf16_batch_sizes"] if q else BF16_BATCH_SIZES)]
    for bs, precision in plan:
        r = train_throughput(x_train, x_test, bs, precision, epochs)
        r["of_fp32_mm_peak"] = r["flop_per_s"] / fp32_peak
        runs.append(r)
        ctx.log(f"efficiency: batch {bs} {precision}: {r['flop_per_s'] / 1e9:.1f} GFLOP/s "
                f"({100 * r['of_fp32_mm_peak']:.0f}% of fp32 mm), test error {r['test_error']:.2f}")

    rows = [{"batch": r["batch_size"], "precision": r["precision"], "s/epoch": r["seconds_per_epoch"],
             "samples/s": r["samples_per_s"], "GFLOP/s": r["flop_per_s"] / 1e9,
             "% of fp32 mm peak": 100 * r["of_fp32_mm_peak"], f"test error after {epochs} epochs": r["test_error"]}
            for r in runs]
    rows += [{"batch": f"torch.mm {n}×{n}", "precision": d, "s/epoch": None, "samples/s": None,
              "GFLOP/s": v / 1e9, "% of fp32 mm peak": 100 * v / fp32_peak, f"test error after {epochs} epochs": None}
             for (d, n), v in peak.items()]
    best = max((r for r in runs if r["precision"] == "fp32"), key=lambda r: r["flop_per_s"])
    headline = [{"metric": "training FLOP/s of the 784-1000-500-250-30 AE / fp32 torch.mm peak (same run)",
                 "published": None, "ours": f"{best['flop_per_s'] / 1e9:.0f} GFLOP/s (batch {best['batch_size']})",
                 "peer": f"torch.mm {fp32_peak / 1e9:.0f} GFLOP/s", "ratio": f"{100 * best['of_fp32_mm_peak']:.0f}%",
                 "target": "≥ 85%", "met": best["of_fp32_mm_peak"] >= 0.85}]
    for r in (r for r in runs if r["precision"] == "bf16"):
        same = next((f for f in runs if f["precision"] == "fp32" and f["batch_size"] == r["batch_size"]), None)
        if same:
            headline.append({
                "metric": f"bf16 autocast vs fp32, batch {r['batch_size']}: speed, and test error after {epochs} epochs",
                "published": None, "ours": f"bf16 {r['seconds_per_epoch']:.3g} s/epoch, error {r['test_error']:.2f}",
                "peer": f"fp32 {same['seconds_per_epoch']:.3g} s/epoch, error {same['test_error']:.2f}",
                "ratio": f"{same['seconds_per_epoch'] / r['seconds_per_epoch']:.2f}× speed", "target": None, "met": None})
    notes = [f"FLOPs per sample: {best['flops_per_sample'] / 1e6:.2f} M (matmuls only). Peak: best of 5 products "
             f"per size; bf16 matmul peak {bf16_peak / 1e9:.0f} GFLOP/s.",
             f"Training: deepae.AutoEncoder(**hinton AE_PARAMS, batch_size=B, precision=P, epochs={epochs}) on "
             f"{len(x_train)} MNIST images; s/epoch is the median epoch's training steps.",
             "Larger batches use the CPU better but learn less per epoch: the test error column is what each "
             "batch size reached in the same epochs, so the best-throughput batch is not the best-trained one."]
    plot(runs, fp32_peak, bf16_peak, ctx.path(".png"))
    return Report(title="efficiency: deepae training throughput vs this machine's matmul peak",
                  rows=rows, headline=headline, notes=notes, plots=[ctx.path(".png").name],
                  figures={"mm_peak_flop_per_s": {f"{d}-{n}": v for (d, n), v in peak.items()},
                           "runs": runs, "epochs": epochs, "n_train": len(x_train)})


def plot(runs: list[dict], fp32_peak: float, bf16_peak: float, path) -> None:
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for precision, marker in (("fp32", "o-"), ("bf16", "s-")):
        mine = [r for r in runs if r["precision"] == precision]
        if mine:
            ax.plot([r["batch_size"] for r in mine], [r["flop_per_s"] / 1e9 for r in mine], marker,
                    label=f"deepae training, {precision}")
    ax.axhline(fp32_peak / 1e9, color="C0", ls="--", label="torch.mm fp32 peak")
    ax.axhline(0.85 * fp32_peak / 1e9, color="C0", ls=":", label="85% of fp32 peak (target)")
    ax.axhline(bf16_peak / 1e9, color="C1", ls="--", label="torch.mm bf16 peak")
    batch_sizes = sorted({r["batch_size"] for r in runs})
    ax.set_xscale("log")
    ax.set_xticks(batch_sizes, [str(b) for b in batch_sizes])
    ax.minorticks_off()
    ax.set(xlabel="batch size", ylabel="GFLOP/s (matmul FLOPs)",
           title="Training throughput of the 784-1000-500-250-30 autoencoder")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, path)
