"""The loss terms against torch.distributions, closed forms, numpy and hand computations."""
import math

import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence as torch_kl
from torch.distributions import Independent

from vae.models.losses import (
    continuous_bernoulli_log_normalizer,
    free_bits_kl,
    kl_divergence,
    kl_per_dimension,
    pixel_nll,
    reconstruction_nll,
    vae_loss,
    warmup_beta,
)


def test_kl_matches_torch_distributions():
    generator = torch.Generator().manual_seed(0)
    mu = torch.randn(7, 5, generator=generator) * 2
    logvar = torch.randn(7, 5, generator=generator)
    posterior = Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)
    prior = Independent(Normal(torch.zeros(5), torch.ones(5)), 1)
    torch.testing.assert_close(kl_divergence(mu, logvar), torch_kl(posterior, prior))


def test_kl_is_zero_at_the_prior():
    assert torch.allclose(kl_divergence(torch.zeros(3, 4), torch.zeros(3, 4)), torch.zeros(3))


def test_bernoulli_nll_equals_bce_on_sigmoid_output():
    logits = torch.randn(4, 6, 6)
    target = torch.rand(4, 6, 6)
    expected = torch.nn.functional.binary_cross_entropy(torch.sigmoid(logits), target, reduction="none").flatten(1).sum(1)
    torch.testing.assert_close(reconstruction_nll(logits, target, "bernoulli", 0.1), expected, rtol=1e-4, atol=1e-3)


def test_gaussian_nll_equals_normal_log_prob():
    logits = torch.randn(3, 5, 5)
    target = torch.rand(3, 5, 5)
    expected = -Normal(torch.sigmoid(logits), 0.2).log_prob(target).flatten(1).sum(1)
    torch.testing.assert_close(reconstruction_nll(logits, target, "gaussian", 0.2), expected, rtol=1e-5, atol=1e-4)


def test_beta_weights_only_the_kl():
    logits, target = torch.randn(2, 4, 4), torch.rand(2, 4, 4)
    mu, logvar = torch.randn(2, 3), torch.randn(2, 3)
    plain = vae_loss(logits, target, mu, logvar, beta=1.0)
    heavy = vae_loss(logits, target, mu, logvar, beta=4.0)
    torch.testing.assert_close(heavy.total - plain.total, 3.0 * plain.kl)
    assert math.isclose(float(plain.recon), float(heavy.recon))


# ---------------------------------------------------------------- continuous Bernoulli


