"""What a model says about single images and codes, numpy in and out (torch runs here).

Per-image ELBO and -log p(x|z), per-pixel error maps, stochastic reconstructions, importance-sampled
NLL up to 5,000 samples, and statistics along an interpolation path. The arithmetic that needs no
model lives in vae.analysis.diagnostics and vae.analysis.likelihoods.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from vae.analysis.diagnostics import nearest_codes, off_the_data
from vae.analysis.latent import LatentModel
from vae.analysis.likelihoods import likelihood_floor
from vae.analysis.projection import Projection
from vae.data.dataset import require_image_size
from vae.errors import VAEError
from vae.models import BaseVAE
from vae.models.losses import kl_divergence, pixel_nll, reconstruction_nll

MAX_NLL_SAMPLES = 5_000  # the papers' k for the importance-sampled NLL (Burda et al.)
PATH_NLL_SAMPLES = 100  # importance samples per step of an interpolation path
NOISE_BUDGET = 2**22  # noise numbers (samples x images x dims) drawn at once: 16 MiB of float32
DECODE_BUDGET = 2**21  # decoded pixels at once (about 2,700 28x28 images): bounds the decoder's activations
SCORE_BATCH = 1000  # images per forward pass when scoring (vae.analysis.metrics.test_elbo's batch, so its draws match)


def _module(model: LatentModel | BaseVAE) -> BaseVAE:
    return model.module if isinstance(model, LatentModel) else model


def _as_tensor(module: BaseVAE, images: np.ndarray) -> torch.Tensor:
    """(N, H, W) images as a float32 tensor on the model's device; a DataError when they are not its size."""
    data = np.asarray(images, np.float32)
    require_image_size(data, module.config.image_dims, "selected")
    return torch.as_tensor(data, device=next(module.parameters()).device)


@dataclass(frozen=True)
class ImageScores:
    """Per-image scores, each (N,): for a selection's grid, or to sort reconstructions hardest first."""

    elbo: np.ndarray  # single-sample ELBO, nats (higher is better), as vae.analysis.metrics.test_elbo per image
    reconstruction_nll: np.ndarray  # -log p(x | z = mu) under the model's own likelihood, nats
    squared_error: np.ndarray  # mean squared grey-level error of the reconstruction from mu (0..1)


@torch.no_grad()
def score_images(model: LatentModel | BaseVAE, images: np.ndarray, seed: int = 0) -> ImageScores:
    """ELBO, -log p(x|z) and pixel error of each image (N, H, W).

    In plain words: how well the model explains each picture (ELBO), how likely it finds the picture
    given its own code (-log p(x|z), lower is better), and how far the redrawn picture is from it.
    The ELBO draws one z per image exactly as vae.analysis.metrics.test_elbo does, so their means agree.

    Raises:
        DataError: the images are not the size the model reads (so do the other functions here).
    """
    module = _module(model)
    data = _as_tensor(module, images)
    generator = torch.Generator(device=data.device).manual_seed(seed)
    elbo, recon_nll, squared = [], [], []
    for start in range(0, len(data), SCORE_BATCH):
        batch = data[start : start + SCORE_BATCH]
        mu, logvar = module.encode(batch)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device)
        sampled = _recon_nll(module, module.decode_logits(mu + eps * torch.exp(0.5 * logvar)), batch)
        elbo.append(-(sampled + kl_divergence(mu, logvar)))
        mean_logits = module.decode_logits(mu)
        recon_nll.append(_recon_nll(module, mean_logits, batch))
        # Both likelihoods read the decoded picture as sigmoid(logits) (vae.models.losses).
        squared.append((torch.sigmoid(mean_logits) - batch).pow(2).flatten(1).mean(dim=1))
    return ImageScores(*(_numpy(parts) for parts in (elbo, recon_nll, squared)))


