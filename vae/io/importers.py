"""Import an MLP VAE's PyTorch state_dict by its structure (tensor shapes), whatever its layer names."""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

import torch

from vae.config import History, ModelConfig
from vae.errors import CheckpointError, VAEError
from vae.io.schema import FORMAT_NAME, FORMAT_VERSION
from vae.io.structure import DenseLayer, Structure, find_structures, name_words, preferred

SPREADS = ("log-var", "log-std")  # what the spread head gives: log sigma^2, or log sigma (= half of it)
OUTPUTS = ("sigmoid", "none")
WRAPPER_KEYS = ("model_state_dict", "state_dict", "model")  # training checkpoints keep the weights under these
WRAPPER_PREFIXES = ("module.", "_orig_mod.")  # DataParallel and torch.compile put these before every name
SAVE_WEIGHTS_LINE = 'torch.save(model.state_dict(), "model.pt")'
CLASSIC_LAYOUT = "fc1, fc21, fc22, fc3, fc4"
MAX_LAYERS = 32  # the structure search tries every head pair: more layers than this is no VAE we know
MIN_SIDE, MAX_SIDE = 4, 256  # image sides our models accept (ModelConfig)


@dataclass(frozen=True)
class ImportChoices:
    """What a user decides when the file alone cannot say; None leaves a field to detection."""

    mean_layer: str | None = None  # the layer giving the means (one split layer: its first half)
    spread_layer: str | None = None  # the layer giving the spreads (a split layer: the same name as mean_layer)
    spread: str | None = None  # "log-var" (std = exp(s / 2)) or "log-std" (std = exp(s))
    image_size: tuple[int, int] | None = None  # (H, W) of the images the model reads
    output: str | None = None  # "sigmoid" (images in [0, 1]) or "none" (a linear last layer)
    normalize: tuple[float, float] | None = None  # (mean, std) of the training script's transforms.Normalize


@dataclass(frozen=True)
class Detected:
    """What was found, the answer to each choice (detected or chosen) and what is still open."""

    structure: Structure
    choices: ImportChoices  # every field filled: preselect these in a form
    ambiguous: tuple[str, ...]  # fields the user must decide: "heads", "spread", "image_size"
    options: dict[str, tuple]  # the possible answers of each ambiguous field
    notes: tuple[str, ...]  # assumptions made, in words
    questions: tuple[str, ...]  # per ambiguous field: what was found and what to choose

    def explain(self, name: str) -> str:
        """One message: what the file holds and what the user must choose."""
        later = (question[0].upper() + question[1:] for question in self.questions[1:])
        return f"{name} holds a VAE ({self.structure.describe()}), but {' '.join([self.questions[0], *later])}"


class AmbiguousModelError(CheckpointError):
    """The file allows several readings; ``detected`` holds them, with the preselected answer."""

    def __init__(self, message: str, detected: Detected) -> None:
        super().__init__(message)
        self.detected = detected


def detect(state_dict: object, choices: ImportChoices | None = None, name: str = "the state_dict") -> Detected:
    """The structure of an MLP VAE's state_dict, the detected choices and what is ambiguous.

    Raises:
        CheckpointError: no MLP VAE can be read from these tensors (the message says what was found).
    """
    layers = dense_layers(unwrap_state_dict(state_dict, name), name)
    return detect_layers(layers, choices or ImportChoices(), name)


def convert(
    state_dict: object, choices: ImportChoices | None = None, name: str = "the state_dict",
    dataset: str = "", class_names: tuple[str, ...] = (),
) -> dict:
    """Our checkpoint dict for an MLP VAE's state_dict; its decode and encode match the original.

    Raises:
        AmbiguousModelError: something only the user can decide (``error.detected`` says what).
        CheckpointError: not an MLP VAE this app can rebuild.
    """
    detected = detect(state_dict, choices, name)
    require_decided(detected, name)
    config = build_config(name, kind="mlp", **mlp_settings(detected))
    weights = {**layer_weights("encoder", detected.structure.encoder), **head_weights(detected),
               **layer_weights("decoder", detected.structure.decoder)}
    return checkpoint_dict(config, weights, f"PyTorch state_dict ({detected.structure.describe()})", dataset, class_names)


def import_state_dict(raw: object, source_name: str) -> dict:
    """read_checkpoint's fallback for a torch file that is not ours: its dataset is left unknown."""
    return convert(raw, None, source_name)


