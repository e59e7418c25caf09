"""One image <-> its entropy-coded payload: transforms in torch, range coding with constriction.

Encoding: pixels (H, W, C) uint8 -> padded to the model's multiple -> gained latents y at quality q
-> symbols round(y - median) per channel -> each channel's symbols coded with its integer pmf table
(``constriction.stream.queue.RangeEncoder`` with ``Categorical(perfect=False)``); a symbol outside a
channel's table is sent as the escape symbol followed by its value under ``Uniform(65536)``.
Decoding runs the same steps backwards and crops to the image's size.

A gray model codes each plane of an RGB image separately; an RGB model codes a gray image as
three equal planes and returns their mean.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import constriction
import numpy as np
import torch

from ...errors import DataError
from ._hyper import SCALES, scale_indexes
from ._model import pad
from ._store import Codec

ESCAPE_RANGE = 1 << 16  # escaped symbols are coded as value + 2**15 in [0, 2**16)
MAX_PIXELS = 1 << 26  # 67 megapixels: larger images are refused (the transforms run whole-image)
MODES = {"L": 1, "RGB": 3}


class CodecError(DataError):
    """A .dae file or codec input is unusable: truncated, edited, forged, of another version or model."""


@dataclass(frozen=True)
class _Tables:
    models: list  # one constriction Categorical per latent channel
    offsets: np.ndarray  # (M,) lowest symbol of each table
    lengths: np.ndarray  # (M,) table lengths, escape included
    medians: torch.Tensor  # (M,)
    gauss: _Tables | None = None  # a hyperprior net's Gaussians: one table per coding scale, offsets -K
    weights: dict | None = None  # a hyperprior net's coding_weights()


def _categoricals(pmf: torch.Tensor, lengths: np.ndarray) -> list:
    pmf = pmf.numpy().astype(np.float64)
    return [constriction.stream.model.Categorical(pmf[c, :lengths[c]], perfect=False) for c in range(len(lengths))]


@lru_cache(maxsize=8)
def _tables(codec: Codec) -> _Tables:
    net, prior = codec.net, codec.net.prior
    gauss = None
    if net.hyperprior:
        lengths = net.gauss_length.numpy().astype(np.int64)
        gauss = _Tables(_categoricals(net.gauss_pmf, lengths), -(lengths - 2) // 2, lengths, torch.zeros(len(lengths)))
    lengths = prior.pmf_length.numpy().astype(np.int64)
    return _Tables(_categoricals(prior.pmf, lengths), prior.pmf_offset.numpy().astype(np.int64), lengths,
                   prior.medians.clone(), gauss, net.coding_weights() if net.hyperprior else None)


def as_image(image) -> np.ndarray:
    """An image array -> (H, W, C) uint8 with C 1 (gray) or 3 (RGB); CodecError naming what is wrong."""
    a = np.asarray(image)
    # deepae's channel-first gray (1, H, W); (1, W, 3) is a one-row RGB image, as Pillow gives it
    if a.ndim == 3 and a.shape[0] == 1 and a.shape[2] not in (1, 3):
        a = a[0]
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 3):
        raise CodecError(f"expected a gray (H, W) or RGB (H, W, 3) image, got shape {list(np.shape(image))}")
    if a.shape[0] < 1 or a.shape[1] < 1 or a.shape[0] > 65535 or a.shape[1] > 65535 or a.shape[0] * a.shape[1] > MAX_PIXELS:
        raise CodecError(f"image size {a.shape[1]}x{a.shape[0]} is outside 1x1 .. 65535x65535 ({MAX_PIXELS:,} pixels at most)")
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a)
    if a.dtype == np.bool_:
        return a.astype(np.uint8) * 255
    if np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all() or a.min() < 0 or a.max() > 1:
            raise CodecError("float images must be finite and lie in [0, 1]")
        return np.rint(a * 255).astype(np.uint8)
    raise CodecError(f"image dtype {a.dtype} is not supported; expected uint8, bool or floats in [0, 1]")


def _planes(pixels: np.ndarray, channels: int) -> torch.Tensor:
    """(H, W, C) uint8 -> (P, channels, H, W) float batch of what the model codes."""
    x = torch.tensor(pixels).permute(2, 0, 1).float() / 255  # (C, H, W)
    if channels == x.shape[0]:
        return x[None]
    if channels == 1:
        return x[:, None]  # each colour plane on its own
    return x.expand(channels, -1, -1)[None]


def _words(data: bytes) -> np.ndarray:
    # Payloads drop the trailing zero bytes of the last 32-bit word; put them back.
    return np.frombuffer(data + b"\0" * (-len(data) % 4), dtype=">u4").astype(np.uint32)


@torch.inference_mode()
def encode_image(codec: Codec, pixels: np.ndarray, quality: int) -> bytes:
    """(H, W, C) uint8 -> payload bytes at 1-based ``quality``."""
    t = _tables(codec)
    x = _planes(pixels, codec.config.channels)
    y = codec.net.analysis(pad(x, codec.config.multiple), quality - 1)
    enc = constriction.stream.queue.RangeEncoder()
    if codec.net.hyperprior:  # z with the factorized tables, then y with the Gaussians z gives
        z = codec.net.hyper_analysis(y)
        z_hat = _encode_factorized(enc, t, z)
        means, scales = codec.net.coding_parameters(z_hat, t.weights)
        symbols = torch.round(y - means).to(torch.int64).numpy().ravel()
        for level, where in _by_level(scales):  # each coding scale's symbols, in raster order, with its table
            _encode_symbols(enc, t.gauss, level, symbols[where])
    else:
        _encode_factorized(enc, t, y)
    return enc.get_compressed().astype(">u4").tobytes().rstrip(b"\0")


def _encode_factorized(enc, t: _Tables, y: torch.Tensor) -> torch.Tensor:
    """Code (P, M, h, w) values with each channel's pmf table (escapes for the tails); returns them rounded."""
    symbols = torch.round(y - t.medians[None, :, None, None]).to(torch.int64).numpy()  # (P, M, h, w)
    for plane in symbols:
        for c, sym in enumerate(plane.reshape(len(plane), -1)):
            _encode_symbols(enc, t, c, sym)
    return torch.from_numpy(symbols).float() + t.medians[None, :, None, None]


