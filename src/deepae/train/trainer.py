"""A small training loop that knows models only through ``loss_fn(model, batch[, generator=]) -> (loss, terms)``."""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError, TrainingDivergedError
from ._cpu import ThreadPolicy, cpu_settings, flush_denormal_enabled  # noqa: F401  (re-exported for tests)
from .callbacks import Callback, EarlyStopping, ProgressBar
from .distributed import DistContext, all_reduce_max, all_reduce_sum, init_distributed
from .optim import OPTIMIZERS, SCHEDULERS, build_optimizer, build_scheduler

Batch = torch.Tensor | tuple[torch.Tensor, ...]
# ``loss_fn(model, batch)``, or ``loss_fn(model, batch, generator=...)`` when it takes a ``generator``
# keyword: its training-time randomness (noise, VAE samples) then comes from the trainer (see Trainer).
LossFn = Callable[..., tuple[torch.Tensor, dict[str, torch.Tensor]]]


@dataclass
class TrainConfig:
    """How to train; every field is saved in the checkpoint's config.json."""

    epochs: int = 50
    batch_size: int = 256  # the global batch: under torchrun the ranks split each batch between them
    optimizer: str = "adam"
    lr: float | None = None  # None: the optimizer's own default (optim.OPTIMIZERS)
    optimizer_params: dict[str, Any] = field(default_factory=dict)
    scheduler: str | None = None
    scheduler_params: dict[str, Any] = field(default_factory=dict)
    shuffle: bool = True
    early_stopping: int | None = None  # patience in epochs; monitors val_loss, else loss
    min_delta: float = 0.0
    grad_clip: float | None = None
    precision: str = "fp32"  # or "bf16": autocast the forward pass
    device: str = "auto"
    num_threads: int | None = None  # None: OMP_NUM_THREADS if set, else one per core other processes leave free
    num_workers: int = 0  # DataLoader worker processes reading a Dataset (e.g. decoding images); 0: in this process
    random_state: int | None = None
    progress: bool = True
    eval_batch_size: int = 2048
    # Flush subnormal floats to zero on the CPU while training: optimizer state of units that stop
    # getting gradient decays into the subnormal range, where x86 arithmetic is many times slower.
    flush_denormal: bool = True

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        if not isinstance(self.num_workers, int) or isinstance(self.num_workers, bool) or self.num_workers < 0:
            raise ConfigError(f"num_workers={self.num_workers!r}; expected an integer >= 0")
        for name in ("epochs", "batch_size", "eval_batch_size"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < (0 if name == "epochs" else 1):
                raise ConfigError(f"{name}={value!r}; expected an integer >= {0 if name == 'epochs' else 1}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer={self.optimizer!r}; expected one of {sorted(OPTIMIZERS)}")
        if self.lr is not None and not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise ConfigError(f"lr={self.lr!r}; expected a learning rate > 0 or None")
        if self.scheduler not in (None, *SCHEDULERS):
            raise ConfigError(f"scheduler={self.scheduler!r}; expected one of {list(SCHEDULERS)} or None")
        if self.early_stopping is not None and self.early_stopping < 1:
            raise ConfigError(f"early_stopping={self.early_stopping!r}; expected a patience >= 1 or None")
        if self.precision not in ("fp32", "bf16"):
            raise ConfigError(f"precision={self.precision!r}; expected 'fp32' or 'bf16'")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ConfigError(f"grad_clip={self.grad_clip!r}; expected a norm > 0 or None")
        resolve_device(self.device)  # raises on an unknown or unavailable device

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def resolve_device(name: str | torch.device) -> torch.device:
    """"auto" -> cuda, then mps, then cpu; an explicit device must exist."""
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"device={name!r}; expected 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device={name!r} but CUDA is not available on this machine; use 'auto' or 'cpu'")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device={name!r} but MPS is not available on this machine; use 'auto' or 'cpu'")
    return device


