"""Keras VAEs as our models: Dense-only VAEs as MLPVAE, Keras-style conv VAEs as KerasConvVAE (kind keras-conv)."""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from vae.config import ModelConfig
from vae.errors import CheckpointError
from vae.io.importers import (
    DenseLayer,
    Detected,
    ImportChoices,
    build_config,
    checkpoint_dict,
    common_settings,
    detect_layers,
    head_weights,
    layer_weights,
    mlp_settings,
    require_decided,
    with_choices,
)
from vae.io.keras import KerasLayer, KerasModel, read_keras

# A weights-only file stores no strides: these tutorials' conv VAEs are known by their channels (28x28 input).
# (encoder conv channels, decoder transposed-conv channels) -> (name, encoder strides, decoder strides)
KNOWN_CONV_RECIPES: dict[tuple[tuple[int, ...], tuple[int, ...]], tuple[str, tuple[int, ...], tuple[int, ...]]] = {
    ((32, 64, 64, 64), (32, 1)): ("the classic Keras conv VAE", (1, 2, 1, 1), (2, 1)),
    ((32, 64), (64, 32, 1)): ("the keras.io conv VAE example", (2, 2), (2, 2, 1)),
}
RECIPE_IMAGE_SIZE = (28, 28)
HIDDEN_ACTIVATION = "relu"  # our models use ReLU between layers
OUTPUT_ACTIVATIONS = {"sigmoid": "sigmoid", "linear": "none"}  # Keras's last activation -> ImportChoices.output


@dataclass(frozen=True)
class _Plan:
    """A Keras model read as a VAE: the dense structure, and the conv layers with their settings."""

    detected: Detected
    convs: tuple[KerasLayer, ...] = ()
    deconvs: tuple[KerasLayer, ...] = ()
    conv_specs: tuple[tuple[int, int, int], ...] = ()  # (channels, kernel, stride)
    deconv_specs: tuple[tuple[int, int, int], ...] = ()


def detect_keras(path: Path, choices: ImportChoices | None = None) -> Detected:
    """The structure of a Keras file's VAE, its detected choices and what is ambiguous."""
    return _plan(read_keras(path), choices or ImportChoices(), path.name).detected


def convert_keras(
    path: Path, choices: ImportChoices | None = None, dataset: str = "", class_names: tuple[str, ...] = (),
) -> dict:
    """Our checkpoint dict for a Keras VAE file; it decodes and encodes as the Keras model did.

    Raises:
        AmbiguousModelError: something only the user can decide (``error.detected`` says what).
        CheckpointError: what the file is, when it holds no VAE this app can rebuild.
    """
    model = read_keras(path)
    plan = _plan(model, choices or ImportChoices(), path.name)
    detected = plan.detected
    require_decided(detected, path.name)
    if plan.convs:
        config, weights = _conv_model(plan, path.name)
        described = f"convs {[spec[0] for spec in config.conv_layers]}; {detected.structure.describe()}"
    else:
        config = build_config(path.name, kind="mlp", **mlp_settings(detected))
        weights = {**layer_weights("encoder", detected.structure.encoder), **head_weights(detected),
                   **layer_weights("decoder", detected.structure.decoder)}
        described = detected.structure.describe()
    return checkpoint_dict(config, weights, f"{model.file_kind}: {described}", dataset, class_names)


def _plan(model: KerasModel, choices: ImportChoices, name: str) -> _Plan:
    if model.channels not in (None, 1):
        raise CheckpointError(f"{name} is {model.file_kind} for colour images ({model.channels} channels); "
                              f"this app's models read grey images.")
    convs = [layer for layer in model.layers if layer.kind == "conv"]
    deconvs = [layer for layer in model.layers if layer.kind == "deconv"]
    dense = [_as_dense(layer) for layer in model.layers if layer.kind == "dense"]
    if not dense:
        raise CheckpointError(f"{name} is {model.file_kind} without Dense layers, so it has no latent heads to read.")
    if convs or deconvs:
        return _plan_conv(model, convs, deconvs, dense, choices, name)
    chosen = with_choices(choices, image_size=model.image_size)
    detected = detect_layers(dense, chosen, f"{name} ({model.file_kind})", "keras")
    by_name = {layer.name: layer for layer in model.layers}
    output = _output(by_name[detected.structure.decoder[-1].name], model, name)
    detected = detect_layers(dense, with_choices(chosen, output=output), f"{name} ({model.file_kind})", "keras")
    _check_hidden(detected, by_name, name, last_decoder_included=False)
    return _Plan(detected)


