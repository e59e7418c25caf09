"""Claim 11: a variational autoencoder's code space can be sampled and walked through.

A dense VAE (784-512-16, Kingma & Welling 2014) learns a code whose distribution is pulled towards a
standard normal, so decoding random normal codes (``AutoEncoder.sample``) gives new digits, and the
straight line between the codes of two real digits decodes to a gradual morph. A plain autoencoder
of the same shape is trained beside it: its codes sit wherever training put them, so random normal
codes decode to smudges. The script prints where each model's codes of test digits lie.

    python examples/11_variational.py            # 47 s of CPU, one thread (2.5 min on a busy 2-core machine)
    python examples/11_variational.py --quick    # a few seconds, for CI
"""

from __future__ import annotations

import numpy as np
from _common import Timer, autoencoder, check, load, parse_args, pyplot, save_figure, show_images
from sklearn.neighbors import KNeighborsClassifier

args = parse_args(__doc__)
n_train, epochs = (2000, 5) if args.quick else (10000, 20)
train, test = load(args, "mnist", "train", n_train), load(args, "mnist", "test", 2000)
with Timer() as t:
    vae = autoencoder(args.seed, model="vae", hidden=(512,), code_size=16, beta=1.0, epochs=epochs).fit(train.flat())
    plain = autoencoder(args.seed, hidden=(512,), code_size=16, epochs=epochs).fit(train.flat())
print(f"trained the VAE and the plain AE in {t.seconds:.0f} s")

samples = vae.sample(48, random_state=args.seed)  # (48, 784): decoded draws from the N(0, I) prior
start, end = (test.flat()[np.flatnonzero(test.y == d)[0]] for d in (4, 7))
ends = vae.transform(np.stack([start, end]))                          # posterior means, (2, 16)
steps = np.linspace(0, 1, 12)[:, None]
walk = vae.inverse_transform((1 - steps) * ends[0] + steps * ends[1])  # (12, 784)

plain_samples = plain.inverse_transform(np.random.default_rng(args.seed).normal(size=(48, 16)).astype(np.float32))
codes = {"VAE": vae.transform(test.flat()), "plain AE": plain.transform(test.flat())}
for name, c in codes.items():  # random normal codes only decode to digits where the data's codes look like them
    print(f"{name:8s} codes of test digits: |mean| per unit at most {np.abs(c.mean(0)).max():5.2f}, "
          f"std per unit {c.std(0).min():5.2f} to {c.std(0).max():5.2f} (the prior: 0 and 1)")
ink = {name: x.mean() for name, x in (("test digits", test.flat()), ("VAE samples", samples), ("plain AE", plain_samples))}
print("mean pixel value (ink): " + "   ".join(f"{name} {v:.3f}" for name, v in ink.items()))
reader = KNeighborsClassifier(1).fit(train.flat(), train.y)
print("the walk, read by a 1-nearest-neighbour classifier: " + " ".join(str(d) for d in reader.predict(walk)))

plt = pyplot()
fig = plt.figure(figsize=(12, 5.2))
top, bottom = fig.subfigures(2, 1, height_ratios=[3.2, 1])
grid = top.subplots(4, 12)
for row, images in zip(grid, [*samples[:36].reshape(3, 12, -1), plain_samples[:12]]):
    show_images(row, images)
grid[-1][0].set_ylabel("plain AE", rotation=0, ha="right", va="center", fontsize=9)
top.suptitle("random normal codes, decoded: 36 by the VAE, 12 by a plain autoencoder (last row)", fontsize=10)
show_images(bottom.subplots(1, 12), walk)
bottom.suptitle("a walk in code space from a test 4 to a test 7 (posterior means, 12 steps)", fontsize=10)
save_figure(args, fig, "11_variational")

jumps = np.linalg.norm(np.diff(walk, axis=0), axis=1)
z = codes["VAE"]
check(np.abs(z.mean(0)).max() < 1 and z.std(0).max() < 2 and abs(ink["VAE samples"] / ink["test digits"] - 1) < 1 / 3
      and jumps.max() < 0.5 * np.linalg.norm(walk[-1] - walk[0]),
      "the VAE's codes of test digits lie in the bulk of the prior (|mean| < 1, std < 2 per unit), its samples "
      "carry about as much ink as real digits (within a third), and the walk has no jump over half its length")
