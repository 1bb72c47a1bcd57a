"""Honest likelihood arithmetic, numpy only (no torch): entropy floor, fixed binarization, continuous Bernoulli.

Also the per-pixel error maps the Reconstructions page draws.

The built-in sets are grey levels in [0, 1], not binary. A Bernoulli likelihood then cannot reach
-log p(x|z) = 0: its best is the entropy sum_ij H(x_ij), about 46 nats per image on mnist-5k, and every
ELBO or NLL shown on such data contains it. Figures that compare with the literature need binary test
images (a fixed binarization) or a likelihood made for grey levels (the continuous Bernoulli).
"""
from __future__ import annotations

import math

import numpy as np

BINARIZE_SEED = 0  # the fixed binarized test set: one seed, so every model is judged on the same bits
# Within this distance of lambda = 0.5 the continuous Bernoulli's normaliser uses its Taylor series:
# the closed form divides two numbers that both go to 0 there. The series' first left-out term is
# u^8 / 9 with u = 1 - 2 lambda = 0.02: below 3e-15, under float64 rounding of the closed form.
CB_TAYLOR_HALF_WIDTH = 0.01
CB_EPS = 1e-6  # lambda is kept in [CB_EPS, 1 - CB_EPS]: log C(lambda) diverges (slowly) at 0 and 1


def bernoulli_entropy(images: np.ndarray) -> np.ndarray:
    """Per-pixel entropy H(x) = -x log x - (1 - x) log(1 - x) in nats, same shape as ``images`` in [0, 1]."""
    x = np.clip(np.asarray(images, np.float64), 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ones = np.where(x > 0, x * np.log(x), 0.0)
        zeros = np.where(x < 1, (1 - x) * np.log1p(-x), 0.0)
    return -(ones + zeros)


def bernoulli_entropy_floor(images: np.ndarray) -> np.ndarray:
    """The smallest -log p(x|z) a Bernoulli likelihood can give each image (N, H, W) -> (N,), in nats.

    In plain words: grey pixels cannot be predicted exactly by a coin-flip model, so this much of the
    error is built into the data; no model, however good, scores below it.
    """
    data = np.asarray(images)
    return bernoulli_entropy(data).reshape(len(data), -1).sum(axis=1)


def binarize(images: np.ndarray, seed: int = BINARIZE_SEED) -> np.ndarray:
    """Binary images (N, H, W) float32: each pixel is 1 with probability its grey level, drawn with ``seed``.

    In plain words: every grey pixel becomes black or white by a fair draw; the same seed always gives
    the same pictures, so with the default seed this is the fixed binarized test set the papers use.
    """
    data = np.clip(np.asarray(images, np.float64), 0.0, 1.0)
    draws = np.random.default_rng(seed).random(data.shape)
    return (draws < data).astype(np.float32)


def continuous_bernoulli_log_normalizer(probabilities: np.ndarray) -> np.ndarray:
    """log C(lambda) of the continuous Bernoulli (Loaiza-Ganem & Cunningham, 2019), elementwise.

    C(lambda) = 2 atanh(1 - 2 lambda) / (1 - 2 lambda), and 2 at lambda = 0.5, makes
    C(lambda) lambda^x (1 - lambda)^(1 - x) a density on x in [0, 1]. Near 0.5 a Taylor series in
    u = 1 - 2 lambda replaces the 0/0 of the closed form. In plain words: the correction that turns
    the coin-flip score into a fair score for grey pixels.
    """
    lam = np.clip(np.asarray(probabilities, np.float64), CB_EPS, 1 - CB_EPS)
    u = 1.0 - 2.0 * lam
    near_half = np.abs(u) < 2 * CB_TAYLOR_HALF_WIDTH
    far = np.where(near_half, 0.25, lam)  # any value away from 0.5: the series replaces these entries
    # 2 atanh(u) = log((1 + u) / (1 - u)) = log((1 - lambda) / lambda); the ratio to u is positive on both sides.
    closed = np.log((np.log1p(-far) - np.log(far)) / (1.0 - 2.0 * far))
    u2 = u * u
    series = math.log(2.0) + np.log1p(u2 / 3 + u2 * u2 / 5 + u2 * u2 * u2 / 7)  # atanh(u)/u = 1 + u^2/3 + ...
    return np.where(near_half, series, closed)


def continuous_bernoulli_nll(images: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """-log p(x | lambda) under the continuous Bernoulli, summed per image: (N, H, W), (N, H, W) -> (N,) nats.

    In plain words: the model's score for a grey picture when grey levels are treated as grey levels,
    not as the odds of a black-or-white pixel. It can be negative: a density may exceed 1.
    """
    x = np.asarray(images, np.float64)
    lam = np.clip(np.asarray(probabilities, np.float64), CB_EPS, 1 - CB_EPS)
    log_density = x * np.log(lam) + (1 - x) * np.log1p(-lam) + continuous_bernoulli_log_normalizer(lam)
    return -log_density.reshape(len(x), -1).sum(axis=1)


def pixel_error_maps(images: np.ndarray, reconstructions: np.ndarray) -> np.ndarray:
    """Squared grey-level difference per pixel, (N, H, W) and (N, H, W) -> (N, H, W) in [0, 1].

    In plain words: where the redrawn picture differs from the original; bright means a large error.
    Each map's mean is the image's mean squared error (LatentModel.errors_per_image).
    """
    return (np.asarray(images, np.float64) - np.asarray(reconstructions, np.float64)) ** 2


def likelihood_floor(images: np.ndarray, likelihood: str, gaussian_std: float = 0.1) -> np.ndarray:
    """The smallest -log p(x|z) the model's likelihood allows for each image (N, H, W) -> (N,), in nats.

    Bernoulli: the entropy floor above. Gaussian with fixed std: the normalising constant
    pixels * (log std + log(2 pi) / 2), reached when the decoded mean equals the image. The continuous
    Bernoulli is a density with no such floor (it rises without bound at black and white pixels): NaN.
    In plain words: the part of the error no model can remove.
    """
    data = np.asarray(images)
    if likelihood == "bernoulli":
        return bernoulli_entropy_floor(data)
    if likelihood == "continuous-bernoulli":
        return np.full(len(data), np.nan)
    pixels = data[0].size if len(data) else 0
    return np.full(len(data), pixels * (math.log(gaussian_std) + 0.5 * math.log(2 * math.pi)))


def pixel_likelihood_floor(images: np.ndarray, likelihood: str, gaussian_std: float = 0.1) -> np.ndarray:
    """The smallest -log p(x_ij|z) the likelihood allows for each pixel: (N, H, W) -> (N, H, W), nats.

    Bernoulli: each pixel's entropy; Gaussian: log std + log(2 pi) / 2; continuous Bernoulli: NaN (no floor).
    Each image's sum is :func:`likelihood_floor`. In plain words: subtracted from a per-pixel error map
    (vae.analysis.scores.pixel_nll_maps), it leaves only what the model could still improve, pixel by pixel.
    """
    data = np.asarray(images, np.float64)
    if likelihood == "bernoulli":
        return bernoulli_entropy(data)
    if likelihood == "continuous-bernoulli":
        return np.full(data.shape, np.nan)
    return np.full(data.shape, math.log(gaussian_std) + 0.5 * math.log(2 * math.pi))
