"""Claim 5: a contractive penalty makes the code insensitive to small changes of the input.

Two 784-64 autoencoders with a sigmoid code, one with the contractive penalty ||dz/dx||^2 (Rifai et
al. 2011; exact for one layer). Test digits are nudged by small gaussian perturbations; how far
their codes move is measured relative to the typical distance between the codes of two different
digits, so the two models' code scales compare fairly. Codes that ignore small nuisances should
still separate the classes: the script also scores a 5-nearest-neighbour classifier on each code.

    python examples/05_contractive.py            # 10 s of CPU, one thread (35 s on a busy 2-core machine)
    python examples/05_contractive.py --quick    # a few seconds, for CI
"""

from __future__ import annotations

import numpy as np
from _common import Timer, autoencoder, check, load, parse_args, pyplot, save_figure
from sklearn.neighbors import KNeighborsClassifier

args = parse_args(__doc__)
n_train, epochs, n_test = (3000, 3, 500) if args.quick else (10000, 10, 2000)
steps = (0.05, 0.1, 0.2) if args.quick else (0.02, 0.05, 0.1, 0.15, 0.2, 0.3)
train, test = load(args, "mnist", "train", n_train), load(args, "mnist", "test", n_test)
x_train, x_test = train.flat(), test.flat()
rng = np.random.default_rng(args.seed)
pairs = rng.permutation(len(x_test))  # x_test[i] against x_test[pairs[i]]: a typical distance between two digits


def spread(a: np.ndarray) -> float:
    return float(np.linalg.norm(a - a[pairs], axis=1).mean())


# The same perturbed copies of the test digits for both models: x + gaussian noise of each std, clipped.
nudged = [np.clip(x_test + rng.normal(0, std, x_test.shape), 0, 1).astype(np.float32) for std in steps]
inputs = [np.linalg.norm(x - x_test, axis=1).mean() / spread(x_test) for x in nudged]
movement, knn = {}, {}
for name, penalty in (("plain AE", 0.0), ("contractive AE", 0.1)):
    with Timer() as t:
        ae = autoencoder(args.seed, hidden=(), code_size=64, code_activation="sigmoid", contractive=penalty, epochs=epochs)
        ae.fit(x_train)
    z = ae.transform(x_test)
    movement[name] = [np.linalg.norm(ae.transform(x) - z, axis=1).mean() / spread(z) for x in nudged]
    knn[name] = KNeighborsClassifier(5).fit(ae.transform(x_train), train.y).score(z, test.y)
    print(f"{name:15s} code movement / code spread: " + " ".join(f"{m:.3f}" for m in movement[name])
          + f"   5-NN accuracy {knn[name]:.3f}   ({t.seconds:.0f} s)")
knn["pixels"] = KNeighborsClassifier(5).fit(x_train, train.y).score(x_test, test.y)
print("input movement / input spread: " + " ".join(f"{m:.3f}" for m in inputs) + f"   5-NN on pixels {knn['pixels']:.3f}")

plt = pyplot()
fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [1.6, 1]})
for name, values in movement.items():
    ax.plot(inputs, values, "o-", label=name)
ax.plot(inputs, inputs, "k:", label="moves as much as the input")
ax.set(xlabel="input movement / typical distance between two digits",
       ylabel="code movement / typical distance between two codes", title="how far codes move under small perturbations")
ax.legend()
bx.bar(list(knn), list(knn.values()), color=["tab:blue", "tab:orange", "tab:gray"])
bx.set(ylim=(min(knn.values()) - 0.1, 1), ylabel="test accuracy", title="5-nearest-neighbour accuracy on the codes")
for i, v in enumerate(knn.values()):
    bx.text(i, v + 0.005, f"{v:.3f}", ha="center")
save_figure(args, fig, "05_contractive")

check(all(c < p for c, p in zip(movement["contractive AE"], movement["plain AE"]))
      and knn["contractive AE"] > knn["plain AE"] - 0.05,
      "the contractive AE's codes move less than the plain AE's at every perturbation size, "
      "and classify about as well (within 5 points)")
