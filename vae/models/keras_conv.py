"""The Keras-style conv VAE (kind "keras-conv"): TensorFlow's 'same' padding, channels-last flattening."""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from vae.config import ModelConfig
from vae.models.base import BaseVAE, linear_relu_stack


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
        channels = [config.channels, *(layer[0] for layer in config.conv_layers)]
        convs: list[nn.Module] = []
        for c_in, (c_out, kernel, stride) in zip(channels, config.conv_layers):
            convs += [SameConv2d(c_in, c_out, kernel, stride), nn.ReLU()]
            height, width = -(-height // stride), -(-width // stride)
        self.encoder_convs = nn.Sequential(*convs)
        sizes = [channels[-1] * height * width, *config.hidden_sizes]
        self.encoder_dense = linear_relu_stack(sizes)
        self.fc_mu = nn.Linear(sizes[-1], config.latent_dim)
        self.fc_logvar = nn.Linear(sizes[-1], config.latent_dim)
        upscale = math.prod(layer[2] for layer in config.deconv_layers)
        self.map_shape = (-(-config.image_shape[0] // upscale), -(-config.image_shape[1] // upscale), config.map_channels)
        back = [config.latent_dim, *(config.decoder_hidden_sizes or ())]
        self.decoder_dense = nn.Sequential(*linear_relu_stack(back), nn.Linear(back[-1], math.prod(self.map_shape)), nn.ReLU())
        self.decoder_convs = _same_transposed_convs(config.map_channels, config.deconv_layers)

    def _encode_features(self, images: torch.Tensor) -> torch.Tensor:
        pixels = images.permute(0, 3, 1, 2) if self.config.channels > 1 else images.unsqueeze(1)  # (B, C, H, W)
        maps = self.encoder_convs(pixels)  # (B, C, h, w)
        return self.encoder_dense(maps.permute(0, 2, 3, 1).flatten(1))  # flattened as (h, w, C), like Keras

    def _decode_raw(self, z: torch.Tensor) -> torch.Tensor:
        maps = self.decoder_dense(z).view(-1, *self.map_shape).permute(0, 3, 1, 2)  # (B, h, w, C) -> (B, C, h, w)
        height, width = self.config.image_shape
        out = self.decoder_convs(maps)[:, :, :height, :width]  # crop what odd sizes picked up
        return out[:, 0] if self.config.channels == 1 else out.permute(0, 2, 3, 1)  # (B, H, W) or (B, H, W, C)


def tf_same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's 'same' padding of one side of length ``size``: (before, after)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _same_transposed_convs(in_channels: int, layers: tuple[tuple[int, int, int], ...]) -> nn.Sequential:
    modules: list[nn.Module] = []
    for index, (c_out, kernel, stride) in enumerate(layers):
        modules.append(SameConvTranspose2d(in_channels, c_out, kernel, stride))
        if index < len(layers) - 1:
            modules.append(nn.ReLU())  # the last layer gives logits
        in_channels = c_out
    return nn.Sequential(*modules)
