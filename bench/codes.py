"""Uses of the code: one-class anomaly detection, clustering and image search on MNIST / Fashion-MNIST.

- anomaly-mnist: Ruff et al. (2018)'s one-class protocol: train on one digit, score the whole test
  set, AUROC per class; deepae's ``AutoEncoderOutlierDetector`` against PCA-32 reconstruction
  error and PyOD's AutoEncoder with its defaults, in the same run.
- cluster-mnist: all 70,000 digits, k = 10; ``AutoEncoderClustering`` (autoencoder + UMAP + GMM, as
  N2D) against k-means on pixels and on PCA-10; ACC / NMI / ARI.
- search-images: test images as queries against the 60,000 training images; precision@10 of
  same-label neighbours and queries per second, for autoencoder codes, PCA codes of the same size
  and raw pixels; plus the torch / faiss crossover behind ``deepae.apps.search.FAISS_MIN_ITEMS``.

No setting here was chosen on a test set: see each benchmark's notes for the split that chose it.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import FunctionTransformer

import deepae
from deepae.apps import AutoEncoderClustering, AutoEncoderOutlierDetector, clustering_scores
from deepae.apps.search import CodeIndex, build_hnsw, contact_sheet, exact_search, hnsw_search
from deepae.errors import ConfigError

from ._core import Context, Report, Timer, mean_std, pyplot, register, save_figure

# -- settings -----------------------------------------------------------------------------------
# anomaly-mnist: a small conv autoencoder per digit (conv + max-pool levels, 16 and 32 channels, 16-d code). The last
# VALIDATION_N training images are the validation split: normal = held-out images of the digit, anomalies
# = the other digits among them; the detector is trained on the digit's images among the rest. The epochs and the
# code weights were chosen on that split (ANOMALY_HISTORY; the report's notes give the committed runs' test scores).
ANOMALY_AE = dict(model="conv", hidden=(16, 32), code_size=16, code_activation="linear", epochs=60, batch_size=128,
                  optimizer="adam", lr=2e-3, loss="bce", output_activation="sigmoid")
CODE_WEIGHTS = (0.5, 0.65, 0.75, 0.85)  # the detector's code_weight, chosen on the validation split
ENSEMBLE = 3  # models per seed's run: the validation split chooses between them alone and their ensemble
VALIDATION_N = 6000
# Validation-split candidates (seed 0, all 10 digits, mean AUROC at the best code_weight; scratch runs, not part of
# this benchmark): what chose the epochs and the weights above. No test AUROC was computed for any of them.
ANOMALY_HISTORY = (
    "6 epochs (the previous setting) .9679 (w=0.5); 15 epochs .9763 (w=0.5); 30 epochs .9782 (w=0.75, .9771 at 0.5); "
    "12 epochs with 25% masking noise (denoising) .9720; on the 6-epoch models, other scores were worse than squared "
    "error + Mahalanobis (.9679): + kNN distance in whitened code space (k=5) .9669, kNN instead of Mahalanobis .9640, "
    "per-pixel standardised errors .9543, BCE error .9428. Cut short by a loaded CPU (7 digits): 15 epochs with cosine "
    "decay .9802 vs .9804 for plain 15 epochs on the same digits (no gain). Then, against 30 epochs at w=0.75 (.9788; "
    "0.85 .9752, 0.95 .9658, 1.0 .9573: the best weight is inside the grid): 60 epochs .9800 (w=0.75, .9797 at 0.65); "
    "channels (32, 64) .9792 at twice the time; code size 32 .9773 (w=0.85), code size 8 .9725 (w=0.5); squared-error "
    "training loss .9715; the same mix of log errors and log distances .9765, of square-root errors .9784. Then, with "
    "three seeds (0, 1, 2) per digit at 60 epochs: their models alone average .9782 (w=0.75; .9780 at 0.65, .9755 at "
    "0.85), the three averaged as one detector (an ensemble) .9794 (.9792, .9770): ahead on every digit but 1 (tied), "
    "by up to .0029 (digit 5, w=0.85)."
)
# cluster-mnist: N2D's recipe (McConville et al. 2020: a 784-500-500-2000-10 ReLU autoencoder with a linear code, UMAP
# to n_clusters dims with 20 neighbours, GMM), trained 100 epochs instead of N2D's 1000 to fit the CPU budget. Set a
# priori from the paper, not tuned on the labels (a first run used a (256, 64) net for 10 epochs: ACC 93.8 / NMI 86.4).
CLUSTER_AE = dict(model="dense", hidden=(500, 500, 2000), code_size=10, code_activation="linear", activation="relu",
                  epochs=100, batch_size=256, optimizer="adam", lr=1e-3, loss="bce", output_activation="sigmoid")
GMM_RESTARTS = 20  # the estimator's default; the restart with the highest likelihood is kept (no labels)
# search-images: one autoencoder per data set, 32-d codes, cosine distance.
SEARCH_AE = dict(model="dense", hidden=(256,), code_size=32, code_activation="linear", epochs=10, batch_size=128,
                 optimizer="adam", lr=1e-3, loss="bce", output_activation="sigmoid")
CROSSOVER_SIZES = (1000, 2000, 5000, 10000, 20000, 60000)
QUICK = dict(classes=(0, 1), n_train=1500, n_test=500, epochs=1, n_cluster=1500, n_queries=200, sizes=(500, 1000),
             code_weights=(0.0, 0.5), pyod=True, umap=True)  # umap=False skips UMAP (its first call compiles for a minute)


def _params(ctx: Context, params: dict, seed: int) -> dict:
    return {**params, "epochs": QUICK["epochs"] if ctx.quick else params["epochs"], "random_state": seed, "device": "cpu"}


# -- anomaly-mnist ------------------------------------------------------------------------------
def _pyod_scores(x_train: np.ndarray, x_eval: list[np.ndarray], quick: bool) -> list[np.ndarray]:
    """Normality scores (higher = more normal) of PyOD's AutoEncoder with its defaults (seed 42, per-pixel standardising)."""
    from pyod.models.auto_encoder import AutoEncoder as PyODAutoEncoder

    model = PyODAutoEncoder(verbose=0, device="cpu", **({"epoch_num": 1} if quick else {}))
    model.fit(x_train)
    return [-model.decision_function(x) for x in x_eval]


