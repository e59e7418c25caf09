"""``deepae demo`` and ``deepae train``: train a model into a run folder."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import typer

from .. import runs
from ..apps.restore import list_tasks
from ..corruption import NOISE_KINDS
from ..errors import ConfigError
from ..losses import LOSSES
from ..presets import PRESETS
from ..registry import list_models
from ..train import OPTIMIZERS, SCHEDULERS
from ._base import between, choices, console, fmt, get_settings, metrics_table, notifier, value, warn

app = typer.Typer()

ModelName = choices("ModelName", list_models())
PresetName = choices("PresetName", sorted(PRESETS))
LossName = choices("LossName", LOSSES)
OptimizerName = choices("OptimizerName", sorted(OPTIMIZERS))
SchedulerName = choices("SchedulerName", SCHEDULERS)
NoiseName = choices("NoiseName", NOISE_KINDS)
TaskName = choices("TaskName", list_tasks())


@app.command()
def demo(
    ctx: typer.Context,
    data_dir: Optional[Path] = typer.Option(
        None, "--data-dir", help="Folder with the four MNIST .gz files (default: the cache, else download)."
    ),
    epochs: int = typer.Option(50, "--epochs", min=1, help="Epochs to train (the seed trains 50)."),
    out: Path = typer.Option(Path("runs/demo"), "--out", "-o", help="Run folder to write."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing run folder."),
    seed: Optional[int] = typer.Option(0, "--seed", help="Random seed (weights, shuffling)."),
) -> None:
    """Run the blog's demo: a 784-32-784 autoencoder on MNIST, as the seed's Keras code trains it.

    ReLU code, sigmoid output, Adadelta (lr=1.0, rho=0.95, eps=1e-7), BCE, batch 256, 50 epochs,
    with the test set as validation data. Falls back to 5,000 embedded MNIST digits when MNIST
    cannot be found or downloaded. Writes reconstructions.png, loss.png, metrics.json and the model.

    \b
    Example:
      deepae demo --data-dir ~/data/mnist --epochs 5 --out runs/demo
    """
    settings = get_settings(ctx)
    run = runs.demo(data_dir, epochs, out, force, seed, progress=not settings.quiet,
                    notify=notifier(settings), warn=warn)
    m = run.metrics
    data = m["data"]
    pixels = math.prod(data["sample_shape"])
    summary = {
        "BCE (mean per pixel)": m["test"]["bce"],
        f"squared error per image (sum over its {pixels} pixels)": m["test"]["squared_error"],
        "seconds per epoch (median)": m["timing"]["median_epoch_seconds"],
        "samples per second (training)": m["timing"]["samples_per_second"],
    }
    console.print(
        f"Trained on {data['name']} ({data['n_train']:,} train / {data['n_test']:,} test images) from {data['source']}, "
        f"{m['epochs']} epochs on {m['timing']['device']}."
    )
    console.print(metrics_table("Test set", summary))
    console.print(
        f"Wrote {run.path}: {runs.RECONSTRUCTION_FIGURE}, {runs.LOSS_FIGURE}, {runs.METRICS_FILE}, model.safetensors, config.json"
    )
    console.print(f"[bold]Note:[/bold] {runs.KERAS_NOTE}")


@app.command()
def train(
    ctx: typer.Context,
    data: Optional[str] = typer.Option(
        None,
        "--data",
        "-d",
        help="mnist, fashion-mnist, digits, mnist-embedded, an image folder or a .npy/.npz/.csv file "
        "(default: the preset's data, else mnist).",
    ),
    preset: Optional[PresetName] = typer.Option(None, "--preset", "-p", help="Named configuration (see `deepae models`)."),
    config: Optional[Path] = typer.Option(
        None, "--config", "-c", help="JSON, TOML or YAML file of AutoEncoder parameters (may name a preset and data)."
    ),
    model: Optional[ModelName] = typer.Option(None, "--model", help="Registered model."),
    code_size: Optional[int] = typer.Option(None, "--code-size", min=1, help="Units in the code (bottleneck)."),
    hidden: Optional[str] = typer.Option(None, "--hidden", help="Encoder layer sizes, outermost first, e.g. 128,64."),
    activation: Optional[str] = typer.Option(None, "--activation", help="Hidden activation: relu, sigmoid, tanh, elu, gelu, ..."),
    loss: Optional[LossName] = typer.Option(None, "--loss", help="Reconstruction loss."),
    l1: Optional[float] = typer.Option(None, "--l1", min=0, help="L1 activity penalty on the code."),
    kl_sparsity: Optional[float] = typer.Option(None, "--kl-sparsity", min=0, help="Weight of the KL sparsity penalty."),
    rho: Optional[float] = typer.Option(
        None, "--rho", callback=between(0, 1, "0 < x < 1"), help="Target mean activation for --kl-sparsity."
    ),
    contractive: Optional[float] = typer.Option(None, "--contractive", min=0, help="Weight of the contractive penalty."),
    noise: Optional[NoiseName] = typer.Option(None, "--noise", help="Denoising: corrupt the inputs with this noise."),
    noise_level: Optional[float] = typer.Option(None, "--noise-level", min=0, help="Noise std (gaussian) or fraction."),
    beta: Optional[float] = typer.Option(None, "--beta", min=0, help="KL weight of variational models."),
    optimizer: Optional[OptimizerName] = typer.Option(None, "--optimizer", help="Optimizer."),
    lr: Optional[float] = typer.Option(
        None, "--lr", callback=between(0, None, "x > 0"), help="Learning rate (default: the optimizer's)."
    ),
    epochs: Optional[int] = typer.Option(None, "--epochs", min=1, help="Epochs to train (with --resume: the new total)."),
    batch_size: Optional[int] = typer.Option(
        None, "--batch-size", min=1, help="Mini-batch size (under torchrun: the global batch, split across the processes)."
    ),
    scheduler: Optional[SchedulerName] = typer.Option(None, "--scheduler", help="Learning-rate schedule."),
    early_stopping: Optional[int] = typer.Option(
        None, "--early-stopping", min=1, help="Stop after this many epochs without improvement."
    ),
    pretrain_epochs: Optional[int] = typer.Option(
        None, "--pretrain-epochs", min=0, help="Greedy layer-wise pretraining epochs (dense models)."
    ),
    init_from: Optional[Path] = typer.Option(None, "--init-from", help="Start the encoder from this run folder's weights."),
    freeze: Optional[bool] = typer.Option(None, "--freeze/--no-freeze", help="Freeze the weights taken from --init-from."),
    validation_fraction: Optional[float] = typer.Option(
        None,
        "--validation-fraction",
        callback=between(0, 1, "0 <= x < 1", low_open=False),
        help="Share of the training data held out for validation.",
    ),
    data_dir: Optional[Path] = typer.Option(
        None, "--data-dir", help="Folder with MNIST/Fashion-MNIST files (instead of the cache)."
    ),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run folder (default: runs/<preset or model>-<time>)."),
    resume: Optional[Path] = typer.Option(
        None, "--resume",
        help="Continue the run in this folder: a killed run from its last saved epoch, a finished one up to --epochs.",
    ),
    checkpoint_every: int = typer.Option(
        1, "--checkpoint-every", min=0, help="Save the state to resume from every N epochs (0: only at the end)."
    ),
    device: Optional[str] = typer.Option(None, "--device", help="auto, cpu, cuda, cuda:N or mps."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing run folder."),
    task: Optional[TaskName] = typer.Option(None, "--task", help="Train a restoration model on a folder of photos (--data)."),
    factor: Optional[int] = typer.Option(None, "--factor", help="With --task upscale: the enlargement, 2 (default), 3 or 4."),
    minutes: Optional[float] = typer.Option(None, "--minutes", callback=between(0, None, "x > 0"),
                                            help="With --task: the training time budget (default: the task's)."),
) -> None:
    """Train a registered model or a preset and write a run folder (model, metrics.json, loss.png).

    Settings come from the preset, then the --config file, then the options given: later ones win.
    With --task, train a restoration model (denoise, colorize, unwatermark, upscale) on random crops
    of the photos under --data; use it with `deepae TASK ... --model OUT`.

    \b
    Example:
      deepae train --preset keras-deep --data mnist --epochs 10 --out runs/deep
      deepae train --task upscale --data my_photos/ --out runs/sr --minutes 20
      deepae train --resume runs/deep --epochs 20   (a killed run: --resume runs/deep)
    """
    # Options named like AutoEncoder parameters pass straight through; three need converting.
    options = {k: value(v) for k, v in locals().items() if k in runs.ESTIMATOR_PARAMS}
    options.update(random_state=seed, hidden=None if hidden is None else runs.parse_sizes(hidden),
                   init_from=None if init_from is None else str(init_from))
    settings = get_settings(ctx)
    if factor is not None and value(task) != "upscale":
        fix = "drop it" if task is None else "drop it or use --task upscale"
        raise ConfigError(f"--factor is the enlargement of --task upscale; {fix}")
    if task is not None:
        given = sorted(k for k, v in options.items() if v is not None and k not in ("epochs", "random_state"))
        given += [k for k, v in {"preset": preset, "config": config, "resume": resume}.items() if v is not None]
        if given:
            names = ", ".join("--" + k.replace("_", "-") for k in given)
            raise ConfigError(f"--task trains a restoration model with its own settings; drop {names}")
        _train_task(value(task), data, out, force, minutes, epochs, seed, factor, settings)
        return
    if resume is not None:
        extra = sorted(k for k, v in options.items() if v is not None and k not in ("epochs", "device"))
        given = [k for k, v in {"--preset": preset, "--config": config, "--data": data, "--out": out}.items() if v is not None]
        if extra or given:
            names = given + ["--" + k.replace("_", "-").replace("random-state", "seed") for k in extra]
            raise ConfigError(f"--resume continues a run with its own configuration; drop {', '.join(names)}")
        run = runs.resume(resume, epochs=epochs, device=device, progress=not settings.quiet, notify=notifier(settings),
                          checkpoint_every=checkpoint_every)
    else:
        file_values = runs.read_config_file(config) if config is not None else {}
        params, preset_name, data_spec = runs.resolve_params(
            value(preset), file_values, {**options, "verbose": not settings.quiet}
        )
        spec = runs.DataSpec.parse(data or data_spec or "mnist", data_dir or file_values.get("data_dir"))
        target = out or runs.default_run_dir(preset_name, params.get("model", "dense"))
        run = runs.train(params, spec, target, preset=preset_name, force=force, notify=notifier(settings),
                         checkpoint_every=checkpoint_every)
    _print_run(run)


def _train_task(task: str, data: Optional[str], out: Optional[Path], force: bool, minutes: Optional[float],
                epochs: Optional[int], seed: Optional[int], factor: Optional[int], settings) -> None:
    from ..apps.restore import train_task
    from ..apps.upscale import variant_of

    if data is None or out is None:
        raise ConfigError(f"--task {task} needs --data (a folder of photos) and --out (the run folder to write)")
    variant = variant_of(factor or 2) if task == "upscale" else None
    runs.prepare_run_dir(out, force)
    result = train_task(task, [data], out, minutes=minutes, epochs=epochs or 10_000, seed=seed or 0, variant=variant,
                        progress=not settings.quiet, notify=notifier(settings))
    last = result.history[-1]["loss"] if result.history else float("nan")
    console.print(f"{result.epochs} epochs in {result.seconds / 60:.1f} min, last training loss {fmt(last)}")
    console.print(f"Wrote {result.path}; use it with `deepae {task} IMAGE -o OUT --model {result.path}`")


def _print_run(run: runs.Run) -> None:
    m = run.metrics
    if not m:  # a rank other than 0 under torchrun: rank 0 wrote the run folder and reports it
        return
    if m.get("test"):
        console.print(metrics_table(f"Test metrics ({m['data']['n_test']:,} samples, {m['data']['test']})", m["test"]))
    timing = m["timing"]
    console.print(f"{m['epochs']} epochs, {fmt(timing['median_epoch_seconds'])} s per epoch (median), "
               f"{fmt(timing['samples_per_second'])} samples/s on {timing['device']}")
    console.print(f"Wrote {run.path}")
