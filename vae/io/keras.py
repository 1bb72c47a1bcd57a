"""Keras files read with h5py, no TensorFlow: .keras archives, Keras 3 .weights.h5 and legacy Keras 2 .h5.

Layouts (keras/src/saving/saving_lib.py and keras/src/legacy/saving/legacy_h5_format.py):
- ``.keras``: a zip of ``config.json`` (the architecture), ``metadata.json`` and ``model.weights.h5``.
- Keras 3 weights (``.weights.h5``, and inside ``.keras``): each layer's variables at
  ``<container path>/layers/<snake_case class name>[_<n>]/vars/<i>`` (kernel ``0``, bias ``1``), where
  ``_<n>`` counts earlier layers of the same class in that model; nested models are containers too.
- Legacy ``.h5``: attribute ``model_config`` (JSON) and group ``model_weights`` whose attribute
  ``layer_names`` lists the layers; each layer group lists ``weight_names`` such as ``conv2d/kernel:0``.
Kernels stay in Keras's layout here: Dense (in, out), Conv2D (kh, kw, in, out), Conv2DTranspose (kh, kw, out, in).
"""
from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from vae.config import MAX_PARAMETERS
from vae.errors import CheckpointError
from vae.io.catalog import too_costly

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
ARCHIVE_CONFIG = "config.json"
ARCHIVE_WEIGHTS = "model.weights.h5"
MAX_CONFIG_BYTES = 16 * 2**20  # a config.json larger than this is no model we can read
MAX_WEIGHTS_BYTES = 2 * 2**30  # the weights of a .keras archive are read into memory
MAX_DECLARED_BYTES = 8 * MAX_PARAMETERS  # all the arrays an HDF5 file declares, before any is read (float64 allowed)
MAX_OBJECTS = 100_000  # groups and arrays in one HDF5 file: a model has hundreds
KINDS = {"Dense": "dense", "Conv2D": "conv", "Conv2DTranspose": "deconv"}  # Keras class -> what we rebuild
NAME_KINDS = {"dense": "dense", "conv2d": "conv", "conv2d_transpose": "deconv"}  # default layer names -> the same
# Layers without weights that change nothing at inference time, or only reshape.
PASSIVE_LAYERS = {"InputLayer", "Flatten", "Reshape", "Dropout", "Lambda", "Sampling", "GaussianNoise"}
ACTIVATION_LAYERS = {"Activation", "ReLU"}  # their activation belongs to the layer before them
SKIPPED_GROUPS = {"optimizer", "metrics", "loss_tracker", "seed_generator"}  # weights-file groups that are no layer


@dataclass(frozen=True)
class KerasLayer:
    """One layer with weights, in the model's order, with its Keras settings when the file has them."""

    name: str
    kind: str  # "dense", "conv" or "deconv"
    kernel: np.ndarray
    bias: np.ndarray
    settings: dict = field(default_factory=dict)  # the layer's Keras config ({} in a weights-only file)

    @property
    def activation(self) -> str | None:
        """"relu", "sigmoid", "linear"...; None when the file does not say."""
        value = self.settings.get("activation")
        if isinstance(value, dict):  # some Keras 3 versions serialise it as an object
            value = value.get("config") if isinstance(value.get("config"), str) else value.get("class_name")
        return None if value is None else str(value)


@dataclass(frozen=True)
class KerasModel:
    """What a Keras file holds: its weighted layers, image size when known, and which format it was."""

    layers: tuple[KerasLayer, ...]
    image_size: tuple[int, int] | None
    channels: int | None
    file_kind: str  # in words, e.g. "a Keras 3 model (.keras)"
    has_config: bool
    reshapes: tuple[tuple[int, ...], ...] = ()  # target shapes of Reshape layers


def is_keras_file(path: Path) -> bool:
    """Whether the file is HDF5 (a Keras .h5 / .weights.h5) or a .keras zip archive."""
    try:
        with open(path, "rb") as handle:
            if handle.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE:
                return True
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
        return ARCHIVE_CONFIG in names and ARCHIVE_WEIGHTS in names
    except (OSError, zipfile.BadZipFile, ValueError, EOFError):
        return False