@register("anomaly-mnist")
def anomaly_mnist(ctx: Context) -> Report:
    """MNIST one-class anomaly detection (Ruff et al. 2018): AUROC per digit, deepae vs PCA-32 and PyOD."""
    q = ctx.quick
    train, test = ctx.data("mnist", "train", QUICK["n_train"]), ctx.data("mnist", "test", QUICK["n_test"])
    n_val = len(train) // 10 if q else VALIDATION_N
    x_fit, y_fit, x_val, y_val = train.x[:-n_val], train.y[:-n_val], train.x[-n_val:], train.y[-n_val:]
    classes, runs, size = (QUICK["classes"] if q else range(10)), range(ctx.n_seeds(3)), ENSEMBLE
    weights = QUICK["code_weights"] if q else CODE_WEIGHTS
    flat = lambda x: x.reshape(len(x), -1)  # noqa: E731
    # Each seed's run trains `size` models per digit (seeds run * size + i). The validation split chooses the detector
    # (each model alone, or the run's models averaged: an ensemble) and the code weight.
    val_auc: dict[tuple[str, float], list[float]] = {(k, w): [] for k in ("single", "ensemble") for w in weights}
    models: dict[int, list[list[dict]]] = {}  # digit -> run -> each model's scores()
    peer, seconds = {}, []

    def scores(model, normal: np.ndarray) -> dict[str, np.ndarray]:
        """One model's scores of the validation and test images at code weights 0 and 1, each fitted once.

        A detector's score is linear in its code weight: (1 - w) * score(w=0) + w * score(w=1), each part standardised
        on the training digits alone; an ensemble's is the mean of its models' (AutoEncoderOutlierDetector with
        n_models or a list of models; tests/test_anomaly.py checks both). So every weight and ensemble below mixes these.
        """
        out = {}
        for end in (0.0, 1.0):
            det = AutoEncoderOutlierDetector(FrozenEstimator(model), code_weight=end, error="squared").fit(normal)
            out.update({(split, end): det.score_samples(x) for split, x in (("val", x_val), ("test", test.x))})
        return out

    def auroc(c: int, run: int, i: int | None, w: float, split: str) -> float:
        """Digit c's AUROC on a split for one run's model i alone, or (i None) the ensemble of the run's models."""
        parts = models[c][run] if i is None else [models[c][run][i]]
        mixed = np.mean([(1 - w) * p[(split, 0.0)] + w * p[(split, 1.0)] for p in parts], axis=0)
        return roc_auc_score((y_val if split == "val" else test.y) == c, mixed)

    for c in classes:
        normal = x_fit[y_fit == c]
        pca = AutoEncoderOutlierDetector(PCA(32, random_state=0), error="squared").fit(flat(normal))
        peer[("PCA-32", c)] = [roc_auc_score(test.y == c, pca.score_samples(flat(test.x)))]
        peer[("PyOD AutoEncoder", c)] = []
        if QUICK["pyod"] or not q:
            s_test, = _pyod_scores(flat(normal), [flat(test.x)], q)
            peer[("PyOD AutoEncoder", c)].append(roc_auc_score(test.y == c, s_test))
        models[c] = []
        for run in runs:
            models[c].append([])
            for i in range(size):
                with Timer() as t:
                    model = deepae.AutoEncoder(**_params(ctx, ANOMALY_AE, run * size + i)).fit(normal)
                seconds.append(t.seconds)
                models[c][run].append(scores(model, normal))  # the scores are all the selection needs
                for w in weights:
                    val_auc[("single", w)].append(auroc(c, run, i, w, "val"))
            for w in weights:
                val_auc[("ensemble", w)].append(auroc(c, run, None, w, "val"))
            ctx.log(f"anomaly-mnist: digit {c} run {run}: {np.sum(seconds[-size:]):.1f} s; validation AUROC " + ", ".join(
                f"{k} w={w}: {np.mean(v[-size:] if k == 'single' else v[-1:]):.4f}" for (k, w), v in val_auc.items()))
    best_kind, best_w = max(val_auc, key=lambda key: np.mean(val_auc[key]))
    # The test set is scored with the detector and code weight the validation split chose; the single models'
    # scores at that weight are reported beside an ensemble's, not chosen among.
    single = {c: [auroc(c, run, i, best_w, "test") for run in runs for i in range(size)] for c in classes}
    ours = single if best_kind == "single" else {c: [auroc(c, run, None, best_w, "test") for run in runs] for c in classes}
    rows, wins = [], 0
    for c in classes:
        m, sd = mean_std(ours[c])
        pca_auc, pyod_auc = np.mean(peer[("PCA-32", c)]), np.mean(peer[("PyOD AutoEncoder", c)] or [np.nan])
        ahead = m > pca_auc and (np.isnan(pyod_auc) or m > pyod_auc)
        wins += bool(ahead)
        rows.append({"digit": c, "deepae AUROC": m, "± (seeds)": sd, "single models": float(np.mean(single[c])),
                     "PCA-32": pca_auc, "PyOD AutoEncoder": pyod_auc, "ahead of both": "yes" if ahead else "no"})
    mean_ours = float(np.mean([np.mean(v) for v in ours.values()]))
    n_ours = len(next(iter(ours.values())))
    mean_pca = float(np.mean([r["PCA-32"] for r in rows]))
    mean_pyod = float(np.mean([r["PyOD AutoEncoder"] for r in rows]))
    rows.append({"digit": "mean", "deepae AUROC": mean_ours,
                 "± (seeds)": float(np.std([np.mean([ours[c][i] for c in classes]) for i in range(n_ours)], ddof=1))
                 if n_ours > 1 else 0.0, "single models": float(np.mean([np.mean(v) for v in single.values()])),
                 "PCA-32": mean_pca, "PyOD AutoEncoder": mean_pyod, "ahead of both": f"{wins}/{len(rows)}"})
    what = (f"{len(runs)} seeds, an ensemble of {size} models each" if best_kind == "ensemble"
            else f"{len(runs) * size} single models")
    plot = _auroc_bars(ctx, rows[:-1], ours)
    n_classes = len(rows) - 1
    headline = [
        {"metric": f"anomaly-mnist: mean AUROC over 10 one-class digits ({what})", "published": "Deep SVDD .948",
         "ours": f"{mean_ours:.4f}", "peer": f"PCA-32 {mean_pca:.4f}, PyOD {mean_pyod:.4f}", "ratio": None,
         "target": ">= .975", "met": mean_ours >= 0.975},
        {"metric": "anomaly-mnist: digits where deepae beats both peers", "published": None, "ours": f"{wins}/{n_classes}",
         "peer": None, "ratio": None, "target": ">= 8/10", "met": wins >= 8},
    ]
    notes = [
        f"Protocol: the detector is trained on one digit's images among the first {len(x_fit):,} training images and "
        f"scores all {len(test):,} test images (that digit = normal); AUROC per digit: {what}. 'single models' is "
        f"the mean AUROC of all {len(runs) * size} models scored alone.",
        f"Settings chosen on a validation split carved from the training set (the last {n_val:,} training images: "
        "held-out images of the digit as normal, the other digits as anomalies), never on the test set: the detector "
        f"(each model alone, or a seed's {size} models' mean score: AutoEncoderOutlierDetector(n_models={size}) or a "
        f"list of models) and the code weight (one of {list(weights)}); mean validation AUROC "
        f"{', '.join(f'{k} w={w}: {np.mean(v):.4f}' for (k, w), v in val_auc.items())}; "
        f"chose {best_kind} at w={best_w}. The architecture ({ANOMALY_AE['hidden']} conv + max-pool, code "
        f"{ANOMALY_AE['code_size']}, "
        f"{ANOMALY_AE['epochs']} epochs) was chosen among dense, pooled-conv and strided-conv candidates in exploratory "
        "runs on digits 1, 5 and 8, compared by validation AUROC on the same split (those runs also printed test AUROC).",
        f"History: the committed runs before this one trained 6 epochs (validation .9666, test mean .963, 8/10 digits "
        f"ahead), then 30 epochs (validation .9788, test mean .9726, 8/10), then 60 epochs, models alone (validation "
        f".9782, test mean .9740, 9/10). The epochs were chosen on the validation split only, in scratch runs with one "
        f"seed: {ANOMALY_HISTORY}",
        "Score: squared reconstruction error (summed over pixels), mixed with the Mahalanobis distance of the code to the "
        "training codes by the code weight, each standardised on the training digits.",
        "Peers in the same run and split: PCA-32 squared reconstruction error (scikit-learn PCA, fitted on the same "
        "digits); PyOD's AutoEncoder with its defaults (10 epochs, [64, 32], per-pixel standardising, its seed 42), once "
        "per digit.",
        f"deepae training: {np.median(seconds):.1f} s per model (median of {len(seconds)}), on a shared CPU.",
    ]
    figures = {"auroc": {str(c): ours[c] for c in classes}, "auroc_single_models": {str(c): single[c] for c in classes},
               "validation_auroc": {f"{k} {w}": v for (k, w), v in val_auc.items()}, "detector": best_kind,
               "code_weight": best_w, "seconds_per_model": seconds}
    return Report("anomaly-mnist: one-class MNIST, AUROC per digit", rows, headline, figures, notes, [plot],
                  _pyod_version())


