"""The learned image codec: round trips, the .dae format's defences, streaming, the CLI, and a decoder fuzz."""

from __future__ import annotations

import io
import zlib

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from typer.testing import CliRunner

from deepae.apps.codec import (
    MAGIC,
    SHIPPED,
    CodecConfig,
    CodecError,
    CodecNet,
    DaeWriter,
    codec_from_net,
    compress,
    create_net,
    decompress,
    info,
    load_codec,
    read_dae,
    save_codec,
)
from deepae.cli import app
from deepae.errors import CheckpointError, DataError

try:
    runner = CliRunner(mix_stderr=False)
except TypeError:
    runner = CliRunner()

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def _tiny(channels: int, seed: int = 0) -> CodecNet:
    torch.manual_seed(seed)
    lambdas = [0.01 * 2**i for i in range(8)]
    return CodecNet(CodecConfig(channels=channels, width=8, latent=4, downsamplings=2, kernel=3, lambdas=lambdas))


@pytest.fixture(scope="module")
def gray():
    return codec_from_net(_tiny(1), "tiny-gray")


@pytest.fixture(scope="module")
def rgb():
    return codec_from_net(_tiny(3, seed=1), "tiny-rgb")


def _tiny_block(channels: int, seed: int = 0, quality_post: bool = False):
    from deepae.apps.codec._model import create_net

    torch.manual_seed(seed)
    lambdas = [0.01 * 2**i for i in range(8)]
    return create_net(CodecConfig(channels=channels, arch="dct", latent=64 * channels, width=8, hyper=4, post=4,
                                  lambdas=lambdas, quality_post=quality_post))


@pytest.fixture(scope="module")
def block_gray():
    return codec_from_net(_tiny_block(1), "tiny-block-gray")


@pytest.fixture(scope="module")
def block_rgb():
    net = _tiny_block(3, seed=1, quality_post=True)
    with torch.no_grad():  # a non-zero post-filter and residuals: every stage takes part in the round trip
        for module in (net.enc, net.dec, net.post.net):
            module[-1].weight.normal_(0, 0.02)
        net.post.film_scale.uniform_(0.5, 1.5)  # and the post-filter differs per quality
        net.post.film_shift.normal_(0, 0.1)
    return codec_from_net(net, "tiny-block-rgb")


def _tiny_tile(channels: int, seed: int = 0):
    torch.manual_seed(seed)
    lambdas = [0.01 * 2**i for i in range(8)]
    return create_net(CodecConfig(channels=channels, arch="tile", width=8, latent=4, hyper=3, hidden=[16], patch=8,
                                  downsamplings=2, kernel=3, lambdas=lambdas))


@pytest.fixture(scope="module")
def tile_gray():
    net = _tiny_tile(1, seed=3)
    with torch.no_grad():  # means far from zero: the round trip must add back what z predicts
        net.h_s[-1].bias[:net.config.latent] = 2.5
    return codec_from_net(net, "tiny-tile-gray")


@pytest.fixture(scope="module")
def tile_rgb():
    return codec_from_net(_tiny_tile(3, seed=4), "tiny-tile-rgb")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("codec") / "tiny"
    net = _tiny(3, seed=2)
    net.eval()
    net.prior.update_tables()
    save_codec(path, net, "tiny-folder")
    return path


def _images(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (28, 28), dtype=np.uint8), rng.integers(0, 256, (13, 7, 3), dtype=np.uint8),
            np.full((1, 1), 200, np.uint8), rng.integers(0, 256, (9, 33, 3), dtype=np.uint8)]


def _direct(codec, image: np.ndarray, quality: int) -> np.ndarray:
    """What the network reconstructs without entropy coding: the decoder must give exactly this."""
    from deepae.apps.codec._coding import _planes, _to_pixels

    x = _planes(image if image.ndim == 3 else image[..., None], codec.config.channels)
    with torch.inference_mode():
        x_hat, _ = codec.net.evaluate(x, quality - 1)
    return _to_pixels(x_hat, "L" if image.ndim == 2 else "RGB")


