"""Shared fixtures: tiny models and data built in memory or tmp_path; nothing touches the network."""
from __future__ import annotations

import numpy as np
import pytest

from vae.config import ModelConfig, TrainConfig
from vae.models import build_model


@pytest.fixture
def tiny_images() -> np.ndarray:
    """64 random 8x8 images in [0, 1]: (64, 8, 8)."""
    return np.random.default_rng(0).random((64, 8, 8), dtype=np.float32)


@pytest.fixture
def tiny_config() -> ModelConfig:
    """A small MLP for 8x8 images with a 2-D latent."""
    return ModelConfig(kind="mlp", image_shape=(8, 8), latent_dim=2, hidden_sizes=(16,))


@pytest.fixture
def tiny_model(tiny_config):
    """An untrained, seeded tiny MLP in eval mode."""
    return build_model(tiny_config, seed=0).eval()


@pytest.fixture
def quick_train() -> TrainConfig:
    """Two short epochs."""
    return TrainConfig(epochs=2, batch_size=16, seed=0)