def _recon_nll(module: BaseVAE, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return reconstruction_nll(logits, targets, module.config.likelihood, module.config.gaussian_std)


def _numpy(parts: list[torch.Tensor]) -> np.ndarray:
    return torch.cat(parts).cpu().numpy().astype(np.float64) if parts else np.zeros(0)


@torch.no_grad()
def pixel_nll_maps(model: LatentModel | BaseVAE, images: np.ndarray) -> np.ndarray:
    """-log p(x_ij | z = mu) per pixel under the model's own likelihood: (N, H, W) -> (N, H, W), nats.

    In plain words: where the model finds each picture hard to redraw, in its own units; each map sums
    to the image's reconstruction_nll in :func:`score_images`.
    """
    module = _module(model)
    data = _as_tensor(module, images)
    maps = []
    for start in range(0, len(data), SCORE_BATCH):
        batch = data[start : start + SCORE_BATCH]
        logits = module.decode_logits(module.encode(batch)[0])
        maps.append(_pixel_nll(module, logits, batch))
    return torch.cat(maps).cpu().numpy().astype(np.float64) if maps else np.zeros((0, *module.config.image_dims))


def _pixel_nll(module: BaseVAE, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-pixel terms of vae.models.losses.reconstruction_nll (the same formulas, not summed)."""
    return pixel_nll(logits, targets, module.config.likelihood, module.config.gaussian_std)


@torch.no_grad()
def stochastic_reconstructions(
    model: LatentModel | BaseVAE, images: np.ndarray, samples: int = 8, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Several reconstructions per image, each from its own z drawn from q(z|x) with ``seed``.

    In plain words: the model's code for a picture is uncertain; these are pictures it could redraw
    from codes it finds plausible for it. (N, H, W) -> codes (N, S, D) and pictures (N, S, H, W) in [0, 1].
    """
    module = _module(model)
    data = _as_tensor(module, images)
    mu, logvar = (part.cpu().numpy().astype(np.float64) for part in module.encode(data))
    eps = np.random.default_rng(seed).standard_normal((len(mu), samples, mu.shape[1]))
    codes = (mu[:, None] + eps * np.exp(0.5 * logvar)[:, None]).astype(np.float32)  # (N, S, D)
    pictures = _decode(module, codes.reshape(-1, mu.shape[1]))
    return codes, pictures.reshape(len(mu), samples, *module.config.image_dims)


def _decode(module: BaseVAE, codes: np.ndarray) -> np.ndarray:
    """(M, D) codes -> (M, H, W) pictures in [0, 1], in batches."""
    device = next(module.parameters()).device
    flat = torch.from_numpy(np.asarray(codes, np.float32))
    pictures = [module.decode(flat[start : start + SCORE_BATCH].to(device)).clamp(0, 1).cpu().numpy()
                for start in range(0, len(flat), SCORE_BATCH)]
    return np.concatenate(pictures) if pictures else np.zeros((0, *module.config.image_dims), np.float32)


@torch.no_grad()
def importance_sampled_nll(
    model: LatentModel | BaseVAE, images: np.ndarray, samples: int = 100, seed: int = 0,
    batch_size: int | None = None, sample_chunk: int | None = None,
) -> np.ndarray:
    """-log p(x) of each image (N, H, W) -> (N,) nats, by the IWAE bound over ``samples`` draws of q(z|x).

    In plain words: how unlikely the model finds each picture; more samples give a truer (lower)
    figure, up to the papers' 5,000. Memory stays bounded: images go in batches whose noise fits
    NOISE_BUDGET, and samples are decoded in chunks that fit DECODE_BUDGET. With the same
    ``batch_size`` the draws are vae.analysis.metrics.importance_sampled_nll's, so the means agree.
    """
    if not 1 <= samples <= MAX_NLL_SAMPLES:
        raise VAEError(f"The number of importance samples must be between 1 and {MAX_NLL_SAMPLES:,}; got {samples}.")
    samples = int(samples)
    module = _module(model)
    data = _as_tensor(module, images)
    batch_size = batch_size or max(1, NOISE_BUDGET // (samples * module.config.latent_dim))
    pixels = data[0].numel() if len(data) else 1
    generator = torch.Generator(device=data.device).manual_seed(seed)
    parts = []
    for start in range(0, len(data), batch_size):
        batch = data[start : start + batch_size]
        chunk = sample_chunk or max(1, DECODE_BUDGET // (pixels * len(batch)))
        parts.append(-_log_marginal(module, batch, samples, chunk, generator))
    return _numpy(parts)


def _log_marginal(
    module: BaseVAE, batch: torch.Tensor, samples: int, chunk: int, generator: torch.Generator
) -> torch.Tensor:
    """log p(x) estimates (B,): logsumexp_k [log p(x|z_k) + log p(z_k) - log q(z_k|x)] - log K."""
    mu, logvar = module.encode(batch)  # (B, D)
    eps = torch.randn((samples, *mu.shape), generator=generator, device=mu.device)  # (K, B, D), as vae.analysis.metrics
    weights = []
    for start in range(0, samples, chunk):
        noise = eps[start : start + chunk]  # (c, B, D)
        z = mu + noise * torch.exp(0.5 * logvar)
        targets = batch.expand(len(noise), *batch.shape).flatten(0, 1)
        log_px_z = -_recon_nll(module, module.decode_logits(z.flatten(0, 1)), targets).view(len(noise), -1)
        log_pz = -0.5 * (z.pow(2) + math.log(2 * math.pi)).sum(-1)
        log_qz = -0.5 * (noise.pow(2) + logvar + math.log(2 * math.pi)).sum(-1)
        weights.append(log_px_z + log_pz - log_qz)  # (c, B)
    return torch.logsumexp(torch.cat(weights), dim=0) - math.log(samples)


def elbo_nll_gap(model: LatentModel | BaseVAE, images: np.ndarray, samples: int = 100, seed: int = 0) -> float:
    """Mean over the images of -ELBO minus the importance-sampled NLL, in nats.

    In plain words: how much the training score (ELBO) undersells the model, because its encoder
    guesses each picture's code only approximately. It is at least 0 on average over many images,
    not for every image: a single sampled ELBO can land above the NLL estimate.
    """
    scores = score_images(model, images, seed)
    return float(np.mean(-scores.elbo) - np.mean(importance_sampled_nll(model, images, samples, seed)))


@dataclass(frozen=True)
class PathDiagnostics:
    """Statistics of each step (S,) of a path of codes."""

    nll: np.ndarray  # importance-sampled -log p(x_hat) of the step's decoded picture, nats
    floor: np.ndarray  # the smallest -log p(x|z) the likelihood allows for that picture (vae.analysis.likelihoods)
    nearest_distance: np.ndarray  # Euclidean distance to the nearest test code, full latent space
    nearest_index: np.ndarray  # which test image that code belongs to
    in_hole: np.ndarray  # bool: vae.analysis.diagnostics.off_the_data at the step


def path_diagnostics(
    model: LatentModel | BaseVAE, path: np.ndarray, test_means: np.ndarray, test_logvars: np.ndarray,
    samples: int = PATH_NLL_SAMPLES, seed: int = 0, projection: Projection | None = None,
) -> PathDiagnostics:
    """For each code of a path (S, D): how likely the model finds its picture, how far the nearest test
    code is, and whether it lies in a hole.

    The likelihood is the importance-sampled -log p(x_hat) of the decoded picture x_hat (the IWAE bound,
    ``samples`` draws), not its ELBO: off the data the encoder guesses worst, and the ELBO would mix that
    guess's error into the figure. NLL minus ``floor`` is what the model could still gain on that picture.
    Holes are judged in the full latent space, or on the plane of ``projection`` when given.
    In plain words: does the path stay where the model has seen pictures?
    """
    module = _module(model)
    if not len(test_means):
        raise VAEError("There are no test images to compare the path with.")
    codes = np.asarray(path, np.float32).reshape(-1, module.config.latent_dim)
    with torch.no_grad():
        decoded = _decode(module, codes)
    nll = importance_sampled_nll(module, decoded, samples, seed)
    nearest = [nearest_codes(code, test_means, 1) for code in codes]
    where = projection.to_2d(codes) if projection is not None else codes
    return PathDiagnostics(
        nll=nll,
        floor=likelihood_floor(decoded, module.config.likelihood, module.config.gaussian_std),
        nearest_distance=np.array([distance[0] for _, distance in nearest]),
        nearest_index=np.array([index[0] for index, _ in nearest], np.int64),
        in_hole=off_the_data(where, test_means, test_logvars, projection),
    )
