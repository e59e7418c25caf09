"""Claim 3: a sparsity penalty makes most code units silent for any given image.

Three 784-128 autoencoders with a sigmoid code (each unit's activation is in [0, 1]): plain, with an
L1 penalty on the activations, and with a KL penalty pulling each unit's mean activation to
rho = 0.05 (Ng's sparse autoencoder). The code is as wide as before; the penalty, not the size, is
the bottleneck. The figure shows the histogram of all code activations on test digits.

    python examples/03_sparse.py            # 16 s of CPU, one thread (1.9 min on a busy 2-core machine)
    python examples/03_sparse.py --quick    # a few seconds, for CI
"""

from __future__ import annotations

from _common import Timer, autoencoder, check, load, parse_args, pyplot, save_figure, squared_error

args = parse_args(__doc__)
n_train, epochs = (1500, 5) if args.quick else (10000, 10)
train, test = load(args, "mnist", "train", n_train), load(args, "mnist", "test", 2000)
x_test = test.flat()
MODELS = {"plain": {}, "L1 (1e-3)": dict(l1=1e-3), "KL (rho=0.05, weight 3)": dict(kl_sparsity=3.0, rho=0.05)}

codes, errors = {}, {}
for name, penalty in MODELS.items():
    with Timer() as t:
        ae = autoencoder(args.seed, hidden=(), code_size=128, code_activation="sigmoid", epochs=epochs, **penalty)
        ae.fit(train.flat())
    codes[name], errors[name] = ae.transform(x_test), squared_error(x_test, ae.reconstruct(x_test))
    z = codes[name]
    print(f"{name:24s} mean activation {z.mean():.3f}   units > 0.1 per image {(z > 0.1).sum(1).mean():5.1f} of 128"
          f"   squared error {errors[name]:6.2f}   ({t.seconds:.0f} s)")

plt = pyplot()
fig, axes = plt.subplots(1, len(codes), figsize=(13, 3.6), sharey=True)
for ax, (name, z) in zip(axes, codes.items()):
    ax.hist(z.ravel(), bins=50, range=(0, 1), color="tab:blue")
    ax.set(yscale="log", xlabel="code activation", title=f"{name}\nmean {z.mean():.3f}, error {errors[name]:.1f}")
axes[0].set_ylabel("count (test digits x 128 units)")
save_figure(args, fig, "03_sparse")

plain = codes["plain"].mean()
check(all(z.mean() < 0.5 * plain for name, z in codes.items() if name != "plain"),
      "both penalties at least halve the mean code activation of the plain model")
