"""The ``defaults`` benchmark's quick mode: the harness runs end to end and writes its tables."""

from __future__ import annotations

import json

import pytest

bench = pytest.importorskip("bench")
from bench import defaults  # noqa: E402
from bench.__main__ import main  # noqa: E402


def test_quick_run_writes_both_tables(monkeypatch, shared_data_dir, tmp_path):
    monkeypatch.setattr(defaults, "QUICK", {**defaults.QUICK, "n_train": 300, "n_test": 100, "short_n_train": 200})
    assert main(["defaults", "--quick", "--data-dir", str(shared_data_dir), "--out", str(tmp_path)]) == 0
    doc = json.loads((tmp_path / "defaults.json").read_text())
    assert doc["quick"] is True
    settings = {(r["setting"], r["data"], r["k"]) for r in doc["rows"]}
    assert settings == {("defaults", "mnist", 2), ("defaults", "digits", 2), ("epochs=10", "mnist", 2)}
    for row in doc["rows"]:
        assert row["deepae error"] > 0 and row["PCA error"] > 0 and row["ratio"] == pytest.approx(
            row["deepae error"] / row["PCA error"])
    assert len(doc["headline"]) == 3
    md = (tmp_path / "defaults.md").read_text()
    assert "validation splits of the training data" in md and "| setting | data | k |" in md
