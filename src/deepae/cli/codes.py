"""``deepae index``, ``search``, ``cluster`` and ``anomaly fit|score``: uses of a model's codes.

Outputs are checked before any work (never an input, an existing one only with ``--force``) and
written atomically; bad input is one line on stderr and exit code 2.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Optional

import numpy as np
import typer
from rich.table import Table

from .. import data as _data
from .. import report, runs
from .._io import atomic_write_bytes, atomic_write_json
from ..apps.anomaly import AutoEncoderOutlierDetector
from ..apps.cluster import METHODS, AutoEncoderClustering, clustering_scores
from ..apps.search import BACKENDS, METRICS, CodeIndex, contact_sheet
from ..errors import CheckpointError, ConfigError, DataError
from ._base import DATA, DATA_DIR, FORCE_OUT, RUN_DIR, Split, choices, console, fmt, get_settings, value, warn

app = typer.Typer()
anomaly_app = typer.Typer(help="Anomaly detection by reconstruction error: fit a detector, score data.", no_args_is_help=True)
app.add_typer(anomaly_app, name="anomaly")

Metric = choices("Metric", METRICS)
Backend = choices("Backend", BACKENDS)
Method = choices("Method", METHODS)
Refine = choices("Refine", ("none", "dec"))
_TRAIN_SPLIT = typer.Option(Split.train, "--split", help="Split of a built-in data set.")
_TEST_SPLIT = typer.Option(Split.test, "--split", help="Split of a built-in data set.")
_SEED = typer.Option(0, "--seed", help="Random seed.")


# -- index and search -------------------------------------------------------------------------
@app.command()
def index(
    run_dir: Path = RUN_DIR,
    data: str = DATA,
    output: Path = typer.Option(..., "--output", "-o", help="Index file to write (safetensors)."),
    metric: Metric = typer.Option("cosine", "--metric", help="Distance between codes."),
    backend: Backend = typer.Option("auto", "--backend", help="Exact search: auto (torch, or faiss on large indexes), "
                                    "torch, faiss; approximate and faster on large indexes: hnsw (needs faiss)."),
    split: Split = _TRAIN_SPLIT,
    data_dir: Optional[Path] = DATA_DIR,
    force: bool = FORCE_OUT,
) -> None:
    """Index the codes of DATA (images, an image folder, an array file or a data set) for `deepae search`.

    \b
    Example:
      deepae index runs/demo mnist -o mnist.index
      deepae index runs/photos my_photos/ -o photos.index
    """
    runs.check_output(output, force, (data, data_dir, run_dir))
    run = runs.open_run(run_dir)
    ds = runs.load_for_run(run, data, split.value, data_dir)
    idx = CodeIndex(str(run.path), metric=value(metric), backend=value(backend)).fit(ds.x, ds.y, ds.names)
    spec = data if _data.resolve_name(data) is not None else str(Path(data).resolve())
    info = {"data": {"spec": spec, "split": split.value, "data_dir": None if data_dir is None else str(data_dir.resolve()),
                     "name": ds.name, "class_names": ds.class_names}}
    idx.save(output, info=info)
    console.print(f"Wrote {output}: {len(idx.codes_):,} codes of {idx.codes_.shape[1]} numbers ({value(metric)})")


def _split_query(query: str) -> tuple[str, Optional[int]]:
    """``data.npy:12`` -> ("data.npy", 12); anything else is the whole of DATA."""
    spec, sep, row = query.rpartition(":")
    if sep and row.isdigit() and spec and (Path(spec).exists() or _data.resolve_name(spec) is not None):
        return spec, int(row)
    return query, None


@app.command()
def search(
    index_file: Path = typer.Argument(..., help="An index written by `deepae index`."),
    query: str = typer.Argument(..., help="An image file, a folder of images, or one row of an array: data.npy:12."),
    k: int = typer.Option(10, "-k", min=1, help="Neighbours per query."),
    model: Optional[Path] = typer.Option(None, "--model", help="Run folder of the model (default: the one the index records)."),
    sheet: Optional[Path] = typer.Option(None, "--sheet", help="Also write a contact sheet PNG: each query and its neighbours."),
    split: Split = _TEST_SPLIT,
    data_dir: Optional[Path] = DATA_DIR,
    force: bool = FORCE_OUT,
) -> None:
    """The nearest indexed items of each query, as a table (and a contact sheet with --sheet).

    \b
    Example:
      deepae search mnist.index digit.png -k 10 --sheet neighbours.png
      deepae search mnist.index mnist:12 --split test
    """
    spec, row = _split_query(query)
    if sheet is not None:
        runs.check_output(sheet, force, (spec, index_file))
    idx, run = _open_index(index_file, model)
    ds = runs.load_for_run(run, spec, split.value, data_dir)
    names = ds.names or [f"{spec}:{i}" for i in range(len(ds))]
    if row is not None:
        if row >= len(ds):
            raise DataError(f"query '{query}': row {row} is past the last row ({len(ds) - 1}) of '{spec}'")
        ds_x, names = ds.x[row : row + 1], [query]
    else:
        ds_x = ds.x
    if k > len(idx.codes_):
        raise ConfigError(f"-k {k}: the index holds {len(idx.codes_)} items only")
    dist, where = idx.search(ds_x, k)
    class_names = (idx.info_.get("data") or {}).get("class_names")
    for q, qname in enumerate(names[:20]):
        table = Table(title=f"{qname}: {k} nearest of {len(idx.codes_):,} ({idx.metric})", title_justify="left")
        for col in ("rank", "item", "label", "distance"):
            table.add_column(col, justify="right" if col in ("rank", "distance") else "left")
        for rank, (d, i) in enumerate(zip(dist[q], where[q]), 1):
            table.add_row(str(rank), _item_name(idx, i), _label(idx, i, class_names), f"{d:.4g}")
        console.print(table)
    if len(names) > 20:
        warn(f"{len(names) - 20} more queries not shown")
    if sheet is not None:
        items, note = _indexed_samples(idx, run, where[:20])
        fig = contact_sheet(ds_x[:20], items, dist[:20], [_short(n) for n in names[:20]],
                            title=f"{len(idx.codes_):,} indexed items, {idx.metric}{note}")
        atomic_write_bytes(sheet, report.to_png(fig))
        console.print(f"Wrote {sheet}")


def _open_index(path: Path, model: Optional[Path]) -> tuple[CodeIndex, runs.Run]:
    """The index and the run folder of its model (checked against the digest the index records)."""
    recorded = CodeIndex.read_header(path)["model"].get("path")
    folder = model or recorded
    if folder is None:
        raise CheckpointError(f"index '{path}' records no run folder for its model; pass --model RUN_DIR")
    if model is None and not Path(folder).is_dir():
        raise CheckpointError(f"index '{path}' was built with the model in '{folder}', which is gone; pass --model RUN_DIR")
    run = runs.open_run(folder)
    return CodeIndex.load(path, autoencoder=run.estimator), run


def _item_name(idx: CodeIndex, i: int) -> str:
    return idx.names_[i] if idx.names_ is not None else f"#{i}"


def _label(idx: CodeIndex, i: int, class_names: Optional[list]) -> str:
    if idx.labels_ is None:
        return ""
    label = int(idx.labels_[i])
    return class_names[label] if class_names and 0 <= label < len(class_names) else str(label)


def _short(name: str, width: int = 18) -> str:
    return name if len(name) <= width else "…" + name[-width + 1 :]


def _indexed_samples(idx: CodeIndex, run: runs.Run, where: np.ndarray) -> tuple[np.ndarray, str]:
    """Pixels of the indexed items ``where`` (Q, k) for the sheet: re-read from the indexed data, else decoded codes."""
    recorded = idx.info_.get("data") or {}
    try:
        ds = runs.load_for_run(run, recorded["spec"], recorded.get("split", "train"), recorded.get("data_dir"))
        if len(ds) != len(idx.codes_):
            raise DataError("the indexed data changed")
        return ds.x[where], ""
    except (KeyError, TypeError, ValueError, OSError) as exc:
        warn(f"the indexed data cannot be read again ({exc}); the sheet shows the decoded codes instead")
        flat = idx.codes_[where.reshape(-1)]
        return run.estimator.inverse_transform(flat).reshape(*where.shape, *run.data_shape), " (neighbours decoded from codes)"


# -- cluster ----------------------------------------------------------------------------------
@app.command()
def cluster(
    ctx: typer.Context,
    run_dir: Path = RUN_DIR,
    data: str = DATA,
    output: Path = typer.Option(..., "--output", "-o", help="Folder for labels.npy, labels.json, map.png (and scores.json)."),
    n_clusters: int = typer.Option(10, "--n-clusters", min=1, help="Number of clusters."),
    method: Method = typer.Option("kmeans", "--method", help="Clustering of the codes: k-means or a Gaussian mixture."),
    refine: Refine = typer.Option("none", "--refine", help="dec: fine-tune the encoder and centres by DEC (Xie et al. 2016)."),
    labels: Optional[Path] = typer.Option(None, "--labels", help="True labels (.npy/.csv/.json) to score ACC, NMI and ARI "
                                          "(default: the data set's own labels, when it has them)."),
    split: Split = _TRAIN_SPLIT,
    data_dir: Optional[Path] = DATA_DIR,
    seed: int = _SEED,
    force: bool = FORCE_OUT,
) -> None:
    """Cluster DATA in the code space of a trained model; a 2-D map coloured by cluster, scores against labels.

    \b
    Example:
      deepae cluster runs/demo mnist -o clusters/ --n-clusters 10
      deepae cluster runs/demo digits.npy -o clusters/ --refine dec --labels labels.npy
    """
    runs.check_output(output, force, (data, data_dir, run_dir, labels))
    if output.exists() and not output.is_dir():
        raise ConfigError(f"output '{output}' is a file; name a folder")
    run = runs.open_run(run_dir)
    ds = runs.load_for_run(run, data, split.value, data_dir)
    if len(ds) < 2:
        raise DataError(f"{ds.name}: {len(ds)} sample; clustering needs at least 2")
    truth = _read_labels(labels, len(ds)) if labels is not None else ds.y
    refine_to = None if value(refine) == "none" else value(refine)
    est = AutoEncoderClustering(n_clusters, autoencoder=str(run.path), method=value(method), refine=refine_to,
                                random_state=seed)
    if not get_settings(ctx).quiet:
        console.print(f"[dim]Clustering {len(ds):,} samples of {ds.name} into {n_clusters}...[/dim]")
    assigned = est.fit_predict(ds.x)
    codes = est.transform(ds.x)
    sizes = np.bincount(assigned, minlength=n_clusters)
    result: dict[str, Any] = {"run": str(run.path), "data": ds.name, "n_samples": len(ds), "n_clusters": n_clusters,
                              "method": value(method), "refine": refine_to, "seed": seed, "sizes": sizes,
                              "dec_steps": est.n_iter_}
    if truth is not None:
        result["scores"] = clustering_scores(truth, assigned)
    points, axis = _two_d(codes, seed)  # everything is computed before the first file is written
    png = report.to_png(report.code_map(points, assigned, f"{ds.name}: {n_clusters} clusters in code space", axis))
    output.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.save(buf, assigned, allow_pickle=False)
    atomic_write_bytes(output / "labels.npy", buf.getvalue())
    atomic_write_json(output / "labels.json", {**result, "labels": assigned, "names": ds.names})
    atomic_write_bytes(output / "map.png", png)
    if truth is not None:
        atomic_write_json(output / "scores.json", result)
    table = Table(title=f"{n_clusters} clusters of {len(ds):,} samples", title_justify="left")
    table.add_column("cluster", justify="right")
    table.add_column("samples", justify="right")
    for c, n in enumerate(sizes):
        table.add_row(str(c), fmt(int(n)))
    console.print(table)
    if truth is not None:
        s = result["scores"]
        console.print(f"Against the labels: ACC {s['acc']:.4f}, NMI {s['nmi']:.4f}, ARI {s['ari']:.4f}")
    console.print(f"Wrote {output}/labels.npy, labels.json, map.png" + (", scores.json" if truth is not None else ""))


def _two_d(codes: np.ndarray, seed: int) -> tuple[np.ndarray, str]:
    """Codes as 2-D points for the map: as they are when 2-D, else their first two principal components."""
    if codes.shape[1] <= 2:
        return np.c_[codes, np.zeros((len(codes), 2 - codes.shape[1]))], "code"
    from sklearn.decomposition import PCA

    return PCA(2, random_state=seed).fit_transform(codes), "PCA of codes"


def _read_labels(path: Path, n: int) -> np.ndarray:
    """Integer labels, one per sample, from .npy, .json (a list) or .csv/.txt (one a line or one column)."""
    if not path.is_file():
        raise DataError(f"--labels '{path}': no such file")
    try:
        if path.suffix.lower() == ".npy":
            y = np.load(path, allow_pickle=False)
        elif path.suffix.lower() == ".json":
            y = np.asarray(json.loads(path.read_text()))
        else:
            y = np.loadtxt(path, delimiter=",", ndmin=1)
    except (OSError, ValueError) as exc:
        raise DataError(f"--labels '{path}': cannot read it ({exc})") from None
    y = np.asarray(y).reshape(-1) if np.asarray(y).ndim == 2 and 1 in np.asarray(y).shape else np.asarray(y)
    if y.ndim != 1 or len(y) != n or not np.issubdtype(y.dtype, np.number) or not np.all(np.mod(y, 1) == 0):
        raise DataError(
            f"--labels '{path}' holds {y.dtype} of shape {list(y.shape)}; expected {n} integer labels, one per sample"
        )
    return y.astype(np.int64)


# -- anomaly ----------------------------------------------------------------------------------
@anomaly_app.command("fit")
def anomaly_fit(
    ctx: typer.Context,
    data: str = DATA,
    output: Path = typer.Option(..., "--output", "-o", help="Folder for the detector (JSON + the autoencoder's run folder)."),
    contamination: float = typer.Option(0.1, "--contamination",
                                        help="Share of the training data flagged as outliers, in (0, 0.5]."),
    autoencoder: Optional[Path] = typer.Option(None, "--autoencoder",
                                               help="Use this trained run folder (default: train one on DATA)."),
    code_weight: float = typer.Option(0.0, "--code-weight", help="Weight of the code-space distance in the score, in [0, 1]."),
    code_size: int = typer.Option(32, "--code-size", min=1, help="Code size of an autoencoder trained here."),
    epochs: int = typer.Option(20, "--epochs", min=1, help="Epochs of an autoencoder trained here."),
    models: int = typer.Option(1, "--models", min=1,
                               help="Train this many autoencoders from different seeds and average their scores."),
    split: Split = _TRAIN_SPLIT,
    data_dir: Optional[Path] = DATA_DIR,
    seed: int = _SEED,
    force: bool = FORCE_OUT,
) -> None:
    """Fit an outlier detector on (mostly normal) DATA; it flags the --contamination share of it.

    \b
    Example:
      deepae anomaly fit normal_parts/ -o detector/ --contamination 0.05
      deepae anomaly fit mnist -o detector/ --autoencoder runs/demo
      deepae anomaly fit normal_parts/ -o detector/ --models 3
    """
    from ..api import AutoEncoder

    runs.check_output(output, force, (data, data_dir, autoencoder))
    AutoEncoderOutlierDetector(None if autoencoder is None else str(autoencoder), contamination=contamination,
                               code_weight=code_weight, n_models=models)._check_params()  # before any work
    if autoencoder is not None:
        run = runs.open_run(autoencoder)
        x = runs.load_for_run(run, data, split.value, data_dir).x
        model: Any = str(run.path)
    else:
        x = _data.load(data, split=split.value, data_dir=data_dir).x
        if len(x) == 0:
            raise DataError(f"DATA '{data}' holds no samples")
        model = AutoEncoder(code_size=code_size, epochs=epochs, verbose=not get_settings(ctx).quiet)
    det = AutoEncoderOutlierDetector(model, contamination=contamination, code_weight=code_weight, random_state=seed,
                                     n_models=models).fit(x)
    det.save(output, force=force)
    flagged = int(np.sum(det.predict(x) == -1))
    console.print(f"Wrote {output}: detector ({models} model{'s' * (models > 1)}) fitted on {len(x):,} samples, "
                  f"{flagged:,} flagged as outliers "
                  f"(contamination {contamination}), threshold {det.offset_:.4g}")


@anomaly_app.command("score")
def anomaly_score(
    model_dir: Path = typer.Argument(..., help="A detector folder written by `deepae anomaly fit`."),
    data: str = DATA,
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="CSV file of every sample's score."),
    top: int = typer.Option(10, "--top", min=0, help="Show this many of the most anomalous samples."),
    split: Split = _TEST_SPLIT,
    data_dir: Optional[Path] = DATA_DIR,
    force: bool = FORCE_OUT,
) -> None:
    """Score DATA with a fitted detector: normality (higher is more normal) and outlier flags.

    \b
    Example:
      deepae anomaly score detector/ new_parts/ -o scores.csv
    """
    if output is not None:
        if output.suffix.lower() != ".csv":
            raise ConfigError(f"output '{output}' must be a .csv file")
        runs.check_output(output, force, (data, data_dir, model_dir))
    det = AutoEncoderOutlierDetector.load(model_dir)
    # an ensemble's models were trained on the same data: the first one's run says how to read DATA
    first = det.autoencoder[0] if isinstance(det.autoencoder, list) else det.autoencoder
    ds = runs.load_for_run(runs.open_run(first), data, split.value, data_dir)
    scores = det.score_samples(ds.x)
    outlier = scores - det.offset_ < 0
    names = ds.names or [str(i) for i in range(len(ds))]
    order = np.argsort(scores)[:top]
    table = Table(title=f"{int(outlier.sum()):,} of {len(ds):,} samples are outliers; the {len(order)} most anomalous",
                  title_justify="left")
    for col in ("sample", "label", "score", "outlier"):
        table.add_column(col, justify="right" if col == "score" else "left")
    for i in order:
        table.add_row(names[i], "" if ds.y is None else str(int(ds.y[i])), f"{scores[i]:.4g}", "yes" if outlier[i] else "no")
    console.print(table)
    if output is not None:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["sample", "score", "decision", "outlier"])
        for name, s, o in zip(names, scores, outlier):
            writer.writerow([name, f"{s:.6g}", f"{s - det.offset_:.6g}", int(o)])
        atomic_write_bytes(output, buf.getvalue().encode())
        console.print(f"Wrote {output}")
