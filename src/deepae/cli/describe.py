"""``deepae report``, ``models`` and ``info``: describe runs, models and presets."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from .. import runs
from ..report.run_report import REPORT_FILE, write_report
from ..runs.describe import training_settings
from ..runs.export import check_output
from ._base import DATA_DIR, FORCE_OUT, RUN_DIR, SPLIT, Split, console, fmt, get_settings, notifier

app = typer.Typer()


class MapMethod(str, enum.Enum):
    pca = "pca"
    tsne = "tsne"


# -- report / models / info -------------------------------------------------------------------
@app.command()
def report(
    ctx: typer.Context,
    run_dir: Path = RUN_DIR,
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="HTML file (default: RUN_DIR/report.html)."),
    map_method: MapMethod = typer.Option(MapMethod.pca, "--map", help="2-D map of the codes: pca, or tsne (slower)."),
    data: Optional[str] = typer.Option(None, "--data", help="Data to show (default: the run's test split)."),
    split: Split = SPLIT,
    data_dir: Optional[Path] = DATA_DIR,
    force: bool = FORCE_OUT,
) -> None:
    """Write a self-contained HTML report: configuration, loss curves, reconstructions, code map, metrics.

    The page embeds its images and styles: it opens without a network.

    \b
    Example:
      deepae report runs/demo --map tsne -o demo.html
    """
    run = runs.open_run(run_dir)
    if output is not None:
        # The run's own files (config, weights, metrics) and the data are inputs: never replaced. The
        # default output, RUN_DIR/report.html, is the report's own file and is rewritten each time.
        own = [p for p in run.path.iterdir() if p.name != REPORT_FILE]
        check_output(output, force, inputs=(data, *own))
    ds = runs.load_for_run(run, data, split.value, data_dir)
    path = write_report(run, ds, output, map_method.value, notify=notifier(get_settings(ctx)))
    console.print(f"Wrote {path}")


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
    console.print(table)
    table = Table(title="Presets (`--preset`)", title_justify="left")
    table.add_column("name", no_wrap=True)
    table.add_column("settings")
    table.add_column("description")
    for row in runs.describe_presets():
        layers = ",".join(map(str, row["hidden"])) or "none"
        settings = (f"{row['model']}, code {row['code_size'] or 'feature map'}, hidden {layers}, {row['loss']}, "
                    f"{row['optimizer']} lr {fmt(row['lr'])}, {row['epochs']} epochs, "
                    f"batch {row['batch_size']}")
        settings += "".join(f", {k} {v}" for k, v in row["other"].items())
        table.add_row(row["name"], settings, row["description"])
    console.print(table)


@app.command()
def info(run_dir: Path = RUN_DIR) -> None:
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
        table.add_row(row["name"], row["layers"], " x ".join(map(str, row["shape"])), fmt(row["params"]) if row["params"] else "")
    console.print(table)
    console.print(f"parameters: {sum(r['params'] for r in rows):,}")
    summary = runs.history_summary(run.history)
    settings = training_settings(est)
    cap = f"at most {settings['epochs']}, early stopping" if est.epochs == "auto" else str(settings["epochs"])
    console.print(f"history: {summary['epochs']} epochs of {cap} "
               f"(optimizer {est.optimizer}, lr {fmt(settings['lr'])}, batch {settings['batch_size']})")
    for key in ("loss", "val_loss"):
        if key in summary:
            s = summary[key]
            console.print(
                f"  {key}: first {fmt(s['first'])}, last {fmt(s['last'])}, best {fmt(s['best'])} at epoch {s['best_epoch']}"
            )
    if "seconds" in summary:
        seconds = summary["seconds"]
        median = "median of epochs 2 on" if seconds["warm_up_excluded"] else "median"
        console.print(f"  time: {fmt(seconds['total'])} s over {seconds['epochs_timed']} epochs, "
                      f"{fmt(seconds['median_per_epoch'])} s per epoch ({median})")
    data = run.metrics.get("data")
    if data:
        console.print(f"data: {data['name']} ({data['n_train']:,} train / {data['n_test']:,} test) from {data['source']}")