def _pyod_version() -> dict[str, str]:
    try:
        import pyod

        return {"pyod": pyod.__version__}
    except ImportError:  # pragma: no cover
        return {}


def _auroc_bars(ctx: Context, rows: list[dict], ours: dict) -> str:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(10, 4.2))
    x = np.arange(len(rows))
    for i, (name, err) in enumerate((("deepae AUROC", True), ("PCA-32", False), ("PyOD AutoEncoder", False))):
        values = [r[name] for r in rows]
        yerr = [np.std(ours[r["digit"]], ddof=1) if len(ours[r["digit"]]) > 1 else 0 for r in rows] if err else None
        ax.bar(x + (i - 1) * 0.27, values, 0.27, yerr=yerr, capsize=2, label=name.replace(" AUROC", ""))
    ax.set(xticks=x, xticklabels=[str(r["digit"]) for r in rows], xlabel="normal digit", ylabel="test AUROC",
           ylim=(min(0.6, min(min(r["deepae AUROC"], r["PCA-32"]) for r in rows) - 0.02), 1.0),
           title="One-class MNIST: AUROC per digit (whiskers: std over seeds, where several)")
    ax.axhline(0.975, color="k", lw=0.8, ls="--", label="target mean .975")
    ax.legend(fontsize=8, loc="lower left")
    ax.grid(axis="y", alpha=0.3)
    path = ctx.path(".png")
    save_figure(fig, path)
    return path.name


