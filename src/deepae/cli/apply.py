"""``deepae evaluate``, ``encode``, ``decode`` and ``reconstruct``: use a trained run on data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from .. import runs
from ..errors import ConfigError
from ._base import DATA, DATA_DIR, FORCE_OUT, RUN_DIR, SPLIT, Split, console, fmt, metrics_table

app = typer.Typer()


@app.command()
def evaluate(
    ctx: typer.Context,
    run_dir: Path = RUN_DIR,
    data: Optional[str] = typer.Argument(None, help="Data to score (default: the test split the run was trained with)."),
    split: Split = SPLIT,
    data_dir: Optional[Path] = DATA_DIR,
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
    console.print(metrics_table(f"{run.path}: {ds.name}, {len(ds):,} samples", result["metrics"]))
    if "per_class" in result:
        title = "Squared error per sample, by class"
        table = Table(title=title, title_justify="left", min_width=len(title))
        for col in ("class", "samples", "mean"):
            table.add_column(col, justify="left" if col == "class" else "right")
        for row in result["per_class"]:
            table.add_row(row["name"], fmt(row["n"]), fmt(row["mean"]))
        console.print(table)
    console.print(f"Wrote {path}")


@app.command()
def encode(
    run_dir: Path = RUN_DIR,
    data: str = DATA,
    output: Path = typer.Option(..., "--output", "-o", help="Codes file to write (.npy)."),
    split: Split = SPLIT,
    data_dir: Optional[Path] = DATA_DIR,
    force: bool = FORCE_OUT,
) -> None:
    """Write the codes of DATA as an (N, code size) .npy array.

    \b
    Example:
      deepae encode runs/demo mnist -o codes.npy
    """
    run = runs.open_run(run_dir)
    ds = runs.load_for_run(run, data, split.value, data_dir)
    codes = run.estimator.transform(ds.x)
    path = runs.write_array(output, codes, force, inputs=(data, data_dir))
    console.print(f"Wrote {path}: {codes.shape[0]:,} codes of {codes.shape[1]} numbers")


@app.command()
def decode(
    run_dir: Path = RUN_DIR,
    codes: Path = typer.Argument(..., help="An (N, code size) .npy array, e.g. from `deepae encode`."),
    output: Path = typer.Option(..., "--output", "-o", help="Folder of PNGs, or a .npy file."),
    force: bool = FORCE_OUT,
) -> None:
    """Turn codes back into samples: PNG images in a folder, or an array when OUTPUT ends in .npy.

    \b
    Example:
      deepae decode runs/demo codes.npy -o decoded/
    """
    run = runs.open_run(run_dir)
    z = runs.load_codes(codes)
    x_hat = run.estimator.inverse_transform(z)
    _write_samples(output, x_hat, None, force, inputs=(codes,))


@app.command()
def reconstruct(
    run_dir: Path = RUN_DIR,
    data: str = DATA,
    output: Path = typer.Option(..., "--output", "-o", help="Folder of PNGs (images keep their names), or a .npy file."),
    split: Split = SPLIT,
    data_dir: Optional[Path] = DATA_DIR,
    force: bool = FORCE_OUT,
) -> None:
    """Encode and decode DATA: images in, PNG images out (same names); arrays in, a .npy array out.

    \b
    Example:
      deepae reconstruct runs/demo my_digits/ -o reconstructed/
    """
    if runs.is_array_file(data) and output.suffix.lower() != ".npy":
        raise ConfigError(f"DATA '{data}' is an array file, so the output must be a .npy file, got '{output}'")
    inputs = (data, data_dir)
    runs.check_output(output, force, inputs)  # before the work: outputs never replace inputs
    run = runs.open_run(run_dir)
    ds = runs.load_for_run(run, data, split.value, data_dir)
    _write_samples(output, run.estimator.reconstruct(ds.x), ds.names, force, inputs)


def _write_samples(output: Path, x, names, force: bool, inputs) -> None:
    if output.suffix.lower() == ".npy":
        path = runs.write_array(output, x, force, inputs)
        console.print(f"Wrote {path}: array of shape {list(x.shape)}")
    else:
        paths = runs.write_images(output, x, names, force, inputs)
        console.print(f"Wrote {len(paths):,} PNG images to {output}")
