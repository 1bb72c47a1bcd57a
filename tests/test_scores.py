"""vae.analysis.scores against independent computations: numpy formulas, vae.analysis.metrics, exact integration over a 2-D latent."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vae.analysis import scores
from vae.analysis.diagnostics import off_the_data
from vae.analysis.latent import LatentModel
from vae.analysis.likelihoods import bernoulli_entropy_floor
from vae.analysis.metrics import importance_sampled_nll as metrics_nll
from vae.analysis.metrics import test_elbo as metrics_elbo
from vae.analysis.projection import dims_projection
from vae.config import ModelConfig
from vae.errors import DataError, VAEError
from vae.models import build_model


@pytest.fixture
def gaussian_model():
    """A tiny untrained MLP with a Gaussian likelihood (std 0.2)."""
    config = ModelConfig(kind="mlp", image_shape=(8, 8), latent_dim=3, hidden_sizes=(16,), likelihood="gaussian",
                         gaussian_std=0.2)
    return build_model(config, seed=1).eval()


def _bernoulli_nll(images: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    p = np.clip(probabilities.astype(np.float64), 1e-12, 1 - 1e-12)
    x = images.astype(np.float64)
    return -(x * np.log(p) + (1 - x) * np.log(1 - p))


def _gaussian_nll(images: np.ndarray, means: np.ndarray, std: float) -> np.ndarray:
    return (images - means) ** 2 / (2 * std**2) + math.log(std) + 0.5 * math.log(2 * math.pi)


# ---------------------------------------------------------------- per-image scores


def test_per_image_elbo_matches_a_numpy_formula_and_averages_to_metrics(tiny_model, tiny_images):
    result = scores.score_images(tiny_model, tiny_images, seed=3)
    latent = LatentModel(tiny_model)
    mu, logvar = latent.encode(tiny_images)
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(3)).numpy()  # the draws test_elbo makes
    pictures = latent.decode(mu + eps * np.exp(0.5 * logvar))
    kl = 0.5 * (mu**2 + np.exp(logvar) - 1 - logvar).sum(axis=1)
    by_hand = -(_bernoulli_nll(tiny_images, pictures).reshape(len(mu), -1).sum(axis=1) + kl)
    assert np.allclose(result.elbo, by_hand, rtol=1e-4)
    assert result.elbo.mean() == pytest.approx(metrics_elbo(tiny_model, tiny_images, seed=3), rel=1e-5)


def test_reconstruction_scores_use_the_models_own_likelihood(tiny_model, gaussian_model, tiny_images):
    for module in (tiny_model, gaussian_model):
        latent = LatentModel(module)
        result = scores.score_images(latent, tiny_images)
        pictures = latent.reconstruct(tiny_images)
        if module.config.likelihood == "bernoulli":
            per_pixel = _bernoulli_nll(tiny_images, pictures)
        else:
            per_pixel = _gaussian_nll(tiny_images, pictures, module.config.gaussian_std)
        assert np.allclose(result.reconstruction_nll, per_pixel.reshape(len(pictures), -1).sum(axis=1), rtol=1e-4)
        assert np.allclose(result.squared_error, latent.errors_per_image(tiny_images), rtol=1e-5)
        maps = scores.pixel_nll_maps(latent, tiny_images)
        assert maps.shape == tiny_images.shape
        assert np.allclose(maps, per_pixel, rtol=1e-4, atol=1e-5)
        assert np.allclose(maps.reshape(len(maps), -1).sum(axis=1), result.reconstruction_nll, rtol=1e-5)


def test_stochastic_reconstructions_draw_z_from_the_posterior(tiny_model, tiny_images):
    latent = LatentModel(tiny_model)
    codes, pictures = scores.stochastic_reconstructions(latent, tiny_images[:3], samples=4000, seed=5)
    assert codes.shape == (3, 4000, 2) and pictures.shape == (3, 4000, 8, 8)
    assert np.allclose(pictures[1, :10], latent.decode(codes[1, :10]), atol=1e-6)
    mu, logvar = latent.encode(tiny_images[:3])
    sigma = np.exp(0.5 * logvar)
    assert np.all(np.abs(codes.mean(axis=1) - mu) < 5 * sigma / math.sqrt(4000))
    assert np.allclose(codes.std(axis=1), sigma, rtol=0.05)
    again, _ = scores.stochastic_reconstructions(latent, tiny_images[:3], samples=4000, seed=5)
    other, _ = scores.stochastic_reconstructions(latent, tiny_images[:3], samples=4000, seed=6)
    assert np.array_equal(codes, again) and not np.array_equal(codes, other)


# ---------------------------------------------------------------- importance-sampled NLL


def test_batched_nll_equals_the_metrics_module_for_small_k(tiny_model, tiny_images):
    ours = scores.importance_sampled_nll(tiny_model, tiny_images, samples=30, seed=2, batch_size=50, sample_chunk=7)
    assert ours.shape == (len(tiny_images),)
    assert ours.mean() == pytest.approx(metrics_nll(tiny_model, tiny_images, samples=30, seed=2, batch_size=50), rel=1e-5)


def test_nll_is_the_same_whatever_the_decode_chunks(tiny_model, tiny_images, monkeypatch):
    whole = scores.importance_sampled_nll(tiny_model, tiny_images[:6], samples=500, seed=1, batch_size=4, sample_chunk=500)
    monkeypatch.setattr(scores, "DECODE_BUDGET", 64 * 4 * 30)  # 30 samples of a 4-image batch at a time
    assert np.allclose(scores.importance_sampled_nll(tiny_model, tiny_images[:6], samples=500, seed=1, batch_size=4),
                       whole, rtol=1e-5)


@pytest.mark.slow
def test_nll_with_5000_samples_matches_exact_integration_over_the_2d_latent(tiny_model, tiny_images):
    images = tiny_images[:4]
    axis = np.linspace(-7, 7, 201)
    grid = np.stack(np.meshgrid(axis, axis), axis=-1).reshape(-1, 2)  # (G, 2) z values, spacing 0.07
    pictures = LatentModel(tiny_model).decode(grid)  # (G, 8, 8)
    log_prior = -0.5 * (grid**2).sum(axis=1) - math.log(2 * math.pi)
    cell = (axis[1] - axis[0]) ** 2
    exact = []
    for image in images:
        log_joint = -_bernoulli_nll(image[None], pictures).reshape(len(grid), -1).sum(axis=1) + log_prior
        top = log_joint.max()
        exact.append(-(top + math.log(np.exp(log_joint - top).sum() * cell)))
    estimate = scores.importance_sampled_nll(tiny_model, images, samples=5000, seed=0)
    assert np.allclose(estimate, exact, atol=0.03)  # k=1 misses by up to 0.7 nats here


def test_images_of_another_size_are_refused_in_words(tiny_model):
    with pytest.raises(DataError, match="model reads"):
        scores.score_images(tiny_model, np.zeros((2, 28, 28), np.float32))


@pytest.mark.parametrize("samples", [0, 5001])
def test_nll_sample_count_is_bounded(tiny_model, tiny_images, samples):
    with pytest.raises(VAEError, match="between 1 and 5,000"):
        scores.importance_sampled_nll(tiny_model, tiny_images, samples=samples)


def test_elbo_nll_gap_is_minus_elbo_minus_nll_and_positive_on_average(tiny_model, tiny_images):
    gap = scores.elbo_nll_gap(tiny_model, tiny_images, samples=50, seed=4)
    nll = scores.importance_sampled_nll(tiny_model, tiny_images, samples=50, seed=4).mean()
    assert gap == pytest.approx(-metrics_elbo(tiny_model, tiny_images, seed=4) - nll, abs=1e-4)  # float32 sums
    assert gap > 0


# ---------------------------------------------------------------- along a path


def test_path_diagnostics_per_step(tiny_model, tiny_images):
    latent = LatentModel(tiny_model)
    means, logvars = latent.encode(tiny_images)
    path = np.linspace([-2.0, -2.0], [2.5, 1.0], 6).astype(np.float32)
    result = scores.path_diagnostics(latent, path, means, logvars, samples=40, seed=1)
    decoded = latent.decode(path)
    assert np.allclose(result.nll, scores.importance_sampled_nll(latent, decoded, samples=40, seed=1), rtol=1e-6)
    assert np.allclose(result.floor, bernoulli_entropy_floor(decoded), rtol=1e-6)
    for step, code in enumerate(path):
        distances = [math.dist(code, other) for other in means]
        assert result.nearest_index[step] == int(np.argmin(distances))
        assert result.nearest_distance[step] == pytest.approx(min(distances), rel=1e-5)
    assert np.array_equal(result.in_hole, off_the_data(path, means, logvars))
    plane = dims_projection(2)
    on_plane = scores.path_diagnostics(latent, path, means, logvars, samples=5, projection=plane)
    assert np.array_equal(on_plane.in_hole, off_the_data(plane.to_2d(path), means, logvars, plane))
