"""The VAE models: a fully connected MLPVAE and a convolutional ConvVAE."""
from __future__ import annotations

import math

import torch
from torch import nn

from vae.config import CONV_KERNEL, ModelConfig, conv_feature_shape


class BaseVAE(nn.Module):
    """Shared encode / reparameterize / decode / forward; subclasses build the networks.

    Subclasses implement ``_encode_features`` (images -> features) and
    ``decode_logits`` (latents -> pre-sigmoid images).
    """

    config: ModelConfig

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, H, W) images in [0, 1] -> mu (B, D), logvar (B, D)."""
        features = self._encode_features(images)
        return self.fc_mu(features), self.fc_logvar(features)

    def reparameterize(
        self, mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """z = mu + sigma * eps with eps ~ N(0, I) while training; the mean in eval mode."""
        if not self.training:
            return mu
        eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
        return mu + eps * torch.exp(0.5 * logvar)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, D) latents -> (B, H, W) images in [0, 1]."""
        return torch.sigmoid(self.decode_logits(z))

    def forward(
        self, images: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, H, W) -> logits (B, H, W), mu (B, D), logvar (B, D)."""
        mu, logvar = self.encode(images)
        z = self.reparameterize(mu, logvar, generator)
        return self.decode_logits(z), mu, logvar


class MLPVAE(BaseVAE):
    """Fully connected VAE; the default 784-400-z is the classic PyTorch example."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        pixels = config.image_shape[0] * config.image_shape[1]
        sizes = [pixels, *config.hidden_sizes]
        self.encoder = _mlp(sizes)
        self.fc_mu = nn.Linear(sizes[-1], config.latent_dim)
        self.fc_logvar = nn.Linear(sizes[-1], config.latent_dim)
        # Decoder mirrors the encoder; the last layer has no activation (it gives logits).
        back = [config.latent_dim, *reversed(config.hidden_sizes)]
        self.decoder = nn.Sequential(*_mlp(back), nn.Linear(back[-1], pixels))

    def _encode_features(self, images: torch.Tensor) -> torch.Tensor:
        return self.encoder(images.flatten(1))  # (B, H*W) -> (B, hidden)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """(B, D) -> (B, H, W) pre-sigmoid values."""
        return self.decoder(z).view(-1, *self.config.image_shape)


class ConvVAE(BaseVAE):
    """Strided-conv encoder, transposed-conv decoder (about 240k parameters at 28x28)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        channels = [1, *config.conv_channels]
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
        nhwc = images.unsqueeze(-1).permute(0, 3, 1, 2)  # (B, 1, H, W) with channels-last strides, no copy
        return self.encoder(nhwc)  # -> (B, hidden)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """(B, D) -> (B, H, W) pre-sigmoid values."""
        maps = self.decoder_dense(z).view(-1, *self.feature_shape)  # (B, C, h, w)
        out = self.decoder_convs(maps)[:, 0]  # (B, h * 2^steps, w * 2^steps)
        height, width = self.config.image_shape
        return out[:, :height, :width]  # crop the padding odd sizes picked up


def build_model(config: ModelConfig, seed: int | None = None) -> BaseVAE:
    """The model a config describes, with weights seeded when ``seed`` is given."""
    if seed is not None:
        torch.manual_seed(seed)
    model_class = MLPVAE if config.kind == "mlp" else ConvVAE
    return model_class(config)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable weights."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for size_in, size_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(size_in, size_out), nn.ReLU()]
    return nn.Sequential(*layers)


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

