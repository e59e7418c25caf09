"""deepae.apps.cluster: the scikit-learn clusterer contract, DEC, and the clustering metrics."""

from __future__ import annotations

import itertools
import os
from unittest import mock

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import adjusted_rand_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from deepae import AutoEncoder, ConfigError, DataError, NotFittedError
from deepae.apps.cluster import (
    AutoEncoderClustering,
    cluster_accuracy,
    clustering_scores,
    soft_assignment,
    target_distribution,
)

# check_estimator fits dozens of times on tiny data: keep each fit to a few milliseconds. A linear
# code keeps the blobs of check_clustering apart after three epochs.
FAST = dict(code_size=2, code_activation="linear", epochs=3, batch_size=32, device="cpu", random_state=0)
SMALL = dict(code_size=10, hidden=(64,), code_activation="linear", epochs=20, batch_size=64, device="cpu")
DEC = dict(refine="dec", refine_max_iter=300, update_interval=30)


@parametrize_with_checks([
    AutoEncoderClustering(3, AutoEncoder(**FAST), random_state=0),
    AutoEncoderClustering(3, AutoEncoder(**FAST), method="gmm", n_init=2, random_state=0),
    AutoEncoderClustering(3, AutoEncoder(**FAST), refine="dec", refine_max_iter=20, update_interval=5, random_state=0),
])
def test_sklearn_contract(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def digits():
    from deepae.data import load_dataset

    train = load_dataset("digits", "train")
    return train.flat(), train.y


# One fixed thread count: training follows the idle cores otherwise, and two fits of the same seed
# then agree only to float rounding, amplified over the epochs (test_dec_refines_without_scrambling
# needs DEC to start exactly where k-means ended).
ONE_THREAD = mock.patch.dict(os.environ, {"OMP_NUM_THREADS": "1"})


@pytest.fixture(scope="module")
def kmeans(digits):
    with ONE_THREAD:
        return AutoEncoderClustering(autoencoder=AutoEncoder(**SMALL), random_state=0).fit(digits[0])


@pytest.fixture(scope="module")
def dec(digits):
    with ONE_THREAD:
        return AutoEncoderClustering(autoencoder=AutoEncoder(**SMALL), random_state=0, **DEC).fit(digits[0])


def test_kmeans_on_codes(kmeans, digits):
    X, y = digits
    assert kmeans.cluster_centers_.shape == (10, 10) and kmeans.transform(X).shape == (len(X), 10)
    assert kmeans.labels_.dtype == np.int64 and kmeans.n_iter_ == 0
    np.testing.assert_array_equal(kmeans.predict(X), kmeans.labels_)
    np.testing.assert_array_equal(kmeans.clusterer_.predict(kmeans.transform(X)), kmeans.labels_)
    assert list(kmeans.get_feature_names_out()) == [f"autoencoderclustering{i}" for i in range(10)]
    assert clustering_scores(y, kmeans.labels_)["acc"] > 0.6


def test_dec_refines_without_scrambling(kmeans, dec, digits):
    """DEC starts where k-means ended (same seed), keeps most labels, and does not cost accuracy."""
    X, y = digits
    np.testing.assert_array_equal(dec.clusterer_.cluster_centers_, kmeans.cluster_centers_)
    assert 0 < dec.n_iter_ <= 300
    assert not np.allclose(dec.cluster_centers_, kmeans.cluster_centers_)
    assert not np.allclose(dec.transform(X), kmeans.transform(X))  # the encoder was fine-tuned
    np.testing.assert_array_equal(dec.predict(X), dec.labels_)
    assert adjusted_rand_score(kmeans.labels_, dec.labels_) > 0.6
    assert cluster_accuracy(y, dec.labels_) > cluster_accuracy(y, kmeans.labels_) - 0.03


def test_dec_stops_when_labels_settle(digits):
    X = digits[0][:300]
    patient = AutoEncoderClustering(5, AutoEncoder(**FAST), refine="dec", update_interval=5, refine_tol=0.0, refine_max_iter=40,
                                    random_state=0).fit(X)
    settled = AutoEncoderClustering(5, AutoEncoder(**FAST), refine="dec", update_interval=5, refine_tol=1.0, refine_max_iter=40,
                                    random_state=0).fit(X)
    assert patient.n_iter_ == 40 and settled.n_iter_ == 5  # refine_tol=1: the first comparison of labels stops it


def test_gmm_on_codes(digits):
    X, y = digits
    gmm = AutoEncoderClustering(autoencoder=AutoEncoder(**SMALL), method="gmm", n_init=2, random_state=0).fit(X)
    np.testing.assert_array_equal(gmm.predict(X), gmm.labels_)
    np.testing.assert_array_equal(gmm.cluster_centers_, gmm.clusterer_.means_)
    assert cluster_accuracy(y, gmm.labels_) > 0.5


def test_frozen_model_is_not_tuned_by_dec(digits):
    X = digits[0][:300]
    ae = AutoEncoder(**FAST).fit(X)
    before = [p.detach().clone() for p in ae.model_.parameters()]
    est = AutoEncoderClustering(5, FrozenEstimator(ae), refine="dec", refine_max_iter=20, update_interval=10, random_state=0)
    est.fit(X)
    assert all(torch.equal(a, b) for a, b in zip(before, ae.model_.parameters()))
    assert not np.allclose(est.transform(X), ae.transform(X))


def test_same_seed_same_clusters_and_global_rngs_untouched(digits):
    X = digits[0][:300]
    torch.manual_seed(7)
    np.random.seed(7)
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()[1].copy()
    params = dict(refine="dec", refine_max_iter=30, update_interval=10, random_state=3)
    fits = [AutoEncoderClustering(5, AutoEncoder(**FAST), **params).fit(X) for _ in range(2)]
    assert torch.equal(torch.get_rng_state(), torch_state) and np.array_equal(np.random.get_state()[1], numpy_state)
    np.testing.assert_array_equal(fits[0].labels_, fits[1].labels_)
    np.testing.assert_array_equal(fits[0].cluster_centers_, fits[1].cluster_centers_)


def test_pipeline_and_pca_stand_in(digits):
    X, y = digits
    pipe = make_pipeline(MinMaxScaler(), AutoEncoderClustering(autoencoder=AutoEncoder(**FAST), random_state=0))
    assert pipe.fit_predict(X * 16).shape == (len(X),)
    assert pipe.transform(X[:5] * 16).shape == (5, 2)
    pca = AutoEncoderClustering(autoencoder=PCA(10), random_state=0).fit(X)  # k-means on PCA-10, the usual baseline
    assert cluster_accuracy(y, pca.labels_) > 0.6


# -- metrics ----------------------------------------------------------------------------------
def test_cluster_accuracy_matches_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(5):
        y_true, y_pred = rng.integers(0, 4, 40), rng.integers(0, 4, 40)
        best = max(np.mean(np.array(perm)[y_pred] == y_true) for perm in itertools.permutations(range(4)))
        assert cluster_accuracy(y_true, y_pred) == pytest.approx(best)


def test_cluster_accuracy_invariants():
    y = np.array([0, 0, 1, 1, 2, 2])
    assert cluster_accuracy(y, np.array([5, 5, 3, 3, 9, 9])) == 1.0  # any renaming of the clusters
    assert cluster_accuracy(y, np.arange(6)) == pytest.approx(0.5)  # more clusters than classes: extras are wrong
    assert cluster_accuracy(y, np.zeros(6)) == pytest.approx(1 / 3)
    assert clustering_scores(y, [1, 1, 0, 0, 2, 2]) == {"acc": 1.0, "nmi": 1.0, "ari": 1.0}
    with pytest.raises(DataError, match=r"y_true has shape \(6,\) and y_pred \(5,\)"):
        cluster_accuracy(y, np.zeros(5))


def test_dec_distributions():
    z, mu = torch.tensor([[0.0, 0.0], [3.0, 0.0], [0.2, 0.0]]), torch.tensor([[0.0, 0.0], [3.0, 0.0]])
    q = soft_assignment(z, mu)
    torch.testing.assert_close(q.sum(1), torch.ones(3))
    assert q[0, 0] == pytest.approx(1 / (1 + 1 / 10))  # Student-t, alpha=1: 1 / (1 + d^2), normalised
    p = target_distribution(q)
    torch.testing.assert_close(p.sum(1), torch.ones(3))
    assert (p.max(1).values > q.max(1).values).all()  # the target is sharper


# -- errors -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "params,match",
    [
        (dict(n_clusters=10), "n_clusters=10 needs at least as many samples; X has n_samples=6"),
        (dict(n_clusters=0), "n_clusters=0; expected an integer >= 1"),
        (dict(method="spectral"), "method='spectral'; expected one of 'kmeans', 'gmm'"),
        (dict(refine="idec"), "refine='idec'; expected one of None, 'dec'"),
        (dict(n_init=0), "n_init=0"),
        (dict(refine_lr=0), "refine_lr=0; expected a number > 0"),
        (dict(autoencoder=PCA(2), refine="dec"), "refine='dec' fine-tunes an autoencoder's encoder; PCA has none"),
    ],
)
def test_bad_parameters_name_themselves(params, match):
    params = {"n_clusters": 2, "autoencoder": AutoEncoder(**FAST), **params}
    with pytest.raises(ConfigError, match=match):
        AutoEncoderClustering(**params).fit(np.random.rand(6, 4))


def test_unfitted():
    with pytest.raises(NotFittedError, match="AutoEncoderClustering is not fitted"):
        AutoEncoderClustering().predict(np.random.rand(2, 4))


@pytest.mark.slow  # umap-learn compiles its kernels on first use: about a minute
def test_umap_embedding_of_the_codes(digits):
    pytest.importorskip("umap")
    X, y = digits
    est = AutoEncoderClustering(10, AutoEncoder(**SMALL, random_state=0), method="gmm", n_init=1, embed="umap",
                                embed_dim=4, random_state=0).fit(X[:400])
    assert est.embedder_.embedding_.shape == (400, 4) and est.cluster_centers_.shape == (10, 4)
    assert est.transform(X[:5]).shape == (5, 10)  # transform gives codes; the embedding is internal
    assert np.array_equal(est.predict(X[:400])[:50], est.labels_[:50]) or clustering_scores(est.labels_, est.predict(X[:400]))[
        "acc"] > 0.9
    with pytest.raises(ConfigError, match="refine='dec' cannot tune it"):
        AutoEncoderClustering(embed="umap", refine="dec").fit(X[:50])
    with pytest.raises(ConfigError, match="embed='tsne'"):
        AutoEncoderClustering(embed="tsne").fit(X[:50])