def unwrap_state_dict(raw: object, name: str) -> dict[str, torch.Tensor]:
    """The weight tensors of a state_dict, also out of a training checkpoint's dict, without wrapper prefixes."""
    if isinstance(raw, Mapping):
        for key in WRAPPER_KEYS:
            inner = raw.get(key)
            if isinstance(inner, Mapping) and any(isinstance(v, torch.Tensor) for v in inner.values()):
                raw = inner
                break
        tensors = {str(key): value for key, value in raw.items() if isinstance(value, torch.Tensor)}
        if tensors:
            return _strip_prefixes(tensors)
    raise CheckpointError(
        f"{name} is neither a checkpoint of this app nor a PyTorch state_dict (a dict of weight tensors, such as "
        f"the classic PyTorch VAE example's {CLASSIC_LAYOUT}). In the training script, save the model's weights "
        f"with {SAVE_WEIGHTS_LINE} and open that file."
    )


def dense_layers(state: dict[str, torch.Tensor], name: str) -> list[DenseLayer]:
    """The fully connected layers, in the file's order; anything else is refused with its name."""
    groups: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        layer, _, part = key.rpartition(".")
        groups.setdefault(layer, {})[part] = value
    layers, others = [], []
    for layer, parts in groups.items():
        weight, bias = parts.get("weight"), parts.get("bias")
        if weight is not None and weight.dim() in (3, 4, 5):
            raise CheckpointError(
                f"{name}: layer {layer!r} is a convolution ({tuple(weight.shape)}). From PyTorch this app imports "
                f"fully connected VAEs only; convolutional VAEs can come from Keras (.keras) files.")
        if weight is None or weight.dim() != 2 or set(parts) - {"weight", "bias"} or (
                bias is not None and tuple(bias.shape) != (weight.shape[0],)):
            others.append(layer or key)
            continue
        bias = torch.zeros(weight.shape[0]) if bias is None else bias  # bias=False: the same as a zero bias
        layers.append(DenseLayer(layer or "(unnamed)", weight.detach().float(), bias.detach().float()))
    if others:
        raise CheckpointError(
            f"{name}: {', '.join(others[:5])} {'is not a' if len(others) == 1 else 'are not'} fully connected "
            f"layer{'' if len(others) == 1 else 's'} (a 2-D weight and its bias). This app rebuilds VAEs made of "
            f"fully connected layers only (like the classic PyTorch example's {CLASSIC_LAYOUT}).")
    if not 3 <= len(layers) <= MAX_LAYERS:
        found = ", ".join(layer.describe() for layer in layers[:4]) + (", ..." if len(layers) > 4 else "")
        raise CheckpointError(
            f"{name} has {len(layers)} fully connected layer{'' if len(layers) == 1 else 's'} ({found}); an MLP VAE "
            f"has an encoder, mean and spread heads and a decoder, 3 to {MAX_LAYERS} layers, like the classic "
            f"PyTorch example's {CLASSIC_LAYOUT}.")
    return layers


def detect_layers(
    layers: list[DenseLayer], choices: ImportChoices, name: str, framework: str = "pytorch",
    encoder_input: int | None = None, decoder_output: int | None = None,
    image_size: tuple[int, int] | None = None,
) -> Detected:
    """Read the layers as an MLP VAE; ``encoder_input``/``decoder_output`` fix the chain's ends (conv models)."""
    _check_choices(choices)
    found = find_structures(layers, choices.mean_layer, choices.spread_layer, encoder_input, decoder_output)
    if not found:
        raise CheckpointError(_no_structure_message(layers, choices, name))
    candidates = [s for s in found if s.in_order] or found
    heads = list(dict.fromkeys(s.heads for s in candidates))
    structure = preferred(candidates)
    spread, how = _spread_kind(structure.spread.name, framework)
    size, size_options = _image_size(structure, choices.image_size or image_size, encoder_input is None, name)
    filled = ImportChoices(
        mean_layer=structure.mean.name, spread_layer=structure.spread.name, spread=choices.spread or spread,
        image_size=size, output=choices.output or "sigmoid", normalize=choices.normalize or (0.0, 1.0))
    open_fields = {"heads": tuple(heads) if len(heads) > 1 else (),
                   "spread": SPREADS if not choices.spread and how == "unclear" else (),
                   "image_size": size_options}
    ambiguous = tuple(key for key, options in open_fields.items() if options)
    return Detected(structure, filled, ambiguous, {key: open_fields[key] for key in ambiguous},
                    _notes(structure, choices, how),
                    tuple(_question(key, structure, open_fields[key]) for key in ambiguous))