def _takes_generator(fn: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return False
    return any(p.name == "generator" or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


class Trainer:
    """Fit ``model`` by minimising ``loss_fn`` over mini-batches.

    Data may be tensors (or arrays) held in memory -- the fast path: one device copy, one
    permutation per epoch, batches are index slices, no per-sample Python work -- or any
    ``torch.utils.data.Dataset``/``DataLoader`` for data that does not fit. A Dataset is read in
    the same index batches as tensors would be, so both paths train alike.

    Under torchrun (several processes) ``config.batch_size`` is still the global batch: each rank
    computes its share of every batch, DDP averages the gradients, and the loss curve matches one
    process's at the same batch size to float rounding (for losses that are means over samples).
    A caller's own DataLoader must then carry a ``DistributedSampler``.

    No process-wide state changes behind the caller's back. The thread count and flush-denormal
    mode are set only while ``fit``/``evaluate`` run. All randomness comes from the trainer's own
    CPU ``torch.Generator``, seeded from ``config.random_state``, or when that is None once at
    construction from a draw of torch's default RNG (so ``torch.manual_seed`` before building the
    trainer still makes it repeatable). The generator shuffles the data. At the start of each epoch
    it also gives two seeds. One seeds a generator on the training device that is passed to
    ``loss_fn(..., generator=)`` (input noise, VAE samples). The other seeds the default RNG, forked
    for the epoch, for what cannot take a generator (dropout). Its state is saved in ``state()``, so
    a resumed run draws exactly what one run would.
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: LossFn,
        config: TrainConfig | None = None,
        callbacks: Sequence[Callback] = (),
    ):
        self.config = config or TrainConfig()
        self.device = resolve_device(self.config.device)
        self.dist: DistContext = init_distributed(self.device)
        self.module = model.to(self.device)
        self.model = self._wrap(self.module)
        self.loss_fn = loss_fn
        self._loss_takes_generator = _takes_generator(loss_fn)
        self.callbacks = list(callbacks)
        if self.config.early_stopping:
            self.callbacks.append(EarlyStopping(self.config.early_stopping, min_delta=self.config.min_delta))
        self.callbacks.sort(key=lambda cb: getattr(cb, "order", 0))  # stable: checkpoints last, after every decision
        if self.config.progress and self.dist.is_main:
            self.callbacks.insert(0, ProgressBar())
        self.optimizer = build_optimizer(
            self.config.optimizer, self.module.parameters(), self.config.lr, **self.config.optimizer_params
        )
        self.scheduler, self._sched_when = None, "never"
        self.history: list[dict[str, float]] = []
        self.epoch = 0  # epochs completed so far (resuming starts from here)
        self.stop_training = False
        self._pending_scheduler_state: dict[str, Any] | None = None
        self._pending_callback_states: dict[str, Any] = {}
        seed = self.config.random_state
        if seed is None:
            seed = self._shared_seed(int(torch.randint(2**62, ())))
        self._generator = torch.Generator().manual_seed(int(seed))
        self.threads = ThreadPolicy(self.config.num_threads)

    def _shared_seed(self, seed: int) -> int:
        """Rank 0's ``seed`` on every rank: all ranks must draw the same permutations."""
        if not self.dist.enabled:
            return seed
        value = torch.tensor([seed], dtype=torch.int64, device=self.device if self.device.type == "cuda" else "cpu")
        torch.distributed.broadcast(value, src=0)
        return int(value.item())

    def _wrap(self, module: nn.Module) -> nn.Module:
        if not self.dist.enabled:
            return module
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.dist.local_rank] if self.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=ids)

    # -- data ------------------------------------------------------------------------------
    def _as_tensors(self, data: Any) -> tuple[torch.Tensor, ...] | None:
        """In-memory data as a tuple of equal-length tensors on the device; None for Datasets."""
        if isinstance(data, (torch.utils.data.Dataset, torch.utils.data.DataLoader)):
            return None
        parts = data if isinstance(data, (tuple, list)) else (data,)
        tensors = tuple(torch.as_tensor(np.asarray(p, dtype=np.float32) if not torch.is_tensor(p) else p) for p in parts)
        tensors = tuple(t.float().to(self.device) for t in tensors)
        if len({len(t) for t in tensors}) != 1:
            raise ConfigError(f"inputs and targets differ in length: {[len(t) for t in tensors]}")
        return tensors

    def _train_steps(self, n: int, device: torch.device) -> Iterator[tuple[torch.Tensor, float]]:
        """This rank's (indices, loss weight) for each step of one epoch over ``n`` samples.

        Every rank walks the same seeded permutation in global batches of ``batch_size`` and takes
        every ``world_size``-th sample of each: all ranks take the same number of steps for any
        ``n`` (none waits in an all-reduce the others never reach) and together see the batches one
        process would. The weight makes DDP's mean of the ranks' gradients the gradient of the mean
        over the whole batch when shares differ by a sample. A rank with no sample (a last batch
        smaller than the world) recomputes one with weight 0: it joins the all-reduce, adding nothing.
        """
        cfg, world, rank = self.config, self.dist.world_size, self.dist.rank
        order = torch.randperm(n, generator=self._generator) if cfg.shuffle else torch.arange(n)
        for batch in order.to(device).split(cfg.batch_size):
            share = batch[rank::world]
            if world == 1:
                yield batch, 1.0
            elif len(share):
                yield share, len(share) * world / len(batch)
            else:
                yield batch[:1], 0.0

    def _batches(self, data: Any, tensors: tuple[torch.Tensor, ...] | None, train: bool) -> Iterator[tuple[Batch, float]]:
        """(batch on the device, loss weight): this rank's training steps, or every evaluation batch."""
        if isinstance(data, torch.utils.data.DataLoader):  # the caller's own batches
            if train and isinstance(data.sampler, torch.utils.data.distributed.DistributedSampler):
                data.sampler.set_epoch(self.epoch)  # a new split of a new shuffle every epoch
            batches = ((b, 1.0) for b in data)
        elif not train:
            n, size = len(tensors[0] if tensors is not None else data), self.config.eval_batch_size
            batches = ((idx, 1.0) for idx in torch.arange(n, device=self.device if tensors else "cpu").split(size))
        else:
            batches = self._train_steps(len(tensors[0] if tensors is not None else data), self.device if tensors else "cpu")
        if tensors is not None:
            # index_select gathers rows ~5x faster than advanced indexing on the CPU
            for idx, weight in batches:
                batch = tuple(t.index_select(0, idx) for t in tensors)
                yield batch[0] if len(batch) == 1 else batch, weight
            return
        if not isinstance(data, torch.utils.data.DataLoader):
            # A Dataset is read lazily, sample by sample, in the same index batches as tensors.
            steps = list(batches)
            loader = torch.utils.data.DataLoader(data, batch_sampler=[i.tolist() for i, _ in steps],
                                                 num_workers=self.config.num_workers)
            batches = zip(loader, (w for _, w in steps))
        for batch, weight in batches:
            batch = batch if isinstance(batch, (tuple, list)) else (batch,)
            batch = tuple(b.float().to(self.device, non_blocking=True) for b in batch)
            yield batch[0] if len(batch) == 1 else batch, weight

    # -- the loop --------------------------------------------------------------------------
    def _autocast(self):
        enabled = self.config.precision == "bf16"
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=enabled)

    def _cpu_settings(self, adapt: bool = False):
        """Threads (see ``_cpu``: adapted to the load while fitting) and flush-denormal mode, for this call only."""
        return cpu_settings(self.device, self.threads, self.config.flush_denormal, adapt=adapt)

    @contextlib.contextmanager
    def _forked_rng(self, seed: int) -> Iterator[None]:
        """The default RNG (CPU, and the CUDA device trained on) seeded with ``seed``, restored afterwards."""
        if self.device.type == "cuda":
            index = self.device.index if self.device.index is not None else torch.cuda.current_device()
            with torch.random.fork_rng(devices=[index], device_type="cuda"):
                torch.default_generator.manual_seed(seed)
                with torch.cuda.device(index):
                    torch.cuda.manual_seed(seed)  # this device only, unlike torch.manual_seed
                yield
            return
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(seed)
            yield

    def _loss(self, batch: Batch, generator: torch.Generator | None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if generator is not None and self._loss_takes_generator:
            return self.loss_fn(self.model, batch, generator=generator)
        return self.loss_fn(self.model, batch)

    def fit(self, train_data: Any, val_data: Any = None) -> list[dict[str, float]]:
        """Train for the configured epochs (from ``self.epoch`` when resuming); returns the history."""
        with self._cpu_settings(adapt=True):
            return self._fit(train_data, val_data)

    def _fit(self, train_data: Any, val_data: Any) -> list[dict[str, float]]:
        cfg = self.config
        train_t = self._as_tensors(train_data)
        val_t = self._as_tensors(val_data) if val_data is not None else None
        loader = isinstance(train_data, torch.utils.data.DataLoader)
        if loader and self.dist.enabled and not isinstance(train_data.sampler, torch.utils.data.distributed.DistributedSampler):
            raise ConfigError(
                f"a DataLoader under {self.dist.world_size} processes: every rank would train on all of it; pass the "
                "Dataset itself (the Trainer splits each batch across the ranks) or give the loader a DistributedSampler"
            )
        n_train = len(train_t[0]) if train_t is not None else len(train_data)  # a loader's length: its batches
        if n_train == 0:
            raise ConfigError("training data is empty")
        if self.scheduler is None:
            steps = n_train if loader else max(math.ceil(n_train / cfg.batch_size), 1)
            self.scheduler, self._sched_when = build_scheduler(
                cfg.scheduler, self.optimizer, cfg.epochs, steps, **cfg.scheduler_params
            )
            if self.scheduler is not None and self._pending_scheduler_state is not None:
                self.scheduler.load_state_dict(self._pending_scheduler_state)
        self.stop_training = False
        for cb in self.callbacks:
            cb.on_train_begin(self)
        for cb in self.callbacks:  # a resumed run's early-stopping record and the like
            if type(cb).__name__ in self._pending_callback_states:
                cb.load_state_dict(self, self._pending_callback_states.pop(type(cb).__name__))
        try:
            while self.epoch < cfg.epochs and not self.stop_training:
                logs = self._train_epoch(train_data, train_t)
                if val_data is not None:
                    with torch.no_grad():  # inside fit's CPU settings: no second setting of threads
                        logs.update({f"val_{k}": v for k, v in self._evaluate(val_data, val_t).items()})
                self._step_scheduler("epoch", logs)
                logs["lr"] = self.optimizer.param_groups[0]["lr"]
                self.history.append(logs)
                self.epoch += 1
                self.threads.epoch_end()
                for cb in self.callbacks:
                    cb.on_epoch_end(self, self.epoch - 1, logs)
                # Ranks stop together (a time limit can expire on one rank first): one waiting alone would hang.
                self.stop_training = bool(all_reduce_max(torch.tensor(float(self.stop_training)), self.dist))
        finally:
            for cb in self.callbacks:
                cb.on_train_end(self)
        return self.history

    def _train_epoch(self, data: Any, tensors: tuple[torch.Tensor, ...] | None) -> dict[str, float]:
        self.model.train()
        start = time.perf_counter()
        sums: dict[str, torch.Tensor] = {}
        count = 0
        # Two seeds per epoch, drawn before the shuffle: one for the loss's generator, one for the
        # forked default RNG (dropout). Distinct seeds: noise and dropout masks must not be correlated.
        # Each rank adds its rank, so ranks corrupt their different samples with different noise.
        loss_seed, rng_seed = (int(s) + self.dist.rank for s in torch.randint(2**62, (2,), generator=self._generator))
        generator = torch.Generator(self.device).manual_seed(loss_seed)
        with self._forked_rng(rng_seed):
            for batch, weight in self._batches(data, tensors, train=True):
                with self._autocast():
                    loss, terms = self._loss(batch, generator)
                self.optimizer.zero_grad(set_to_none=True)
                (loss if weight == 1.0 else loss * weight).backward()
                if self.config.grad_clip:
                    nn.utils.clip_grad_norm_(self.module.parameters(), self.config.grad_clip)
                self.optimizer.step()
                self._step_scheduler("step")
                # Accumulate on the device: no host sync per step. A weight-0 stand-in sample counts for nothing.
                bs = len(batch[0] if isinstance(batch, tuple) else batch) if weight else 0
                self._accumulate(sums, loss, terms, bs)
                count += bs
        if self.dist.enabled:
            # Sums and counts over all ranks: the mean per sample of the whole epoch, as one process logs it.
            total = all_reduce_sum(torch.stack([*sums.values(), torch.tensor(float(count), device=self.device)]), self.dist)
            logs = {k: float(v / total[-1]) for k, v in zip(sums, total[:-1])}
        else:
            logs = {k: float(v / count) for k, v in sums.items()}
        if not math.isfinite(logs["loss"]):
            raise TrainingDivergedError(
                f"training loss became {logs['loss']} at epoch {self.epoch + 1}; lower lr (now "
                f"{self.optimizer.param_groups[0]['lr']}) or check the data for extreme values"
            )
        logs["time"] = time.perf_counter() - start
        return logs

    @staticmethod
    def _accumulate(sums: dict[str, torch.Tensor], loss: torch.Tensor, terms: dict[str, torch.Tensor], n: int) -> None:
        """Add batch sums on the device (no host sync per step); a lone term is the loss itself."""
        loss = loss.detach().float() * n
        sums["loss"] = sums.get("loss", 0) + loss
        for k, v in terms.items():
            sums[k] = sums.get(k, 0) + (loss if len(terms) == 1 else v.detach().float() * n)

    @torch.no_grad()
    def evaluate(self, data: Any, tensors: tuple[torch.Tensor, ...] | None = None) -> dict[str, float]:
        """Mean loss terms over ``data`` in eval mode (no corruption, no dropout, VAE uses mu)."""
        with self._cpu_settings():
            return self._evaluate(data, tensors)

    def _evaluate(self, data: Any, tensors: tuple[torch.Tensor, ...] | None) -> dict[str, float]:
        if tensors is None and not isinstance(data, (torch.utils.data.Dataset, torch.utils.data.DataLoader)):
            tensors = self._as_tensors(data)
        self.model.eval()
        sums: dict[str, torch.Tensor] = {}
        count = 0
        for batch, _ in self._batches(data, tensors, train=False):
            with self._autocast():
                loss, terms = self._loss(batch, None)  # eval mode draws nothing
            bs = len(batch[0] if isinstance(batch, tuple) else batch)
            self._accumulate(sums, loss, terms, bs)
            count += bs
        return {k: float(v / count) for k, v in sums.items()}

    def _step_scheduler(self, when: str, logs: dict[str, float] | None = None) -> None:
        if self.scheduler is None:
            return
        if when == "epoch" and self._sched_when == "metric":
            self.scheduler.step(logs.get("val_loss", logs["loss"]))
        elif when == self._sched_when:
            self.scheduler.step()

    # -- resuming --------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Everything needed to resume besides the model weights."""
        return {
            "epoch": self.epoch,
            "history": self.history,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "generator": self._generator.get_state(),
            # Keyed by class name: a trainer has one callback of each kind that keeps state.
            "callbacks": {type(cb).__name__: st for cb in self.callbacks if (st := cb.state_dict()) is not None},
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.epoch = int(state["epoch"])
        self.history = list(state["history"])
        self.optimizer.load_state_dict(state["optimizer"])
        if state.get("generator") is not None:
            self._generator.set_state(state["generator"])
        self._pending_scheduler_state = state.get("scheduler")
        self._pending_callback_states = dict(state.get("callbacks") or {})