# -- cluster-mnist ------------------------------------------------------------------------------
@register("cluster-mnist")
def cluster_mnist(ctx: Context) -> Report:
    """All 70,000 MNIST digits in 10 clusters: autoencoder + UMAP + GMM (N2D) vs k-means on pixels and PCA-10."""
    from sklearn.cluster import KMeans

    train, test = ctx.data("mnist", "train", QUICK["n_cluster"]), ctx.data("mnist", "test", QUICK["n_cluster"])
    x, y = np.concatenate([train.x, test.x]), np.concatenate([train.y, test.y])
    flat = x.reshape(len(x), -1)
    rows, seconds, labels = [], {}, {}
    with Timer() as t:
        labels["k-means on pixels"] = KMeans(10, n_init=10, random_state=0).fit_predict(flat)
    seconds["k-means on pixels"] = t.seconds
    with Timer() as t:
        pca10 = PCA(10, random_state=0).fit_transform(flat)
        labels["k-means on PCA-10"] = KMeans(10, n_init=10, random_state=0).fit_predict(pca10)
    seconds["k-means on PCA-10"] = t.seconds
    with Timer() as t:
        ae = deepae.AutoEncoder(**_params(ctx, CLUSTER_AE, 0)).fit(x)
    seconds["autoencoder training"] = t.seconds
    ctx.log(f"cluster-mnist: autoencoder trained in {t.seconds:.0f} s")
    frozen = FrozenEstimator(ae)
    with Timer() as t:
        labels["deepae: k-means on codes"] = AutoEncoderClustering(10, frozen, n_init=10, random_state=0).fit(x).labels_
    seconds["deepae: k-means on codes"] = t.seconds
    ours = "deepae: UMAP + GMM on codes (N2D)" if QUICK["umap"] or not ctx.quick else "deepae: GMM on codes"
    with Timer() as t:
        n2d = AutoEncoderClustering(10, frozen, method="gmm", n_init=GMM_RESTARTS, embed="umap" if "UMAP" in ours else None,
                                    random_state=0).fit(x)
    labels[ours], seconds[ours] = n2d.labels_, t.seconds
    for name, assigned in labels.items():
        s = clustering_scores(y, assigned)
        rows.append({"method": name, "ACC %": 100 * s["acc"], "NMI %": 100 * s["nmi"], "ARI %": 100 * s["ari"],
                     "seconds": seconds[name] + (seconds["autoencoder training"] if name.startswith("deepae") else 0)})
    best = rows[-1]
    plot = _cluster_map(ctx, n2d, x, n2d.labels_, y)
    headline = [{"metric": "cluster-mnist: ACC / NMI on 70,000 digits, k = 10", "published": "N2D 97.9 / 94.2",
                 "ours": f"{best['ACC %']:.1f} / {best['NMI %']:.1f}",
                 "peer": f"k-means on PCA-10 {rows[1]['ACC %']:.1f} / {rows[1]['NMI %']:.1f}", "ratio": None,
                 "target": "ACC >= 95, NMI >= 90", "met": best["ACC %"] >= 95 and best["NMI %"] >= 90}]
    notes = [f"All {len(x):,} digits (train + test), labels used only to score. Settings are N2D's (UMAP to 10 dims, 20 "
             f"neighbours, min_dist 0, GMM) and N2D's autoencoder ({CLUSTER_AE['hidden']}, code "
             f"{CLUSTER_AE['code_size']}), trained {CLUSTER_AE['epochs']} epochs instead of 1000 to fit the CPU budget; "
             "none was tuned on the labels. One seed.",
             "History: the previous committed run used a smaller autoencoder ((256, 64), code 10, 10 epochs) and scored "
             "ACC 93.8 / NMI 86.4; the net and budget were then set to N2D's net and the longest run the CPU budget "
             "allows, once, not by trying settings against the labels.",
             "History, for honesty: a first full run fitted the GMM once (n_init=1, for speed) and scored ACC 80.7 / NMI "
             "81.2: its map showed the 1s split in two clusters and 4/9 mixed. This run uses the estimator's default of "
             f"{GMM_RESTARTS} restarts, the best chosen by likelihood (no labels); nothing else changed.",
             "seconds include the autoencoder's training for the deepae rows, on a shared CPU."]
    return Report("cluster-mnist: 70,000 MNIST digits, 10 clusters", rows, headline, {"seconds": seconds}, notes, [plot],
                  _umap_version())


