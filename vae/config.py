"""The settings of a model and of its training, with their bounds (no torch), and what training reports: History, TrainEvent."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from vae.errors import TrainingError
from vae.setting_values import real as _real
from vae.setting_values import short as _short
from vae.setting_values import text as _text
from vae.setting_values import whole as _whole
from vae.setting_values import whole_numbers as _whole_numbers

MODEL_KINDS = ("mlp", "conv", "keras-conv")
LIKELIHOODS = ("bernoulli", "gaussian", "continuous-bernoulli")
OUTPUT_ACTIVATIONS = ("sigmoid", "none")  # what the decoder's last layer applies
# The classic Keras conv VAE, as (channels, kernel, stride) per layer, every layer 'same'-padded:
# encoder Conv2D 32 -> 64 stride 2 -> 64 -> 64, decoder Conv2DTranspose 32 stride 2 -> 1.
KERAS_ENCODER_CONVS = ((32, 3, 1), (64, 3, 2), (64, 3, 1), (64, 3, 1))
KERAS_DECODER_CONVS = ((32, 3, 2), (1, 3, 1))
_LAYER_TUPLE_KEYS = ("conv_layers", "deconv_layers")
DEVICES = ("auto", "cpu", "cuda")

# Bounds of every model setting (README: "Limits"). A checkpoint's settings are checked against
# them before anything is built, so a small file cannot ask for a huge model.
MAX_LATENT_DIM = 64
MIN_IMAGE_SIDE, MAX_IMAGE_SIDE = 4, 256  # pixels
IMAGE_CHANNELS = (1, 3)  # grey or colour (RGB): the pictures the app can show
MAX_HIDDEN_LAYERS = 8  # fully connected layers between the picture and the code
MAX_CONV_LAYERS = 8  # each halves the picture; 8 take 256 pixels down to 1
MAX_LAYER_SIZE = 4096  # units of a hidden layer, filters of a conv layer, units of conv_hidden
MAX_GAUSSIAN_STD = 100.0
MAX_PARAMETERS = 2**26  # 67,108,864 weights, 256 MiB as float32 (classic-mlp on 256x256 images has 52.6M)
CONV_KERNEL = 3  # every conv and transposed conv of kind "conv" is 3x3, stride 2, padding 1
MAX_KERNEL, MAX_STRIDE = 7, 4  # keras-conv layers (an imported model's own kernels and strides)
MAX_INPUT_SCALE = 1e6  # |scale| and |shift| of an imported model's input normalisation

# Bounds of every training setting.
MAX_EPOCHS = 10_000
MAX_BATCH_SIZE = 65_536
MAX_LEARNING_RATE = 100.0
MAX_BETA = 1000.0
MAX_SEED = 2**63 - 1  # torch.manual_seed and numpy accept 0..2**63-1 alike
MAX_FREE_BITS = 10.0  # nats per latent dim; Kingma et al. (2016) use 0.125 to 2


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model's architecture."""

    kind: str = "mlp"  # "mlp" (fully connected) or "conv" (strided conv / transposed conv)
    image_shape: tuple[int, int] = (28, 28)  # (H, W) of the input
    latent_dim: int = 2  # 1..64; 2 gives a plane you can click directly
    hidden_sizes: tuple[int, ...] = (400,)  # MLP only: the classic example uses one layer of 400
    conv_channels: tuple[int, ...] = (32, 64)  # conv only: one stride-2 conv per entry
    conv_hidden: int = 32  # conv only: dense layer between the feature map and the latent
    likelihood: str = "bernoulli"  # "bernoulli" (BCE), "gaussian" (MSE, fixed variance) or "continuous-bernoulli"
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
    channels: int = 1  # 1 grey (N, H, W) images, 3 colour (N, H, W, 3); older checkpoints (all grey) lack it

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", _text(self.kind, "The model type"))
        object.__setattr__(self, "likelihood", _text(self.likelihood, "The likelihood"))
        object.__setattr__(self, "image_shape", _whole_numbers(self.image_shape, "The image size", 2, 2))
        object.__setattr__(self, "latent_dim", _whole(self.latent_dim, "The latent size"))
        object.__setattr__(self, "hidden_sizes", _whole_numbers(self.hidden_sizes, "The hidden layer sizes",
                                                                0, MAX_HIDDEN_LAYERS))
        object.__setattr__(self, "conv_channels", _whole_numbers(self.conv_channels, "The conv layer sizes",
                                                                 0, MAX_CONV_LAYERS))
        object.__setattr__(self, "conv_hidden", _whole(self.conv_hidden, "The conv hidden size"))
        object.__setattr__(self, "gaussian_std", _real(self.gaussian_std, "The Gaussian standard deviation"))
        object.__setattr__(self, "channels", _whole(self.channels, "The number of colour channels"))
        _normalise_layer_settings(self)
        validate_layer_settings(self)
        validate_model_config(self)

    @property
    def image_dims(self) -> tuple[int, ...]:
        """The shape of one image as an array: (H, W) for grey, (H, W, C) for colour."""
        return tuple(self.image_shape) if self.channels == 1 else (*self.image_shape, self.channels)

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
    kl_warmup: int = 0  # epochs over which the KL weight rises linearly from 0 to beta; 0 is off
    free_bits: float = 0.0  # nats: each dim's batch-mean KL counts at least this much (Kingma et al. 2016); 0 is off

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "seed", "kl_warmup"):
            object.__setattr__(self, name, _whole(getattr(self, name), f"The {name.replace('_', ' ')}"))
        for name in ("learning_rate", "beta", "free_bits"):
            object.__setattr__(self, name, _real(getattr(self, name), f"The {name.replace('_', ' ')}"))
        object.__setattr__(self, "device", _text(self.device, "The device"))
        validate_train_config(self)

    def to_dict(self) -> dict[str, Any]:
        """Plain types only."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        """Build from ``to_dict`` output."""
        return cls(**_known_keys(cls, data))


@dataclass(frozen=True)
class TrainEvent:
    """One progress report. Loss values are per image, in nats."""

    kind: str  # "batch" or "epoch"
    epoch: int  # 1-based
    epochs: int
    batch: int  # 1-based within the epoch; equals ``batches`` for epoch events
    batches: int
    loss: float  # recon + beta * kl (batch value, or the epoch mean)
    recon: float
    kl: float
    images_per_s: float
    test_elbo: float | None = None  # epoch events only; higher is better

    @property
    def progress(self) -> float:
        """Fraction of the whole run done, 0..1."""
        return ((self.epoch - 1) * self.batches + self.batch) / (self.epochs * self.batches)


@dataclass
class History:
    """Per-epoch curves plus how the run ended."""

    train_loss: list[float] = field(default_factory=list)
    recon: list[float] = field(default_factory=list)
    kl: list[float] = field(default_factory=list)
    test_elbo: list[float] = field(default_factory=list)
    images_per_s: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    status: str = "completed"  # "completed", "cancelled" or "diverged"
    message: str = ""

    @property
    def epochs_done(self) -> int:
        """Number of finished epochs."""
        return len(self.train_loss)

    def to_dict(self) -> dict:
        """Plain lists and strings, for checkpoints and JSON."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "History":
        """Inverse of ``to_dict``; missing keys take their defaults."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def validate_model_config(cfg: ModelConfig) -> None:
    """Raise TrainingError with a readable message for settings no model can have, or that are too large."""
    if cfg.kind not in MODEL_KINDS:
        raise TrainingError(f"Unknown model type {_short(cfg.kind)}; use one of {MODEL_KINDS}.")
    if cfg.likelihood not in LIKELIHOODS:
        raise TrainingError(f"Unknown likelihood {_short(cfg.likelihood)}; use one of {LIKELIHOODS}.")
    if not 1 <= cfg.latent_dim <= MAX_LATENT_DIM:
        raise TrainingError(f"Latent size must be between 1 and {MAX_LATENT_DIM}, got {cfg.latent_dim}.")
    if min(cfg.image_shape) < MIN_IMAGE_SIDE or max(cfg.image_shape) > MAX_IMAGE_SIDE:
        raise TrainingError(f"Images must be between {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE} and "
                            f"{MAX_IMAGE_SIDE}x{MAX_IMAGE_SIDE} pixels, got {cfg.image_shape}.")
    if cfg.kind == "mlp" and not cfg.hidden_sizes:
        raise TrainingError("A fully connected model needs at least one hidden layer.")
    if cfg.kind == "conv" and not cfg.conv_channels:
        raise TrainingError("A convolutional model needs at least one conv layer.")
    for size in (*cfg.hidden_sizes, *cfg.conv_channels, cfg.conv_hidden):
        if not 1 <= size <= MAX_LAYER_SIZE:
            raise TrainingError(f"Every layer needs between 1 and {MAX_LAYER_SIZE} units or filters, got {size}.")
    if not 0 < cfg.gaussian_std <= MAX_GAUSSIAN_STD:
        raise TrainingError(f"The Gaussian likelihood needs a standard deviation above 0 and at most "
                            f"{MAX_GAUSSIAN_STD:g}, got {cfg.gaussian_std}.")
    count = parameter_count(cfg)
    if count > MAX_PARAMETERS:
        raise TrainingError(f"This model would have {count:,} weights; this app builds models of at most "
                            f"{MAX_PARAMETERS:,}. Use fewer or smaller layers.")


def _normalise_layer_settings(cfg: ModelConfig) -> None:
    """Lists from a checkpoint become tuples of whole numbers (bounded in count), so configs compare and hash alike."""
    if cfg.decoder_hidden_sizes is not None:
        object.__setattr__(cfg, "decoder_hidden_sizes", _whole_numbers(
            cfg.decoder_hidden_sizes, "The decoder layer sizes", 0, MAX_HIDDEN_LAYERS))
    for key in _LAYER_TUPLE_KEYS:
        layers = getattr(cfg, key)
        if not isinstance(layers, (list, tuple)) or len(layers) > MAX_CONV_LAYERS:
            raise TrainingError(f"The {key.replace('_', ' ')} must be a list of at most {MAX_CONV_LAYERS} layers.")
        object.__setattr__(cfg, key, tuple(_whole_numbers(layer, "A conv layer (channels, kernel, stride)", 3, 3)
                                           for layer in layers))
    object.__setattr__(cfg, "map_channels", _whole(cfg.map_channels, "The map channels"))
    object.__setattr__(cfg, "input_scale", _real(cfg.input_scale, "The input scale"))
    object.__setattr__(cfg, "input_shift", _real(cfg.input_shift, "The input shift"))
    object.__setattr__(cfg, "output_activation", _text(cfg.output_activation, "The output"))


def validate_layer_settings(cfg: ModelConfig) -> None:
    """Raise TrainingError for bad channels, or settings imported models use (decoder layers, keras-conv, scaling)."""
    if cfg.channels not in IMAGE_CHANNELS:
        raise TrainingError(f"A model reads grey (1 channel) or colour (3 channels) images, not {cfg.channels}.")
    if cfg.output_activation not in OUTPUT_ACTIVATIONS:
        raise TrainingError(f"Unknown output {_short(cfg.output_activation)}; use one of {OUTPUT_ACTIVATIONS}.")
    scaling = (cfg.input_scale, cfg.input_shift)
    if not all(math.isfinite(v) and abs(v) <= MAX_INPUT_SCALE for v in scaling) or cfg.input_scale == 0:
        raise TrainingError(f"The input scaling must be a non-zero scale and a shift of at most {MAX_INPUT_SCALE:g}.")
    for size in (*(cfg.decoder_hidden_sizes or ()), cfg.map_channels):
        if not 1 <= size <= MAX_LAYER_SIZE:
            raise TrainingError(f"Every layer needs between 1 and {MAX_LAYER_SIZE} units or filters, got {size}.")
    if cfg.kind != "keras-conv":
        return
    if not cfg.conv_layers or not cfg.deconv_layers or not cfg.hidden_sizes:
        raise TrainingError("A keras-conv model needs conv layers, dense layers and transposed-conv layers.")
    for channels, kernel, stride in (*cfg.conv_layers, *cfg.deconv_layers):
        if not (1 <= channels <= MAX_LAYER_SIZE and 1 <= kernel <= MAX_KERNEL and 1 <= stride <= MAX_STRIDE):
            raise TrainingError(f"Each conv layer needs 1 to {MAX_LAYER_SIZE} channels, a kernel of 1 to {MAX_KERNEL} "
                                f"and a stride of 1 to {MAX_STRIDE}.")
    if cfg.deconv_layers[-1][0] != cfg.channels:
        raise TrainingError(f"The last transposed conv of a keras-conv model must give {cfg.channels} channel(s), "
                            f"one per colour channel of the image.")


def validate_train_config(cfg: TrainConfig) -> None:
    """Raise TrainingError for settings training cannot run with."""
    if not 1 <= cfg.epochs <= MAX_EPOCHS:
        raise TrainingError(f"Epochs must be between 1 and {MAX_EPOCHS}, got {cfg.epochs}.")
    if not 1 <= cfg.batch_size <= MAX_BATCH_SIZE:
        raise TrainingError(f"Batch size must be between 1 and {MAX_BATCH_SIZE}, got {cfg.batch_size}.")
    if not 0 < cfg.learning_rate <= MAX_LEARNING_RATE:
        raise TrainingError(f"Learning rate must be above 0 (and at most {MAX_LEARNING_RATE:g}), "
                            f"got {cfg.learning_rate}.")
    if not 0 <= cfg.beta <= MAX_BETA:
        raise TrainingError(f"Beta (KL weight) must be between 0 and {MAX_BETA:g}, got {cfg.beta}.")
    if not 0 <= cfg.seed <= MAX_SEED:
        raise TrainingError(f"The seed must be a whole number from 0 to {MAX_SEED}, got {_short(cfg.seed)}.")
    if cfg.device not in DEVICES:
        raise TrainingError(f"Device must be 'auto', 'cpu' or 'cuda', got {_short(cfg.device)}.")
    if not 0 <= cfg.kl_warmup <= MAX_EPOCHS:
        raise TrainingError(f"KL warm-up must be 0 (off) to {MAX_EPOCHS} epochs, got {cfg.kl_warmup}.")
    if not 0 <= cfg.free_bits <= MAX_FREE_BITS:
        raise TrainingError(f"Free bits must be 0 (off) to {MAX_FREE_BITS:g} nats per dim, got {cfg.free_bits}.")


def weight_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Name and shape of every weight of the model ``cfg`` describes (its state_dict), without building it."""
    builders = {"mlp": _mlp_weight_shapes, "conv": _conv_weight_shapes, "keras-conv": _keras_conv_weight_shapes}
    return builders[cfg.kind](cfg)


