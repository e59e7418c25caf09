"""The codecs with a mean-scale hyperprior: ``HyperpriorNet`` and its two transforms.

- ``TileHyperNet`` (``arch="tile"``, the digits codec): convolutions, and side information of one vector
  per tile (see its docstring).
- ``BlockHyperNet`` (``arch="dct"``, the photo codec): JPEG's transform as a starting point, learned
  around it, as follows.

JPEG already knows a lot about photos: a luma/chroma colour transform, an 8x8 DCT whose coefficients
are nearly uncorrelated, and quantization steps that grow with frequency. A codec that starts from
exactly that and learns the rest trains in minutes on a CPU, where a transform learned from scratch
(``CodecNet``) needs days of GPU time to pass JPEG. Everything around the fixed DCT is learned:

- a colour transform (1x1 convolution, initialised to BT.601 YCbCr) and its inverse;
- a residual network on the coefficients at 1/8 resolution, on each side (zero at initialisation);
- quantization steps per coefficient and quality (gains, initialised to JPEG's Annex K tables scaled
  as JPEG's quality factor scales them);
- the entropy model: a mean-scale hyperprior (Ballé et al. 2018, "Variational image compression with
  a scale hyperprior"; Minnen et al. 2018 for the means). Side information ``z`` (1/32 resolution,
  factorized prior) gives every coefficient of every block its own Gaussian, so a flat block's
  coefficients cost almost nothing and a textured one's are coded with a wide distribution: the
  adaptivity JPEG gets from its end-of-block code and Huffman tables, learned;
- a post-filter at full resolution (a residual CNN on 2x2 pixel-unshuffled planes) that removes
  blocking and ringing; with ``quality_post`` its features are scaled and shifted per quality, so it
  deblocks a coarse quality harder than a fine one.

At initialisation (residuals and post-filter zero) the decoder is JPEG's inverse transform without
chroma subsampling. For coding, each scale is snapped to the first of 64 fixed levels (``SCALES``) at
or above it, and ``update_tables()`` turns the quantized Gaussian of each level into an integer pmf
table saved with the weights (like the factorized prior's): encoder and decoder use exactly the same
numbers on any machine. The means only shift the reconstruction (symbols are ``round(y - mean)``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ._model import TAIL_MASS, CodecConfig, CodecNet, FactorizedPrior, integer_tables, pad, quality_gains, strided_transforms

BLOCK = 8
SCALE_MIN = 0.11  # the smallest Gaussian scale (CompressAI's lower bound)
# The coding scales: 64 levels from SCALE_MIN to 256, log-spaced; a scale is coded as its table index.
SCALES = torch.exp(torch.linspace(math.log(SCALE_MIN), math.log(256.0), 64))
SYMBOL_RANGE = 4095  # no Gaussian table reaches past +-SYMBOL_RANGE; values outside a table are escaped

# JPEG's example quantization tables (ITU-T T.81, Annex K, tables K.1 and K.2), row-major.
LUMA_TABLE = (
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
)
CHROMA_TABLE = (17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
                47, 66, 99, 99, 99, 99, 99, 99) + (99,) * 32
YCBCR = ((0.299, 0.587, 0.114), (-0.168736, -0.331264, 0.5), (0.5, -0.418688, -0.081312))


def dct_basis() -> torch.Tensor:
    """(64, 64) orthonormal 2-D DCT-II: row u*8 + v is frequency (u, v) over the block's pixels i*8 + j."""
    n = torch.arange(BLOCK, dtype=torch.float64)
    d = torch.cos(math.pi * (2 * n[None, :] + 1) * n[:, None] / (2 * BLOCK)) * math.sqrt(2 / BLOCK)
    d[0] /= math.sqrt(2)
    return (d[:, None, :, None] * d[None, :, None, :]).reshape(BLOCK * BLOCK, BLOCK * BLOCK).float()