# -- round trips ------------------------------------------------------------------------------------
@pytest.mark.parametrize("which", ["gray", "rgb", "block_gray", "block_rgb", "tile_gray", "tile_rgb"])
@pytest.mark.parametrize("quality", [1, 3])
def test_round_trip_gives_the_networks_reconstruction_exactly(which, quality, request):
    codec = request.getfixturevalue(which)
    images = _images()
    out = decompress(compress(images, model=codec, quality=quality), model=codec)
    assert [o.shape for o in out] == [i.shape for i in images] and all(o.dtype == np.uint8 for o in out)
    for image, decoded in zip(images, out):
        np.testing.assert_array_equal(decoded, _direct(codec, image, quality))


def test_escape_symbols_code_values_outside_the_tables(gray):
    net = _tiny(1, seed=5)
    net.eval()
    net.prior.update_tables()
    net.prior.pmf_length.fill_(2)  # one real symbol + escape: almost every latent escapes
    net.prior.pmf.zero_()
    net.prior.pmf[:, :2] = 1
    codec = codec_from_net(net, "narrow")
    image = np.random.default_rng(3).integers(0, 256, (20, 24), dtype=np.uint8)
    np.testing.assert_array_equal(decompress(compress([image], model=codec, quality=3), model=codec)[0],
                                  _direct(codec, image, 3))


def test_inputs_stacks_floats_and_names(gray):
    digits = np.random.default_rng(0).random((3, 1, 12, 12)).astype(np.float32)  # deepae's (N, 1, H, W)
    out = decompress(compress(digits, model=gray, quality=2), model=gray)
    assert [o.shape for o in out] == [(12, 12)] * 3
    data = compress(_images()[:2], model=gray, quality=2, names=["a.png", "dir/b.png"])
    assert [(d.name, d.pixels.shape) for d in read_dae(data, model=gray)] == [("a.png", (28, 28)), ("dir/b.png", (13, 7, 3))]
    meta = info(data)
    assert meta["images"] == 2 and meta["bytes"] == len(data) and meta["model"] == "tiny-gray" and meta["quality"] == 2
    assert issubclass(CodecError, DataError)


def test_one_row_rgb_images_stay_rgb(rgb):
    # (1, W, 3) is how Pillow gives a one-row colour image, not deepae's channel-first (1, H, W) gray
    images = [np.arange(30, dtype=np.uint8).reshape(1, 10, 3), np.full((1, 1, 3), 90, np.uint8)]
    assert [o.shape for o in decompress(compress(images, model=rgb, quality=2), model=rgb)] == [(1, 10, 3), (1, 1, 3)]


@pytest.mark.parametrize("bad, match", [
    (np.zeros((4, 4, 2), np.uint8), "shape"),
    (np.full((4, 4), 2.0), r"\[0, 1\]"),
    (np.zeros((4, 4), np.int64), "dtype"),
    (np.zeros((0, 4), np.uint8), "size"),
])
def test_bad_images_and_qualities_are_refused(gray, bad, match):
    with pytest.raises(CodecError, match=match):
        compress([bad], model=gray)
    with pytest.raises(CodecError, match="quality"):
        compress([np.zeros((4, 4), np.uint8)], model=gray, quality=9)


def test_streaming_reads_one_chunk_at_a_time(gray):
    buf = io.BytesIO()
    digits = np.random.default_rng(1).integers(0, 256, (600, 8, 8), dtype=np.uint8)
    with DaeWriter(buf, model=gray, quality=1) as writer:
        for d in digits:
            writer.add(d)
    data = buf.getvalue()

    class Counting(io.BytesIO):
        def read(self, n=-1):
            out = super().read(n)
            self.high = max(getattr(self, "high", 0), self.tell())
            return out

    stream = Counting(data)
    first = next(read_dae(stream, model=gray))
    assert first.pixels.shape == (8, 8) and stream.high < len(data) / 2  # 600 images: the first chunk holds 256
    assert len(decompress(data, model=gray)) == 600


