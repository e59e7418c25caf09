"""Claim 4: a denoising autoencoder learns to remove noise it was trained on.

Two identical 784-256-64-256-784 autoencoders: one trained on clean digits, one trained to map
digits with gaussian noise (std 0.5, clipped to [0, 1]) back to the clean digits. Test digits get
noise of increasing strength; the figure plots the PSNR of the noisy input and of both outputs
against the noise level, and shows a strip of examples at std 0.5.

    python examples/04_denoising.py            # 17 s of CPU, one thread (85 s on a busy 2-core machine)
    python examples/04_denoising.py --quick    # a few seconds, for CI
"""

from __future__ import annotations

import numpy as np
from _common import Timer, autoencoder, check, load, parse_args, per_class, pyplot, save_figure, show_images

from deepae.metrics import psnr

args = parse_args(__doc__)
n_train, epochs = (2000, 5) if args.quick else (10000, 10)
levels = (0.5,) if args.quick else (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
TRAIN_NOISE, SHOWN_NOISE = 0.5, 0.5
train, test = load(args, "mnist", "train", n_train), load(args, "mnist", "test", 2000)
x_test = test.flat()
rng = np.random.default_rng(args.seed)

models = {}
for name, noise in {"plain AE": {}, "denoising AE": dict(noise="gaussian", noise_level=TRAIN_NOISE)}.items():
    with Timer() as t:
        models[name] = autoencoder(args.seed, code_size=64, epochs=epochs, **noise).fit(train.flat())
    print(f"trained {name} in {t.seconds:.0f} s")

curves = {"noisy input": [], **{name: [] for name in models}}
for level in levels:
    noisy = np.clip(x_test + rng.normal(0, level, x_test.shape), 0, 1).astype(np.float32)
    curves["noisy input"].append(psnr(x_test, noisy).mean())
    for name, ae in models.items():
        curves[name].append(psnr(x_test, ae.reconstruct(noisy)).mean())
    print(f"noise std {level:.1f}: PSNR (dB) " + "   ".join(f"{name} {c[-1]:5.2f}" for name, c in curves.items()))
    if level == SHOWN_NOISE:
        shown = per_class(test.y)
        strip = [x_test[shown], noisy[shown], *(ae.reconstruct(noisy[shown]) for ae in models.values())]

plt = pyplot()
fig = plt.figure(figsize=(15, 4))
left, right = fig.subfigures(1, 2, width_ratios=[1, 1.7])
ax = left.subplots()
for name, values in curves.items():
    ax.plot(levels, values, "o-", label=name)
ax.set(xlabel="gaussian noise std (pixels in [0, 1])", ylabel="mean PSNR on test digits (dB)", title="noise-level sweep")
ax.legend()
rows = right.subplots(4, len(strip[0]))
for row, images, label in zip(rows, strip, ("clean", f"noisy ({SHOWN_NOISE})", "plain AE", "denoising AE")):
    show_images(row, images, label)
save_figure(args, fig, "04_denoising")

i = levels.index(SHOWN_NOISE)
check(all(d > n for d, n, level in zip(curves["denoising AE"], curves["noisy input"], levels) if level >= 0.4)
      and curves["denoising AE"][i] > curves["plain AE"][i],
      "the denoising AE raises the PSNR of strongly noisy digits (std >= 0.4) and beats the plain AE at its training noise")
