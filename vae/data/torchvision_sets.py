"""MNIST, Fashion-MNIST and KMNIST through torchvision, with their own split; missing files explained in words.

The colour sets torchvision downloads (CIFAR-10, SVHN, CelebA) are read in vae.data.colour_sets.

torchvision (and torch) are imported only when such a set is loaded.
"""
from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np

from vae.data.builtin import OFFLINE_DATASETS
from vae.data.dataset import Dataset
from vae.errors import DataError
from vae.files import write_atomically

# torchvision class name per dataset; class names come from the class unless given here.
TORCHVISION_CLASSES: dict[str, str] = {
    "mnist": "MNIST",
    "fashion-mnist": "FashionMNIST",
    "kmnist": "KMNIST",
}
_SHORT_CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "mnist": tuple(str(digit) for digit in range(10)),
}


def load_torchvision(name: str, root: Path, download: bool) -> Dataset:
    """Load MNIST, Fashion-MNIST or KMNIST through torchvision with its own train/test split.

    Args:
        name: "mnist", "fashion-mnist" or "kmnist".
        root: Folder holding ``<ClassName>/raw/``.
        download: Let torchvision fetch missing files.

    Raises:
        DataError: Files missing, unreadable, or the download failed.
    """
    import torchvision.datasets

    dataset_class = getattr(torchvision.datasets, TORCHVISION_CLASSES[name])
    raw_folder = root / dataset_class.__name__ / "raw"
    file_names = [Path(file_name).stem for file_name, _ in dataset_class.resources]
    try:
        extract_gz_files(raw_folder, file_names)
        train = dataset_class(root=str(root), train=True, download=download)
        test = dataset_class(root=str(root), train=False, download=download)
    except Exception as error:  # torchvision raises RuntimeError, URLError, OSError, ...
        raise DataError(describe_missing_files(name, raw_folder, file_names, error)) from None
    class_names = _SHORT_CLASS_NAMES.get(name) or tuple(getattr(dataset_class, "classes", ()))
    return Dataset(
        name=name,
        train_images=train.data.numpy().astype(np.float32) / 255.0,
        train_labels=train.targets.numpy().astype(np.int64),
        test_images=test.data.numpy().astype(np.float32) / 255.0,
        test_labels=test.targets.numpy().astype(np.int64),
        class_names=class_names or tuple(str(index) for index in range(10)),
    )


def extract_gz_files(raw_folder: Path, file_names: list[str]) -> None:
    """Unpack ``<name>.gz`` next to it for every expected file that only exists compressed."""
    for file_name in file_names:
        target = raw_folder / file_name
        compressed = raw_folder / f"{file_name}.gz"
        if target.exists() or not compressed.exists():
            continue
        with gzip.open(compressed, "rb") as source:  # the one atomic writer: never a half-written file under the name
            write_atomically(target, lambda destination: shutil.copyfileobj(source, destination))


def describe_missing_files(
    name: str, raw_folder: Path, file_names: list[str], error: Exception, compressed_too: bool = True
) -> str:
    """Message telling the user where torchvision expects the files and what works offline.

    ``compressed_too``: the files may also be given as .gz (the MNIST family); a name ending in / is a folder.
    """
    reason = (str(error).strip().splitlines() or [type(error).__name__])[0].rstrip(":")
    if all((raw_folder / file_name).exists() for file_name in file_names):
        return (
            f"Could not read {name!r} from {raw_folder} ({reason}). The files look damaged: delete them "
            f"and download again, or pick an offline dataset: {', '.join(OFFLINE_DATASETS)}."
        )
    return (
        f"Could not load {name!r} ({reason}). The machine may be offline. "
        f"Put the files {', '.join(file_names)}{' (or the same names ending in .gz)' if compressed_too else ''} "
        f"in the folder {raw_folder} and try again, or pick an offline dataset: "
        f"{', '.join(OFFLINE_DATASETS)}."
    )
