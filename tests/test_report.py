"""Figures and the self-contained HTML report (rendered in headless Chromium when it is installed)."""

from __future__ import annotations

import importlib.util
import io
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from deepae import report, runs
from deepae.report.html import format_number
from deepae.report.run_figures import grid_indices, reconstruction_figure
from deepae.report.run_report import code_map_points, write_report
from deepae.runs.describe import effective_lr, epoch_timing, history_summary

CHROMIUM = Path("/usr/bin/chromium")
CHECK_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "check_report.py"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _load_check_script():
    spec = importlib.util.spec_from_file_location("check_report", CHECK_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> runs.Run:
    """A dense model trained for one epoch on scikit-learn's 8x8 digits."""
    params, _, _ = runs.resolve_params(overrides={"code_size": 4, "epochs": 1, "random_state": 0})
    folder = tmp_path_factory.mktemp("runs") / "digits"
    runs.train(params, runs.DataSpec.parse("digits"), folder)
    return runs.open_run(folder)


def _png_size(png: bytes) -> tuple[int, int]:
    assert png.startswith(PNG_MAGIC)
    return PILImage.open(io.BytesIO(png)).size


# -- figures -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "x, expected",
    [
        (np.zeros((2, 1, 5, 6)), (2, 5, 6)),  # grey images
        (np.zeros((2, 3, 5, 6)), (2, 5, 6, 3)),  # colour images, channel-last for imshow
        (np.zeros((2, 784)), (2, 28, 28)),  # flat MNIST rows
        (np.full((2, 10), 0.5), None),  # not a square
        (np.full((2, 16), 3.0), None),  # square, but not in [0, 1]
    ],
)
def test_as_images(x, expected):
    out = report.as_images(x)
    assert (out is None) if expected is None else (out.shape == expected)


def test_every_figure_renders_to_png():
    rng = np.random.default_rng(0)
    images = rng.random((6, 8, 8))
    history = [{"loss": 0.3, "val_loss": 0.31}, {"loss": 0.2, "val_loss": 0.22}]
    rows = [{"label": 0, "name": "zero", "n": 3, "mean": 1.5}, {"label": 1, "name": "one", "n": 3, "mean": 2.5}]
    figures = [
        report.reconstruction_grid(images, images, "grid", n=20),
        report.vector_plot(rng.random((3, 12)), rng.random((3, 12)), "rows"),
        report.loss_curves(history, "loss", "BCE"),
        report.code_map(rng.random((20, 2)), np.arange(20) % 3, "map", "PCA", ["a", "b", "c"]),
        report.code_map(rng.random((20, 2)), None, "map", "PCA"),
        report.per_class_bars(rows, "per class", "error"),
    ]
    for fig in figures:
        width, height = _png_size(report.to_png(fig))
        assert width > 200 and height > 100


def test_reconstruction_grid_has_two_rows_of_n_images_without_axes():
    fig = report.reconstruction_grid(np.zeros((30, 4, 4)), np.ones((30, 4, 4)), "t", n=20)
    assert len(fig.axes) == 40
    assert not any(ax.axison for ax in fig.axes)
    assert fig.get_suptitle() == "t"


@pytest.mark.parametrize(
    "labels, n, expected",
    [
        (np.repeat(np.arange(10), 36), 20, list(range(10)) * 2),  # a test split sorted by class: every class, twice
        (np.repeat([0, 1, 2], 5), 7, [0, 1, 2, 0, 1, 2, 0]),  # fewer classes than columns: round after round
        (np.array([2, 2, 2, 0]), 3, [0, 2, 2]),  # a class runs out: the others fill in
        (np.arange(30) % 25, 20, list(range(20))),  # more classes than columns: one of each, in class order
        (None, 5, [0, 1, 2, 3, 4]),  # no labels: the first n
    ],
)
def test_grid_shows_every_class(labels, n, expected):
    picked = grid_indices(labels, n)
    assert len(picked) == len(expected) == len(set(picked.tolist()))
    assert (labels[picked] if labels is not None else picked).tolist() == expected


def test_reconstruction_figure_of_a_class_sorted_split_shows_every_class(run):
    ds = runs.load_for_run(run)
    order = np.argsort(ds.y, kind="stable")
    sorted_ds = ds.subset(order)
    assert set(sorted_ds.y[:20].tolist()) == {0}  # what the grid used to show
    assert set(sorted_ds.y[grid_indices(sorted_ds.y)].tolist()) == set(range(10))
    assert len(reconstruction_figure(run, sorted_ds).axes) == 40


@pytest.mark.parametrize(
    "value, text",
    [(0.103382, "0.1034"), (102082.0, "102,082"), (60000, "60,000"), (1.0, "1"), (1e-3, "0.001"), (None, ""),
     (True, "True"), ("adam", "adam")],
)
def test_numbers_are_formatted_as_the_cli_does(value, text):
    assert format_number(value) == text


def test_epoch_timing_leaves_out_the_warm_up_and_covers_every_epoch():
    history = [{"loss": 1.0, "time": 9.0}, {"loss": 0.9, "time": 1.0}, {"loss": 0.8, "time": 3.0}, {"loss": 0.7, "time": 2.0}]
    timing = epoch_timing(history)
    assert timing["total"] == 15.0 and timing["median_per_epoch"] == 2.0 and timing["epochs_timed"] == 4
    assert epoch_timing(history[:1])["median_per_epoch"] == 9.0  # one epoch: nothing else to take it from
    assert epoch_timing([{"loss": 1.0}]) is None
    assert history_summary(history)["seconds"] == timing


