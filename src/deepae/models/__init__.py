"""Autoencoder models. Importing this package registers every model family."""

from .base import AEOutput, BaseAutoEncoder, ModelConfig
from .conv import ConvAE, ConvConfig, ConvVAE, ConvVAEConfig
from .dense import DenseAE, DenseConfig, DenseVAE, DenseVAEConfig
from .image2image import Image2Image, Image2ImageConfig

__all__ = [
    "AEOutput",
    "BaseAutoEncoder",
    "ModelConfig",
    "DenseAE",
    "DenseConfig",
    "DenseVAE",
    "DenseVAEConfig",
    "ConvAE",
    "ConvConfig",
    "ConvVAE",
    "ConvVAEConfig",
    "Image2Image",
    "Image2ImageConfig",
]
