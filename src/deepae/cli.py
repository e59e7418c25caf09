"""The ``deepae`` command: parse, call ``deepae.runs`` (the library), print.

Every user error becomes one line on stderr and exit code 2; ``deepae --debug CMD`` shows the
traceback instead.
"""

from __future__ import annotations

import enum
import importlib
import io
import json
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from . import __version__, runs
from .corruption import NOISE_KINDS
from .errors import ConfigError, DeepAEError
from .losses import LOSSES
from .metrics import LABELS
from .presets import PRESETS
from .registry import list_models
from .train import OPTIMIZERS, SCHEDULERS

# Choices are enums built from the library's own tables, so --help lists them and a typo is refused.
ModelName = enum.Enum("ModelName", [(m, m) for m in list_models()], type=str)
PresetName = enum.Enum("PresetName", [(p, p) for p in sorted(PRESETS)], type=str)
LossName = enum.Enum("LossName", [(name, name) for name in LOSSES], type=str)
OptimizerName = enum.Enum("OptimizerName", [(o, o) for o in sorted(OPTIMIZERS)], type=str)
SchedulerName = enum.Enum("SchedulerName", [(s, s) for s in SCHEDULERS], type=str)
NoiseName = enum.Enum("NoiseName", [(n, n) for n in NOISE_KINDS], type=str)


# Click's usage errors: Typer >= 0.2x vendors Click and raises them as TyperException, older Typer as Click's.
_ClickError = getattr(typer, "TyperException", None) or importlib.import_module("click").ClickException


class MapMethod(str, enum.Enum):
    pca = "pca"
    tsne = "tsne"


class Split(str, enum.Enum):
    train = "train"
    test = "test"
    all = "all"


@dataclass
class Settings:
    debug: bool = False
    quiet: bool = False


def _one_line(message: Any) -> str:
    return " ".join(str(message).split())


def _exit_code(exc: BaseException) -> int:
    """2 for what a user can fix (bad values, files, data, a diverging run), 1 for a bug."""
    # ValueError: scikit-learn's input validation; OSError: unreadable or unwritable files, full disks
    user = (DeepAEError, ValueError, OSError, FloatingPointError)
    return 2 if isinstance(exc, user) else 1


def _silence_stdout() -> None:
    """Point stdout at /dev/null so Python's final flush does not fail on the closed pipe again."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        pass


class _Group(TyperGroup):
    """Turns exceptions into one line on stderr and an exit code, unless --debug."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, _ClickError):
            raise
        except Exception as exc:
            if isinstance(ctx.obj, Settings) and ctx.obj.debug:
                raise
            if isinstance(exc, BrokenPipeError):  # `deepae models | head`: the reader left; no error to report
                _silence_stdout()
                raise typer.Exit(1) from None
            code = _exit_code(exc)
            message = _one_line(exc) if code == 2 else f"internal error: {type(exc).__name__}: {_one_line(exc)} (rerun with --debug for the traceback)"
            print(f"error: {message}", file=sys.stderr)
            raise typer.Exit(code) from None

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        # Click's usage errors (unknown option, bad value, missing argument) get the same one-line form.
        try:
            code = super().main(args=args, prog_name=prog_name, complete_var=complete_var, standalone_mode=False, **extra)
        except _ClickError as exc:
            code = getattr(exc, "exit_code", 2)
            if type(exc).__name__ == "NoArgsIsHelpError":  # plain `deepae`: the help, not an error
                print(exc.format_message())
                code = 0
            else:
                where = getattr(getattr(exc, "ctx", None), "command_path", "deepae")
                print(f"error: {_one_line(exc.format_message())} (see '{where} --help')", file=sys.stderr)
        except typer.Abort:
            print("aborted", file=sys.stderr)
            code = 1
        code = code if isinstance(code, int) else 0
        if not standalone_mode:
            return code
        sys.exit(code)


