"""Named model presets (the architectures of well-known tutorials), their descriptions and KL weights (no torch)."""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from vae.config import KERAS_DECODER_CONVS, KERAS_ENCODER_CONVS, MODEL_KINDS, ModelConfig
from vae.errors import TrainingError

# Summed squared error + KL, as the Fashion-MNIST tutorial's loss: a Gaussian decoder with variance 1/2
# has -log p(x|z) = sum (x - x_hat)^2 + a constant, so std = sqrt(1/2).
SQUARED_ERROR_STD = math.sqrt(0.5)
# The Keras conv VAE's loss is per image: mean over the 784 pixels of BCE + 5e-4 * (mean over the 2 latent
# dims of the KL terms) = (1/784) * sum BCE + 5e-4 * (1/2) * sum KL. Times 784 (our units: sums over pixels
# and dims; a constant factor, same optimum): sum BCE + 784 * 5e-4 / 2 * sum KL = sum BCE + 0.196 * sum KL.
KERAS_PIXELS = 28 * 28
KERAS_KL_FACTOR = 5e-4
KERAS_LATENT_DIM = 2
KERAS_KL_WEIGHT = KERAS_PIXELS * KERAS_KL_FACTOR / KERAS_LATENT_DIM  # = 0.196, the beta in our summed units
# Colour presets (issue 17): the beta-VAE conv network of Higgins et al. (2017) as disentanglement_lib trains it
# (Locatello et al. 2019: strided convs of 32, 32, 64, 64 filters, a dense layer of 256, 10 latent dims), with this
# app's 3x3 kernels. 32x32 images take one conv fewer, so both end on a 4x4 map. Bernoulli, as there: on the shapes
# set (flat colours on black) cross-entropy keeps edges sharp where a fixed-std Gaussian blurs them; choose
# --likelihood gaussian for photos.
COLOUR_LATENT_DIM = 10
COLOUR_HIDDEN = 256

PRESETS: dict[str, ModelConfig] = {
    "classic-mlp": ModelConfig(kind="mlp", latent_dim=20, hidden_sizes=(400,), likelihood="bernoulli"),
    "tiny-mlp": ModelConfig(kind="mlp", latent_dim=4, hidden_sizes=(64, 32), likelihood="gaussian"),
    "conv-2d": ModelConfig(kind="conv", latent_dim=2, likelihood="bernoulli"),
    "fashion-mlp": ModelConfig(kind="mlp", latent_dim=20, hidden_sizes=(400,), likelihood="gaussian",
                               gaussian_std=SQUARED_ERROR_STD),
    "keras-conv-2d": ModelConfig(kind="keras-conv", latent_dim=KERAS_LATENT_DIM, hidden_sizes=(32,),
                                 decoder_hidden_sizes=(), conv_layers=KERAS_ENCODER_CONVS,
                                 deconv_layers=KERAS_DECODER_CONVS, map_channels=64, likelihood="bernoulli"),
    "conv-32-rgb": ModelConfig(kind="conv", image_shape=(32, 32), channels=3, latent_dim=COLOUR_LATENT_DIM,
                               conv_channels=(32, 32, 64), conv_hidden=COLOUR_HIDDEN, likelihood="bernoulli"),
    "conv-64-rgb": ModelConfig(kind="conv", image_shape=(64, 64), channels=3, latent_dim=COLOUR_LATENT_DIM,
                               conv_channels=(32, 32, 64, 64), conv_hidden=COLOUR_HIDDEN, likelihood="bernoulli"),
}

PRESET_DESCRIPTIONS: dict[str, str] = {
    "classic-mlp": "The classic PyTorch example: 784-400-20, binary cross-entropy",
    "tiny-mlp": "A tiny network: 784-64-32-4, squared error (Gaussian)",
    "conv-2d": "Convolutional network with a 2-D latent plane, binary cross-entropy",
    "fashion-mlp": "The Fashion-MNIST tutorial: 784-400-20, squared error",
    "keras-conv-2d": "The Keras conv VAE tutorial: 4 convs, z=2, binary cross-entropy, KL weight 0.196",
    "conv-32-rgb": "Convolutional network for 32x32 colour pictures (the beta-VAE network): z=10, cross-entropy",
    "conv-64-rgb": "Convolutional network for 64x64 colour pictures (the beta-VAE network): z=10, cross-entropy",
}

# Presets whose recipe weights the KL term (the beta of TrainConfig); the others use 1.
PRESET_BETAS: dict[str, float] = {"keras-conv-2d": KERAS_KL_WEIGHT}


def preset_beta(name: str) -> float:
    """The KL weight a preset's recipe trains with (1 for a plain VAE)."""
    return PRESET_BETAS.get(name, 1.0)


def for_images(cfg: ModelConfig, image_shape: tuple[int, int], channels: int) -> ModelConfig:
    """The same architecture for images of ``image_shape`` (H, W) and ``channels`` (1 grey, 3 colour)."""
    changes: dict[str, Any] = {"image_shape": tuple(image_shape), "channels": channels}
    if cfg.kind == "keras-conv":  # its last transposed conv gives one map per channel
        *inner, (_, kernel, stride) = cfg.deconv_layers
        changes["deconv_layers"] = (*inner, (channels, kernel, stride))
    return replace(cfg, **changes)


def model_config_for(
    name: str, image_shape: tuple[int, int] = (28, 28), latent_dim: int | None = None, channels: int = 1
) -> ModelConfig:
    """Resolve a preset name or a plain kind ("mlp"/"conv") to a config for one image size and colour.

    ``channels`` is the images' (1 grey, 3 colour): every preset reads either, the colour ones included.
    """
    if name in PRESETS:
        cfg = PRESETS[name]
    elif name in MODEL_KINDS:
        cfg = ModelConfig(kind=name)
    else:
        choices = ", ".join([*PRESETS, *MODEL_KINDS])
        raise TrainingError(f"Unknown model {name!r}. Choose one of: {choices}.")
    if latent_dim is not None:
        cfg = replace(cfg, latent_dim=latent_dim)
    return for_images(cfg, image_shape, channels)
