"""The codec's networks: an analysis/synthesis transform pair gained per quality, and a factorized prior.

- ``CodecNet``: ``g_a`` (strided convolutions + GDN) maps (B, C, H, W) pixels in [0, 1] to latents
  (B, M, H/f, W/f); one model serves every quality through per-channel gain vectors (Cui et al. 2021,
  "Asymmetric gained deep image compression"): the encoder multiplies the latents by ``gain[q]``
  before rounding, the decoder multiplies the rounded latents by ``inverse_gain[q]``.
- ``FactorizedPrior``: the non-parametric per-channel cumulative density of Ballé et al. 2018
  ("Variational image compression with a scale hyperprior", appendix 6.1), trained with additive
  uniform noise. ``update_tables()`` turns it into integer pmf tables over a bounded support per
  channel (plus an escape symbol for the tails), stored beside the weights so the encoder and the
  decoder code with exactly the same numbers.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Union

import torch
import torch.nn.functional as F
from torch import nn

TAIL_MASS = 1e-9  # the density's mass outside the quantiles the pmf tables cover
PMF_PRECISION = 16  # integer pmf tables sum to about 2**16
MAX_SUPPORT = 1023  # symbols per channel, escape excluded


@dataclass
class CodecConfig:
    """Everything that rebuilds a ``CodecNet`` (saved as config.json["codec"])."""

    channels: int = 3  # image channels the model codes: 1 (gray) or 3 (RGB)
    width: int = 64  # N: feature maps of the hidden layers
    latent: int = 96  # M: latent channels
    downsamplings: int = 4  # stride-2 stages; images are padded to a multiple of 2**downsamplings
    kernel: int = 5
    arch: str = "conv"  # "conv": strided convolutions + GDN; "patch": an MLP on each patch x patch tile;
    # "dct": JPEG's block transform learned around, with a hyperprior (``_hyper.BlockHyperNet``);
    # "tile": convolutions with a hyperprior of one vector per patch x patch tile (``_hyper.TileHyperNet``)
    patch: int = 28
    hidden: list[int] = field(default_factory=lambda: [512, 256])
    hyper: int = 64  # "dct", "tile": side-information channels
    post: int = 48  # "dct": post-filter width
    quality_post: bool = False  # "dct": the post-filter's features are scaled and shifted per quality
    lambdas: list[float] = field(default_factory=lambda: [0.0018, 0.0035, 0.0067, 0.013, 0.025, 0.0483, 0.0932, 0.18])

    @property
    def multiple(self) -> int:
        if self.arch == "dct":
            return 32  # 8x8 blocks, then two stride-2 stages for the side information
        return self.patch if self.arch in ("patch", "tile") else 2**self.downsamplings

    @property
    def qualities(self) -> int:
        return len(self.lambdas)

    def to_dict(self) -> dict:
        return asdict(self)


class GDN(nn.Module):
    """Simplified generalized divisive normalization (Johnston et al. 2019): x / (beta + gamma |x|);
    ``inverse=True`` multiplies instead (IGDN, the synthesis side)."""

    def __init__(self, channels: int, inverse: bool = False):
        super().__init__()
        self.inverse = inverse
        self.beta = nn.Parameter(torch.ones(channels))
        self.gamma = nn.Parameter(0.1 * torch.eye(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gamma = self.gamma.abs()[:, :, None, None]  # (C, C, 1, 1): a 1x1 convolution of |x|
        norm = F.conv2d(x.abs(), gamma, self.beta.abs() + 1e-6)
        return x * norm if self.inverse else x / norm


class FactorizedPrior(nn.Module):
    """p(y_c) per latent channel c, a learned monotone cumulative (filters 3-3-3) convolved with U(-1/2, 1/2)."""

    def __init__(self, channels: int, filters: tuple[int, ...] = (3, 3, 3), init_scale: float = 10.0):
        super().__init__()
        dims = (1, *filters, 1)
        scale = init_scale ** (1 / (len(dims) - 1))
        self.matrices = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.factors = nn.ParameterList()
        for i in range(len(dims) - 1):
            init = math.log(math.expm1(1 / scale / dims[i + 1]))
            self.matrices.append(nn.Parameter(torch.full((channels, dims[i + 1], dims[i]), init)))
            self.biases.append(nn.Parameter(torch.rand(channels, dims[i + 1], 1) - 0.5))
            if i < len(dims) - 2:
                self.factors.append(nn.Parameter(torch.zeros(channels, dims[i + 1], 1)))
        # Quantiles (tail, median, 1 - tail) of each channel, learned by ``aux_loss`` alone.
        self.quantiles = nn.Parameter(torch.tensor([-init_scale, 0.0, init_scale]).repeat(channels, 1, 1))
        # Integer coding tables, filled by update_tables(): (C, S) pmf counts (escape last), (C,) lowest symbol.
        self.register_buffer("pmf", torch.zeros(channels, 2, dtype=torch.int32))
        self.register_buffer("pmf_offset", torch.zeros(channels, dtype=torch.int32))
        self.register_buffer("pmf_length", torch.zeros(channels, dtype=torch.int32))

    def logits_cumulative(self, x: torch.Tensor, detach: bool = False) -> torch.Tensor:
        """(C, 1, N) values -> (C, 1, N) logits of the cumulative density."""
        for i, (matrix, bias) in enumerate(zip(self.matrices, self.biases)):
            matrix, bias = (matrix.detach(), bias.detach()) if detach else (matrix, bias)
            x = torch.matmul(F.softplus(matrix), x) + bias
            if i < len(self.factors):
                factor = self.factors[i].detach() if detach else self.factors[i]
                x = x + torch.tanh(factor) * torch.tanh(x)
        return x

    def likelihood(self, y: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) latents (noisy or rounded) -> their probability mass under the prior, same shape."""
        b, c, h, w = y.shape
        v = y.transpose(0, 1).reshape(c, 1, -1)
        lower = self.logits_cumulative(v - 0.5)
        upper = self.logits_cumulative(v + 0.5)
        sign = -torch.sign(lower + upper).detach()  # evaluate in the far tail where sigmoid is accurate
        p = (torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower)).abs()
        return p.clamp_min(1e-9).reshape(c, b, h, w).transpose(0, 1)

    def aux_loss(self) -> torch.Tensor:
        target = torch.tensor([-math.log(2 / TAIL_MASS - 1), 0.0, math.log(2 / TAIL_MASS - 1)])
        return (self.logits_cumulative(self.quantiles, detach=True) - target).abs().sum()

    @property
    def medians(self) -> torch.Tensor:
        return self.quantiles[:, 0, 1].detach()

    @torch.no_grad()
    def fit_quantiles(self) -> None:
        """Set the quantiles exactly by bisection on the monotone cumulative (aux_loss only approaches them)."""
        target = torch.tensor([-math.log(2 / TAIL_MASS - 1), 0.0, math.log(2 / TAIL_MASS - 1)])
        lo = torch.full_like(self.quantiles, -1e4)
        hi = torch.full_like(self.quantiles, 1e4)
        for _ in range(64):
            mid = (lo + hi) / 2
            below = self.logits_cumulative(mid) < target
            lo, hi = torch.where(below, mid, lo), torch.where(below, hi, mid)
        self.quantiles.copy_((lo + hi) / 2)

    @torch.no_grad()
    def update_tables(self) -> None:
        """Integer pmf tables over each channel's support [q_lo, q_hi] around its median, escape symbol last."""
        self.fit_quantiles()
        med = self.medians
        lo = torch.floor(self.quantiles[:, 0, 0] - med).clamp(-(MAX_SUPPORT // 2), 0)
        hi = torch.ceil(self.quantiles[:, 0, 2] - med).clamp(0, MAX_SUPPORT // 2)
        length = (hi - lo + 1).long()
        n = int(length.max())
        symbols = torch.arange(n, dtype=torch.float32)[None, None, :] + lo[:, None, None] + med[:, None, None]
        lower = self.logits_cumulative(symbols - 0.5)
        upper = self.logits_cumulative(symbols + 0.5)
        sign = -torch.sign(lower + upper)
        p = (torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower)).abs()[:, 0, :].double()
        self.pmf, self.pmf_length = integer_tables(p, length)
        self.pmf_offset = lo.to(torch.int32)


def integer_tables(p: torch.Tensor, length: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(T, n) float64 probabilities of T tables, the first ``length[t]`` of row t valid -> (pmf, lengths):
    int32 counts summing to about 2**PMF_PRECISION with the escape symbol (the mass left) at index
    ``length[t]``, every coded symbol at least 1; and the lengths, escape included."""
    n = p.shape[1]
    p = torch.where(torch.arange(n)[None, :] < length[:, None], p, torch.zeros_like(p))
    table = torch.cat([p, torch.zeros(len(p), 1, dtype=p.dtype)], 1)
    table[torch.arange(len(table)), length] = (1 - p.sum(1)).clamp_min(0)
    counts = torch.round(table * 2**PMF_PRECISION).clamp_min(1)
    # Padding past the escape symbol stays 0: a table is read only up to its length.
    keep = torch.arange(n + 1)[None, :] <= length[:, None]
    return torch.where(keep, counts, torch.zeros_like(counts)).to(torch.int32), (length + 1).to(torch.int32)


def quality_gains(qualities: int, channels: int) -> tuple[nn.Parameter, nn.Parameter]:
    """(qualities, channels) gains and inverse gains, growing with quality from 0.5 to 3: finer
    quantization steps for the higher qualities (learned from there)."""
    gain = torch.linspace(math.log(0.5), math.log(3.0), qualities)[:, None].repeat(1, channels).exp()
    return nn.Parameter(gain), nn.Parameter(1 / gain)


def strided_transforms(c: int, n: int, m: int, k: int, d: int) -> tuple[list[nn.Module], list[nn.Module]]:
    """The layers of ``d`` stride-2 k x k convolutions with GDN between them, C -> n ... -> M channels,
    and of their mirror with inverse GDN, M -> n ... -> C (both empty when d = 0)."""
    enc: list[nn.Module] = []
    dec: list[nn.Module] = []
    for i in range(d):
        last = i == d - 1
        enc += [_down(c if i == 0 else n, m if last else n, k)] + ([] if last else [GDN(n)])
        dec += [_up(m if i == 0 else n, c if last else n, k)] + ([] if last else [GDN(n, inverse=True)])
    return enc, dec


def _down(cin: int, cout: int, k: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride=2, padding=k // 2)


def _up(cin: int, cout: int, k: int) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(cin, cout, k, stride=2, padding=k // 2, output_padding=1)


def create_net(config: CodecConfig) -> Net:
    """The network ``config`` describes: a ``CodecNet`` ("conv", "patch"), a ``BlockHyperNet`` ("dct") or a
    ``TileHyperNet`` ("tile")."""
    if config.arch in ("dct", "tile"):
        from ._hyper import BlockHyperNet, TileHyperNet  # they build on this module

        return BlockHyperNet(config) if config.arch == "dct" else TileHyperNet(config)
    return CodecNet(config)


class CodecNet(nn.Module):
    """Analysis and synthesis transforms, quality gains and the factorized prior of one codec."""

    hyperprior = False

    def __init__(self, config: CodecConfig):
        super().__init__()
        self.config = config
        c, n, m, k, d = config.channels, config.width, config.latent, config.kernel, config.downsamplings
        enc: list[nn.Module] = []
        dec: list[nn.Module] = []
        if config.arch == "patch":
            # A dense autoencoder on each tile, written as convolutions: kernel = stride = patch, then 1x1.
            widths = [*config.hidden, m]
            enc = [nn.Conv2d(c, widths[0], config.patch, stride=config.patch)]
            for a, b in zip(widths, widths[1:]):
                enc += [nn.GELU(), nn.Conv2d(a, b, 1)]
            back = widths[::-1]
            for a, b in zip(back, back[1:]):
                dec += [nn.Conv2d(a, b, 1), nn.GELU()]
            dec.append(nn.ConvTranspose2d(back[-1], c, config.patch, stride=config.patch))
            d = 0
        elif config.arch != "conv":
            raise ValueError(f"arch={config.arch!r}; expected 'conv', 'patch', 'dct' or 'tile'")
        down, up = strided_transforms(c, n, m, k, d)
        self.g_a = nn.Sequential(*enc, *down)  # (B, C, H, W) -> (B, M, H/2^d, W/2^d)
        self.g_s = nn.Sequential(*dec, *up)  # (B, M, h, w) -> (B, C, 2^d h, 2^d w)
        self.gain, self.inverse_gain = quality_gains(config.qualities, m)
        self.prior = FactorizedPrior(m)

    def analysis(self, x: torch.Tensor, q: int | torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) in [0, 1] -> gained latents (B, M, h, w); q: 0-based quality, int or (B,) tensor."""
        return self.g_a(x - 0.5) * self._row(self.gain, q)

    def synthesis(self, y_hat: torch.Tensor, q: int | torch.Tensor) -> torch.Tensor:
        """Rounded gained latents (B, M, h, w) -> (B, C, H, W) pixels, not clipped."""
        return self.g_s(y_hat * self._row(self.inverse_gain, q)) + 0.5

    @staticmethod
    def _row(table: torch.Tensor, q: int | torch.Tensor) -> torch.Tensor:
        return table[q].reshape(-1, table.shape[1], 1, 1)  # (M,) or (B, M) -> (1 or B, M, 1, 1)

    def forward(self, x: torch.Tensor, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Training pass: (x_hat, bits per image (B,)). Rate on noisy latents; the decoder sees rounded ones
        (straight-through), as it will when coding."""
        h, w = x.shape[2:]
        y = self.analysis(pad(x, self.config.multiple), q)
        noisy = y + torch.empty_like(y).uniform_(-0.5, 0.5)
        bits = -torch.log2(self.prior.likelihood(noisy)).sum((1, 2, 3))
        med = self.prior.medians[None, :, None, None]
        rounded = y + (torch.round(y - med) + med - y).detach()
        return self.synthesis(rounded, q)[:, :, :h, :w], bits

    def update_tables(self) -> None:
        """The integer pmf tables coding uses (the prior's)."""
        self.prior.update_tables()

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, q: int) -> tuple[torch.Tensor, torch.Tensor]:
        """What coding gives: (reconstruction, estimated bits per image) with rounded latents."""
        h, w = x.shape[2:]
        y = self.analysis(pad(x, self.config.multiple), q)
        med = self.prior.medians[None, :, None, None]
        y_hat = torch.round(y - med) + med
        bits = -torch.log2(self.prior.likelihood(y_hat)).sum((1, 2, 3))
        return self.synthesis(y_hat, q)[:, :, :h, :w], bits


if TYPE_CHECKING:
    from ._hyper import BlockHyperNet, TileHyperNet
Net = Union["CodecNet", "BlockHyperNet", "TileHyperNet"]  # what create_net returns; both code with ``prior``'s tables


def pad(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, H', W') with H', W' the next multiples of ``multiple``, edges replicated."""
    h, w = x.shape[2:]
    ph, pw = -h % multiple, -w % multiple
    return F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x
