"""How the denoiser treats colour photos: opponent channels against R, G and B one by one.

The check behind ``deepae.apps.denoise``'s colour path, on training photos (never Kodak): every 13th
of ``../shared/data/photos`` from the 6th (ten photos), scaled to 512 px on the shorter side and
centre-cropped to 768x512, under white gaussian noise of sigma 15, 25 and 50 grey levels in each RGB
channel (clipped and rounded to 8 bits, as a saved photo is), denoised with the shipped model and
the true sigma. Not a benchmark with targets; a record of the choice, runnable again:

    python -m bench.denoise_colour [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from deepae.apps import restore as R

from ._core import DEFAULT_DATA
from .restore import denoise_channel_by_channel, psnr

SIGMAS = (15, 25, 50)


def photos(folder: Path) -> list[torch.Tensor]:
    out = []
    for f in sorted(folder.glob("*.jpg"))[5::13][:10]:
        im = Image.open(f).convert("RGB")
        s = 512 / min(im.size)
        im = im.resize((round(im.width * s), round(im.height * s)), Image.Resampling.BICUBIC)
        left, top = max(0, (im.width - 768) // 2), (im.height - 512) // 2
        im = im.crop((left, top, min(im.width, left + 768), top + 512))
        out.append(torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1).float() / 255)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.denoise_colour", description=__doc__)
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA, help="folder holding photos/")
    args = p.parse_args(argv)
    spec, model = R.get_task("denoise"), R.load_task_model("denoise").eval()
    scores = {s: {"noisy": [], "opponent channels": [], "channel by channel": []} for s in SIGMAS}
    seconds = {"opponent channels": [], "channel by channel": []}
    for i, clean in enumerate(photos(args.data_dir / "photos")):
        g = torch.Generator().manual_seed(i)
        for sigma in SIGMAS:
            noisy = torch.round((clean + sigma / 255 * torch.randn(clean.shape, generator=g)).clamp(0, 1) * 255) / 255
            with torch.inference_mode():
                start = time.perf_counter()
                by_channel = denoise_channel_by_channel(model, noisy, sigma / 255)
                middle = time.perf_counter()
                opponent = spec.restore(model, noisy, sigma=float(sigma))
                seconds["channel by channel"].append(middle - start)
                seconds["opponent channels"].append(time.perf_counter() - middle)
            for key, out in (("noisy", noisy), ("opponent channels", opponent), ("channel by channel", by_channel)):
                scores[sigma][key].append(psnr(out.clamp(0, 1).numpy(), clean.numpy()))
    for sigma, row in scores.items():
        print(f"sigma {sigma}: " + ", ".join(f"{k} {np.mean(v):.2f} dB" for k, v in row.items()))
    print("seconds per 768x512 photo: " + ", ".join(f"{k} {np.mean(v):.2f}" for k, v in seconds.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