def read_keras(path: Path) -> KerasModel:
    """The layers of a Keras file, read with h5py; a CheckpointError says what the file is when it cannot."""
    import h5py  # only here: the rest of the app never needs it

    try:
        if zipfile.is_zipfile(path):
            config, weights = _archive_parts(path)
            with h5py.File(io.BytesIO(weights), "r") as h5:
                check_declared_size(h5, path.name)
                return _read_keras3(h5, config, "a Keras 3 model (.keras)")
        with h5py.File(path, "r") as h5:
            check_declared_size(h5, path.name)
            if "model_weights" in h5 or "layer_names" in h5.attrs:
                return _read_legacy(h5)
            return _read_keras3(h5, None, "a Keras 3 weights file (.weights.h5)")
    except CheckpointError:
        raise
    except (OSError, KeyError, ValueError, TypeError, json.JSONDecodeError, zipfile.BadZipFile) as error:
        raise CheckpointError(f"{path.name} is a Keras file (HDF5 or .keras archive), but it could not be read "
                              f"({type(error).__name__}); it may be truncated. Save or download it again.") from None


def check_declared_size(h5, name: str) -> None:
    """Refuse an HDF5 file whose arrays declare more than a model of this app can hold, before reading any.

    Arrays may be compressed: a small file can declare, and would unpack to, gigabytes.
    """
    import h5py

    declared, objects = 0, 0

    def visit(_path: str, item) -> bool | None:
        nonlocal declared, objects
        objects += 1
        if isinstance(item, h5py.Dataset):
            declared += int(item.size) * item.dtype.itemsize
        return True if objects > MAX_OBJECTS or declared > MAX_DECLARED_BYTES else None  # True stops the visit

    h5.visititems(visit)
    if objects > MAX_OBJECTS:
        raise too_costly(name, f"it holds more than {MAX_OBJECTS:,} groups and arrays")
    if declared > MAX_DECLARED_BYTES:
        raise too_costly(name, f"its arrays declare more than {MAX_DECLARED_BYTES / 1e6:,.0f} MB")


def _archive_parts(path: Path) -> tuple[dict, bytes]:
    with zipfile.ZipFile(path) as archive:
        config_info, weights_info = archive.getinfo(ARCHIVE_CONFIG), archive.getinfo(ARCHIVE_WEIGHTS)
        if config_info.file_size > MAX_CONFIG_BYTES or weights_info.file_size > MAX_WEIGHTS_BYTES:
            raise CheckpointError(f"{path.name} is a Keras archive too large to open here.")
        config = json.loads(archive.read(config_info).decode("utf-8"))
        return config, archive.read(weights_info)


# ------------------------------------------------------------------ Keras 3 (.keras, .weights.h5)


def _read_keras3(h5, config: dict | None, file_kind: str) -> KerasModel:
    entries = list(_config_entries(config, "")) if config else []
    weighted = [entry for entry in entries if entry[1] not in PASSIVE_LAYERS | ACTIVATION_LAYERS]
    if weighted:
        layers = [_layer_from_vars(settings.get("name", path), cls, settings, _vars_at(h5, path))
                  for path, cls, settings in weighted]
        layers = _apply_activation_layers(entries, layers)
    else:  # a weights-only file, or a subclassed model whose config lists no layers: read the tree
        layers = [_layer_from_vars(name, None, {}, arrays, path=path) for name, path, arrays in _weight_groups(h5)]
    image_size, channels = _input_shape(entries)
    return KerasModel(tuple(layer for layer in layers if layer is not None), image_size, channels, file_kind,
                      bool(weighted), _reshapes(entries))


