"""Open any model file that is not this app's own: Keras files, PyTorch state_dicts, and pickled whole models refused."""
from __future__ import annotations

import pickletools
import zipfile
from pathlib import Path

import torch

from vae.errors import CheckpointError
from vae.io.catalog import read_settings
from vae.io.importers import SAVE_WEIGHTS_LINE, Detected, ImportChoices, convert, detect
from vae.io.keras import is_keras_file
from vae.io.keras_models import convert_keras, detect_keras
from vae.io.schema import FORMAT_NAME

MAX_PICKLE_BYTES = 64 * 2**20  # a data.pkl larger than this is not inspected
# Every pickled torch.nn.Module carries these attribute names (its __dict__); a state_dict never does.
MODULE_MARKERS = (b"_modules", b"_parameters")
_STRING_OPCODES = {"SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8"}


def read_foreign_file(source: Path, error: CheckpointError) -> dict:
    """read_checkpoint's fallback when torch cannot load a file safely: a Keras file, else say what it is.

    ``error`` is raised unchanged when the file is none of the formats recognised here.
    """
    if is_keras_file(source):
        return convert_keras(source)
    refuse_pickled_model(source)
    raise error


def import_file(
    source: Path, choices: ImportChoices | None = None, dataset: str = "", class_names: tuple[str, ...] = (),
) -> dict:
    """Our checkpoint dict for a model file of any supported format, with the dataset the user named.

    Raises:
        AmbiguousModelError: the user must choose something (``error.detected`` holds the detected answer).
        CheckpointError: the file cannot be imported; the message says what it is and what to do.
    """
    if is_keras_file(source):
        return convert_keras(source, choices, dataset, class_names)
    raw = load_weights(source)
    if isinstance(raw, dict) and raw.get("format") == FORMAT_NAME:
        raise CheckpointError(f"{source.name} is already a VAE Latent Explorer checkpoint: open it directly.")
    return convert(raw, choices, source.name, dataset, class_names)


def detect_file(source: Path, choices: ImportChoices | None = None) -> Detected:
    """What a model file holds and the detected answers, for a form that lets the user correct them."""
    if is_keras_file(source):
        return detect_keras(source, choices)
    return detect(load_weights(source), choices, source.name)


def load_weights(source: Path) -> object:
    """torch.load with weights_only=True (never runs code); a pickled whole model gets the one line to fix it."""
    try:
        read_settings(source)  # what torch.load would cost, checked first without torch (a small file can ask for GBs)
    except CheckpointError:
        refuse_pickled_model(source)
        raise
    try:
        return torch.load(source, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - torch's unpickler raises many kinds on damaged or code-running files
        refuse_pickled_model(source)
        raise CheckpointError(f"{source.name} could not be read as a PyTorch or Keras model: it is another kind of "
                              f"file, or it is truncated or corrupt.") from None


def refuse_pickled_model(source: Path) -> None:
    """Raise a CheckpointError that says how to save a state_dict when the file is a pickled nn.Module."""
    class_name = pickled_module_class(source)
    if class_name is not None:
        raise CheckpointError(
            f"{source.name} is a whole pickled model ({class_name}), saved with torch.save(model). Opening it would "
            f"run code stored in the file, so it is refused. In the script that trained it, save only its weights: "
            f"{SAVE_WEIGHTS_LINE} and open that file.")


def pickled_module_class(source: Path) -> str | None:
    """The class of the nn.Module pickled in a torch zip file, read from the opcodes without unpickling."""
    try:
        with zipfile.ZipFile(source) as archive:
            entry = next((info for info in archive.infolist() if info.filename.endswith("data.pkl")), None)
            if entry is None or entry.file_size > MAX_PICKLE_BYTES:
                return None
            data = archive.read(entry)
    except (OSError, zipfile.BadZipFile, EOFError, ValueError, RuntimeError):
        return None
    if not all(marker in data for marker in MODULE_MARKERS):
        return None
    return _first_global(data) or "a torch.nn.Module"


def _first_global(data: bytes) -> str | None:
    """The first class the pickle names (the saved object's own class): GLOBAL, or STACK_GLOBAL after two strings."""
    strings: list[str] = []
    try:
        for opcode, argument, _ in pickletools.genops(data):
            if opcode.name == "GLOBAL":
                return str(argument).replace(" ", ".")
            if opcode.name in _STRING_OPCODES:
                strings.append(str(argument))
            if opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                return ".".join(strings[-2:])
    except Exception:  # noqa: BLE001 - a damaged pickle: the class name is only a courtesy
        return None
    return None
