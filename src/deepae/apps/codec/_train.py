"""Training a codec: distortion + lambda * rate, one quality drawn per batch, for a time budget.

The loss of a batch at quality q is ``lambda_q * 255**2 * MSE + bits per pixel`` (CompressAI's
convention), the rate estimated by the factorized prior on noisy latents. Adam, the learning rate
decayed along a cosine of the time spent. The prior's quantiles learn from their own auxiliary loss
(they get no gradient from the rate) and are fixed exactly by bisection before the integer tables
are made.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from ._model import CodecConfig, Net, create_net


def rd_loss(net: Net, x: torch.Tensor, q: torch.Tensor, balance: float = 0.0) -> tuple[torch.Tensor, dict[str, float]]:
    """(B, C, H, W) batch, (B,) 0-based qualities -> (loss, logs).

    ``balance`` b weights quality q's loss by (lambda_q / geometric mean of the lambdas) ** -b: a
    coarse quality's loss is several times smaller than a fine one's, so without it the fine
    qualities steer the parameters they share. Each quality's own optimum is unchanged.
    """
    x_hat, bits = net(x, q)
    pixels = x.shape[2] * x.shape[3]
    mse = ((x_hat - x) ** 2).mean((1, 2, 3))
    lambdas = torch.tensor(net.config.lambdas, dtype=x.dtype)
    lam = lambdas[q]
    weight = (lam / lambdas.log().mean().exp()) ** -balance
    loss = (weight * (lam * 255**2 * mse + bits / pixels)).mean()
    return loss, {"mse": float(mse.detach().mean()), "bpp": float((bits.detach() / pixels).mean())}


def train_codec(
    config: CodecConfig,
    batches: Callable[[np.random.Generator], Iterator[torch.Tensor]],
    *,
    seconds: float,
    lr: float = 5e-4,
    seed: int = 0,
    balance: float = 0.0,
    log_every: float = 60.0,
    notify: Callable[[str], None] = print,
) -> tuple[Net, dict[str, Any]]:
    """Train a new network (``create_net(config)``) on the (B, C, H, W) float batches ``batches(rng)`` yields, for
    ``seconds``; ``balance``: see ``rd_loss``."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = create_net(config)
    quantiles = [net.prior.quantiles]
    others = [p for p in net.parameters() if p is not net.prior.quantiles]
    opt = torch.optim.Adam([{"params": others, "lr": lr}, {"params": quantiles, "lr": 1e-2}])
    start = time.perf_counter()
    steps, last_log, history = 0, start, []
    running: dict[str, float] = {}
    for x in batches(rng):
        spent = time.perf_counter() - start
        if spent >= seconds:
            break
        # Cosine decay over the time budget; a short warm-up keeps GDN stable in the first steps.
        scale = min(1.0, (steps + 1) / 200) * 0.5 * (1 + math.cos(math.pi * spent / seconds))
        opt.param_groups[0]["lr"] = lr * scale
        q = torch.from_numpy(rng.integers(0, config.qualities, len(x)))
        loss, logs = rd_loss(net, x, q, balance)
        aux = net.prior.aux_loss()
        opt.zero_grad(set_to_none=True)
        (loss + aux).backward()
        torch.nn.utils.clip_grad_norm_(others, 1.0)
        opt.step()
        steps += 1
        for k, v in {"loss": float(loss.detach()), **logs}.items():
            running[k] = 0.98 * running.get(k, v) + 0.02 * v
        if time.perf_counter() - last_log >= log_every:
            last_log = time.perf_counter()
            entry = {"step": steps, "seconds": round(last_log - start, 1), **{k: round(v, 6) for k, v in running.items()}}
            history.append(entry)
            notify(" ".join(f"{k}={v}" for k, v in entry.items()))
    net.eval()
    net.update_tables()
    return net, {"steps": steps, "seconds": round(time.perf_counter() - start, 1), "history": history, "lr": lr, "seed": seed,
                 "balance": balance}


@torch.no_grad()
def estimate(net: Net, x: torch.Tensor, batch: int = 256) -> list[dict[str, float]]:
    """Per quality: mean PSNR (dB) and estimated bits per image of rounded latents on (N, C, H, W) images."""
    out = []
    for q in range(net.config.qualities):
        se, bits = [], []
        for i in range(0, len(x), batch):
            xb = x[i:i + batch]
            x_hat, b = net.evaluate(xb, q)
            x_hat = torch.round(x_hat.clamp(0, 1) * 255) / 255
            se.append(((x_hat - xb) ** 2).mean((1, 2, 3)))
            bits.append(b)
        mse = torch.cat(se)
        out.append({"quality": q + 1, "psnr": float((10 * torch.log10(1 / mse.clamp_min(1e-10))).mean()),
                    "bytes": float(torch.cat(bits).mean() / 8)})
    return out
