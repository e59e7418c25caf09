"""The HTML report of a run: metrics, training, reconstructions, a map of the codes, per-class error."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .. import metrics as _metrics
from .. import report as _report
from .._io import atomic_write_bytes, versions
from ..errors import ConfigError
from ..runs.describe import architecture, epoch_timing, history_summary, parameters_that_matter, training_settings
from ..runs.export import evaluate
from ..runs.folder import REPORT_FILE, Run
from ..runs.spec import Notify, quiet
from .html import format_number
from .run_figures import loss_figure, reconstruction_figure

MAP_POINTS = 2000  # codes drawn on a 2-D map (t-SNE on more is slow and no clearer)


def code_map_points(codes: np.ndarray, method: str, seed: int = 0) -> np.ndarray:
    """(N, code_dim) -> (N, 2) by PCA or t-SNE; codes of 1 or 2 numbers are drawn as they are."""
    if method not in ("pca", "tsne"):
        raise ConfigError(f"map={method!r}; expected 'pca' or 'tsne'")
    if codes.shape[1] <= 2:
        return np.pad(codes, ((0, 0), (0, 2 - codes.shape[1])))
    if method == "pca" or len(codes) < 5:
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(codes)
    from sklearn.manifold import TSNE

    perplexity = min(30.0, (len(codes) - 1) / 3)
    return TSNE(n_components=2, init="pca", perplexity=perplexity, random_state=seed).fit_transform(codes)


def build_report(run: Run, ds, map_method: str = "pca", notify: Notify = quiet) -> _report.Report:
    """Everything a report shows: metrics, loss curves, reconstructions, a code map, per-class error,
    the configuration and the architecture."""
    R = _report
    est = run.estimator
    evaluation = evaluate(run, ds)
    recorded = run.metrics
    subtitle = (
        f"{est.model} model, {est.loss_.upper()} loss, {len(run.history)} epochs"
        + (f", preset {recorded['preset']}" if recorded.get("preset") else "")
        + f"; evaluated on {ds.name} ({len(ds):,} samples)"
    )
    report = R.Report(f"deepae run: {run.path.resolve().name}", subtitle)

    rows = [[_metrics.LABELS.get(k, k), v] for k, v in evaluation["metrics"].items()]
    rows += _timing_rows(run)
    report.sections.append(R.Section("Metrics", [R.Table(["metric", "value"], rows, caption=(
        f"On {ds.name}; the timing is that of training (every epoch, across resumes; the median leaves out "
        "epoch 1, which includes the warm-up). SSIM follows Wang et al. (2004), for images only."))]))

    blocks: list[R.Block] = []
    if run.history:
        blocks.append(R.Image(R.to_png(loss_figure(run)), "loss curves"))
        summary = history_summary(run.history)
        blocks.append(R.Table(["", "first", "last", "best", "best epoch"], [
            [k, v["first"], v["last"], v["best"], v["best_epoch"]]
            for k, v in summary.items()
            if isinstance(v, dict) and "first" in v
        ]))
    else:
        blocks.append(R.Text("No training history was saved with this model."))
    report.sections.append(R.Section("Training", blocks))

    report.sections.append(R.Section("Originals and reconstructions", [
        R.Image(R.to_png(reconstruction_figure(run, ds)), "originals and reconstructions")], wide=True))

    rng = np.random.default_rng(0)
    chosen = np.sort(rng.choice(len(ds), size=min(MAP_POINTS, len(ds)), replace=False))
    notify(f"mapping {len(chosen):,} codes with {'PCA' if map_method == 'pca' else 't-SNE'} ...")
    codes = est.transform(ds.x[chosen])
    points = code_map_points(codes, map_method)
    labels = None if ds.y is None else ds.y[chosen]
    method = "PCA" if map_method == "pca" or codes.shape[1] <= 2 else "t-SNE"
    title = f"{codes.shape[1]}-number codes of {len(chosen):,} samples, {method}" + (
        ", coloured by label" if labels is not None else ""
    )
    report.sections.append(
        R.Section("Map of the codes", [R.Image(R.to_png(R.code_map(points, labels, title, method, ds.class_names)), "code map")])
    )

    if "per_class" in evaluation:
        per_class = evaluation["per_class"]
        report.sections.append(R.Section("Error per class", [
            R.Image(
                R.to_png(
                    R.per_class_bars(
                        per_class, "Squared error per sample (sum over features), mean by class", "squared error per sample"
                    )
                ),
                "per-class error",
            ),
            R.Table(["class", "samples", "mean squared error per sample"], [[r["name"], r["n"], r["mean"]] for r in per_class]),
        ]))

    report.sections.append(R.Section("Configuration", [
        R.Table(["parameter", "value"], _parameter_rows(run), caption=(
            "AutoEncoder parameters: the essential ones and those set away from their defaults; "
            "'auto' shows what it resolved to")),
        R.Table(["model config", "value"], [[k, _show(v)] for k, v in _model_config_that_matters(est.model_).items()]),
        R.Table(["data", "value"], [[k, _show(v)] for k, v in (recorded.get("data") or {}).items()
                                    if k in _DATA_SHOWN and v is not None]),
    ]))
    report.sections.append(R.Section("Architecture", [R.Table(
        ["block", "layers", "output shape", "parameters"],
        [[r["name"], r["layers"], " x ".join(map(str, r["shape"])), r["params"]] for r in architecture(est.model_)],
    )]))
    report.sections.append(R.Section("Versions", [R.Table(["package", "version"], [[k, v] for k, v in versions().items()])]))
    return report


# Model-config entries shown whatever their value; the others only where they differ from the default.
_MODEL_SHOWN = ("input_shape", "hidden", "channels", "code_size", "activation", "code_activation", "output_activation")
_DATA_SHOWN = ("name", "source", "sample_shape", "n_train", "n_test", "test")


def _timing_rows(run: Run) -> list[list[Any]]:
    timing = epoch_timing(run.history)
    if not timing:
        return []
    n_train = (run.metrics.get("data") or {}).get("n_train")
    rows = [["training seconds (all epochs)", timing["total"]],
            ["seconds per epoch (median" + (", epoch 1 excluded)" if timing["warm_up_excluded"] else ")"),
             timing["median_per_epoch"]]]
    if n_train and timing["median_per_epoch"] > 0:
        rows.append(["samples per second (training)", n_train / timing["median_per_epoch"]])
    device = (run.metrics.get("timing") or {}).get("device")
    return rows + ([["device", device]] if device else [])


def _parameter_rows(run: Run) -> list[list[Any]]:
    est = run.estimator
    settings = training_settings(est)
    resolved = {"epochs": f"{settings['epochs']} at most (early stopping, patience {settings['early_stopping']}); "
                          f"{len(run.history)} trained",
                "batch_size": settings["batch_size"], "hidden": _show(est.model_.config.to_dict().get("hidden", ())),
                "code_activation": est.model_.config.to_dict().get("code_activation"), "loss": est.loss_,
                "output_activation": est.model_.config.to_dict().get("output_activation"),
                "early_stopping": settings["early_stopping"]}
    rows = []
    for key, value in parameters_that_matter(est).items():
        shown = _show(value) if isinstance(value, (list, tuple, dict)) or value is None else value
        if value == "auto" and key in resolved:
            shown = f"auto: {format_number(resolved[key])}"
        rows.append([key, shown])
    return rows


def _model_config_that_matters(model) -> dict[str, Any]:
    config = model.config.to_dict()
    defaults = type(model.config)().to_dict() if _constructible(type(model.config)) else {}
    return {k: v for k, v in config.items() if k in _MODEL_SHOWN or k not in defaults or _show(defaults[k]) != _show(v)}


def _constructible(cls) -> bool:
    try:
        cls()
    except (TypeError, ValueError):
        return False
    return True


def _show(value: Any) -> str:
    return json.dumps(value) if isinstance(value, (list, tuple, dict)) else str(value)


def write_report(run: Run, ds, out: str | os.PathLike | None = None, map_method: str = "pca",
                 notify: Notify = quiet) -> Path:
    """Render ``build_report`` to ``out`` (default: ``report.html`` in the run folder), atomically."""
    page = _report.render(build_report(run, ds, map_method, notify))
    return atomic_write_bytes(Path(out) if out is not None else run.path / REPORT_FILE, page.encode("utf-8"))
