"""The convolutional VAE (kind "conv"): strided 3x3 convs down, transposed convs back up."""
from __future__ import annotations

import math

import torch
from torch import nn

from vae.config import CONV_KERNEL, ModelConfig, conv_feature_shape
from vae.models.base import BaseVAE


class ConvVAE(BaseVAE):
    """Strided-conv encoder, transposed-conv decoder (about 240k parameters at 28x28)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        channels = [config.channels, *config.conv_channels]
        self.feature_shape = conv_feature_shape(config)  # (C, h, w) after the strided convs
        features = math.prod(self.feature_shape)
        self.encoder = nn.Sequential(*_convs(channels), nn.Flatten(), nn.Linear(features, config.conv_hidden), nn.ReLU())
        self.fc_mu = nn.Linear(config.conv_hidden, config.latent_dim)
        self.fc_logvar = nn.Linear(config.conv_hidden, config.latent_dim)
        self.decoder_dense = nn.Sequential(
            nn.Linear(config.latent_dim, config.conv_hidden), nn.ReLU(),
            nn.Linear(config.conv_hidden, features), nn.ReLU(),
        )
        self.decoder_convs = _transposed_convs(list(reversed(channels)))
        # oneDNN runs these few-channel convs faster on channels-last (NHWC) weights and inputs:
        # on the CPU about 1.15x per training step and 1.6x when encoding. Only the layout differs.
        self.to(memory_format=torch.channels_last)

    def _encode_features(self, images: torch.Tensor) -> torch.Tensor:
        pixels = images if self.config.channels > 1 else images.unsqueeze(-1)  # (B, H, W, C)
        nchw = pixels.permute(0, 3, 1, 2)  # (B, C, H, W) with channels-last strides, no copy
        return self.encoder(nchw)  # -> (B, hidden)

    def _decode_raw(self, z: torch.Tensor) -> torch.Tensor:
        maps = self.decoder_dense(z).view(-1, *self.feature_shape)  # (B, C, h, w)
        out = self.decoder_convs(maps)  # (B, C, h * 2^steps, w * 2^steps)
        height, width = self.config.image_shape
        if self.config.channels == 1:
            return out[:, 0][:, :height, :width]  # (B, H, W): crop the padding odd sizes picked up
        return out[:, :, :height, :width].permute(0, 2, 3, 1)  # (B, H, W, C), as the images are given


def _convs(channels: list[int]) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for c_in, c_out in zip(channels[:-1], channels[1:]):
        layers += [nn.Conv2d(c_in, c_out, kernel_size=CONV_KERNEL, stride=2, padding=1), nn.ReLU()]
    return layers


def _transposed_convs(channels: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    pairs = list(zip(channels[:-1], channels[1:]))
    for index, (c_in, c_out) in enumerate(pairs):
        layers.append(nn.ConvTranspose2d(c_in, c_out, kernel_size=CONV_KERNEL, stride=2, padding=1,
                                         output_padding=1))
        if index < len(pairs) - 1:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)
