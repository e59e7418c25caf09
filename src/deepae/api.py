"""scikit-learn estimators over the deepae models, objectives and Trainer."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import validate_data

from .errors import CheckpointError, ConfigError, DataError, NotFittedError
from .losses import Objective, resolve_loss
from .presets import AUTO, resolve_model, resolve_training, resolve_validation_fraction, saved_train_config
from .registry import create_model, get_model_class, list_models
from .train import (
    TrainConfig,
    Trainer,
    greedy_pretrain,
    load_trainer_state,
    read_config,
    save_model,
    save_trainer_state,
    transfer_weights,
)
from .train.checkpoint import CHECKPOINT_KEYS, CONFIG_FILE, build_model, load_model

# The sections AutoEncoder.save adds to a checkpoint's config.json (save_model writes CHECKPOINT_KEYS).
_SAVED_SECTIONS = ("estimator", "objective", "train", "data", "history")


class AutoEncoder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """An autoencoder with the scikit-learn interface: ``fit``, ``transform`` (codes), ``inverse_transform``.

    Parameters
    ----------
    model : registered model name ("dense", "vae", "conv", "conv-vae"; see ``deepae.list_models()``).
    code_size : units in the code (bottleneck). ``None`` keeps a conv model's last feature map.
    hidden : encoder hidden sizes, outermost first (units for dense models, channels per level for
        conv models). The decoder mirrors them unless ``model_params={"decoder_hidden": ...}``.
        "auto": one hidden layer of 256 units for the dense autoencoder, the model's own default
        for the others; ``()`` gives the seed's shallow 784-k-784.
    activation, code_activation : hidden and code activations ("relu", "sigmoid", "linear", ...).
        ``code_activation="auto"`` is a linear code (as PCA's) for dense models, the model's own
        default for the others.
    output_activation : "auto" (sigmoid when X lies in [0, 1], else identity), "sigmoid", "identity".
    loss : "auto" (BCE when X lies in [0, 1], else MSE), "bce" or "mse".
    l1, kl_sparsity, rho : sparsity: L1 on code activations; KL to a target mean activation rho.
    contractive : weight of the Jacobian penalty ||dz/dx||_F^2 (exact for one dense layer).
    noise, noise_level : denoising: "gaussian" (std), "masking" or "salt-and-pepper" (fraction).
    beta : weight of the KL term of variational models.
    model_params : any other model hyperparameter (``deepae.models.*Config``), e.g. {"dropout": 0.1}.
    optimizer, lr, optimizer_params, epochs, batch_size, scheduler : training (``TrainConfig``).
        ``batch_size="auto"``: ``min(256, max(32, n_samples // 200))``. ``epochs="auto"``: train
        until the loss on a held-out share of X has not improved for ``early_stopping`` epochs, for
        at most ``auto_epochs(n)`` epochs (a budget of ``AUTO_SAMPLE_BUDGET`` samples seen, at most
        ``AUTO_MAX_EPOCHS``), and keep the best epoch's weights. An integer trains exactly that many
        epochs on all of X, as deepae always did.
    validation_fraction : share of X held out for the per-epoch validation loss; "auto": 0.1 when
        ``epochs="auto"``, else none.
    early_stopping : patience in epochs (monitors the validation loss, else the training loss);
        "auto": 10 when ``epochs="auto"``, else none.
    pretrain_epochs : >0 runs greedy layer-wise pretraining (dense models) before fine-tuning.
    init_from, init_parts, freeze : start from the ``init_parts`` layers of a saved deepae model.
    precision : "fp32" or "bf16" (autocast). device : "auto", "cpu", "cuda", "mps".
    random_state : seeds initialisation, shuffling, noise and VAE sampling for repeatable fits; the
        global torch RNG is left untouched. None draws the seeds from torch's default RNG.
    verbose : show a progress bar.
    """

    def __init__(
        self,
        model: str = "dense",
        code_size: int | None = 32,
        hidden: tuple[int, ...] | str = AUTO,
        activation: str = "relu",
        code_activation: str = AUTO,
        output_activation: str = "auto",
        loss: str = "auto",
        l1: float = 0.0,
        kl_sparsity: float = 0.0,
        rho: float = 0.05,
        contractive: float = 0.0,
        noise: str | None = None,
        noise_level: float = 0.0,
        beta: float = 1.0,
        model_params: dict | None = None,
        optimizer: str = "adam",
        lr: float | None = None,
        optimizer_params: dict | None = None,
        epochs: int | str = AUTO,
        batch_size: int | str = AUTO,
        scheduler: str | None = None,
        validation_fraction: float | str = AUTO,
        early_stopping: int | str | None = AUTO,
        pretrain_epochs: int = 0,
        init_from: str | None = None,
        init_parts: tuple[str, ...] = ("encoder",),
        freeze: bool = False,
        precision: str = "fp32",
        device: str = "auto",
        random_state: int | None = None,
        verbose: bool = False,
    ):
        self.model = model
        self.code_size = code_size
        self.hidden = hidden
        self.activation = activation
        self.code_activation = code_activation
        self.output_activation = output_activation
        self.loss = loss
        self.l1 = l1
        self.kl_sparsity = kl_sparsity
        self.rho = rho
        self.contractive = contractive
        self.noise = noise
        self.noise_level = noise_level
        self.beta = beta
        self.model_params = model_params
        self.optimizer = optimizer
        self.lr = lr
        self.optimizer_params = optimizer_params
        self.epochs = epochs
        self.batch_size = batch_size
        self.scheduler = scheduler
        self.validation_fraction = validation_fraction
        self.early_stopping = early_stopping
        self.pretrain_epochs = pretrain_epochs
        self.init_from = init_from
        self.init_parts = init_parts
        self.freeze = freeze
        self.precision = precision
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # -- configuration ---------------------------------------------------------------------
    def _objective(self) -> Objective:
        return Objective(
            loss=self.loss, l1=self.l1, kl_sparsity=self.kl_sparsity, rho=self.rho, contractive=self.contractive,
            noise=self.noise, noise_level=self.noise_level, beta=self.beta,
        )

    def _train_config(self, n_samples: int | None = None, epochs: int | None = None, device: str | None = None) -> TrainConfig:
        """The training settings for ``n_samples`` training samples ("auto" resolved; None: the largest they can be)."""
        values = resolve_training(self.epochs, self.batch_size, self.early_stopping, n_samples)
        return TrainConfig(
            epochs=values["epochs"] if epochs is None else epochs, batch_size=values["batch_size"],
            optimizer=self.optimizer, lr=self.lr, optimizer_params=dict(self.optimizer_params or {}),
            scheduler=self.scheduler, early_stopping=values["early_stopping"], precision=self.precision,
            device=device or self.device, random_state=self.random_state, progress=bool(self.verbose),
        )

    def _model_config(self, input_shape: tuple[int, ...], output_activation: str) -> dict[str, Any]:
        cls = get_model_class(self.model)
        if cls.image_to_image:
            raise ConfigError(
                f"model={self.model!r} maps images to other images and has no code vector; build it with "
                "deepae.create_model and train it on (input, target) pairs, as deepae.apps.restore does"
            )
        cfg: dict[str, Any] = {
            "input_shape": input_shape,
            "code_size": self.code_size,
            "activation": self.activation,
            "code_activation": self.code_activation,
            "output_activation": output_activation,
        }
        cfg.update(resolve_model(cls, self.hidden, self.code_activation))
        if cfg["code_activation"] is None:
            del cfg["code_activation"]  # the model's own default
        cfg.update(self.model_params or {})
        if cfg["code_size"] is None and cls.fixed_code:
            raise ConfigError(
                f"code_size=None keeps a feature map as the code, which model={self.model!r} cannot; give an integer"
            )
        return cls.config_class.from_dict(cfg).to_dict()

    def _input_shape(self, X: np.ndarray) -> tuple[int, ...]:
        """The model's per-sample shape; flat rows are reshaped to images for conv models."""
        if not get_model_class(self.model).is_image:
            return tuple(X.shape[1:])
        if X.ndim == 4:
            return tuple(X.shape[1:])
        if X.ndim == 3:
            return (1, *X.shape[1:])
        given = (self.model_params or {}).get("input_shape")
        if given is not None:
            return tuple(given)
        side = math.isqrt(X.shape[1])
        if side * side != X.shape[1]:
            raise DataError(
                f"model={self.model!r} got rows of {X.shape[1]} features; pass images (N, C, H, W) or "
                "model_params={'input_shape': (C, H, W)}"
            )
        return (1, side, side)

    # -- data ------------------------------------------------------------------------------
    def _validate(self, X: Any, reset: bool) -> np.ndarray:
        X = validate_data(self, X, dtype=np.float32, allow_nd=True, reset=reset, ensure_min_samples=1)
        if X.ndim > 2 and not reset and tuple(X.shape[1:]) != self.data_shape_:
            raise DataError(f"X has samples of shape {tuple(X.shape[1:])}; this model was fitted on {self.data_shape_}")
        return X

    def _to_tensor(self, X: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)).reshape(len(X), *self.input_shape_)

    def _batched(self, fn, X: torch.Tensor, batch_size: int = 2048) -> np.ndarray:
        self.model_.eval()
        device = next(self.model_.parameters()).device
        with torch.no_grad():
            parts = [fn(chunk.to(device)).float().cpu() for chunk in X.split(batch_size)]
        return torch.cat(parts).numpy() if parts else np.empty((0,), np.float32)

    def _to_data_layout(self, out: np.ndarray) -> np.ndarray:
        return out.reshape(len(out), *self.data_shape_)

    # -- fitting ---------------------------------------------------------------------------
    def fit(
        self, X: Any, y: Any = None, resume: bool = False, validation_data: Any = None, callbacks: tuple = ()
    ) -> "AutoEncoder":
        """Train on ``X`` (``y`` is ignored).

        ``validation_data`` (shaped like X) is scored every epoch (``val_loss`` in ``history_``)
        instead of holding out ``validation_fraction``; ``callbacks`` are ``deepae.train.Callback``
        objects; ``resume=True`` continues a run loaded with ``AutoEncoder.load`` up to ``epochs``.
        """
        objective = self._objective()
        self._train_config()  # bad training parameters fail before the data is touched
        fraction = resolve_validation_fraction(self.validation_fraction, self.epochs)
        if validation_data is not None and self.validation_fraction == AUTO:
            fraction = 0.0  # the given validation data replaces the held-out share
        X = self._validate(X, reset=not resume)
        data = self._prepare_fit(X, objective, resume)
        n_val = int(len(data) * fraction)
        rng = np.random.default_rng(self.random_state)
        order = rng.permutation(len(data)) if n_val else np.arange(len(data))
        train, val = data[order[n_val:]], (data[order[:n_val]] if n_val else None)
        if validation_data is not None:
            val = self._to_tensor(self._validate(validation_data, reset=False))

        self.train_config_ = self._train_config(len(train))
        if self.pretrain_epochs and not resume:
            self.pretrain_history_ = greedy_pretrain(
                self.model_, train, self.objective_, self._train_config(len(train), epochs=int(self.pretrain_epochs))
            )
        self._trainer = Trainer(self.model_, self.objective_, self.train_config_, callbacks=callbacks)
        if resume:
            state = getattr(self, "_resume_state", None)
            if state is None and getattr(self, "_resume_error", None) is not None:
                raise CheckpointError(f"cannot resume: {self._resume_error}")
            if state is None:
                raise CheckpointError(
                    "resume=True needs an estimator loaded with AutoEncoder.load() from a run saved with its optimizer state"
                )
            self._trainer.load_state(state)
        self.history_ = self._trainer.fit(train, val)
        self.model_.eval()
        return self

    def _prepare_fit(self, X: np.ndarray, objective: Objective, resume: bool) -> torch.Tensor:
        if resume:
            self._check_fitted()
            return self._to_tensor(X)
        self.loss_ = resolve_loss(self.loss, X)
        lo, hi = float(X.min()), float(X.max())
        in_unit = lo >= 0.0 and hi <= 1.0
        if self.loss_ == "bce" and not in_unit:
            raise DataError(f"loss='bce' needs data in [0, 1]; X ranges over [{lo:.4g}, {hi:.4g}] (use loss='mse' or rescale)")
        out_act = self.output_activation
        if out_act == "auto":
            out_act = "sigmoid" if in_unit else "identity"
        if self.loss_ == "bce" and out_act != "sigmoid":
            raise ConfigError(f"loss='bce' needs output_activation='sigmoid', got {out_act!r}")
        self.objective_ = objective.resolved(X)
        self.data_shape_ = tuple(X.shape[1:])
        self.input_shape_ = self._input_shape(X)
        if math.prod(self.input_shape_) != math.prod(X.shape[1:]):
            raise DataError(f"model_params input_shape={list(self.input_shape_)} does not match {X.shape[1]} features")
        model_config = self._model_config(self.input_shape_, out_act)
        # Models are built on the CPU: seeding a fork of the CPU RNG makes the initial weights
        # repeatable without touching the caller's global RNG (None draws from it, as usual).
        with torch.random.fork_rng(devices=[], enabled=self.random_state is not None):
            if self.random_state is not None:
                torch.default_generator.manual_seed(int(self.random_state))
            self.model_ = create_model(self.model, **model_config)
        if self.init_from is not None:
            self.transferred_ = transfer_weights(self.model_, self.init_from, self.init_parts, self.freeze)
        self._n_features_out = self.model_.code_dim
        return self._to_tensor(X)

    # -- inference -------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit(X) or AutoEncoder.load(path) first"
            )

    def transform(self, X: Any) -> np.ndarray:
        """Codes of ``X``: (n_samples, code_dim). Variational models return the posterior mean."""
        self._check_fitted()
        X = self._validate(X, reset=False)
        return self._batched(self.model_.encode, self._to_tensor(X))

    def inverse_transform(self, Z: Any) -> np.ndarray:
        """Decode codes ``Z`` back to data space, in the layout ``fit`` saw."""
        self._check_fitted()
        Z = np.asarray(Z, dtype=np.float32)
        if Z.ndim != 2 or Z.shape[1] != self._n_features_out:
            raise DataError(f"codes have shape {Z.shape}; expected (n_samples, {self._n_features_out})")
        return self._to_data_layout(self._batched(self.model_.decode, torch.from_numpy(Z)))

    def reconstruct(self, X: Any) -> np.ndarray:
        """``decode(encode(X))`` in the layout of X."""
        self._check_fitted()
        X = self._validate(X, reset=False)
        return self._to_data_layout(self._batched(lambda x: self.model_(x).x_hat, self._to_tensor(X)))

    def reconstruction_error(self, X: Any) -> np.ndarray:
        """Per-sample reconstruction loss (the fitted BCE or MSE, mean over features): (n_samples,)."""
        self._check_fitted()
        X = self._validate(X, reset=False)
        x = self._to_tensor(X)
        recon = self.objective_.reconstruction
        return self._batched(lambda b: recon(self.model_(b), b, per_sample=True), x)

    def score(self, X: Any, y: Any = None) -> float:
        """Negative mean reconstruction loss (higher is better, as scikit-learn expects)."""
        return -float(np.mean(self.reconstruction_error(X)))

    def layer_outputs(self, X: Any) -> dict[str, np.ndarray]:
        """Every layer's representation of ``X`` (``encoder.i``, ``code``, ``decoder.i``, ``output``)."""
        self._check_fitted()
        X = self._validate(X, reset=False)
        x = self._to_tensor(X)
        self.model_.eval()
        with torch.no_grad():
            outs = self.model_.layer_outputs(x.to(next(self.model_.parameters()).device))
        return {k: (v[0] if isinstance(v, tuple) else v).cpu().numpy() for k, v in outs.items()}

    def sample(self, n_samples: int = 1, random_state: int | None = None) -> np.ndarray:
        """Draw from a variational model's prior and decode: (n_samples, *data shape)."""
        self._check_fitted()
        if not self.model_.variational:
            variational = [m for m in list_models() if get_model_class(m).variational]
            raise ConfigError(f"sample() needs a variational model ({', '.join(variational)}); this one is {self.model!r}")
        # Sample where the model lives; the generator must be on the same device.
        device = next(self.model_.parameters()).device
        gen = torch.Generator(device).manual_seed(int(random_state)) if random_state is not None else None
        self.model_.eval()
        return self._to_data_layout(self.model_.sample(n_samples, generator=gen).float().cpu().numpy())

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    # -- persistence -----------------------------------------------------------------------
    def save(self, path: str | Path, include_optimizer: bool = True) -> Path:
        """Write ``model.safetensors`` + ``config.json`` (and optimizer state for resuming) to ``path``."""
        self._check_fitted()
        params = {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.get_params().items()}
        extra = {
            "estimator": {"class": type(self).__name__, "params": params},
            "objective": self.objective_.to_dict(),
            "train": (getattr(self, "train_config_", None) or self._train_config()).to_dict(),
            "data": {"shape": list(self.data_shape_), "input_shape": list(self.input_shape_),
                     "n_features_in": int(self.n_features_in_)},
            "history": getattr(self, "history_", []),
        }
        path = Path(path)
        save_model(path, self.model_, extra)
        if include_optimizer and getattr(self, "_trainer", None) is not None:
            save_trainer_state(path, self._trainer.state())
        return path

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> "AutoEncoder":
        """Rebuild a fitted estimator saved with ``save`` (weights, configuration, history).

        Every section and parameter of ``config.json`` must be one ``save`` writes: an unknown key
        or a value of the wrong type is a CheckpointError naming it, before any weights are read.
        """
        config = read_config(path)
        source = Path(path) / CONFIG_FILE
        missing = [k for k in ("estimator", "objective", "data") if k not in config]
        if missing:
            raise CheckpointError(f"'{path}' was not saved by AutoEncoder.save (no {missing[0]!r} section)")
        known = CHECKPOINT_KEYS | set(_SAVED_SECTIONS)
        unknown = sorted(set(config) - known)
        if unknown:
            raise CheckpointError(f"'{source}' has unknown key(s) {unknown}; expected some of {sorted(known)}")
        params = config["estimator"].get("params") if isinstance(config["estimator"], dict) else None
        if not isinstance(params, dict):
            raise CheckpointError(f"'{source}': 'estimator' needs a 'params' table of AutoEncoder parameters")
        unknown = sorted(set(params) - set(cls().get_params()))
        if unknown:
            raise CheckpointError(f"'{source}': estimator params hold unknown key(s) {unknown}; expected AutoEncoder parameters")
        try:
            est = cls(**{k: tuple(v) if k in ("hidden", "init_parts") and isinstance(v, list) else v for k, v in params.items()})
            est._train_config(device="cpu")  # validates the training parameters; the device is checked when fitting
            est.train_config_ = saved_train_config(config.get("train"))
            est.objective_ = Objective(**config["objective"])
            data = config["data"]
            est.input_shape_, est.data_shape_ = _sizes(data["input_shape"]), _sizes(data["shape"])
            est.n_features_in_ = data["n_features_in"]
            est.history_ = list(config.get("history") or [])
        except (ConfigError, KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"'{source}' holds an invalid estimator: {type(exc).__name__}: {exc}") from None
        n_in = est.n_features_in_  # scikit-learn's X.shape[1]: the first size of a sample
        if n_in != est.data_shape_[0] or isinstance(n_in, bool) or math.prod(est.input_shape_) != math.prod(est.data_shape_):
            raise CheckpointError(
                f"'{source}': the data section does not add up (shape {list(est.data_shape_)}, input shape "
                f"{list(est.input_shape_)}, n_features_in {n_in!r})"
            )
        est.loss_ = est.objective_.loss
        est.model_ = load_model(path, device=device)
        if tuple(est.model_.input_shape) != est.input_shape_:
            raise CheckpointError(
                f"'{source}': the model takes {list(est.model_.input_shape)} but the data section says {list(est.input_shape_)}"
            )
        est._n_features_out = est.model_.code_dim
        try:
            est._resume_state, est._resume_error = load_trainer_state(path), None
        except CheckpointError as exc:  # fit(resume=True) reports it; everything else works without
            est._resume_state, est._resume_error = None, exc
        return est


def _sizes(values: Any) -> tuple[int, ...]:
    """A recorded shape: a non-empty list of positive integers."""
    sizes = isinstance(values, list) and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values)
    if not (sizes and values):
        raise ValueError(f"a shape must be a non-empty list of positive integers, got {values!r}")
    return tuple(values)


def load(path: str | Path, device: str = "cpu") -> AutoEncoder:
    """Load a saved deepae estimator (see ``AutoEncoder.save``)."""
    return AutoEncoder.load(path, device=device)


__all__ = ["AutoEncoder", "load", "build_model"]