def _umap_version() -> dict[str, str]:
    try:
        import umap

        return {"umap-learn": umap.__version__}
    except ImportError:  # pragma: no cover
        return {}


def _cluster_map(ctx: Context, est: AutoEncoderClustering, x: np.ndarray, assigned: np.ndarray, y: np.ndarray) -> str:
    """A 2-D map of the clustering space (UMAP of the embedding, else PCA of the codes), coloured by cluster and digit."""
    n = min(len(x), 10000)
    if est.embedder_ is not None:
        import umap

        emb = est.embedder_.embedding_[:n]
        pts = umap.UMAP(n_components=2, n_neighbors=20, min_dist=0.0, random_state=0, n_jobs=1).fit_transform(emb)
    else:
        pts = PCA(2, random_state=0).fit_transform(est.transform(x[:n]))
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 5))
    for ax, lab, title in ((axes[0], assigned[:n], "cluster (GMM)"), (axes[1], y[:n], "true digit")):
        sc = ax.scatter(pts[:, 0], pts[:, 1], c=lab, cmap="tab10", s=2, vmin=-0.5, vmax=9.5)
        ax.set(title=f"coloured by {title}", xticks=[], yticks=[])
    fig.colorbar(sc, ax=axes, ticks=range(10), fraction=0.03)
    fig.suptitle(f"MNIST, first {n:,} digits: 2-D {'UMAP' if est.embedder_ is not None else 'PCA'} of the clustering space")
    path = ctx.path(".png")
    save_figure(fig, path, tight=False)
    return path.name


