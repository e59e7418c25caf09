"""Train the codecs deepae ships: ``python -m bench.train_codec digits|photo [--minutes M]``.

- digits: MNIST *training* images; the last 5,000 are held out as the validation split the
  settings (lambda table, widths) were chosen on. Written to ``src/deepae/apps/weights/codec-digits``.
- photo: random 128x128 crops (random flips) of ``../shared/data/photos`` (153 natural photos; never
  Kodak, the test set: the photos' SHA-256 digests are checked against Kodak's before training).
  A ``BlockHyperNet``: JPEG's DCT learned around, with a hyperprior.
  Written to ``src/deepae/apps/weights/codec-photo``.

One model per data set serves all 8 qualities (a lambda per quality, gain vectors per quality).
``config.json`` records the data, the command, the seconds taken, the validation estimate per
quality and the versions (torch included).
"""

from __future__ import annotations

import argparse
import hashlib
import shlex
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from deepae.apps.codec import CodecConfig, save_codec, train_codec
from deepae.apps.codec import estimate as estimate_quality
from deepae.data import find_images, load_dataset

from ._core import DEFAULT_DATA
from .train_restore import kodak_digests

WEIGHTS = Path(__file__).resolve().parents[1] / "src" / "deepae" / "apps" / "weights"
PRESETS = {
    # Convolutions with a hyperprior of one vector per digit (``_hyper.TileHyperNet``); lambdas geometric
    # from 0.00015 to 0.008 (about 21-35 dB on the validation digits).
    "digits": dict(config=CodecConfig(channels=1, arch="tile", width=64, latent=32, hyper=48, hidden=[256],
                                      downsamplings=2, kernel=5, patch=28,
                                      lambdas=[round(0.00015 * (0.008 / 0.00015) ** (i / 7), 6) for i in range(8)]),
                   batch=32, minutes=55.0, lr=1e-3),
    # JPEG's transform learned around (``_hyper.BlockHyperNet``) with a post-filter per quality; lambdas
    # geometric from 0.0004 to 0.025 (about 0.2-1.1 bpp on photos), the coarse qualities' losses weighted up.
    "photo": dict(config=CodecConfig(channels=3, arch="dct", width=96, latent=192, hyper=64, post=48, quality_post=True,
                                     lambdas=[0.0004, 0.00072, 0.0013, 0.00236, 0.00426, 0.0077, 0.0139, 0.025]),
                  batch=8, minutes=55.0, lr=1e-3, crop=128, balance=0.4),
}
VALIDATION = 5000  # the last MNIST training digits: the validation split


def digit_batches(x: torch.Tensor, batch: int):
    def batches(rng: np.random.Generator):
        while True:
            for idx in np.array_split(rng.permutation(len(x)), len(x) // batch):
                yield x[torch.from_numpy(idx)]
    return batches


def photo_batches(photos: list[np.ndarray], batch: int, crop: int):
    def batches(rng: np.random.Generator):
        while True:
            out = np.empty((batch, crop, crop, 3), np.uint8)
            for i in range(batch):
                im = photos[rng.integers(len(photos))]
                top, left = rng.integers(im.shape[0] - crop + 1), rng.integers(im.shape[1] - crop + 1)
                c = im[top:top + crop, left:left + crop]
                out[i] = c[:, ::-1] if rng.random() < 0.5 else c
            yield torch.from_numpy(out).permute(0, 3, 1, 2).float() / 255
    return batches


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.train_codec", description=__doc__)
    p.add_argument("kind", choices=sorted(PRESETS))
    p.add_argument("--minutes", type=float, default=None, help="time budget (default: digits 55, photo 55)")
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA, help="folder holding mnist/, photos/ and kodak/")
    p.add_argument("--out", type=Path, default=None, help="model folder (default: the package's weights folder)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lr", type=float, default=None, help="peak learning rate (default: the preset's)")
    p.add_argument("--lambdas", type=str, default=None, help="comma-separated lambda per quality (default: the preset's)")
    args = p.parse_args(argv)
    preset = PRESETS[args.kind]
    config = preset["config"]
    if args.lambdas:
        config.lambdas = [float(v) for v in args.lambdas.split(",")]
    minutes = preset["minutes"] if args.minutes is None else args.minutes
    out = args.out or WEIGHTS / f"codec-{args.kind}"
    if args.kind == "digits":
        x = torch.from_numpy(load_dataset("mnist", "train", data_dir=args.data_dir).x)
        train, val = x[:-VALIDATION], x[-VALIDATION:]
        batches = digit_batches(train, preset["batch"])
        data = {"data": "MNIST training images 1-55000 (validation: 55001-60000)", "n_train": len(train)}
    else:
        files = find_images(args.data_dir / "photos")
        kodak = kodak_digests(args.data_dir)
        leaked = [f.name for f in files if hashlib.sha256(f.read_bytes()).hexdigest() in kodak]
        if leaked:
            p.error(f"Kodak images in the training photos: {leaked}")
        photos = [np.asarray(Image.open(f).convert("RGB")) for f in files]
        # Validation: the central crops of every 16th photo (these photos are also trained on; the
        # estimate only tracks the run, no setting is chosen on Kodak).
        centre = [im[(im.shape[0] - 256) // 2:][:256, (im.shape[1] - 256) // 2:][:, :256] for im in photos[::16]]
        val = torch.from_numpy(np.stack(centre)).permute(0, 3, 1, 2).float() / 255
        batches = photo_batches(photos, preset["batch"], preset["crop"])
        crop = preset["crop"]
        data = {"data": f"random {crop}x{crop} crops (random horizontal flips) of {len(files)} photos in photos/",
                "files": [{"name": f.name, "sha256": hashlib.sha256(f.read_bytes()).hexdigest()} for f in files]}
    print(f"training the {args.kind} codec for {minutes:g} min -> {out}", flush=True)
    net, log = train_codec(config, batches, seconds=minutes * 60, lr=args.lr or preset["lr"], seed=args.seed,
                           balance=preset.get("balance", 0.0), notify=lambda m: print(m, flush=True))
    val_estimate = estimate_quality(net, val)
    for row in val_estimate:
        print(f"validation q{row['quality']}: {row['psnr']:.2f} dB, {row['bytes']:.1f} B/image (estimated)", flush=True)
    command = "python -m bench.train_codec " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    extra = {"training": {**data, "command": command, "batch_size": preset["batch"], "threads": torch.get_num_threads(),
                          "torch": torch.__version__, **log},
             "validation": val_estimate}
    save_codec(out, net, args.kind, extra)
    print(f"{log['steps']} steps in {log['seconds'] / 60:.1f} min; wrote {out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
