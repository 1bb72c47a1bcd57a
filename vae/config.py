"""Frozen configuration dataclasses for models and training, plus named presets."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from vae.errors import TrainingError

MODEL_KINDS = ("mlp", "conv", "keras-conv")
LIKELIHOODS = ("bernoulli", "gaussian")
OUTPUT_ACTIVATIONS = ("sigmoid", "none")  # what the decoder's last layer applies
# The classic Keras conv VAE, as (channels, kernel, stride) per layer, every layer 'same'-padded:
# encoder Conv2D 32 -> 64 stride 2 -> 64 -> 64, decoder Conv2DTranspose 32 stride 2 -> 1.
KERAS_ENCODER_CONVS = ((32, 3, 1), (64, 3, 2), (64, 3, 1), (64, 3, 1))
KERAS_DECODER_CONVS = ((32, 3, 2), (1, 3, 1))
_LAYER_TUPLE_KEYS = ("conv_layers", "deconv_layers")


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model's architecture."""

    kind: str = "mlp"  # "mlp" (fully connected) or "conv" (strided conv / transposed conv)
    image_shape: tuple[int, int] = (28, 28)  # (H, W) of the grayscale input
    latent_dim: int = 2  # 1..64; 2 gives a plane you can click directly
    hidden_sizes: tuple[int, ...] = (400,)  # MLP only: the classic example uses one layer of 400
    conv_channels: tuple[int, ...] = (32, 64)  # conv only: one stride-2 conv per entry
    conv_hidden: int = 32  # conv only: dense layer between the feature map and the latent
    likelihood: str = "bernoulli"  # "bernoulli" (BCE) or "gaussian" (MSE with fixed variance)
    gaussian_std: float = 0.1  # fixed decoder std for the Gaussian likelihood
    # Imported models (issue 14) need the settings below; their defaults are this app's own models,
    # so checkpoints saved before these existed load unchanged.
    # mlp: the decoder's hidden layers from z (None: hidden_sizes mirrored); keras-conv: dense layers before the map
    decoder_hidden_sizes: tuple[int, ...] | None = None
    conv_layers: tuple[tuple[int, int, int], ...] = KERAS_ENCODER_CONVS  # keras-conv only: (channels, kernel, stride)
    deconv_layers: tuple[tuple[int, int, int], ...] = KERAS_DECODER_CONVS  # keras-conv only: the last gives 1 channel
    map_channels: int = 64  # keras-conv only: channels of the map the decoder's dense layer is reshaped to
    input_scale: float = 1.0  # the encoder reads images * input_scale + input_shift (Normalize(0.5, 0.5): 2, -1)
    input_shift: float = 0.0
    output_activation: str = "sigmoid"  # "sigmoid" (images in [0, 1]) or "none" (a linear last layer)

    def __post_init__(self) -> None:
        object.__setattr__(self, "image_shape", tuple(int(s) for s in self.image_shape))
        object.__setattr__(self, "hidden_sizes", tuple(int(s) for s in self.hidden_sizes))
        object.__setattr__(self, "conv_channels", tuple(int(s) for s in self.conv_channels))
        _normalise_layer_settings(self)
        validate_model_config(self)
        validate_layer_settings(self)

    def to_dict(self) -> dict[str, Any]:
        """Plain types only, so checkpoints load with ``weights_only=True``."""
        out = asdict(self)
        for key in ("image_shape", "hidden_sizes", "conv_channels"):
            out[key] = list(out[key])
        if out["decoder_hidden_sizes"] is not None:
            out["decoder_hidden_sizes"] = list(out["decoder_hidden_sizes"])
        for key in _LAYER_TUPLE_KEYS:
            out[key] = [list(layer) for layer in out[key]]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        """Build from ``to_dict`` output; unknown keys are an error."""
        return cls(**_known_keys(cls, data))


