"""The one check of every field a checkpoint carries, by type and range, before anything uses it (no torch).

The listing (vae.io.catalog, with tensors as stand-ins), the loader and the upload check
(vae.io.checkpoints) all pass a file's contents through :func:`validate_checkpoint` and use only
what it returns. Weights are compared with the shapes the settings imply before any model is built.
"""
from __future__ import annotations

import numbers

from vae.config import MAX_EPOCHS, ModelConfig, TrainConfig, weight_shapes
from vae.errors import CheckpointError, VAEError

FORMAT_NAME = "vae-latent-explorer"
FORMAT_VERSION = 1
MAX_TEXT_CHARS = 200  # a dataset name, a creation date, where an import came from
MAX_MESSAGE_CHARS = 2000  # how training ended, in words
MAX_CLASS_NAMES = 10_000  # far above any class count the app trains on
MAX_METRICS = 64
HISTORY_CURVES = ("train_loss", "recon", "kl", "test_elbo", "images_per_s", "seconds")
HISTORY_STATUSES = ("completed", "cancelled", "diverged")
WEIGHT_DTYPES = ("torch.float16", "torch.bfloat16", "torch.float32", "torch.float64")
MAX_WORLD_SIZE = 65_536  # training processes of one run (torchrun's --nnodes x --nproc_per_node); far above any real run


def is_ours(raw: object) -> bool:
    """Whether unpickled contents claim to be in this app's checkpoint format."""
    return isinstance(raw, dict) and raw.get("format") == FORMAT_NAME


def validate_checkpoint(raw: object, name: str) -> dict:
    """The checkpoint's fields, each checked by type and range, as a new dict of plain values.

    ``raw`` is the unpickled file (tensors or :class:`vae.io.catalog.TensorStandIn`), ``name`` the
    file name for messages. Missing optional fields get empty values; other extra keys are kept
    only when they hold one plain value (text, number, true/false).

    Raises:
        CheckpointError: naming the file and the first field that is wrong, and what to do.
    """
    if not is_ours(raw):
        raise CheckpointError(f"{name} is not in this app's format.")
    config = model_config_of(raw, name)
    fields = {
        "format": FORMAT_NAME,
        "format_version": check_format_version(raw.get("format_version"), name),
        "model_config": config.to_dict(),
        "state_dict": check_weights(raw.get("state_dict"), config, name),
        "train_config": _train_config(raw.get("train_config"), name),
        "dataset": _text(raw.get("dataset"), "dataset name", name),
        "class_names": _class_names(raw.get("class_names"), name),
        "history": _history(raw.get("history"), name),
        "metrics": _metrics(raw.get("metrics"), name),
        "created": _text(raw.get("created"), "creation date", name),
        "imported_from": _text(raw.get("imported_from"), "import note", name, MAX_MESSAGE_CHARS),  # the structure found
        "world_size": _world_size(raw.get("world_size"), name),  # processes it was trained with; 1 before it was kept
    }
    extras = {key: value for key, value in raw.items() if key not in fields and _is_plain(value)}
    return {**extras, **fields}


def check_format_version(version: object, name: str) -> int:
    """The format version as an int; a CheckpointError when it is missing, odd or newer than this app."""
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise CheckpointError(f"{name} has no valid format version; it may be damaged. Save or download it again.")
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{name} was made by a newer version of this app (format {version}; this app reads "
                              f"up to {FORMAT_VERSION}). Update the app to open it.")
    return version


def model_config_of(raw: dict, name: str) -> ModelConfig:
    """The checked model settings; a CheckpointError naming what is wrong with them."""
    settings = raw.get("model_config")
    if not isinstance(settings, dict) or not all(isinstance(key, str) for key in settings):
        raise CheckpointError(f"{name}: the model settings are missing; the file may be damaged.")
    try:
        return ModelConfig.from_dict(dict(settings))
    except VAEError as error:
        raise CheckpointError(f"{name}: its architecture is not one this app can build. {error}") from None


