"""deepae.apps.anomaly: the scikit-learn outlier-detector contract and what the scores must mean."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA, IncrementalPCA
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from deepae import AutoEncoder, ConfigError, NotFittedError
from deepae.apps.anomaly import AutoEncoderOutlierDetector

# check_estimator fits dozens of times on tiny data: keep each fit to a few milliseconds.
FAST = dict(epochs=3, batch_size=32, device="cpu", random_state=0)
SMALL = dict(code_size=8, hidden=(32,), epochs=20, batch_size=64, device="cpu")


# float32 inference on batches of other sizes differs in the last bit (about 1e-7 relative), which
# standardising the score can lift past the rtol=1e-7 this check allows.
FLOAT32_BATCHES = {"check_methods_subset_invariance": "float32 inference differs by ~1 ulp between batch sizes"}


@parametrize_with_checks(
    [
        AutoEncoderOutlierDetector(AutoEncoder(**FAST)),
        AutoEncoderOutlierDetector(AutoEncoder(code_size=2, **FAST), code_weight=0.5, error="squared"),
    ],
    expected_failed_checks=lambda estimator: FLOAT32_BATCHES,
)
def test_sklearn_contract(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def digits():
    from deepae.data import load_dataset

    train, test = load_dataset("digits", "train"), load_dataset("digits", "test")
    return train.flat(), train.y, test.flat()


@pytest.fixture(scope="module")
def autoencoder(digits):
    return AutoEncoder(**SMALL, random_state=0).fit(digits[0])


@pytest.fixture(scope="module")
def noise():
    return np.random.default_rng(0).random((100, 64), dtype=np.float32)


@pytest.mark.parametrize("code_weight", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("contamination", [0.05, 0.1, 0.5])
def test_contamination_share_of_training_data_is_flagged(digits, autoencoder, code_weight, contamination):
    X = digits[0]
    detector = AutoEncoderOutlierDetector(FrozenEstimator(autoencoder), contamination, code_weight).fit(X)
    flagged = np.sum(detector.predict(X) == -1)
    assert abs(flagged - contamination * len(X)) <= 1
    np.testing.assert_allclose(detector.decision_function(X), detector.score_samples(X) - detector.offset_)


@pytest.mark.parametrize("code_weight,min_auroc", [(0.0, 0.99), (0.5, 0.99), (1.0, 0.9)])  # the code alone sees less
def test_noise_scores_below_held_out_digits(digits, autoencoder, noise, code_weight, min_auroc):
    X, _, X_test = digits
    detector = AutoEncoderOutlierDetector(FrozenEstimator(autoencoder), code_weight=code_weight).fit(X)
    scores = np.concatenate([detector.score_samples(X_test), detector.score_samples(noise)])
    assert roc_auc_score(np.r_[np.ones(len(X_test)), np.zeros(len(noise))], scores) > min_auroc
    assert np.mean(detector.predict(noise) == -1) > 0.8
    assert np.mean(detector.predict(X_test) == -1) < 0.3


def test_one_class_novelty(digits):
    """Trained on one digit, the detector ranks that digit above the others (the anomaly-mnist protocol, in small)."""
    X, y, _ = digits
    detector = AutoEncoderOutlierDetector(AutoEncoder(**SMALL), random_state=0).fit(X[y == 0][:100])
    held_out = np.r_[X[y == 0][100:], X[y != 0]]
    is_zero = np.r_[np.ones(np.sum(y == 0) - 100), np.zeros(np.sum(y != 0))]
    assert roc_auc_score(is_zero, detector.score_samples(held_out)) > 0.9


def test_score_is_the_fitted_loss_standardised(digits, autoencoder):
    X, _, X_test = digits
    detector = AutoEncoderOutlierDetector(FrozenEstimator(autoencoder)).fit(X)
    error = autoencoder.reconstruction_error(X_test)
    mean, scale = detector.error_stats_
    np.testing.assert_allclose(detector.score_samples(X_test), -(error - mean) / scale, rtol=1e-5, atol=1e-6)
    assert detector.score_samples(X).mean() == pytest.approx(0, abs=1e-6)
    assert detector.code_covariance_ is None and detector.distance_stats_ is None


def test_frozen_run_folder_and_fresh_model_agree(digits, autoencoder, tmp_path):
    """The three ways of giving the model score alike; a frozen model is used as it is, never changed."""
    X, _, X_test = digits
    before = [p.detach().clone() for p in autoencoder.model_.parameters()]
    frozen = AutoEncoderOutlierDetector(FrozenEstimator(autoencoder), code_weight=0.3).fit(X)
    assert all(torch.equal(a, b) for a, b in zip(before, autoencoder.model_.parameters()))
    autoencoder.save(tmp_path / "run")
    from_folder = AutoEncoderOutlierDetector(str(tmp_path / "run"), code_weight=0.3).fit(X)
    # The autoencoder's own random_state wins over the detector's.
    fresh = AutoEncoderOutlierDetector(AutoEncoder(**SMALL, random_state=0), code_weight=0.3, random_state=5).fit(X)
    for other in (from_folder, fresh):
        np.testing.assert_allclose(other.score_samples(X_test), frozen.score_samples(X_test), rtol=1e-5, atol=1e-6)
    unseeded = AutoEncoderOutlierDetector(AutoEncoder(epochs=1, device="cpu"), random_state=5).fit(X[:100])
    assert unseeded.autoencoder_.random_state is not None and unseeded.autoencoder.random_state is None


def test_same_seed_same_scores_and_global_rng_untouched(digits):
    X = digits[0][:300]
    torch.manual_seed(7)
    state = torch.get_rng_state()
    a = AutoEncoderOutlierDetector(AutoEncoder(**FAST), code_weight=0.5, random_state=1).fit(X)
    b = AutoEncoderOutlierDetector(AutoEncoder(**FAST), code_weight=0.5, random_state=1).fit(X)
    assert torch.equal(torch.get_rng_state(), state)
    np.testing.assert_array_equal(a.score_samples(X), b.score_samples(X))
    assert a.offset_ == b.offset_


def test_pipeline_after_min_max_scaler(digits, noise):
    X = digits[0] * 16  # the digits' raw 0..16 grey levels
    pipe = make_pipeline(MinMaxScaler(), AutoEncoderOutlierDetector(AutoEncoder(**SMALL), contamination=0.05, random_state=0))
    labels = pipe.fit_predict(X)
    assert set(np.unique(labels)) == {-1, 1} and abs(np.mean(labels == -1) - 0.05) < 0.01
    assert pipe[-1].autoencoder_.loss_ == "bce"  # the scaled data lies in [0, 1]
    assert pipe.score_samples(noise * 16).max() < np.median(pipe.score_samples(X))


def test_pca_stands_in_for_a_baseline(digits, noise):
    X, _, X_test = digits
    detector = AutoEncoderOutlierDetector(PCA(8), error="squared").fit(X)
    assert detector.score_samples(noise).max() < np.percentile(detector.score_samples(X_test), 5)
    with pytest.raises(ConfigError, match="error='loss' reads the loss a deepae.AutoEncoder was fitted with; PCA"):
        AutoEncoderOutlierDetector(PCA(8)).fit(X)


@pytest.mark.parametrize(
    "params,match",
    [
        (dict(contamination=0.0), r"contamination=0.0; expected a number in \(0, 0.5\]"),
        (dict(contamination=0.6), r"contamination=0.6; expected a number in \(0, 0.5\]"),
        (dict(contamination="auto"), r"contamination='auto'.*no scale-free threshold"),
        (dict(contamination=True), "contamination=True"),
        (dict(code_weight=1.5), r"code_weight=1.5; expected a number in \[0, 1\]"),
        (dict(error="abs"), "error='abs'; expected one of 'loss', 'squared'"),
        (dict(autoencoder=42), "autoencoder=42; expected a deepae.AutoEncoder"),
    ],
)
def test_bad_parameters_name_themselves(params, match):
    with pytest.raises(ConfigError, match=match):
        AutoEncoderOutlierDetector(**{"autoencoder": AutoEncoder(**FAST), **params}).fit(np.random.rand(20, 4))


def test_unfitted_and_wrong_input():
    with pytest.raises(NotFittedError, match="AutoEncoderOutlierDetector is not fitted"):
        AutoEncoderOutlierDetector().predict(np.random.rand(2, 4))
    with pytest.raises(NotFittedError, match="AutoEncoder is not fitted"):
        AutoEncoderOutlierDetector(FrozenEstimator(AutoEncoder())).fit(np.random.rand(20, 4))
    detector = AutoEncoderOutlierDetector(AutoEncoder(**FAST)).fit(np.random.rand(20, 4))
    with pytest.raises(ValueError, match="X has 5 features"):
        detector.score_samples(np.random.rand(2, 5))


@pytest.mark.parametrize("code_weight", [0.0, 0.4])
def test_save_load_round_trip_without_pickle(digits, autoencoder, tmp_path, code_weight):
    X, _, X_test = digits
    detector = AutoEncoderOutlierDetector(FrozenEstimator(autoencoder), contamination=0.05, code_weight=code_weight).fit(X)
    detector.save(tmp_path / "det")
    assert sorted(p.name for p in (tmp_path / "det").iterdir()) == (
        ["autoencoder", "detector.json"] + (["detector.safetensors"] if code_weight else []))
    again = AutoEncoderOutlierDetector.load(tmp_path / "det")
    np.testing.assert_allclose(again.score_samples(X_test), detector.score_samples(X_test), rtol=1e-6, atol=1e-6)
    assert again.offset_ == detector.offset_ and again.contamination == 0.05
    with pytest.raises(ConfigError, match="already exists; pass force=True"):
        detector.save(tmp_path / "det")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is a file; name a folder"):
        detector.save(tmp_path / "file", force=True)
    with pytest.raises(ConfigError, match="stores a deepae.AutoEncoder's run folder; this detector uses a PCA"):
        AutoEncoderOutlierDetector(PCA(4), error="squared").fit(X).save(tmp_path / "pca")


def test_ensemble_averages_its_members_standardised_scores(digits):
    X, _, X_test = digits
    ensemble = AutoEncoderOutlierDetector(AutoEncoder(**SMALL), code_weight=0.5, n_models=3, random_state=4).fit(X)
    assert len(ensemble.members_) == 3 and ensemble.autoencoder_ is ensemble.members_[0].autoencoder_
    seeds = [m.autoencoder_.random_state for m in ensemble.members_]
    assert len(set(seeds)) == 3  # drawn from the detector's random_state (SMALL sets none)
    scores = [m.score_samples(X_test) for m in ensemble.members_]
    assert not np.allclose(scores[0], scores[1])
    np.testing.assert_allclose(ensemble.score_samples(X_test), np.mean(scores, axis=0), rtol=1e-6, atol=1e-9)
    assert np.mean(ensemble.predict(X) == -1) == pytest.approx(0.1, abs=1 / len(X))
    # the same three models given trained, as a list, make the same detector
    frozen = [FrozenEstimator(m.autoencoder_) for m in ensemble.members_]
    again = AutoEncoderOutlierDetector(frozen, code_weight=0.5).fit(X)
    np.testing.assert_array_equal(again.score_samples(X_test), ensemble.score_samples(X_test))


def test_ensemble_refuses_what_it_cannot_train(digits, autoencoder):
    X = digits[0][:50]
    with pytest.raises(ConfigError, match="n_models=2 trains 2 autoencoders, but autoencoder is a trained one"):
        AutoEncoderOutlierDetector(FrozenEstimator(autoencoder), n_models=2).fit(X)
    with pytest.raises(ConfigError, match="IncrementalPCA takes no random_state, so its 2 copies would be one model"):
        AutoEncoderOutlierDetector(IncrementalPCA(4), n_models=2, error="squared").fit(X)
    with pytest.raises(ConfigError, match="a list of 2 models and n_models=3"):
        AutoEncoderOutlierDetector([FrozenEstimator(autoencoder)] * 2, n_models=3).fit(X)
    for bad in (0, 1.5, True):
        with pytest.raises(ConfigError, match=f"n_models={bad!r}; expected a whole number >= 1"):
            AutoEncoderOutlierDetector(n_models=bad).fit(X)


def test_ensemble_save_load_round_trip(digits, tmp_path):
    X, _, X_test = digits
    ensemble = AutoEncoderOutlierDetector(AutoEncoder(**FAST), code_weight=0.4, n_models=2).fit(X)
    ensemble.save(tmp_path / "det")
    assert sorted(p.name for p in (tmp_path / "det").iterdir()) == ["detector.json", "member-0", "member-1"]
    again = AutoEncoderOutlierDetector.load(tmp_path / "det")
    assert len(again.members_) == 2 and again.n_models == 2
    np.testing.assert_allclose(again.score_samples(X_test), ensemble.score_samples(X_test), rtol=1e-6, atol=1e-6)
    assert again.offset_ == ensemble.offset_


def test_score_is_linear_in_the_code_weight(digits, autoencoder):
    """(1 - w) * score(w=0) + w * score(w=1): what lets anomaly-mnist score each model once for every weight."""
    X, _, X_test = digits
    ends = [AutoEncoderOutlierDetector(FrozenEstimator(autoencoder), code_weight=w).fit(X).score_samples(X_test)
            for w in (0.0, 1.0)]
    mixed = AutoEncoderOutlierDetector(FrozenEstimator(autoencoder), code_weight=0.65).fit(X).score_samples(X_test)
    np.testing.assert_allclose(mixed, 0.35 * ends[0] + 0.65 * ends[1], rtol=1e-6, atol=1e-9)