# -- the file format's defences -----------------------------------------------------------------------
def _reforge(data: bytes, offset: int, new: bytes) -> bytes:
    """Replace bytes in the header and recompute every running checksum: a forged, self-consistent file."""
    head_len = 4 + 1 + 1 + data[5] + 8 + 1
    out = bytearray(data)
    out[offset:offset + len(new)] = new
    out[head_len:head_len + 4] = zlib.crc32(bytes(out[:head_len])).to_bytes(4, "big")
    pos = head_len + 4
    while out[pos:pos + 1] == b"C":
        p = pos + 1
        for _ in range(2):
            value = shift = 0
            while True:
                byte = out[p]
                p += 1
                value |= (byte & 0x7F) << shift
                shift += 7
                if not byte & 0x80:
                    break
        end = p + value
        out[end:end + 4] = zlib.crc32(bytes(out[:end])).to_bytes(4, "big")
        pos = end + 4
    p = pos + 1
    while out[p] & 0x80:
        p += 1
    out[p + 1:p + 5] = zlib.crc32(bytes(out[:p + 1])).to_bytes(4, "big")
    return bytes(out)


def test_truncated_and_edited_files_are_refused(gray):
    data = compress(_images()[:2], model=gray, quality=2)
    for cut in range(len(data)):
        with pytest.raises(CodecError):
            decompress(data[:cut], model=gray)
    for i in range(len(data)):
        edited = bytearray(data)
        edited[i] ^= 0x10
        with pytest.raises(CodecError):
            decompress(bytes(edited), model=gray)
    with pytest.raises(CodecError, match="after the end|follow the end"):
        decompress(data + b"\0", model=gray)


def test_forged_version_model_and_quality_are_refused_by_name(gray, rgb):
    data = compress(_images()[:1], model=gray, quality=2)
    assert _reforge(data, 0, b"") == data  # the forger's checksums are the writer's
    with pytest.raises(CodecError, match="format version 3; this deepae reads versions 1, 2"):
        decompress(_reforge(data, 4, b"\x03"), model=gray)
    with pytest.raises(CodecError, match="made by the codec model 'tiny-gray'.*not by 'tiny-rgb'"):
        decompress(data, model=rgb)
    quality_at = 4 + 1 + 1 + data[5] + 8
    with pytest.raises(CodecError, match="quality 9"):
        decompress(_reforge(data, quality_at, b"\x09"), model=gray)
    with pytest.raises(CodecError, match="not shipped"):
        decompress(data)  # no model given, and the file names a model deepae does not ship
    with pytest.raises(CodecError, match="not a .dae file"):
        decompress(b"PK\x03\x04 not a dae file")
    assert data.startswith(MAGIC)


def _as_version_1(data: bytes) -> bytes:
    """The same images written as format version 1 did: every record stores its mode and size."""
    import io
    import zlib

    from deepae.apps.codec._format import MODE_CODES, _Reader, read_chunks, read_header, varint

    reader = _Reader(io.BytesIO(data))
    header = read_header(reader)
    name = header.model.encode()
    out = bytearray(MAGIC + bytes([1, len(name)]) + name + header.digest + bytes([header.quality]))
    out += zlib.crc32(out).to_bytes(4, "big")
    total = 0
    for records in read_chunks(reader, header.version):
        body = b"".join(varint(len(r.name.encode())) + r.name.encode() + bytes([MODE_CODES[r.mode]]) + varint(r.width)
                        + varint(r.height) + varint(len(r.payload)) + r.payload for r in records)
        out += b"C" + varint(len(records)) + varint(len(body)) + body
        out += zlib.crc32(out).to_bytes(4, "big")
        total += len(records)
    out += b"E" + varint(total)
    return bytes(out + zlib.crc32(out).to_bytes(4, "big"))


