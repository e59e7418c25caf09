"""deepae.apps.search: exact neighbours agree across backends, the index round-trips and knows its model."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.frozen import FrozenEstimator

from deepae import AutoEncoder, CheckpointError, ConfigError, DataError
from deepae.apps.search import CodeIndex, contact_sheet, exact_search, model_digest
from deepae.data import load_dataset

SMALL = dict(code_size=8, hidden=(32,), epochs=3, batch_size=64, device="cpu")


@pytest.fixture(scope="module")
def digits():
    train, test = load_dataset("digits", "train"), load_dataset("digits", "test")
    return train.flat(), train.y, test.flat(), test.y


@pytest.fixture(scope="module")
def autoencoder(digits):
    return AutoEncoder(**SMALL, random_state=0).fit(digits[0])


@pytest.fixture(scope="module")
def run_dir(autoencoder, tmp_path_factory):
    return autoencoder.save(tmp_path_factory.mktemp("search") / "run")


def _brute(items, queries, metric):
    if metric == "cosine":
        a = items / np.linalg.norm(items, axis=1, keepdims=True)
        b = queries / np.linalg.norm(queries, axis=1, keepdims=True)
        return 1 - b @ a.T
    return np.sqrt(((queries[:, None, :] - items[None]) ** 2).sum(-1))


@pytest.mark.parametrize("backend", ["torch", "faiss", "auto"])
@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_exact_search_matches_brute_force(metric, backend):
    if backend == "faiss":
        pytest.importorskip("faiss")
    rng = np.random.default_rng(0)
    items, queries = rng.standard_normal((500, 16)).astype(np.float32), rng.standard_normal((40, 16)).astype(np.float32)
    dist, idx = exact_search(items, queries, 7, metric, backend)
    full = _brute(items.astype(np.float64), queries.astype(np.float64), metric)
    np.testing.assert_array_equal(idx, np.argsort(full, axis=1)[:, :7])
    np.testing.assert_allclose(dist, np.sort(full, axis=1)[:, :7], rtol=1e-4, atol=1e-4)


def test_torch_blocks_cover_every_query(monkeypatch):
    from deepae.apps import search

    monkeypatch.setattr(search, "_BLOCK", 64)  # a block of one or two queries at a time
    rng = np.random.default_rng(1)
    items, queries = rng.random((50, 4), dtype=np.float32), rng.random((9, 4), dtype=np.float32)
    np.testing.assert_array_equal(search._torch_search(items, queries, 3, "l2")[1],
                                  np.argsort(_brute(items, queries, "l2"), axis=1)[:, :3])


def test_hnsw_is_approximate_but_close(digits, autoencoder):
    pytest.importorskip("faiss")
    X, _, X_test, _ = digits
    exact = CodeIndex(FrozenEstimator(autoencoder)).fit(X)
    approx = CodeIndex(FrozenEstimator(autoencoder), backend="hnsw").fit(X)
    (_, i1), (d2, i2) = exact.search(X_test, 10), approx.search(X_test, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(i1, i2)])
    assert recall > 0.9 and np.all(np.diff(d2, axis=1) >= -1e-6)
    approx.add(X_test[:5])
    assert approx.search(X_test[:5], 1)[1][:, 0].tolist() == list(range(len(X), len(X) + 5))  # the graph was rebuilt


def test_items_find_themselves_first(digits, run_dir):
    X, y, _, _ = digits
    index = CodeIndex(str(run_dir)).fit(X[:300], y[:300])
    _, idx = index.search(X[:20], k=1)
    dist, _ = index.search_codes(index.codes_[:20], k=1)
    assert (idx[:, 0] == np.arange(20)).mean() >= 0.9 and np.allclose(dist, 0, atol=1e-5)
    assert index.model_path_ == str(run_dir.resolve())


def test_neighbours_share_labels(digits, autoencoder):
    X, y, X_test, y_test = digits
    index = CodeIndex(FrozenEstimator(autoencoder)).fit(X, y)
    _, idx = index.search(X_test, k=5)
    assert np.mean(index.labels_[idx] == y_test[:, None]) > 0.5  # chance is 0.1


@pytest.mark.parametrize("model", ["run", "pca"])
def test_save_load_round_trip(digits, run_dir, autoencoder, tmp_path, model):
    X, y, X_test, _ = digits
    source = str(run_dir) if model == "run" else PCA(6, random_state=0)
    index = CodeIndex(source, metric="l2").fit(X[:200], y[:200], names=[f"n{i}" for i in range(200)])
    index.add(X[200:260], y[200:260], names=[f"m{i}" for i in range(60)])
    index.save(tmp_path / "x.index", info={"data": "digits"})
    again = CodeIndex.load(tmp_path / "x.index", autoencoder=None if model == "run" else index.autoencoder_)
    for a, b in zip(index.search(X_test[:10], 4), again.search(X_test[:10], 4)):
        np.testing.assert_array_equal(a, b)
    assert again.names_[-1] == "m59" and again.labels_.shape == (260,) and again.info_ == {"data": "digits"}
    assert again.metric == "l2" and again.model_digest_ == index.model_digest_


def test_a_flipped_byte_in_the_codes_is_found(digits, run_dir, tmp_path):
    CodeIndex(str(run_dir)).fit(digits[0][:50], digits[1][:50]).save(tmp_path / "a.index")
    data = bytearray((tmp_path / "a.index").read_bytes())
    data[-10] ^= 0xFF  # inside the last tensor: the file still parses
    (tmp_path / "b.index").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="changed since it was written"):
        CodeIndex.load(tmp_path / "b.index")


def test_digest_is_the_models_not_the_files(autoencoder, run_dir, digits):
    assert model_digest(autoencoder) == model_digest(str(run_dir)) == model_digest(FrozenEstimator(autoencoder))
    other = AutoEncoder(**SMALL, random_state=1).fit(digits[0][:100])
    assert model_digest(other) != model_digest(autoencoder)


def test_another_models_index_is_refused(digits, run_dir, tmp_path):
    X = digits[0][:100]
    CodeIndex(str(run_dir)).fit(X).save(tmp_path / "a.index")
    other = AutoEncoder(**SMALL, random_state=1).fit(X)
    with pytest.raises(CheckpointError, match="queries must be encoded by the same model"):
        CodeIndex.load(tmp_path / "a.index", autoencoder=other)
    with pytest.raises(CheckpointError, match="queries must be encoded by the same model"):
        CodeIndex.load(tmp_path / "a.index").check_model(other)


def test_bad_input(digits, run_dir, tmp_path):
    X, y = digits[0][:50], digits[1][:50]
    index = CodeIndex(str(run_dir)).fit(X, y)
    with pytest.raises(DataError, match=r"queries have samples of shape \[10\]; the index's model takes \[64\]"):
        index.search(np.zeros((2, 10), np.float32))
    with pytest.raises(DataError, match=r"queries have shape \[1, 5\]; expected \(n_queries, 8\) codes"):
        index.search_codes(np.zeros(5))
    with pytest.raises(ConfigError, match=r"k=51; expected an integer in \[1, 50\]"):
        index.search(X[:1], k=51)
    with pytest.raises(DataError, match="at least one sample"):
        CodeIndex(str(run_dir)).fit(np.empty((0, 64), np.float32))
    with pytest.raises(DataError, match="add: y is missing, but the index was fitted with it"):
        index.add(X[:3])
    with pytest.raises(ConfigError, match="metric='dot'"):
        CodeIndex(str(run_dir), metric="dot").fit(X)
    (tmp_path / "junk.index").write_bytes(b"not an index")
    with pytest.raises(CheckpointError, match="is not a deepae index"):
        CodeIndex.load(tmp_path / "junk.index")
    with pytest.raises(CheckpointError, match="does not exist"):
        CodeIndex.load(tmp_path / "missing.index")


def test_contact_sheet_has_a_row_per_query(digits):
    X = digits[0][:12].reshape(12, 1, 8, 8)
    fig = contact_sheet(X[:2], X[2:12].reshape(2, 5, 1, 8, 8), np.zeros((2, 5)), ["a", "b"])
    assert len(fig.axes) == 2 * 6
