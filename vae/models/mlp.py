"""The fully connected VAE (kind "mlp"); the default 784-400-z is the classic PyTorch example."""
from __future__ import annotations

import torch
from torch import nn

from vae.config import ModelConfig
from vae.models.base import BaseVAE, linear_relu_stack


class MLPVAE(BaseVAE):
    """Fully connected VAE; the default 784-400-z is the classic PyTorch example."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        pixels = config.image_shape[0] * config.image_shape[1] * config.channels  # H x W x C values
        sizes = [pixels, *config.hidden_sizes]
        self.encoder = linear_relu_stack(sizes)
        self.fc_mu = nn.Linear(sizes[-1], config.latent_dim)
        self.fc_logvar = nn.Linear(sizes[-1], config.latent_dim)
        # Decoder mirrors the encoder unless told otherwise (some imported models are not mirrored);
        # the last layer has no activation (it gives logits).
        back_sizes = reversed(config.hidden_sizes) if config.decoder_hidden_sizes is None else config.decoder_hidden_sizes
        back = [config.latent_dim, *back_sizes]
        self.decoder = nn.Sequential(*linear_relu_stack(back), nn.Linear(back[-1], pixels))

    def _encode_features(self, images: torch.Tensor) -> torch.Tensor:
        return self.encoder(images.flatten(1))  # (B, H*W*C) -> (B, hidden)

    def _decode_raw(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z).view(-1, *self.config.image_dims)  # (B, D) -> (B, H, W) or (B, H, W, C)
