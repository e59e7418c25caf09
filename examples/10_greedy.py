"""Claim 10: greedy layer-wise pretraining against end-to-end training of a deep autoencoder, at equal time.

A deep 784-512-256-128-16 autoencoder with logistic hidden units, as in Hinton & Salakhutdinov (2006).
Greedy: each (encoder layer, mirrored decoder layer) pair is first trained as a shallow autoencoder
on the codes of the pairs below it (``pretrain_epochs``), then the stack is fine-tuned end to end.
End-to-end: the same network from a random start, given the greedy run's total time
(``deepae.train.TimeLimit``). The curves are the validation loss (held-out training digits) against
wall-clock time; the test set is scored once, at the end.

    python examples/10_greedy.py            # 44 s of CPU, one thread (2.8 min on a busy 2-core machine)
    python examples/10_greedy.py --quick    # a few seconds, for CI
"""

from __future__ import annotations

import time

from _common import autoencoder, check, load, parse_args, pyplot, save_figure, squared_error

from deepae.train import LambdaCallback, TimeLimit

args = parse_args(__doc__)
n_train, pretrain_epochs, finetune_epochs = (1000, 2, 3) if args.quick else (10000, 3, 8)
data = load(args, "mnist", "train", n_train + 2000)
train, val = data.flat()[:n_train], data.flat()[n_train:]  # validation digits come from the training set
test = load(args, "mnist", "test", 2000).flat()
DEEP = dict(hidden=(512, 256, 128), code_size=16, activation="sigmoid")


def fit(seconds: float | None = None, **params) -> tuple:
    """Fit a deep model; returns it, its (seconds since the start, validation loss) curve and its total time."""
    curve, start = [], time.perf_counter()
    record = LambdaCallback(lambda trainer, epoch, logs: curve.append((time.perf_counter() - start, logs["val_loss"])))
    callbacks = (record,) if seconds is None else (record, TimeLimit(seconds))
    ae = autoencoder(args.seed, **DEEP, **params).fit(train, validation_data=val, callbacks=callbacks)
    return ae, curve, time.perf_counter() - start


greedy, greedy_curve, budget = fit(pretrain_epochs=pretrain_epochs, epochs=finetune_epochs)
pretrain_s = greedy_curve[0][0] - (greedy_curve[1][0] - greedy_curve[0][0])  # the start of fine-tuning's first epoch
direct, direct_curve, direct_s = fit(seconds=budget, epochs=1000)
models = {"greedy + fine-tuning": greedy, "end-to-end": direct}
errors = {name: squared_error(test, ae.reconstruct(test)) for name, ae in models.items()}
print(f"greedy: {pretrain_s:.0f} s of pretraining, then {finetune_epochs} epochs; {budget:.0f} s in all")
print(f"end-to-end: {len(direct_curve)} epochs in {direct_s:.0f} s")
for name, err in errors.items():
    print(f"{name:22s} squared error per test image {err:6.2f}")
print(f"validation loss after the first epoch: greedy {greedy_curve[0][1]:.4f}, end-to-end {direct_curve[0][1]:.4f}")

plt = pyplot()
fig, ax = plt.subplots(figsize=(7, 4.2))
for (name, err), curve in zip(errors.items(), (greedy_curve, direct_curve)):
    ax.plot(*zip(*curve), "o-", label=f"{name} (test error {err:.1f})")
ax.axvspan(0, pretrain_s, color="tab:blue", alpha=0.1, label="greedy pretraining")
ax.set(xlabel="seconds of training", ylabel="validation BCE", title="deep 784-512-256-128-16 autoencoder, sigmoid units")
ax.legend()
save_figure(args, fig, "10_greedy")

check(greedy_curve[0][1] < direct_curve[0][1],
      "after greedy pretraining, the first epoch of fine-tuning ends below the first epoch from a random start")
