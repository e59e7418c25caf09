"""Every registered model: shapes, one training step lowers the loss, save/load round trip."""

from __future__ import annotations

import copy

import pytest
import torch

from deepae import ConfigError, create_model, list_models
from deepae.losses import Objective
from deepae.train import load_model, save_model, transfer_weights
from deepae.train.checkpoint import CheckpointError

# Small but representative configs, one or more per registered model.
CONFIGS = {
    "dense": [dict(input_shape=(64,), hidden=(32,), code_size=8), dict(input_shape=(1, 8, 8), code_size=4, code_activation="linear")],
    "vae": [dict(input_shape=(64,), hidden=(32,), code_size=4)],
    "conv": [dict(input_shape=(1, 8, 8), channels=(4, 8)), dict(input_shape=(3, 16, 16), channels=(4, 4), code_size=6, downsample="stride")],
    "conv-vae": [dict(input_shape=(3, 8, 8), channels=(4,), code_size=3)],
}
CASES = [(name, cfg) for name in sorted(CONFIGS) for cfg in CONFIGS[name]]


def test_every_registered_model_is_covered():
    assert sorted(CONFIGS) == list_models()


@pytest.mark.parametrize("name,cfg", CASES)
def test_shapes(name, cfg):
    model = create_model(name, **cfg).eval()
    x = torch.rand(5, *model.input_shape)
    out = model(x)
    assert out.x_hat.shape == x.shape
    assert out.z.shape == (5, model.code_dim)
    assert model.encode(x).shape == (5, model.code_dim)
    assert model.decode(model.encode(x)).shape == x.shape
    assert ((out.x_hat >= 0) & (out.x_hat <= 1)).all()  # sigmoid output by default
    layers = model.layer_outputs(x)
    keys = list(layers)
    assert keys[0] == "encoder.0" and keys[-1] == "output" and "code" in keys
    torch.testing.assert_close(layers["code"], model.encode(x))
    torch.testing.assert_close(layers["output"], out.x_hat)


@pytest.mark.parametrize("name,cfg", CASES)
def test_one_step_lowers_loss(name, cfg):
    torch.manual_seed(0)
    model = create_model(name, **cfg)
    x = torch.rand(16, *model.input_shape)
    objective = Objective(loss="bce")
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.eval()  # deterministic forward (VAE uses mu) so the comparison is fair
    before = objective(model, x)[0].item()
    loss, _ = objective(model, x)
    opt.zero_grad()
    loss.backward()
    opt.step()
    assert objective(model, x)[0].item() < before


@pytest.mark.parametrize("name,cfg", CASES)
def test_save_load_round_trip(name, cfg, tmp_path):
    model = create_model(name, **cfg).eval()
    save_model(tmp_path, model)
    loaded = load_model(tmp_path)
    assert type(loaded) is type(model) and loaded.config == model.config
    x = torch.rand(4, *model.input_shape)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x).x_hat, model(x).x_hat, rtol=0, atol=0)