def parameter_count(cfg: ModelConfig) -> int:
    """Number of weights the model ``cfg`` describes, computed from the settings alone."""
    return sum(math.prod(shape) for shape in weight_shapes(cfg).values())


def conv_feature_shape(cfg: ModelConfig) -> tuple[int, int, int]:
    """(C, h, w) of a conv model's last feature map: each k=3, s=2, p=1 conv maps a side n to ceil(n / 2)."""
    steps = len(cfg.conv_channels)
    height, width = cfg.image_shape
    return cfg.conv_channels[-1], _halve(height, steps), _halve(width, steps)


def _mlp_weight_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    pixels = cfg.image_shape[0] * cfg.image_shape[1] * cfg.channels  # every value of the picture, H x W x C
    sizes = [pixels, *cfg.hidden_sizes]
    decoder = reversed(cfg.hidden_sizes) if cfg.decoder_hidden_sizes is None else cfg.decoder_hidden_sizes
    back = [cfg.latent_dim, *decoder, pixels]
    shapes: dict[str, tuple[int, ...]] = {}
    for index, (size_in, size_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        shapes.update(_linear(f"encoder.{2 * index}", size_in, size_out))  # Linear, ReLU, Linear, ...
    shapes.update(_linear("fc_mu", sizes[-1], cfg.latent_dim))
    shapes.update(_linear("fc_logvar", sizes[-1], cfg.latent_dim))
    for index, (size_in, size_out) in enumerate(zip(back[:-1], back[1:])):
        shapes.update(_linear(f"decoder.{2 * index}", size_in, size_out))
    return shapes


def _conv_weight_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    channels = [cfg.channels, *cfg.conv_channels]
    features = math.prod(conv_feature_shape(cfg))
    shapes: dict[str, tuple[int, ...]] = {}
    for index, (c_in, c_out) in enumerate(zip(channels[:-1], channels[1:])):  # Conv, ReLU, Conv, ...
        shapes[f"encoder.{2 * index}.weight"] = (c_out, c_in, CONV_KERNEL, CONV_KERNEL)
        shapes[f"encoder.{2 * index}.bias"] = (c_out,)
    shapes.update(_linear(f"encoder.{2 * len(cfg.conv_channels) + 1}", features, cfg.conv_hidden))  # after Flatten
    shapes.update(_linear("fc_mu", cfg.conv_hidden, cfg.latent_dim))
    shapes.update(_linear("fc_logvar", cfg.conv_hidden, cfg.latent_dim))
    shapes.update(_linear("decoder_dense.0", cfg.latent_dim, cfg.conv_hidden))
    shapes.update(_linear("decoder_dense.2", cfg.conv_hidden, features))
    back = list(reversed(channels))
    for index, (c_in, c_out) in enumerate(zip(back[:-1], back[1:])):  # ConvTranspose, ReLU, ..., ConvTranspose
        shapes[f"decoder_convs.{2 * index}.weight"] = (c_in, c_out, CONV_KERNEL, CONV_KERNEL)
        shapes[f"decoder_convs.{2 * index}.bias"] = (c_out,)
    return shapes


def _keras_conv_weight_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """KerasConvVAE's weights: 'same' convs, dense layers, then dense to the map and 'same' transposed convs."""
    shapes: dict[str, tuple[int, ...]] = {}
    height, width = cfg.image_shape
    c_in = cfg.channels
    for index, (c_out, kernel, stride) in enumerate(cfg.conv_layers):  # SameConv2d, ReLU, ...
        shapes[f"encoder_convs.{2 * index}.weight"] = (c_out, c_in, kernel, kernel)
        shapes[f"encoder_convs.{2 * index}.bias"] = (c_out,)
        c_in, height, width = c_out, -(-height // stride), -(-width // stride)
    sizes = [c_in * height * width, *cfg.hidden_sizes]
    for index, (size_in, size_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        shapes.update(_linear(f"encoder_dense.{2 * index}", size_in, size_out))
    shapes.update(_linear("fc_mu", sizes[-1], cfg.latent_dim))
    shapes.update(_linear("fc_logvar", sizes[-1], cfg.latent_dim))
    upscale = math.prod(layer[2] for layer in cfg.deconv_layers)
    map_size = -(-cfg.image_shape[0] // upscale) * -(-cfg.image_shape[1] // upscale) * cfg.map_channels
    back = [cfg.latent_dim, *(cfg.decoder_hidden_sizes or ())]
    for index, (size_in, size_out) in enumerate(zip(back[:-1], back[1:])):
        shapes.update(_linear(f"decoder_dense.{2 * index}", size_in, size_out))
    shapes.update(_linear(f"decoder_dense.{2 * (len(back) - 1)}", back[-1], map_size))
    c_in = cfg.map_channels
    for index, (c_out, kernel, _stride) in enumerate(cfg.deconv_layers):  # SameConvTranspose2d, ReLU, ...
        shapes[f"decoder_convs.{2 * index}.weight"] = (c_in, c_out, kernel, kernel)
        shapes[f"decoder_convs.{2 * index}.bias"] = (c_out,)
        c_in = c_out
    return shapes


def _linear(name: str, size_in: int, size_out: int) -> dict[str, tuple[int, ...]]:
    return {f"{name}.weight": (size_out, size_in), f"{name}.bias": (size_out,)}


def _halve(size: int, times: int) -> int:
    for _ in range(times):
        size = (size + 1) // 2
    return size


def _known_keys(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise TrainingError(f"Unknown {cls.__name__} settings: {sorted(unknown)}.")
    return dict(data)