def _config_entries(entry: dict, path: str):
    """(weights path, class name, layer config) of every layer, nested models flattened, in model order."""
    settings = entry.get("config") if isinstance(entry.get("config"), dict) else {}
    children = settings.get("layers")
    if isinstance(children, list):
        used: dict[str, int] = {}
        for child in children:
            if isinstance(child, dict):
                child_name = _unique(_snake_case(str(child.get("class_name", ""))), used)
                yield from _config_entries(child, _join(path, "layers", child_name))
        return
    if path == "":  # a subclassed model: its sub-models are attributes (weights under "<attribute>/...")
        for key, value in settings.items():
            if isinstance(value, dict) and isinstance((value.get("config") or {}).get("layers"), list):
                yield from _config_entries(value, key)
        return
    yield path, str(entry.get("class_name", "")), settings


def _vars_at(h5, path: str) -> list[np.ndarray]:
    group = h5.get(f"{path}/vars")
    if group is None:
        raise CheckpointError(f"The weights file has no variables for layer {path!r} that the model's config lists; "
                              f"the config and weights do not belong together.")
    return [np.asarray(group[key]) for key in sorted(group.keys(), key=int)]


def _weight_groups(h5) -> list[tuple[str, str, list[np.ndarray]]]:
    """(name, path, variables) of every group with variables, depth first in Keras's order (dense_2 before dense_10)."""
    found = []

    def visit(group, path: str) -> None:
        for key in sorted(group.keys(), key=_natural_key):
            item = group[key]
            if key == "vars" or key in SKIPPED_GROUPS or not hasattr(item, "keys"):
                continue
            child = _join(path, key)
            if "vars" in item and len(item["vars"]):
                arrays = [np.asarray(item["vars"][k]) for k in sorted(item["vars"].keys(), key=int)]
                name = item["vars"].attrs.get("name", child)  # newer Keras 3 files keep the layer's name
                found.append((name.decode() if isinstance(name, bytes) else str(name), child, arrays))
            visit(item, child)

    visit(h5, "")
    return [entry for entry in found if any(a.dtype.kind == "f" and a.ndim >= 1 for a in entry[2])]


# ------------------------------------------------------------------ legacy Keras 2 .h5


def _read_legacy(h5) -> KerasModel:
    root = h5["model_weights"] if "model_weights" in h5 else h5
    config = _json_attr(h5, "model_config")
    entries = list(_config_entries(config, "")) if config else []
    by_name = {settings.get("name"): (cls, settings) for _, cls, settings in entries}
    layers = []
    for layer_name in _string_attr(root, "layer_names"):
        group = root[layer_name]
        for sublayer, arrays in _legacy_weights(group, layer_name).items():
            cls, settings = by_name.get(sublayer, (None, {}))
            layers.append(_layer_from_vars(sublayer, cls, settings, arrays, named_vars=True))
    layers = _apply_activation_layers(entries, layers) if entries else layers
    image_size, channels = _input_shape(entries)
    kind = "a Keras model saved as HDF5 (.h5)" if config else "a Keras weights file (.h5)"
    return KerasModel(tuple(layer for layer in layers if layer is not None), image_size, channels, kind,
                      bool(entries), _reshapes(entries))


def _legacy_weights(group, layer_name: str) -> dict[str, dict[str, np.ndarray]]:
    """{layer: {"kernel": ..., "bias": ...}}; a nested model's group holds the weights of its layers."""
    weights: dict[str, dict[str, np.ndarray]] = {}
    for weight_name in _string_attr(group, "weight_names"):
        parts = weight_name.split("/")
        layer = parts[-2] if len(parts) >= 2 else layer_name
        weights.setdefault(layer, {})[parts[-1].split(":")[0]] = np.asarray(group[weight_name])
    return weights


def _string_attr(group, name: str) -> list[str]:
    """An attribute list of strings, also when Keras split it into ``name0``, ``name1``... (large models)."""
    if name in group.attrs:
        values = list(group.attrs[name])
    else:
        values, chunk = [], 0
        while f"{name}{chunk}" in group.attrs:
            values += list(group.attrs[f"{name}{chunk}"])
            chunk += 1
    return [value.decode("utf-8") if isinstance(value, bytes) else str(value) for value in values]


