"""retrieval-reuters: document retrieval on Reuters-21578 R8 with 10-d TextAutoEncoder codes.

Protocol (issue 11): R8 of the ModApte split (5,485 train / 2,189 test stories, one topic among the 8
most frequent). Every test story queries the training stories; precision@k is the share of its k
nearest (cosine) that share its topic, averaged over queries, for k in 1, 3, 7, 15, 31, 63.
Peers, measured in the same run: TF-IDF cosine, LSA-10 and LSA-50 (TruncatedSVD of the TF-IDF).

Settings are chosen on a validation split: 20 % of the R8 *training* stories (stratified, seed 0)
query the other 80 %. The autoencoder's training setting (one of ``GRID``), and each peer's vocabulary
(all words or the 2,000 most frequent), are picked there by mean precision over the six k; then
everything is refitted on all training stories and the test set is used once.
"""

from __future__ import annotations

import numpy as np

from ._core import Context, Report, Timer, pyplot, register, save_figure

KS = (1, 3, 7, 15, 31, 63)
# The autoencoder's candidates, each one training run scored on the validation split (a cosine
# schedule spans one run, so every epoch count is a run of its own): the two best of the scratch runs
# summed up in HISTORY. Two earlier candidates (constant lr 1e-3, batch 64, dropout 0.5: validation
# 0.9210; dropout 0.7, cosine lr 2e-3, batch 64, 60 epochs: 0.9264) lost to them and left the grid
# when n_init = 3 tripled the cost of each run.
GRID = (
    dict(hidden=(500, 250, 125), input_dropout=0.7, lr_schedule="cosine", lr=3e-3, batch_size=128, epochs=40),
    dict(hidden=(1000, 500, 250), input_dropout=0.7, lr_schedule="cosine", lr=3e-3, batch_size=128, epochs=40),
)
# n_init: three initialisations (seeds 0, 1, 2), the lowest training loss kept. On the validation split,
# four seeds of the 1000-500-250 setting scored mean p@k 0.9236 / 0.9262 / 0.9160 / 0.9253 with training
# losses 5.238 / 5.211 / 5.331 / 5.227 nats per word: the loss ranked the four runs as precision did.
FIXED = dict(code_size=10, max_features=2000, weighting="tfidf", n_init=3)
PEER_VOCABULARIES = (None, 2000)  # max_features of the TF-IDF: all words, or the same 2,000 as the autoencoder
# --quick: a smoke test on the first stories, tiny training.
QUICK = dict(n_train=400, n_test=150, grid=(dict(hidden=(500, 250, 125), input_dropout=0.5, lr_schedule="cosine",
                                                 lr=3e-3, batch_size=64, epochs=2),))
# How GRID was found: scratch runs on the same validation split (seed 0 unless said), mean p@k over the six k.
HISTORY = (
    "History (validation mean p@k, scratch runs that chose GRID; LSA-50 scores 0.9234 there): constant lr 1e-3, "
    "batch 64, dropout 0.5: 0.9175 / 0.9210 / 0.9209 at 20 / 40 / 60 epochs. Failed: gaussian noise on the linear "
    "code, std 0.5 / 2 (codes grow to outrun it; 0.910 / 0.915 at 60 epochs); tanh code + noise 0.5 (0.896); sigmoid "
    "code + noise 2, as in semantic hashing (0.63: the code saturates); batch norm on the hidden layers (0.908); "
    "AdamW weight decay 0.1 (0.912); unit-length code before the decoder (0.920 at 20 epochs, falling); codes "
    "centred before the cosine (lower everywhere, e.g. 0.905 at 40 epochs); log(1 + count) input without idf "
    "(0.912); cosine lr 5e-3, batch 256 (0.913). Helped: a cosine lr schedule (lr 2e-3, batch 64: 0.9238 at 40 "
    "epochs, 0.9197 at 60; lr 1e-3: 0.9185; lr 3e-3, batch 128: 0.9254) and input dropout 0.7 with it (0.9267; "
    "dropout 0.6: 0.9240; 60 epochs: 0.9254; lr 2e-3, batch 64, 60 epochs: 0.9264), wider layers 1000-500-250 "
    "(0.9292). Seed noise is as large as these gains: the lr 3e-3 / batch 128 / dropout 0.7 run scores 0.9110 "
    "with seed 1 instead of 0.9267."
)


def precision_at_k(db: np.ndarray, db_labels: np.ndarray, queries: np.ndarray, query_labels: np.ndarray,
                   ks=KS, chunk: int = 512) -> dict[int, float]:
    """Mean share of each query's k nearest database rows (cosine) with the query's label; dense or sparse rows."""
    from sklearn.preprocessing import normalize

    db, queries = normalize(db), normalize(queries)
    top, hits = min(max(ks), db.shape[0]), []
    for start in range(0, queries.shape[0], chunk):
        sims = queries[start:start + chunk] @ db.T
        sims = sims.toarray() if hasattr(sims, "toarray") else np.asarray(sims)
        idx = np.argpartition(-sims, top - 1, axis=1)[:, :top]
        idx = np.take_along_axis(idx, np.argsort(-np.take_along_axis(sims, idx, 1), axis=1, kind="stable"), 1)
        hits.append(db_labels[idx] == query_labels[start:start + chunk, None])
    hit = np.concatenate(hits)
    return {k: float(hit[:, :k].mean()) for k in ks if k <= top}


