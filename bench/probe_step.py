"""Where a training step spends its time: the probes behind the speed notes of seed-demo and conv.

Times one 784-32-784 step (batch 256, BCE, Adadelta) several ways on random data in [0, 1]:
PyTorch's own pieces, a fused BCE autograd function, ``torch.compile``, the hand-derived-gradient
step of ``bench/seed_demo.py``, and two ways of gathering a batch; then one step of the
keras-denoise conv model (32-32, batch 128, Adam) in NCHW and channels-last, fp32 and bf16.
Not a benchmark with targets; a record of what was tried, runnable again:

    python -m bench.probe_step
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from torch import nn

STEPS = 300


def per_call_us(fn, n: int = STEPS, warm: int = 30) -> float:
    for _ in range(warm):
        fn()
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


class FusedBCEWithLogits(torch.autograd.Function):
    """Mean BCE from logits keeping sigmoid(z) for the backward pass: fewer kernels on paper."""

    @staticmethod
    def forward(ctx, z, x):
        p = torch.sigmoid(z)
        # softplus(z) - x z, with log1p(exp(-|z|)) = -log(max(p, 1 - p))
        elem = torch.clamp_min(z, 0).sub_(x * z).sub_(torch.maximum(p, 1 - p).log_())
        ctx.save_for_backward(p, x)
        return elem.mean()

    @staticmethod
    def backward(ctx, grad):
        p, x = ctx.saved_tensors
        return (p - x).mul_(grad / p.numel()), None


def model_step(loss_fn, compile_loss: bool = False):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 784))
    opt = torch.optim.Adadelta(model.parameters(), lr=1.0, rho=0.95, eps=1e-7)
    forward = (lambda b: loss_fn(model(b), b))
    if compile_loss:
        forward = torch.compile(forward, dynamic=False)

    def step(batch):
        loss = forward(batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def main() -> None:
    torch.manual_seed(0)
    data = torch.rand(60000, 784)
    idx = torch.randperm(60000)[:256]
    batch = data.index_select(0, idx)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; microseconds per call")
    bce, fused = F.binary_cross_entropy_with_logits, FusedBCEWithLogits.apply
    steps = {"": model_step(bce), "fused": model_step(fused), "compiled": model_step(bce, compile_loss=True)}
    z = torch.randn(256, 784, requires_grad=True)
    rows = {
        "gather: data[idx]": lambda: data[idx],
        "gather: data.index_select(0, idx)": lambda: data.index_select(0, idx),
        "step: autograd + F.binary_cross_entropy_with_logits": lambda: steps[""](batch),
        "step: autograd + FusedBCEWithLogits": lambda: steps["fused"](batch),
        "step: autograd + torch.compile(model + BCE)": lambda: steps["compiled"](batch),
        "BCE forward + backward: F.binary_cross_entropy_with_logits": lambda: bce(z, batch).backward(),
        "BCE forward + backward: FusedBCEWithLogits": lambda: fused(z, batch).backward(),
    }
    for name, fn in rows.items():
        print(f"{per_call_us(fn):9.1f}  {name}", flush=True)
    from .seed_demo import run_hand_gradients

    x = data[:12800].numpy()
    run = run_hand_gradients(x, x[:256], seed=0, epochs=3)
    n_steps = len(x) // 256
    print(f"{min(run.epoch_seconds) / n_steps * 1e6:9.1f}  step: hand-derived gradients (bench/seed_demo.py, best of 3 epochs)")


def conv_layouts() -> None:
    from deepae import create_model, get_preset

    params = get_preset("keras-denoise").params
    x = torch.rand(params["batch_size"], 1, 28, 28)
    for layout in (torch.contiguous_format, torch.channels_last):
        for bf16 in (False, True):
            torch.manual_seed(0)
            model = create_model("conv", input_shape=(1, 28, 28), channels=params["hidden"]).to(memory_format=layout)
            opt = torch.optim.Adam(model.parameters())
            inputs = x.contiguous(memory_format=layout)

            def step(model=model, opt=opt, inputs=inputs, bf16=bf16):
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                    logits = model.decode_logits(model.encoder(inputs).flatten(1))  # skips _prepare: keeps the layout
                loss = F.binary_cross_entropy_with_logits(logits.float(), x)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()

            layout_name = "channels-last" if layout is torch.channels_last else "NCHW"
            name = f"conv 32-32 step: {layout_name}, {'bf16' if bf16 else 'fp32'}"
            print(f"{per_call_us(step, n=30, warm=5):9.1f}  {name}", flush=True)


if __name__ == "__main__":
    main()
    conv_layouts()
