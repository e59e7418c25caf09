"""Topics and retrieval on text: ``TextAutoEncoder`` turns documents into short codes.

Documents -> bag of words (scikit-learn ``CountVectorizer``: the ``max_features`` most frequent words,
English stop words dropped) -> a deep dense autoencoder (Hinton & Salakhutdinov 2006 use
2000-500-250-125-10) whose decoder ends in logits over the vocabulary: a softmax gives the word
distribution, and the loss is the negative log-likelihood of the document's word counts under it
(a multinomial output, per word) -> ``code_size`` real-valued codes.

The sparse count matrix stays sparse: each batch is densified on its own, never the whole matrix.

    tae = TextAutoEncoder(epochs=30, random_state=0).fit(train_texts)
    codes = tae.transform(texts)                      # (n, 10)
    dist, idx = tae.kneighbors(["oil prices fall"], 5)  # nearest training documents (cosine on codes)
    tae.topics(8)                                     # the words each code dimension moves
    tae.save("topics-model"); TextAutoEncoder.load("topics-model")
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.feature_extraction.text import CountVectorizer

from .._io import atomic_write_bytes
from ..errors import CheckpointError, ConfigError, DataError
from ..registry import create_model
from ..train import TrainConfig, Trainer, load_model, read_config, save_model
from .codes import check_fitted

# How word counts c become the network's input (the target is always the counts themselves):
#   "log": log(1 + c); "tfidf": log(1 + c) * idf. Either way each row is scaled to unit length,
#   so long and short documents give inputs of the same size.
WEIGHTINGS = ("log", "tfidf")
LR_SCHEDULES = ("constant", "cosine")  # how the learning rate moves over the epochs of a fit
SECTION = "text_autoencoder"  # config.json section written by save
STATE_FILE = "text_state.safetensors"  # training codes (for kneighbors) and idf weights
_EVAL_BATCH = 1024


class TextAutoEncoder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """A deep autoencoder on bags of words with a multinomial (softmax) output; ``transform`` gives codes.

    Parameters
    ----------
    max_features : vocabulary size (the most frequent words of the training documents).
    stop_words : "english" or None, as in ``CountVectorizer``.
    hidden, code_size : encoder sizes; the decoder mirrors them. The code layer is linear.
    activation : hidden-layer activation ("relu", "sigmoid", "tanh", "elu", ...).
    weighting : "log" or "tfidf" (see ``WEIGHTINGS``): how counts become the encoder input.
    input_dropout : denoising: the share of a document's words hidden from the encoder at each
        training step (the target keeps them all).
    center : kneighbors measures the cosine of codes minus the training documents' mean code.
    epochs, batch_size, lr, weight_decay : training with Adam(W).
    n_init : how many times the autoencoder is trained from a new initialisation (seeds
        ``random_state``, ``random_state + 1``, ...); the one with the lowest loss on the training
        documents (without input dropout) is kept, as ``KMeans`` keeps its lowest-inertia run. The
        seed alone moves retrieval precision by about a point; the training loss ranks the runs.
    lr_schedule : "constant" keeps ``lr``; "cosine" lowers it from ``lr`` to 0 along a half cosine
        over the ``epochs`` (cannot be continued by ``warm_start``).
    warm_start : ``fit`` on a fitted model trains it further (see ``fit``).
    random_state : seeds initialisation, shuffling and input dropout; None draws from torch's RNG.
    device : "auto", "cpu", "cuda", "mps". num_threads : CPU threads (None: all usable cores).
    verbose : show a progress bar.
    """

    def __init__(
        self,
        max_features: int = 2000,
        stop_words: str | None = "english",
        hidden: tuple[int, ...] = (500, 250, 125),
        code_size: int = 10,
        activation: str = "relu",
        weighting: str = "tfidf",
        input_dropout: float = 0.5,
        center: bool = False,
        epochs: int = 40,
        batch_size: int = 64,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        lr_schedule: str = "constant",
        n_init: int = 1,
        warm_start: bool = False,
        random_state: int | None = None,
        device: str = "auto",
        num_threads: int | None = None,
        verbose: bool = False,
    ):
        self.max_features = max_features
        self.stop_words = stop_words
        self.hidden = hidden
        self.code_size = code_size
        self.activation = activation
        self.weighting = weighting
        self.input_dropout = input_dropout
        self.center = center
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.lr_schedule = lr_schedule
        self.n_init = n_init
        self.warm_start = warm_start
        self.random_state = random_state
        self.device = device
        self.num_threads = num_threads
        self.verbose = verbose

    # -- fitting -----------------------------------------------------------------------------
    def fit(self, X: Iterable[str], y: Any = None) -> "TextAutoEncoder":
        """Learn the vocabulary and train the autoencoder on the documents ``X`` (an iterable of str).

        With ``warm_start=True`` a fitted model keeps its vocabulary and trains ``epochs`` more epochs
        on ``X``; on the same documents, fits of 20 + 20 epochs give exactly the model of one 40-epoch fit
        (with ``lr_schedule="constant"``: a schedule cannot be continued, so it refuses warm starts).
        """
        self._check_params()
        docs = check_documents(X)
        if self.warm_start and hasattr(self, "model_"):
            if self.lr_schedule != "constant":
                raise ConfigError(f"warm_start=True with lr_schedule={self.lr_schedule!r}: a schedule spans one fit's "
                                  "epochs and cannot be continued; fit once with all the epochs, or use 'constant'")
            counts = self._counts(docs)
            self._train(counts, seed=self.random_state)
        else:
            counts = self._vocabulary(docs)  # the same for every initialisation
            best, losses = None, []
            for i in range(self.n_init):
                seed = None if self.random_state is None else int(self.random_state) + i
                self._new_model(seed)
                self._train(counts, seed)
                losses.append(self._training_loss(counts))
                if best is None or losses[-1] < best[0]:
                    best = (losses[-1], self.model_, self._trainer, self.history_)
            _, self.model_, self._trainer, self.history_ = best
            self.init_losses_ = losses  # each initialisation's training loss; the lowest one's model is kept
        self._index(self._encode_counts(counts))
        return self

    def _train(self, counts: sp.csr_matrix, seed: int | None) -> None:
        """Train ``model_`` on the word counts: a new Trainer (seeded by ``seed``) after ``_new_model``, the same
        one on a warm start."""
        trainer = getattr(self, "_trainer", None)
        if trainer is None:
            config = TrainConfig(
                epochs=self.epochs, batch_size=self.batch_size, optimizer="adamw" if self.weight_decay else "adam",
                lr=self.lr, optimizer_params={"weight_decay": self.weight_decay} if self.weight_decay else {},
                scheduler=None if self.lr_schedule == "constant" else self.lr_schedule, device=self.device,
                num_threads=self.num_threads, random_state=seed,
                progress=self.verbose,
            )
            trainer = self._trainer = Trainer(self.model_, self._loss, config)
        else:
            trainer.config.epochs = trainer.epoch + self.epochs
        trainer.fit(SparseRows(counts))
        self.history_ = list(trainer.history)
        self.model_ = trainer.module.eval()

    @torch.no_grad()
    def _training_loss(self, counts: sp.csr_matrix) -> float:
        """Mean multinomial NLL per word of the documents' counts, every word seen (no input dropout)."""
        self.model_.eval()
        device = next(self.model_.parameters()).device
        total, words = 0.0, 0.0
        for i in range(0, counts.shape[0], _EVAL_BATCH):
            c = torch.from_numpy(counts[i : i + _EVAL_BATCH].toarray()).to(device)
            loss, _ = self._loss(self.model_, c)
            n = float(c.sum())
            total, words = total + float(loss) * n, words + n
        return total / max(words, 1.0)

    def _vocabulary(self, docs: list[str]) -> sp.csr_matrix:
        """A fresh vocabulary and idf for ``docs``; returns their word counts (n_docs, vocabulary)."""
        self.vectorizer_ = CountVectorizer(max_features=self.max_features, stop_words=self.stop_words, dtype=np.float32)
        try:
            counts = self.vectorizer_.fit_transform(docs).tocsr()
        except ValueError as exc:  # "empty vocabulary; perhaps the documents only contain stop words"
            raise DataError(f"no words to learn from in the {len(docs)} documents: {exc}") from None
        df = np.bincount(counts.indices, minlength=counts.shape[1])
        self.idf_ = (np.log((1 + len(docs)) / (1 + df)) + 1).astype(np.float32)  # scikit-learn's smooth idf
        self.vocabulary_size_ = counts.shape[1]
        self._n_features_out = self.code_size
        return counts

    def _new_model(self, seed: int | None) -> None:
        """A new autoencoder for the vocabulary, initialised from ``seed``, and no Trainer yet."""
        with torch.random.fork_rng(devices=[], enabled=seed is not None):
            if seed is not None:
                torch.default_generator.manual_seed(seed)
            self.model_ = create_model(
                "dense", input_shape=(self.vocabulary_size_,), hidden=tuple(self.hidden), code_size=self.code_size,
                activation=self.activation, code_activation="linear", output_activation="identity",
            )
        self._trainer = None

    def _check_params(self) -> None:
        if self.weighting not in WEIGHTINGS:
            raise ConfigError(f"weighting={self.weighting!r}; expected one of {', '.join(map(repr, WEIGHTINGS))}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ConfigError(f"lr_schedule={self.lr_schedule!r}; expected one of {', '.join(map(repr, LR_SCHEDULES))}")
        if not 0.0 <= float(self.input_dropout) < 1.0:
            raise ConfigError(f"input_dropout={self.input_dropout!r}; expected a share in [0, 1)")
        for name in ("max_features", "code_size", "n_init"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name}={value!r}; expected a positive integer")
        if self.stop_words not in ("english", None):
            raise ConfigError(f"stop_words={self.stop_words!r}; expected 'english' or None")

    def _inputs(self, counts: torch.Tensor) -> torch.Tensor:
        """(B, V) word counts -> (B, V) encoder input: log(1 + c) [* idf], rows of unit length."""
        x = torch.log1p(counts)
        if self.weighting == "tfidf":
            x = x * torch.as_tensor(self.idf_, device=x.device)
        return x / x.norm(dim=1, keepdim=True).clamp_min(1e-8)

    def _loss(self, model: torch.nn.Module, counts: torch.Tensor, generator: torch.Generator | None = None):
        """Multinomial NLL of the counts under softmax(logits), per word; input dropout while training."""
        if generator is not None and model.training and self.input_dropout:
            keep = torch.rand(counts.shape, generator=generator, device=counts.device) >= self.input_dropout
            x = self._inputs(counts * keep)  # (B, V): the encoder sees some words, the loss scores them all
        else:
            x = self._inputs(counts)
        logits = model.decode_logits(model.encode(x))  # (B, V)
        return multinomial_nll(logits, counts), {}

    # -- codes -------------------------------------------------------------------------------
    def transform(self, X: Iterable[str]) -> np.ndarray:
        """Codes of the documents ``X``: float32 (n_documents, code_size)."""
        check_fitted(self)
        return self._encode_counts(self._counts(check_documents(X)))

    def _counts(self, docs: list[str]) -> sp.csr_matrix:
        return self.vectorizer_.transform(docs).tocsr()

    @torch.no_grad()
    def _encode_counts(self, counts: sp.csr_matrix) -> np.ndarray:
        self.model_.eval()
        device = next(self.model_.parameters()).device
        parts = [
            self.model_.encode(self._inputs(torch.from_numpy(counts[i : i + _EVAL_BATCH].toarray()).to(device))).cpu().numpy()
            for i in range(0, counts.shape[0], _EVAL_BATCH)
        ]
        return np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, self.code_size), np.float32)

    def _index(self, codes: np.ndarray) -> None:
        """Keep the training codes, their mean and spread (for kneighbors and topics)."""
        self.train_codes_ = codes
        self.code_mean_ = codes.mean(axis=0)
        self.code_std_ = codes.std(axis=0)

    def _unit(self, codes: np.ndarray) -> np.ndarray:
        codes = codes - self.code_mean_ if self.center else codes
        return codes / np.maximum(np.linalg.norm(codes, axis=1, keepdims=True), 1e-12)

    def kneighbors(self, X: Any, n_neighbors: int = 5, return_distance: bool = True):
        """The ``n_neighbors`` training documents nearest each query, by cosine distance of codes.

        ``X``: query texts (a list of str, or one str), or codes (n_queries, code_size). Returns
        ``(distances, indices)`` like scikit-learn's ``NearestNeighbors``, each (n_queries, n_neighbors),
        nearest first; distances are 1 - cosine similarity. Indices count the documents given to ``fit``.
        """
        check_fitted(self)
        n_train = len(self.train_codes_)
        if not isinstance(n_neighbors, (int, np.integer)) or isinstance(n_neighbors, bool) or not 1 <= n_neighbors <= n_train:
            raise ConfigError(f"n_neighbors={n_neighbors!r}; expected an integer in [1, {n_train}] (the training documents)")
        codes = self._query_codes(X)
        sims = self._unit(codes) @ self._unit(self.train_codes_).T  # (Q, N)
        idx = np.argpartition(-sims, n_neighbors - 1, axis=1)[:, :n_neighbors]
        order = np.argsort(-np.take_along_axis(sims, idx, 1), axis=1, kind="stable")
        idx = np.take_along_axis(idx, order, 1)
        dist = (1.0 - np.take_along_axis(sims, idx, 1)).astype(np.float32)
        return (dist, idx) if return_distance else idx

    def _query_codes(self, X: Any) -> np.ndarray:
        if isinstance(X, (str, bytes)):
            X = [X]
        if isinstance(X, np.ndarray) and X.dtype.kind in "fiu":
            if X.ndim != 2 or X.shape[1] != self.code_size:
                raise DataError(
                    f"query codes have shape {X.shape}; expected (n_queries, {self.code_size}) codes of this model, "
                    "or query texts"
                )
            if not np.isfinite(X).all():
                raise DataError("query codes hold NaN or infinite values")
            return X.astype(np.float32)
        return self.transform(check_documents(X, what="query"))

    # -- topics ------------------------------------------------------------------------------
    @torch.no_grad()
    def topics(self, n_words: int = 10, spread: float = 2.0) -> list[dict[str, Any]]:
        """Per code dimension, the words whose probability moves most along it.

        From the mean training code, step ``spread`` standard deviations up and down dimension j and
        decode both. Each word's change is scored by its share of the symmetric KL divergence between
        the two word distributions, (p_up - p_down) * log(p_up / p_down): large for words that are both
        common and strongly moved, where the plain difference would list only the most frequent words
        and the ratio only rare ones. ``up``: the words gaining most going up; ``down``: going down.
        Returns one dict per dimension: dimension, up, down.
        """
        check_fitted(self)
        if not isinstance(n_words, (int, np.integer)) or isinstance(n_words, bool) or not 1 <= n_words <= self.vocabulary_size_:
            raise ConfigError(f"n_words={n_words!r}; expected an integer in [1, {self.vocabulary_size_}]")
        words = self.vectorizer_.get_feature_names_out()
        steps = np.diag(spread * np.maximum(self.code_std_, 1e-6)).astype(np.float32)  # (code, code)
        device = next(self.model_.parameters()).device
        base, steps = torch.from_numpy(self.code_mean_.astype(np.float32)).to(device), torch.from_numpy(steps).to(device)
        self.model_.eval()
        log_up = torch.log_softmax(self.model_.decode_logits(base + steps), dim=1)  # (code, V)
        log_down = torch.log_softmax(self.model_.decode_logits(base - steps), dim=1)
        score = ((log_up.exp() - log_down.exp()) * (log_up - log_down)).double().cpu().numpy()  # >= 0
        gain = np.where((log_up > log_down).cpu().numpy(), score, -score)  # signed: + for up, - for down
        return [
            {"dimension": j, "up": [str(words[i]) for i in np.argsort(-gain[j], kind="stable")[:n_words]],
             "down": [str(words[i]) for i in np.argsort(gain[j], kind="stable")[:n_words]]}
            for j in range(self.code_size)
        ]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array, tags.input_tags.string = False, True  # a list of texts, as CountVectorizer takes
        return tags

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_fitted(self)
        return super().get_feature_names_out()

    # -- files -------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write the model to the folder ``path``: model.safetensors + config.json (parameters,
        vocabulary) + text_state.safetensors (training codes, idf). No pickle."""
        check_fitted(self)
        path = Path(path)
        state = st_save({"train_codes": torch.from_numpy(np.ascontiguousarray(self.train_codes_)),
                         "idf": torch.from_numpy(self.idf_)})
        atomic_write_bytes(path / STATE_FILE, state)
        params = {k: list(v) if isinstance(v, tuple) else v for k, v in self.get_params().items()}
        section = {"params": params, "vocabulary": [str(w) for w in self.vectorizer_.get_feature_names_out()],
                   "state_sha256": hashlib.sha256(state).hexdigest(), "history": getattr(self, "history_", [])}
        return save_model(path, self.model_, {SECTION: section})  # config.json last: marks a complete save

    @classmethod
    def load(cls, path: str | os.PathLike) -> "TextAutoEncoder":
        """Rebuild a fitted ``TextAutoEncoder`` saved with ``save``."""
        path = Path(path)
        config = read_config(path)
        section = config.get(SECTION)
        if not isinstance(section, dict):
            raise CheckpointError(f"'{path}' is a deepae model but not a TextAutoEncoder (no {SECTION!r} section)")
        try:
            params, vocabulary = dict(section["params"]), list(section["vocabulary"])
            est = cls(**{k: tuple(v) if k == "hidden" else v for k, v in params.items()})
            est._check_params()
            if not vocabulary or not all(isinstance(w, str) for w in vocabulary) or len(set(vocabulary)) != len(vocabulary):
                raise ValueError("the vocabulary must be a non-empty list of distinct words")
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"'{path / 'config.json'}' holds an invalid TextAutoEncoder: {exc}") from None
        raw = (path / STATE_FILE).read_bytes() if (path / STATE_FILE).is_file() else None
        if raw is None or hashlib.sha256(raw).hexdigest() != section.get("state_sha256"):
            raise CheckpointError(f"'{path / STATE_FILE}' is missing or is not the file saved with this model")
        try:
            state = st_load(raw)
        except (SafetensorError, ValueError) as exc:
            raise CheckpointError(f"cannot read '{path / STATE_FILE}': {exc}") from None
        est.model_ = load_model(path)
        if tuple(est.model_.input_shape) != (len(vocabulary),) or est.model_.config.code_size != est.code_size:
            raise CheckpointError(f"'{path}': the model does not match the saved vocabulary or code size")
        est.vectorizer_ = CountVectorizer(vocabulary=vocabulary, stop_words=est.stop_words, dtype=np.float32)
        est.vectorizer_._validate_vocabulary()  # a fixed vocabulary: transform needs no fit
        est.idf_ = state["idf"].numpy()
        est.vocabulary_size_, est._n_features_out = len(vocabulary), est.code_size
        est.history_ = list(section.get("history") or [])
        est._index(state["train_codes"].numpy())
        return est


class SparseRows(torch.utils.data.Dataset):
    """Rows of a sparse matrix as a torch Dataset; a batch is densified at once (``__getitems__``)."""

    def __init__(self, matrix: sp.spmatrix):
        self.matrix = sp.csr_matrix(matrix, dtype=np.float32)

    def __len__(self) -> int:
        return self.matrix.shape[0]

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.from_numpy(self.matrix[i].toarray()[0])

    def __getitems__(self, indices: list[int]) -> list[torch.Tensor]:
        return list(torch.from_numpy(self.matrix[indices].toarray()))  # (B, V) densified once, then rows


def multinomial_nll(logits: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood of word ``counts`` (B, V) under softmax(``logits``), per word of the batch."""
    return -(counts * torch.log_softmax(logits, dim=1)).sum() / counts.sum().clamp_min(1.0)


def check_documents(X: Any, what: str = "document") -> list[str]:
    """``X`` as a list of str: bytes are decoded as UTF-8; anything else that is not text is a DataError."""
    if isinstance(X, (str, bytes)):
        raise DataError(f"expected a list of {what}s, got a single {type(X).__name__}; wrap it in a list")
    if isinstance(X, np.ndarray) and X.ndim != 1:
        raise DataError(f"expected a list of {what}s, got an array of shape {X.shape}")
    try:
        items = list(X)
    except TypeError:
        raise DataError(f"expected a list of {what}s (str), got {type(X).__name__}") from None
    if not items:
        raise DataError(f"empty corpus: no {what}s given")
    docs = []
    for i, item in enumerate(items):
        if isinstance(item, bytes):
            try:
                item = item.decode("utf-8")
            except UnicodeDecodeError:
                raise DataError(f"{what} {i} is bytes that are not UTF-8 text") from None
        if not isinstance(item, str):
            raise DataError(f"{what} {i} is {type(item).__name__} ({item!r:.40}), not text")
        docs.append(item)
    return docs


__all__ = ["LR_SCHEDULES", "WEIGHTINGS", "SparseRows", "TextAutoEncoder", "check_documents", "multinomial_nll"]