def test_records_of_equal_sized_images_leave_out_mode_and_size(gray):
    digits = [np.random.default_rng(i).integers(0, 256, (28, 28), dtype=np.uint8) for i in range(5)]
    mixed = [digits[0], digits[1], _images()[1], digits[2]]
    for images in (digits, mixed):
        data = compress(images, model=gray, quality=2, names=[f"d{i}" for i in range(len(images))])
        assert info(data)["format_version"] == 2
        old = _as_version_1(data)
        saved = sum(1 + 1 + 1 for a, b in zip(images, images[1:]) if a.shape == b.shape)  # mode, width, height
        assert len(old) - len(data) == saved
        for a, b, image in zip(decompress(data, model=gray), decompress(old, model=gray), images):
            assert a.shape == image.shape
            np.testing.assert_array_equal(a, b)  # version-1 files still read, to the same pixels
        assert [i["name"] for i in info(old)["list"]] == [f"d{i}" for i in range(len(images))]


def test_a_chunks_first_record_cannot_refer_back(gray):
    data = compress([_images()[2]], model=gray, quality=2)  # 1x1: a body under 128 bytes
    header = 4 + 1 + 1 + data[5] + 8 + 1 + 4  # magic, version, name length, name, digest, quality, CRC
    body_at = header + 1 + 1 + 1  # 'C', image count, body length (all one byte here)
    assert data[body_at] == 0  # no name, all fields present
    with pytest.raises(CodecError, match="first image refers to an image before it"):
        decompress(_reforge(data, body_at, b"\x01"), model=gray)


# -- fuzzing the decoder --------------------------------------------------------------------------------
@FUZZ
@given(data=st.binary(max_size=300))
def test_fuzz_random_bytes(gray, data):
    try:
        decompress(MAGIC + bytes([1 + data[1] % 2]) + data if data[:1] == b"\x00" and len(data) > 1 else data, model=gray)
    except CodecError:
        pass


