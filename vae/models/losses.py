"""Reconstruction term, KL term and the (beta-weighted) negative ELBO, with KL warm-up and free bits for training."""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

# The continuous Bernoulli's normaliser (vae.analysis.likelihoods has the same in numpy, in lambda):
# within this distance of lambda = 0.5 a Taylor series replaces the closed form, whose ratio is 0/0 there.
CB_TAYLOR_HALF_WIDTH = 0.01
CB_EPS = 1e-6  # lambda is kept in [CB_EPS, 1 - CB_EPS]: log C(lambda) grows without bound at 0 and 1
CB_MAX_LOGIT = math.log((1 - CB_EPS) / CB_EPS)  # the logit of 1 - CB_EPS (about 13.8)


class Loss(NamedTuple):
    """Per-batch sums (nats); divide by the batch size for per-image values."""

    total: torch.Tensor  # recon + beta * kl (the KL floored per dim when free bits are on)
    recon: torch.Tensor  # -log p(x|z), summed over pixels and images
    kl: torch.Tensor  # KL(q(z|x) || N(0, I)), summed over dims and images (never floored)


def kl_per_dimension(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Each image's KL from N(0, 1) in each latent dim: (B, D) -> (B, D), nats."""
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Per-image KL of N(mu, exp(logvar)) from N(0, I): (B, D) -> (B,).

    Kingma & Welling, Auto-Encoding Variational Bayes, Appendix B:
    -KL = 0.5 * sum(1 + log(sigma^2) - mu^2 - sigma^2).
    """
    return kl_per_dimension(mu, logvar).sum(dim=1)


def free_bits_kl(mu: torch.Tensor, logvar: torch.Tensor, free_bits: float) -> torch.Tensor:
    """The batch's KL for the objective with free bits: B * sum_j max(free_bits, mean_i KL_ij), nats.

    Kingma et al. 2016 (IAF), with one group per latent dim: a dim whose KL, averaged over the batch,
    is below ``free_bits`` costs exactly ``free_bits`` and gets no push towards the prior, so the model
    may use it for free up to that much information. With ``free_bits`` = 0 it is the plain summed KL.
    """
    per_dim = kl_per_dimension(mu, logvar)  # (B, D)
    return mu.shape[0] * torch.clamp(per_dim.mean(dim=0), min=free_bits).sum()


def warmup_beta(beta: float, epoch: int, warmup_epochs: int) -> float:
    """The KL weight of ``epoch`` (1-based) under KL warm-up: 0 in epoch 1, rising linearly to ``beta``.

    Epoch e trains with beta * (e - 1) / warmup_epochs, so epoch warmup_epochs + 1 and later use the full
    ``beta`` (Bowman et al. 2016; Sønderby et al. 2016). ``warmup_epochs`` = 0 turns warm-up off.
    """
    if warmup_epochs <= 0:
        return beta
    return beta * min(1.0, (epoch - 1) / warmup_epochs)


def continuous_bernoulli_log_normalizer(logits: torch.Tensor) -> torch.Tensor:
    """log C(lambda) of the continuous Bernoulli at lambda = sigmoid(logits), elementwise, stable.

    C(lambda) = 2 atanh(1 - 2 lambda) / (1 - 2 lambda) (Loaiza-Ganem & Cunningham, 2019). With
    u = 1 - 2 sigmoid(l) = -tanh(l / 2) and 2 atanh(u) = -l, C = l / tanh(l / 2). Near l = 0 the
    Taylor series 2 (1 + u^2/3 + u^4/5 + u^6/7) replaces that 0/0, as vae.analysis.likelihoods does.
    """
    clamped = logits.clamp(-CB_MAX_LOGIT, CB_MAX_LOGIT)
    u = torch.tanh(0.5 * clamped)
    near_half = u.abs() < 2 * CB_TAYLOR_HALF_WIDTH
    safe = torch.where(near_half, torch.ones_like(clamped), clamped)  # keeps the unused branch's gradient finite
    closed = torch.log(safe / torch.tanh(0.5 * safe))
    u2 = u * u
    series = math.log(2.0) + torch.log1p(u2 / 3 + u2 * u2 / 5 + u2 * u2 * u2 / 7)
    return torch.where(near_half, series, closed)


def pixel_nll(logits: torch.Tensor, target: torch.Tensor, likelihood: str, gaussian_std: float) -> torch.Tensor:
    """-log p(x|z) of each pixel in nats, the shape of ``target``.

    ``logits`` are the decoder's pre-sigmoid outputs; every likelihood reads the pixel value (the
    Bernoulli's probability, the Gaussian's mean, the continuous Bernoulli's lambda) as sigmoid(logits),
    so decoded images always lie in [0, 1].
    """
    if likelihood in ("bernoulli", "continuous-bernoulli"):
        # BCE on logits: the same value as the classic example's BCE on sigmoid output, but stable.
        nll = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        if likelihood == "continuous-bernoulli":
            nll = nll - continuous_bernoulli_log_normalizer(logits)
        return nll
    const = math.log(gaussian_std) + 0.5 * math.log(2 * math.pi)
    return (target - torch.sigmoid(logits)).pow(2) / (2 * gaussian_std**2) + const


def reconstruction_nll(
    logits: torch.Tensor, target: torch.Tensor, likelihood: str, gaussian_std: float
) -> torch.Tensor:
    """Per-image -log p(x|z) in nats: (B, ...) -> (B,); the sums of :func:`pixel_nll`'s terms."""
    flat_logits = logits.flatten(1)
    flat_target = target.flatten(1)
    if likelihood != "gaussian":
        return pixel_nll(flat_logits, flat_target, likelihood, gaussian_std).sum(dim=1)
    mean = torch.sigmoid(flat_logits)
    pixels = flat_target.shape[1]
    squared = (flat_target - mean).pow(2).sum(dim=1)
    const = pixels * (math.log(gaussian_std) + 0.5 * math.log(2 * math.pi))
    return squared / (2 * gaussian_std**2) + const


def vae_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    likelihood: str = "bernoulli",
    gaussian_std: float = 0.1,
    beta: float = 1.0,
    free_bits: float = 0.0,
) -> Loss:
    """The batch's summed negative ELBO with a beta-weighted KL (beta=1: the plain VAE).

    With ``free_bits`` > 0 the KL in ``total`` is :func:`free_bits_kl`'s; ``kl`` stays the true KL.
    """
    recon = reconstruction_nll(logits, target, likelihood, gaussian_std).sum()
    kl = kl_divergence(mu, logvar).sum()
    objective_kl = free_bits_kl(mu, logvar, free_bits) if free_bits > 0 else kl
    return Loss(total=recon + beta * objective_kl, recon=recon, kl=kl)
