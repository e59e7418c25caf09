"""Clustering in code space: k-means or a Gaussian mixture on an autoencoder's codes, optionally refined by DEC.

DEC (Xie, Girshick & Farhadi, "Unsupervised Deep Embedding for Clustering Analysis", ICML 2016)
starts from k-means centres in code space and fine-tunes the encoder and the centres together:
each code z_i is softly assigned to centre mu_j by a Student-t kernel (alpha = 1),
``q_ij ∝ (1 + |z_i - mu_j|^2 / alpha)^(-(alpha + 1) / 2)``; the target ``p_ij ∝ q_ij^2 / f_j``
(``f_j = sum_i q_ij``) sharpens confident assignments and evens out cluster sizes; SGD minimises
KL(P || Q). P is recomputed every ``update_interval`` steps, and training stops once fewer than a
share ``refine_tol`` of the hard labels changed since the previous update (or after ``refine_max_iter`` steps).

With ``embed="umap"`` the codes are first mapped by UMAP (``umap-learn``; McConville et al.,
"N2D: (Not Too) Deep Clustering via Clustering the Local Manifold of an Autoencoded Embedding",
ICPR 2020: n_components = n_clusters, 20 neighbours, min_dist 0) and clustered there.

``cluster_accuracy`` (Hungarian matching of clusters to classes) and ``clustering_scores``
(ACC, NMI, ARI) measure a clustering against known labels.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, ClusterMixin, TransformerMixin
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, pairwise_distances_argmin
from sklearn.metrics.cluster import contingency_matrix
from sklearn.mixture import GaussianMixture
from sklearn.utils.validation import validate_data

from ..api import AutoEncoder
from ..errors import ConfigError, DataError
from .codes import check_fitted, derive_seeds, encode, fit_autoencoder

METHODS = ("kmeans", "gmm")
REFINEMENTS = (None, "dec")
EMBEDDINGS = (None, "umap")
DEC_ALPHA = 1.0  # degrees of freedom of the Student-t kernel; DEC fixes it to 1


# -- metrics ----------------------------------------------------------------------------------
def _labels_pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.ndim != 1 or y_true.shape != y_pred.shape or len(y_true) == 0:
        raise DataError(
            f"y_true has shape {y_true.shape} and y_pred {y_pred.shape}; expected two label vectors of the same length >= 1"
        )
    return y_true, y_pred


def cluster_accuracy(y_true: Any, y_pred: Any) -> float:
    """Clustering accuracy (ACC): the share of samples right under the best one-to-one map of clusters to classes.

    The map is found by the Hungarian algorithm on the (classes, clusters) contingency table; with
    more clusters than classes, the extra clusters count as wrong.
    """
    y_true, y_pred = _labels_pair(y_true, y_pred)
    table = contingency_matrix(y_true, y_pred)  # (n_classes, n_clusters) counts
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / len(y_true))


def clustering_scores(y_true: Any, y_pred: Any) -> dict[str, float]:
    """ACC (Hungarian matching), NMI and ARI of predicted clusters against true labels."""
    y_true, y_pred = _labels_pair(y_true, y_pred)
    return {
        "acc": cluster_accuracy(y_true, y_pred),
        "nmi": float(normalized_mutual_info_score(y_true, y_pred)),
        "ari": float(adjusted_rand_score(y_true, y_pred)),
    }


# -- DEC --------------------------------------------------------------------------------------
def soft_assignment(z: torch.Tensor, centers: torch.Tensor, alpha: float = DEC_ALPHA) -> torch.Tensor:
    """Student-t similarity of codes to centres, rows normalised: (N, d), (K, d) -> q (N, K)."""
    # Squared distances by broadcasting, not cdist: its gradient is NaN at distance 0.
    d2 = (z.unsqueeze(1) - centers.unsqueeze(0)).pow(2).sum(-1)
    q = (1.0 + d2 / alpha).pow(-(alpha + 1.0) / 2.0)
    return q / q.sum(1, keepdim=True)


def target_distribution(q: torch.Tensor) -> torch.Tensor:
    """DEC's auxiliary target: p_ij = (q_ij^2 / f_j), rows normalised, with f_j = sum_i q_ij. (N, K) -> (N, K)"""
    weight = q.pow(2) / q.sum(0, keepdim=True)
    return weight / weight.sum(1, keepdim=True)


