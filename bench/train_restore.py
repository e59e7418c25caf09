"""Train the restoration models deepae ships: ``python -m bench.train_restore TASK [--factor F] [--minutes M]``.

Each model is trained from scratch on ``../shared/data/photos`` (153 licensed natural photos; never
on Kodak, which is the test set: the photos' SHA-256 digests are checked against Kodak's before
training) and written to ``src/deepae/apps/weights/TASK[-xF]/``, whose ``config.json`` records the
training files with their digests, the settings, the epochs and the time taken.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

from deepae.apps.restore import WEIGHTS, get_task, recalibrate, train_task, training_files
from deepae.apps.upscale import variant_of

from ._core import DEFAULT_DATA


def kodak_digests(data_dir: Path) -> set[str]:
    return {hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((data_dir / "kodak").glob("*.png"))}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.train_restore", description=__doc__)
    p.add_argument("task", choices=["denoise", "colorize", "unwatermark", "upscale"])
    p.add_argument("--factor", type=int, default=2, help="upscale: 2, 3 or 4")
    p.add_argument("--minutes", type=float, default=None, help="time budget (default: the task's, 25 min)")
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA, help="folder holding photos/ and kodak/")
    p.add_argument("--out", type=Path, default=None, help="model folder (default: the package's weights folder)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--loss", choices=["l1", "mse"], default=None, help="override the task's loss")
    p.add_argument("--recalibrate", action="store_true",
                   help="only recompute a trained model's task options on crops of the photos (e.g. colorize's chroma gain)")
    args = p.parse_args(argv)
    variant = variant_of(args.factor) if args.task == "upscale" else None
    photos = args.data_dir / "photos"
    if args.recalibrate:
        folder = args.out or WEIGHTS / (args.task if variant is None else f"{args.task}-{variant}")
        print(f"{folder}: task options {recalibrate(folder, [photos], seed=args.seed)}")
        return 0
    files = training_files([photos])
    kodak = kodak_digests(args.data_dir)
    leaked = [f.name for f in files if hashlib.sha256(f.read_bytes()).hexdigest() in kodak]
    if leaked:
        p.error(f"Kodak images in the training photos: {leaked}")
    out = args.out or WEIGHTS / (args.task if variant is None else f"{args.task}-{variant}")
    print(f"training {args.task}{'' if variant is None else ' ' + variant} on {len(files)} photos from {photos} -> {out}")
    start = time.perf_counter()
    result = train_task(args.task, [photos], out, minutes=args.minutes, seed=args.seed, variant=variant, loss=args.loss,
                        progress=False,
                        notify=print)
    print(f"{result.epochs} epochs ({get_task(args.task).training.samples_per_epoch} crops each) in "
          f"{(time.perf_counter() - start) / 60:.1f} min; last loss {result.history[-1]['loss']:.5f}; wrote {result.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
