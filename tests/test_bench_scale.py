"""bench/scale.py: the lazy-data and scaling benchmarks, their parts in this process and both end to end (slow)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

scale = pytest.importorskip("bench.scale")
from bench.__main__ import main  # noqa: E402
from deepae.data import ArrayFile, ImageFiles  # noqa: E402
from deepae.errors import DataError  # noqa: E402


@pytest.fixture
def npy(tmp_path):
    x = np.random.default_rng(0).random((700, 784), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    return tmp_path / "x.npy", x


def test_array_file_reads_batches_lazily_in_any_order(npy):
    path, x = npy
    ds = ArrayFile(path)
    assert len(ds) == 700 and ds.sample_shape == (784,)
    idx = [5, 699, 0, 5]
    assert torch.equal(torch.stack(ds.__getitems__(idx)), torch.from_numpy(x[idx]))
    assert torch.equal(ds[3], torch.from_numpy(x[3]))


def test_lazy_datasets_refuse_what_they_cannot_read(tmp_path):
    np.save(tmp_path / "empty.npy", np.zeros((0, 4), np.float32))
    with pytest.raises(DataError, match="non-empty numeric array"):
        ArrayFile(tmp_path / "empty.npy")
    (tmp_path / "img").mkdir()
    Image.new("L", (4, 4)).save(tmp_path / "img" / "a.png")
    Image.new("L", (5, 4)).save(tmp_path / "img" / "b.png")
    ds = ImageFiles(tmp_path / "img", flat=True)
    assert ds[0].shape == (16,)
    with pytest.raises(DataError, match="b.png: 5x4 pixels"):
        ds[1]


def test_training_parts_run_on_lazy_data(npy, tmp_path):
    path, _ = npy
    r = scale._task_train_lazy("npy", str(path), workers=0)
    assert r["samples"] == 700 and np.isfinite(r["loss"])
    (tmp_path / "png").mkdir()
    for i in range(40):
        Image.fromarray(np.full((28, 28), i * 6, np.uint8)).save(tmp_path / "png" / f"{i}.png")
    r = scale._task_train_lazy("png", str(tmp_path / "png"), workers=1)  # decoded in a worker process
    assert r["samples"] == 40 and np.isfinite(r["loss"])
    r = scale._task_codes(str(path), rows=9000)  # more rows than the file: read cyclically
    assert r["rows"] == 9000 and r["rss_trace"][-1][0] == 9000


def test_dae_part_streams_digits_through_one_file(shared_data_dir, tmp_path):
    r = scale._task_dae(str(tmp_path / "d.dae"), n=45, data_dir=str(shared_data_dir))
    assert r["images"] == 45 and r["mismatched"] == 0 and r["bytes"] == (tmp_path / "d.dae").stat().st_size
    assert [t[0] for t in r["trace"]["write"]] == [t[0] for t in r["trace"]["read"]] == list(range(2, 46, 2)) + [45]


def test_epochs_part_reports_threads_and_checkpoint_cost(shared_data_dir):
    r = scale._task_epochs(str(shared_data_dir), n=600, epochs=2, threads="adaptive", checkpoint=True)
    assert len(r["epoch_seconds"]) == 2 and len(r["threads"]) == 2 and r["checkpoint_seconds"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("name, tiny", [
    ("bigdata", dict(pngs=200, npy_mb=2, rows=5000, dae_digits=60)),
    ("scale", dict(ddp_n=512, ddp_epochs=1, epochs=1, reps=1)),
])
def test_quick_run_writes_results(name, tiny, shared_data_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(scale, "QUICK", {**scale.QUICK, **tiny})
    assert main([name, "--quick", "--data-dir", str(shared_data_dir), "--out", str(tmp_path)]) == 0
    doc = json.loads((tmp_path / f"{name}.json").read_text())
    assert doc["headline"] and all({"metric", "published", "ours", "peer", "ratio"} <= set(h) for h in doc["headline"])
    if name == "bigdata":
        assert all(row["under 1.5 GB"] for row in doc["rows"])


def test_gloo_teardown_abort_is_told_from_a_failed_training(tmp_path):
    from torch.multiprocessing import ProcessExitedException

    out = tmp_path / "rank0.json"
    # what torch.multiprocessing.spawn raises for a rank killed by a signal: a negative exit code and its name
    abort = ProcessExitedException("process 1 terminated with signal SIGABRT", error_index=1, error_pid=1,
                                   exit_code=-6, signal_name="SIGABRT")
    assert not scale._teardown_abort(abort, out)  # rank 0 had not finished: the training failed
    out.write_text("{}")
    assert scale._teardown_abort(abort, out)
    killed = ProcessExitedException("process 1 terminated with signal SIGKILL", error_index=1, error_pid=1,
                                    exit_code=-9, signal_name="SIGKILL")
    crashed = ProcessExitedException("process 1 terminated with exit code 1", error_index=1, error_pid=1, exit_code=1)
    assert not scale._teardown_abort(killed, out) and not scale._teardown_abort(crashed, out)
