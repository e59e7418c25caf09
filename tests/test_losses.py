"""Objectives against hand-computed values, and the contractive penalty against autograd."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from deepae import ConfigError, Objective, create_model
from deepae.corruption import corrupt, gaussian_noise, masking_noise, salt_and_pepper_noise
from deepae.losses import (
    bce_loss,
    contractive_estimate,
    contractive_exact,
    gaussian_kl,
    kl_sparsity,
    l1_activity,
    mse_loss,
    resolve_loss,
)
from deepae.models.base import AEOutput


def test_bce_by_hand_and_from_logits():
    target = torch.tensor([[1.0, 0.0]])
    x_hat = torch.tensor([[0.8, 0.4]])
    expected = -(math.log(0.8) + math.log(0.6)) / 2
    assert bce_loss(AEOutput(x_hat=x_hat, z=x_hat), target).item() == pytest.approx(expected, rel=1e-6)
    logits = torch.logit(x_hat)
    from_logits = bce_loss(AEOutput(x_hat=x_hat, z=x_hat, logits=logits), target)
    assert from_logits.item() == pytest.approx(expected, rel=1e-5)
    per_sample = bce_loss(AEOutput(x_hat=x_hat.repeat(3, 1), z=x_hat), target.repeat(3, 1), per_sample=True)
    assert per_sample.shape == (3,)


def test_mse_by_hand():
    out = AEOutput(x_hat=torch.tensor([[1.0, 2.0], [0.0, 0.0]]), z=torch.zeros(2, 1))
    target = torch.tensor([[0.0, 0.0], [0.0, 2.0]])
    assert mse_loss(out, target).item() == pytest.approx((1 + 4 + 0 + 4) / 4)
    assert mse_loss(out, target, per_sample=True).tolist() == [2.5, 2.0]


def test_resolve_loss():
    assert resolve_loss("auto", np.array([0.0, 0.5, 1.0])) == "bce"
    assert resolve_loss("auto", np.array([-0.1, 0.5])) == "mse"
    assert resolve_loss("mse", np.array([0.5])) == "mse"
    with pytest.raises(ConfigError, match="loss='l2'"):
        resolve_loss("l2", np.array([0.5]))


def test_l1_activity_is_mean_of_per_sample_sums():
    z = torch.tensor([[1.0, -2.0], [0.5, 0.5]])
    assert l1_activity(z).item() == pytest.approx((3 + 1) / 2)


def test_kl_sparsity_by_hand():
    z = torch.tensor([[0.1, 0.05], [0.3, 0.05]])  # rho_hat = [0.2, 0.05]
    rho = 0.05
    expected = rho * math.log(rho / 0.2) + (1 - rho) * math.log((1 - rho) / 0.8)
    assert kl_sparsity(z, rho).item() == pytest.approx(expected, rel=1e-5)


def test_gaussian_kl_by_hand():
    mu = torch.tensor([[0.0, 1.0]])
    logvar = torch.tensor([[0.0, math.log(4.0)]])
    expected = 0.5 * (4 + 1 - 1 - math.log(4))  # second unit only; the first is N(0, 1)
    assert gaussian_kl(mu, logvar).item() == pytest.approx(expected, rel=1e-6)


def _jacobian_norm(encode, x):
    """Mean squared Frobenius norm of the per-sample Jacobian, the slow exact way."""
    total = 0.0
    for xi in x:
        jac = torch.autograd.functional.jacobian(lambda v: encode(v.unsqueeze(0)).squeeze(0), xi)
        total += jac.square().sum().item()
    return total / len(x)


@pytest.mark.parametrize("act", ["sigmoid", "relu", "tanh", "linear"])
def test_contractive_closed_form_equals_autograd_jacobian(act):
    torch.manual_seed(0)
    model = create_model("dense", input_shape=(12,), code_size=5, code_activation=act)
    x = torch.rand(6, 12)
    linear, name = model.single_layer_encoder()
    exact = contractive_exact(model.encode(x), linear.weight, name).item()
    assert exact == pytest.approx(_jacobian_norm(model.encode, x), rel=1e-5)


def test_contractive_estimate_is_unbiased_for_deep_encoders():
    torch.manual_seed(0)
    model = create_model("dense", input_shape=(10,), hidden=(8,), code_size=4, activation="tanh", code_activation="sigmoid")
    assert model.single_layer_encoder() is None
    x = torch.rand(8, 10)
    estimate = contractive_estimate(model.encode, x, n_projections=4000).item()
    assert estimate == pytest.approx(_jacobian_norm(model.encode, x), rel=0.05)
    # The estimate is differentiable: the penalty can be trained.
    contractive_estimate(model.encode, x).backward()
    assert model.encoder[0][0].weight.grad is not None


def test_objective_composes_terms():
    torch.manual_seed(0)
    model = create_model("dense", input_shape=(16,), code_size=4, code_activation="sigmoid")
    x = torch.rand(8, 16)
    plain, terms = Objective(loss="bce")(model, x)
    assert list(terms) == ["recon"]
    total, terms = Objective(loss="bce", l1=0.1, kl_sparsity=3.0, contractive=0.5)(model, x)
    assert set(terms) == {"recon", "l1", "kl_sparsity", "contractive"}
    assert total.item() == pytest.approx(sum(t.item() for t in terms.values()), rel=1e-6)
    assert terms["recon"].item() == pytest.approx(plain.item(), rel=1e-6)
    out = model(x)
    assert terms["l1"].item() == pytest.approx(0.1 * l1_activity(out.z).item(), rel=1e-6)


def test_objective_adds_scaled_kl_for_variational_models():
    torch.manual_seed(0)
    model = create_model("vae", input_shape=(16,), hidden=(8,), code_size=2).eval()
    x = torch.rand(4, 16)
    _, terms = Objective(loss="bce", beta=2.0)(model, x)
    out = model(x)
    assert terms["kl"].item() == pytest.approx(2.0 * gaussian_kl(out.mu, out.logvar).mean().item() / 16, rel=1e-5)


def test_denoising_corrupts_input_not_target():
    torch.manual_seed(0)
    seen = {}

    class Spy(torch.nn.Module):
        training = True

        def forward(self, x):
            seen["input"] = x
            return AEOutput(x_hat=torch.full_like(x, 0.5), z=x[:, :1])

    x = torch.rand(4, 50)
    Objective(loss="mse", noise="masking", noise_level=0.5)(Spy(), x)
    assert (seen["input"] == 0).float().mean() > 0.3
    assert not torch.equal(seen["input"], x)


@pytest.mark.parametrize(
    "model_name,objective",
    [
        ("dense", Objective(loss="bce", noise="gaussian", noise_level=0.3)),
        ("dense", Objective(loss="bce", noise="masking", noise_level=0.3)),
        ("vae", Objective(loss="bce")),
        ("dense", Objective(loss="bce", contractive=1.0)),  # a hidden layer: the estimated penalty
    ],
)
def test_objective_draws_its_randomness_from_the_generator(model_name, objective):
    """Training-time randomness (noise, VAE samples, projections) comes from ``generator``, never the global RNG."""
    torch.manual_seed(0)
    model = create_model(model_name, input_shape=(16,), hidden=(8,), code_size=2).train()
    x = torch.rand(8, 16)

    def loss(seed):
        return objective(model, x, generator=torch.Generator().manual_seed(seed))[0].item()

    before = torch.get_rng_state()
    assert loss(0) == loss(0) != loss(1)
    assert torch.equal(torch.get_rng_state(), before)


def test_objective_validation():
    with pytest.raises(ConfigError, match="rho=1.5"):
        Objective(rho=1.5)
    with pytest.raises(ConfigError, match="l1=-1"):
        Objective(l1=-1)
    with pytest.raises(ConfigError, match="noise='blur'"):
        Objective(noise="blur", noise_level=0.1)
    with pytest.raises(ConfigError, match="fraction in"):
        Objective(noise="masking", noise_level=2.0)
    with pytest.raises(ConfigError, match="resolved"):
        Objective()(create_model("dense", input_shape=(4,), code_size=2), torch.rand(2, 4))


# -- corruption ---------------------------------------------------------------------------------
def test_gaussian_noise_is_clipped():
    x = torch.full((1000,), 0.5)
    noisy = gaussian_noise(x, 2.0)
    assert noisy.min() >= 0 and noisy.max() <= 1 and noisy.std() > 0.3
    unclipped = gaussian_noise(x, 2.0, clip=None)
    assert unclipped.min() < 0


def test_masking_fraction():
    gen = torch.Generator().manual_seed(0)
    out = masking_noise(torch.ones(100_000), 0.3, generator=gen)
    assert (out == 0).float().mean().item() == pytest.approx(0.3, abs=0.01)


def test_salt_and_pepper_fraction_and_values():
    gen = torch.Generator().manual_seed(0)
    out = salt_and_pepper_noise(torch.full((100_000,), 0.5), 0.2, generator=gen)
    assert (out == 0).float().mean().item() == pytest.approx(0.1, abs=0.01)
    assert (out == 1).float().mean().item() == pytest.approx(0.1, abs=0.01)
    assert set(out.unique().tolist()) == {0.0, 0.5, 1.0}


def test_corrupt_dispatch_and_noop():
    x = torch.rand(3, 4)
    assert corrupt(x, None, 0.0) is x
    assert corrupt(x, "gaussian", 0.0) is x
    assert not torch.equal(corrupt(x, "salt-and-pepper", 0.9), x)