def _encode_all(net: torch.nn.Module, x: torch.Tensor, device: torch.device, batch_size: int = 2048) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([net.encode(chunk.to(device)).flatten(1) for chunk in x.split(batch_size)])


def dec_refine(
    autoencoder: AutoEncoder,
    X: np.ndarray,
    centers: np.ndarray,
    *,
    max_iter: int,
    update_interval: int,
    tol: float,
    lr: float,
    batch_size: int,
    seed: int | None,
) -> tuple[np.ndarray, int]:
    """Fine-tune ``autoencoder``'s encoder (in place) and ``centers`` (K, code_dim) by DEC; returns (centres, steps)."""
    net = autoencoder.model_
    device = next(net.parameters()).device
    x = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)).reshape(len(X), *autoencoder.input_shape_)
    mu = torch.nn.Parameter(torch.as_tensor(centers, dtype=torch.float32, device=device).clone())
    # The decoder gets no gradient, so SGD leaves it alone; frozen layers (requires_grad=False) stay frozen.
    params = [p for p in net.parameters() if p.requires_grad] + [mu]
    optimizer = torch.optim.SGD(params, lr=lr, momentum=0.9)  # DEC's optimiser
    gen = torch.Generator()  # shuffling only: the global RNG is never drawn from
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(seed)
    n, batch = len(x), min(batch_size, len(x))
    net.eval()  # no dropout; batch norm keeps its running statistics, so codes match transform()
    labels, order, pos, step = None, torch.empty(0, dtype=torch.long), n, 0
    while True:
        if step % update_interval == 0:
            with torch.no_grad():
                q = soft_assignment(_encode_all(net, x, device), mu)
            target = target_distribution(q)
            new_labels = q.argmax(1)
            if labels is not None and (new_labels != labels).float().mean().item() < tol:
                break
            labels = new_labels
        if step >= max_iter:
            break
        if pos + batch > n:
            order, pos = torch.randperm(n, generator=gen), 0
        idx = order[pos : pos + batch]
        pos += batch
        q_batch = soft_assignment(net.encode(x[idx].to(device)).flatten(1), mu)
        loss = F.kl_div(q_batch.clamp_min(1e-12).log(), target[idx], reduction="batchmean")  # KL(P || Q)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
    net.zero_grad(set_to_none=True)
    return mu.detach().cpu().numpy(), step


# -- estimator --------------------------------------------------------------------------------
def _check_int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
        raise ConfigError(f"{name}={value!r}; expected an integer >= {low}")