def _json_attr(h5, name: str) -> dict | None:
    value = h5.attrs.get(name)
    if value is None:
        return None
    return json.loads(value.decode("utf-8") if isinstance(value, bytes) else str(value))


# ------------------------------------------------------------------ shared


def _layer_from_vars(
    name: str, cls: str | None, settings: dict, arrays, named_vars: bool = False, path: str | None = None,
) -> KerasLayer | None:
    """One weighted layer; its kind from the config's class, else from its path's name (conv2d_transpose_1...)."""
    if named_vars:
        kernel, bias = arrays.get("kernel"), arrays.get("bias")
    else:
        kernel, bias = (list(arrays) + [None, None])[:2]
    kind = KINDS.get(cls) if cls else _kind_from_name(path or name, kernel)
    if kind is None or kernel is None or kernel.ndim != (2 if kind == "dense" else 4):
        if cls is None and kernel is not None and kernel.dtype.kind != "f":
            return None  # counters, seeds: not a layer
        raise CheckpointError(
            f"Layer {name!r} ({cls or 'unknown type'}) cannot be rebuilt here: Keras models are imported when "
            f"made of Dense, Conv2D and Conv2DTranspose layers (with Flatten, Reshape and the sampling layer).")
    outputs = kernel.shape[-1] if kind != "deconv" else kernel.shape[-2]
    bias = np.zeros(outputs, np.float32) if bias is None else bias  # use_bias=False: a zero bias
    return KerasLayer(str(name), kind, kernel.astype(np.float32), bias.astype(np.float32), dict(settings))


def _kind_from_name(name: str, kernel: np.ndarray | None) -> str | None:
    base = _natural_key(name.rsplit("/", 1)[-1])[0]
    if base in NAME_KINDS:
        return NAME_KINDS[base]
    return "dense" if kernel is not None and kernel.ndim == 2 else None  # a renamed Dense: the only 2-D kernel


def _apply_activation_layers(entries: list, layers: list) -> list:
    """An Activation("relu") or ReLU layer after a linear layer becomes that layer's activation."""
    by_name = {layer.name: index for index, layer in enumerate(layers) if layer is not None}
    previous = None
    for _, cls, settings in entries:
        if cls in ACTIVATION_LAYERS and previous in by_name:
            index = by_name[previous]
            activation = settings.get("activation", "relu") if cls == "Activation" else "relu"
            layers[index] = replace(layers[index], settings={**layers[index].settings, "activation": activation})
        elif cls not in PASSIVE_LAYERS:
            previous = settings.get("name")
    return layers


def _input_shape(entries: list) -> tuple[tuple[int, int] | None, int | None]:
    for _, cls, settings in entries:
        shape = settings.get("batch_shape") or settings.get("batch_input_shape")
        if cls != "InputLayer" or not isinstance(shape, list):
            continue
        if len(shape) == 4 and all(isinstance(size, int) for size in shape[1:]):
            return (shape[1], shape[2]), shape[3]  # (batch, height, width, channels)
        if len(shape) in (2, 3):
            return None, 1  # a flat (or 2-D) input: the size follows from the pixel count
    return None, None


def _reshapes(entries: list) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(settings.get("target_shape") or ()) for _, cls, settings in entries if cls == "Reshape")


def _snake_case(name: str) -> str:
    """Keras's naming.to_snake_case: Conv2DTranspose -> conv2d_transpose."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _unique(name: str, used: dict[str, int]) -> str:
    """Keras's _get_unique_name: the second dense is dense_1."""
    if name in used:
        used[name] += 1
        return f"{name}_{used[name]}"
    used[name] = 0
    return name


def _natural_key(name: str) -> tuple[str, int]:
    match = re.fullmatch(r"(.*?)(?:_(\d+))?", name)
    return match.group(1), int(match.group(2) or 0)


def _join(*parts: str) -> str:
    return "/".join(part for part in parts if part)