@pytest.mark.parametrize(
    "optimizer, lr, params, expected",
    [("adadelta", None, None, 1.0), ("adadelta", 1.0, None, 1.0), ("adam", None, None, 1e-3), ("adam", 0.01, None, 0.01),
     ("sgd", None, {"lr": 0.05}, 0.05)],
)
def test_effective_learning_rate(optimizer, lr, params, expected):
    assert effective_lr(optimizer, lr, params) == expected


def test_loss_curves_label_their_axes():
    fig = report.loss_curves([{"loss": 1.0}], "title", "BCE (mean per pixel)")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "BCE (mean per pixel)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train"]


# -- HTML --------------------------------------------------------------------------------------
def test_render_escapes_text_and_embeds_images():
    png = report.to_png(report.loss_curves([{"loss": 1.0}], "t", "y"))
    page = report.render(report.Report("a <b> & c", "sub", [
        report.Section("S", [report.Text("<script>x</script>"), report.Image(png, "alt"),
                             report.Table(["k", "v"], [["n", 1234], ["f", 0.5], ["s", "<i>"]])]),
    ]))
    assert "a &lt;b&gt; &amp; c" in page and "&lt;script&gt;" in page and "<script>" not in page
    assert "data:image/png;base64," in page
    assert "1,234" in page and "&lt;i&gt;" in page
    assert _load_check_script().external_resources(page) == []


def test_external_resource_detection():
    check = _load_check_script()
    assert check.external_resources('<img src="https://x/y.png"><link href="style.css">') == ["https://x/y.png", "style.css"]
    assert check.external_resources("<style>a { background: url(http://x/y.png) }</style>") == ["http://x/y.png"]
    assert check.external_resources('<img src="data:image/png;base64,AAA"><a href="#top">') == []


def test_report_of_a_run_is_self_contained(run, tmp_path):
    ds = runs.load_for_run(run)
    out = write_report(run, ds, tmp_path / "report.html")
    page = out.read_text()
    for title in ("Metrics", "Training", "Originals and reconstructions", "Map of the codes", "Error per class",
                  "Configuration", "Architecture", "Versions"):
        assert f"<h2>{title}</h2>" in page
    assert page.count("data:image/png;base64,") == 4  # loss, reconstructions, code map, per-class
    assert _load_check_script().external_resources(page) == []
    # the cards sit two to a row, the reconstructions across the page
    assert '<div class="cards">' in page and '<section class="wide"><h2>Originals and reconstructions</h2>' in page
    # parameters: the essential ones and those away from their defaults, never all of them
    config = page[page.index("<h2>Configuration</h2>"):page.index("<h2>Architecture</h2>")]
    for shown in ("<td>code_size</td>", "<td>epochs</td>", "<td>random_state</td>", "auto: [256]", "auto: bce"):
        assert shown in config, shown
    for hidden in ("<td>beta</td>", "<td>verbose</td>", "<td>noise_level</td>", "<td>init_parts</td>", "<td>dropout</td>"):
        assert hidden not in config, hidden
    # numbers as the CLI prints them: no raw six-digit floats
    decimals = [m.lstrip("0.") for m in re.findall(r">(\d+\.\d+)<", page)]
    assert all(len(d.replace(".", "")) <= 4 for d in decimals), decimals  # at most 4 significant digits


def test_code_map_points():
    codes = np.random.default_rng(0).random((40, 6))
    assert code_map_points(codes, "pca").shape == (40, 2)
    assert code_map_points(codes[:, :1], "pca").shape == (40, 2)  # a 1-number code is drawn as it is
    with pytest.raises(ValueError, match="expected 'pca' or 'tsne'"):
        code_map_points(codes, "umap")


@pytest.mark.skipif(not CHROMIUM.is_file(), reason="/usr/bin/chromium is not installed")
def test_report_renders_in_headless_chromium(run, tmp_path):
    page = write_report(run, runs.load_for_run(run), tmp_path / "report.html")
    shot = tmp_path / "shot.png"
    result = subprocess.run([sys.executable, str(CHECK_SCRIPT), str(page), "--screenshot", str(shot)],
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    assert shot.is_file()
    # the page uses the width of a 1280-px window: the right half holds cards too
    pixels = np.asarray(PILImage.open(shot).convert("L"), dtype=np.int16)
    right = pixels[:, pixels.shape[1] // 2 + 40:]
    assert (np.abs(right - 246) > 24).mean() > 0.05  # 246: the page background's grey level


@pytest.mark.skipif(not CHROMIUM.is_file(), reason="/usr/bin/chromium is not installed")
def test_check_script_flags_a_blank_page(tmp_path):
    blank = tmp_path / "blank.html"
    blank.write_text("<!DOCTYPE html><html><body></body></html>")
    result = subprocess.run([sys.executable, str(CHECK_SCRIPT), str(blank)], capture_output=True, text=True, timeout=180)
    assert result.returncode == 1
    assert "blank" in result.stderr