def check_weights(weights: object, config: ModelConfig, name: str) -> dict:
    """The weights, when they are exactly those ``config`` implies (names, shapes, floating point).

    Compared before any model is built, so settings that ask for a huge model with few weights
    present are refused without allocating anything.
    """
    if not isinstance(weights, dict) or not all(isinstance(key, str) for key in weights):
        raise CheckpointError(f"{name}: the weights are missing; the file may be damaged. Save or download it again.")
    expected = weight_shapes(config)
    missing = [key for key in expected if key not in weights]
    unexpected = [key for key in weights if key not in expected]
    if missing or unexpected:
        detail = f"missing {_names(missing)}" if missing else f"unexpected {_names(unexpected)}"
        raise CheckpointError(f"{name}: the weights do not fit the architecture ({detail}).")
    for key, shape in expected.items():
        found = _shape(weights[key])
        if found != shape:
            raise CheckpointError(f"{name}: the weights do not fit the architecture ({key} is {_size(found)}, "
                                  f"the settings need {_size(shape)}).")
        if str(getattr(weights[key], "dtype", "")) not in WEIGHT_DTYPES:
            raise CheckpointError(f"{name}: the weight {key} is not stored as floating-point numbers.")
    return dict(weights)


def _train_config(settings: object, name: str) -> dict | None:
    if settings is None:
        return None
    if not isinstance(settings, dict) or not all(isinstance(key, str) for key in settings):
        raise CheckpointError(f"{name}: the training settings are damaged (not a table of settings).")
    try:
        return TrainConfig.from_dict(dict(settings)).to_dict()
    except VAEError as error:
        raise CheckpointError(f"{name}: the training settings are damaged. {error}") from None


def _world_size(value: object, name: str) -> int:
    """How many processes trained the model (torchrun); files saved before this was recorded say nothing: 1."""
    if value is None:
        return 1
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_WORLD_SIZE:
        raise CheckpointError(f"{name}: the number of training processes (world_size) must be a whole number from 1 "
                              f"to {MAX_WORLD_SIZE:,}; the file may be damaged.")
    return value


def _text(value: object, what: str, name: str, limit: int = MAX_TEXT_CHARS) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > limit:
        raise CheckpointError(f"{name}: the {what} must be text of at most {limit} characters.")
    return value


def _class_names(value: object, name: str) -> list[str]:
    if value is None:
        return []
    if (not isinstance(value, (list, tuple)) or len(value) > MAX_CLASS_NAMES
            or not all(isinstance(item, str) and len(item) <= MAX_TEXT_CHARS for item in value)):
        raise CheckpointError(f"{name}: the class names must be a list of at most {MAX_CLASS_NAMES:,} texts of at "
                              f"most {MAX_TEXT_CHARS} characters each.")
    return list(value)


def _history(value: object, name: str) -> dict:
    """The training curves (one number per finished epoch), the status and the message; unknown plain keys kept."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
        raise CheckpointError(f"{name}: the training history is damaged (not a table of curves).")
    history = {key: item for key, item in value.items() if key not in HISTORY_CURVES and _is_plain(item)}
    for key in HISTORY_CURVES:
        curve = value.get(key, [])
        if (not isinstance(curve, (list, tuple)) or len(curve) > MAX_EPOCHS
                or not all(_is_number(item) for item in curve)):
            raise CheckpointError(f"{name}: the training history's {key} must be a list of at most {MAX_EPOCHS:,} "
                                  f"numbers.")
        history[key] = [float(item) for item in curve]
    status, message = value.get("status", "completed"), value.get("message", "")
    if status not in HISTORY_STATUSES or not isinstance(message, str) or len(message) > MAX_MESSAGE_CHARS:
        raise CheckpointError(f"{name}: the training history's status or message is damaged.")
    return {**history, "status": status, "message": message}


def _metrics(value: object, name: str) -> dict[str, float]:
    if value is None:
        return {}
    if (not isinstance(value, dict) or len(value) > MAX_METRICS
            or not all(isinstance(key, str) and len(key) <= MAX_TEXT_CHARS and _is_number(item)
                       for key, item in value.items())):
        raise CheckpointError(f"{name}: the measured results (metrics, such as the test ELBO) must be a table of "
                              f"at most {MAX_METRICS} names with one number each.")
    return {key: float(item) for key, item in value.items()}


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_plain(value: object) -> bool:
    return value is None or isinstance(value, bool) or _is_number(value) or (
        isinstance(value, str) and len(value) <= MAX_MESSAGE_CHARS)


def _shape(tensor: object) -> tuple[int, ...] | None:
    shape = getattr(tensor, "shape", None)
    if not isinstance(shape, tuple) or not all(isinstance(side, int) for side in shape):
        return None
    return tuple(shape)


def _size(shape: tuple[int, ...] | None) -> str:
    if shape is None:
        return "not a tensor"
    return "x".join(str(side) for side in shape) if shape else "a single number"


def _names(keys: list[str], limit: int = 3) -> str:
    shown = ", ".join(key[:60] for key in keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")

