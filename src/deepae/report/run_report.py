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
from ..runs.describe import architecture, history_summary
from ..runs.export import evaluate
from ..runs.folder import REPORT_FILE, Run
from ..runs.spec import Notify, quiet
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
    timing = recorded.get("timing") or {}
    rows += [[k.replace("_", " "), v] for k, v in timing.items() if v is not None]
    report.sections.append(R.Section("Metrics", [R.Table(["metric", "value"], rows, caption=(
        f"On {ds.name}; the timing is that of training. SSIM follows Wang et al. (2004), for images only."))]))

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
        R.Image(R.to_png(reconstruction_figure(run, ds)), "originals and reconstructions")]))

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

    params = est.get_params()
    report.sections.append(R.Section("Configuration", [
        R.Table(["parameter", "value"], [[k, _show(v)] for k, v in params.items()], caption="AutoEncoder parameters"),
        R.Table(["model config", "value"], [[k, _show(v)] for k, v in est.model_.config.to_dict().items()]),
        R.Table(["data", "value"], [[k, _show(v)] for k, v in (recorded.get("data") or {}).items()]),
    ]))
    report.sections.append(R.Section("Architecture", [R.Table(
        ["block", "layers", "output shape", "parameters"],
        [[r["name"], r["layers"], " x ".join(map(str, r["shape"])), r["params"]] for r in architecture(est.model_)],
    )]))
    report.sections.append(R.Section("Versions", [R.Table(["package", "version"], [[k, v] for k, v in versions().items()])]))
    return report


def _show(value: Any) -> str:
    return json.dumps(value) if isinstance(value, (list, tuple, dict)) else str(value)


def write_report(run: Run, ds, out: str | os.PathLike | None = None, map_method: str = "pca",
                 notify: Notify = quiet) -> Path:
    """Render ``build_report`` to ``out`` (default: ``report.html`` in the run folder), atomically."""
    page = _report.render(build_report(run, ds, map_method, notify))
    return atomic_write_bytes(Path(out) if out is not None else run.path / REPORT_FILE, page.encode("utf-8"))
