"""vae.analysis.likelihoods against scipy (entropies, numeric integration), brute-force minima and the law of large numbers."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from vae.analysis import likelihoods as lk
from vae.models.losses import reconstruction_nll


def test_entropy_floor_is_the_sum_of_scipy_bernoulli_entropies():
    images = np.random.default_rng(0).random((5, 6, 6))
    images[0, 0, :3] = [0.0, 1.0, 0.5]  # the edges count 0, the middle log 2
    expected = [sum(stats.bernoulli(p).entropy() for p in image.ravel()) for image in images]
    assert np.allclose(lk.bernoulli_entropy_floor(images), expected, rtol=1e-12)


@pytest.mark.slow
def test_entropy_floor_is_the_smallest_bernoulli_nll_and_reached_at_the_image_itself():
    rng = np.random.default_rng(1)
    images = rng.uniform(0.01, 0.99, (4, 5, 5))
    floor = lk.bernoulli_entropy_floor(images)
    target = torch.as_tensor(images)
    at_image = reconstruction_nll(torch.logit(target), target, "bernoulli", 0.1).numpy()
    assert np.allclose(at_image, floor, rtol=1e-9)
    for _ in range(20):
        guesses = torch.as_tensor(rng.uniform(0.01, 0.99, images.shape))
        assert np.all(reconstruction_nll(torch.logit(guesses), target, "bernoulli", 0.1).numpy() >= floor)


def test_gaussian_floor_is_the_nll_of_a_perfect_mean():
    images = np.random.default_rng(2).uniform(0.05, 0.95, (3, 4, 4))
    target = torch.as_tensor(images)
    perfect = reconstruction_nll(torch.logit(target), target, "gaussian", 0.3).numpy()
    assert np.allclose(lk.likelihood_floor(images, "gaussian", 0.3), perfect, rtol=1e-9)
    assert np.allclose(lk.likelihood_floor(images, "bernoulli"), lk.bernoulli_entropy_floor(images))


def test_binarized_set_is_fixed_by_its_seed_and_unbiased():
    images = np.random.default_rng(3).random((2, 8, 8)).astype(np.float32)
    images[0, 0, 0], images[0, 0, 1] = 0.0, 1.0
    first = lk.binarize(images)
    assert np.array_equal(first, lk.binarize(images)) and not np.array_equal(first, lk.binarize(images, seed=1))
    assert set(np.unique(first)) <= {0.0, 1.0} and first.dtype == np.float32
    assert first[0, 0, 0] == 0.0 and first[0, 0, 1] == 1.0
    draws = lk.binarize(np.broadcast_to(images[1], (4000, 8, 8)), seed=7).mean(axis=0)
    standard_error = np.sqrt(images[1] * (1 - images[1]) / 4000)
    assert np.all(np.abs(draws - images[1]) <= 5 * standard_error + 1e-9)


LAMBDAS = [1e-5, 1e-3, 0.1, 0.3, 0.48, 0.4899999, 0.49000001, 0.499, 0.4999999, 0.5, 0.5000001, 0.501, 0.51, 0.7,
           0.999, 1 - 1e-5]


@pytest.mark.parametrize("lam", LAMBDAS)
def test_continuous_bernoulli_normalizer_matches_numeric_integration(lam):
    integral, _ = integrate.quad(lambda x: lam**x * (1 - lam) ** (1 - x), 0.0, 1.0, epsabs=0, epsrel=1e-13)
    assert lk.continuous_bernoulli_log_normalizer(np.array(lam)) == pytest.approx(-math.log(integral), rel=1e-10)


def test_continuous_bernoulli_normalizer_is_smooth_across_the_series_switch():
    edge = 0.5 - lk.CB_TAYLOR_HALF_WIDTH
    values = lk.continuous_bernoulli_log_normalizer(np.array([edge - 1e-12, edge + 1e-12]))
    assert values[0] == pytest.approx(values[1], abs=1e-11)


@pytest.mark.parametrize("lam", [0.02, 0.5, 0.8])
def test_continuous_bernoulli_density_integrates_to_one(lam):
    density = lambda x: math.exp(-lk.continuous_bernoulli_nll(np.array([[x]]), np.array([[lam]]))[0])  # noqa: E731
    assert integrate.quad(density, 0.0, 1.0)[0] == pytest.approx(1.0, rel=1e-9)


def test_pixel_error_maps_average_to_the_mean_squared_error():
    rng = np.random.default_rng(4)
    images, recon = rng.random((3, 4, 5)), rng.random((3, 4, 5))
    maps = lk.pixel_error_maps(images, recon)
    assert maps.shape == (3, 4, 5)
    assert np.allclose(maps[1, 2, 3], (images[1, 2, 3] - recon[1, 2, 3]) ** 2)
    assert np.allclose(maps.reshape(3, -1).mean(axis=1), [np.mean((a - b) ** 2) for a, b in zip(images, recon)])


def test_per_pixel_floors_sum_to_each_images_floor_and_are_the_nll_of_a_perfect_guess():
    images = np.random.default_rng(4).uniform(0.02, 0.98, (3, 4, 4))
    target = torch.as_tensor(images)
    for likelihood in ("bernoulli", "gaussian"):
        per_pixel = lk.pixel_likelihood_floor(images, likelihood, 0.2)
        assert per_pixel.shape == images.shape
        assert np.allclose(per_pixel.reshape(3, -1).sum(axis=1), lk.likelihood_floor(images, likelihood, 0.2))
        perfect = reconstruction_nll(torch.logit(target), target, likelihood, 0.2).numpy()
        assert np.allclose(per_pixel.reshape(3, -1).sum(axis=1), perfect, rtol=1e-9)
    assert np.isnan(lk.pixel_likelihood_floor(images, "continuous-bernoulli")).all()  # a density: no floor
    assert np.isnan(lk.likelihood_floor(images, "continuous-bernoulli")).all()