def _plan_conv(model: KerasModel, convs: list, deconvs: list, dense: list, choices: ImportChoices, name: str) -> _Plan:
    if not convs or not deconvs:
        raise CheckpointError(f"{name} is {model.file_kind} with convolutions on one side only; this app rebuilds "
                              f"conv VAEs whose encoder uses Conv2D and whose decoder uses Conv2DTranspose.")
    conv_specs, deconv_specs, note = _conv_specs(model, convs, deconvs, name)
    image = choices.image_size or model.image_size or RECIPE_IMAGE_SIZE
    height, width = image
    for _, _, stride in conv_specs:
        height, width = -(-height // stride), -(-width // stride)  # 'same': ceil(n / stride)
    upscale = math.prod(spec[2] for spec in deconv_specs)
    map_shape = (-(-image[0] // upscale), -(-image[1] // upscale), _deconv_inputs(deconvs[0]))
    _check_reshape(model, map_shape, name)
    chosen = with_choices(choices, image_size=tuple(image), output=_output(deconvs[-1], model, name))
    detected = detect_layers(dense, chosen, f"{name} ({model.file_kind})", "keras",
                             encoder_input=conv_specs[-1][0] * height * width,
                             decoder_output=math.prod(map_shape), image_size=tuple(image))
    _check_hidden(detected, {layer.name: layer for layer in model.layers}, name, last_decoder_included=True)
    notes = detected.notes + ((note,) if note else ()) + (
        () if model.image_size or choices.image_size else (f"The images are assumed to be {image[0]}x{image[1]}.",))
    return _Plan(replace(detected, notes=notes), tuple(convs), tuple(deconvs), tuple(conv_specs), tuple(deconv_specs))


def _conv_model(plan: _Plan, name: str) -> tuple[ModelConfig, dict]:
    detected, structure = plan.detected, plan.detected.structure
    config = build_config(
        name, kind="keras-conv", image_shape=detected.choices.image_size, latent_dim=structure.latent_dim,
        hidden_sizes=tuple(layer.size_out for layer in structure.encoder),
        decoder_hidden_sizes=tuple(layer.size_out for layer in structure.decoder[:-1]),
        conv_layers=plan.conv_specs, deconv_layers=plan.deconv_specs, map_channels=_deconv_inputs(plan.deconvs[0]),
        **common_settings(detected.choices))
    weights = {**_conv_weights("encoder_convs", plan.convs), **layer_weights("encoder_dense", structure.encoder),
               **head_weights(detected), **layer_weights("decoder_dense", structure.decoder),
               **_conv_weights("decoder_convs", plan.deconvs)}
    return config, weights


def _conv_specs(model: KerasModel, convs: list, deconvs: list, name: str):
    """(channels, kernel, stride) of each conv and transposed conv, and a note when a recipe supplied them."""
    _check_channels(convs, deconvs, name)
    if model.has_config:
        return [_spec(layer, None, name) for layer in convs], [_spec(layer, None, name) for layer in deconvs], ""
    key = (tuple(int(layer.kernel.shape[3]) for layer in convs), tuple(int(layer.kernel.shape[2]) for layer in deconvs))
    if key not in KNOWN_CONV_RECIPES:
        raise CheckpointError(
            f"{name} is {model.file_kind}: it stores the weights of {len(convs)} conv and {len(deconvs)} transposed "
            f"conv layers but not their strides or padding, and they match no tutorial this app knows. In Keras, save "
            f'the whole model with model.save("model.keras") and import that file.')
    recipe, strides, back_strides = KNOWN_CONV_RECIPES[key]
    note = (f"A weights file does not store strides: these layers match {recipe}, so its strides, 'same' padding "
            f"and activations are assumed.")
    return ([_spec(layer, stride, name) for layer, stride in zip(convs, strides)],
            [_spec(layer, stride, name) for layer, stride in zip(deconvs, back_strides)], note)


def _spec(layer: KerasLayer, stride: int | None, name: str) -> tuple[int, int, int]:
    """(channels, kernel, stride) of one 'same'-padded conv; other settings are refused with a reason."""
    height, width = layer.kernel.shape[:2]
    channels = layer.kernel.shape[3] if layer.kind == "conv" else layer.kernel.shape[2]
    settings = layer.settings
    strides = settings.get("strides", stride if stride is not None else 1)  # Keras's default stride is 1
    strides = tuple(strides) if isinstance(strides, (list, tuple)) else (strides, strides)
    problems = [
        "its kernel is not square" if height != width else "",
        "its strides differ across height and width" if strides[0] != strides[1] else "",
        f"its padding is {settings.get('padding')!r}" if settings.get("padding", "same") != "same" else "",
        "it reads channels first" if settings.get("data_format", "channels_last") != "channels_last" else "",
        "it is dilated" if tuple(settings.get("dilation_rate", (1, 1)) or (1, 1)) not in ((1, 1), (1,), 1) else "",
        "it has an output_padding" if settings.get("output_padding") not in (None, [None, None]) else "",
    ]
    problems = [problem for problem in problems if problem]
    if problems:
        raise CheckpointError(f"{name}: layer {layer.name!r} cannot be rebuilt exactly: {', '.join(problems)}. "
                              f"This app rebuilds Keras convolutions with square kernels and 'same' padding.")
    return int(channels), int(height), int(strides[0])


def _check_channels(convs: list, deconvs: list, name: str) -> None:
    ins = [int(layer.kernel.shape[2]) for layer in convs]
    outs = [int(layer.kernel.shape[3]) for layer in convs]
    back_outs = [int(layer.kernel.shape[2]) for layer in deconvs]
    back_ins = [_deconv_inputs(layer) for layer in deconvs]
    if ins[0] != 1 or ins[1:] != outs[:-1] or back_ins[1:] != back_outs[:-1] or back_outs[-1] != 1:
        raise CheckpointError(f"{name}: the conv layers do not form one chain from a grey image (channels in "
                              f"{ins} -> out {outs}) back to one (transposed convs {back_ins} -> {back_outs}).")


def _deconv_inputs(layer: KerasLayer) -> int:
    return int(layer.kernel.shape[3])  # Conv2DTranspose kernel: (kh, kw, out, in)


def _check_reshape(model: KerasModel, map_shape: tuple[int, int, int], name: str) -> None:
    shapes = [shape for shape in model.reshapes if len(shape) == 3]
    if shapes and tuple(shapes[-1]) != map_shape:
        raise CheckpointError(f"{name}: the decoder reshapes to {tuple(shapes[-1])}, but its transposed convs need "
                              f"{map_shape} (height, width, channels) to give the image size.")


def _output(layer: KerasLayer, model: KerasModel, name: str) -> str | None:
    activation = layer.activation
    if activation is None:
        return None  # weights only: the usual sigmoid, noted as an assumption
    if activation not in OUTPUT_ACTIVATIONS:
        raise CheckpointError(f"{name}: the last layer {layer.name!r} applies {activation!r}; this app's models end "
                              f"with a sigmoid or with no activation.")
    return OUTPUT_ACTIVATIONS[activation]


def _check_hidden(detected: Detected, by_name: dict, name: str, last_decoder_included: bool) -> None:
    """ReLU between layers, nothing on the heads, as our models compute."""
    structure = detected.structure
    decoder = structure.decoder if last_decoder_included else structure.decoder[:-1]
    expected = [(layer.name, HIDDEN_ACTIVATION) for layer in (*structure.encoder, *decoder)]
    expected += [(structure.mean.name, "linear"), (structure.spread.name, "linear")]
    for layer_name, wanted in expected:
        found = by_name[layer_name].activation
        if found is not None and found != wanted:
            raise CheckpointError(f"{name}: layer {layer_name!r} applies {found!r} where this app's models apply "
                                  f"{wanted!r}, so it cannot be rebuilt exactly.")


def _as_dense(layer: KerasLayer) -> DenseLayer:
    return DenseLayer(layer.name, torch.from_numpy(layer.kernel.T.copy()), torch.from_numpy(layer.bias.copy()))


def _conv_weights(prefix: str, layers: list) -> dict:
    """Keras kernels (kh, kw, in, out) / transposed (kh, kw, out, in) -> torch (out, in, kh, kw) / (in, out, kh, kw)."""
    weights = {}
    for index, layer in enumerate(layers):
        weights[f"{prefix}.{2 * index}.weight"] = torch.from_numpy(layer.kernel.copy()).permute(3, 2, 0, 1)
        weights[f"{prefix}.{2 * index}.bias"] = torch.from_numpy(layer.bias.copy())
    return weights
