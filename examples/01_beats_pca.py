"""Claim 1: a non-linear autoencoder beats PCA at equal code size.

PCA is the best *linear* code: k numbers per image, decoded by a linear map. An autoencoder with one
hidden ReLU layer on each side (784-256-k-256-784) can bend its code to the data. Both are fitted on
the same MNIST training images and measured on test images (squared error per image, summed over
pixels); the figure also shows the two 2-D code maps, coloured by digit.

    python examples/01_beats_pca.py            # 32 s of CPU, one thread (2.2 min on a busy 2-core machine)
    python examples/01_beats_pca.py --quick    # a few seconds, for CI
"""

from __future__ import annotations

from _common import Timer, autoencoder, check, load, parse_args, pyplot, save_figure, squared_error
from sklearn.decomposition import PCA

args = parse_args(__doc__)
n_train, n_test, sizes, epochs = (2000, 500, (2, 16), 10) if args.quick else (10000, 2000, (2, 4, 8, 16, 32), 10)
train, test = load(args, "mnist", "train", n_train), load(args, "mnist", "test", n_test)
x_train, x_test = train.flat(), test.flat()

errors, maps = {"PCA": [], "autoencoder": []}, {}
for k in sizes:
    pca = PCA(n_components=k, random_state=args.seed).fit(x_train)
    with Timer() as t:
        ae = autoencoder(args.seed, code_size=k, epochs=epochs).fit(x_train)
    errors["PCA"].append(squared_error(x_test, pca.inverse_transform(pca.transform(x_test))))
    errors["autoencoder"].append(squared_error(x_test, ae.reconstruct(x_test)))
    print(f"k={k:3d}  PCA {errors['PCA'][-1]:6.2f}   autoencoder {errors['autoencoder'][-1]:6.2f}   ({t.seconds:.0f} s to fit)")
    if k == 2:
        maps = {"PCA": pca.transform(x_test), "autoencoder": ae.transform(x_test)}

plt = pyplot()
fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
for name, errs in errors.items():
    axes[0].plot(sizes, errs, "o-", label=name)
axes[0].set(xscale="log", xlabel="code size k", ylabel="squared error per test image", title="error vs code size")
axes[0].set_xticks(sizes, [str(k) for k in sizes])
axes[0].minorticks_off()
axes[0].legend()
for ax, (name, z) in zip(axes[1:], maps.items()):
    points = ax.scatter(z[:, 0], z[:, 1], c=test.y, cmap="tab10", s=4, vmin=-0.5, vmax=9.5)
    ax.set(title=f"{name}: 2-D codes of {n_test} test digits", xticks=[], yticks=[])
fig.colorbar(points, ax=axes[2], ticks=range(10), label="digit")
save_figure(args, fig, "01_beats_pca")

wins = [a < p for a, p in zip(errors["autoencoder"], errors["PCA"])]
check(all(wins), f"the autoencoder's test error is below PCA's at every code size in {list(sizes)}")
