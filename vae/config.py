"""Frozen configuration dataclasses for models and training, plus named presets."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from vae.errors import TrainingError

MODEL_KINDS = ("mlp", "conv")
LIKELIHOODS = ("bernoulli", "gaussian")


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

    def __post_init__(self) -> None:
        object.__setattr__(self, "image_shape", tuple(int(s) for s in self.image_shape))
        object.__setattr__(self, "hidden_sizes", tuple(int(s) for s in self.hidden_sizes))
        object.__setattr__(self, "conv_channels", tuple(int(s) for s in self.conv_channels))
        validate_model_config(self)

    def to_dict(self) -> dict[str, Any]:
        """Plain types only, so checkpoints load with ``weights_only=True``."""
        out = asdict(self)
        for key in ("image_shape", "hidden_sizes", "conv_channels"):
            out[key] = list(out[key])
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


PRESETS: dict[str, ModelConfig] = {
    "classic-mlp": ModelConfig(kind="mlp", latent_dim=20, hidden_sizes=(400,), likelihood="bernoulli"),
    "tiny-mlp": ModelConfig(kind="mlp", latent_dim=4, hidden_sizes=(64, 32), likelihood="gaussian"),
    "conv-2d": ModelConfig(kind="conv", latent_dim=2, likelihood="bernoulli"),
}

PRESET_DESCRIPTIONS: dict[str, str] = {
    "classic-mlp": "The classic PyTorch example: 784-400-20, binary cross-entropy",
    "tiny-mlp": "A tiny network: 784-64-32-4, squared error (Gaussian)",
    "conv-2d": "Convolutional network with a 2-D latent plane, binary cross-entropy",
}


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
