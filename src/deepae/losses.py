"""Training objectives: pure functions of (output, target), composed by ``Objective``.

Reconstruction terms are means over every element (what Keras reports as "loss"), so a
BCE of 0.10 here is the 0.10 of the Keras tutorial. Per-sample penalties (L1 activity, KL,
contraction) are means over the batch of per-sample sums, as Keras' activity regularizers are.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from .corruption import check_noise, corrupt
from .errors import ConfigError
from .models.base import AEOutput

LOSSES = ("auto", "bce", "mse")


# -- reconstruction --------------------------------------------------------------------------
def bce_loss(output: AEOutput, target: torch.Tensor, per_sample: bool = False) -> torch.Tensor:
    """Binary cross-entropy, from logits when the model provides them (numerically stable)."""
    if output.logits is not None:
        elem = F.binary_cross_entropy_with_logits(output.logits, target, reduction="none")
    else:
        x_hat = output.x_hat.clamp(1e-7, 1 - 1e-7)
        elem = F.binary_cross_entropy(x_hat, target, reduction="none")
    return elem.flatten(1).mean(1) if per_sample else elem.mean()


def mse_loss(output: AEOutput, target: torch.Tensor, per_sample: bool = False) -> torch.Tensor:
    """Mean squared error over elements."""
    elem = (output.x_hat - target).square()
    return elem.flatten(1).mean(1) if per_sample else elem.mean()


RECONSTRUCTION: dict[str, Callable[..., torch.Tensor]] = {"bce": bce_loss, "mse": mse_loss}


def resolve_loss(loss: str, x: np.ndarray | torch.Tensor) -> str:
    """``"auto"`` -> ``"bce"`` when every value of ``x`` lies in [0, 1], else ``"mse"``."""
    if loss not in LOSSES:
        raise ConfigError(f"loss={loss!r}; expected one of {list(LOSSES)}")
    if loss != "auto":
        return loss
    lo, hi = (float(x.min()), float(x.max())) if len(x) else (0.0, 1.0)
    return "bce" if lo >= 0.0 and hi <= 1.0 else "mse"


# -- regularisers on the code -----------------------------------------------------------------
def l1_activity(z: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of sum_j |z_j| (Keras' ``activity_regularizer=l1``)."""
    return z.abs().flatten(1).sum(1).mean()


def kl_sparsity(z: torch.Tensor, rho: float, eps: float = 1e-6) -> torch.Tensor:
    """sum_j KL(rho || rho_hat_j), rho_hat_j the batch-mean activation of unit j (Ng, CS294A notes).

    Meant for code units in (0, 1), i.e. a sigmoid code; other activations are clamped.
    """
    rho_hat = z.flatten(1).mean(0).clamp(eps, 1 - eps)
    return (rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))).sum()


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Per-sample KL(N(mu, sigma^2) || N(0, I)) summed over code units: shape (B,)."""
    return -0.5 * (1 + logvar - mu.square() - logvar.exp()).sum(1)


# -- contraction --------------------------------------------------------------------------------
def contractive_exact(h: torch.Tensor, weight: torch.Tensor, activation: str) -> torch.Tensor:
    """Mean ||dh/dx||_F^2 for one dense layer h = s(W x + b), in closed form (Rifai et al. 2011).

    dh_j/dx_i = s'(a_j) W_ji, so ||J||_F^2 = sum_j s'(a_j)^2 sum_i W_ji^2.
    h: (B, code), weight: (code, D).
    """
    if activation == "sigmoid":
        ds = h * (1 - h)
    elif activation == "relu":
        ds = (h > 0).to(h.dtype)
    elif activation == "tanh":
        ds = 1 - h.square()
    elif activation == "linear":
        ds = torch.ones_like(h)
    else:
        raise ConfigError(f"no closed-form contractive penalty for activation {activation!r}")
    return (ds.square() @ weight.square().sum(1)).mean()


def contractive_estimate(
    encode: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    n_projections: int = 1,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Unbiased estimate of mean ||dz/dx||_F^2 for any encoder.

    For v ~ N(0, I), E ||J^T v||^2 = ||J||_F^2; each projection is one vector-Jacobian product
    kept in the graph (double backward), far cheaper than the full Jacobian. ``generator`` (on
    ``x``'s device) draws v; None uses the default RNG.
    """
    x = x.detach().requires_grad_(True)
    z = encode(x)
    total = x.new_zeros(())
    for _ in range(n_projections):
        v = torch.randn(z.shape, generator=generator, dtype=z.dtype, device=z.device)
        (g,) = torch.autograd.grad(z, x, grad_outputs=v, create_graph=True)
        total = total + g.flatten(1).square().sum(1).mean()
    return total / n_projections


