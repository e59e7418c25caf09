"""Similarity search in code space: an index of an autoencoder's codes, exact cosine or L2 neighbours.

``CodeIndex`` encodes items with its model (``deepae.apps.codes``), keeps the (N, d) code matrix and
finds the ``k`` nearest codes of each query. The search is exact: a chunked matrix product and
``topk`` in torch for small indexes, faiss's flat index (``pip install deepae[search]``) from
``FAISS_MIN_ITEMS`` items on, where it was measured to be faster; without faiss, torch does all.

An index is saved as one safetensors file: the code matrix (and labels) as tensors, everything
else (metric, item names, the model's run folder and digest) as JSON in the header. No pickle.
The digest (``model_digest``: SHA-256 of the weights and configuration) is checked whenever a
model meets the index again, so queries are never encoded by another model than the items were.
A SHA-256 of the JSON header and the tensors (``sha256`` in the metadata) finds a damaged or edited
file; indexes written before it was added load without the check.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as st_save
from sklearn.base import BaseEstimator

from .._io import atomic_write_bytes, jsonable
from ..api import AutoEncoder
from ..errors import CheckpointError, ConfigError, DataError
from ..report import as_images
from .codes import as_model, check_fitted, derive_seeds, encode, fit_autoencoder

METRICS = ("cosine", "l2")
BACKENDS = ("auto", "torch", "faiss", "hnsw")  # "hnsw": approximate (faiss's HNSW graph), the others exact
# HNSW graph: neighbours per node, and candidates kept while searching (recall against speed).
HNSW_M, HNSW_EF_SEARCH, HNSW_EF_CONSTRUCTION = 32, 64, 80
FORMAT = "deepae-index"
FORMAT_VERSION = 1
# From this many indexed items on, backend="auto" searches with faiss (when installed). Measured by
# bench/codes.py's search-images (exact cosine search, random 32-d codes, 1,000 queries, one thread,
# queries/s torch vs faiss): 1,000 items 306k vs 50k, 5,000 19k vs 16k, 10,000 5.5k vs 7.9k,
# 60,000 0.9k vs 1.3k. Torch's matmul + topk wins on small indexes, faiss's flat index on large ones.
FAISS_MIN_ITEMS = 8_000
# Torch search works on blocks of (queries x items) scores of at most this many floats (64 MB).
_BLOCK = 1 << 24


# -- digests ----------------------------------------------------------------------------------
def model_digest(model: Any) -> str:
    """SHA-256 of a fitted model's weights and configuration (a run folder path is loaded first).

    The same model gives the same digest in memory, saved and loaded again, whatever the file
    times; any change of a weight or of the architecture changes it. Scikit-learn stand-ins
    (``PCA``, ...) are digested from their class, parameters and fitted arrays.
    """
    model = as_model(model)
    h = hashlib.sha256()
    if isinstance(model, AutoEncoder):
        net = model.model_
        head = {"model": net.name, "config": net.config.to_dict(), "data_shape": list(model.data_shape_)}
        h.update(json.dumps(jsonable(head), sort_keys=True).encode())
        for name, tensor in sorted(net.state_dict().items()):
            t = tensor.detach().to("cpu").contiguous()
            h.update(f"{name}:{t.dtype}:{list(t.shape)}".encode())
            h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        return h.hexdigest()
    h.update(type(model).__qualname__.encode())
    h.update(repr(sorted(model.get_params(deep=False).items()) if hasattr(model, "get_params") else "").encode())
    for name in sorted(vars(model)):
        value = getattr(model, name)
        if name.endswith("_") and isinstance(value, np.ndarray) and value.dtype != object:
            h.update(name.encode())
            h.update(np.ascontiguousarray(value).tobytes())
    return h.hexdigest()


# -- exact search -----------------------------------------------------------------------------
def _normalise(codes: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(codes, axis=1, keepdims=True)
    return codes / np.maximum(norms, 1e-12)  # a zero code stays zero: similarity 0 to everything


def _torch_search(items: np.ndarray, queries: np.ndarray, k: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k by blocks of queries: (Q, d), (N, d) -> distances, indices (Q, k)."""
    c = torch.from_numpy(np.ascontiguousarray(items, dtype=np.float32))
    c_sq = (c * c).sum(1) if metric == "l2" else None  # (N,)
    rows = max(1, _BLOCK // max(len(c), 1))
    dist, idx = [], []
    with torch.inference_mode():
        for block in torch.from_numpy(np.ascontiguousarray(queries, dtype=np.float32)).split(rows):
            scores = block @ c.T  # (B, N) inner products
            if metric == "cosine":
                top, where = scores.topk(k, dim=1)  # largest similarity first
                dist.append(1.0 - top)
            else:  # |q - c|^2 = |q|^2 - 2 q.c + |c|^2; the |q|^2 term does not change the order
                top, where = (c_sq - 2.0 * scores).topk(k, dim=1, largest=False)
                dist.append((top + (block * block).sum(1, keepdim=True)).clamp_min(0).sqrt())
            idx.append(where)
    return torch.cat(dist).numpy(), torch.cat(idx).numpy().astype(np.int64)


def _faiss():
    try:
        import faiss
    except ImportError:
        return None
    return faiss


def _faiss_search(items: np.ndarray, queries: np.ndarray, k: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
    faiss = _faiss()
    d = items.shape[1]
    index = faiss.IndexFlatIP(d) if metric == "cosine" else faiss.IndexFlatL2(d)
    index.add(np.ascontiguousarray(items, dtype=np.float32))
    scores, where = index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
    dist = 1.0 - scores if metric == "cosine" else np.sqrt(np.maximum(scores, 0))  # faiss L2 gives squares
    return dist.astype(np.float32), where.astype(np.int64)


def build_hnsw(items: np.ndarray, metric: str = "cosine"):
    """A faiss HNSW graph of ``items`` (N, d) (normalised first for cosine), for ``hnsw_search``."""
    faiss = _faiss()
    if faiss is None:
        raise ConfigError("backend='hnsw' needs faiss (pip install 'deepae[search]'); use backend='auto' or 'torch'")
    items = _normalise(items) if metric == "cosine" else items
    space = faiss.METRIC_INNER_PRODUCT if metric == "cosine" else faiss.METRIC_L2
    graph = faiss.IndexHNSWFlat(items.shape[1], HNSW_M, space)
    graph.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    graph.add(np.ascontiguousarray(items, dtype=np.float32))
    graph.hnsw.efSearch = HNSW_EF_SEARCH
    return graph


def hnsw_search(graph, queries: np.ndarray, k: int, metric: str = "cosine") -> tuple[np.ndarray, np.ndarray]:
    """Approximate top-k on a graph from ``build_hnsw``: distances and indices (n_queries, k), as ``exact_search``."""
    queries = _normalise(queries) if metric == "cosine" else queries
    graph.hnsw.efSearch = max(HNSW_EF_SEARCH, k)
    scores, where = graph.search(np.ascontiguousarray(queries, dtype=np.float32), k)
    dist = 1.0 - scores if metric == "cosine" else np.sqrt(np.maximum(scores, 0))
    return dist.astype(np.float32), where.astype(np.int64)


def exact_search(items: np.ndarray, queries: np.ndarray, k: int, metric: str = "cosine",
                 backend: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest items of each query: distances and indices, (n_queries, k), nearest first.

    ``items`` (N, d) and ``queries`` (Q, d) are codes; cosine distance is 1 - cosine similarity,
    L2 the Euclidean distance. ``backend`` "auto" uses faiss from ``FAISS_MIN_ITEMS`` items on when
    it is installed, else torch; both are exact.
    """
    if metric not in METRICS:
        raise ConfigError(f"metric={metric!r}; expected one of {', '.join(map(repr, METRICS))}")
    if backend not in BACKENDS[:3]:
        raise ConfigError(f"backend={backend!r}; expected one of {', '.join(map(repr, BACKENDS[:3]))} (exact search)")
    if queries.ndim != 2 or queries.shape[1] != items.shape[1]:
        raise DataError(f"queries have shape {list(queries.shape)}; expected (n_queries, {items.shape[1]}) codes")
    if not 1 <= k <= len(items):
        raise ConfigError(f"k={k}; expected an integer in [1, {len(items)}] (the number of indexed items)")
    if metric == "cosine":
        items, queries = _normalise(items), _normalise(queries)
    if backend == "faiss" and _faiss() is None:
        raise ConfigError("backend='faiss' needs faiss (pip install 'deepae[search]'); use backend='auto' or 'torch'")
    use_faiss = backend == "faiss" or (backend == "auto" and len(items) >= FAISS_MIN_ITEMS and _faiss() is not None)
    return (_faiss_search if use_faiss else _torch_search)(items, queries, k, metric)


# -- the index --------------------------------------------------------------------------------
class CodeIndex(BaseEstimator):
    """An index of codes for nearest-neighbour search: items are encoded by an autoencoder, queries too.

    Parameters
    ----------
    autoencoder : the model. None trains ``deepae.AutoEncoder()``; an unfitted ``AutoEncoder`` is
        cloned and trained on the items given to ``fit``; ``FrozenEstimator(fitted)`` or the path
        of a run folder is used as it is (the path is recorded, so a saved index finds its model).
        Any scikit-learn transformer (``PCA(32)``) may stand in. See ``deepae.apps.codes``.
    metric : "cosine" (default) or "l2".
    backend : exact: "auto" (torch below ``FAISS_MIN_ITEMS`` items, faiss above when installed), "torch"
        or "faiss"; approximate: "hnsw" (faiss's HNSW graph, ``HNSW_M`` links, built on first search,
        much faster on large indexes, at a recall below 1 that search-images measures).
    random_state : seeds the autoencoder when it is trained here and has no seed of its own.

    Attributes
    ----------
    autoencoder_ : the fitted model that encodes items and queries.
    model_digest_ : ``model_digest(autoencoder_)``.
    model_path_ : the run folder the model came from, or None.
    codes_ : (n_items, code_dim) float32 codes of the items.
    labels_ : (n_items,) int64 labels of the items, or None. names_ : item names (str), or None.
    n_features_in_ : features of one item as the model sees them.
    """

    def __init__(self, autoencoder: Any = None, metric: str = "cosine", backend: str = "auto", random_state: Any = None):
        self.autoencoder = autoencoder
        self.metric = metric
        self.backend = backend
        self.random_state = random_state

    def _check_params(self) -> None:
        if self.metric not in METRICS:
            raise ConfigError(f"metric={self.metric!r}; expected one of {', '.join(map(repr, METRICS))}")
        if self.backend not in BACKENDS:
            raise ConfigError(f"backend={self.backend!r}; expected one of {', '.join(map(repr, BACKENDS))}")

    def fit(self, X: Any, y: Any = None, names: Any = None) -> "CodeIndex":
        """Train the model on ``X`` if it is not trained yet, and index the codes of ``X`` (labels ``y``, ``names``)."""
        self._check_params()
        X = _samples(X, "X")
        (seed,) = derive_seeds(self.random_state, 1)
        self.autoencoder_ = fit_autoencoder(self.autoencoder, X, seed)
        self.model_digest_ = model_digest(self.autoencoder_)
        path = self.autoencoder if isinstance(self.autoencoder, (str, os.PathLike)) else None
        self.model_path_ = str(Path(path).resolve()) if path is not None else None
        self.n_features_in_ = X.shape[1]
        self._graph = None  # the HNSW graph of backend="hnsw", built on first search
        self.codes_ = np.empty((0, 0), np.float32)
        self.labels_ = None if y is None else np.empty(0, np.int64)
        self.names_ = None if names is None else []
        return self.add(X, y, names)

    def add(self, X: Any, y: Any = None, names: Any = None) -> "CodeIndex":
        """Encode ``X`` and append it to the index (labels and names must be given as at ``fit``)."""
        check_fitted(self)
        X = _samples(X, "X")
        codes = self.transform(X)
        for what, value, kept in (("y", y, self.labels_), ("names", names, self.names_)):
            if (value is None) != (kept is None):
                raise DataError(f"add: {what} is {'missing' if value is None else 'given'}, but the index was "
                                f"fitted {'with' if kept is not None else 'without'} it")
            if value is not None and len(value) != len(X):
                raise DataError(f"add: {len(value)} {what} for {len(X)} samples")
        self.codes_ = codes if len(self.codes_) == 0 else np.concatenate([self.codes_, codes])
        if y is not None:
            self.labels_ = np.concatenate([self.labels_, np.asarray(y).astype(np.int64)])
        if names is not None:
            self.names_ = self.names_ + [str(n) for n in names]
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Codes of ``X`` by the index's model: (n_samples, code_dim) float32."""
        check_fitted(self)
        X = _samples(X, "queries")
        if X.shape[1:] != self._sample_shape():
            raise DataError(
                f"queries have samples of shape {list(X.shape[1:])}; the index's model takes {list(self._sample_shape())}"
            )
        return encode(self.autoencoder_, X).reshape(len(X), -1).astype(np.float32)

    def _sample_shape(self) -> tuple[int, ...]:
        data_shape = getattr(self.autoencoder_, "data_shape_", None)
        return tuple(data_shape) if data_shape is not None else (self.n_features_in_,)

    def search(self, X: Any, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest items of each sample of ``X``: distances and item indices, (n_queries, k)."""
        return self.search_codes(self.transform(X), k)

    def search_codes(self, codes: Any, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """``search`` for codes already computed by this index's model: (n_queries, code_dim) -> (n_queries, k) twice."""
        check_fitted(self)
        codes = np.asarray(codes, dtype=np.float32)
        if codes.ndim == 1:
            codes = codes[None]
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise ConfigError(f"k={k!r}; expected an integer >= 1")
        if self.backend != "hnsw":
            return exact_search(self.codes_, codes, int(k), self.metric, self.backend)
        if codes.ndim != 2 or codes.shape[1] != self.codes_.shape[1]:
            raise DataError(f"queries have shape {list(codes.shape)}; expected (n_queries, {self.codes_.shape[1]}) codes")
        if not 1 <= k <= len(self.codes_):
            raise ConfigError(f"k={k}; expected an integer in [1, {len(self.codes_)}] (the number of indexed items)")
        graph = getattr(self, "_graph", None)
        if graph is None or graph.ntotal != len(self.codes_):  # built on first use, again after add()
            graph = self._graph = build_hnsw(self.codes_, self.metric)
        return hnsw_search(graph, codes, int(k), self.metric)

    def check_model(self, model: Any) -> None:
        """Refuse ``model`` (fitted, FrozenEstimator or run folder) unless it is the one the index was built with."""
        check_fitted(self)
        digest = model_digest(model)
        if digest != self.model_digest_:
            raise CheckpointError(
                f"the index was built with the model of digest {self.model_digest_[:12]}... but this model has "
                f"{digest[:12]}...; queries must be encoded by the same model: rebuild the index with `deepae index`"
            )

    # -- persistence --------------------------------------------------------------------------
    def save(self, path: str | os.PathLike, info: dict | None = None) -> Path:
        """Write the index to one safetensors file (codes and labels as tensors, the rest as JSON in its header).

        ``info``: any JSON-able facts to keep beside it (the CLI records where the items came from);
        ``load`` returns them as ``info_``.
        """
        check_fitted(self)
        meta = {
            "format_version": FORMAT_VERSION, "metric": self.metric, "backend": self.backend,
            "model": {"digest": self.model_digest_, "path": self.model_path_, "class": type(self.autoencoder_).__name__},
            "n_features_in": int(self.n_features_in_), "names": self.names_,
            "info": info if info is not None else getattr(self, "info_", {}),
        }
        tensors = {"codes": torch.from_numpy(np.ascontiguousarray(self.codes_, dtype=np.float32))}
        if self.labels_ is not None:
            tensors["labels"] = torch.from_numpy(np.ascontiguousarray(self.labels_, dtype=np.int64))
        header = json.dumps(jsonable(meta))
        data = st_save(tensors, metadata={"format": FORMAT, "index": header, "sha256": _content_digest(header, tensors)})
        return atomic_write_bytes(path, data)

    @staticmethod
    def read_header(path: str | os.PathLike) -> dict:
        """The JSON header of a saved index (metric, model digest and path, names, info), without its codes."""
        return CodeIndex._read(path, with_tensors=False)[0]

    @staticmethod
    def _read(path: str | os.PathLike, with_tensors: bool) -> tuple[dict, dict[str, torch.Tensor]]:
        """(checked JSON header, tensors) of a saved index, from one opening of the file; no tensors unless asked."""
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"index '{path}' does not exist" if not path.exists() else f"index '{path}' is not a file")
        try:
            with safe_open(str(path), "pt") as fh:
                header = fh.metadata() or {}
                tensors = {k: fh.get_tensor(k) for k in fh.keys()} if with_tensors else {}
        except (SafetensorError, ValueError, OSError) as exc:
            raise CheckpointError(f"'{path}' is not a deepae index: {exc}") from None
        if header.get("format") != FORMAT:
            raise CheckpointError(
                f"'{path}' is not a deepae index (format={header.get('format')!r}); build one with `deepae index`"
            )
        try:
            meta = json.loads(header["index"])
            if not isinstance(meta["model"]["digest"], str) or meta["format_version"] > FORMAT_VERSION:
                raise ValueError(f"format_version {meta['format_version']}; this deepae reads up to {FORMAT_VERSION}")
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"'{path}' holds an invalid index header: {type(exc).__name__}: {exc}") from None
        # older indexes have no digest
        if with_tensors and "sha256" in header and header["sha256"] != _content_digest(header["index"], tensors):
            raise CheckpointError(f"'{path}': its codes or header changed since it was written (damaged or edited index)")
        return meta, tensors

    @classmethod
    def load(cls, path: str | os.PathLike, autoencoder: Any = None) -> "CodeIndex":
        """Read an index saved by ``save``; its model is ``autoencoder`` if given, else the run folder it records.

        The model must have the digest recorded in the index (``CheckpointError`` otherwise).
        """
        meta, tensors = cls._read(path, with_tensors=True)
        recorded = meta["model"].get("path")
        source = autoencoder if autoencoder is not None else recorded
        if source is None:
            raise CheckpointError(f"'{path}' was built with a model kept in memory only; pass it as load(path, autoencoder=...)")
        index = cls(autoencoder=source, metric=meta.get("metric"), backend=meta.get("backend", "auto"))
        try:
            index._check_params()
        except ConfigError as exc:
            raise CheckpointError(f"'{path}' holds an invalid index header: {exc}") from None
        index.autoencoder_ = as_model(source)
        index.model_digest_, index.model_path_ = meta["model"]["digest"], recorded
        index.check_model(index.autoencoder_)
        index.codes_ = tensors["codes"].numpy() if "codes" in tensors else None
        index.labels_ = tensors["labels"].numpy() if "labels" in tensors else None
        index.names_, index.info_ = meta.get("names"), meta.get("info") or {}
        index.n_features_in_ = meta.get("n_features_in")
        n = None if index.codes_ is None or index.codes_.ndim != 2 else len(index.codes_)
        if n is None or any(v is not None and len(v) != n for v in (index.labels_, index.names_)):
            raise CheckpointError(f"'{path}': its codes, labels and names do not agree (damaged or hand-edited index)")
        return index


def _content_digest(header: str, tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 of an index's JSON header and its tensors' bytes (in name order): what ``load`` checks."""
    h = hashlib.sha256(header.encode())
    for name in sorted(tensors):
        h.update(name.encode())
        h.update(tensors[name].contiguous().numpy().tobytes())
    return h.hexdigest()


# -- contact sheet ----------------------------------------------------------------------------
def contact_sheet(queries: np.ndarray, neighbours: np.ndarray, distances: np.ndarray, names: list[str] | None = None,
                  title: str = "") -> Figure:
    """One row per query: the query, then its neighbours with their distances. (Q, ...), (Q, k, ...), (Q, k)."""
    q, k = distances.shape
    fig = Figure(figsize=(1.1 * (k + 1) + 0.4, 1.25 * q + 0.5))
    axes = fig.subplots(q, k + 1, squeeze=False)
    images = as_images(np.asarray(queries, np.float32).reshape(q, *np.asarray(queries).shape[1:]))
    items = as_images(np.asarray(neighbours, np.float32).reshape(q * k, *np.asarray(neighbours).shape[2:]))
    for r in range(q):
        for c in range(k + 1):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            img = images[r] if c == 0 else (None if items is None else items[r * k + c - 1])
            if img is not None:
                ax.imshow(np.clip(img, 0, 1), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            if c == 0:
                ax.set_title("query" if names is None else names[r], fontsize=7, color="tab:blue")
                for spine in ax.spines.values():
                    spine.set_edgecolor("tab:blue")
                    spine.set_linewidth(2)
            else:
                ax.set_title(f"{distances[r, c - 1]:.3g}", fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def _samples(X: Any, what: str) -> np.ndarray:
    """``X`` as a float32 array of at least one finite sample."""
    X = np.asarray(X, dtype=np.float32)
    if X.ndim < 2 or len(X) == 0:
        raise DataError(f"{what} has shape {list(X.shape)}; expected at least one sample, (n_samples, ...)")
    if not np.isfinite(X).all():
        raise DataError(f"{what} holds NaN or infinite values")
    return X


__all__ = ["BACKENDS", "FAISS_MIN_ITEMS", "METRICS", "CodeIndex", "build_hnsw", "contact_sheet", "exact_search",
           "hnsw_search", "model_digest"]