def block_dct(x: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, 64 C, H/8, W/8): each 8x8 block's coefficients, channel c's at c*64 .. c*64+63."""
    b, c, h, w = x.shape
    blocks = x.reshape(b, c, h // BLOCK, BLOCK, w // BLOCK, BLOCK).permute(0, 1, 3, 5, 2, 4)
    coef = torch.einsum("fp,bcphw->bcfhw", basis, blocks.reshape(b, c, BLOCK * BLOCK, h // BLOCK, w // BLOCK))
    return coef.reshape(b, c * BLOCK * BLOCK, h // BLOCK, w // BLOCK)


def block_idct(coef: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """The inverse of ``block_dct`` (the basis is orthonormal: its transpose)."""
    b, m, h, w = coef.shape
    c = m // (BLOCK * BLOCK)
    pixels = torch.einsum("fp,bcfhw->bcphw", basis, coef.reshape(b, c, BLOCK * BLOCK, h, w))
    pixels = pixels.reshape(b, c, BLOCK, BLOCK, h, w).permute(0, 1, 4, 2, 5, 3)
    return pixels.reshape(b, c, h * BLOCK, w * BLOCK)


def _residual(channels: int, width: int) -> nn.Sequential:
    """3x3 conv -> ReLU -> 3x3 conv whose last layer starts at zero: the identity plus nothing, at first."""
    net = nn.Sequential(nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, channels, 3, padding=1))
    nn.init.zeros_(net[-1].weight)
    nn.init.zeros_(net[-1].bias)
    return net


class PostFilter(nn.Module):
    """x + f(x): a CNN on 2x2 pixel-unshuffled planes (receptive field 18 px, past a block's edge).

    With ``qualities`` > 0 each hidden layer's features are scaled and shifted per quality (FiLM,
    Perez et al. 2018; scale 1 and shift 0 at initialisation): coarse qualities need stronger
    deblocking than fine ones, and one filter for all of them has to compromise.
    """

    def __init__(self, channels: int, width: int, layers: int = 4, qualities: int = 0):
        super().__init__()
        c = 4 * channels
        convs: list[nn.Module] = []
        for i in range(layers):
            convs.append(nn.Conv2d(c if i == 0 else width, c if i == layers - 1 else width, 3, padding=1))
            if i < layers - 1:
                convs.append(nn.ReLU())
        nn.init.zeros_(convs[-1].weight)
        nn.init.zeros_(convs[-1].bias)
        self.net = nn.Sequential(*convs)
        if qualities:
            self.film_scale = nn.Parameter(torch.ones(layers - 1, qualities, width))
            self.film_shift = nn.Parameter(torch.zeros(layers - 1, qualities, width))
        self.qualities = qualities

    def forward(self, x: torch.Tensor, q: int | torch.Tensor) -> torch.Tensor:
        h = F.pixel_unshuffle(x, 2)
        if not self.qualities:
            return x + F.pixel_shuffle(self.net(h), 2)
        convs = self.net[0::2]  # conv, ReLU, conv, ... : the convolutions
        for i, conv in enumerate(convs[:-1]):
            h = F.relu(conv(h) * CodecNet._row(self.film_scale[i], q) + CodecNet._row(self.film_shift[i], q))
        return x + F.pixel_shuffle(convs[-1](h), 2)


class HyperpriorNet(nn.Module):
    """What every mean-scale hyperprior codec shares; subclasses build ``h_a``, ``h_s`` and the transforms.

    ``analysis(x, q)`` -> gained latents y; ``hyper_analysis(y)`` -> side information z at 1/``multiple``
    of the image's size (factorized prior ``prior``, whose integer tables code it);
    ``entropy_parameters(z_hat)`` -> a mean and a scale for every value of y (``coding_parameters``: the
    same in float64, for the coder); ``synthesis(y_hat, q)`` -> pixels. ``gauss_pmf`` holds y's tables,
    one per level of ``SCALES``.
    """

    hyperprior = True

    def __init__(self, config: CodecConfig):
        super().__init__()
        self.config = config

    def _entropy_model(self, hyper: int) -> None:
        self.prior = FactorizedPrior(hyper)
        # Integer coding tables of the Gaussians, filled by update_tables(): (levels, S) pmf counts over
        # symbols -K .. K of each level (escape last), (levels,) table lengths 2 K + 2.
        self.register_buffer("gauss_pmf", torch.zeros(len(SCALES), 2, dtype=torch.int32))
        self.register_buffer("gauss_length", torch.zeros(len(SCALES), dtype=torch.int32))

    def hyper_analysis(self, y: torch.Tensor) -> torch.Tensor:
        return self.h_a(y)

    def entropy_parameters(self, z_hat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Quantized side information -> (means, scales) of y, scales >= SCALE_MIN."""
        means, raw = self.h_s(z_hat).chunk(2, dim=1)
        return means, F.softplus(raw).clamp_min(SCALE_MIN)

    @torch.no_grad()
    def update_tables(self) -> None:
        """Integer pmf tables: z's factorized prior, and a discretized N(0, s) per coding scale s."""
        self.prior.update_tables()
        half = torch.ceil(SCALES.double() * -torch.special.ndtri(torch.tensor(TAIL_MASS / 2, dtype=torch.float64)))
        half = half.clamp_max(SYMBOL_RANGE).long()  # (levels,) K: the table covers -K .. K
        n = int(2 * half.max() + 1)
        k = torch.arange(n, dtype=torch.float64)[None, :] - half[:, None]  # (levels, n) symbols, left-aligned
        scale = SCALES.double()[:, None]
        p = torch.special.ndtr((k + 0.5) / scale) - torch.special.ndtr((k - 0.5) / scale)
        self.gauss_pmf, self.gauss_length = integer_tables(p, 2 * half + 1)

    def coding_weights(self) -> dict[str, torch.Tensor]:
        """``h_s``'s parameters in float64, for ``coding_parameters`` (a coder keeps them across images)."""
        return {name: p.detach().double() for name, p in self.h_s.named_parameters()}

    def coding_parameters(self, z_hat: torch.Tensor, weights: dict[str, torch.Tensor] | None = None
                          ) -> tuple[torch.Tensor, torch.Tensor]:
        """``entropy_parameters`` as the coder uses them: computed in float64, so that the scale levels,
        which encoder and decoder must agree on bit for bit, come out the same on any CPU and thread
        count (float32 results differ in their last bits between instruction sets, enough to move a
        scale across a level's edge now and then in a million symbols). Means float32, scales float64.
        ``weights``: ``coding_weights()``, made once (else made here)."""
        params = self.coding_weights() if weights is None else weights
        means, raw = torch.func.functional_call(self.h_s, params, (z_hat.double(),)).chunk(2, dim=1)
        return means.float(), F.softplus(raw).clamp_min(SCALE_MIN)

    # -- training -----------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Training pass: (x_hat, bits per image (B,)); rates on noisy values, the decoder sees rounded ones."""
        h, w = x.shape[2:]
        y = self.analysis(pad(x, self.config.multiple), q)
        z = self.hyper_analysis(y)
        z_noisy = z + torch.empty_like(z).uniform_(-0.5, 0.5)
        z_med = self.prior.medians[None, :, None, None]
        z_hat = z + (torch.round(z - z_med) + z_med - z).detach()  # the decoder's z, straight-through
        means, scales = self.entropy_parameters(z_hat)
        y_noisy = y + torch.empty_like(y).uniform_(-0.5, 0.5)
        bits = -torch.log2(self.prior.likelihood(z_noisy)).sum((1, 2, 3))
        bits = bits - torch.log2(gaussian_likelihood(y_noisy - means, scales)).sum((1, 2, 3))
        y_hat = y + (torch.round(y - means) + means - y).detach()
        return self.synthesis(y_hat, q)[:, :, :h, :w], bits

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, q: int) -> tuple[torch.Tensor, torch.Tensor]:
        """What coding gives: (reconstruction, estimated bits per image) with rounded values and snapped scales."""
        h, w = x.shape[2:]
        y = self.analysis(pad(x, self.config.multiple), q)
        z_med = self.prior.medians[None, :, None, None]
        z_hat = torch.round(self.hyper_analysis(y) - z_med) + z_med
        means, scales = self.coding_parameters(z_hat)
        symbols = torch.round(y - means)
        bits = -torch.log2(self.prior.likelihood(z_hat)).sum((1, 2, 3))
        bits = bits - torch.log2(gaussian_likelihood(symbols.double(), snap_scales(scales))).sum((1, 2, 3)).float()
        return self.synthesis(symbols + means, q)[:, :, :h, :w], bits


