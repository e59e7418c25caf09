"""Claim 6: an autoencoder compresses well only data like the data it was trained on.

Two identical 784-256-32-256-784 autoencoders, one trained on MNIST digits and one on Fashion-MNIST
clothes, each applied to both test sets. The figure shows the error table and, for each test set,
the originals with their reconstructions by both models.

    python examples/06_data_specific.py            # 15 s of CPU, one thread (42 s on a busy 2-core machine)
    python examples/06_data_specific.py --quick    # a few seconds, for CI
"""

from __future__ import annotations

from _common import Timer, autoencoder, check, load, parse_args, per_class, pyplot, save_figure, show_images, squared_error

args = parse_args(__doc__)
n_train, epochs = (1500, 5) if args.quick else (10000, 10)
DATA = ("mnist", "fashion-mnist")
tests = {name: load(args, name, "test", 2000) for name in DATA}

models = {}
for name in DATA:
    with Timer() as t:
        models[name] = autoencoder(args.seed, code_size=32, epochs=epochs).fit(load(args, name, "train", n_train).flat())
    print(f"trained on {name} in {t.seconds:.0f} s")

# error[trained on][tested on]: squared error per test image
error = {m: {d: squared_error(tests[d].flat(), ae.reconstruct(tests[d].flat())) for d in DATA} for m, ae in models.items()}
print(f"{'squared error per image':26s}" + "".join(f"{'test ' + d:>20s}" for d in DATA))
for m in DATA:
    print(f"{'trained on ' + m:26s}" + "".join(f"{error[m][d]:20.2f}" for d in DATA))

plt = pyplot()
fig = plt.figure(figsize=(10, 6.6))
top, *strips = fig.subfigures(3, 1, height_ratios=[0.9, 1, 1])
ax = top.subplots()
ax.axis("off")
table = ax.table(cellText=[[f"{error[m][d]:.1f}" for d in DATA] for m in DATA], rowLabels=[f"trained on {m}" for m in DATA],
                 colLabels=[f"tested on {d}" for d in DATA], loc="center", cellLoc="center")
table.scale(0.8, 1.6)
ax.set_title("squared error per test image (lower is better)")
for sub, d in zip(strips, DATA):
    x = tests[d].flat()[per_class(tests[d].y)]
    others = [m for m in DATA if m != d]
    rows = sub.subplots(3, len(x))
    show_images(rows[0], x, f"{d}\ntest images")
    show_images(rows[1], models[d].reconstruct(x), f"by the {d}\nmodel")
    show_images(rows[2], models[others[0]].reconstruct(x), f"by the {others[0]}\nmodel")
save_figure(args, fig, "06_data_specific")

own_wins = [error[d][d] < error[other][d] for d, other in (DATA, DATA[::-1])]
check(all(own_wins),
      "on each test set, the model trained on that data set reconstructs better than the one trained on the other")