# -- search-images ------------------------------------------------------------------------------
def _precision_at(labels: np.ndarray, idx: np.ndarray, query_labels: np.ndarray) -> float:
    return float(np.mean(labels[idx] == query_labels[:, None]))


def _hnsw_row(index: CodeIndex, codes: np.ndarray, exact_idx: np.ndarray, q_labels: np.ndarray) -> dict:
    """Approximate search (backend="hnsw") on the same codes: its speed, recall of the exact top 10, precision@10."""
    try:
        with Timer() as build:
            graph = build_hnsw(index.codes_, index.metric)
    except ConfigError:  # no faiss
        return {}
    hnsw_search(graph, codes[:50], 10, index.metric)
    with Timer() as t:
        _, idx = hnsw_search(graph, codes, 10, index.metric)
    recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(idx, exact_idx)]))
    return {"queries/s HNSW": len(codes) / t.seconds, "HNSW recall@10": recall,
            "HNSW precision@10": _precision_at(index.labels_, idx, q_labels), "HNSW build s": build.seconds}


def _queries_per_second(items: np.ndarray, queries: np.ndarray, backend: str, repeat: int = 3) -> float:
    exact_search(items, queries[:50], 10, "cosine", backend)  # warm-up
    times = []
    for _ in range(repeat):
        with Timer() as t:
            exact_search(items, queries, 10, "cosine", backend)
        times.append(t.seconds)
    return len(queries) / min(times)