@FUZZ
@given(st.data())
def test_fuzz_mutated_files(gray, data):
    valid = compress(_images(1)[:2], model=gray, quality=2)
    mutated = bytearray(valid)
    for _ in range(data.draw(st.integers(1, 4))):
        kind = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        pos = data.draw(st.integers(0, max(len(mutated) - 1, 0)))
        if kind == "flip" and mutated:
            mutated[pos] = data.draw(st.integers(0, 255))
        elif kind == "cut":
            del mutated[pos:pos + data.draw(st.integers(1, 8))]
        else:
            mutated[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
    try:
        out = decompress(bytes(mutated), model=gray)
        assert all(o.dtype == np.uint8 for o in out)
    except CodecError:
        pass


@FUZZ
@given(st.data())
@pytest.mark.parametrize("which", ["gray", "block_rgb", "tile_gray"])
def test_fuzz_forged_payloads_decode_or_raise(which, request, data):
    # A forger who recomputes the checksums: the payload itself must never crash the decoder.
    from deepae.apps.codec._coding import decode_image

    gray = request.getfixturevalue(which)
    payload = data.draw(st.binary(max_size=64))
    h, w = data.draw(st.integers(1, 20)), data.draw(st.integers(1, 20))
    mode = data.draw(st.sampled_from(["L", "RGB"]))
    try:
        out = decode_image(gray, payload, h, w, mode, data.draw(st.integers(1, 8)))
        assert out.shape == ((h, w) if mode == "L" else (h, w, 3)) and out.dtype == np.uint8
    except CodecError:
        pass


# -- the block-transform codec -------------------------------------------------------------------------
def test_block_dct_is_orthonormal_and_matches_a_convolution():
    import torch.nn.functional as F

    from deepae.apps.codec._hyper import block_dct, block_idct, dct_basis

    basis = dct_basis()
    torch.testing.assert_close(basis @ basis.T, torch.eye(64), atol=1e-6, rtol=0)
    x = torch.rand(2, 3, 16, 24)
    coef = block_dct(x, basis)
    reference = F.conv2d(x, basis.reshape(64, 1, 8, 8).repeat(3, 1, 1, 1), stride=8, groups=3)
    torch.testing.assert_close(coef, reference, atol=1e-5, rtol=0)
    torch.testing.assert_close(block_idct(coef, basis), x, atol=1e-5, rtol=0)
    assert torch.allclose(coef[:, 0], x[:, 0].reshape(2, 2, 8, 3, 8).mean((2, 4)) * 8, atol=1e-5)  # DC = 8 x mean


@pytest.mark.parametrize("which", ["block_rgb", "tile_gray"])
def test_hyperprior_codecs_code_with_float64_scales(which, request):
    net = request.getfixturevalue(which).net
    z_hat = torch.randn(1, net.config.hyper, 2, 3).round()
    means, scales = net.entropy_parameters(z_hat)
    means64, scales64 = net.coding_parameters(z_hat)
    assert scales64.dtype == torch.float64 and means64.dtype == torch.float32
    kept = net.coding_parameters(z_hat, net.coding_weights())  # what a coder does with weights it keeps
    assert torch.equal(kept[0], means64) and torch.equal(kept[1], scales64)
    torch.testing.assert_close(scales64.float(), scales, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(means64, means, rtol=1e-5, atol=1e-6)


# -- the tile codec -----------------------------------------------------------------------------------
def test_tile_codec_sends_one_side_vector_per_tile(tile_gray):
    net = tile_gray.net
    x = torch.rand(2, 1, 16, 24)  # 2 x 3 tiles of 8 x 8
    y = net.analysis(x, 0)
    z = net.hyper_analysis(y)
    means, scales = net.entropy_parameters(torch.round(z))
    assert y.shape == (2, 4, 4, 6) and z.shape == (2, 3, 2, 3)
    assert means.shape == scales.shape == y.shape and bool((scales >= 0.11).all())
    x_hat, bits = net(x, torch.tensor([0, 7]))
    assert x_hat.shape == x.shape and bits.shape == (2,) and bool((bits > 0).all())
    with pytest.raises(ValueError, match="divisible by 4"):
        create_net(CodecConfig(arch="tile", patch=10, downsamplings=2))


def test_post_filter_per_quality():
    from deepae.apps.codec._hyper import PostFilter

    torch.manual_seed(0)
    post = PostFilter(3, 8, qualities=4)
    x = torch.rand(2, 3, 16, 16)
    assert torch.equal(post(x, torch.tensor([0, 3])), x)  # zero last layer: the identity at initialisation
    with torch.no_grad():
        post.net[-1].weight.normal_(0, 0.1)
        post.film_scale[:, 1] = 0  # quality 1's features are all zero: the filter adds nothing there
        post.film_shift[:, 1] = 0
    plain = PostFilter(3, 8)
    plain.net.load_state_dict(post.net.state_dict())
    assert torch.allclose(post(x, 0), plain(x, 0), atol=1e-6)  # scale 1, shift 0: the unconditioned filter
    assert not torch.allclose(post(x, 0), x)
    out = post(x, torch.tensor([0, 1]))
    assert torch.equal(out[1], x[1]) and torch.allclose(out[0], plain(x[:1], 0)[0], atol=1e-6)


def test_rd_loss_balance_weights_each_quality():
    from deepae.apps.codec._train import rd_loss

    net = _tiny(1)
    x = torch.rand(2, 1, 16, 16)
    losses = {}
    for q in (0, 7):
        qs = torch.full((2,), q)
        torch.manual_seed(0)
        plain, _ = rd_loss(net, x, qs)
        torch.manual_seed(0)
        losses[q] = float(rd_loss(net, x, qs, balance=0.5)[0].detach() / plain.detach())
    lambdas = torch.tensor(net.config.lambdas)
    mean = lambdas.log().mean().exp()
    assert losses[0] == pytest.approx(float((lambdas[0] / mean) ** -0.5), rel=1e-5)
    assert losses[7] == pytest.approx(float((lambdas[7] / mean) ** -0.5), rel=1e-5)


def test_untrained_block_codec_quantizes_like_jpeg():
    # At initialisation the residuals and the post-filter are zero: quality q is JPEG's tables times a
    # step scale, so reconstructions improve with q and a smooth image survives the coarsest steps.
    net = _tiny_block(3).eval()
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 64), torch.linspace(0, 1, 96), indexing="ij")
    x = torch.stack([yy, xx, (yy + xx) / 2])[None]
    mse = [float(((net.evaluate(x, q)[0] - x) ** 2).mean()) for q in range(8)]
    assert all(a > b for a, b in zip(mse, mse[1:])) and mse[0] < 5e-3, mse  # 23 dB at the coarsest