@dataclass(frozen=True)
class TrainConfig:
    """How a model is trained."""

    epochs: int = 10
    batch_size: int = 128  # the classic example's default
    learning_rate: float = 1e-3  # Adam, as in the classic example
    beta: float = 1.0  # KL weight; 1 is the plain VAE, >1 a beta-VAE
    seed: int = 0
    device: str = "auto"  # "auto" picks CUDA when present, else CPU

    def __post_init__(self) -> None:
        validate_train_config(self)

    def to_dict(self) -> dict[str, Any]:
        """Plain types only."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        """Build from ``to_dict`` output."""
        return cls(**_known_keys(cls, data))


def validate_model_config(cfg: ModelConfig) -> None:
    """Raise TrainingError with a readable message for settings no model can have."""
    if cfg.kind not in MODEL_KINDS:
        raise TrainingError(f"Unknown model type {cfg.kind!r}; use one of {MODEL_KINDS}.")
    if cfg.likelihood not in LIKELIHOODS:
        raise TrainingError(f"Unknown likelihood {cfg.likelihood!r}; use one of {LIKELIHOODS}.")
    if not 1 <= cfg.latent_dim <= 64:
        raise TrainingError(f"Latent size must be between 1 and 64, got {cfg.latent_dim}.")
    if len(cfg.image_shape) != 2 or min(cfg.image_shape) < 4 or max(cfg.image_shape) > 256:
        raise TrainingError(f"Images must be between 4x4 and 256x256 pixels, got {cfg.image_shape}.")
    if cfg.kind == "mlp" and (not cfg.hidden_sizes or min(cfg.hidden_sizes) < 1):
        raise TrainingError("A fully connected model needs at least one hidden layer of size 1 or more.")
    if cfg.kind == "conv" and (not cfg.conv_channels or min(cfg.conv_channels) < 1 or cfg.conv_hidden < 1):
        raise TrainingError("A convolutional model needs at least one conv layer and a hidden size of 1 or more.")
    if not cfg.gaussian_std > 0:
        raise TrainingError("The Gaussian likelihood needs a positive standard deviation.")


def _normalise_layer_settings(cfg: ModelConfig) -> None:
    """Lists from a checkpoint become tuples, so configs compare and hash alike."""
    try:
        if cfg.decoder_hidden_sizes is not None:
            object.__setattr__(cfg, "decoder_hidden_sizes", tuple(int(s) for s in cfg.decoder_hidden_sizes))
        for key in _LAYER_TUPLE_KEYS:
            object.__setattr__(cfg, key, tuple(tuple(int(v) for v in layer) for layer in getattr(cfg, key)))
        object.__setattr__(cfg, "map_channels", int(cfg.map_channels))
        object.__setattr__(cfg, "input_scale", float(cfg.input_scale))
        object.__setattr__(cfg, "input_shift", float(cfg.input_shift))
    except (TypeError, ValueError):
        raise TrainingError("The model's layer settings are not lists of whole numbers.") from None


def validate_layer_settings(cfg: ModelConfig) -> None:
    """Raise TrainingError for the settings imported models use (decoder layers, keras-conv layers, scaling)."""
    if cfg.output_activation not in OUTPUT_ACTIVATIONS:
        raise TrainingError(f"Unknown output {cfg.output_activation!r}; use one of {OUTPUT_ACTIVATIONS}.")
    if not (math.isfinite(cfg.input_scale) and cfg.input_scale != 0 and math.isfinite(cfg.input_shift)):
        raise TrainingError("The input scaling must be a finite, non-zero scale and a finite shift.")
    if cfg.decoder_hidden_sizes is not None and any(size < 1 for size in cfg.decoder_hidden_sizes):
        raise TrainingError("Decoder layers must have size 1 or more.")
    if cfg.kind != "keras-conv":
        return
    layers = (*cfg.conv_layers, *cfg.deconv_layers)
    if not cfg.conv_layers or not cfg.deconv_layers or any(len(layer) != 3 or min(layer) < 1 for layer in layers):
        raise TrainingError("A keras-conv model needs conv and transposed-conv layers of (channels, kernel, stride), "
                            "each 1 or more.")
    if cfg.deconv_layers[-1][0] != 1:
        raise TrainingError("The last transposed conv of a keras-conv model must give 1 channel (a grey image).")
    if cfg.map_channels < 1 or any(size < 1 for size in cfg.hidden_sizes):
        raise TrainingError("A keras-conv model's dense layers and map need size 1 or more.")


def validate_train_config(cfg: TrainConfig) -> None:
    """Raise TrainingError for settings training cannot run with."""
    if not 1 <= cfg.epochs <= 10_000:
        raise TrainingError(f"Epochs must be between 1 and 10000, got {cfg.epochs}.")
    if not 1 <= cfg.batch_size <= 65_536:
        raise TrainingError(f"Batch size must be between 1 and 65536, got {cfg.batch_size}.")
    if not 0 < cfg.learning_rate <= 100:
        raise TrainingError(f"Learning rate must be above 0 (and at most 100), got {cfg.learning_rate}.")
    if not 0 <= cfg.beta <= 1000:
        raise TrainingError(f"Beta (KL weight) must be between 0 and 1000, got {cfg.beta}.")
    if cfg.device not in ("auto", "cpu", "cuda"):
        raise TrainingError(f"Device must be 'auto', 'cpu' or 'cuda', got {cfg.device!r}.")


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

PRESETS: dict[str, ModelConfig] = {
    "classic-mlp": ModelConfig(kind="mlp", latent_dim=20, hidden_sizes=(400,), likelihood="bernoulli"),
    "tiny-mlp": ModelConfig(kind="mlp", latent_dim=4, hidden_sizes=(64, 32), likelihood="gaussian"),
    "conv-2d": ModelConfig(kind="conv", latent_dim=2, likelihood="bernoulli"),
    "fashion-mlp": ModelConfig(kind="mlp", latent_dim=20, hidden_sizes=(400,), likelihood="gaussian",
                               gaussian_std=SQUARED_ERROR_STD),
    "keras-conv-2d": ModelConfig(kind="keras-conv", latent_dim=KERAS_LATENT_DIM, hidden_sizes=(32,),
                                 decoder_hidden_sizes=(), conv_layers=KERAS_ENCODER_CONVS,
                                 deconv_layers=KERAS_DECODER_CONVS, map_channels=64, likelihood="bernoulli"),
}

PRESET_DESCRIPTIONS: dict[str, str] = {
    "classic-mlp": "The classic PyTorch example: 784-400-20, binary cross-entropy",
    "tiny-mlp": "A tiny network: 784-64-32-4, squared error (Gaussian)",
    "conv-2d": "Convolutional network with a 2-D latent plane, binary cross-entropy",
    "fashion-mlp": "The Fashion-MNIST tutorial: 784-400-20, squared error",
    "keras-conv-2d": "The Keras conv VAE tutorial: 4 convs, z=2, binary cross-entropy, KL weight 0.196",
}

# Presets whose recipe weights the KL term (the beta of TrainConfig); the others use 1.
PRESET_BETAS: dict[str, float] = {"keras-conv-2d": KERAS_KL_WEIGHT}


def preset_beta(name: str) -> float:
    """The KL weight a preset's recipe trains with (1 for a plain VAE)."""
    return PRESET_BETAS.get(name, 1.0)


def model_config_for(
    name: str, image_shape: tuple[int, int] = (28, 28), latent_dim: int | None = None
) -> ModelConfig:
    """Resolve a preset name or a plain kind ("mlp"/"conv") to a config for one image size."""
    if name in PRESETS:
        cfg = PRESETS[name]
    elif name in MODEL_KINDS:
        cfg = ModelConfig(kind=name)
    else:
        choices = ", ".join([*PRESETS, *MODEL_KINDS])
        raise TrainingError(f"Unknown model {name!r}. Choose one of: {choices}.")
    changes: dict[str, Any] = {"image_shape": tuple(image_shape)}
    if latent_dim is not None:
        changes["latent_dim"] = latent_dim
    return replace(cfg, **changes)


def _known_keys(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise TrainingError(f"Unknown {cls.__name__} settings: {sorted(unknown)}.")
    return dict(data)
