"""pca: reconstruction error against code size for PCA and three deepae autoencoders.

Squared error per test image (summed over pixels, as in Hinton & Salakhutdinov 2006) for code
sizes 2..128 on MNIST and Fashion-MNIST. Every autoencoder has a linear code, a sigmoid output and
BCE, trained with Adam for a few epochs on a subset of the training images (the same subset PCA
is fitted on), so the 42 fits stay within the 30-minute budget on a 2-core CPU.
"""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA

import deepae

from ._core import Context, Report, Timer, pyplot, register, save_figure, squared_error_per_image

CODE_SIZES = (2, 4, 8, 16, 32, 64, 128)
DATASETS = ("mnist", "fashion-mnist")
N_TRAIN = 20000
# name -> AutoEncoder parameters besides code_size; every code is linear, like PCA's.
MODELS = {
    "dense 784-k-784": dict(model="dense", hidden=(), code_activation="linear", epochs=15),
    "deep 784-512-256-k": dict(model="dense", hidden=(512, 256), code_activation="linear", epochs=10),
    # stride-2 convolutions instead of conv + pool: 4x fewer conv outputs, which the CPU budget needs
    "conv 32-32-k": dict(model="conv", hidden=(32, 32), code_activation="linear", epochs=4,
                         model_params={"downsample": "stride"}),
}
COMMON = dict(loss="bce", output_activation="sigmoid", optimizer="adam", batch_size=128)
QUICK = dict(n_train=2000, n_test=500, code_sizes=(2, 32), epochs=1)


def fit_point(method: str, k: int, x_train: np.ndarray, x_test: np.ndarray, quick: bool) -> tuple[float, float]:
    """(test squared error per image, fit seconds) of ``method`` with a ``k``-unit code."""
    with Timer() as t:
        if method == "PCA":
            pca = PCA(n_components=k, svd_solver="full").fit(x_train.reshape(len(x_train), -1))
            x_hat = pca.inverse_transform(pca.transform(x_test.reshape(len(x_test), -1)))
        else:
            params = {**COMMON, **MODELS[method], "code_size": k}
            if quick:
                params["epochs"] = QUICK["epochs"]
            ae = deepae.AutoEncoder(**params, random_state=0).fit(x_train)
            x_hat = ae.reconstruct(x_test)
    return squared_error_per_image(x_test, x_hat), t.seconds


def plot(points: list[dict], path) -> None:
    plt = pyplot()

    datasets = list(dict.fromkeys(p["data"] for p in points))
    fig, axes = plt.subplots(1, len(datasets), figsize=(6.5 * len(datasets), 4.8), squeeze=False)
    for ax, data in zip(axes[0], datasets):
        for method in dict.fromkeys(p["method"] for p in points):
            mine = [p for p in points if p["data"] == data and p["method"] == method]
            ax.plot([p["code"] for p in mine], [p["error"] for p in mine], "o-", label=method)
        ax.set(xscale="log", yscale="log", xlabel="code size", ylabel="squared error per test image", title=data)
        ax.set_xticks(CODE_SIZES, [str(k) for k in CODE_SIZES])
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    save_figure(fig, path)


@register("pca")
def run(ctx: Context) -> Report:
    """Reconstruction error vs code size (2..128): PCA and deepae dense / deep / conv, MNIST and Fashion-MNIST."""
    q = ctx.quick
    sizes = QUICK["code_sizes"] if q else CODE_SIZES
    points = []
    for data in DATASETS:
        # Images keep their (1, 28, 28) shape: the dense models flatten, the conv model needs it.
        x_train = ctx.data(data, "train", QUICK["n_train"]).x[: QUICK["n_train"] if q else N_TRAIN]
        x_test = ctx.data(data, "test", QUICK["n_test"]).x
        for method in ("PCA", *MODELS):
            for k in sizes:
                error, seconds = fit_point(method, k, x_train, x_test, q)
                points.append({"data": data, "method": method, "code": k, "error": error, "fit s": seconds})
                ctx.log(f"pca: {data} {method} k={k}: {error:.2f} ({seconds:.0f} s)")
    plot(points, ctx.path(".png"))
    rows = [{"data": d, "method": m, **{f"k={k}": next(p["error"] for p in points if p["data"] == d
                                                      and p["method"] == m and p["code"] == k) for k in sizes},
             "fit s (total)": sum(p["fit s"] for p in points if p["data"] == d and p["method"] == m)}
            for d in DATASETS for m in ("PCA", *MODELS)]
    k_head = 32 if 32 in sizes else sizes[-1]
    headline = []
    for d in DATASETS:
        at_k = {p["method"]: p["error"] for p in points if p["data"] == d and p["code"] == k_head}
        best = min(MODELS, key=at_k.get)
        headline.append({"metric": f"{d}, code {k_head}: squared error per test image, best deepae AE vs PCA",
                         "published": None, "ours": f"{at_k[best]:.2f} ({best})", "peer": f"PCA {at_k['PCA']:.2f}",
                         "ratio": f"{at_k[best] / at_k['PCA']:.2f}× PCA's error", "target": None, "met": None})
    n_train = QUICK["n_train"] if q else N_TRAIN
    notes = [f"Autoencoders: {COMMON} plus, per model, {MODELS}; trained on the first {n_train} training images "
             "(PCA fitted on the same); error on the full test set" + (" (quick: first 500)" if q else "") + ".",
             "fit s: wall seconds of fit + reconstruction of the test set."]
    return Report(title="pca: reconstruction error vs code size, PCA and deepae autoencoders",
                  rows=rows, headline=headline, notes=notes, plots=[ctx.path(".png").name],
                  figures={"points": points, "n_train": n_train, "models": MODELS, "common": COMMON})
