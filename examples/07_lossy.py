"""Claim 7: autoencoders are lossy, and the loss sits on the edges of strokes.

A 784-256-32-256-784 autoencoder on MNIST. For every test digit the per-pixel squared error
(original - reconstruction)^2 is an error map. Pixels are sorted into three kinds by the original
image: background (dark, flat), stroke edges (steep intensity gradient) and stroke interiors; the
script compares each kind's share of the pixels with its share of the error.

    python examples/07_lossy.py            # 11 s of CPU, one thread (36 s on a busy 2-core machine)
    python examples/07_lossy.py --quick    # a few seconds, for CI
"""

from __future__ import annotations

import numpy as np
from _common import Timer, autoencoder, check, load, parse_args, per_class, pyplot, save_figure, show_images

args = parse_args(__doc__)
n_train, epochs = (1500, 5) if args.quick else (10000, 10)
train, test = load(args, "mnist", "train", n_train), load(args, "mnist", "test", 2000)
with Timer() as t:
    ae = autoencoder(args.seed, code_size=32, epochs=epochs).fit(train.flat())
print(f"trained in {t.seconds:.0f} s")

x = test.x[:, 0]                                     # (N, 28, 28)
x_hat = ae.reconstruct(test.flat()).reshape(x.shape)
error = (x - x_hat) ** 2                             # per-pixel error maps
gy, gx = np.gradient(x, axis=(1, 2))
steep = np.hypot(gx, gy) > 0.25
kinds = {"background": ~steep & (x < 0.5), "stroke edge": steep, "stroke interior": ~steep & (x >= 0.5)}
per_image = error.reshape(len(x), -1).sum(1)
print(f"squared error per image: mean {per_image.mean():.2f}, min {per_image.min():.2f}, max {per_image.max():.2f}")
share = {k: (m.mean(), error[m].sum() / error.sum()) for k, m in kinds.items()}
for k, (pixels, err) in share.items():
    print(f"{k:16s} {pixels:6.1%} of the pixels hold {err:6.1%} of the error")
top = np.sort(error.ravel())[::-1]
print(f"the worst 5% of pixels hold {top[: len(top) // 20].sum() / top.sum():.1%} of the error")

plt = pyplot()
fig = plt.figure(figsize=(14, 4))
left, right = fig.subfigures(1, 2, width_ratios=[1.9, 1])
shown = per_class(test.y)
rows = left.subplots(3, len(shown))
show_images(rows[0], x[shown], "original")
show_images(rows[1], x_hat[shown], "reconstruction")
vmax = np.percentile(error[shown], 99)  # a few extreme pixels would wash out the rest
for ax, e in zip(rows[2], error[shown]):
    ax.imshow(e, cmap="magma", vmin=0, vmax=vmax)
    ax.set_xticks([])
    ax.set_yticks([])
rows[2][0].set_ylabel("squared\nerror", rotation=0, ha="right", va="center", fontsize=9)
ax = right.subplots()
names = list(share)
pos = np.arange(len(names))
ax.bar(pos - 0.2, [share[k][0] for k in names], 0.4, label="share of pixels")
ax.bar(pos + 0.2, [share[k][1] for k in names], 0.4, label="share of squared error")
ax.set(xticks=pos, xticklabels=names, ylim=(0, 1.15), title=f"where the error is ({len(x)} test digits)")
ax.legend(loc="upper center", ncol=2, fontsize=8)
save_figure(args, fig, "07_lossy")

check(per_image.min() > 0.1 and share["stroke edge"][1] > 2 * share["stroke edge"][0],
      "no test digit comes back exactly, and stroke edges hold over twice their share of pixels in error")
