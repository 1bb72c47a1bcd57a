"""Another program's model file for the app: what it holds, as plain values a form can ask about, then its import."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch

from vae.io.catalog import read_settings
from vae.io.checkpoints import model_from_checkpoint
from vae.io.codes import save_test_codes
from vae.data import DATASETS, OFFLINE_DATASETS, Dataset
from vae.errors import CheckpointError, DataError
from vae.files import write_atomically
from vae.io.foreign import detect_file, import_file
from vae.io.importers import Detected, ImportChoices
from vae.analysis.latent import LatentModel
from vae.io.schema import is_ours, validate_checkpoint

# MNIST, Fashion-MNIST and KMNIST (downloaded by torchvision) are 28x28 grey, the colour sets as below: a model can be named
# as trained on one of them before its images are on this machine.
DOWNLOADED_IMAGE_SHAPE = (28, 28)
DOWNLOADED_IMAGE_DIMS = {"cifar10": (32, 32, 3), "svhn": (32, 32, 3), "celeba-64": (64, 64, 3)}  # the others: grey
_COMMAND_LINE_HINT = re.compile(r" \((?:command line: )?--[^)]*\)")  # "(command line: --log-var)", "(--log-std)"


@dataclass(frozen=True)
class ImportQuestions:
    """What a model file from another program holds, in plain values: a form shows them and preselects ``answers``."""

    file_name: str
    structure: str  # the layers found, in words
    latent_dim: int
    answers: ImportChoices  # every field filled: the detected (or only possible) answer to each question
    heads: tuple[tuple[str, str], ...]  # (mean layer, spread layer) pairs the shapes allow, the detected one first
    image_sizes: tuple[tuple[int, int], ...]  # (H, W) sizes that fit, the detected one first
    ambiguous: tuple[str, ...]  # what the file alone cannot say: "heads", "spread", "image_size"
    questions: tuple[str, ...]  # per ambiguous field: what was found and what to choose, in words
    notes: tuple[str, ...]  # what was assumed, in words


def is_own_checkpoint(path: Path) -> bool:
    """Whether the file claims to be this app's checkpoint (read without torch; opened as it is, not imported)."""
    try:
        return is_ours(read_settings(path))
    except CheckpointError:  # not a torch zip (a Keras file), a pickled model, a damaged file: the import says which
        return False


def inspect_model_file(path: Path) -> ImportQuestions | None:
    """None for this app's own checkpoint; else what the file holds and what to ask about it.

    Raises:
        CheckpointError: no model can be imported from the file; a pickled whole model's message gives the
            line that saves its state_dict.
    """
    if is_own_checkpoint(path):
        return None
    return questions_for(path.name, detect_file(path))


def questions_for(file_name: str, detected: Detected) -> ImportQuestions:
    """The form's view of a detection: the detected answer first among the options; questions without CLI options."""
    answers = detected.choices
    pair = (answers.mean_layer, answers.spread_layer)
    heads = (pair, *(option for option in detected.options.get("heads", ()) if tuple(option) != pair))
    sizes = (answers.image_size,
             *(size for size in detected.options.get("image_size", ()) if size != answers.image_size))
    questions = tuple(_sentence(_COMMAND_LINE_HINT.sub("", question)) for question in detected.questions)
    return ImportQuestions(file_name, detected.structure.describe(), detected.structure.latent_dim, answers,
                           tuple(tuple(head) for head in heads), tuple(sizes), detected.ambiguous, questions,
                           detected.notes)


def save_imported_model(
    source: Path, target: Path, choices: ImportChoices, dataset_name: str = "", dataset: Dataset | None = None,
) -> Path:
    """Convert ``source`` with the user's answers and write it atomically at ``target`` in this app's format.

    The checkpoint records the dataset the user named and where the model came from. ``dataset`` is that
    dataset when its images are here: its class names are stored and the map's codes written beside the
    checkpoint. Without it only the name is stored (a set the app downloads, not fetched yet).

    Raises:
        CheckpointError: the file cannot be imported with these answers (the message says why).
        DataError: the named dataset's images are not the size the model reads.
    """
    class_names = tuple(dataset.class_names) if dataset is not None else ()
    raw = import_file(source, choices, dataset_name, class_names)
    module = model_from_checkpoint(raw, source.name)
    require_dataset_size(dataset_name, dataset, tuple(module.config.image_dims))
    write_imported(raw, source.name, target)
    if dataset is not None:
        _save_codes(target, LatentModel(module=module, dataset=dataset_name, class_names=class_names), dataset)
    return target


def write_imported(raw: dict, source_name: str, target: Path) -> Path:
    """Write an imported checkpoint atomically, noting the file it came from and when (the web form and the CLI)."""
    raw.update(imported_from=f"{raw['imported_from']}; from the file {source_name}",
               created=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    validate_checkpoint(raw, target.name)  # a file this writes always opens again
    write_atomically(target, lambda handle: torch.save(raw, handle))
    return target


def require_dataset_size(dataset_name: str, dataset: Dataset | None, image_dims: tuple[int, ...]) -> None:
    """A DataError, in words, when the named dataset's images are not the size (or colour) the model reads.

    ``image_dims`` is the model's (H, W) for grey or (H, W, 3) for colour.
    """
    if not dataset_name:
        return
    if dataset is not None:
        size = tuple(dataset.image_dims)
    elif dataset_name in DATASETS and dataset_name not in OFFLINE_DATASETS:
        size = DOWNLOADED_IMAGE_DIMS.get(dataset_name, DOWNLOADED_IMAGE_SHAPE)
    else:
        raise DataError(f"The images called {dataset_name} are not on this machine; choose another dataset.")
    if size != tuple(image_dims):
        raise DataError(
            f"The {dataset_name} images are {_pixels(size)}, but this model reads images of "
            f"{_pixels(tuple(image_dims))}, so it cannot have been trained on them. Choose the images "
            f"it was trained on, or \"none of these\".")


def _pixels(image_dims: tuple[int, ...]) -> str:
    """'28x28 pixels' for grey images, '32x32 pixels in colour' for colour ones."""
    return f"{image_dims[0]}x{image_dims[1]} pixels" + (" in colour" if len(image_dims) > 2 else "")


def _save_codes(target: Path, model: LatentModel, dataset: Dataset) -> None:
    try:
        save_test_codes(target, model, dataset)
    except OSError:  # only a head start: the app encodes the test images itself when it first shows the model
        return


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]