@register("search-images")
def search_images(ctx: Context) -> Report:
    """Image search by codes on MNIST and Fashion-MNIST: precision@10 and queries/s vs PCA codes and raw pixels."""
    torch.set_num_threads(1)
    q = ctx.quick
    rows, sheet, figures = [], None, {}
    for name in ("mnist", "fashion-mnist"):
        train, test = ctx.data(name, "train", QUICK["n_train"]), ctx.data(name, "test", QUICK["n_test"])
        queries = test.x[: QUICK["n_queries"]] if q else test.x
        q_labels = test.y[: len(queries)]
        with Timer() as t:
            ae = deepae.AutoEncoder(**_params(ctx, SEARCH_AE, 0)).fit(train.x)
        ctx.log(f"search-images: {name} autoencoder trained in {t.seconds:.0f} s")
        k = SEARCH_AE["code_size"]
        methods = {f"deepae codes ({k}-d)": CodeIndex(FrozenEstimator(ae)),
                   f"PCA codes ({k}-d)": CodeIndex(PCA(k, random_state=0)),
                   "raw pixels (784-d)": CodeIndex(FunctionTransformer())}  # identity: the pixels are the codes
        for method, index in methods.items():
            x_items = train.x if method.startswith("deepae") else train.x.reshape(len(train.x), -1)
            x_query = queries if method.startswith("deepae") else queries.reshape(len(queries), -1)
            index.fit(x_items, train.y)
            codes = index.transform(x_query)
            _, idx = index.search_codes(codes, 10)
            row = {"data": name, "method": method, "precision@10": _precision_at(index.labels_, idx, q_labels),
                   "queries/s exact": _queries_per_second(index.codes_, codes, "auto")
                   if codes.shape[1] == k else _queries_per_second(index.codes_, codes[:1000], "auto", repeat=1)}
            row.update(_hnsw_row(index, codes, idx, q_labels) if codes.shape[1] == k else {})
            rows.append(row)
            ctx.log(f"search-images: {name} {method}: {row}")
            if sheet is None and method.startswith("deepae"):
                sheet = _sheet(ctx, train.x, queries, idx, codes, index)
    crossover = _crossover(ctx)
    figures["crossover"] = crossover
    plot = _search_plot(ctx, rows, crossover)
    by = {(r["data"], r["method"].split(" (")[0]): r for r in rows}
    ahead = [by[(d, "deepae codes")]["precision@10"] > by[(d, "PCA codes")]["precision@10"] for d in ("mnist", "fashion-mnist")]
    ours = by[("mnist", "deepae codes")]
    qps_exact, qps_hnsw = ours["queries/s exact"], ours.get("queries/s HNSW")
    headline = [
        {"metric": "search-images: precision@10, 32-d codes (MNIST / Fashion-MNIST)", "published": None,
         "ours": " / ".join(f"{by[(d, 'deepae codes')]['precision@10']:.4f}" for d in ("mnist", "fashion-mnist")),
         "peer": "PCA-32 " + " / ".join(f"{by[(d, 'PCA codes')]['precision@10']:.4f}" for d in ("mnist", "fashion-mnist")),
         "ratio": None, "target": "ahead of PCA on both", "met": all(ahead)},
        {"metric": "search-images: queries/s, 32-d codes over 60,000 items, 1 thread (exact / HNSW)", "published": None,
         "ours": f"{qps_exact:,.0f} / " + (f"{qps_hnsw:,.0f} (recall@10 {ours['HNSW recall@10']:.3f})" if qps_hnsw else "—"),
         "peer": None, "ratio": None, "target": ">= 10,000", "met": max(qps_exact, qps_hnsw or 0) >= 10000},
    ]
    notes = [f"Items: the {len(train):,} training images; queries: {'the first ' if q else 'all '}{len(queries):,} test "
             "images; precision@10: share of the 10 nearest items (cosine) that have the query's label.",
             f"Autoencoder: {SEARCH_AE['hidden']} dense, linear {k}-d code, {SEARCH_AE['epochs']} epochs, settings fixed "
             "before the run (no test-set choice); PCA fitted on the same training images.",
             "queries/s: all queries at once, 1 thread, on a shared CPU unless stated; exact = best of 3 with "
             "backend='auto' (faiss's flat index from FAISS_MIN_ITEMS items); HNSW = CodeIndex(backend='hnsw'), faiss's "
             "approximate graph (M 32, efSearch 64), search time only (its build time is its own column); recall@10 = "
             "share of the exact 10 nearest it finds.",
             "Crossover (figures.crossover): torch vs faiss exact search on random 32-d codes, 1,000 queries, "
             "by number of items: FAISS_MIN_ITEMS in deepae/apps/search.py comes from it."]
    return Report("search-images: nearest neighbours by codes", rows, headline, figures, notes, [plot, sheet],
                  {"faiss": _faiss_version()})


