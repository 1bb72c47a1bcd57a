"""The VAE models (torch): a model kind per module, the losses, and building a model from its settings.

``build_model(config)`` gives the model a :class:`vae.config.ModelConfig` describes: ``mlp``
(:class:`MLPVAE`), ``conv`` (:class:`ConvVAE`) or ``keras-conv`` (:class:`KerasConvVAE`).
"""
from __future__ import annotations

import torch
from torch import nn

from vae.config import ModelConfig
from vae.models.base import BaseVAE, DecodeOnly
from vae.models.conv import ConvVAE
from vae.models.keras_conv import KerasConvVAE, SameConv2d, SameConvTranspose2d
from vae.models.mlp import MLPVAE

__all__ = ["BaseVAE", "ConvVAE", "DecodeOnly", "KerasConvVAE", "MLPVAE", "SameConv2d", "SameConvTranspose2d",
           "build_model", "count_parameters"]

_MODEL_CLASSES: dict[str, type[BaseVAE]] = {"mlp": MLPVAE, "conv": ConvVAE, "keras-conv": KerasConvVAE}


def build_model(config: ModelConfig, seed: int | None = None) -> BaseVAE:
    """The model a config describes, with weights seeded when ``seed`` is given."""
    if seed is not None:
        torch.manual_seed(seed)
    return _MODEL_CLASSES[config.kind](config)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable weights."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