def _encode_symbols(enc, t: _Tables, c: int, sym: np.ndarray) -> None:
    """Integer symbols with table ``c``; one outside it is the escape symbol, then its value (16 bits)."""
    idx = sym - t.offsets[c]
    esc = (idx < 0) | (idx >= t.lengths[c] - 1)
    idx = np.where(esc, t.lengths[c] - 1, idx)
    enc.encode(idx.astype(np.int32), t.models[c])
    if esc.any():
        raw = np.clip(sym[esc] + ESCAPE_RANGE // 2, 0, ESCAPE_RANGE - 1)
        enc.encode(raw.astype(np.int32), constriction.stream.model.Uniform(ESCAPE_RANGE))


def _decode_symbols(dec, t: _Tables, c: int, n: int) -> np.ndarray:
    """``n`` symbols that ``_encode_symbols`` coded with table ``c``."""
    idx = np.asarray(dec.decode(t.models[c], n), np.int64)
    esc = idx == t.lengths[c] - 1
    sym = idx + t.offsets[c]
    if esc.any():
        sym[esc] = np.asarray(dec.decode(constriction.stream.model.Uniform(ESCAPE_RANGE), int(esc.sum())), np.int64)
        sym[esc] -= ESCAPE_RANGE // 2
    return sym


def _by_level(scales: torch.Tensor):
    """(level, flat positions) for each coding scale present in ``scales``, levels in increasing order."""
    levels = scale_indexes(scales).numpy().ravel()
    order = np.argsort(levels, kind="stable")  # positions grouped by level, raster order within one
    bounds = np.searchsorted(levels[order], np.arange(len(SCALES) + 1))
    return [(k, order[bounds[k]:bounds[k + 1]]) for k in range(len(SCALES)) if bounds[k + 1] > bounds[k]]


@torch.inference_mode()
def decode_image(codec: Codec, payload: bytes, height: int, width: int, mode: str, quality: int) -> np.ndarray:
    """Payload bytes -> (H, W) or (H, W, 3) uint8; CodecError when the payload does not decode."""
    t = _tables(codec)
    net, channels = codec.net, codec.config.channels
    m, f = codec.config.latent, codec.config.multiple
    h, w = -(-height // f), -(-width // f)
    planes = MODES[mode] if channels == 1 else 1
    dec = constriction.stream.queue.RangeDecoder(_words(payload))
    try:
        if net.hyperprior:
            z_hat = _decode_factorized(dec, t, planes, len(t.lengths), h, w)  # z: 1/32 resolution
            means, scales = net.coding_parameters(z_hat, t.weights)
            symbols = np.empty(means.numel(), np.int64)
            for level, where in _by_level(scales):
                symbols[where] = _decode_symbols(dec, t.gauss, level, len(where))
            y_hat = torch.from_numpy(symbols).float().reshape(means.shape) + means
        else:
            y_hat = _decode_factorized(dec, t, planes, m, h, w)
    except (AssertionError, ValueError, RuntimeError, OverflowError) as exc:
        raise CodecError(f"the entropy-coded payload does not decode ({type(exc).__name__}); the file is damaged") from None
    x = net.synthesis(y_hat, quality - 1)[:, :, :height, :width]
    return _to_pixels(x, mode)


def _decode_factorized(dec, t: _Tables, planes: int, m: int, h: int, w: int) -> torch.Tensor:
    """(planes, m, h, w) values coded by ``_encode_factorized``."""
    symbols = np.empty((planes, m, h * w), np.int64)
    for p in range(planes):
        for c in range(m):
            symbols[p, c] = _decode_symbols(dec, t, c, h * w)
    return torch.from_numpy(symbols).float().reshape(planes, m, h, w) + t.medians[None, :, None, None]


def _to_pixels(x: torch.Tensor, mode: str) -> np.ndarray:
    x = torch.round(x.clamp(0, 1) * 255).to(torch.uint8)  # (P, C, H, W)
    if x.shape[1] == 1:  # gray model: planes are the image's channels
        out = x[:, 0].permute(1, 2, 0)
    else:
        out = x[0].permute(1, 2, 0)
        if mode == "L":
            out = torch.round(out.float().mean(2, keepdim=True)).to(torch.uint8)
    out = out.numpy()
    return out[..., 0].copy() if mode == "L" else np.ascontiguousarray(out)
