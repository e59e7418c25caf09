"""Tiled application of image-to-image functions: blending, agreement with one pass, bounded memory."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch

from deepae import ConfigError, DataError, create_model
from deepae.apps.tiling import apply_model, apply_tiled


def _small_model(**cfg):
    # Receptive radius 7 (two levels, one conv each): below overlap / 4 = 8 for overlap 32.
    torch.manual_seed(0)
    return create_model("image2image", channels=(4, 8), blocks=1, **cfg).eval()


@pytest.mark.parametrize("shape", [(3, 100, 70), (2, 1, 33, 257)])
@pytest.mark.parametrize("tile,overlap", [(32, 8), (64, 0), (40, 36)])
def test_constant_image_stays_constant_with_a_per_pixel_function(shape, tile, overlap):
    image = torch.full(shape, 0.3)
    out = apply_tiled(lambda x: 2 * x, image, tile=tile, overlap=overlap)
    assert out.shape == shape and out.dtype == torch.float32
    torch.testing.assert_close(out, torch.full(shape, 0.6), atol=1e-6, rtol=0)


def test_per_pixel_function_with_scale_and_channels():
    image = torch.rand(2, 45, 77)
    fn = lambda x: torch.cat([x, -x], 1).repeat_interleave(3, -2).repeat_interleave(3, -1)  # noqa: E731
    out = apply_tiled(fn, image, tile=16, overlap=4, scale=3, out_channels=4)
    torch.testing.assert_close(out, fn(image[None])[0], atol=1e-6, rtol=0)


@pytest.mark.parametrize("cfg", [dict(), dict(scale=2), dict(scale=3, upsample="transpose", in_channels=1, out_channels=2)])
@pytest.mark.parametrize("hw", [(97, 131), (64, 64), (20, 150)])
def test_tiled_equals_one_pass(cfg, hw):
    model = _small_model(**cfg)
    assert 4 * model.receptive_radius() <= 32
    x = torch.rand(2, model.config.in_channels, *hw)
    with torch.no_grad():
        whole = model(x).x_hat
    tiled = apply_model(model, x, tile=48, overlap=32, batch_size=3)
    assert tiled.shape == whole.shape == (2, *model.output_shape(x.shape[1:]))
    # Away from the border as asked; the border agrees too, since border tiles are padded as the model pads.
    b = model.receptive_radius() * model.config.scale
    torch.testing.assert_close(tiled[..., b:-b, b:-b], whole[..., b:-b, b:-b], atol=1e-5, rtol=0)
    torch.testing.assert_close(tiled, whole, atol=1e-5, rtol=0)


def test_batch_of_images_equals_each_image_alone():
    model = _small_model(scale=2)
    x = torch.rand(3, 3, 70, 90)
    together = apply_model(model, x, tile=32, overlap=32 - 8, batch_size=5)
    for i in range(3):
        torch.testing.assert_close(together[i], apply_model(model, x[i], tile=32, overlap=24), atol=1e-6, rtol=0)


def test_image_smaller_than_a_tile_runs_whole():
    calls = []

    def fn(x):
        calls.append(tuple(x.shape))
        return x + 1

    out = apply_tiled(fn, torch.zeros(1, 13, 29), tile=256, multiple=4)
    assert calls == [(1, 1, 16, 32)]  # one call, padded to the multiple
    torch.testing.assert_close(out, torch.ones(1, 13, 29))


def test_apply_model_restores_training_mode_and_reads_the_model():
    model = _small_model(in_channels=1, out_channels=3, scale=2).train()
    out = apply_model(model, torch.rand(1, 50, 60), tile=32, overlap=16)
    assert out.shape == (3, 100, 120) and model.training
    assert not out.is_inference()  # an ordinary tensor the caller may modify
    out += 1


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(tile=32, overlap=32), ConfigError, "overlap=32 must be smaller than tile=32"),
        (dict(tile=0), ConfigError, "tile=0"),
        (dict(overlap=-1), ConfigError, "overlap=-1"),
        (dict(tile=16, overlap=14, multiple=4), ConfigError, "no step that is a multiple of 4"),
        (dict(batch_size=0), ConfigError, "batch_size=0"),
        (dict(scale=2), DataError, "scale=2"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        apply_tiled(lambda x: x, torch.zeros(1, 40, 40), **kwargs)


def test_bad_images():
    with pytest.raises(DataError, match="expected \\(C, H, W\\) or \\(B, C, H, W\\)"):
        apply_tiled(lambda x: x, torch.zeros(40, 40))
    with pytest.raises(DataError, match="dtype torch.uint8"):
        apply_tiled(lambda x: x, torch.zeros(1, 40, 40, dtype=torch.uint8))
    with pytest.raises(ConfigError, match="image-to-image"):
        apply_model(create_model("conv", input_shape=(1, 8, 8)), torch.zeros(1, 8, 8))


def test_large_image_runs_in_bounded_memory():
    # A 4016 x 3008 RGB photo: input, output and weight plane are ~340 MB; the rest must stay small.
    script = textwrap.dedent(
        """
        import torch
        torch.set_num_threads(1)
        from deepae import create_model
        from deepae.apps.tiling import apply_model
        model = create_model("image2image", channels=(4,), blocks=1)
        out = apply_model(model, torch.rand(3, 3008, 4016))
        assert out.shape == (3, 3008, 4016) and torch.isfinite(out).all()
        # VmHWM, this process's own peak: not ru_maxrss, which Linux carries across exec from the parent
        # at the fork (here the pytest session, which may itself be past the bound by then).
        print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")))  # KiB
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    peak_mb = int(done.stdout.split()[-1]) / 1024
    assert peak_mb < 2048, f"peak resident memory {peak_mb:.0f} MB"