class BlockHyperNet(HyperpriorNet):
    """Colour transform, fixed 8x8 DCT, learned residuals, gains, mean-scale hyperprior and a post-filter.

    y: gained coefficients (B, 64 C, H/8, W/8); z: (B, Z, H/32, W/32).
    """

    def __init__(self, config: CodecConfig):
        super().__init__(config)
        c, m, hyper = config.channels, config.latent, config.hyper
        if m != BLOCK * BLOCK * c:
            raise ValueError(f"arch='dct' codes {BLOCK * BLOCK * c} coefficients per block, got latent={m}")
        self.register_buffer("basis", dct_basis(), persistent=False)  # (64, 64)
        colour = torch.tensor(YCBCR) if c == 3 else torch.eye(c)
        self.colour = nn.Parameter(colour.clone())  # (C, C): RGB -> YCbCr
        self.inverse_colour = nn.Parameter(torch.linalg.inv(colour))
        # JPEG's tables at quality 50 in units of 8-bit levels: coefficient / table ~ a few units.
        table = torch.tensor(LUMA_TABLE + CHROMA_TABLE * 2 if c == 3 else LUMA_TABLE, dtype=torch.float32)
        self.register_buffer("table", table / 255, persistent=False)  # (64 C,) pixels in [0, 1]
        self.enc = _residual(m, config.width)
        self.dec = _residual(m, config.width)
        # Per quality, the tables times a step scale: 6.25 (what JPEG applies at its quality 8) down to 0.7 (65).
        steps = torch.exp(torch.linspace(math.log(6.25), math.log(0.7), config.qualities))
        self.gain = nn.Parameter((1 / steps)[:, None].repeat(1, m))
        self.inverse_gain = nn.Parameter(steps[:, None].repeat(1, m))
        wide = hyper * 3 // 2
        self.h_a = nn.Sequential(
            nn.Conv2d(m, wide, 3, padding=1), nn.ReLU(),
            nn.Conv2d(wide, wide, 5, stride=2, padding=2), nn.ReLU(),
            nn.Conv2d(wide, hyper, 5, stride=2, padding=2),
        )
        self.h_s = nn.Sequential(
            nn.ConvTranspose2d(hyper, wide, 5, stride=2, padding=2, output_padding=1), nn.ReLU(),
            nn.ConvTranspose2d(wide, 2 * wide, 5, stride=2, padding=2, output_padding=1), nn.ReLU(),
            nn.Conv2d(2 * wide, 2 * m, 1),
        )
        with torch.no_grad():  # means start at zero: an untrained codec reconstructs as JPEG would
            self.h_s[-1].weight[:m] = 0
            self.h_s[-1].bias[:m] = 0
        self.post = PostFilter(c, config.post, qualities=config.qualities if config.quality_post else 0)
        self._entropy_model(hyper)

    # -- transforms ---------------------------------------------------------------------------
    def analysis(self, x: torch.Tensor, q: int | torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) in [0, 1], H and W multiples of 32 -> gained coefficients (B, 64 C, H/8, W/8)."""
        x = torch.einsum("ij,bjhw->bihw", self.colour, x - 0.5)
        coef = block_dct(x, self.basis) / self.table[None, :, None, None]
        return (coef + self.enc(coef)) * CodecNet._row(self.gain, q)

    def synthesis(self, y_hat: torch.Tensor, q: int | torch.Tensor) -> torch.Tensor:
        """Quantized gained coefficients (B, 64 C, h, w) -> (B, C, 8 h, 8 w) pixels, not clipped."""
        coef = y_hat * CodecNet._row(self.inverse_gain, q)
        coef = (coef + self.dec(coef)) * self.table[None, :, None, None]
        x = block_idct(coef, self.basis)
        return self.post(torch.einsum("ij,bjhw->bihw", self.inverse_colour, x) + 0.5, q)


class TileHyperNet(HyperpriorNet):
    """A small image codec for digits and other small gray pictures (``arch="tile"``).

    y: ``downsamplings`` strided convolutions with GDN (1/4 resolution for the digits), as ``CodecNet``'s,
    gained per quality.
    z: one vector per ``patch`` x ``patch`` tile (a 28x28 digit is one tile), from a dense layer over
    the tile's part of y, each of its ``hyper`` entries with its own factorized prior. z says what the
    tile holds (which digit, its slant and thickness); the means and scales it gives y leave only the
    detail it does not predict to be coded, and the coarse qualities send little more than z.
    """

    def __init__(self, config: CodecConfig):
        super().__init__(config)
        c, n, m, k, d, hyper = config.channels, config.width, config.latent, config.kernel, config.downsamplings, config.hyper
        if d < 1 or config.patch % 2**d:
            raise ValueError(f"arch='tile' needs a patch divisible by {2**d} (2**downsamplings), got {config.patch}")
        hidden, side = config.hidden[0], config.patch // 2**d  # side: a tile's size in y
        down, up = strided_transforms(c, n, m, k, d)
        self.g_a, self.g_s = nn.Sequential(*down), nn.Sequential(*up)
        self.gain, self.inverse_gain = quality_gains(config.qualities, m)
        # A convolution with kernel = stride = the tile's side in y is a dense layer per tile.
        self.h_a = nn.Sequential(
            nn.Conv2d(m, n, 3, padding=1), nn.ReLU(),
            nn.Conv2d(n, hidden, side, stride=side), nn.ReLU(),
            nn.Conv2d(hidden, hyper, 1),
        )
        self.h_s = nn.Sequential(
            nn.Conv2d(hyper, hidden, 1), nn.ReLU(),
            nn.ConvTranspose2d(hidden, n, side, stride=side), nn.ReLU(),
            nn.Conv2d(n, 2 * m, 3, padding=1),
        )
        self._entropy_model(hyper)

    def analysis(self, x: torch.Tensor, q: int | torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) in [0, 1], H and W multiples of ``patch`` -> gained latents (B, M, H/2^d, W/2^d)."""
        return self.g_a(x - 0.5) * CodecNet._row(self.gain, q)

    def synthesis(self, y_hat: torch.Tensor, q: int | torch.Tensor) -> torch.Tensor:
        """Quantized gained latents (B, M, h, w) -> (B, C, 2^d h, 2^d w) pixels, not clipped."""
        return self.g_s(y_hat * CodecNet._row(self.inverse_gain, q)) + 0.5


def gaussian_likelihood(v: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """Mass of [v - 1/2, v + 1/2] under N(0, scales); computed on the lower tail, where it is accurate."""
    v = v.abs()
    upper = torch.special.ndtr((0.5 - v) / scales)
    lower = torch.special.ndtr((-0.5 - v) / scales)
    return (upper - lower).clamp_min(1e-9)


def snap_scales(scales: torch.Tensor) -> torch.Tensor:
    """Scales -> the nearest coding scale at or above them (SCALES)."""
    return SCALES[scale_indexes(scales)]


def scale_indexes(scales: torch.Tensor) -> torch.Tensor:
    """Scales -> int64 indexes into SCALES: the first level at or above each scale."""
    return torch.searchsorted(SCALES.to(scales.dtype), scales.contiguous()).clamp_max(len(SCALES) - 1)
