"""Claim 8: each layer of a deep autoencoder holds a different representation of the input.

A deep 784-512-256-128-32 autoencoder is trained on MNIST without labels. Its ``layer_outputs``
give every layer's representation of an image. Two read-outs per layer: a linear probe (logistic
regression trained on the layer's activations of a few labelled digits, scored on test digits),
and the nearest neighbours of a test digit among those labelled digits. A shallow 784-32
autoencoder's code, of the same size as the deep code, is probed beside them.

    python examples/08_deep_layers.py            # 23 s of CPU, one thread (70 s on a busy 2-core machine)
    python examples/08_deep_layers.py --quick    # a few seconds, for CI
"""

from __future__ import annotations

import numpy as np
from _common import Timer, autoencoder, check, load, parse_args, pyplot, save_figure, show_images
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

args = parse_args(__doc__)
n_train, epochs, n_labelled = (4000, 2, 500) if args.quick else (10000, 12, 2000)
train, test = load(args, "mnist", "train", n_train), load(args, "mnist", "test", 2000)
labelled, y_labelled = train.flat()[:n_labelled], train.y[:n_labelled]  # labels of only the first few images are used

with Timer() as t:
    deep = autoencoder(args.seed, hidden=(512, 256, 128), code_size=32, epochs=epochs).fit(train.flat())
    shallow = autoencoder(args.seed, hidden=(), code_size=32, epochs=epochs).fit(train.flat())
print(f"trained both in {t.seconds:.0f} s")


def representations(x: np.ndarray) -> dict[str, np.ndarray]:
    """pixels, every encoder layer and the code of the deep model, and the shallow model's code."""
    layers = deep.layer_outputs(x)  # encoder.0 .. encoder.3 (the last one makes the code), code, decoder.*, output
    hidden = {f"deep encoder.{i}": layers[f"encoder.{i}"] for i in range(len(deep.hidden))}
    return {"pixels": x, **hidden, "deep code": layers["code"], "shallow code": shallow.transform(x)}


reps_l, reps_t = representations(labelled), representations(test.flat())
accuracy = {}
for name in reps_l:
    scaler = StandardScaler().fit(reps_l[name])
    probe = LogisticRegression(max_iter=300).fit(scaler.transform(reps_l[name]), y_labelled)
    accuracy[name] = probe.score(scaler.transform(reps_t[name]), test.y)
    print(f"{name:16s} {reps_l[name].shape[1]:4d} units   linear-probe accuracy {accuracy[name]:.3f}")

plt = pyplot()
fig = plt.figure(figsize=(14, 4.4))
left, right = fig.subfigures(1, 2, width_ratios=[1, 1.1])
ax = left.subplots()
ax.bar(range(len(accuracy)), list(accuracy.values()), color=["tab:gray"] + ["tab:blue"] * (len(accuracy) - 2) + ["tab:orange"])
ax.set_xticks(range(len(accuracy)), [name.replace(" ", "\n") + f"\n({reps_l[name].shape[1]})" for name in accuracy], fontsize=8)
ax.set(ylim=(min(accuracy.values()) - 0.05, 1), ylabel="test accuracy", title=f"linear probe per layer ({n_labelled} labels)")
query = int(np.flatnonzero(test.y == 4)[0])
rows = right.subplots(len(reps_l), 7)
for row, name in zip(rows, reps_l):
    distance = np.linalg.norm(reps_l[name] - reps_t[name][query], axis=1)
    show_images(row[:1], test.flat()[query:query + 1], name)
    show_images(row[2:], labelled[np.argsort(distance)[:5]])
    row[1].axis("off")
right.suptitle("a test digit and its 5 nearest labelled digits, per layer", fontsize=10)
save_figure(args, fig, "08_deep_layers")

hidden = [v for k, v in accuracy.items() if k.startswith("deep encoder")]
check(max(hidden) > accuracy["pixels"] and accuracy["deep code"] > accuracy["shallow code"] - 0.03,
      "a hidden layer of the deep model is linearly more separable than the pixels, "
      "and its 32-number code at least as separable as the shallow model's (within 3 points)")
