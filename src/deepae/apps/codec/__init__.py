"""A learned image codec: autoencoder transforms, a learned entropy model and a range coder (constriction).

Three kinds of network: ``CodecNet`` (transforms learned from scratch, factorized prior),
``TileHyperNet`` (convolutions with a mean-scale hyperprior of one vector per tile: the digits codec)
and ``BlockHyperNet`` (JPEG's 8x8 DCT learned around, with a mean-scale hyperprior: the photo codec);
``create_net(config)`` builds the one a ``CodecConfig`` names.

    from deepae.apps.codec import compress, decompress
    data = compress([digit_a, digit_b], model="digits", quality=4)   # bytes of a .dae file
    images = decompress(data)                                         # uint8 arrays, original sizes

Images are 8-bit gray (H, W) or RGB (H, W, 3) arrays (floats in [0, 1] are rounded to 8 bits).
``DaeWriter`` / ``read_dae`` stream many images through a file with flat memory; ``write_dae``
writes a file atomically; ``info`` says what a file holds without decoding it. Every problem with a
file (truncated, edited, forged, another format version or model) raises ``CodecError``.
"""

from ._coding import CodecError, as_image
from ._format import MAGIC, VERSION
from ._hyper import BlockHyperNet, HyperpriorNet, TileHyperNet
from ._model import CodecConfig, CodecNet, FactorizedPrior, create_net
from ._store import SHIPPED, Codec, codec_from_net, load_codec, save_codec
from ._stream import DaeWriter, DecodedImage, compress, decompress, info, read_dae, write_dae
from ._train import estimate, rd_loss, train_codec

__all__ = [
    "MAGIC",
    "SHIPPED",
    "VERSION",
    "BlockHyperNet",
    "Codec",
    "CodecConfig",
    "CodecError",
    "CodecNet",
    "DaeWriter",
    "DecodedImage",
    "FactorizedPrior",
    "HyperpriorNet",
    "TileHyperNet",
    "as_image",
    "codec_from_net",
    "compress",
    "create_net",
    "decompress",
    "estimate",
    "info",
    "load_codec",
    "rd_loss",
    "read_dae",
    "save_codec",
    "train_codec",
    "write_dae",
]
