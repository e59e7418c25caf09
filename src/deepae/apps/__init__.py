"""Applications built on the core: each is one module here, using ``deepae``'s public names.

Restoration, on numpy arrays and PIL images (the result comes back as the same kind of object)::

    from deepae.apps import colorize, denoise, unwatermark, upscale
    clean = denoise(photo)                 # sigma=None: estimated; or sigma=25 (grey levels of 255)
    big = upscale(photo, factor=2)         # 2, 3 or 4
    colour = colorize(black_and_white)
    restored = unwatermark(stamped)

Each uses the model shipped with deepae unless ``model=`` names a run folder trained with
``deepae train --task TASK``.

Uses of the code: ``AutoEncoderOutlierDetector`` (anomaly detection by reconstruction error, an
``OutlierMixin`` like IsolationForest), ``AutoEncoderClustering`` (k-means or a GMM on the codes,
optionally embedded by UMAP first or refined by DEC), ``CodeIndex`` (nearest-neighbour search on
codes, exact in torch or faiss) and ``TextAutoEncoder`` (topics and retrieval on a bag of words).
Compression: ``deepae.apps.codec`` (``compress``/``decompress`` and the ``.dae`` file format).
The core (``models``, ``train``, ``data``) never imports this package.
"""

from . import codec
from .anomaly import AutoEncoderOutlierDetector
from .cluster import AutoEncoderClustering, cluster_accuracy, clustering_scores
from .colorize import colorize
from .denoise import denoise
from .search import CodeIndex
from .text import TextAutoEncoder
from .unwatermark import unwatermark
from .upscale import upscale

__all__ = [
    "codec",
    "AutoEncoderClustering",
    "AutoEncoderOutlierDetector",
    "CodeIndex",
    "TextAutoEncoder",
    "cluster_accuracy",
    "clustering_scores",
    "colorize",
    "denoise",
    "unwatermark",
    "upscale",
]