def require_decided(detected: Detected, name: str) -> None:
    """Raise AmbiguousModelError when something is still for the user to choose."""
    if detected.ambiguous:
        raise AmbiguousModelError(detected.explain(name), detected)


def mlp_settings(detected: Detected) -> dict:
    """ModelConfig settings of an MLPVAE for the detected structure and choices."""
    structure, choices = detected.structure, detected.choices
    hidden = tuple(layer.size_out for layer in structure.encoder)
    back = tuple(layer.size_out for layer in structure.decoder[:-1])
    return dict(image_shape=choices.image_size, latent_dim=structure.latent_dim, hidden_sizes=hidden,
                decoder_hidden_sizes=None if back == hidden[::-1] else back, **common_settings(choices))


def common_settings(choices: ImportChoices) -> dict:
    """Input scaling and output activation, as ModelConfig settings."""
    mean, std = choices.normalize or (0.0, 1.0)
    if not std or not math.isfinite(std) or not math.isfinite(mean):
        raise CheckpointError(f"The input normalisation needs a finite mean and a non-zero std, got ({mean}, {std}).")
    # transforms.Normalize(mean, std) computes (x - mean) / std = x * (1 / std) - mean / std.
    return dict(input_scale=1.0 / std, input_shift=-mean / std, output_activation=choices.output or "sigmoid")


def build_config(name: str, **settings: object) -> ModelConfig:
    """A ModelConfig; settings our models cannot have become a CheckpointError naming the file."""
    try:
        return ModelConfig(**settings)
    except VAEError as error:
        raise CheckpointError(f"{name}: this model cannot be rebuilt here: {error}") from None


def layer_weights(prefix: str, layers: tuple[DenseLayer, ...] | list[DenseLayer], start: int = 0) -> dict:
    """State-dict entries of a chain of Linear layers at even indices of an nn.Sequential (ReLUs between)."""
    weights = {}
    for index, layer in enumerate(layers, start=start):
        weights[f"{prefix}.{2 * index}.weight"] = layer.weight
        weights[f"{prefix}.{2 * index}.bias"] = layer.bias
    return weights


def head_weights(detected: Detected) -> dict:
    """fc_mu and fc_logvar weights; a split layer is cut in half, log-stds are doubled (logvar = 2 log std)."""
    structure = detected.structure
    latent = structure.latent_dim
    mean_w, mean_b = structure.mean.weight, structure.mean.bias
    spread_w, spread_b = structure.spread.weight, structure.spread.bias
    if structure.split:
        mean_w, spread_w = mean_w[:latent], mean_w[latent:]
        mean_b, spread_b = mean_b[:latent], mean_b[latent:]
    if detected.choices.spread == "log-std":
        spread_w, spread_b = 2 * spread_w, 2 * spread_b  # exact in floating point: a power of two
    return {"fc_mu.weight": mean_w, "fc_mu.bias": mean_b, "fc_logvar.weight": spread_w, "fc_logvar.bias": spread_b}


def checkpoint_dict(
    config: ModelConfig, weights: dict[str, torch.Tensor], imported_from: str,
    dataset: str = "", class_names: tuple[str, ...] | list[str] = (),
) -> dict:
    """Our checkpoint format around imported weights; no dataset unless the user named one."""
    return {
        "format": FORMAT_NAME, "format_version": FORMAT_VERSION, "model_config": config.to_dict(),
        "state_dict": {key: value.detach().float().contiguous().clone() for key, value in weights.items()},
        "train_config": None, "history": History().to_dict(), "metrics": {}, "dataset": dataset,
        "class_names": [str(name) for name in class_names], "created": "", "imported_from": imported_from,
    }


def _check_choices(choices: ImportChoices) -> None:
    if choices.spread not in (None, *SPREADS):
        raise CheckpointError(f"The spread must be one of {SPREADS}, got {choices.spread!r}.")
    if choices.output not in (None, *OUTPUTS):
        raise CheckpointError(f"The output must be one of {OUTPUTS}, got {choices.output!r}.")