def test_conv_weights_are_channels_last_and_compute_the_same():
    model = create_model("conv", input_shape=(3, 16, 16), channels=(4, 8)).eval()
    convs = [p for p in model.parameters() if p.dim() == 4]
    assert convs and all(p.is_contiguous(memory_format=torch.channels_last) for p in convs)
    nchw = copy.deepcopy(model).to(memory_format=torch.contiguous_format)
    assert all(p.is_contiguous() for p in nchw.parameters())
    x = torch.rand(4, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(model(x).x_hat, nchw(x).x_hat)


@pytest.mark.parametrize("downsample", ["pool", "stride"])
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 15, 22)])
def test_conv_sizes_that_do_not_halve_evenly(shape, downsample):
    # 28 -> 14 -> 7 -> 4 (the Keras tutorial's 16-8-8 model, a 4x4x8 code) and back to 28.
    model = create_model("conv", input_shape=shape, channels=(16, 8, 8), downsample=downsample).eval()
    x = torch.rand(2, *shape)
    out = model(x)
    assert out.x_hat.shape == x.shape
    h, w = shape[1:]
    for _ in range(3):
        h, w = -(-h // 2), -(-w // 2)
    assert model.code_dim == 8 * h * w
    assert model.config.level_sizes[0] == shape[1:] and model.config.level_sizes[-1] == (h, w)


def test_dense_decoder_mirrors_encoder():
    model = create_model("dense", input_shape=(100,), hidden=(64, 32), code_size=8)
    enc = [m.out_features for m in model.encoder.modules() if isinstance(m, torch.nn.Linear)]
    dec = [m.out_features for m in model.decoder.modules() if isinstance(m, torch.nn.Linear)]
    assert enc == [64, 32, 8] and dec == [32, 64, 100]
    custom = create_model("dense", input_shape=(100,), hidden=(64,), code_size=8, decoder_hidden=(16, 48))
    assert [m.out_features for m in custom.decoder.modules() if isinstance(m, torch.nn.Linear)] == [16, 48, 100]


def test_identity_output_and_linear_code():
    model = create_model("dense", input_shape=(10,), code_size=3, code_activation="linear", output_activation="identity")
    out = model(torch.randn(4, 10) * 10)
    assert out.logits is None and (out.x_hat.abs() > 1).any()
    assert (out.z < 0).any()  # a linear code can be negative


def test_vae_samples_and_is_stochastic_only_in_training():
    torch.manual_seed(0)
    model = create_model("vae", input_shape=(20,), hidden=(8,), code_size=2)
    x = torch.rand(3, 20)
    model.train()
    assert not torch.equal(model(x).z, model(x).z)
    model.eval()
    torch.testing.assert_close(model(x).z, model.encode(x))
    assert model.sample(7).shape == (7, 20)


@pytest.mark.parametrize(
    "name,cfg,match",
    [
        ("dense", dict(code_size=0), "code_size=0"),
        ("dense", dict(hidden=(10, -1)), "hidden"),
        ("dense", dict(activation="swishy"), "activation='swishy'"),
        ("dense", dict(dropout=1.5), "dropout=1.5"),
        ("dense", dict(output_activation="softmax"), "output_activation"),
        ("dense", dict(bogus=1), "unknown parameter"),
        ("conv", dict(input_shape=(1, 4, 4), channels=(8, 8, 8)), "too small for 3 downsampling levels"),
        ("conv", dict(input_shape=(28, 28)), "channels, height, width"),
        ("conv", dict(downsample="avg"), "downsample"),
        ("conv-vae", dict(code_size=None), "code_size=None"),
    ],
)
def test_bad_hyperparameters(name, cfg, match):
    with pytest.raises(ConfigError, match=match):
        create_model(name, **cfg)


def test_unknown_model_lists_known_ones():
    with pytest.raises(ConfigError, match="unknown model 'transformer'.*dense"):
        create_model("transformer")


def test_transfer_and_freeze(tmp_path):
    source = create_model("dense", input_shape=(30,), hidden=(16,), code_size=4)
    save_model(tmp_path, source)
    target = create_model("dense", input_shape=(30,), hidden=(16,), code_size=4, decoder_hidden=(8,))
    keys = transfer_weights(target, tmp_path, parts=("encoder",), freeze=True)
    assert keys and all(k.startswith("encoder.") for k in keys)
    for key in keys:
        torch.testing.assert_close(target.state_dict()[key], source.state_dict()[key])
    frozen = {n for n, p in target.named_parameters() if not p.requires_grad}
    assert frozen == set(keys)
    # Only the outermost encoder block of a different model.
    other = create_model("dense", input_shape=(30,), hidden=(16,), code_size=2)
    assert transfer_weights(other, tmp_path, parts=("encoder.0",)) == ["encoder.0.0.bias", "encoder.0.0.weight"]
    with pytest.raises(CheckpointError, match="shape"):
        transfer_weights(other, tmp_path, parts=("encoder",))


def test_mismatched_checkpoint_names_the_key(tmp_path):
    save_model(tmp_path, create_model("dense", input_shape=(30,), code_size=4))
    cfg = (tmp_path / "config.json").read_text().replace('"code_size": 4', '"code_size": 5')
    (tmp_path / "config.json").write_text(cfg)
    with pytest.raises(CheckpointError, match=r"encoder\.0\.0\.weight has shape \(4, 30\), the model expects \(5, 30\)"):
        load_model(tmp_path)


def test_not_a_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="config.json is missing"):
        load_model(tmp_path)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_model(tmp_path / "nope")
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="cannot read"):
        load_model(tmp_path)
