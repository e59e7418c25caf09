"""Running the Keras peer (``bench/keras_peer.py``) in its own environment from deepae's.

The peer lives in ``.venv-bench`` (``bench/requirements.txt``) so that TensorFlow never enters
deepae's environment; ``DEEPAE_BENCH_PYTHON`` points elsewhere if that venv lives elsewhere.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ._core import REPO

SCRIPT = REPO / "bench" / "keras_peer.py"


def peer_python() -> Path | None:
    """The peer environment's interpreter, or None when it is not installed."""
    path = Path(os.environ.get("DEEPAE_BENCH_PYTHON") or REPO / ".venv-bench" / "bin" / "python")
    return path if path.exists() else None


class KerasPeer:
    """Train the Keras model on the same arrays deepae sees; one subprocess per run.

    A fresh process per run keeps runs independent (no graph or allocator state carried over) and
    lets the caller interleave peer and deepae runs, so a change of load on a shared machine
    falls on both sides alike.
    """

    def __init__(self, x_train: np.ndarray, x_test: np.ndarray):
        self.python = peer_python()
        if self.python is None:
            raise FileNotFoundError("no peer environment: python3 -m venv .venv-bench && "
                                    ".venv-bench/bin/pip install -r bench/requirements.txt")
        self._dir = tempfile.TemporaryDirectory(prefix="deepae-bench-")
        self.data = Path(self._dir.name) / "arrays.npz"
        np.savez(self.data, x_train=x_train.reshape(len(x_train), -1), x_test=x_test.reshape(len(x_test), -1))

    def run(self, **options) -> dict:
        """``keras_peer.py --data ... --<option> value ...``; returns its JSON."""
        cmd = [str(self.python), str(SCRIPT), "--data", str(self.data)]
        for key, value in options.items():
            if value is None:
                continue
            values = value if isinstance(value, (list, tuple)) else [value]
            cmd += [f"--{key.replace('_', '-')}", *map(str, values)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"Keras peer failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])

    def close(self) -> None:
        self._dir.cleanup()