# -- the command line ----------------------------------------------------------------------------------
def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def _error(result, match: str) -> None:
    assert result.exit_code == 2, result.output
    message = result.stderr.strip()
    assert message.count("\n") == 0 and message.startswith("error: ") and "Traceback" not in message
    assert match in message, message


@pytest.mark.parametrize("key, value", [("width", 2**31), ("latent", 2**30)])
def test_a_codec_config_asking_for_a_huge_layer_is_refused_before_it_is_built(folder, tmp_path, key, value):
    import json
    import shutil

    from deepae.apps.codec import load_codec
    from deepae.errors import CheckpointError

    forged = tmp_path / "forged"
    shutil.copytree(folder, forged)
    config = json.loads((forged / "config.json").read_text())
    config["codec"][key] = value
    (forged / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="config.json"):
        load_codec(forged)


def test_cli_compress_decompress_info(folder, tmp_path):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (30, 41, 3), dtype=np.uint8)).save(src / "colour.png")
    Image.fromarray(rng.integers(0, 256, (17, 12), dtype=np.uint8)).save(src / "sub" / "gray.png")
    Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(tmp_path / "single.jpg")
    archive = tmp_path / "out.dae"
    result = invoke("compress", src, tmp_path / "single.jpg", "-o", archive, "--model", folder, "--quality", 2)
    assert result.exit_code == 0, result.output + result.stderr
    result = invoke("codec-info", archive)
    assert result.exit_code == 0 and "3 image(s)" in result.output and "tiny-folder" in result.output
    assert "bits per pixel" in result.output
    out = tmp_path / "decoded"
    result = invoke("decompress", archive, "-o", out, "--model", folder)
    assert result.exit_code == 0, result.output + result.stderr
    sizes = {p.relative_to(out).as_posix(): (Image.open(p).size, Image.open(p).mode) for p in out.rglob("*.png")}
    assert sizes == {"colour.png": ((41, 30), "RGB"), "sub/gray.png": ((12, 17), "L"), "single.png": ((20, 20), "RGB")}
    # Outputs are never replaced without --force, and nothing is written on an error.
    before = archive.read_bytes()
    _error(invoke("compress", src, "-o", archive, "--model", folder), "already exists")
    assert archive.read_bytes() == before
    _error(invoke("decompress", archive, "-o", out, "--model", folder), "already exists")
    assert invoke("decompress", archive, "-o", out, "--model", folder, "--force").exit_code == 0
    # Without --model, the file names a model deepae does not ship.
    _error(invoke("decompress", archive, "-o", tmp_path / "other"), "tiny-folder")