def _faiss_version() -> str:
    try:
        import faiss

        return faiss.__version__
    except ImportError:  # pragma: no cover
        return "not installed"


def _search_plot(ctx: Context, rows: list[dict], crossover: list[dict]) -> str:
    """precision@10 per method and data set; queries/s of torch and faiss against the number of items."""
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    datasets = list(dict.fromkeys(r["data"] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    width = 0.8 / len(methods)
    for i, method in enumerate(methods):
        values = [next(r["precision@10"] for r in rows if r["data"] == d and r["method"] == method) for d in datasets]
        bars = left.bar(np.arange(len(datasets)) + (i - (len(methods) - 1) / 2) * width, values, width, label=method)
        left.bar_label(bars, fmt="%.3f", fontsize=7)
    left.set(xticks=range(len(datasets)), xticklabels=datasets, ylabel="precision@10 (same label)", ylim=(0.5, 1.0),
             title="Test queries against the training set (cosine)")
    left.legend(fontsize=8, loc="lower left")
    for key in ("torch queries/s", "faiss queries/s"):
        pts = [(c["items"], c[key]) for c in crossover if c.get(key)]
        if pts:
            right.plot(*zip(*pts), "o-", label=key.split()[0] + " (exact)")
    right.set(xscale="log", yscale="log", xlabel="indexed items (32-d codes)", ylabel="queries/s, 1 thread",
              title="Exact search: torch vs faiss")
    right.grid(alpha=0.3, which="both")
    right.legend(fontsize=8)
    path = ctx.path(".png")
    save_figure(fig, path)
    return path.name


def _sheet(ctx, items, queries, idx, codes, index) -> str:
    dist, _ = index.search_codes(codes[:8], 8)
    fig = contact_sheet(queries[:8], items[idx[:8, :8]], dist, [f"test {i}" for i in range(8)],
                        title="MNIST test queries and their 8 nearest training images (deepae codes, cosine)")
    path = ctx.path("-sheet.png")
    fig.savefig(path, dpi=90)
    return path.name


def _crossover(ctx: Context) -> list[dict]:
    """Queries/s of torch and faiss (exact, cosine, 1 thread) against the number of indexed items."""
    rng = np.random.default_rng(0)
    queries = rng.standard_normal((200 if ctx.quick else 1000, 32)).astype(np.float32)
    out = []
    for n in QUICK["sizes"] if ctx.quick else CROSSOVER_SIZES:
        items = rng.standard_normal((n, 32)).astype(np.float32)
        row = {"items": n, "torch queries/s": _queries_per_second(items, queries, "torch")}
        try:
            import faiss

            faiss.omp_set_num_threads(1)
            row["faiss queries/s"] = _queries_per_second(items, queries, "faiss")
        except ImportError:
            row["faiss queries/s"] = None
        out.append(row)
        ctx.log(f"search-images: crossover {row}")
    return out