class AutoEncoderClustering(ClassNamePrefixFeaturesOutMixin, TransformerMixin, ClusterMixin, BaseEstimator):
    """Clusters in an autoencoder's code space: k-means or a Gaussian mixture on the codes, optionally refined by DEC.

    Parameters
    ----------
    n_clusters : number of clusters (at most the number of training samples).
    autoencoder : the model. None trains ``deepae.AutoEncoder()``; an unfitted ``AutoEncoder`` is
        cloned and trained on X; ``sklearn.frozen.FrozenEstimator(fitted)`` or the path of a run
        folder is used as it is (DEC fine-tunes a copy). Any scikit-learn transformer works without DEC.
    method : "kmeans" (``KMeans``) or "gmm" (``GaussianMixture``, full covariances) on the codes.
    n_init : restarts of k-means or of the mixture; the best is kept.
    refine : None, or "dec" to fine-tune the encoder and the centres by DEC (module doc).
    embed : None, or "umap" to cluster a UMAP embedding of the codes (N2D; needs ``umap-learn``;
        not with DEC). ``embed_dim`` (default ``n_clusters``) and ``embed_neighbors`` set UMAP's
        n_components and n_neighbors; min_dist is 0.
    refine_max_iter, update_interval, refine_tol, refine_lr, refine_batch_size : DEC's SGD steps at
        most, steps between target updates, stopping share of changed labels, learning rate
        (momentum 0.9) and batch size. The defaults are DEC's (Keras reimplementation) for MNIST.
    random_state : seeds the autoencoder (when it has no ``random_state`` of its own), the
        clustering and DEC's shuffling; the global RNGs of torch and numpy are left alone.

    Attributes
    ----------
    autoencoder_ : the fitted model (its encoder fine-tuned by DEC, when asked: then its decoder no
        longer matches and only ``transform`` is meaningful).
    clusterer_ : the ``KMeans`` or ``GaussianMixture`` fitted on the initial codes.
    cluster_centers_ : (n_clusters, code_dim) centres in code space (GMM means; after DEC, DEC's centres;
        with ``embed``, in the embedding's space: (n_clusters, embed_dim)).
    embedder_ : the fitted ``umap.UMAP`` with ``embed="umap"``, else None.
    labels_ : (n_samples,) cluster of each training sample, equal to ``predict`` on the training data.
    n_iter_ : DEC steps taken (0 without refinement).
    n_features_in_, feature_names_in_ : as in scikit-learn.
    """

    def __init__(
        self,
        n_clusters: int = 10,
        autoencoder: Any = None,
        method: str = "kmeans",
        n_init: int = 20,
        refine: str | None = None,
        refine_max_iter: int = 20000,
        update_interval: int = 140,
        refine_tol: float = 1e-3,
        refine_lr: float = 0.01,
        refine_batch_size: int = 256,
        embed: str | None = None,
        embed_dim: int | None = None,
        embed_neighbors: int = 20,
        random_state: Any = None,
    ):
        self.n_clusters = n_clusters
        self.autoencoder = autoencoder
        self.method = method
        self.n_init = n_init
        self.refine = refine
        self.refine_max_iter = refine_max_iter
        self.update_interval = update_interval
        self.refine_tol = refine_tol
        self.refine_lr = refine_lr
        self.refine_batch_size = refine_batch_size
        self.embed = embed
        self.embed_dim = embed_dim
        self.embed_neighbors = embed_neighbors
        self.random_state = random_state

    def _check_params(self, n_samples: int) -> None:
        _check_int("n_clusters", self.n_clusters, 1)
        if self.n_clusters > n_samples:
            raise ConfigError(f"n_clusters={self.n_clusters} needs at least as many samples; X has n_samples={n_samples}")
        if self.method not in METHODS:
            raise ConfigError(f"method={self.method!r}; expected one of {', '.join(map(repr, METHODS))}")
        if self.refine not in REFINEMENTS:
            raise ConfigError(f"refine={self.refine!r}; expected one of {', '.join(map(repr, REFINEMENTS))}")
        if self.embed not in EMBEDDINGS:
            raise ConfigError(f"embed={self.embed!r}; expected one of {', '.join(map(repr, EMBEDDINGS))}")
        if self.embed is not None and self.refine is not None:
            raise ConfigError(f"embed={self.embed!r} clusters an embedding of the codes; refine={self.refine!r} cannot tune it")
        if self.embed_dim is not None:
            _check_int("embed_dim", self.embed_dim, 1)
        _check_int("embed_neighbors", self.embed_neighbors, 2)
        for name, low in (("n_init", 1), ("refine_max_iter", 0), ("update_interval", 1), ("refine_batch_size", 1)):
            _check_int(name, getattr(self, name), low)
        for name in ("refine_tol", "refine_lr"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, Real) or not value >= 0 or (name == "refine_lr" and value == 0):
                raise ConfigError(f"{name}={value!r}; expected a number {'> 0' if name == 'refine_lr' else '>= 0'}")

    def fit(self, X: Any, y: Any = None) -> "AutoEncoderClustering":
        """Train the autoencoder (unless already trained), cluster the codes, refine by DEC if asked (``y`` is ignored)."""
        X = validate_data(self, X, dtype=np.float32, allow_nd=True)
        self._check_params(len(X))
        ae_seed, cluster_seed, dec_seed = derive_seeds(self.random_state, 3)
        model = fit_autoencoder(self.autoencoder, X, ae_seed)
        if self.refine == "dec" and not isinstance(model, AutoEncoder):
            raise ConfigError(f"refine='dec' fine-tunes an autoencoder's encoder; {type(model).__name__} has none")
        codes = encode(model, X).reshape(len(X), -1)
        self.embedder_, self._n_features_out = None, codes.shape[1]  # transform() gives codes, embedded or not
        if self.embed == "umap":
            codes = self._fit_umap(codes, cluster_seed)
        if self.method == "kmeans":
            self.clusterer_ = KMeans(self.n_clusters, n_init=self.n_init, random_state=cluster_seed).fit(codes)
            centers = self.clusterer_.cluster_centers_
        else:
            self.clusterer_ = GaussianMixture(self.n_clusters, n_init=self.n_init, random_state=cluster_seed).fit(codes)
            centers = self.clusterer_.means_
        self.n_iter_ = 0
        if self.refine == "dec":
            centers, self.n_iter_ = dec_refine(
                model, X, centers, max_iter=self.refine_max_iter, update_interval=self.update_interval, tol=self.refine_tol,
                lr=self.refine_lr, batch_size=self.refine_batch_size, seed=dec_seed,
            )
            codes = encode(model, X).reshape(len(X), -1)
        self.autoencoder_ = model
        self.cluster_centers_ = np.asarray(centers, dtype=codes.dtype)
        self.labels_ = self._assign(codes)
        return self

    def _fit_umap(self, codes: np.ndarray, seed: int | None) -> np.ndarray:
        try:
            import umap
        except ImportError:
            raise ConfigError("embed='umap' needs umap-learn: pip install umap-learn") from None
        n_neighbors = min(self.embed_neighbors, len(codes) - 1)
        self.embedder_ = umap.UMAP(n_components=self.embed_dim or self.n_clusters, n_neighbors=max(n_neighbors, 2),
                                   min_dist=0.0, random_state=seed, n_jobs=1 if seed is not None else -1)
        return self.embedder_.fit_transform(codes).astype(codes.dtype)

    def _assign(self, codes: np.ndarray) -> np.ndarray:
        """Cluster of each code: the mixture's most likely component, else the nearest centre (= DEC's argmax q)."""
        if self.method == "gmm" and self.refine is None:
            return self.clusterer_.predict(codes).astype(np.int64)
        return pairwise_distances_argmin(codes, self.cluster_centers_).astype(np.int64)

    def transform(self, X: Any) -> np.ndarray:
        """Codes of ``X`` (from the DEC-tuned encoder after ``refine="dec"``): (n_samples, code_dim)."""
        check_fitted(self)
        X = validate_data(self, X, dtype=np.float32, allow_nd=True, reset=False)
        return encode(self.autoencoder_, X).reshape(len(X), -1)

    def predict(self, X: Any) -> np.ndarray:
        """Cluster of each sample of ``X``: (n_samples,) int64."""
        codes = self.transform(X)
        if self.embedder_ is not None:
            codes = self.embedder_.transform(codes).astype(codes.dtype)
        return self._assign(codes)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


__all__ = ["AutoEncoderClustering", "cluster_accuracy", "clustering_scores", "dec_refine", "soft_assignment",
           "target_distribution"]