def test_cli_bad_inputs(folder, tmp_path):
    (tmp_path / "notes.png").write_text("not an image")
    _error(invoke("compress", tmp_path / "notes.png", "-o", tmp_path / "x.dae", "--model", folder), "not a readable image")
    assert not (tmp_path / "x.dae").exists()
    _error(invoke("compress", tmp_path / "missing.png", "-o", tmp_path / "x.dae", "--model", folder), "no such")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "ok.png")
    _error(invoke("compress", tmp_path / "ok.png", "-o", tmp_path / "x.dae", "--model", folder, "--quality", 9), "--quality 9")
    _error(invoke("compress", tmp_path / "ok.png", "-o", tmp_path / "x.dae", "--model", tmp_path), "not a codec model")
    assert invoke("compress", tmp_path / "ok.png", "-o", tmp_path / "x.dae", "--model", folder).exit_code == 0
    data = (tmp_path / "x.dae").read_bytes()
    (tmp_path / "cut.dae").write_bytes(data[:-5])
    _error(invoke("decompress", tmp_path / "cut.dae", "-o", tmp_path / "o", "--model", folder), "truncated")
    _error(invoke("codec-info", tmp_path / "cut.dae"), "truncated")
    _error(invoke("codec-info", tmp_path / "ok.png"), "not a .dae file")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("names, match", [
    (["ok", "a", "a.png/b"], "and a folder of that name"),
    (["ok", "x" * 300], "longer than a file name may be"),
    (["ok", "bell\x07.png"], "control characters"),
    (["ok", "ok.png"], "the same name"),
])
def test_cli_decompress_checks_every_name_before_writing(folder, tmp_path, names, match):
    from deepae.apps.codec import load_codec

    images = [np.full((8, 8, 3), 100 + i, np.uint8) for i in range(len(names))]
    archive = tmp_path / "forged.dae"
    archive.write_bytes(compress(images, model=load_codec(str(folder)), quality=1, names=names))
    _error(invoke("decompress", archive, "-o", tmp_path / "out", "--model", folder), match)
    assert not (tmp_path / "out").exists()
    assert "\x07" not in invoke("codec-info", archive).output  # names are shown, escapes are not sent


def test_cli_refuses_decompression_bombs(folder, tmp_path, monkeypatch):
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(tmp_path / "bomb.png")
    for limit in (150, 300):  # 400 pixels: above twice the limit (an error in Pillow), then above it (a warning)
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
        _error(invoke("compress", tmp_path / "bomb.png", "-o", tmp_path / "x.dae", "--model", folder), "decompression bomb")
    assert not (tmp_path / "x.dae").exists()


# -- the shipped models --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_models_round_trip(name):
    try:
        codec = load_codec(name)
    except CheckpointError:
        pytest.skip(f"no shipped {name} codec")
    rng = np.random.default_rng(0)
    image = np.clip(rng.normal(128, 40, (24, 20, codec.config.channels)), 0, 255).astype(np.uint8).squeeze()
    data = compress([image], model=name, quality=8)
    out = decompress(data)[0]
    assert out.shape == image.shape and info(data)["model"] == name


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_models_are_at_most_10_mb(name):
    from deepae.apps.codec._store import WEIGHTS

    folder = WEIGHTS / f"codec-{name}"
    if not folder.is_dir():
        pytest.skip(f"no shipped {name} codec")
    assert sum(f.stat().st_size for f in folder.iterdir()) <= 10 * 1024 * 1024


def test_compress_reads_images_as_every_command_does(tmp_path):
    from deepae.cli.codec import _read_8bit

    # a 16-bit gray PNG is 16-bit whatever its values: a dark one stays dark (it was read as 8-bit
    # when no value passed 255), and a one-row RGB image stays RGB
    dark = np.arange(0, 200, 2, dtype=np.uint16).reshape(10, 10)
    Image.fromarray(dark).save(tmp_path / "dark16.png")
    assert Image.open(tmp_path / "dark16.png").mode.startswith("I")
    np.testing.assert_array_equal(_read_8bit(tmp_path / "dark16.png"), np.rint(dark / 65535 * 255).astype(np.uint8))
    row = np.random.default_rng(0).integers(0, 256, (1, 7, 3), dtype=np.uint8)
    Image.fromarray(row).save(tmp_path / "row.png")
    np.testing.assert_array_equal(_read_8bit(tmp_path / "row.png"), row)
