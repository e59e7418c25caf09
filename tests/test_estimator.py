"""The scikit-learn contract of deepae.AutoEncoder, plus its own invariants."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from deepae import AutoEncoder, CheckpointError, ConfigError, DataError, NotFittedError, load
from deepae.presets import auto_batch_size, auto_epochs, get_preset
from deepae.train import Callback, read_config
from deepae.train.trainer import flush_denormal_enabled

# check_estimator fits dozens of times on tiny data: keep each fit to a few milliseconds.
FAST = dict(epochs=3, batch_size=32, device="cpu", random_state=0)


@parametrize_with_checks([AutoEncoder(**FAST), AutoEncoder(model="vae", code_size=2, hidden=(8,), **FAST)])
def test_sklearn_contract(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def digits():
    from deepae.data import load_dataset

    train, test = load_dataset("digits", "train"), load_dataset("digits", "test")
    return train.flat(), test.flat()


@pytest.fixture(scope="module")
def fitted(digits):
    X, _ = digits
    return AutoEncoder(code_size=8, hidden=(32,), optimizer="adam", epochs=30, batch_size=64, random_state=0).fit(X)


def test_learns_something(fitted, digits):
    X, X_test = digits
    assert fitted.loss_ == "bce"
    first, last = fitted.history_[0]["loss"], fitted.history_[-1]["loss"]
    assert last < 0.8 * first
    # Better than predicting the per-pixel mean on held-out digits.
    mean = np.clip(X.mean(0), 1e-6, 1 - 1e-6)
    baseline = -np.mean(X_test * np.log(mean) + (1 - X_test) * np.log(1 - mean))
    assert -fitted.score(X_test) < baseline


def test_transform_inverse_and_feature_names(fitted, digits):
    _, X_test = digits
    Z = fitted.transform(X_test)
    assert Z.shape == (len(X_test), 8) and Z.dtype == np.float32
    np.testing.assert_allclose(fitted.inverse_transform(Z), fitted.reconstruct(X_test), atol=1e-6)
    assert list(fitted.get_feature_names_out()) == [f"autoencoder{i}" for i in range(8)]
    errors = fitted.reconstruction_error(X_test)
    assert errors.shape == (len(X_test),)
    assert fitted.score(X_test) == pytest.approx(-errors.mean(), rel=1e-5)


def test_layer_outputs(fitted, digits):
    _, X_test = digits
    layers = fitted.layer_outputs(X_test[:5])
    assert [k for k in layers] == ["encoder.0", "encoder.1", "code", "decoder.0", "decoder.1", "output"]
    assert layers["encoder.0"].shape == (5, 32) and layers["code"].shape == (5, 8)
    np.testing.assert_allclose(layers["output"], fitted.reconstruct(X_test[:5]), atol=1e-6)


def test_save_load_round_trip_and_resume(fitted, digits, tmp_path):
    X, X_test = digits
    fitted.save(tmp_path / "run")
    config = read_config(tmp_path / "run")
    assert config["model"]["name"] == "dense" and config["objective"]["loss"] == "bce"
    assert len(config["history"]) == 30 and "torch" in config["versions"]
    loaded = load(tmp_path / "run")
    np.testing.assert_array_equal(loaded.transform(X_test), fitted.transform(X_test))
    assert loaded.get_params() == fitted.get_params()
    loaded.set_params(epochs=32).fit(X, resume=True)
    assert len(loaded.history_) == 32


def test_resume_continues_exactly_like_one_run(digits, tmp_path):
    X, _ = digits
    params = dict(code_size=4, optimizer="adam", batch_size=128, random_state=1)
    straight = AutoEncoder(epochs=4, **params).fit(X)
    half = AutoEncoder(epochs=2, **params).fit(X)
    half.save(tmp_path / "half")
    resumed = load(tmp_path / "half").set_params(epochs=4).fit(X, resume=True)
    np.testing.assert_allclose(resumed.transform(X[:20]), straight.transform(X[:20]), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("damage", ["truncate", "missing"])
def test_resume_from_a_damaged_state_names_the_file(fitted, digits, tmp_path, damage):
    """A loaded estimator works without its trainer state; only resuming needs it, and then says which file failed."""
    X, X_test = digits
    fitted.save(tmp_path / "run")
    state = tmp_path / "run" / "trainer.safetensors"
    if damage == "truncate":
        state.write_bytes(state.read_bytes()[:100])
    else:
        (tmp_path / "run" / "trainer.json").unlink()
    loaded = load(tmp_path / "run")
    np.testing.assert_array_equal(loaded.transform(X_test), fitted.transform(X_test))
    match = r"trainer\.safetensors' is not the file that was saved" if damage == "truncate" else "trainer.json is missing"
    with pytest.raises(CheckpointError, match=match):
        loaded.set_params(epochs=32).fit(X, resume=True)


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda c: c["estimator"]["params"].update(colour="red"), r"estimator params hold unknown key\(s\) \['colour'\]"),
        (lambda c: c.update(notes=1), r"unknown key\(s\) \['notes'\]"),
        (lambda c: c["estimator"]["params"].update(epochs="ten"), "epochs='ten'"),
        (lambda c: c["data"].update(shape=[65]), "the data section does not add up"),
    ],
)
def test_load_refuses_an_edited_config(fitted, tmp_path, edit, match):
    fitted.save(tmp_path / "run")
    config = read_config(tmp_path / "run")
    edit(config)
    (tmp_path / "run" / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=match):
        load(tmp_path / "run")


def test_same_seed_same_model(digits):
    X, _ = digits
    a = AutoEncoder(code_size=4, epochs=2, random_state=3).fit(X).transform(X[:10])
    b = AutoEncoder(code_size=4, epochs=2, random_state=3).fit(X).transform(X[:10])
    np.testing.assert_array_equal(a, b)


def test_pipeline_and_grid_search(digits):
    X, _ = digits
    pipe = make_pipeline(MinMaxScaler(), AutoEncoder(code_size=4, epochs=2, random_state=0))
    assert pipe.fit_transform(X[:200]).shape == (200, 4)
    grid = GridSearchCV(AutoEncoder(epochs=20, batch_size=32, random_state=0), {"code_size": [1, 16]}, cv=2).fit(X[:300])
    assert grid.best_params_ == {"code_size": 16}


def test_beats_pca_at_equal_code_size(digits):
    X, X_test = digits
    ae = AutoEncoder(code_size=4, hidden=(128,), code_activation="linear", optimizer="adam", epochs=40, batch_size=32,
                     random_state=0).fit(X)
    pca = PCA(4).fit(X)
    pca_err = np.mean((pca.inverse_transform(pca.transform(X_test)) - X_test) ** 2)
    ae_err = np.mean((ae.reconstruct(X_test) - X_test) ** 2)
    assert ae_err < pca_err


# -- the defaults ("auto") ----------------------------------------------------------------------
@pytest.mark.parametrize("n, batch, epochs", [(100, 32, 500), (1293, 32, 500), (9000, 45, 112), (54000, 256, 19)])
def test_auto_batch_and_epoch_cap_follow_the_data(n, batch, epochs):
    assert auto_batch_size(n) == batch and auto_epochs(n) == epochs


def test_defaults_hold_out_stop_early_and_build_a_hidden_layer(digits, monkeypatch, tmp_path):
    import deepae.presets

    monkeypatch.setattr(deepae.presets, "AUTO_MAX_EPOCHS", 12)  # keeps the test fast; the rule is the same
    X, _ = digits
    ae = AutoEncoder(code_size=4, random_state=0).fit(X[:400])
    config = ae.model_.config
    assert (config.hidden, config.code_activation) == ((256,), "linear")
    assert (ae.train_config_.batch_size, ae.train_config_.epochs, ae.train_config_.early_stopping) == (32, 12, 10)
    assert all("val_loss" in h for h in ae.history_) and len(ae.history_) <= 12
    ae.save(tmp_path / "run")
    loaded = load(tmp_path / "run")
    assert loaded.get_params() == ae.get_params() and loaded.hidden == "auto"
    assert loaded.train_config_ == ae.train_config_


@pytest.mark.parametrize("preset", ["seed-demo", "keras-sparse", "contractive", "sparse-kl"])
def test_explicit_values_keep_their_old_meaning(digits, preset):
    """A preset (explicit values) gets no hidden layer, code activation, hold-out or early stopping it did not ask for."""
    X, _ = digits
    params = {**get_preset(preset).params, "epochs": 1}
    ae = AutoEncoder(**params, random_state=0).fit(X[:300])
    assert ae.model_.config.hidden == () and ae.model_.config.code_activation == params["code_activation"]
    assert ae.train_config_.batch_size == params["batch_size"] and ae.train_config_.early_stopping is None
    assert "val_loss" not in ae.history_[0]
    old_defaults = dict(hidden=(), code_activation="relu", epochs=1, batch_size=256, validation_fraction=0.0,
                        early_stopping=None, random_state=0)
    spelled_out = AutoEncoder(**old_defaults).fit(X[:300])
    assert spelled_out.model_.config.hidden == () and spelled_out.train_config_.batch_size == 256


@pytest.mark.parametrize("params, match", [
    (dict(epochs="lots"), "epochs='lots'"), (dict(batch_size="big"), "batch_size='big'"),
    (dict(hidden="wide"), "hidden='wide'"), (dict(validation_fraction="some"), "validation_fraction='some'"),
    (dict(early_stopping="soon"), "early_stopping='soon'"),
])
def test_auto_is_the_only_word_accepted(params, match):
    with pytest.raises(ConfigError, match=match):
        AutoEncoder(**params).fit(np.random.rand(10, 4))


def test_images_with_conv_model(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.random((40, 1, 8, 8), dtype=np.float32)
    ae = AutoEncoder(model="conv", code_size=None, hidden=(4,), epochs=2, random_state=0).fit(X)
    assert ae.transform(X).shape == (40, 4 * 4 * 4)
    assert ae.reconstruct(X).shape == X.shape
    flat = AutoEncoder(model="conv", code_size=3, hidden=(4,), epochs=1).fit(X.reshape(40, -1))
    assert flat.reconstruct(X.reshape(40, -1)).shape == (40, 64)
    with pytest.raises(DataError, match="input_shape"):
        AutoEncoder(model="conv", epochs=1).fit(rng.random((10, 50)))


def test_batch_norm_model_fits():
    X = np.random.default_rng(0).random((64, 10), dtype=np.float32)
    ae = AutoEncoder(code_size=3, hidden=(8,), model_params={"batch_norm": True}, epochs=2).fit(X)
    assert ae.transform(X).shape == (64, 3)


def test_mse_and_identity_output_for_unbounded_data():
    X = np.random.default_rng(0).normal(size=(64, 6)).astype(np.float32)
    ae = AutoEncoder(code_size=2, code_activation="linear", epochs=2).fit(X)
    assert ae.loss_ == "mse" and ae.model_.config.output_activation == "identity"


def test_denoising_sparse_contractive_compose(digits):
    X, _ = digits
    ae = AutoEncoder(
        code_size=16, code_activation="sigmoid", noise="salt-and-pepper", noise_level=0.1,
        kl_sparsity=0.1, l1=1e-4, contractive=1e-3, epochs=2, random_state=0,
    ).fit(X[:256])
    assert {"recon", "l1", "kl_sparsity", "contractive"} <= set(ae.history_[-1])


def test_pretraining_and_transfer(digits, tmp_path):
    X, _ = digits
    base = AutoEncoder(hidden=(32,), code_size=8, pretrain_epochs=2, epochs=2, random_state=0).fit(X)
    assert len(base.pretrain_history_) == 2
    base.save(tmp_path / "base")
    child = AutoEncoder(hidden=(32,), code_size=4, init_from=str(tmp_path / "base"), init_parts=("encoder.0",),
                        freeze=True, epochs=2, random_state=0).fit(X)
    np.testing.assert_array_equal(
        child.model_.encoder[0][0].weight.detach().numpy(), base.model_.encoder[0][0].weight.detach().numpy()
    )


@pytest.mark.parametrize(
    "params,match",
    [
        (dict(model="nope"), "unknown model 'nope'"),
        (dict(code_size=-3), "code_size=-3"),
        (dict(optimizer="lbfgs2"), "optimizer='lbfgs2'"),
        (dict(lr=0), "lr=0"),
        (dict(epochs=-1), "epochs=-1"),
        (dict(noise="gaussian", noise_level=-1), "noise_level=-1"),
        (dict(validation_fraction=1.5), "validation_fraction=1.5"),
        (dict(device="cuda:7"), "CUDA is not available"),
    ],
)
def test_bad_parameters_name_themselves(params, match):
    with pytest.raises(ConfigError, match=match):
        AutoEncoder(**params).fit(np.random.rand(10, 4))


def test_bad_data():
    with pytest.raises(ValueError, match="NaN"):
        AutoEncoder(epochs=1).fit(np.array([[0.1, np.nan]]))
    with pytest.raises(ValueError, match="0 sample"):
        AutoEncoder(epochs=1).fit(np.empty((0, 3)))
    with pytest.raises(DataError, match=r"loss='bce' needs data in \[0, 1\]"):
        AutoEncoder(loss="bce", epochs=1).fit(np.array([[2.0, 0.5]]))
    ae = AutoEncoder(epochs=1).fit(np.random.rand(8, 4))
    with pytest.raises(ValueError, match="4 features"):
        ae.transform(np.random.rand(2, 5))
    with pytest.raises(DataError, match=r"expected \(n_samples, 32\)"):
        ae.inverse_transform(np.zeros((2, 3)))
    with pytest.raises(NotFittedError):
        AutoEncoder().transform(np.random.rand(2, 4))
    with pytest.raises(ConfigError, match="variational"):
        ae.sample(2)


def test_load_errors(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load(tmp_path / "missing")


# -- no hidden global state ---------------------------------------------------------------------
STATEFUL = {
    "denoising": dict(code_size=4, noise="gaussian", noise_level=0.3),
    "vae": dict(model="vae", code_size=2, hidden=(16,)),
}


def _global_state():
    return torch.get_rng_state(), torch.get_num_threads(), flush_denormal_enabled()


def _same_global_state(a, b):
    return torch.equal(a[0], b[0]) and a[1:] == b[1:]


@pytest.mark.parametrize("kind", list(STATEFUL))
def test_fit_leaves_global_state_alone(digits, kind):
    X, _ = digits
    torch.manual_seed(123)
    before = _global_state()
    AutoEncoder(epochs=2, random_state=0, **STATEFUL[kind]).fit(X[:300])
    assert _same_global_state(_global_state(), before)


@pytest.mark.parametrize("kind", list(STATEFUL))
def test_random_state_alone_decides_the_fit(digits, kind):
    """Same random_state: identical weights and history whatever the global RNG; another one differs."""
    X, _ = digits

    def fit(random_state, global_seed):
        torch.manual_seed(global_seed)
        ae = AutoEncoder(epochs=2, random_state=random_state, **STATEFUL[kind]).fit(X[:300])
        weights = torch.cat([p.detach().flatten() for p in ae.model_.parameters()])
        return weights, [h["loss"] for h in ae.history_]

    (w1, h1), (w2, h2), (w3, _) = fit(0, 1), fit(0, 2), fit(1, 1)
    assert torch.equal(w1, w2) and h1 == h2
    assert not torch.equal(w1, w3)


def test_failed_fit_restores_threads_and_flush_denormal(digits):
    X, _ = digits

    class Boom(Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            raise RuntimeError("boom")

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        before = _global_state()
        with pytest.raises(RuntimeError, match="boom"):
            AutoEncoder(epochs=2, random_state=0, noise="gaussian", noise_level=0.3).fit(X[:100], callbacks=[Boom()])
        assert _same_global_state(_global_state(), before)
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs CUDA"))])
def test_sample_keeps_the_model_on_its_device(digits, device):
    X, _ = digits
    ae = AutoEncoder(epochs=1, device=device, random_state=0, **STATEFUL["vae"]).fit(X[:100])
    where = next(ae.model_.parameters()).device

    def moved(*args, **kwargs):
        raise AssertionError("sample() moved the model")

    ae.model_.cpu = ae.model_.to = moved
    samples = ae.sample(3, random_state=0)
    assert isinstance(samples, np.ndarray) and samples.shape == (3, X.shape[1])
    assert next(ae.model_.parameters()).device == where
    np.testing.assert_array_equal(samples, ae.sample(3, random_state=0))
