"""The benchmark harness (``python -m bench``): quick runs of the deepae side write complete results.

The quick sizes are shrunk further here so the whole file runs in well under a minute; the
Keras peer runs only where its environment (.venv-bench) exists.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

bench = pytest.importorskip("bench")
from bench import BENCHMARKS, code_size, efficiency, hinton, keras_blog, restore, seed_demo  # noqa: E402
from bench.__main__ import main  # noqa: E402
from bench._core import markdown_table, readme_table, squared_error_per_image  # noqa: E402
from bench._peer import peer_python  # noqa: E402
from bench.logistic_pca import LogisticPCA  # noqa: E402

# benchmark -> (module, smaller QUICK settings)
TINY = {
    "seed-demo": (seed_demo, dict(n_train=1000, n_test=200, epochs=1)),
    "hinton-2006": (hinton, dict(n_train=500, n_test=200, epochs=1, map_epochs=1, lpca_iter=5)),
    "pca": (code_size, dict(n_train=300, n_test=100, code_sizes=(2,), epochs=1)),
    "efficiency": (efficiency, dict(n_train=256, n_test=100, sizes=(256,), batch_sizes=(128,),
                                    bf16_batch_sizes=(128,), epochs=1)),
    "keras-blog": (keras_blog, dict(n_train=200, n_test=100, epochs=1, budget_s=30)),
}
# The restoration benchmarks share one module and its QUICK settings.
RESTORE_TINY = dict(images=1, crop=96, digits=50, n_train=300, epochs=1)
TINY |= {name: (restore, RESTORE_TINY) for name in
         ("denoise-mnist", "denoise-kodak", "upscale-kodak", "colorize-kodak", "unwatermark-kodak", "restore-speed")}
NEEDS_SHIPPED = {"denoise-kodak": "denoise", "upscale-kodak": "upscale-x2", "colorize-kodak": "colorize",
                 "unwatermark-kodak": "unwatermark", "restore-speed": "denoise"}


@pytest.fixture
def tiny(monkeypatch, request):
    module, settings = TINY[request.param]
    needed = NEEDS_SHIPPED.get(request.param)
    if needed and not (restore.R.WEIGHTS / needed / "config.json").is_file():
        pytest.skip(f"no shipped {needed} model in this checkout")
    if request.param == "denoise-kodak":
        pytest.importorskip("bm3d")
    monkeypatch.setattr(module, "QUICK", {**module.QUICK, **settings})
    if request.param == "seed-demo":  # the Keras side has its own test below
        monkeypatch.setattr(seed_demo, "peer_python", lambda: None)
    return request.param


def test_every_benchmark_is_covered():
    """Each benchmark has a quick run here or in its own module's test file (tests/test_bench_*.py)."""
    own_files = " ".join(p.read_text() for p in Path(__file__).parent.glob("test_bench_*.py"))
    uncovered = {name for name in BENCHMARKS if name not in TINY and f'"{name}"' not in own_files}
    assert not uncovered, f"benchmarks without a quick-run test: {sorted(uncovered)}"


@pytest.mark.parametrize("tiny", sorted(TINY), indirect=True)
def test_quick_run_writes_results(tiny, shared_data_dir, tmp_path):
    assert main([tiny, "--quick", "--data-dir", str(shared_data_dir), "--out", str(tmp_path), "--seeds", "1"]) == 0
    doc = json.loads((tmp_path / f"{tiny}.json").read_text())
    assert doc["quick"] is True and doc["command"].startswith(f"python -m bench {tiny} --quick")
    assert doc["machine"]["cpu_model"] and doc["machine"]["cpu_cores"] >= 1 and doc["versions"]["torch"]
    assert doc["headline"] and all({"metric", "published", "ours", "peer", "ratio"} <= set(h) for h in doc["headline"])
    for name in doc["plots"]:
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    md = (tmp_path / f"{tiny}.md").read_text()
    assert md.startswith("# ") and "| " in md
    table = readme_table(tmp_path)
    assert all(h["metric"] in table for h in doc["headline"])


@pytest.mark.skipif(peer_python() is None, reason="no .venv-bench: the Keras peer is not installed")
def test_keras_peer_trains_the_seed_model(shared_data_dir):
    from bench._core import Context
    from bench._peer import KerasPeer

    ctx = Context("seed-demo", quick=True, data_dir=shared_data_dir)
    peer = KerasPeer(ctx.data("mnist", "train", 1000).flat(), ctx.data("mnist", "test", 200).flat())
    try:
        run = seed_demo.run_keras(peer, seed=0, epochs=1, lr=1.0)
    finally:
        peer.close()
    assert len(run.test_bce) == len(run.epoch_seconds) == 1
    assert 0 < run.test_bce[0] < 0.7 and run.extra["learning_rate"] == pytest.approx(1.0)


def test_squared_error_per_image_sums_pixels_and_averages_images():
    x = np.zeros((2, 1, 2, 2), np.float32)
    x_hat = np.stack([np.full((1, 2, 2), 0.5), np.zeros((1, 2, 2))]).astype(np.float32)
    assert squared_error_per_image(x, x_hat) == pytest.approx((4 * 0.25 + 0) / 2)
    assert squared_error_per_image(x, x) == 0


def test_logistic_pca_fits_and_round_trips():
    rng = np.random.default_rng(0)
    x = (rng.random((200, 20)) < rng.random(20)).astype(np.float32)  # independent Bernoulli pixels
    model = LogisticPCA(n_components=3, n_iter=60, lr=0.1).fit(x)
    assert model.loss_curve_[-1] < model.loss_curve_[0]
    codes = model.transform(x[:10])
    recon = model.inverse_transform(codes)
    assert codes.shape == (10, 3) and recon.shape == (10, 20)
    assert ((recon >= 0) & (recon <= 1)).all()


def test_matmul_flops_skip_the_first_layers_input_gradient():
    import torch

    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 4))
    assert efficiency.matmul_flops_per_sample(model) == 6 * (12 + 12) - 2 * 12


def test_markdown_table_formats_numbers_and_missing_values():
    table = markdown_table([{"a": 0.123456, "b": None, "c": "x"}])
    assert table.splitlines() == ["| a | b | c |", "|---|---|---|", "| 0.123 | — | x |"]
