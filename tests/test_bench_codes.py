"""bench/codes.py: each benchmark's quick mode, shrunk further, writes complete results in seconds."""

from __future__ import annotations

import json

import pytest

bench = pytest.importorskip("bench")
from bench import codes  # noqa: E402
from bench.__main__ import main  # noqa: E402

TINY = dict(classes=(0, 1), n_train=600, n_test=300, epochs=1, n_cluster=400, n_queries=50, sizes=(200,),
            code_weights=(0.0, 0.5), pyod=False, umap=False)  # UMAP's first call compiles for a minute: see test_cluster
NAMES = ("anomaly-mnist", "cluster-mnist", "search-images")


@pytest.mark.parametrize("name", NAMES)
def test_quick_run_writes_results(name, shared_data_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(codes, "QUICK", TINY)
    monkeypatch.setattr(codes, "CROSSOVER_SIZES", (200,))
    assert main([name, "--quick", "--data-dir", str(shared_data_dir), "--out", str(tmp_path), "--seeds", "1"]) == 0
    doc = json.loads((tmp_path / f"{name}.json").read_text())
    assert doc["quick"] is True and doc["headline"] and doc["rows"]
    assert all({"metric", "ours", "target", "met"} <= set(h) for h in doc["headline"])
    for plot in doc["plots"]:
        assert (tmp_path / plot).read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / f"{name}.md").read_text().startswith("# ")


def test_precision_at_counts_same_label_neighbours():
    import numpy as np

    labels = np.array([0, 0, 1, 1])
    assert codes._precision_at(labels, np.array([[0, 1], [0, 2]]), np.array([0, 1])) == pytest.approx(0.75)


def test_anomaly_chooses_between_single_models_and_their_ensemble(shared_data_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(codes, "QUICK", TINY)
    assert main(["anomaly-mnist", "--quick", "--data-dir", str(shared_data_dir), "--out", str(tmp_path), "--seeds", "2"]) == 0
    doc = json.loads((tmp_path / "anomaly-mnist.json").read_text())
    figures = doc["figures"]
    assert set(figures["validation_auroc"]) == {f"{k} {w}" for k in ("single", "ensemble") for w in TINY["code_weights"]}
    mean = {key: sum(v) / len(v) for key, v in figures["validation_auroc"].items()}
    assert max(mean, key=mean.get) == f"{figures['detector']} {figures['code_weight']}"
    size = codes.ENSEMBLE  # models per seed
    assert all(len(v) == (2 * size if figures["detector"] == "single" else 2) for v in figures["auroc"].values())
    assert all(len(v) == 2 * size for v in figures["auroc_single_models"].values())
