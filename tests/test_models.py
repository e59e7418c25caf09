"""Every registered model: shapes, one training step lowers the loss, save/load round trip."""

from __future__ import annotations

import copy
import hashlib
import io
import json
import math
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from deepae import ConfigError, DataError, create_model, list_models
from deepae.losses import Objective
from deepae.train import load_model, save_model, transfer_weights
from deepae.train.checkpoint import CheckpointError

# Small but representative configs, one or more per registered model.
CONFIGS = {
    "dense": [
        dict(input_shape=(64,), hidden=(32,), code_size=8),
        dict(input_shape=(1, 8, 8), code_size=4, code_activation="linear"),
    ],
    "vae": [dict(input_shape=(64,), hidden=(32,), code_size=4)],
    "conv": [
        dict(input_shape=(1, 8, 8), channels=(4, 8)),
        dict(input_shape=(3, 16, 16), channels=(4, 4), code_size=6, downsample="stride"),
    ],
    "conv-vae": [dict(input_shape=(3, 8, 8), channels=(4,), code_size=3)],
    "image2image": [
        dict(channels=(4, 8), input_shape=(3, 16, 16)),
        dict(channels=(4, 8, 8), skips=False, input_shape=(3, 16, 12)),
        dict(in_channels=1, out_channels=3, channels=(4, 8), blocks=1, input_shape=(1, 12, 16)),
        dict(channels=(4, 8), scale=2, upsample="pixelshuffle", input_shape=(3, 12, 12)),
        dict(channels=(4,), scale=3, upsample="transpose", skips=False, input_shape=(3, 10, 14)),
        dict(in_channels=1, channels=(4, 8), scale=4, batch_norm=True, input_shape=(1, 8, 8)),
        dict(channels=(4, 8), residual="input", output_activation="identity", input_shape=(3, 16, 16)),
        dict(channels=(4, 8), scale=2, residual="bicubic", output_activation="identity", input_shape=(3, 12, 12)),
    ],
}
CASES = [(name, cfg) for name in sorted(CONFIGS) for cfg in CONFIGS[name]]


def test_every_registered_model_is_covered():
    assert sorted(CONFIGS) == list_models()


def _decodes(model) -> bool:
    """Whether ``decode`` works on a code alone (image-to-image skips and residuals need the input)."""
    return not model.image_to_image or (not model.config.skips and model.config.residual == "none")


@pytest.mark.parametrize("name,cfg", CASES)
def test_shapes(name, cfg):
    model = create_model(name, **cfg).eval()
    x = torch.rand(5, *model.input_shape)
    out_shape = (5, *model.output_shape(x.shape[1:]))
    out = model(x)
    assert out.x_hat.shape == out_shape
    if model.image_to_image:  # codes are feature maps (B, C, h, w); code_dim is their flattened size
        assert out.z.dim() == 4 and out.z.shape[0] == 5 and math.prod(out.z.shape[1:]) == model.code_dim
        torch.testing.assert_close(model.encode(x), out.z)
    else:
        assert out_shape == x.shape
        assert out.z.shape == (5, model.code_dim)
        assert model.encode(x).shape == (5, model.code_dim)
    if _decodes(model):
        assert model.decode(model.encode(x)).shape == out_shape
    else:
        with pytest.raises(ConfigError, match="decode\\(\\) needs"):
            model.decode(model.encode(x))
    if model.config.output_activation == "sigmoid":
        assert ((out.x_hat >= 0) & (out.x_hat <= 1)).all()
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
    out_shape = (16, *model.output_shape(x.shape[1:]))
    if out_shape == x.shape and model.config.output_activation == "sigmoid":
        objective, batch = Objective(loss="bce"), x
    else:  # another output shape, or an unbounded (residual) output: MSE against a target of that shape
        objective, batch = Objective(loss="mse"), (x, torch.rand(out_shape))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.eval()  # deterministic forward (VAE uses mu) so the comparison is fair
    before = objective(model, batch)[0].item()
    loss, _ = objective(model, batch)
    opt.zero_grad()
    loss.backward()
    opt.step()
    assert objective(model, batch)[0].item() < before


@pytest.mark.parametrize("name,cfg", CASES)
def test_save_load_round_trip(name, cfg, tmp_path):
    model = create_model(name, **cfg).eval()
    save_model(tmp_path, model)
    loaded = load_model(tmp_path)
    assert type(loaded) is type(model) and loaded.config == model.config
    x = torch.rand(4, *model.input_shape)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x).x_hat, model(x).x_hat, rtol=0, atol=0)


FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize("name", ["conv", "conv-vae", "dense"])
def test_checkpoints_of_v0_1_0_load_and_reconstruct_the_same(name):
    # Saved by deepae 0.1.0 with their reconstructions: the state_dict keys and the computation must not move.
    model = load_model(FIXTURES / f"v0.1.0-{name}").eval()
    x = torch.from_numpy(np.load(FIXTURES / "v0.1.0-input.npy"))
    expected = torch.from_numpy(np.load(FIXTURES / f"v0.1.0-{name}" / "expected.npy"))
    with torch.no_grad():
        torch.testing.assert_close(model(x).x_hat.reshape(expected.shape), expected, atol=1e-6, rtol=0)


SIZES = [(17, 23), (32, 32), (40, 64)]


@pytest.mark.parametrize("downsample", ["pool", "stride"])
@pytest.mark.parametrize("hw", SIZES)
def test_fully_convolutional_conv_restores_any_size(hw, downsample):
    model = create_model("conv", input_shape=(3, 15, 22), channels=(4, 8, 8), downsample=downsample).eval()
    x = torch.rand(2, 3, *hw)
    out = model(x)
    assert out.x_hat.shape == x.shape == (2, *model.output_shape(x.shape[1:]))
    h, w = hw
    for _ in range(3):
        h, w = -(-h // 2), -(-w // 2)
    assert out.z.shape == (2, 8 * h * w)
    layers = model.layer_outputs(x)
    torch.testing.assert_close(layers["output"], out.x_hat)
    torch.testing.assert_close(layers["code"], model.encode(x))
    # A lone feature map of another size doubles at every level; the configured one restores 15 x 22.
    assert model.decode(out.z.reshape(2, 8, h, w)).shape == (2, 3, 8 * h, 8 * w)
    assert model.decode(torch.rand(2, model.code_dim)).shape == (2, 3, 15, 22)
    with pytest.raises(DataError, match="pass a feature map"):
        model.decode(out.z)  # a flat code of another size: its (h, w) are lost


def test_conv_with_a_dense_code_keeps_its_size():
    model = create_model("conv", input_shape=(1, 16, 16), channels=(4, 4), code_size=5)
    with pytest.raises(DataError, match=r"input_shape=\[1, 16, 16\] \(a dense code_size=5 fixes the size\)"):
        model(torch.rand(2, 1, 20, 20))
    with pytest.raises(DataError, match="too small for 3 downsampling levels"):
        create_model("conv", input_shape=(1, 16, 16), channels=(4, 4, 4))(torch.rand(1, 1, 3, 16))


def _cfg_id(cfg: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in cfg.items() if k != "input_shape")


@pytest.mark.parametrize("cfg", CONFIGS["image2image"], ids=_cfg_id)
@pytest.mark.parametrize("hw", [*SIZES, (1, 1), (3, 5)])
def test_image2image_takes_any_size(cfg, hw):
    model = create_model("image2image", **cfg).eval()
    x = torch.rand(2, model.config.in_channels, *hw)
    s, c_out = model.config.scale, model.config.n_out
    assert model.output_shape(x.shape[1:]) == (c_out, s * hw[0], s * hw[1])
    out = model(x)
    assert out.x_hat.shape == (2, c_out, s * hw[0], s * hw[1])
    m = model.multiple
    assert out.z.shape[-2:] == (-(-hw[0] // m), -(-hw[1] // m))
    torch.testing.assert_close(model.layer_outputs(x)["output"], out.x_hat)


def test_image2image_surface():
    model = create_model("image2image")
    assert model.is_image and model.image_to_image and not model.fixed_code and model.hidden_param == "channels"
    assert model.config.channels == (32, 64, 128) and model.multiple == 4 and model.min_size == 4
    assert model.input_shape == (3, 64, 64) and model.code_dim == 128 * 16 * 16
    assert create_model("image2image", in_channels=1).input_shape == (1, 64, 64)
    assert create_model("dense", input_shape=(64,), code_size=4).output_shape((64,)) == (64,)
    x = torch.rand(1, 3, 9, 9)
    assert model(x, generator=torch.Generator()).x_hat.shape == x.shape  # generator accepted, unused
    with pytest.raises(DataError, match="in_channels=3"):
        model(torch.rand(1, 1, 9, 9))


@pytest.mark.parametrize(
    "residual,scale,c_in,c_out", [("input", 1, 3, 3), ("bicubic", 2, 3, 3), ("bicubic", 3, 1, 1), ("input", 1, 2, 1)]
)
def test_residual_models_start_at_their_base(residual, scale, c_in, c_out):
    # The correction's last layer starts at zero: the untrained model returns the input or its bicubic
    # upscale; extra input channels (a noise map beside a gray image: 2 -> 1) condition but are not output.
    model = create_model(
        "image2image", channels=(4, 8), residual=residual, scale=scale, in_channels=c_in, out_channels=c_out,
        output_activation="identity",
    )
    x = torch.rand(2, c_in, 11, 13)
    out = model(x)
    assert out.logits is None and out.x_hat.shape == (2, c_out, 11 * scale, 13 * scale)
    first = x[:, :c_out]
    up = torch.nn.functional.interpolate
    base = first if scale == 1 else up(first, scale_factor=scale, mode="bicubic", align_corners=False)
    torch.testing.assert_close(out.x_hat, base)


def test_image2image_without_skips_decodes_its_codes():
    model = create_model("image2image", channels=(4, 8, 8), skips=False).eval()
    x = torch.rand(2, 3, 16, 24)
    torch.testing.assert_close(model.decode(model.encode(x)), model(x).x_hat)
    with pytest.raises(ConfigError, match="skips=False"):
        create_model("image2image", channels=(4, 8)).decode(torch.rand(1, 8, 2, 2))


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
        ("image2image", dict(scale=5), "scale=5"),
        ("image2image", dict(upsample="nearest"), "upsample='nearest'"),
        ("image2image", dict(residual="yes"), "residual='yes'"),
        ("image2image", dict(residual="input", out_channels=4, output_activation="identity"), "out_channels=4"),
        ("image2image", dict(residual="input", scale=2, output_activation="identity"), "residual='input' needs scale=1"),
        ("image2image", dict(residual="bicubic", scale=2), "output_activation='identity'"),
        ("image2image", dict(in_channels=1, input_shape=(3, 64, 64)), "in_channels=1"),
        ("image2image", dict(channels=()), "channels"),
        ("image2image", dict(blocks=0), "blocks=0"),
        ("image2image", dict(skips="yes"), "skips='yes'"),
        ("image2image", dict(code_size=8), "unknown parameter"),
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


def _checkpoint(tmp_path) -> Path:
    return save_model(tmp_path / "model", create_model("dense", input_shape=(6,), hidden=(4,), code_size=2))


def test_checkpoints_record_and_check_the_digest_of_their_weights(tmp_path):
    folder = _checkpoint(tmp_path)
    config = json.loads((folder / "config.json").read_text())
    assert config["weights_sha256"] == hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    weights = bytearray((folder / "model.safetensors").read_bytes())
    weights[-1] ^= 1  # one bit of one weight: still a valid safetensors file
    (folder / "model.safetensors").write_bytes(bytes(weights))
    with pytest.raises(CheckpointError, match=r"model\.safetensors' is not the file that was saved: its SHA-256"):
        load_model(folder)
    with pytest.raises(CheckpointError, match="is not the file that was saved"):
        transfer_weights(create_model("dense", input_shape=(6,), hidden=(4,), code_size=2), folder)
    del config["weights_sha256"]  # as deepae 0.1.0 wrote it (tests/fixtures): loads unchecked
    (folder / "config.json").write_text(json.dumps(config))
    load_model(folder)


class _RunsCode:
    """Unpickling it creates a file: the proof that loading ran code from a file."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (Path(self.path).touch, ())


@pytest.mark.parametrize("kind", ["pickle", "torch.save"])
def test_pickle_bearing_weights_are_refused_and_run_nothing(tmp_path, kind):
    folder = _checkpoint(tmp_path)
    marker = tmp_path / "code-ran"
    if kind == "pickle":
        payload = pickle.dumps(_RunsCode(marker))
    else:  # a PyTorch .pt checkpoint (a zip holding a pickle) renamed model.safetensors
        buf = io.BytesIO()
        torch.save({"encoder.0.0.weight": torch.zeros(4, 6), "hook": _RunsCode(marker)}, buf)
        payload = buf.getvalue()
    (folder / "model.safetensors").write_bytes(payload)
    # Its digest recorded too, as whoever swapped the file could: the reader itself must refuse it.
    config = json.loads((folder / "config.json").read_text())
    config["weights_sha256"] = hashlib.sha256(payload).hexdigest()
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"cannot read weights from '.*model\.safetensors'"):
        load_model(folder)
    assert not marker.exists()