def _strip_prefixes(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    for prefix in WRAPPER_PREFIXES:
        if all(key.startswith(prefix) for key in tensors):
            tensors = {key[len(prefix):]: value for key, value in tensors.items()}
    return tensors


def _spread_kind(name: str, framework: str) -> tuple[str, str]:
    """(log-var or log-std, how it was told: "named", "convention" or "unclear")."""
    words = name_words(name)
    if any("var" in word for word in words):
        return "log-var", "named"
    if any("std" in word for word in words) or ("log" in words and "sigma" in words) or "logsigma" in words:
        return "log-std", "named"
    if any("sigma" in word or "scale" in word for word in words):
        # "sigma" means either: the PyTorch tutorial's std = sigma.exp(); the Keras one's exp(sigma / 2).
        return ("log-var" if framework == "keras" else "log-std"), "unclear"
    return "log-var", "convention"  # unnamed (fc22, a split layer): the near-universal convention, noted


def _image_size(
    structure: Structure, chosen: tuple[int, int] | None, reads_pixels: bool, name: str,
) -> tuple[tuple[int, int], tuple[tuple[int, int], ...]]:
    """The image size (chosen, or the one that fits) and the sizes to choose from when several fit."""
    pixels = structure.encoder[0].size_in
    if chosen:
        if reads_pixels and chosen[0] * chosen[1] != pixels:
            raise CheckpointError(f"{name}: images of {chosen[0]}x{chosen[1]} have {chosen[0] * chosen[1]} pixels, "
                                  f"but the model reads {pixels}.")
        return (int(chosen[0]), int(chosen[1])), ()
    options = _image_sizes(pixels)
    if not options:
        raise CheckpointError(f"{name}: the model reads {pixels} values per image, which no grey image of 4x4 to "
                              f"256x256 pixels has (a colour model, with 3 values per pixel, cannot be opened here).")
    return options[0], (options if len(options) > 1 else ())


def _image_sizes(pixels: int) -> tuple[tuple[int, int], ...]:
    side = math.isqrt(pixels)
    if side * side == pixels and MIN_SIDE <= side <= MAX_SIDE:
        return ((side, side),)
    pairs = [(h, pixels // h) for h in range(MIN_SIDE, side + 1) if pixels % h == 0 and pixels // h <= MAX_SIDE]
    return tuple(sorted(pairs, key=lambda hw: hw[1] - hw[0])[:6])


def _notes(structure: Structure, choices: ImportChoices, how: str) -> tuple[str, ...]:
    notes = []
    if not choices.spread and how == "convention":
        notes.append(f"{structure.spread.name} is read as log-variances (std = exp(s / 2)), the usual convention.")
    if not choices.output:
        notes.append("The decoder is assumed to end with a sigmoid (images in [0, 1]).")
    if not choices.normalize:
        notes.append("The model is assumed to read images in [0, 1] (no transforms.Normalize).")
    return tuple(notes)


def _question(field: str, structure: Structure, options: tuple) -> str:
    if field == "heads":
        listed = "; ".join(f"means {mean}, spreads {spread}" for mean, spread in options)
        return (f"several layer pairs could be the mean and spread heads ({listed}). Choose which layers give the "
                f"means and the spreads (command line: --mean-layer NAME --spread-layer NAME).")
    if field == "spread":
        return (f"the name of layer {structure.spread.name!r} does not say whether it gives log-variances or log "
                f"standard deviations. Choose log-variance if the training code computes std = exp(0.5 * s) "
                f"(command line: --log-var), or log-std if it computes std = exp(s) (--log-std).")
    sizes = ", ".join(f"{height}x{width}" for height, width in options)
    pixels = structure.encoder[0].size_in
    colour_side = math.isqrt(pixels // 3)
    colour = (f" If it is a colour model of {colour_side}x{colour_side} (3 values per pixel), it cannot be opened here."
              if pixels % 3 == 0 and colour_side**2 * 3 == pixels else "")
    return (f"it reads {pixels} pixels, which is not a square image. Choose the image size (command line: "
            f"--image-size HxW); sizes that fit: {sizes}.{colour}")


def _no_structure_message(layers: list[DenseLayer], choices: ImportChoices, name: str) -> str:
    listed = ", ".join(layer.describe() for layer in layers[:12])
    chosen = f" with the heads you chose ({choices.mean_layer}, {choices.spread_layer})" if choices.mean_layer else ""
    return (f"{name}: no VAE could be read from its layers{chosen}: {listed}. A VAE here is an encoder chain from "
            f"the pixels, two heads of the same shape (or one layer giving 2 x z values) and a decoder chain from z "
            f"back to the pixels, like the classic PyTorch example's {CLASSIC_LAYOUT}.")


def with_choices(choices: ImportChoices | None, **changes: object) -> ImportChoices:
    """``choices`` with the given fields filled where the user left them empty."""
    base = choices or ImportChoices()
    return replace(base, **{key: value for key, value in changes.items() if getattr(base, key) is None})
