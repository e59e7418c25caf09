"""Claim 2: the bottleneck trades compactness for fidelity.

The same 784-256-k-256-784 autoencoder is trained with codes of 2, 8, 32 and 128 numbers. A small
code compresses each 784-pixel digit hard (392x at k=2) and keeps only its rough shape; a large one
keeps the strokes. The figure shows one test digit of every class, reconstructed at each size.

    python examples/02_bottleneck.py            # 28 s of CPU, one thread (2.1 min on a busy 2-core machine)
    python examples/02_bottleneck.py --quick    # a few seconds, for CI
"""

from __future__ import annotations

from _common import Timer, autoencoder, check, load, parse_args, per_class, pyplot, save_figure, show_images, squared_error

args = parse_args(__doc__)
n_train, epochs = (1000, 5) if args.quick else (10000, 10)
sizes = (2, 8, 32, 128)
train, test = load(args, "mnist", "train", n_train), load(args, "mnist", "test", 2000)
x_test = test.flat()
shown = x_test[per_class(test.y)]  # one digit of every class

errors, rows = [], []
for k in sizes:
    with Timer() as t:
        ae = autoencoder(args.seed, code_size=k, epochs=epochs).fit(train.flat())
    errors.append(squared_error(x_test, ae.reconstruct(x_test)))
    rows.append(ae.reconstruct(shown))
    print(f"code size {k:3d} ({784 / k:5.1f}x smaller): squared error per test image {errors[-1]:6.2f}  ({t.seconds:.0f} s)")

plt = pyplot()
fig, axes = plt.subplots(1 + len(sizes), len(shown), figsize=(len(shown) * 0.9 + 1, (1 + len(sizes)) * 0.95))
show_images(axes[0], shown, "original")
for row, k, err, images in zip(axes[1:], sizes, errors, rows):
    show_images(row, images, f"k={k}\nerror {err:.1f}")
fig.suptitle("Reconstructions from codes of k numbers (784 pixels in)", fontsize=10)
save_figure(args, fig, "02_bottleneck")

check(errors[0] > errors[1] > errors[2] and errors[3] < 1.1 * errors[2],
      "the test error falls as the code grows from 2 to 8 to 32 (and 128 is no worse than 32)")
