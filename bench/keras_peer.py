"""The Keras side of a benchmark: train the Keras tutorial's dense autoencoder, print JSON.

Runs in the peer environment (``.venv-bench``: TensorFlow + Keras 3, no torch, no deepae), as a
subprocess of ``python -m bench``, so it imports nothing from deepae or bench. The model is the
seed's own code -- ``Dense(code, relu) -> Dense(784, sigmoid)`` with Keras' default (Glorot
uniform) initialisation, ``binary_crossentropy``, ``fit(..., shuffle=True, validation_data=...)``
-- with optional hidden layers and an L1 activity penalty (the tutorial's deep and sparse models).

    python bench/keras_peer.py --data arrays.npz --seed 0 --epochs 50 --lr 1.0

prints one JSON line: per-epoch train seconds, train and test loss, total seconds, versions.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter off stderr

import numpy as np  # noqa: E402


def build_model(keras, dim: int, code: int, hidden: list[int], l1: float):
    """Input(dim) -> hidden... -> Dense(code, relu) -> mirrored hidden... -> Dense(dim, sigmoid)."""
    inp = keras.Input(shape=(dim,))
    h = inp
    for units in hidden:
        h = keras.layers.Dense(units, activation="relu")(h)
    reg = keras.regularizers.l1(l1) if l1 else None
    h = keras.layers.Dense(code, activation="relu", activity_regularizer=reg)(h)
    for units in reversed(hidden):
        h = keras.layers.Dense(units, activation="relu")(h)
    out = keras.layers.Dense(dim, activation="sigmoid")(h)
    return keras.Model(inp, out)


def epoch_timer(keras):
    """A callback splitting each epoch into training time and the validation pass after it."""

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.train_seconds, self.epoch_seconds = [], []

        def on_epoch_begin(self, epoch, logs=None):
            self._begin = time.perf_counter()
            self._test_begin = None

        def on_test_begin(self, logs=None):
            # fit() validates after the training steps of an epoch; stop the training clock here.
            self._test_begin = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            end = time.perf_counter()
            self.train_seconds.append((self._test_begin or end) - self._begin)
            self.epoch_seconds.append(end - self._begin)

    return EpochTimer()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help=".npz with float32 x_train, x_test of shape (N, 784) in [0, 1]")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=None, help="Adadelta learning rate; omitted: Keras' own default")
    p.add_argument("--code", type=int, default=32)
    p.add_argument("--hidden", type=int, nargs="*", default=[])
    p.add_argument("--l1", type=float, default=0.0)
    args = p.parse_args(argv)

    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(args.seed)
    arrays = np.load(args.data)
    x_train, x_test = arrays["x_train"], arrays["x_test"]
    model = build_model(keras, x_train.shape[1], args.code, args.hidden, args.l1)
    # rho and epsilon spelled out: they are Keras 3's defaults too, and the seed-demo preset's.
    opt_kwargs = {"rho": 0.95, "epsilon": 1e-7}
    if args.lr is not None:
        opt_kwargs["learning_rate"] = args.lr
    optimizer = keras.optimizers.Adadelta(**opt_kwargs)
    model.compile(optimizer=optimizer, loss="binary_crossentropy")
    timer = epoch_timer(keras)
    start = time.perf_counter()
    hist = model.fit(x_train, x_train, epochs=args.epochs, batch_size=args.batch_size, shuffle=True,
                     validation_data=(x_test, x_test), callbacks=[timer], verbose=0)
    total = time.perf_counter() - start
    result = {
        "loss": [float(v) for v in hist.history["loss"]],
        "val_loss": [float(v) for v in hist.history["val_loss"]],
        "train_seconds": timer.train_seconds,
        "epoch_seconds": timer.epoch_seconds,
        "total_seconds": total,
        "learning_rate": float(keras.ops.convert_to_numpy(optimizer.learning_rate)),
        "versions": {"keras": keras.__version__, "tensorflow": tf.__version__, "numpy": np.__version__},
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
