"""Reconstruction term, KL term and the (beta-weighted) negative ELBO."""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F


class Loss(NamedTuple):
    """Per-batch sums (nats); divide by the batch size for per-image values."""

    total: torch.Tensor  # recon + beta * kl
    recon: torch.Tensor  # -log p(x|z), summed over pixels and images
    kl: torch.Tensor  # KL(q(z|x) || N(0, I)), summed over dims and images


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Per-image KL of N(mu, exp(logvar)) from N(0, I): (B, D) -> (B,).

    Kingma & Welling, Auto-Encoding Variational Bayes, Appendix B:
    -KL = 0.5 * sum(1 + log(sigma^2) - mu^2 - sigma^2).
    """
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1)


def reconstruction_nll(
    logits: torch.Tensor, target: torch.Tensor, likelihood: str, gaussian_std: float
) -> torch.Tensor:
    """Per-image -log p(x|z) in nats: (B, ...) -> (B,).

    ``logits`` are the decoder's pre-sigmoid outputs; both likelihoods read the
    pixel mean as sigmoid(logits), so decoded images always lie in [0, 1].
    """
    flat_logits = logits.flatten(1)
    flat_target = target.flatten(1)
    if likelihood == "bernoulli":
        # BCE on logits: the same value as the classic example's BCE on sigmoid output, but stable.
        nll = F.binary_cross_entropy_with_logits(flat_logits, flat_target, reduction="none")
        return nll.sum(dim=1)
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
) -> Loss:
    """The batch's summed negative ELBO with a beta-weighted KL (beta=1: the plain VAE)."""
    recon = reconstruction_nll(logits, target, likelihood, gaussian_std).sum()
    kl = kl_divergence(mu, logvar).sum()
    return Loss(total=recon + beta * kl, recon=recon, kl=kl)