def _peers(train_docs, test_docs, vocab: dict[str, int | None] | None = None):
    """{name: (train vectors, test vectors)} for TF-IDF, LSA-10, LSA-50, and each one's vocabulary."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    out, cache = {}, {}
    for name in ("TF-IDF cosine", "LSA-10", "LSA-50"):
        choices = PEER_VOCABULARIES if vocab is None else (vocab[name],)
        for max_features in choices:
            if max_features not in cache:
                tfidf = TfidfVectorizer(stop_words="english", sublinear_tf=True, max_features=max_features)
                cache[max_features] = (tfidf.fit_transform(train_docs), tfidf.transform(test_docs))
            a, b = cache[max_features]
            if name != "TF-IDF cosine":
                svd = TruncatedSVD(int(name.split("-")[1]), random_state=0).fit(a)
                a, b = svd.transform(a), svd.transform(b)
            out[(name, max_features)] = (a, b)
    return out


def _vocab_label(max_features: int | None) -> str:
    return "all words" if max_features is None else f"top {max_features:,} words"


@register("retrieval-reuters")
def retrieval_reuters(ctx: Context) -> Report:
    """Reuters-21578 R8: precision@k of 10-d TextAutoEncoder codes vs TF-IDF, LSA-10, LSA-50."""
    from sklearn.model_selection import train_test_split

    from deepae.apps.text import TextAutoEncoder
    from deepae.data import load_reuters

    q = ctx.quick
    grid = QUICK["grid"] if q else GRID
    folder = ctx.data_dir / "reuters21578"
    train, test = load_reuters(folder, "train"), load_reuters(folder, "test")
    n_train, n_test = (QUICK["n_train"], QUICK["n_test"]) if q else (len(train), len(test))
    docs, y = np.array(train.texts[:n_train], dtype=object), train.y[:n_train]
    test_docs, test_y = list(test.texts[:n_test]), test.y[:n_test]
    stratify = y if np.unique(y, return_counts=True)[1].min() >= 2 else None  # a quick run may hold a topic once
    fit_idx, val_idx = train_test_split(np.arange(len(y)), test_size=0.2, stratify=stratify, random_state=0)
    fit_docs, val_docs = list(docs[fit_idx]), list(docs[val_idx])
    mean = lambda scores: float(np.mean(list(scores.values())))  # noqa: E731

    # -- 1. choose on the validation split --------------------------------------------------
    selection, seconds = [], {}
    for (name, max_features), (a, b) in _peers(fit_docs, val_docs).items():
        selection.append({"method": name, "setting": _vocab_label(max_features),
                          **_row(precision_at_k(a, y[fit_idx], b, y[val_idx]))})
    vocab = {}
    for name in ("TF-IDF cosine", "LSA-10", "LSA-50"):
        rows = [r for r in selection if r["method"] == name]
        best = max(rows, key=lambda r: np.mean([r[f"p@{k}"] for k in KS if f"p@{k}" in r]))
        vocab[name] = None if best["setting"] == "all words" else int(best["setting"].split()[1].replace(",", ""))
    candidates = []
    for i, setting in enumerate(grid):
        with Timer() as t:
            model = TextAutoEncoder(**FIXED, **setting, random_state=0, num_threads=1).fit(fit_docs)
            scores = precision_at_k(model.transform(fit_docs), y[fit_idx], model.transform(val_docs), y[val_idx])
        candidates.append((mean(scores), -i))  # ties: the earlier candidate
        selection.append({"method": "deepae TextAutoEncoder", "setting": _label(setting), **_row(scores),
                          "init_losses": [round(v, 5) for v in model.init_losses_]})
        seconds[f"validation run {i + 1}"] = t.seconds
        ctx.log(f"validation: {_label(setting)}: mean p@k {mean(scores):.4f}")
    chosen = grid[-max(candidates)[1]]

    # -- 2. refit on all training stories, test once ---------------------------------------------
    with Timer() as t:
        model = TextAutoEncoder(**FIXED, **chosen, random_state=0, num_threads=1).fit(list(docs))
        train_codes, test_codes = model.transform(list(docs)), model.transform(test_docs)
    seconds["deepae fit + encode"] = t.seconds
    init_losses = [round(v, 5) for v in model.init_losses_]
    results = {"deepae TextAutoEncoder (10-d)": precision_at_k(train_codes, y, test_codes, test_y)}
    with Timer() as t:
        for (name, _), (a, b) in _peers(list(docs), test_docs, vocab).items():
            results[name] = precision_at_k(a, y, b, test_y)
    seconds["peers fit + search"] = t.seconds
    rows = [{"method": name, "setting": _label(chosen) if name.startswith("deepae") else _vocab_label(vocab[name]),
             **_row(scores)} for name, scores in results.items()]

    ours, lsa50 = results["deepae TextAutoEncoder (10-d)"], results["LSA-50"]
    met = all(ours[k] >= lsa50[k] for k in ours)
    headline = [{"metric": "retrieval-reuters: R8 test precision@1 / @63, 10-d codes", "published": None,
                 "ours": f"{ours[1]:.3f} / {ours[max(ours)]:.3f}", "peer": f"LSA-50 {lsa50[1]:.3f} / {lsa50[max(lsa50)]:.3f}",
                 "ratio": round(mean(ours) / mean(lsa50), 4), "target": ">= LSA-50 at every k", "met": met}]
    plots = [_curves(ctx, results), _map(ctx, test_codes, test_y, test.class_names)]
    notes = [
        f"Data: Reuters-21578 R8 (ModApte), {len(docs):,} training / {len(test_docs):,} test stories "
        f"(title + body, as in the usual R8 files).",
        "Settings were chosen on a validation split (20 % of the training stories, stratified, seed 0, querying "
        "the other 80 %) by mean precision over the six k; the test set was used once, for the table above.",
        f"Chosen: deepae {_label(chosen)} (candidates, validation mean p@k: "
        + "; ".join(f"{_label(g)} {c[0]:.4f}" for g, c in zip(grid, candidates)) + "); peers' vocabularies: "
        + ", ".join(f"{n} {_vocab_label(v)}" for n, v in vocab.items()) + ".",
        f"deepae: {FIXED['max_features']}-{'-'.join(map(str, chosen['hidden']))}-{FIXED['code_size']} ReLU autoencoder, "
        "linear code, softmax output fitted by the multinomial likelihood of the word counts; input log(1 + count) * idf "
        f"with rows of unit length; Adam, 1 thread; n_init {FIXED['n_init']}: seeds 0-{FIXED['n_init'] - 1} trained, the "
        "lowest training loss (nats per word, every word seen) kept; on all training stories: "
        + " / ".join(f"{v:.4f}" for v in init_losses) + f" (seed {int(np.argmin(init_losses))} kept). "
        "Neighbours by cosine of codes.",
        HISTORY,
        "Peers: scikit-learn TfidfVectorizer(stop_words='english', sublinear_tf=True), TruncatedSVD(random_state=0).",
        "Seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items()) + ".",
    ]
    return Report("retrieval-reuters: R8 document retrieval, 10-d autoencoder codes vs TF-IDF and LSA", rows, headline,
                  figures={"test": results, "validation": selection, "chosen": chosen,
                           "peer_vocabularies": vocab, "seconds": seconds, "init_losses": init_losses,
                           "n_train": len(docs), "n_test": len(test_docs)},
                  notes=notes, plots=plots, peer_versions=_versions())


def _row(scores: dict[int, float]) -> dict[str, float]:
    return {f"p@{k}": round(v, 4) for k, v in scores.items()}


def _label(setting: dict) -> str:
    """One candidate in words: "hidden 500-250-125, input dropout 0.7, cosine lr 0.003, batch 128, 40 epochs"."""
    return (f"hidden {'-'.join(map(str, setting['hidden']))}, input dropout {setting['input_dropout']}, "
            f"{setting['lr_schedule']} lr {setting['lr']:g}, "
            f"batch {setting['batch_size']}, {setting['epochs']} epochs")


def _versions() -> dict[str, str]:
    import sklearn

    return {"scikit-learn": sklearn.__version__}


def _curves(ctx: Context, results: dict[str, dict[int, float]]) -> str:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for name, scores in results.items():
        ks = list(scores)
        ax.plot(ks, [scores[k] for k in ks], marker="o", lw=2.5 if name.startswith("deepae") else 1.5, label=name)
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(KS), [str(k) for k in KS])
    ax.set_xlabel("k (nearest training stories)")
    ax.set_ylabel("precision@k (same topic)")
    ax.set_title("Reuters-21578 R8 test queries")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    path = ctx.path(".png")
    save_figure(fig, path)
    return path.name


def _map(ctx: Context, codes: np.ndarray, labels: np.ndarray, class_names: list[str]) -> str:
    """The test stories' codes on their first two principal axes, coloured by topic."""
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import normalize

    xy = PCA(2, random_state=0).fit_transform(normalize(codes))
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 5.2))
    for i, name in enumerate(class_names):
        sel = labels == i
        ax.scatter(xy[sel, 0], xy[sel, 1], s=5, alpha=0.6, label=f"{name} ({sel.sum()})")
    ax.set_title("Test stories: 10-d codes (unit length), first 2 principal axes")
    ax.legend(fontsize=7, markerscale=3)
    ax.set_xticks([])
    ax.set_yticks([])
    path = ctx.path("-map.png")
    save_figure(fig, path)
    return path.name
