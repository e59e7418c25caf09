"""`deepae index`, `search`, `cluster` and `anomaly fit|score` through Typer's CliRunner, on the 8x8 digits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from deepae import AutoEncoder
from deepae import data as deepae_data
from deepae.cli import app

try:
    runner = CliRunner(mix_stderr=False)
except TypeError:
    runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def ok(*args):
    result = invoke(*args)
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return result


def refused(message: str, *args):
    result = invoke(*args)
    assert result.exit_code == 2, f"{result.output}\n{result.exception!r}"
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """A run folder (8-d codes, 3 epochs), 5 digit PNGs, an array of 40 test digits and their labels."""
    folder = tmp_path_factory.mktemp("codes")
    train = deepae_data.load("digits", split="train")
    AutoEncoder(code_size=8, hidden=(32,), epochs=3, device="cpu", random_state=0).fit(train.x).save(folder / "run")
    AutoEncoder(code_size=8, hidden=(32,), epochs=1, device="cpu", random_state=1).fit(train.x).save(folder / "other")
    test = deepae_data.load("digits", split="test")
    deepae_data.save_images(test.x[:5], folder / "images", [f"q{i}.png" for i in range(5)])
    np.save(folder / "arr.npy", test.flat()[:40])
    np.save(folder / "labels.npy", test.y[:40])
    np.save(folder / "wide.npy", np.zeros((3, 10), np.float32))
    ok("index", folder / "run", "digits", "-o", folder / "digits.index")
    return folder


def test_an_approximate_index(work, tmp_path):
    pytest.importorskip("faiss")
    ok("index", work / "run", "digits", "-o", tmp_path / "h.index", "--backend", "hnsw", "--metric", "l2")
    assert "5 nearest of 1,437 (l2)" in ok("search", tmp_path / "h.index", "digits:1", "-k", 5).stdout


def test_index_then_search_an_array_row_and_a_folder(work, tmp_path):
    result = ok("search", work / "digits.index", f"{work / 'arr.npy'}:3", "-k", 4, "--sheet", tmp_path / "s.png")
    assert "4 nearest of 1,437" in result.stdout and "rank" in result.stdout
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"
    result = ok("search", work / "digits.index", work / "images", "-k", 2)
    assert all(f"q{i}.png" in result.stdout for i in range(5))
    refused("already exists; pass --force", "search", work / "digits.index", "digits:0", "--sheet", tmp_path / "s.png")


def test_search_refuses_what_does_not_fit(work):
    refused("has samples of shape [10] but run", "search", work / "digits.index", f"{work / 'wide.npy'}:0")
    refused("queries must be encoded by the same model", "search", work / "digits.index", "digits:0",
            "--model", work / "other")
    refused("row 40 is past the last row (39)", "search", work / "digits.index", f"{work / 'arr.npy'}:40")
    refused("the index holds 1437 items only", "search", work / "digits.index", "digits:0", "-k", 5000)
    refused("is not a deepae index", "search", work / "labels.npy", "digits:0")


def test_index_refuses_empty_data_and_overwrites(work, tmp_path):
    (tmp_path / "empty").mkdir()
    refused("folder holds no images", "index", work / "run", tmp_path / "empty", "-o", tmp_path / "x.index")
    refused("already exists; pass --force", "index", work / "run", "digits", "-o", work / "digits.index")


def test_cluster_writes_labels_map_and_scores(work, tmp_path):
    out = tmp_path / "clusters"
    result = ok("cluster", work / "run", work / "arr.npy", "-o", out, "--n-clusters", 4, "--labels", work / "labels.npy")
    assert "ACC" in result.stdout and "NMI" in result.stdout
    labels = np.load(out / "labels.npy")
    assert labels.shape == (40,) and set(labels) <= set(range(4))
    doc = json.loads((out / "labels.json").read_text())
    assert doc["labels"] == labels.tolist() and sum(doc["sizes"]) == 40
    assert set(json.loads((out / "scores.json").read_text())["scores"]) == {"acc", "nmi", "ari"}
    assert (out / "map.png").read_bytes()[:4] == b"\x89PNG"
    refused("already exists", "cluster", work / "run", work / "arr.npy", "-o", out)
    ok("cluster", work / "run", work / "arr.npy", "-o", out, "--n-clusters", 3, "--refine", "dec", "--force")


def test_cluster_bad_input(work, tmp_path):
    refused("n_clusters=41 needs at least as many samples; X has n_samples=40",
            "cluster", work / "run", work / "arr.npy", "-o", tmp_path / "c", "--n-clusters", 41)
    refused("expected 40 integer labels", "cluster", work / "run", work / "arr.npy", "-o", tmp_path / "c",
            "--labels", work / "wide.npy")
    np.save(tmp_path / "one.npy", np.load(work / "arr.npy")[:1])
    refused("1 sample; clustering needs at least 2", "cluster", work / "run", tmp_path / "one.npy", "-o", tmp_path / "c",
            "--n-clusters", 1)
    assert not (tmp_path / "c").exists()


def test_anomaly_fit_then_score(work, tmp_path):
    det = tmp_path / "detector"
    ok("anomaly", "fit", work / "arr.npy", "-o", det, "--autoencoder", work / "run", "--contamination", 0.1,
       "--code-weight", 0.5)
    assert (det / "detector.json").is_file() and (det / "autoencoder" / "model.safetensors").is_file()
    result = ok("anomaly", "score", det, work / "arr.npy", "-o", tmp_path / "scores.csv", "--top", 3)
    assert "4 of 40 samples are outliers" in result.stdout
    rows = (tmp_path / "scores.csv").read_text().splitlines()
    assert rows[0] == "sample,score,decision,outlier" and len(rows) == 41
    assert sum(int(r.rsplit(",", 1)[1]) for r in rows[1:]) == 4
    # a detector trained here, on images
    ok("--quiet", "anomaly", "fit", work / "images", "-o", tmp_path / "d2", "--epochs", 1, "--code-size", 4)
    ok("anomaly", "score", tmp_path / "d2", work / "images")
    # an ensemble of two, trained here
    result = ok("--quiet", "anomaly", "fit", work / "images", "-o", tmp_path / "d3", "--epochs", 1, "--code-size", 4,
                "--models", 2)
    # the console wraps long lines (here after the temporary folder's path, whose length varies)
    assert "(2 models)" in " ".join(result.stdout.split()) and (tmp_path / "d3" / "member-1" / "detector.json").is_file()
    ok("anomaly", "score", tmp_path / "d3", work / "images")
    refused("n_models=2 trains 2 autoencoders, but autoencoder is a trained one", "anomaly", "fit", work / "arr.npy",
            "-o", tmp_path / "d4", "--autoencoder", work / "run", "--models", 2)
    assert not (tmp_path / "d4").exists()


@pytest.mark.parametrize("contamination", [0.0, 0.6, -1.0])
def test_anomaly_contamination_out_of_range(work, tmp_path, contamination):
    refused(f"contamination={contamination}; expected a number in (0, 0.5]", "anomaly", "fit", work / "arr.npy",
            "-o", tmp_path / "d", "--contamination", contamination)
    assert not (tmp_path / "d").exists()


def test_anomaly_score_needs_a_detector(work, tmp_path):
    refused("is not a saved outlier detector", "anomaly", "score", work / "run", work / "arr.npy")
    refused("must be a .csv file", "anomaly", "score", work / "run", work / "arr.npy", "-o", tmp_path / "s.txt")