def test_continuous_bernoulli_loss_equals_the_numpy_likelihood_on_the_same_pixels():
    from vae.analysis.likelihoods import continuous_bernoulli_nll

    generator = torch.Generator().manual_seed(3)
    target = torch.rand(4, 7, 7, generator=generator, dtype=torch.float64)
    logits = torch.randn(4, 7, 7, generator=generator, dtype=torch.float64) * 4
    logits[0] = torch.linspace(-0.05, 0.05, 49).view(7, 7)  # both sides of the Taylor switch near lambda = 1/2
    expected = continuous_bernoulli_nll(target.numpy(), torch.sigmoid(logits).numpy())
    got = reconstruction_nll(logits, target, "continuous-bernoulli", 0.1)
    assert np.allclose(got.numpy(), expected, rtol=0, atol=1e-9)
    got32 = reconstruction_nll(logits.float(), target.float(), "continuous-bernoulli", 0.1)  # as training runs it
    assert np.allclose(got32.numpy(), expected, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("logit", [-9.0, -1.0, -0.03, 0.0, 0.01, 0.5, 6.0])
def test_continuous_bernoulli_normaliser_makes_a_density_on_0_1(logit):
    """C(lambda) * lambda^x (1 - lambda)^(1 - x) integrates to 1 over x in [0, 1] (trapezoid rule, independent)."""
    lam = 1 / (1 + math.exp(-logit))
    x = np.linspace(0, 1, 200_001)
    integral = np.trapezoid(lam**x * (1 - lam) ** (1 - x), x)
    log_c = float(continuous_bernoulli_log_normalizer(torch.tensor(logit, dtype=torch.float64)))
    assert math.isclose(log_c, -math.log(integral), abs_tol=1e-8)


def test_continuous_bernoulli_loss_has_finite_gradients_everywhere():
    logits = torch.tensor([-40.0, -13.0, -0.02, -1e-6, 0.0, 1e-6, 0.02, 13.0, 40.0], requires_grad=True)
    target = torch.tensor([0.0, 0.1, 0.5, 0.5, 0.5, 0.5, 0.6, 0.9, 1.0])
    loss = reconstruction_nll(logits[None], target[None], "continuous-bernoulli", 0.1)
    loss.sum().backward()
    assert torch.isfinite(loss).all() and torch.isfinite(logits.grad).all()


def test_pixel_terms_sum_to_each_images_nll():
    logits, target = torch.randn(3, 5, 5, dtype=torch.float64), torch.rand(3, 5, 5, dtype=torch.float64)
    for likelihood in ("bernoulli", "gaussian", "continuous-bernoulli"):
        summed = pixel_nll(logits, target, likelihood, 0.3).flatten(1).sum(1)
        torch.testing.assert_close(summed, reconstruction_nll(logits, target, likelihood, 0.3))


# ---------------------------------------------------------------- free bits and KL warm-up


def hand_kl_per_dim(mu: np.ndarray, logvar: np.ndarray) -> np.ndarray:
    """KL(N(mu, e^logvar) || N(0, 1)) per image and dim, written out in numpy: (B, D)."""
    return 0.5 * (mu**2 + np.exp(logvar) - 1.0 - logvar)


def test_free_bits_loss_equals_a_hand_computation_on_a_batch():
    generator = torch.Generator().manual_seed(0)
    logits, target = torch.randn(6, 4, 4, generator=generator), torch.rand(6, 4, 4, generator=generator)
    mu = torch.randn(6, 3, generator=generator, dtype=torch.float64) * torch.tensor([2.0, 0.3, 0.01], dtype=torch.float64)
    logvar = torch.randn(6, 3, generator=generator, dtype=torch.float64) * 0.1
    free_bits, beta = 0.5, 2.0
    loss = vae_loss(logits, target, mu, logvar, beta=beta, free_bits=free_bits)
    per_dim = hand_kl_per_dim(mu.numpy(), logvar.numpy()).mean(axis=0)  # (D,) batch means
    assert per_dim[0] > free_bits > per_dim[2]  # one dim above the floor, one below: both cases are checked
    recon = float(reconstruction_nll(logits, target, "bernoulli", 0.1).sum())
    expected_total = recon + beta * 6 * np.maximum(per_dim, free_bits).sum()
    assert math.isclose(float(loss.total), expected_total, rel_tol=1e-6)
    assert math.isclose(float(loss.kl), 6 * per_dim.sum(), rel_tol=1e-9)  # the report is the true KL


def test_free_bits_never_count_a_dims_kl_below_the_floor_and_leave_it_unpushed():
    mu = torch.tensor([[3.0, 0.01], [-2.0, 0.02]], requires_grad=True)
    logvar = torch.zeros(2, 2, requires_grad=True)
    objective = free_bits_kl(mu, logvar, 1.0)
    objective.backward()
    per_dim = kl_per_dimension(mu, logvar).mean(dim=0)
    assert objective.item() >= 2 * 2 * 1.0 - 1e-6  # each of the 2 dims counts at least 1 nat per image
    assert torch.all(mu.grad[:, 1] == 0) and torch.all(logvar.grad[:, 1] == 0)  # dim 2 is below the floor: free
    assert torch.all(mu.grad[:, 0] != 0) and per_dim[1].item() < 1.0


def test_without_free_bits_the_loss_is_the_plain_one():
    logits, target = torch.randn(2, 4, 4), torch.rand(2, 4, 4)
    mu, logvar = torch.randn(2, 3), torch.randn(2, 3)
    torch.testing.assert_close(vae_loss(logits, target, mu, logvar, free_bits=0.0).total,
                               vae_loss(logits, target, mu, logvar).recon + kl_divergence(mu, logvar).sum())


def test_warmup_beta_rises_linearly_from_zero_over_the_warmup_epochs():
    assert [warmup_beta(2.0, epoch, 4) for epoch in range(1, 8)] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.0, 2.0]
    assert [warmup_beta(2.0, epoch, 0) for epoch in range(1, 4)] == [2.0, 2.0, 2.0]  # off
    assert [warmup_beta(0.196, epoch, 1) for epoch in (1, 2, 3)] == [0.0, 0.196, 0.196]
