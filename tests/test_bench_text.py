"""The retrieval-reuters benchmark: its precision@k, and a quick run end to end (skipped without the data)."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("bench")
from bench import text  # noqa: E402
from bench.__main__ import main  # noqa: E402


def test_precision_at_k_counts_same_label_neighbours():
    db = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    labels = np.array([0, 0, 1, 0])
    queries, query_labels = np.array([[1.0, 0.05], [0.05, 1.0]]), np.array([0, 1])
    scores = text.precision_at_k(db, labels, queries, query_labels, ks=(1, 2, 4))
    # query 0: neighbours 0, 1 (label 0), then 3, 2; query 1: 2 (label 1), 3, then 1, 0
    assert scores == {1: 1.0, 2: pytest.approx((1 + 0.5) / 2), 4: pytest.approx((0.75 + 0.25) / 2)}
    sparse = text.precision_at_k(__import__("scipy.sparse").sparse.csr_matrix(db), labels, queries, query_labels, ks=(1, 2, 4))
    assert sparse == scores


def test_quick_run_writes_results(shared_data_dir, tmp_path, monkeypatch):
    if not (shared_data_dir / "reuters21578").is_dir():
        pytest.skip("no reuters21578/ in the shared data")
    grid = tuple({**g, "epochs": 1} for g in text.QUICK["grid"])
    monkeypatch.setattr(text, "QUICK", {**text.QUICK, "n_train": 200, "n_test": 60, "grid": grid})
    assert main(["retrieval-reuters", "--quick", "--data-dir", str(shared_data_dir), "--out", str(tmp_path)]) == 0
    doc = json.loads((tmp_path / "retrieval-reuters.json").read_text())
    assert doc["quick"] is True and doc["headline"][0]["target"] == ">= LSA-50 at every k"
    methods = [r["method"] for r in doc["rows"]]
    assert methods == ["deepae TextAutoEncoder (10-d)", "TF-IDF cosine", "LSA-10", "LSA-50"]
    assert all(0 <= r["p@1"] <= 1 for r in doc["rows"])
    for name in doc["plots"]:
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    assert "validation split" in (tmp_path / "retrieval-reuters.md").read_text()