app = typer.Typer(
    cls=_Group,
    name="deepae",
    help="Deep autoencoders: train, evaluate, export and report, from the command line.\n\n"
    "\b\nExample:\n  deepae demo --epochs 5\n  deepae report runs/demo",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
_out = Console(highlight=False)


def _version(value: bool) -> None:
    if value:
        print(f"deepae {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    debug: bool = typer.Option(False, "--debug", help="Show the full traceback of an error."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Hide progress bars and progress messages."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    ctx.obj = Settings(debug=debug, quiet=quiet)


def _settings(ctx: typer.Context) -> Settings:
    return ctx.find_root().obj or Settings()


def _progress(settings: Settings):
    """The ``notify`` callback of deepae.runs: progress messages, silenced by --quiet."""
    return (lambda _: None) if settings.quiet else (lambda msg: _out.print(f"[dim]{msg}[/dim]"))


def _warn(msg: str) -> None:
    _out.print(f"[yellow]note:[/yellow] {msg}")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "" if value is None else str(value)


def _metrics_table(title: str, metrics: dict[str, Any]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        table.add_row(LABELS.get(key, key), _fmt(value))
    return table


def _between(low: float, high: float | None, shown: str, low_open: bool = True):
    """An option callback refusing values outside (low, high), or [low, high) with ``low_open=False``."""

    def check(value: float | None) -> float | None:
        if value is None:
            return value
        above = value > low if low_open else value >= low
        if not (above and (high is None or value < high)):
            raise typer.BadParameter(f"{value} is not in the range {shown}")
        return value

    return check


# -- demo ------------------------------------------------------------------------------------
@app.command()
def demo(
    ctx: typer.Context,
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Folder with the four MNIST .gz files (default: the cache, else download)."),
    epochs: int = typer.Option(50, "--epochs", min=0, help="Epochs to train (the seed trains 50)."),
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
    settings = _settings(ctx)
    run = runs.demo(data_dir, epochs, out, force, seed, progress=not settings.quiet,
                    notify=_progress(settings), warn=_warn)
    m = run.metrics
    data = m["data"]
    pixels = math.prod(data["sample_shape"])
    summary = {
        "BCE (mean per pixel)": m["test"]["bce"],
        f"squared error per image (sum over its {pixels} pixels)": m["test"]["squared_error"],
        "seconds per epoch (median)": m["timing"]["median_epoch_seconds"],
        "samples per second (training)": m["timing"]["samples_per_second"],
    }
    _out.print(f"Trained on {data['name']} ({data['n_train']:,} train / {data['n_test']:,} test images) from {data['source']}, "
               f"{m['epochs']} epochs on {m['timing']['device']}.")
    _out.print(_metrics_table("Test set", summary))
    _out.print(f"Wrote {run.path}: {runs.RECONSTRUCTION_FIGURE}, {runs.LOSS_FIGURE}, {runs.METRICS_FILE}, model.safetensors, config.json")
    _out.print(f"[bold]Note:[/bold] {runs.KERAS_NOTE}")


# -- train -----------------------------------------------------------------------------------
def _value(v: Any) -> Any:
    return v.value if isinstance(v, enum.Enum) else v


@app.command()
def train(
    ctx: typer.Context,
    data: Optional[str] = typer.Option(None, "--data", "-d", help="mnist, fashion-mnist, digits, mnist-embedded, an image folder or a .npy/.npz/.csv file (default: the preset's data, else mnist)."),
    preset: Optional[PresetName] = typer.Option(None, "--preset", "-p", help="Named configuration (see `deepae models`)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="JSON, TOML or YAML file of AutoEncoder parameters (may name a preset and data)."),
    model: Optional[ModelName] = typer.Option(None, "--model", help="Registered model."),
    code_size: Optional[int] = typer.Option(None, "--code-size", min=1, help="Units in the code (bottleneck)."),
    hidden: Optional[str] = typer.Option(None, "--hidden", help="Encoder layer sizes, outermost first, e.g. 128,64."),
    activation: Optional[str] = typer.Option(None, "--activation", help="Hidden activation: relu, sigmoid, tanh, elu, gelu, ..."),
    loss: Optional[LossName] = typer.Option(None, "--loss", help="Reconstruction loss."),
    l1: Optional[float] = typer.Option(None, "--l1", min=0, help="L1 activity penalty on the code."),
    kl_sparsity: Optional[float] = typer.Option(None, "--kl-sparsity", min=0, help="Weight of the KL sparsity penalty."),
    rho: Optional[float] = typer.Option(None, "--rho", callback=_between(0, 1, "0 < x < 1"), help="Target mean activation for --kl-sparsity."),
    contractive: Optional[float] = typer.Option(None, "--contractive", min=0, help="Weight of the contractive penalty."),
    noise: Optional[NoiseName] = typer.Option(None, "--noise", help="Denoising: corrupt the inputs with this noise."),
    noise_level: Optional[float] = typer.Option(None, "--noise-level", min=0, help="Noise std (gaussian) or fraction."),
    beta: Optional[float] = typer.Option(None, "--beta", min=0, help="KL weight of variational models."),
    optimizer: Optional[OptimizerName] = typer.Option(None, "--optimizer", help="Optimizer."),
    lr: Optional[float] = typer.Option(None, "--lr", callback=_between(0, None, "x > 0"), help="Learning rate (default: the optimizer's)."),
    epochs: Optional[int] = typer.Option(None, "--epochs", min=0, help="Epochs to train (with --resume: the new total)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, help="Mini-batch size."),
    scheduler: Optional[SchedulerName] = typer.Option(None, "--scheduler", help="Learning-rate schedule."),
    early_stopping: Optional[int] = typer.Option(None, "--early-stopping", min=1, help="Stop after this many epochs without improvement."),
    pretrain_epochs: Optional[int] = typer.Option(None, "--pretrain-epochs", min=0, help="Greedy layer-wise pretraining epochs (dense models)."),
    init_from: Optional[Path] = typer.Option(None, "--init-from", help="Start the encoder from this run folder's weights."),
    freeze: Optional[bool] = typer.Option(None, "--freeze/--no-freeze", help="Freeze the weights taken from --init-from."),
    validation_fraction: Optional[float] = typer.Option(None, "--validation-fraction", callback=_between(0, 1, "0 <= x < 1", low_open=False), help="Share of the training data held out for validation."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Folder with MNIST/Fashion-MNIST files (instead of the cache)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run folder (default: runs/<preset or model>-<time>)."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue the run in this folder up to --epochs."),
    device: Optional[str] = typer.Option(None, "--device", help="auto, cpu, cuda, cuda:N or mps."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing run folder."),
) -> None:
    """Train a registered model or a preset and write a run folder (model, metrics.json, loss.png).

    Settings come from the preset, then the --config file, then the options given: later ones win.

    \b
    Example:
      deepae train --preset keras-deep --data mnist --epochs 10 --out runs/deep
    """
    settings = _settings(ctx)
    options = {
        "model": model, "code_size": code_size, "hidden": None if hidden is None else runs.parse_sizes(hidden),
        "activation": activation, "loss": loss, "l1": l1, "kl_sparsity": kl_sparsity, "rho": rho,
        "contractive": contractive, "noise": noise, "noise_level": noise_level, "beta": beta, "optimizer": optimizer,
        "lr": lr, "epochs": epochs, "batch_size": batch_size, "scheduler": scheduler, "early_stopping": early_stopping,
        "pretrain_epochs": pretrain_epochs, "init_from": None if init_from is None else str(init_from), "freeze": freeze,
        "validation_fraction": validation_fraction, "device": device, "random_state": seed,
    }
    options = {k: _value(v) for k, v in options.items()}
    if resume is not None:
        extra = sorted(k for k, v in options.items() if v is not None and k not in ("epochs", "device"))
        given = [k for k, v in {"--preset": preset, "--config": config, "--data": data, "--out": out}.items() if v is not None]
        if extra or given:
            names = given + ["--" + k.replace("_", "-").replace("random-state", "seed") for k in extra]
            raise ConfigError(f"--resume continues a run with its own configuration; drop {', '.join(names)}")
        run = runs.resume(resume, epochs=epochs, device=device, progress=not settings.quiet, notify=_progress(settings))
    else:
        file_values = runs.read_config_file(config) if config is not None else {}
        params, preset_name, data_spec = runs.resolve_params(_value(preset), file_values, {**options, "verbose": not settings.quiet})
        spec = runs.DataSpec.parse(data or data_spec or "mnist", data_dir or file_values.get("data_dir"))
        target = out or runs.default_run_dir(preset_name, params.get("model", "dense"))
        run = runs.train(params, spec, target, preset=preset_name, force=force, notify=_progress(settings))
    _print_run(run)


def _print_run(run: runs.Run) -> None:
    m = run.metrics
    if m.get("test"):
        _out.print(_metrics_table(f"Test metrics ({m['data']['n_test']:,} samples, {m['data']['test']})", m["test"]))
    timing = m["timing"]
    _out.print(f"{m['epochs']} epochs, {_fmt(timing['median_epoch_seconds'])} s per epoch (median), "
               f"{_fmt(timing['samples_per_second'])} samples/s on {timing['device']}")
    _out.print(f"Wrote {run.path}")


# -- evaluate / encode / decode / reconstruct --------------------------------------------------
_RUN_DIR = typer.Argument(..., help="A run folder written by `deepae train` or `deepae demo`.")
_SPLIT = typer.Option(Split.test, "--split", help="Split of a built-in data set.")
_DATA_DIR = typer.Option(None, "--data-dir", help="Folder with MNIST/Fashion-MNIST files.")
_FORCE_OUT = typer.Option(False, "--force", help="Overwrite an existing output.")
_DATA = typer.Argument(..., help="Built-in data set (mnist, digits, ...), image file or folder, or .npy/.npz/.csv file.")


@app.command()
def evaluate(
    ctx: typer.Context,
    run_dir: Path = _RUN_DIR,
    data: Optional[str] = typer.Argument(None, help="Data to score (default: the test split the run was trained with)."),
    split: Split = _SPLIT,
    data_dir: Optional[Path] = _DATA_DIR,
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Reconstruction metrics (MSE, BCE, squared error per sample, PSNR, SSIM) of a run; writes evaluation.json.

    \b
    Example:
      deepae evaluate runs/demo
    """
    run = runs.open_run(run_dir)
    ds = runs.load_for_run(run, data, split.value, data_dir)
    result = runs.evaluate(run, ds)
    path = runs.write_evaluation(run, result)
    if as_json:
        print(json.dumps(result, indent=2))
        return
    _out.print(_metrics_table(f"{run.path}: {ds.name}, {len(ds):,} samples", result["metrics"]))
    if "per_class" in result:
        title = "Squared error per sample, by class"
        table = Table(title=title, title_justify="left", min_width=len(title))
        for col in ("class", "samples", "mean"):
            table.add_column(col, justify="left" if col == "class" else "right")
        for row in result["per_class"]:
            table.add_row(row["name"], _fmt(row["n"]), _fmt(row["mean"]))
        _out.print(table)
    _out.print(f"Wrote {path}")


@app.command()
def encode(
    run_dir: Path = _RUN_DIR,
    data: str = _DATA,
    output: Path = typer.Option(..., "--output", "-o", help="Codes file to write (.npy)."),
    split: Split = _SPLIT,
    data_dir: Optional[Path] = _DATA_DIR,
    force: bool = _FORCE_OUT,
) -> None:
    """Write the codes of DATA as an (N, code size) .npy array.

    \b
    Example:
      deepae encode runs/demo mnist -o codes.npy
    """
    run = runs.open_run(run_dir)
    ds = runs.load_for_run(run, data, split.value, data_dir)
    codes = run.estimator.transform(ds.x)
    path = runs.write_array(output, codes, force)
    _out.print(f"Wrote {path}: {codes.shape[0]:,} codes of {codes.shape[1]} numbers")


@app.command()
def decode(
    run_dir: Path = _RUN_DIR,
    codes: Path = typer.Argument(..., help="An (N, code size) .npy array, e.g. from `deepae encode`."),
    output: Path = typer.Option(..., "--output", "-o", help="Folder of PNGs, or a .npy file."),
    force: bool = _FORCE_OUT,
) -> None:
    """Turn codes back into samples: PNG images in a folder, or an array when OUTPUT ends in .npy.

    \b
    Example:
      deepae decode runs/demo codes.npy -o decoded/
    """
    run = runs.open_run(run_dir)
    z = runs.load_codes(codes)
    x_hat = run.estimator.inverse_transform(z)
    _write_samples(output, x_hat, None, force)


@app.command()
def reconstruct(
    run_dir: Path = _RUN_DIR,
    data: str = _DATA,
    output: Path = typer.Option(..., "--output", "-o", help="Folder of PNGs (images keep their names), or a .npy file."),
    split: Split = _SPLIT,
    data_dir: Optional[Path] = _DATA_DIR,
    force: bool = _FORCE_OUT,
) -> None:
    """Encode and decode DATA: images in, PNG images out (same names); arrays in, a .npy array out.

    \b
    Example:
      deepae reconstruct runs/demo my_digits/ -o reconstructed/
    """
    if runs.is_array_file(data) and output.suffix.lower() != ".npy":
        raise ConfigError(f"DATA '{data}' is an array file, so the output must be a .npy file, got '{output}'")
    run = runs.open_run(run_dir)
    ds = runs.load_for_run(run, data, split.value, data_dir)
    _write_samples(output, run.estimator.reconstruct(ds.x), ds.names, force)


def _write_samples(output: Path, x, names, force: bool) -> None:
    if output.suffix.lower() == ".npy":
        path = runs.write_array(output, x, force)
        _out.print(f"Wrote {path}: array of shape {list(x.shape)}")
    else:
        paths = runs.write_images(output, x, names, force)
        _out.print(f"Wrote {len(paths):,} PNG images to {output}")


# -- report / models / info -------------------------------------------------------------------
@app.command()
def report(
    ctx: typer.Context,
    run_dir: Path = _RUN_DIR,
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="HTML file (default: RUN_DIR/report.html)."),
    map_method: MapMethod = typer.Option(MapMethod.pca, "--map", help="2-D map of the codes: pca, or tsne (slower)."),
    data: Optional[str] = typer.Option(None, "--data", help="Data to show (default: the run's test split)."),
    split: Split = _SPLIT,
    data_dir: Optional[Path] = _DATA_DIR,
) -> None:
    """Write a self-contained HTML report: configuration, loss curves, reconstructions, code map, metrics.

    The page embeds its images and styles: it opens without a network.

    \b
    Example:
      deepae report runs/demo --map tsne -o demo.html
    """
    run = runs.open_run(run_dir)
    ds = runs.load_for_run(run, data, split.value, data_dir)
    path = runs.write_report(run, ds, output, map_method.value, notify=_progress(_settings(ctx)))
    _out.print(f"Wrote {path}")


@app.command()
def models() -> None:
    """List the registered models and the presets with their key hyperparameters.

    \b
    Example:
      deepae models
    """
    table = Table(title="Models (`--model`)", title_justify="left")
    for col in ("name", "description", "defaults"):
        table.add_column(col)
    for row in runs.describe_models():
        d = row["defaults"]
        shown = {k: d[k] for k in ("input_shape", "hidden", "channels", "code_size", "activation", "code_activation") if k in d}
        table.add_row(row["name"], row["summary"], ", ".join(f"{k}={v}" for k, v in shown.items()))
    _out.print(table)
    table = Table(title="Presets (`--preset`)", title_justify="left")
    table.add_column("name", no_wrap=True)
    table.add_column("settings")
    table.add_column("description")
    for row in runs.describe_presets():
        layers = ",".join(map(str, row["hidden"])) or "none"
        settings = (f"{row['model']}, code {row['code_size'] or 'feature map'}, hidden {layers}, {row['loss']}, "
                    f"{row['optimizer']} lr {_fmt(row['lr']) if row['lr'] else 'default'}, {row['epochs']} epochs, "
                    f"batch {row['batch_size']}")
        settings += "".join(f", {k} {v}" for k, v in row["other"].items())
        table.add_row(row["name"], settings, row["description"])
    _out.print(table)


@app.command()
def info(run_dir: Path = _RUN_DIR) -> None:
    """Show a run's architecture (blocks, output shapes, parameters) and its training history.

    \b
    Example:
      deepae info runs/demo
    """
    run = runs.open_run(run_dir)
    est = run.estimator
    table = Table(title=f"{run.path}: {est.model} model, {est.loss_.upper()} loss", title_justify="left")
    for col in ("block", "layers", "output shape", "parameters"):
        table.add_column(col, justify="right" if col == "parameters" else "left")
    rows = runs.architecture(est.model_)
    for row in rows:
        table.add_row(row["name"], row["layers"], " x ".join(map(str, row["shape"])), _fmt(row["params"]) if row["params"] else "")
    _out.print(table)
    _out.print(f"parameters: {sum(r['params'] for r in rows):,}")
    summary = runs.history_summary(run.history)
    _out.print(f"history: {summary['epochs']} epochs of {est.epochs} "
               f"(optimizer {est.optimizer}, lr {_fmt(est.lr) or 'default'}, batch {est.batch_size})")
    for key in ("loss", "val_loss"):
        if key in summary:
            s = summary[key]
            _out.print(f"  {key}: first {_fmt(s['first'])}, last {_fmt(s['last'])}, best {_fmt(s['best'])} at epoch {s['best_epoch']}")
    if "seconds" in summary:
        _out.print(f"  time: {_fmt(summary['seconds']['total'])} s, {_fmt(summary['seconds']['median_per_epoch'])} s per epoch (median)")
    data = run.metrics.get("data")
    if data:
        _out.print(f"data: {data['name']} ({data['n_train']:,} train / {data['n_test']:,} test) from {data['source']}")


def main() -> None:
    """Console-script entry point."""
    app()
