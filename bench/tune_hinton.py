"""The sweeps that choose ``bench.hinton.AE_PARAMS``: validation error of the 784-1000-500-250-30
autoencoder for a few settings and epoch budgets.

Recipes are compared on a validation split held out from the 60,000 training images: each trains
on the first 50,000 and is scored on the last 10,000 (``VALIDATION``). The test set is never read
here; ``python -m bench hinton-2006`` scores it once, for the chosen recipe, trained on all 60,000.

Quality per epoch does not depend on the machine, so the sweep may run on an accelerator while
the timed benchmark runs on the CPU it reports; ``--device`` says where.

    python -m bench.tune_hinton --configs cpu20-elu cpu20-lr2e-3 --out sweep.json

bench/results/tuning/hinton-sweep.json holds the earlier sweeps (one GPU, several configurations at
once), which compared *test* errors: the recipe in ``AE_PARAMS`` came from them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import deepae

from ._core import DEFAULT_DATA, machine_info, squared_error_per_image
from .hinton import VALIDATION, fit_autoencoder

# Every configuration overrides the hinton-mnist preset (ReLU, Adam lr 1e-3, cosine, batch 128, 60 epochs).
BASE = deepae.get_preset("hinton-mnist").params

# name -> overrides of BASE; the cosine schedule decays to 0 at the last epoch, whatever the budget.
CONFIGS: dict[str, dict] = {
    "base30": dict(epochs=30),
    "base60": dict(epochs=60),
    "base100": dict(epochs=100),
    "mse60": dict(epochs=60, loss="mse"),
    "lr2e-3-60": dict(epochs=60, lr=2e-3),
    "bs256-lr2e-3-60": dict(epochs=60, batch_size=256, lr=2e-3),
    "bs512-lr3e-3-60": dict(epochs=60, batch_size=512, lr=3e-3),
    "bs64-30": dict(epochs=30, batch_size=64),
    "elu60": dict(epochs=60, activation="elu"),
    "map2-20": dict(epochs=20, code_size=2),
    # second round, after ELU beat ReLU in the first
    "elu100": dict(epochs=100, activation="elu"),
    "elu-bn60": dict(epochs=60, activation="elu", model_params={"batch_norm": True}),
    "elu-lr5e-4-60": dict(epochs=60, activation="elu", lr=5e-4),
    "gelu60": dict(epochs=60, activation="gelu"),
    "tanh60": dict(epochs=60, activation="tanh"),
    "elu-adamw60": dict(epochs=60, activation="elu", optimizer="adamw"),
    "elu-mse60": dict(epochs=60, activation="elu", loss="mse"),
    "elu-bs256-60": dict(epochs=60, activation="elu", batch_size=256),
    "selu60": dict(epochs=60, activation="selu"),
    # third round: the ELU nets overfit (train error ~1.6, test ~2.8), so regularise
    "elu-wd05": dict(epochs=60, activation="elu", batch_size=256, optimizer="adamw", optimizer_params={"weight_decay": 0.05}),
    "elu-wd2": dict(epochs=60, activation="elu", batch_size=256, optimizer="adamw", optimizer_params={"weight_decay": 0.2}),
    "elu-drop1": dict(epochs=60, activation="elu", batch_size=256, model_params={"dropout": 0.1}),
    "elu-mask1": dict(epochs=60, activation="elu", batch_size=256, noise="masking", noise_level=0.1),
    "elu-gauss1": dict(epochs=60, activation="elu", batch_size=256, noise="gaussian", noise_level=0.1),
    "elu-mask2-wd05": dict(epochs=60, activation="elu", batch_size=256, noise="masking", noise_level=0.2,
                           optimizer="adamw", optimizer_params={"weight_decay": 0.05}),
    "elu-drop05-100": dict(epochs=100, activation="elu", batch_size=256, model_params={"dropout": 0.05}),
    # fourth round: around the best so far (ELU, AdamW weight decay 0.2, batch 256)
    "elu-wd2-pre5": dict(epochs=60, activation="elu", batch_size=256, optimizer="adamw",
                         optimizer_params={"weight_decay": 0.2}, pretrain_epochs=5),
    "elu-wd5": dict(epochs=60, activation="elu", batch_size=256, optimizer="adamw", optimizer_params={"weight_decay": 0.5}),
    "elu-wd2-lr5e-4": dict(epochs=60, activation="elu", batch_size=256, lr=5e-4, optimizer="adamw",
                           optimizer_params={"weight_decay": 0.2}),
    "elu-wd2-100": dict(epochs=100, activation="elu", batch_size=256, optimizer="adamw", optimizer_params={"weight_decay": 0.2}),
    "softplus-wd2": dict(epochs=60, activation="softplus", batch_size=256, optimizer="adamw",
                         optimizer_params={"weight_decay": 0.2}),
    "elu-wd2-bs128": dict(epochs=60, activation="elu", batch_size=128, optimizer="adamw", optimizer_params={"weight_decay": 0.2}),
    # fifth round, 20-epoch runs on the 2-core CPU around the 200-epoch recipe (ELU, AdamW wd 0.2, batch
    # 128, bf16, lr 1e-3: test 2.96, train 2.55); seen: lr 2e-3 2.92, GELU 3.65, batch norm 3.45,
    # batch 64 at lr 5e-4 2.95 (1.6x slower per epoch)
    **{f"cpu20-{name}": {**dict(epochs=20, activation="elu", batch_size=128, optimizer="adamw", precision="bf16",
                                optimizer_params={"weight_decay": 0.2}), **extra}
       for name, extra in {"elu": {}, "lr2e-3": dict(lr=2e-3), "gelu": dict(activation="gelu"),
                           "bn": dict(model_params={"batch_norm": True}),
                           "bs64-lr5e-4": dict(batch_size=64, lr=5e-4)}.items()},
    # sixth round, the re-selection on the validation split (issue 13): 30 complete cosine epochs per recipe,
    # one choice varied at a time around AE_PARAMS (ELU, AdamW weight decay 0.2, batch 128, lr 2e-3, bf16)
    **{f"val30-{name}": {**dict(epochs=30, activation="elu", batch_size=128, optimizer="adamw", lr=2e-3,
                                precision="bf16", optimizer_params={"weight_decay": 0.2}), **extra}
       for name, extra in {"elu": {}, "relu": dict(activation="relu"), "gelu": dict(activation="gelu"),
                           "wd0": dict(optimizer_params={"weight_decay": 0.0}),
                           "wd05": dict(optimizer_params={"weight_decay": 0.05}),
                           "wd5": dict(optimizer_params={"weight_decay": 0.5}),
                           "bs256": dict(batch_size=256)}.items()},
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configs", nargs="+", choices=sorted(CONFIGS), required=True)
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    from deepae.data import load_dataset

    x_all = load_dataset("mnist", "train", data_dir=args.data_dir).flat()
    x_train, x_val = x_all[VALIDATION["train"]], x_all[VALIDATION["val"]]
    results = {"machine": machine_info(), "deepae": deepae.__version__, "selected_on": VALIDATION["note"], "runs": {}}
    for name in args.configs:
        params = {**BASE, **CONFIGS[name], "device": args.device}
        ae, info = fit_autoencoder(x_train, x_val, params, curve_every=5)
        info["val_error_curve"] = info.pop("test_error_curve")  # scored on the validation split, not the test set
        # The training images' error beside the validation error tells overfitting from underfitting.
        info["train_error"] = squared_error_per_image(x_train[:10000], ae.reconstruct(x_train[:10000]))
        results["runs"][name] = {"params": params, **info}
        print(f"{name}: validation error {info['val_error_curve'][-1][1]:.3f} (train {info['train_error']:.3f}) "
              f"after {params['epochs']} epochs, {info['seconds_per_epoch']:.2f} s/epoch", flush=True)
        args.out.write_text(json.dumps(results, indent=1, default=str))
    best = min(results["runs"], key=lambda n: results["runs"][n]["val_error_curve"][-1][1])
    results["chosen"] = best
    args.out.write_text(json.dumps(results, indent=1, default=str))
    print(f"chosen on the validation split: {best}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