# -- composition -----------------------------------------------------------------------------
@dataclass
class Objective:
    """What training minimises, composed from configuration.

    total = reconstruction(x_hat, x)            # on the clean target
          + l1 * l1_activity(z)
          + kl_sparsity * KL(rho || rho_hat)
          + contractive * ||dz/dx||_F^2
          + beta * KL(q(z|x) || p(z)) / D        # variational models; D = input size, so the
                                                 # sum is the (negative) ELBO per element
    with the input (not the target) corrupted by ``noise`` at ``noise_level`` when set.

    Called as ``objective(model, batch, generator=None)``: ``generator`` (on the model's device;
    the Trainer passes its own) draws the training-time randomness -- the input noise, a
    variational model's samples and the contraction projections; None uses torch's default RNG.
    """

    loss: str = "auto"
    l1: float = 0.0
    kl_sparsity: float = 0.0
    rho: float = 0.05
    contractive: float = 0.0
    contractive_projections: int = 1
    noise: str | None = None
    noise_level: float = 0.0
    noise_clip: tuple[float, float] | None = (0.0, 1.0)
    beta: float = 1.0

    def __post_init__(self) -> None:
        if isinstance(self.noise_clip, list):
            self.noise_clip = tuple(self.noise_clip)
        if self.noise == "none":
            self.noise = None
        self.validate()

    def validate(self) -> None:
        if self.loss not in LOSSES:
            raise ConfigError(f"loss={self.loss!r}; expected one of {list(LOSSES)}")
        for name in ("l1", "kl_sparsity", "contractive", "beta"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ConfigError(f"{name}={value!r}; expected a finite number >= 0")
        if not 0.0 < self.rho < 1.0:
            raise ConfigError(f"rho={self.rho!r}; expected a target activation in (0, 1)")
        if self.contractive_projections < 1:
            raise ConfigError(f"contractive_projections={self.contractive_projections!r}; expected >= 1")
        check_noise(self.noise, self.noise_level)

    def resolved(self, x: np.ndarray | torch.Tensor) -> "Objective":
        """A copy with ``loss="auto"`` and the noise clipping range fixed from the data ``x``."""
        loss = resolve_loss(self.loss, x)
        clip = (0.0, 1.0) if loss == "bce" else None
        return dataclasses.replace(self, loss=loss, noise_clip=clip if self.noise_clip is not None else None)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["noise_clip"] = list(self.noise_clip) if self.noise_clip is not None else None
        return d

    def reconstruction(self, output: AEOutput, target: torch.Tensor, per_sample: bool = False) -> torch.Tensor:
        if self.loss == "auto":
            raise ConfigError("loss='auto' must be resolved from the data first (Objective.resolved(x))")
        return RECONSTRUCTION[self.loss](output, target, per_sample=per_sample)

    def __call__(
        self,
        model: torch.nn.Module,
        batch: torch.Tensor | tuple[torch.Tensor, ...],
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Loss on one batch; ``batch`` is ``x`` (target = x) or ``(x, target)``."""
        x, target = batch if isinstance(batch, (tuple, list)) else (batch, batch)
        if model.training:
            # Validated once in __post_init__: no need to re-check the noise config every step.
            x_in = corrupt(x, self.noise, self.noise_level, self.noise_clip, generator=generator, validate=False)
        else:
            x_in = x
        # Only variational models draw in forward; the others take no generator (unwrap DDP to ask).
        sampling = generator is not None and getattr(getattr(model, "module", model), "variational", False)
        out = model(x_in, generator=generator) if sampling else model(x_in)
        terms = {"recon": self.reconstruction(out, target)}
        if self.l1:
            terms["l1"] = self.l1 * l1_activity(out.z)
        if self.kl_sparsity:
            terms["kl_sparsity"] = self.kl_sparsity * kl_sparsity(out.z, self.rho)
        if self.contractive:
            terms["contractive"] = self.contractive * self._contraction(model, x_in, out, generator)
        if out.mu is not None and out.logvar is not None and self.beta:
            d = target[0].numel()
            terms["kl"] = self.beta * gaussian_kl(out.mu, out.logvar).mean() / d
        total = terms["recon"] if len(terms) == 1 else sum(terms.values())
        return total, terms

    def _contraction(
        self, model: torch.nn.Module, x: torch.Tensor, out: AEOutput, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        inner = getattr(model, "module", model)  # unwrap DistributedDataParallel
        single = inner.single_layer_encoder() if hasattr(inner, "single_layer_encoder") else None
        if single is not None:
            linear, act = single
            return contractive_exact(out.z, linear.weight, act)
        if not torch.is_grad_enabled():
            # Evaluation runs under no_grad; the estimate needs a graph. Report the term as 0.
            return out.z.new_zeros(())
        return contractive_estimate(inner.encode, x, self.contractive_projections, generator=generator)
