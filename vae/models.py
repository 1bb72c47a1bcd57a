"""The VAE models: a fully connected MLPVAE, a convolutional ConvVAE and the Keras-style KerasConvVAE."""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from vae.config import CONV_KERNEL, ModelConfig, conv_feature_shape


LINEAR_OUTPUT_EPS = 1e-6  # how far inside (0, 1) a linear-output model's pixels are clipped for the losses


class BaseVAE(nn.Module):
    """Shared encode / reparameterize / decode / forward; subclasses build the networks.

    Subclasses implement ``_encode_features`` (images -> features) and
    ``_decode_raw`` (latents -> the last layer's output before its activation).
    """

    config: ModelConfig

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, H, W) images in [0, 1] -> mu (B, D), logvar (B, D)."""
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
        """(B, D) latents -> (B, H, W) images (in [0, 1] for the usual sigmoid output)."""
        raw = self._decode_raw(z)
        return torch.sigmoid(raw) if self.config.output_activation == "sigmoid" else raw

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """(B, D) latents -> (B, H, W) pre-sigmoid values, which the losses read.

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
        # Decoder mirrors the encoder unless told otherwise (some imported models are not mirrored);
        # the last layer has no activation (it gives logits).
        back_sizes = reversed(config.hidden_sizes) if config.decoder_hidden_sizes is None else config.decoder_hidden_sizes
        back = [config.latent_dim, *back_sizes]
        self.decoder = nn.Sequential(*_mlp(back), nn.Linear(back[-1], pixels))

    def _encode_features(self, images: torch.Tensor) -> torch.Tensor:
        return self.encoder(images.flatten(1))  # (B, H*W) -> (B, hidden)

    def _decode_raw(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z).view(-1, *self.config.image_shape)  # (B, D) -> (B, H, W)


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

    def _decode_raw(self, z: torch.Tensor) -> torch.Tensor:
        maps = self.decoder_dense(z).view(-1, *self.feature_shape)  # (B, C, h, w)
        out = self.decoder_convs(maps)[:, 0]  # (B, h * 2^steps, w * 2^steps)
        height, width = self.config.image_shape
        return out[:, :height, :width]  # crop the padding odd sizes picked up


class SameConv2d(nn.Conv2d):
    """Conv2d padded as TensorFlow's 'same': ceil(n / stride) outputs, an odd pixel of padding at the end."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int) -> None:
        super().__init__(in_channels, out_channels, kernel, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C', ceil(H / s), ceil(W / s))."""
        top, bottom = tf_same_padding(x.shape[-2], self.kernel_size[0], self.stride[0])
        left, right = tf_same_padding(x.shape[-1], self.kernel_size[1], self.stride[1])
        return super().forward(F.pad(x, (left, right, top, bottom)))


class SameConvTranspose2d(nn.ConvTranspose2d):
    """ConvTranspose2d as TensorFlow's 'same': n * stride outputs.

    TensorFlow's is the gradient of a 'same' conv, which pads ``total // 2`` before: so the full
    transposed output, (n - 1) * s + k long, loses ``(k - s) // 2`` at the start and the rest at the
    end. (Torch's padding=1, output_padding=1 for k=3, s=2 would drop the first row instead: a shift.)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int) -> None:
        super().__init__(in_channels, out_channels, kernel, stride, output_padding=max(stride - kernel, 0))
        self.crop_start = max(kernel - stride, 0) // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) -> (B, C', h * s, w * s)."""
        full = super().forward(x)
        start, height, width = self.crop_start, x.shape[-2] * self.stride[0], x.shape[-1] * self.stride[1]
        return full[..., start : start + height, start : start + width]


class KerasConvVAE(BaseVAE):
    """The Keras-style conv VAE: 'same'-padded convs, dense layers, transposed convs (kind "keras-conv").

    It flattens feature maps channels-last (H, W, C) and reshapes the decoder's dense output the
    same way, as Keras does, so a Keras model's dense weights fit unchanged.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        height, width = config.image_shape
        channels = [1, *(layer[0] for layer in config.conv_layers)]
        convs: list[nn.Module] = []
        for c_in, (c_out, kernel, stride) in zip(channels, config.conv_layers):
            convs += [SameConv2d(c_in, c_out, kernel, stride), nn.ReLU()]
            height, width = -(-height // stride), -(-width // stride)
        self.encoder_convs = nn.Sequential(*convs)
        sizes = [channels[-1] * height * width, *config.hidden_sizes]
        self.encoder_dense = _mlp(sizes)
        self.fc_mu = nn.Linear(sizes[-1], config.latent_dim)
        self.fc_logvar = nn.Linear(sizes[-1], config.latent_dim)
        upscale = math.prod(layer[2] for layer in config.deconv_layers)
        self.map_shape = (-(-config.image_shape[0] // upscale), -(-config.image_shape[1] // upscale), config.map_channels)
        back = [config.latent_dim, *(config.decoder_hidden_sizes or ())]
        self.decoder_dense = nn.Sequential(*_mlp(back), nn.Linear(back[-1], math.prod(self.map_shape)), nn.ReLU())
        self.decoder_convs = _same_transposed_convs(config.map_channels, config.deconv_layers)

    def _encode_features(self, images: torch.Tensor) -> torch.Tensor:
        maps = self.encoder_convs(images.unsqueeze(1))  # (B, C, h, w)
        return self.encoder_dense(maps.permute(0, 2, 3, 1).flatten(1))  # flattened as (h, w, C), like Keras

    def _decode_raw(self, z: torch.Tensor) -> torch.Tensor:
        maps = self.decoder_dense(z).view(-1, *self.map_shape).permute(0, 3, 1, 2)  # (B, h, w, C) -> (B, C, h, w)
        height, width = self.config.image_shape
        return self.decoder_convs(maps)[:, 0, :height, :width]  # crop what odd sizes picked up


def tf_same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's 'same' padding of one side of length ``size``: (before, after)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


_MODEL_CLASSES: dict[str, type[BaseVAE]] = {"mlp": MLPVAE, "conv": ConvVAE, "keras-conv": KerasConvVAE}


def build_model(config: ModelConfig, seed: int | None = None) -> BaseVAE:
    """The model a config describes, with weights seeded when ``seed`` is given."""
    if seed is not None:
        torch.manual_seed(seed)
    return _MODEL_CLASSES[config.kind](config)


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


def _same_transposed_convs(in_channels: int, layers: tuple[tuple[int, int, int], ...]) -> nn.Sequential:
    modules: list[nn.Module] = []
    for index, (c_out, kernel, stride) in enumerate(layers):
        modules.append(SameConvTranspose2d(in_channels, c_out, kernel, stride))
        if index < len(layers) - 1:
            modules.append(nn.ReLU())  # the last layer gives logits
        in_channels = c_out
    return nn.Sequential(*modules)

