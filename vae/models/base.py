"""The base of every VAE here: encode / reparameterize / decode / forward, shared by the model kinds."""
from __future__ import annotations

import torch
from torch import nn

from vae.config import ModelConfig

LINEAR_OUTPUT_EPS = 1e-6  # how far inside (0, 1) a linear-output model's pixels are clipped for the losses


class BaseVAE(nn.Module):
    """Shared encode / reparameterize / decode / forward; subclasses build the networks.

    Subclasses implement ``_encode_features`` (images -> features) and
    ``_decode_raw`` (latents -> the last layer's output before its activation).
    """

    config: ModelConfig

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, H, W) grey or (B, H, W, C) colour images in [0, 1] -> mu (B, D), logvar (B, D)."""
        features = self._encode_features(self._scale_inputs(images))
        return self.fc_mu(features), self.fc_logvar(features)

    def _scale_inputs(self, images: torch.Tensor) -> torch.Tensor:
        # An imported model may have been trained on rescaled images (Normalize(0.5, 0.5): [-1, 1]);
        # it must read them the same way. This app's own models read [0, 1] as they are.
        scale, shift = self.config.input_scale, self.config.input_shift
        if scale == 1.0 and shift == 0.0:
            return images
        return images * scale + shift

    def reparameterize(
        self, mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """z = mu + sigma * eps with eps ~ N(0, I) while training; the mean in eval mode."""
        if not self.training:
            return mu
        eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
        return mu + eps * torch.exp(0.5 * logvar)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, D) latents -> (B, H, W) or (B, H, W, C) images (in [0, 1] for the usual sigmoid output)."""
        raw = self._decode_raw(z)
        return torch.sigmoid(raw) if self.config.output_activation == "sigmoid" else raw

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """(B, D) latents -> (B, H, W[, C]) pre-sigmoid values, which the losses read.

        A model with a linear last layer (imported) gives images directly; its logits are those of
        the images clipped into (0, 1), so the likelihoods still apply.
        """
        raw = self._decode_raw(z)
        if self.config.output_activation == "sigmoid":
            return raw
        return torch.logit(raw.clamp(LINEAR_OUTPUT_EPS, 1 - LINEAR_OUTPUT_EPS))

    def forward(
        self, images: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, H, W[, C]) -> logits (B, H, W[, C]), mu (B, D), logvar (B, D)."""
        mu, logvar = self.encode(images)
        z = self.reparameterize(mu, logvar, generator)
        return self.decode_logits(z), mu, logvar


class DecodeOnly(nn.Module):
    """A model's ``decode`` as a module's forward: (B, D) codes -> (B, H, W[, C]) images (for tracing and export)."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        return self.inner.decode(codes)


def linear_relu_stack(sizes: list[int]) -> nn.Sequential:
    """Linear, ReLU, Linear, ReLU, ... through ``sizes`` (every layer followed by a ReLU)."""
    layers: list[nn.Module] = []
    for size_in, size_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(size_in, size_out), nn.ReLU()]
    return nn.Sequential(*layers)
