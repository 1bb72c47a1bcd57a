"""The loss terms against torch.distributions and closed forms."""
import math

import torch
from torch.distributions import Normal, kl_divergence as torch_kl
from torch.distributions import Independent

from vae.models.losses import kl_divergence, reconstruction_nll, vae_loss


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
